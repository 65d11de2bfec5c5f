#include "runner/scheduler.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <set>
#include <utility>

namespace lakesync::runner {

UniformRandom SeededRandom(uint64_t seed) {
  // std::uniform_real_distribution is implementation-defined; the engine's raw output is not,
  // so the conversion is done here: the top 53 bits scaled by 2^-53 land in [0, 1).
  return [engine = std::mt19937_64(seed)]() mutable {
    return static_cast<double>(engine() >> 11) * 0x1.0p-53;
  };
}

Duration BackoffBase(const RetryPolicy& policy, int attempt) {
  const Duration cap = std::max(policy.max_backoff, Duration(0));
  Duration delay = std::clamp(policy.backoff, Duration(0), cap);
  // Doubling stops at the cap, so neither a large attempt number nor a large backoff overflows.
  for (int i = 1; i < attempt && delay < cap; ++i) {
    delay = delay > cap / 2 ? cap : delay * 2;
  }
  return delay;
}

Duration BackoffDelay(const RetryPolicy& policy, int attempt, const UniformRandom& random) {
  const Duration base = BackoffBase(policy, attempt);
  if (!random) return base;
  const Duration lo = base - base / 5;
  const Duration hi = std::max(lo, std::min(base + base / 5, policy.max_backoff));
  const double u = std::clamp(random(), 0.0, 1.0);
  const auto span = static_cast<double>((hi - lo).count());
  const Duration offset(static_cast<Duration::rep>(std::floor(span * u)));
  return std::min(lo + offset, hi);
}

JobSchedule JobSchedule::FromConfig(const JobConfig& job) {
  return JobSchedule{job.name, job.schedule, job.retries, job.timeout};
}

std::vector<JobSchedule> JobSchedules(const Config& config) {
  std::vector<JobSchedule> out;
  out.reserve(config.jobs.size());
  for (const JobConfig& job : config.jobs) out.push_back(JobSchedule::FromConfig(job));
  return out;
}

namespace {

bool SameSchedule(const Schedule& a, const Schedule& b) {
  if (a.kind != b.kind) return false;
  switch (a.kind) {
    case Schedule::kManual:
      return true;
    case Schedule::kEvery:
      return a.every == b.every;
    case Schedule::kCron:
      return a.cron.text() == b.cron.text() && a.cron.timezone() == b.cron.timezone();
    case Schedule::kContinuous:
      return a.poll == b.poll;
  }
  return false;
}

std::string Quoted(std::string_view name) { return "\"" + std::string(name) + "\""; }

Status UnknownJob(std::string_view job) {
  return Status::NotFound("no job named " + Quoted(job) +
                          " in the configuration; check the name against `lakesync status`");
}

}  // namespace

Scheduler::Scheduler(int max_concurrent_runs, UniformRandom random, const Clock& clock)
    : max_concurrent_runs_(max_concurrent_runs), random_(std::move(random)), clock_(clock) {}

Status Scheduler::Validate(const std::vector<JobSchedule>& jobs) {
  std::set<std::string_view> names;
  for (const JobSchedule& job : jobs) {
    if (!names.insert(job.name).second) {
      return Status::InvalidArgument("job name " + Quoted(job.name) +
                                     " appears twice in the job list; give every job a unique "
                                     "name");
    }
    const Schedule& s = job.schedule;
    if (s.kind == Schedule::kEvery && s.every <= Duration(0)) {
      return Status::InvalidArgument("job " + Quoted(job.name) +
                                     ": the `every` interval must be positive; write e.g. "
                                     "schedule: { every: 5m }");
    }
    if (s.kind == Schedule::kContinuous && s.poll <= Duration(0)) {
      return Status::InvalidArgument("job " + Quoted(job.name) +
                                     ": the continuous poll interval must be positive; write "
                                     "e.g. schedule: { continuous: { poll: 2s } }");
    }
    if (s.kind == Schedule::kCron && s.cron.empty()) {
      return Status::InvalidArgument("job " + Quoted(job.name) +
                                     ": the cron schedule has no expression; write e.g. "
                                     "schedule: { cron: \"*/15 * * * *\" }");
    }
  }
  return Status::OK();
}

Result<std::unique_ptr<Scheduler>> Scheduler::Create(std::vector<JobSchedule> jobs,
                                                     SchedulerOptions options, const Clock& clock) {
  if (options.max_concurrent_runs < 1) {
    return Status::InvalidArgument("max_concurrent_runs is " +
                                   std::to_string(options.max_concurrent_runs) +
                                   "; set runner.max_concurrent_runs to at least 1");
  }
  LAKESYNC_RETURN_IF_ERROR(Validate(jobs));
  if (!options.random) options.random = SeededRandom(std::random_device()());
  std::unique_ptr<Scheduler> scheduler(
      new Scheduler(options.max_concurrent_runs, std::move(options.random), clock));
  scheduler->entries_.reserve(jobs.size());
  for (JobSchedule& job : jobs) {
    Entry entry;
    entry.next_due = scheduler->InitialDue(job.schedule, std::nullopt);
    entry.job = std::move(job);
    scheduler->entries_.push_back(std::move(entry));
  }
  return scheduler;
}

TimePoint Scheduler::InitialDue(const Schedule& schedule,
                                std::optional<TimePoint> last_start) const {
  const TimePoint now = clock_.Now();
  switch (schedule.kind) {
    case Schedule::kManual:
      return TimePoint::max();
    case Schedule::kEvery:
      return last_start ? *last_start + schedule.every : now;
    case Schedule::kCron:
      return schedule.cron.NextAfter(now);
    case Schedule::kContinuous:
      return now;
  }
  return TimePoint::max();
}

TimePoint Scheduler::NextTick(const Schedule& schedule, TimePoint start) {
  switch (schedule.kind) {
    case Schedule::kEvery:
      return start + schedule.every;
    case Schedule::kCron:
      return schedule.cron.NextAfter(start);
    case Schedule::kManual:
    case Schedule::kContinuous:
      break;
  }
  return TimePoint::max();
}

std::optional<Scheduler::Pending> Scheduler::NextPending(const Entry& entry) {
  if (entry.running || !entry.configured) return std::nullopt;
  // Precedence: an operator's request first, then the retry of a failure, then the schedule
  // (which a pending retry holds back; see the header).
  if (entry.manual_requested) return Pending{Trigger::kManual, 1, *entry.manual_requested};
  if (entry.retry_at) return Pending{Trigger::kRetry, entry.retry_attempt, *entry.retry_at};
  if (entry.next_due != TimePoint::max()) return Pending{Trigger::kSchedule, 1, entry.next_due};
  return std::nullopt;
}

Scheduler::Entry* Scheduler::Find(std::string_view job) {
  for (Entry& entry : entries_) {
    if (entry.job.name == job) return &entry;
  }
  return nullptr;
}

const Scheduler::Entry* Scheduler::Find(std::string_view job) const {
  return const_cast<Scheduler*>(this)->Find(job);
}

int Scheduler::running() const {
  return static_cast<int>(
      std::count_if(entries_.begin(), entries_.end(), [](const Entry& e) { return e.running; }));
}

std::vector<RunOrder> Scheduler::Due() const {
  const int free = max_concurrent_runs_ - running();
  if (free <= 0) return {};
  const TimePoint now = clock_.Now();
  std::vector<RunOrder> due;
  for (const Entry& entry : entries_) {
    std::optional<Pending> next = NextPending(entry);
    if (next && next->due <= now) {
      due.push_back(RunOrder{entry.job.name, next->trigger, next->attempt, next->due});
    }
  }
  // Stable: equal due times keep the job-list order.
  std::stable_sort(due.begin(), due.end(),
                   [](const RunOrder& a, const RunOrder& b) { return a.due < b.due; });
  if (due.size() > static_cast<size_t>(free)) due.resize(free);
  return due;
}

std::optional<db::TickServed> Scheduler::TickServedBy(const RunOrder& order) const {
  const Entry* entry = Find(order.job);
  if (order.trigger != Trigger::kSchedule || entry == nullptr || !entry->configured) {
    return std::nullopt;
  }
  const Schedule& schedule = entry->job.schedule;
  switch (schedule.kind) {
    case Schedule::kEvery:
      return db::TickServed{db::TickServed::kTakenWithin, TimePoint(), schedule.every};
    case Schedule::kContinuous:
      return db::TickServed{db::TickServed::kReleasedWithin, TimePoint(), schedule.poll};
    case Schedule::kCron:
      return db::TickServed{db::TickServed::kTakenAtOrAfterFire, FireOf(*entry, order),
                            Duration(0)};
    case Schedule::kManual:
      break;
  }
  return std::nullopt;
}

Status Scheduler::SeedLastStart(std::string_view job, TimePoint last_start) {
  Entry* entry = Find(job);
  if (entry == nullptr || !entry->configured) return UnknownJob(job);
  if (entry->running || entry->last_start) return Status::OK();  // it started here: keep that
  const TimePoint now = clock_.Now();
  entry->last_start = std::min(last_start, now);
  if (entry->job.schedule.kind == Schedule::kEvery) {
    entry->next_due = std::max(*entry->last_start + entry->job.schedule.every, now);
  } else if (entry->job.schedule.kind == Schedule::kCron &&
             NextTick(entry->job.schedule, *entry->last_start) <= now) {
    // A fire passed since the last start while no daemon ran the job (a deploy across it, a
    // crash): missed, so due now, once.
    entry->owed_fire = NextTick(entry->job.schedule, *entry->last_start);
    entry->next_due = now;
  }
  return Status::OK();
}

Status Scheduler::Started(const RunOrder& order) {
  Entry* entry = Find(order.job);
  if (entry == nullptr || !entry->configured) return UnknownJob(order.job);
  if (entry->running) {
    return Status::Conflict("job " + Quoted(order.job) + " is already running since " +
                            FormatTimestamp(entry->started) +
                            "; a job never overlaps itself: start it again after Finished");
  }
  const TimePoint now = clock_.Now();
  entry->running = true;
  entry->started = now;
  entry->last_start = now;
  entry->attempt = std::max(order.attempt, 1);
  entry->trigger = order.trigger;
  entry->serving_fire.reset();
  if (order.trigger == Trigger::kSchedule && entry->job.schedule.kind == Schedule::kCron) {
    entry->serving_fire = FireOf(*entry, order);
  }
  entry->before_start = {entry->next_due, entry->schedule_owed, entry->last_start};
  entry->timeout_reported = false;
  entry->deadline.reset();
  if (entry->job.timeout) entry->deadline = now + *entry->job.timeout;
  // Whatever its trigger, a run that starts now does what a pending request or retry asked for.
  entry->manual_requested.reset();
  entry->retry_at.reset();
  if (entry->job.schedule.kind == Schedule::kContinuous) {
    entry->next_due = TimePoint::max();  // planned from the outcome, in Finished
  } else if (entry->next_due <= now || entry->schedule_owed) {
    entry->next_due = NextTick(entry->job.schedule, now);
  }
  entry->schedule_owed = false;
  return Status::OK();
}

Status Scheduler::Finished(std::string_view job, Outcome outcome) {
  Entry* entry = Find(job);
  if (entry == nullptr) return UnknownJob(job);
  if (!entry->running) {
    return Status::Conflict("job " + Quoted(job) +
                            " is not running; report Finished once per Started run");
  }
  const TimePoint now = clock_.Now();
  entry->running = false;
  entry->deadline.reset();
  if (outcome.result == Outcome::kNotStarted && entry->configured) {
    // Owed, not done: back after a backoff, as what it was (see the header). It served nothing.
    entry->next_due = entry->before_start.next_due;
    entry->schedule_owed = entry->before_start.schedule_owed;
    entry->last_start = entry->before_start.last_start;
    TimePoint again;
    if (outcome.again) {
      again = now + *outcome.again;
    } else {
      const int streak = std::min(++entry->not_started_streak, 7);
      again = now + std::min<Duration>(std::chrono::seconds(1LL << (streak - 1)),
                                       std::chrono::seconds(60));
    }
    if (entry->trigger == Trigger::kRetry) {
      entry->retry_at = again;
      entry->retry_attempt = entry->attempt;
    } else if (entry->trigger == Trigger::kSchedule) {
      entry->next_due = std::min(again, NextTick(entry->job.schedule, now));
      entry->schedule_owed = true;
      entry->owed_fire = entry->serving_fire;
    }
    return Status::OK();
  }
  entry->not_started_streak = 0;
  entry->owed_fire.reset();
  entry->last_finished = now;
  entry->last_result = outcome.result;
  if (!entry->configured) {
    // Removed by Reconfigure while it ran: its slot is free now and it never runs again.
    entries_.erase(entries_.begin() + (entry - entries_.data()));
    return Status::OK();
  }

  const bool failed = outcome.result == Outcome::kFailed || outcome.result == Outcome::kTimedOut;
  if (failed && entry->attempt <= entry->job.retries.max) {
    entry->retry_at = now + BackoffDelay(entry->job.retries, entry->attempt, random_);
    entry->retry_attempt = entry->attempt + 1;
  } else {
    entry->retry_at.reset();
  }

  if (entry->job.schedule.kind == Schedule::kContinuous) {
    const bool more = outcome.result == Outcome::kSucceeded && !outcome.caught_up;
    entry->next_due = more ? now : now + entry->job.schedule.poll;
  } else {
    // Ticks that passed during the run collapse into one run, now. TimePoint::max() (manual
    // only) stays as it is. For cron, that run is for the last fire that passed (TickServedBy:
    // another daemon's run that started at or after it serves it too).
    if (entry->job.schedule.kind == Schedule::kCron && entry->next_due <= now) {
      TimePoint fire = entry->next_due;
      for (int i = 0; i < 100000; ++i) {
        const TimePoint next = entry->job.schedule.cron.NextAfter(fire);
        if (next > now) break;
        fire = next;
      }
      entry->owed_fire = fire;
    }
    entry->next_due = std::max(entry->next_due, now);
  }
  return Status::OK();
}

Result<bool> Scheduler::RequestManual(std::string_view job) {
  Entry* entry = Find(job);
  if (entry == nullptr || !entry->configured) return UnknownJob(job);
  if (entry->manual_requested) return false;
  entry->manual_requested = clock_.Now();
  return true;
}

std::vector<std::string> Scheduler::TimedOut() {
  const TimePoint now = clock_.Now();
  std::vector<std::string> out;
  for (Entry& entry : entries_) {
    if (entry.running && entry.deadline && !entry.timeout_reported && *entry.deadline <= now) {
      entry.timeout_reported = true;
      out.push_back(entry.job.name);
    }
  }
  return out;
}

std::optional<TimePoint> Scheduler::NextWakeup() const {
  // Due times count only while a slot is free: otherwise the caller would wake up to a job it
  // cannot start; the Finished that frees a slot is its cue to call Due().
  const bool slot_free = running() < max_concurrent_runs_;
  std::optional<TimePoint> earliest;
  auto consider = [&earliest](TimePoint t) {
    if (!earliest || t < *earliest) earliest = t;
  };
  for (const Entry& entry : entries_) {
    if (entry.running) {
      if (entry.deadline && !entry.timeout_reported) consider(*entry.deadline);
    } else if (slot_free) {
      if (std::optional<Pending> next = NextPending(entry)) consider(next->due);
    }
  }
  return earliest;
}

Status Scheduler::Reconfigure(std::vector<JobSchedule> jobs) {
  LAKESYNC_RETURN_IF_ERROR(Validate(jobs));
  std::vector<Entry> next;
  next.reserve(jobs.size());
  std::set<std::string> kept;
  for (JobSchedule& job : jobs) {
    Entry entry;
    if (const Entry* old = Find(job.name)) {
      entry = *old;
      entry.configured = true;
      if (!SameSchedule(old->job.schedule, job.schedule)) {
        entry.next_due = InitialDue(job.schedule, old->last_start);
        entry.owed_fire.reset();
        entry.serving_fire.reset();
        entry.schedule_owed = false;
        entry.before_start.schedule_owed = false;
      }
    } else {
      entry.next_due = InitialDue(job.schedule, std::nullopt);
    }
    entry.job = std::move(job);
    next.push_back(std::move(entry));
    kept.insert(next.back().job.name);
  }
  for (Entry& old : entries_) {
    if (old.running && !kept.count(old.job.name)) {
      old.configured = false;
      old.manual_requested.reset();
      old.retry_at.reset();
      next.push_back(std::move(old));
    }
  }
  entries_ = std::move(next);
  return Status::OK();
}

JobStatus Scheduler::StatusOf(const Entry& entry) const {
  JobStatus status;
  status.name = entry.job.name;
  status.schedule = entry.job.schedule.Describe();
  status.running = entry.running;
  if (entry.running) {
    status.started = entry.started;
    status.deadline = entry.deadline;
    status.attempt = entry.attempt;
  }
  if (std::optional<Pending> next = NextPending(entry)) {
    status.next_run = next->due;
    status.next_trigger = next->trigger;
    status.next_attempt = next->attempt;
  }
  status.last_finished = entry.last_finished;
  status.last_result = entry.last_result;
  return status;
}

std::vector<JobStatus> Scheduler::Describe() const {
  std::vector<JobStatus> out;
  for (const Entry& entry : entries_) {
    if (entry.configured) out.push_back(StatusOf(entry));
  }
  return out;
}

Result<JobStatus> Scheduler::Describe(std::string_view job) const {
  const Entry* entry = Find(job);
  if (entry == nullptr || !entry->configured) return UnknownJob(job);
  return StatusOf(*entry);
}

std::optional<TimePoint> Scheduler::NextRun(std::string_view job) const {
  Result<JobStatus> status = Describe(job);
  return status.ok() ? status->next_run : std::nullopt;
}

}  // namespace lakesync::runner
