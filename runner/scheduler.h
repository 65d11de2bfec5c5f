#pragma once

// The scheduler's decisions, as a pure state machine: which job runs next, when, and why.
//
// No threads, no sleeping, no I/O. Time comes from the Clock given at creation and randomness
// (retry jitter) from an injected source, so every rule below is tested by advancing a
// ManualClock. The daemon drives it:
//
//   for (;;) {
//     for (const RunOrder& order : scheduler.Due()) { scheduler.Started(order); launch(order); }
//     for (const std::string& job : scheduler.TimedOut()) cancel(job);
//     wait until scheduler.NextWakeup(), a run finishing (→ Finished), a manual trigger
//     (→ RequestManual) or a reload (→ Reconfigure);
//   }
//
// Rules (S = the time a run started, F = the time it finished, both read from the clock when
// Started/Finished are called):
//
// - No overlap: a job that is running is never due. A run satisfies every schedule tick due at
//   or before S. Ticks that fall while it runs (S < tick <= F) collapse into ONE run, due at F.
// - `every: d`: the first run is due when the scheduler is created (or the job first appears in
//   Reconfigure). The interval is measured start to start: after a run, the next scheduled run
//   is due at max(S + d, F). So an `every: 1m` job that ran from 10:00 to 10:05 runs again at
//   10:05 (once), then at 10:06, 10:07, ... For wall-clock alignment use cron.
// - `cron`: the first run is due at the first fire time strictly after creation. After a run,
//   the next is due at max(NextAfter(S), F): the next fire after the start, or, when that fire
//   passed while the run was going (a missed fire), immediately at F, once; the run started at
//   F then waits for the first fire after F.
// - `continuous: { poll: p }`: due at creation; after a run that succeeded but was not caught
//   up, due again at F; after any other run (caught up, failed with no retry left, cancelled),
//   due at F + p.
// - manual-only (`schedule` absent): never due except through RequestManual.
// - Manual trigger: RequestManual makes the job due now (at the request time); when it is
//   running, it runs right after it finishes. Several requests before the run starts collapse
//   into one. A pending manual run takes precedence over (and replaces) a pending retry.
// - Retries: a run that ends kFailed or kTimedOut, and whose attempt number n is <= the job's
//   `retries.max`, is retried as attempt n + 1 (trigger kRetry) at F + BackoffDelay(retries, n).
//   This holds for manual runs too: a failed manual run is retried under the job's policy, so
//   `retries.max: 0` (the default) means no retry for any trigger. While a retry is pending the
//   schedule does not start runs; ticks passed by then are satisfied by the retry run (rule 1).
//   When the last allowed attempt fails, the streak ends and the job returns to its schedule
//   (the next run is attempt 1). kSucceeded and kCancelled end a streak too; a cancelled run
//   (shutdown, operator, or a lease held by another runner) is never retried.
// - Not started: a run that ends kNotStarted never began (the state store was unreachable when
//   it was to take the job's lease; or, the daemon decides, another daemon held the lease of a
//   scheduled run, so the tick waits to see whether that daemon's run serves it or dies with
//   it: then the daemon says when to ask again, Outcome::again). It served nothing: the ticks
//   its start satisfied are due again, and any run that starts later (a manual one too)
//   satisfies the owed one. What it was started for is owed: a scheduled run or a
//   retry is due again, same trigger and attempt, after 1 s, 2 s, 4 s, ... at most 60 s while
//   the streak of not-started runs lasts (a run that starts ends it). A schedule tick is never
//   lost to an outage: the nightly cron run happens once PostgreSQL is back. It leaves the last
//   result and finish time as they were. (Manual runs are re-requested by the daemon itself.)
// - max_concurrent_runs bounds the runs in progress (Started but not Finished). Due jobs
//   beyond the bound wait; when a slot frees, the job due earliest starts first (ties: the order
//   of the job list), so a waiting job is never overtaken by one that became due after it.
// - Timeout: a run of a job with `timeout: t` has the deadline S + t. TimedOut() reports it
//   once, at or after the deadline; the caller cancels the run at its next safe point and calls
//   Finished with kTimedOut.
//
// Thread-safety: not thread-safe; the daemon calls it from one thread (or under one mutex).
// The Clock must outlive the Scheduler.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/duration.h"
#include "common/status.h"
#include "db/coordination.h"
#include "db/state_store.h"
#include "runner/config.h"

namespace lakesync::runner {

// Why a run starts; recorded with every attempt (the state store's type).
using db::Trigger;
using db::TriggerName;

// A source of uniformly distributed numbers in [0, 1), for retry jitter.
using UniformRandom = std::function<double()>;

// A deterministic UniformRandom: std::mt19937_64 seeded with `seed`, whose output the standard
// fixes, converted to a double with 53 random bits, so a seed gives the same series on every
// platform.
UniformRandom SeededRandom(uint64_t seed);

// The wait before retrying after attempt `attempt` (>= 1) failed, without jitter:
// backoff × 2^(attempt-1), capped at max_backoff (30s, 1m, 2m, 4m, 8m, 10m, 10m, ... for the
// defaults). Never overflows, whatever `attempt` is. Values below 1 are treated as 1.
Duration BackoffBase(const RetryPolicy& policy, int attempt);

// BackoffBase with ±20% jitter that never exceeds max_backoff: a duration uniformly drawn from
// [base - base/5, min(base + base/5, max_backoff)] (whole milliseconds; `random()` = 0 gives
// the lower bound; a null `random` gives the base). ±20% rather than "full jitter" because a retry
// should never come almost immediately after a failure, while runs of many jobs failing together (a
// target outage) still spread out.
Duration BackoffDelay(const RetryPolicy& policy, int attempt, const UniformRandom& random);

// What the scheduler needs to know about a job.
struct JobSchedule {
  std::string name;
  Schedule schedule;
  RetryPolicy retries;
  std::optional<Duration> timeout;

  static JobSchedule FromConfig(const JobConfig& job);
};
std::vector<JobSchedule> JobSchedules(const Config& config);

struct SchedulerOptions {
  int max_concurrent_runs = 4;  // >= 1
  // Jitter source; null = SeededRandom(a value from std::random_device), so runners sharing a
  // database do not retry in lockstep. Tests pass a fixed source.
  UniformRandom random;
};

// One run to start now.
struct RunOrder {
  std::string job;
  Trigger trigger = Trigger::kSchedule;
  int attempt = 1;  // 1 for a first attempt, n + 1 for the retry after attempt n failed
  TimePoint due;    // when it became due (<= now); the wait is now - due

  bool operator==(const RunOrder&) const = default;
};

// How a run ended, as the caller reports it to Finished.
struct Outcome {
  // kNotStarted: the run never began (the state store could not be reached to take the job's
  // lease, or, for a scheduled run, another daemon holds it); the order it was started for is
  // owed and comes back after a backoff (see the rules).
  enum Result { kSucceeded, kFailed, kTimedOut, kCancelled, kNotStarted };

  Outcome(Result r = kSucceeded, bool caught_up_ = true,
          std::optional<Duration> again_ = std::nullopt)
      : result(r), caught_up(caught_up_), again(again_) {}

  Result result = kSucceeded;
  // Continuous jobs: whether the run ended at the source head it observed (nothing left to
  // replicate). Ignored for other schedules and for runs that did not succeed.
  bool caught_up = true;
  // kNotStarted only: when to ask again, instead of the outage backoff (1 s, 2 s ... 60 s,
  // whose streak this does not count): another daemon held the lease of a scheduled run.
  std::optional<Duration> again;
};

// A job's state for `lakesync status`.
struct JobStatus {
  std::string name;
  std::string schedule;  // Schedule::Describe()
  bool running = false;
  std::optional<TimePoint> started;   // the current run's start, while running
  std::optional<TimePoint> deadline;  // the current run's deadline, while running with a timeout
  int attempt = 0;                    // the current run's attempt number, while running
  // When the job will next start (if a slot is free) and why. nullopt while it runs (the next
  // run depends on how this one ends) and for a manual-only job with no pending request. May be
  // in the past: the job is due and waiting for a slot.
  std::optional<TimePoint> next_run;
  Trigger next_trigger = Trigger::kSchedule;
  int next_attempt = 1;
  std::optional<TimePoint> last_finished;
  std::optional<Outcome::Result> last_result;
};

class Scheduler {
 public:
  // InvalidArgument when max_concurrent_runs < 1, two jobs share a name, an `every` interval or
  // a continuous poll is not positive, or a cron schedule has no expression. Jobs that are not
  // manual-only start their schedules at clock.Now() (see the rules above).
  [[nodiscard]] static Result<std::unique_ptr<Scheduler>> Create(std::vector<JobSchedule> jobs,
                                                                 SchedulerOptions options,
                                                                 const Clock& clock);

  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // The runs to start now, earliest due first, at most (max_concurrent_runs - running) of them,
  // at most one per job, none for a running job. Does not change state: the caller calls
  // Started for each order it starts; an order it does not start is returned again next time.
  std::vector<RunOrder> Due() const;

  // For a scheduled order from Due(), asked before Started: when a run of the job by another
  // daemon sharing the state store has served the order's schedule tick, so that this daemon
  // does not run it again (it asks for the job's lease on that condition:
  // db::Coordination::AcquireLease). cron: a take at or after the fire the order is for, also
  // when the order comes back after a run that could not start, or for a fire missed while no
  // daemon ran the job. `every: d`: a take within the last d (the interval counts every
  // daemon's starts). `continuous: { poll: p }`: a release within the last p. nullopt for
  // manual runs and retries (they run whatever other daemons did) and for a job that is not
  // configured.
  std::optional<db::TickServed> TickServedBy(const RunOrder& order) const;

  // Records that `order` (from Due) started now: the job is running, its deadline set, the
  // request it satisfies (manual, retry) consumed, its schedule ticks up to now satisfied.
  // Errors: NotFound when the job is not (or no longer) configured; Conflict when it is already
  // running.
  [[nodiscard]] Status Started(const RunOrder& order);

  // Records that the job's run ended now with `outcome`, and plans its next run.
  // Errors: NotFound for an unknown job; Conflict when it is not running.
  [[nodiscard]] Status Finished(std::string_view job, Outcome outcome);

  // Asks for a manual run (trigger kManual, attempt 1) as soon as the job is not running and a
  // slot is free. Returns false when a manual request was already pending (the two collapse).
  // Errors: NotFound for a job that is not configured.
  [[nodiscard]] Result<bool> RequestManual(std::string_view job);

  // The running jobs whose deadline is <= now and that were not reported before; each overdue
  // run is reported once.
  std::vector<std::string> TimedOut();

  // When the caller should next call Due()/TimedOut(): the earliest pending due time (only when
  // a slot is free; a finishing run frees one and the caller calls Due() then anyway) or
  // unreported run deadline. A time <= now means "now". nullopt: nothing is planned; wait for a
  // finishing run, a manual request or a reload.
  std::optional<TimePoint> NextWakeup() const;

  // Replaces the job list (a configuration reload). A job whose name is kept keeps its state:
  // running run, pending manual request and retry, attempt streak, last result. When its
  // schedule changed, its next scheduled run is recomputed as for a new job (`every`: the last
  // start + the new interval if it ran, else now). A changed timeout applies from the next run;
  // a changed retry policy from the next failure. A removed job that is running stays counted
  // against max_concurrent_runs until Finished, but never runs again. New jobs start as in
  // Create. Errors as in Create (and the previous list stays in force).
  [[nodiscard]] Status Reconfigure(std::vector<JobSchedule> jobs);

  // Records that the job last started at `last_start` before this scheduler existed (the
  // newest run in the state store), so a restarted daemon keeps the job's rhythm instead of
  // running every job at once. For an `every: d` job that has not started in this scheduler,
  // the next scheduled run becomes max(last_start + d, now) (a start more than d ago: due now,
  // once). A cron job whose fire after `last_start` has passed (missed while no daemon ran it)
  // is due now, once; else it keeps the first fire after creation. Continuous jobs keep now.
  // The time is kept as the job's last start, which Reconfigure uses when the schedule becomes
  // `every`. A `last_start` after now (clock skew between runners) counts as now. A job
  // that already started in this scheduler keeps its state. Errors: NotFound for an unknown job.
  [[nodiscard]] Status SeedLastStart(std::string_view job, TimePoint last_start);

  // Every configured job, in list order.
  std::vector<JobStatus> Describe() const;
  // NotFound for an unknown job.
  [[nodiscard]] Result<JobStatus> Describe(std::string_view job) const;
  // Shorthand for Describe(job)->next_run; nullopt for an unknown job too.
  std::optional<TimePoint> NextRun(std::string_view job) const;

  int running() const;
  int max_concurrent_runs() const { return max_concurrent_runs_; }

 private:
  struct Entry {
    JobSchedule job;
    bool configured = true;  // false: removed by Reconfigure, kept until its run finishes
    // The run in progress.
    bool running = false;
    TimePoint started;
    std::optional<TimePoint> deadline;
    bool timeout_reported = false;
    int attempt = 0;
    Trigger trigger = Trigger::kSchedule;
    int not_started_streak = 0;  // consecutive kNotStarted runs
    // Cron: the fire the running scheduled run serves, and the fire a scheduled run that is due
    // again after it could not start (or after a missed fire) is owed for (TickServedBy).
    std::optional<TimePoint> serving_fire;
    std::optional<TimePoint> owed_fire;
    // A scheduled run is owed (it did not start). Any run that starts serves it (Started).
    bool schedule_owed = false;
    // What Started changed, as it was before: a run that did not start (kNotStarted) served
    // nothing, so it comes back.
    struct BeforeStart {
      TimePoint next_due = TimePoint::max();
      bool schedule_owed = false;
      std::optional<TimePoint> last_start;
    } before_start;
    // What comes next.
    TimePoint next_due = TimePoint::max();  // the next schedule tick; max() = none
    std::optional<TimePoint> manual_requested;
    std::optional<TimePoint> retry_at;
    int retry_attempt = 0;
    // History, for Describe and Reconfigure.
    std::optional<TimePoint> last_start;
    std::optional<TimePoint> last_finished;
    std::optional<Outcome::Result> last_result;
  };
  struct Pending {
    Trigger trigger;
    int attempt;
    TimePoint due;
  };

  Scheduler(int max_concurrent_runs, UniformRandom random, const Clock& clock);

  static Status Validate(const std::vector<JobSchedule>& jobs);
  // The first scheduled run of a job that appears now (see the rules in the file comment).
  TimePoint InitialDue(const Schedule& schedule, std::optional<TimePoint> last_start) const;
  // The next scheduled tick after a run that started at `start` (every / cron only).
  static TimePoint NextTick(const Schedule& schedule, TimePoint start);
  // What the job would run next if it were not running; nullopt when nothing is planned.
  static std::optional<Pending> NextPending(const Entry& entry);
  Entry* Find(std::string_view job);
  const Entry* Find(std::string_view job) const;
  JobStatus StatusOf(const Entry& entry) const;
  // The cron fire a scheduled order of `entry` is for: the owed one, else its due time.
  static TimePoint FireOf(const Entry& entry, const RunOrder& order) {
    return entry.owed_fire.value_or(order.due);
  }

  int max_concurrent_runs_;
  UniformRandom random_;
  const Clock& clock_;
  // Configured jobs in list order, then removed jobs that are still running.
  std::vector<Entry> entries_;
};

}  // namespace lakesync::runner
