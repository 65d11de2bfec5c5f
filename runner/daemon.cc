#include "runner/daemon.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "common/redact.h"
#include "db/coordination.h"
#include "db/lease_keeper.h"
#include "db/pg.h"
#include "db/pg_state_store.h"
#include "metrics/metrics.h"
#include "runner/executor.h"
#include "runner/http_server.h"
#include "runner/notifier.h"
#include "runner/scheduler.h"
#include "runner/state_connection.h"
#include "runner/tables.h"

namespace lakesync::runner {
namespace {

using SteadyClock = std::chrono::steady_clock;

// How long a manual run whose lease another runner holds waits before trying again: doubling
// from the first to the last while it waits.
constexpr Duration kManualLeaseRetry = std::chrono::milliseconds(200);
constexpr Duration kManualLeaseRetryMax = std::chrono::seconds(2);
// How often the request table is polled besides the NOTIFY wake-ups (a missed notification,
// a reconnect).
constexpr Duration kRequestPoll = std::chrono::seconds(1);
// How long the drain waits for runs cancelled after the grace period to reach a safe point.
constexpr Duration kCancelDrain = std::chrono::seconds(30);
// How long a stop waits for the helper threads (request listener, lag probe, keep-alive) once
// the runs are done. Each checks for the stop at least every second; only one stuck in a query
// to a state store that does not answer takes longer.
constexpr Duration kHelperStop = std::chrono::seconds(5);

// How soon a scheduled run whose lease another daemon held asks again: every lease_ttl (the
// holder's death shows as an expiry within that), sooner for a schedule that is more frequent
// (the job's interval or poll), at least every 200 ms.
Duration HeldLeaseRecheck(const Config& cfg, const JobConfig& job) {
  Duration wait = cfg.runner.lease_ttl;
  if (job.schedule.kind == Schedule::kEvery) wait = std::min(wait, job.schedule.every);
  if (job.schedule.kind == Schedule::kContinuous) wait = std::min(wait, job.schedule.poll);
  return std::max<Duration>(wait, std::chrono::milliseconds(200));
}

double UnixSeconds(TimePoint t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

std::vector<std::pair<std::string, std::string>> JobKinds(const Config& config) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& j : config.jobs) out.emplace_back(j.name, std::string(JobKindName(j.kind)));
  return out;
}

// The jobs and their targets, for the metrics (series of removed targets are dropped).
std::vector<metrics::Metrics::ConfiguredJob> MetricJobs(const Config& config) {
  std::vector<metrics::Metrics::ConfiguredJob> out;
  for (const auto& j : config.jobs) {
    out.push_back({j.name, std::string(JobKindName(j.kind)), j.TargetNames()});
  }
  return out;
}

std::optional<double> ScheduleIntervalSeconds(const Schedule& s, TimePoint now) {
  switch (s.kind) {
    case Schedule::kManual:
      return std::nullopt;
    case Schedule::kEvery:
      return std::chrono::duration<double>(s.every).count();
    case Schedule::kContinuous:
      return std::chrono::duration<double>(s.poll).count();
    case Schedule::kCron: {
      // The longest wait between fires, not the next one: `0 2,3 * * *` waits 23 h after 03:00,
      // `0 2 * * 1-5` 3 days over a weekend; LakesyncNoRecentSuccess must not fire in them.
      const Duration gap = s.cron.LongestGapAfter(now);
      if (gap <= Duration::zero()) return std::nullopt;
      return std::chrono::duration<double>(gap).count();
    }
  }
  return std::nullopt;
}

}  // namespace

// ---- Impl -------------------------------------------------------------------------------

struct Daemon::Impl {
  struct ActiveRun {
    RunOrder order;
    // A scheduled run: when another daemon's run of the job served its tick
    // (Scheduler::TickServedBy); the lease is asked for on that condition.
    std::optional<db::TickServed> tick;
    std::shared_ptr<const Config> config;
    // On the steady clock: a step of the wall clock (NTP, a suspended VM) neither cuts a run
    // short nor lets it run on.
    std::optional<SteadyClock::time_point> deadline;
    std::vector<int64_t> request_ids;  // manual requests this run satisfies
    bool waiting = false;              // a manual run retried while another holder runs the job
    std::atomic<bool> timed_out{false};
    std::atomic<int64_t> run_id{0};  // the recorded run, once started (0: not yet)
    std::thread thread;
  };
  struct FinishedRun {
    std::shared_ptr<ActiveRun> run;
    Outcome outcome;
    bool not_started = false;  // the lease could not be taken
    std::optional<int64_t> run_id;
    std::optional<db::RunFinish> unrecorded;  // the failure to record on run_id, not yet done
  };

  // A finished run's bookkeeping the store could not take (it was unreachable): the failure to
  // record on its row, and the requests it satisfied to mark done.
  struct Unsettled {
    uint64_t seq = 0;  // identifies it in `unsettled`
    std::string job;
    std::vector<int64_t> ids;
    std::optional<int64_t> run_id;
    std::optional<db::RunFinish> unrecorded;
  };

  // The run's observer: timeout, shutdown and lease checks.
  class Observer final : public jobs::RunObserver {
   public:
    Observer(Impl& d, ActiveRun& run, db::LeaseKeeper& lease) : d_(d), run_(run), lease_(lease) {}
    Status CheckContinue() override {
      // Past the validity this process knows of (paused, or the database unreachable for the
      // TTL): ask before any more work — a run's cleanup may delete what a new holder writes.
      if (lease_.lost() || lease_.PastValidity()) {
        if (Status s = lease_.Check(); !s.ok()) return s;
      }
      if (d_.cancel_runs_) {
        return Status::Cancelled(
            "stopped: the daemon is shutting down and runner.shutdown_grace "
            "passed");
      }
      if (run_.deadline && SteadyClock::now() >= *run_.deadline) {
        run_.timed_out = true;
        const JobConfig* job = run_.config->FindJob(run_.order.job);
        return Status::Cancelled(fmt::format(
            "timed out: the run exceeded its timeout of {}",
            job != nullptr && job->timeout ? FormatDuration(*job->timeout) : std::string("?")));
      }
      return Status::OK();
    }
    Status BeforePublish(const std::string& target, int64_t version) override {
      return lease_.Check();
    }

   private:
    Impl& d_;
    ActiveRun& run_;
    db::LeaseKeeper& lease_;
  };

  DaemonOptions options;
  std::string runner_id;
  std::string database_url;
  std::unique_ptr<db::PgStateStore> store;
  std::unique_ptr<db::Coordination> coord;
  std::unique_ptr<Notifier> notifier;
  std::unique_ptr<metrics::Metrics> metrics;
  std::unique_ptr<HttpServer> http;

  std::mutex mu;
  std::condition_variable cv;
  std::shared_ptr<const Config> config;  // replaced on reload
  // config->runner.shutdown_grace, readable without mu (which a query to a frozen state store
  // may hold).
  std::shared_ptr<std::atomic<int64_t>> shutdown_grace_ms =
      std::make_shared<std::atomic<int64_t>>(0);
  std::unique_ptr<Scheduler> scheduler;
  std::map<std::string, std::shared_ptr<ActiveRun>> active;  // by job
  std::set<std::string> deferred_jobs;  // due, waiting for another job on the same table (logged)
  std::vector<FinishedRun> finished;
  std::map<std::string, std::vector<int64_t>> pending_requests;  // claimed, not started
  std::map<std::string, TimePoint> manual_retry_at;
  // How long each job's manual run has been waiting for another holder (the retry's backoff).
  std::map<std::string, Duration> manual_retry_wait;
  // Finished runs whose record or requests the store could not take: KeepAlive settles them
  // (keeping the requests' claims alive meanwhile, so that an expired claim does not make
  // another daemon, or this one, run them a second time).
  std::vector<Unsettled> unsettled;
  uint64_t next_unsettled_seq = 1;
  // Requests settled lately: a claim the listener took again just before they were marked done
  // is dropped, not run a second time (bounded: the oldest are forgotten).
  std::set<int64_t> settled_requests;
  // Set by Stop and Reload without mu (which a query to a frozen state store may hold), so a
  // signal is always taken; the loop wakes at least every second to see them.
  std::atomic<bool> stopping{false};
  std::atomic<bool> reload_requested{false};
  bool manual_requested = false;  // the listener added manual requests
  std::atomic<bool> cancel_runs_{false};
  std::atomic<bool> threads_stop{false};
  std::thread listener_thread;
  std::thread lag_thread;
  std::thread keepalive_thread;
  std::set<std::string> helpers_running;  // names of the three above still running; mu

  // Starts `body` as a helper thread named `name` in helpers_running.
  std::thread StartHelper(const char* name, void (Impl::*body)()) {
    {
      std::lock_guard lock(mu);
      helpers_running.insert(name);
    }
    return std::thread([this, name, body] {
      (this->*body)();
      std::lock_guard lock(mu);
      helpers_running.erase(name);
      cv.notify_all();
    });
  }
  // Stops the helper threads: "" when all of them ended within kHelperStop (then joined), else
  // the names of those still running.
  std::string StopHelpers() {
    threads_stop = true;
    std::unique_lock lock(mu);
    cv.notify_all();
    if (!cv.wait_for(lock, kHelperStop, [&] { return helpers_running.empty(); })) {
      return fmt::format("{}", fmt::join(helpers_running, ", "));
    }
    lock.unlock();
    for (std::thread* t : {&listener_thread, &lag_thread, &keepalive_thread}) {
      if (t->joinable()) t->join();
    }
    return "";
  }

  void Listen();
  void KeepAlive();
  // Writes what a finished run left unsettled; OK once all of it is in the store, or when it
  // never will be (an error other than the store being unreachable: logged, given up).
  Status Settle(const Unsettled& u);
  // Settles the entries of `unsettled` that `pick` selects, dropping those settled. Takes mu.
  void SettleSome(const std::function<bool(const Unsettled&)>& pick);
  // Whether request `id` is this daemon's already: waiting, running, finished, or unsettled.
  // Requires mu held.
  bool KnownRequest(int64_t id) const;
  void SeedScheduler(const Config& cfg);
  void ProbeLag();
  void ProbeJob(const JobConfig& job);
  void Work(std::shared_ptr<ActiveRun> run);
  // Whether another runner took the job's lease after ours (`token`) was lost. False when it
  // cannot be told (the store is unreachable): the run then counts as this runner's failure.
  bool TakenOver(const JobConfig& job, int64_t token);
  // Closes runs a dead daemon left `running` that no lease holder will abandon (their job is
  // manual-only now, or gone from the configuration): no heartbeat for 3 × lease_ttl.
  void SweepSilentRuns(const Config& cfg);
  // Whether the job's finished run before `run_id` (0: before now), cancelled ones aside,
  // failed, as the state store records it (whichever runner ran it); nullopt when unknown.
  std::optional<bool> PreviousRunFailed(const std::string& job, int64_t run_id);
  // A run another runner left `running` and that was just closed as abandoned (failed): it is
  // notified and counted like a failed run, so a daemon killed mid-run does not go unreported.
  // `run_id` 0: the job's newest abandoned run. Jobs no longer configured are left alone.
  void ReportAbandoned(const Config& cfg, const std::string& job, int64_t run_id);
  // The name of a running job (other than `job`) that writes a table `job` writes (or one
  // inside it, or containing it), as the configuration check does within one file; "" if none.
  std::string RunningOnTheSameTables(const std::string& job) const;
  void Launch(const RunOrder& order, std::optional<db::TickServed> tick);
  void HandleFinished(FinishedRun f);
  void DoReload();
  Status Loop();
  std::vector<std::string> JobNames() {
    std::lock_guard lock(mu);
    std::vector<std::string> out;
    for (const auto& j : config->jobs) out.push_back(j.name);
    return out;
  }
};

void Daemon::Impl::Listen() {
  std::unique_ptr<db::NotificationListener> listener;
  auto last_poll = SteadyClock::now() - std::chrono::hours(1);
  while (!threads_stop) {
    if (!listener) {
      auto opened = db::NotificationListener::Connect(database_url, db::kRequestChannel);
      if (!opened.ok()) {
        spdlog::warn("run requests: {}; retrying", opened.status().message());
        std::this_thread::sleep_for(std::chrono::seconds(1));
        continue;
      }
      listener = std::move(*opened);
      last_poll = SteadyClock::now() - std::chrono::hours(1);  // claim what came meanwhile
    }
    auto got = listener->Wait(std::chrono::milliseconds(250));
    if (!got.ok()) {
      spdlog::warn("run requests: {}; reconnecting", got.status().message());
      listener.reset();
      continue;
    }
    if (got->empty() && SteadyClock::now() - last_poll < kRequestPoll) continue;
    last_poll = SteadyClock::now();
    {
      std::lock_guard lock(mu);
      if (stopping) continue;
    }
    Duration claim_ttl{0};
    {
      std::lock_guard lock(mu);
      claim_ttl = config->runner.lease_ttl;
    }
    auto claimed = coord->ClaimRequests(JobNames(), runner_id, claim_ttl);
    if (!claimed.ok()) {
      spdlog::warn("run requests: claiming: {}", claimed.status().message());
      continue;
    }
    if (claimed->empty()) continue;
    std::lock_guard lock(mu);
    for (const db::RunRequest& req : *claimed) {
      // Its claim expired while this daemon ran it, or while the store could not mark it done:
      // taken again, not run again (KeepAlive keeps the claim and marks it done).
      if (KnownRequest(req.id)) continue;
      auto requested = scheduler->RequestManual(req.job);
      if (!requested.ok()) {
        // Removed by a reload between listing and claiming: give it back.
        coord->UnclaimRequests({req.id}).IgnoreError();
        continue;
      }
      spdlog::info("{}: manual run requested (request {})", req.job, req.id);
      auto& ids = pending_requests[req.job];
      if (std::find(ids.begin(), ids.end(), req.id) == ids.end()) ids.push_back(req.id);
    }
    manual_requested = true;
    cv.notify_all();
  }
}

void Daemon::Impl::KeepAlive() {
  std::unique_lock lock(mu);
  while (!threads_stop) {
    cv.wait_for(lock, config->runner.heartbeat_interval, [&] { return threads_stop.load(); });
    if (threads_stop) break;
    // Claimed requests not completed yet (waiting, running, or finished but not yet marked
    // done) and the runs in progress.
    std::vector<int64_t> requests;
    std::vector<std::pair<std::string, int64_t>> runs;
    for (const auto& [job, ids] : pending_requests) {
      requests.insert(requests.end(), ids.begin(), ids.end());
    }
    for (const auto& [job, run] : active) {
      requests.insert(requests.end(), run->request_ids.begin(), run->request_ids.end());
      if (int64_t id = run->run_id.load(); id > 0) runs.emplace_back(job, id);
    }
    for (const FinishedRun& f : finished) {
      requests.insert(requests.end(), f.run->request_ids.begin(), f.run->request_ids.end());
    }
    for (const Unsettled& u : unsettled)
      requests.insert(requests.end(), u.ids.begin(), u.ids.end());
    const bool settle = !unsettled.empty();
    lock.unlock();
    if (Status s = coord->RefreshClaims(requests, runner_id); !s.ok()) {
      spdlog::warn("run requests: renewing {} claim(s): {}", requests.size(), s.message());
    }
    if (settle) SettleSome([](const Unsettled&) { return true; });
    const TimePoint now = SystemClock::Instance().Now();
    for (const auto& [job, id] : runs) {
      Status s = store->HeartbeatRun(id, now);
      if (!s.ok() && !s.IsConflict()) {  // Conflict: it finished meanwhile
        spdlog::warn("{}: run {} heartbeat: {}", job, id, s.message());
      }
    }
    lock.lock();
  }
}

bool Daemon::Impl::KnownRequest(int64_t id) const {
  auto has = [id](const std::vector<int64_t>& ids) {
    return std::find(ids.begin(), ids.end(), id) != ids.end();
  };
  if (settled_requests.count(id) > 0) return true;
  for (const auto& [job, ids] : pending_requests) {
    if (has(ids)) return true;
  }
  for (const auto& [job, run] : active) {
    if (has(run->request_ids)) return true;
  }
  for (const FinishedRun& f : finished) {
    if (has(f.run->request_ids)) return true;
  }
  return std::any_of(unsettled.begin(), unsettled.end(),
                     [&](const Unsettled& u) { return has(u.ids); });
}

void Daemon::Impl::SettleSome(const std::function<bool(const Unsettled&)>& pick) {
  std::vector<Unsettled> picked;
  {
    std::lock_guard lock(mu);
    for (const Unsettled& u : unsettled) {
      if (pick(u)) picked.push_back(u);
    }
  }
  std::set<uint64_t> done;
  for (const Unsettled& u : picked) {
    if (Settle(u).ok()) done.insert(u.seq);
  }
  if (done.empty()) return;
  std::lock_guard lock(mu);
  // By identity: the main loop may have settled (and cleared) some meanwhile.
  std::erase_if(unsettled, [&](const Unsettled& u) {
    if (done.count(u.seq) == 0) return false;
    settled_requests.insert(u.ids.begin(), u.ids.end());
    return true;
  });
  while (settled_requests.size() > 10000) settled_requests.erase(settled_requests.begin());
}

Status Daemon::Impl::Settle(const Unsettled& u) {
  // Only an unreachable store is worth waiting for; anything else would fail forever.
  auto give_up = [&](const Status& s, std::string_view what) {
    if (s.code() == StatusCode::kUnavailable) return false;
    spdlog::error("{}: {}: {}; giving up", u.job, what, s.message());
    return true;
  };
  if (u.unrecorded && u.run_id) {
    Status s = store->FinishRun(*u.run_id, *u.unrecorded);
    if (s.ok()) {
      spdlog::info("{}: run {} recorded as failed: {}", u.job, *u.run_id, u.unrecorded->error);
    } else if (!s.IsConflict()) {  // Conflict: closed meanwhile (by a sweep or a takeover)
      if (!give_up(s, fmt::format("recording run {} as failed", *u.run_id))) return s;
    }
  }
  if (!u.ids.empty()) {
    Status s = coord->CompleteRequests(u.ids, u.run_id);
    if (s.ok()) {
      spdlog::info("{}: run request(s) {} marked done", u.job, fmt::join(u.ids, ", "));
    } else if (!give_up(s, fmt::format("marking run request(s) {} done", fmt::join(u.ids, ", ")))) {
      return s;
    }
  }
  return Status::OK();
}

void Daemon::Impl::SeedScheduler(const Config& cfg) {
  const TimePoint now = SystemClock::Instance().Now();
  for (const JobConfig& job : cfg.jobs) {
    // The newest run that served its tick: not one still `running` (another daemon's, which
    // this one must be ready to take over if its holder dies, or a dead daemon's), nor one that
    // was cancelled (a daemon stopped in the middle of it).
    auto runs = store->ListRuns(job.name, 20);
    if (!runs.ok()) {
      spdlog::warn("{}: reading its last runs: {}", job.name, runs.status().message());
      continue;
    }
    auto last = std::find_if(runs->begin(), runs->end(), [](const db::RunRecord& r) {
      return r.status != db::RunStatus::kRunning && r.status != db::RunStatus::kCancelled;
    });
    if (last == runs->end()) continue;
    if (Status s = scheduler->SeedLastStart(job.name, last->start.started_at); !s.ok()) continue;
    std::optional<TimePoint> next = scheduler->NextRun(job.name);
    if (job.schedule.kind == Schedule::kEvery && next && *next > now) {
      spdlog::info("{}: last run started at {}; next scheduled run at {}", job.name,
                   FormatTimestamp(last->start.started_at), FormatTimestamp(*next));
    } else if (job.schedule.kind == Schedule::kCron && next && *next <= now) {
      spdlog::info(
          "{}: last run started at {} and a scheduled fire has passed since; running "
          "the missed fire now",
          job.name, FormatTimestamp(last->start.started_at));
    }
  }
}

void Daemon::Impl::ProbeJob(const JobConfig& job) {
  const std::string kind(JobKindName(job.kind));
  for (const TargetLag& lag : ProbeJobLag(job, SystemClock::Instance().Now())) {
    metrics->SetLag(job.name, kind, lag.target, lag.source_version, lag.replicated_version,
                    lag.lag_versions, lag.lag_seconds, lag.error.empty());
    if (lag.snapshots) metrics->SetSnapshots(job.name, *lag.snapshots, lag.replicated_version);
  }
}

void Daemon::Impl::ProbeLag() {
  std::unique_lock lock(mu);
  while (!threads_stop) {
    std::shared_ptr<const Config> current = config;
    lock.unlock();
    for (const JobConfig& job : current->jobs) {
      if (threads_stop) break;
      ProbeJob(job);
    }
    SweepSilentRuns(*current);
    lock.lock();
    cv.wait_for(lock, config->runner.lag_probe_interval, [&] { return threads_stop.load(); });
  }
}

void Daemon::Impl::Work(std::shared_ptr<ActiveRun> run) {
  FinishedRun done;
  done.run = run;
  const Config& cfg = *run->config;
  const JobConfig* job = cfg.FindJob(run->order.job);
  auto post = [&] {
    std::lock_guard lock(mu);
    finished.push_back(std::move(done));
    cv.notify_all();
  };
  if (job == nullptr) {  // cannot happen: the scheduler only orders configured jobs
    done.not_started = true;
    done.outcome.result = Outcome::kCancelled;
    post();
    return;
  }

  const auto asked = SteadyClock::now();
  auto grant = coord->AcquireLease(job->name, runner_id, cfg.runner.lease_ttl,
                                   SystemClock::Instance().Now(), run->tick);
  if (!grant.ok() || !grant->token) {
    done.not_started = true;
    if (!grant.ok()) {
      // The store is unreachable: the run is owed, and the scheduler brings it back.
      spdlog::warn(
          "{}: cannot take the job's lease, so the run did not start (it is tried again "
          "shortly): {}",
          job->name, grant.status().message());
      done.outcome.result = Outcome::kNotStarted;
    } else if (grant->served_by) {
      spdlog::debug(
          "{}: runner {} ran the job (it took the lease at {}), which served this schedule "
          "tick; not running it here",
          job->name, *grant->served_by,
          grant->served_at ? FormatTimestamp(*grant->served_at) : std::string("?"));
      done.outcome.result = Outcome::kCancelled;
    } else if (run->tick) {
      // A scheduled run while another runner holds the lease: owed (asked again every
      // HeldLeaseRecheck) until that run ends. Released after its run, the other's take
      // serves this tick (or not: then this daemon runs it, as a tick missed while the job
      // ran); if its holder dies, the lease expires unreleased and this daemon runs the tick,
      // taking the job over, instead of waiting for the next one.
      done.outcome.result = Outcome::kNotStarted;
      done.outcome.again = HeldLeaseRecheck(cfg, *job);
      spdlog::debug(
          "{}: another runner holds the job's lease; asking again in {} until its run "
          "ends",
          job->name, FormatDuration(*done.outcome.again));
    } else {
      spdlog::debug("{}: another runner holds the job's lease; not running it here", job->name);
      done.outcome.result = Outcome::kCancelled;
    }
    post();
    return;
  }
  db::LeaseKeeper lease(*coord, job->name, runner_id, *grant->token, cfg.runner.lease_ttl,
                        cfg.runner.heartbeat_interval, asked);
  // `lakesync run` holds the job's session lock while it runs; it checks for a live lease
  // after locking, and we check its lock after leasing, so the two never run together.
  auto locked = store->TryLockJob(job->name);
  if (!locked.ok() || !*locked) {
    done.outcome.result = Outcome::kCancelled;
    if (locked.ok()) {
      // A waiting manual run said so when it started waiting (HandleFinished).
      spdlog::log(run->waiting ? spdlog::level::debug : spdlog::level::info,
                  "{}: a `lakesync run` of the job is in progress; not running it here", job->name);
    } else {
      spdlog::warn("{}: the run did not start (it is tried again shortly): {}", job->name,
                   locked.status().message());
      done.outcome.result = Outcome::kNotStarted;
    }
    lease.Release(/*ran=*/false);  // the tick is not served: another daemon may run it
    done.not_started = true;
    post();
    return;
  }
  store->UnlockJob(job->name).IgnoreError();

  // This runner's own earlier run of the job that the store could not take yet is recorded as
  // what it was, before the job's runs left `running` are taken for abandoned ones.
  SettleSome([&](const Unsettled& u) { return u.job == job->name; });
  auto abandoned = store->AbandonRuns(
      job->name,
      fmt::format("abandoned: the runner running it stopped before recording a result (killed, "
                  "crashed or frozen past its lease); {} took the job over (lease token {})",
                  runner_id, lease.token()),
      SystemClock::Instance().Now());
  if (abandoned.ok() && *abandoned > 0) {
    spdlog::warn("{}: marked {} run(s) left `running` by a runner that died as failed", job->name,
                 *abandoned);
    RemoveAbandonedCopies(*job);
    ReportAbandoned(*run->config, job->name, 0);
  }

  const std::string kind(JobKindName(job->kind));
  metrics->RunStarted(job->name, kind);
  ExecuteOptions options;
  options.trigger = run->order.trigger;
  options.attempt = run->order.attempt;
  options.runner_id = runner_id;
  options.timed_out = [r = run.get()] { return r->timed_out.load(); };
  options.on_started = [this, r = run.get()](int64_t run_id) {
    r->run_id = run_id;
    // A daemon's run has a heartbeat from its start (what the sweep of silent runs goes by; a
    // `lakesync run` writes none and is never swept).
    if (Status s = store->HeartbeatRun(run_id, SystemClock::Instance().Now()); !s.ok()) {
      spdlog::warn("{}: first heartbeat of run {}: {}", r->order.job, run_id, s.message());
    }
    if (Status s = coord->LinkRequests(r->request_ids, runner_id, run_id); !s.ok()) {
      spdlog::warn("{}: linking run requests to run {}: {}", r->order.job, run_id, s.message());
    }
  };
  Observer observer(*this, *run, lease);
  const TimePoint started = SystemClock::Instance().Now();
  Result<ExecuteResult> result = ExecuteJob(cfg, *job, options, *store, observer);
  // A run cancelled (the daemon stopping, its lease lost) did not serve its tick: a daemon that
  // is waiting for the lease runs it.
  lease.Release(/*ran=*/!result.ok() ||
                result->outcome.finish.status != db::RunStatus::kCancelled || run->timed_out);
  const TimePoint ended = SystemClock::Instance().Now();
  const double seconds = std::chrono::duration<double>(ended - started).count();

  RunNotice notice;
  notice.job = job->name;
  notice.kind = kind;
  notice.attempt = run->order.attempt;
  notice.trigger = run->order.trigger;
  notice.duration_seconds = seconds;
  notice.runner_id = runner_id;
  if (!result.ok()) {
    // The state store failed or the lease was lost before the record.
    bool fenced = result.status().code() == StatusCode::kCancelled;
    if (fenced && !TakenOver(*job, lease.token())) {
      // The lease expired (the database was unreachable, or this process paused, for longer
      // than lease_ttl) but no runner took the job: nobody else runs it or records this run, so
      // it is a failure — recorded on its own row (no versions), notified and retried like one.
      fenced = false;
      // Let a retry take the job at once: the lease may still be live (a check whose answer
      // came back late also loses it) and the keeper does not release a lease it lost.
      coord->ReleaseLease(job->name, runner_id, lease.token()).IgnoreError();
    }
    if (int64_t id = run->run_id.load(); !fenced && id > 0) {
      // Not recorded (the store failed, or the lease ran out before the record): the failure
      // goes on the run's own row, now or, while the store is unreachable, by KeepAlive.
      db::RunFinish failed;
      failed.status = db::RunStatus::kFailed;
      failed.finished_at = SystemClock::Instance().Now();
      failed.error = result.status().message();
      done.run_id = id;
      notice.run_id = id;
      if (Status s = store->FinishRun(id, failed); !s.ok() && !s.IsConflict()) {
        spdlog::warn("{}: recording run {} as failed: {}; tried again until it works", job->name,
                     id, s.message());
        done.unrecorded = std::move(failed);
      }
    }
    spdlog::error("{}: run {}: {}", job->name, fenced ? "not recorded" : "failed",
                  result.status().message());
    done.outcome.result = fenced ? Outcome::kCancelled : Outcome::kFailed;
    notice.status = fenced ? db::RunStatus::kCancelled : db::RunStatus::kFailed;
    notice.error = result.status().message();
    metrics->RunFinished(job->name, kind, db::RunStatusName(notice.status), seconds, 0, 0, 0, 0,
                         std::nullopt);
  } else {
    const db::RunFinish& finish = result->outcome.finish;
    done.run_id = result->run_id;
    notice.run_id = result->run_id;
    notice.status = finish.status;
    notice.error = finish.error;
    switch (finish.status) {
      case db::RunStatus::kSucceeded:
        done.outcome.result = Outcome::kSucceeded;
        // With a per-run cap, a run that made progress may have more to do.
        done.outcome.caught_up = !(job->kind == JobKind::kIncremental &&
                                   job->incremental.max_versions_per_run && finish.commits > 0);
        break;
      case db::RunStatus::kTimedOut:
        done.outcome.result = Outcome::kTimedOut;
        break;
      case db::RunStatus::kCancelled:
        done.outcome.result = run->timed_out ? Outcome::kTimedOut : Outcome::kCancelled;
        if (run->timed_out) notice.status = db::RunStatus::kTimedOut;
        break;
      default:
        done.outcome.result = run->timed_out ? Outcome::kTimedOut : Outcome::kFailed;
        break;
    }
    metrics->RunFinished(job->name, kind, db::RunStatusName(notice.status), seconds, finish.commits,
                         finish.files, finish.bytes, finish.rows,
                         finish.status == db::RunStatus::kSucceeded
                             ? std::optional<double>(UnixSeconds(finish.finished_at))
                             : std::nullopt);
  }
  notice.previous_failed = PreviousRunFailed(job->name, notice.run_id);
  notifier->RunFinished(notice);
  ProbeJob(*job);
  post();
}

std::optional<bool> Daemon::Impl::PreviousRunFailed(const std::string& job, int64_t run_id) {
  Result<std::vector<db::RunRecord>> runs = store->ListRuns(job, 20);
  if (!runs.ok()) return std::nullopt;
  for (const db::RunRecord& r : *runs) {  // newest first
    if (run_id > 0 && r.id >= run_id) continue;
    if (r.status == db::RunStatus::kRunning || r.status == db::RunStatus::kCancelled) continue;
    return IsFailure(r.status);
  }
  if (runs->size() < 20) return false;  // no earlier finished run: not failing
  return std::nullopt;
}

void Daemon::Impl::SweepSilentRuns(const Config& cfg) {
  const Duration silence = 3 * cfg.runner.lease_ttl;
  Result<std::vector<std::string>> swept = store->AbandonSilentRuns(
      silence, fmt::format("abandoned: the daemon running it stopped without recording a result "
                           "(no heartbeat for over {} and no runner holds the job's lease)",
                           FormatDuration(silence)));
  if (!swept.ok()) {
    spdlog::debug("closing runs left running by stopped daemons: {}", swept.status().message());
  } else if (!swept->empty()) {
    spdlog::warn("marked {} run(s) left `running` by a daemon that stopped as failed: {}",
                 swept->size(), fmt::join(*swept, ", "));
    for (const std::string& job_and_id : *swept) {  // "job/id"
      const size_t slash = job_and_id.rfind('/');
      if (slash == std::string::npos) continue;
      ReportAbandoned(cfg, job_and_id.substr(0, slash),
                      std::strtoll(job_and_id.c_str() + slash + 1, nullptr, 10));
    }
  }
}

std::string Daemon::Impl::RunningOnTheSameTables(const std::string& job) const {
  const JobConfig* mine = config->FindJob(job);
  if (mine == nullptr) return "";
  for (const auto& [name, run] : active) {
    if (name == job) continue;
    const JobConfig* theirs = run->config->FindJob(name);
    if (theirs == nullptr) continue;
    for (const Uri& a : mine->TargetUris()) {
      for (const Uri& b : theirs->TargetUris()) {
        if (a.Contains(b) || b.Contains(a)) return name;
      }
    }
  }
  return "";
}

void Daemon::Impl::ReportAbandoned(const Config& cfg, const std::string& job, int64_t run_id) {
  const JobConfig* configured = cfg.FindJob(job);
  if (configured == nullptr) return;
  Result<std::vector<db::RunRecord>> runs = store->ListRuns(job, 20);
  if (!runs.ok()) return;
  for (const db::RunRecord& r : *runs) {  // newest first
    if (run_id > 0 ? r.id != run_id
                   : r.status != db::RunStatus::kFailed || r.error.rfind("abandoned:", 0) != 0) {
      continue;
    }
    const std::string kind(JobKindName(configured->kind));
    RunNotice notice;
    notice.job = job;
    notice.kind = kind;
    notice.status = db::RunStatus::kFailed;
    notice.run_id = r.id;
    notice.attempt = r.start.attempt;
    notice.trigger = r.start.trigger;
    notice.error = r.error;
    notice.runner_id = r.start.runner_id;
    if (r.finished_at) {
      notice.duration_seconds =
          std::chrono::duration<double>(*r.finished_at - r.start.started_at).count();
    }
    notice.previous_failed = PreviousRunFailed(job, r.id);
    metrics->RunFinished(job, kind, db::RunStatusName(db::RunStatus::kFailed),
                         notice.duration_seconds, 0, 0, 0, 0, std::nullopt);
    notifier->RunFinished(notice);
    return;
  }
}

bool Daemon::Impl::TakenOver(const JobConfig& job, int64_t token) {
  Result<std::optional<db::LeaseInfo>> lease = coord->GetLease(job.name);
  if (!lease.ok() || !lease->has_value()) return false;
  return (*lease)->token != token || (*lease)->holder != runner_id;
}

void Daemon::Impl::Launch(const RunOrder& order, std::optional<db::TickServed> tick) {
  auto run = std::make_shared<ActiveRun>();
  run->order = order;
  run->tick = std::move(tick);
  run->config = config;
  const JobConfig* job = config->FindJob(order.job);
  if (job != nullptr && job->timeout) {
    run->deadline =
        SteadyClock::now() + std::chrono::duration_cast<SteadyClock::duration>(*job->timeout);
  }
  if (order.trigger == Trigger::kManual) {
    auto it = pending_requests.find(order.job);
    if (it != pending_requests.end()) {
      run->request_ids = std::move(it->second);
      pending_requests.erase(it);
    }
  }
  run->waiting = order.trigger == Trigger::kManual && manual_retry_wait.count(order.job) > 0;
  active[order.job] = run;
  run->thread = std::thread([this, run] { Work(run); });
}

void Daemon::Impl::HandleFinished(FinishedRun f) {
  const std::string job = f.run->order.job;
  if (f.run->thread.joinable()) f.run->thread.join();
  active.erase(job);
  if (Status s = scheduler->Finished(job, f.outcome); !s.ok()) {
    spdlog::error("{}: scheduler: {}", job, s.message());
  }
  if (f.not_started && f.run->order.trigger == Trigger::kManual) {
    // Another runner holds the lease: the manual run waits for it here.
    auto& ids = pending_requests[job];
    ids.insert(ids.begin(), f.run->request_ids.begin(), f.run->request_ids.end());
    if (!stopping) {
      // 200 ms, 400 ms … at most 2 s: prompt after a short run, cheap beside a long one.
      auto [wait, first] = manual_retry_wait.try_emplace(job, kManualLeaseRetry);
      if (first) {
        spdlog::info("{}: the manual run waits until the job's current run ends", job);
      } else {
        wait->second = std::min<Duration>(wait->second * 2, kManualLeaseRetryMax);
      }
      manual_retry_at[job] = SystemClock::Instance().Now() + wait->second;
    }
    return;
  }
  if (f.run->order.trigger == Trigger::kManual) manual_retry_wait.erase(job);
  Unsettled u{0, job, f.run->request_ids, f.run_id, std::move(f.unrecorded)};
  if (u.ids.empty() && !u.unrecorded) return;
  if (!u.unrecorded) {
    Status s = coord->CompleteRequests(u.ids, u.run_id);
    if (s.ok()) return;
    spdlog::warn("{}: marking run request(s) {} done: {}; tried again until it works", job,
                 fmt::join(u.ids, ", "), s.message());
  }
  // The run's failure (Work could not record it) and its requests: KeepAlive settles them,
  // within one heartbeat_interval, or the job's next run before it starts.
  u.seq = next_unsettled_seq++;
  unsettled.push_back(std::move(u));
}

void Daemon::Impl::DoReload() {
  const std::string& path = options.config_path;
  Result<Config> loaded = LoadConfigFile(path);
  if (!loaded.ok()) {
    spdlog::error("reload: {} is not valid; keeping the running configuration:\n{}", path,
                  loaded.status().message());
    return;
  }
  Config next = std::move(*loaded);
  // What only a restart can change stays as it is.
  if (next.state.postgres != config->state.postgres) {
    spdlog::warn("reload: state.postgres changed; restart the daemon to use it");
  }
  if (next.runner.listen != config->runner.listen) {
    spdlog::warn("reload: runner.listen changed; restart the daemon to use it");
  }
  if (next.runner.max_concurrent_runs != config->runner.max_concurrent_runs) {
    spdlog::warn("reload: runner.max_concurrent_runs changed; restart the daemon to use it");
  }
  next.state = config->state;
  next.runner.listen = config->runner.listen;
  next.runner.max_concurrent_runs = config->runner.max_concurrent_runs;
  next.runner.runner_id = config->runner.runner_id;
  if (Status s = scheduler->Reconfigure(JobSchedules(next)); !s.ok()) {
    spdlog::error("reload: {}: {}; keeping the running configuration", path, s.message());
    return;
  }
  if (Status s = store->SyncJobs(JobKinds(next)); !s.ok()) {
    spdlog::warn("reload: recording the jobs: {}", s.message());
  }
  SeedScheduler(next);  // added jobs (and kept ones that never started here)
  notifier->Reconfigure(next.notifications);
  metrics->ConfigureJobsAndTargets(MetricJobs(next));
  const TimePoint now = SystemClock::Instance().Now();
  for (const auto& j : next.jobs) {
    metrics->SetJobConfig(
        j.name, std::string(JobKindName(j.kind)),
        j.lag_alert ? std::optional<double>(std::chrono::duration<double>(*j.lag_alert).count())
                    : std::nullopt,
        ScheduleIntervalSeconds(j.schedule, now));
  }
  // Requests for jobs that are gone go back to the table (another daemon may run them).
  for (auto it = pending_requests.begin(); it != pending_requests.end();) {
    if (next.FindJob(it->first) == nullptr) {
      coord->UnclaimRequests(it->second).IgnoreError();
      manual_retry_at.erase(it->first);
      manual_retry_wait.erase(it->first);
      it = pending_requests.erase(it);
    } else {
      ++it;
    }
  }
  config = std::make_shared<const Config>(std::move(next));
  *shutdown_grace_ms = config->runner.shutdown_grace.count();
  spdlog::info("reloaded {}: {} job(s)", path, config->jobs.size());
}

Status Daemon::Impl::Loop() {
  std::unique_lock lock(mu);
  std::optional<SteadyClock::time_point> grace_end;
  std::optional<SteadyClock::time_point> drain_end;
  for (;;) {
    while (!finished.empty()) {
      FinishedRun f = std::move(finished.front());
      finished.erase(finished.begin());
      HandleFinished(std::move(f));
    }
    if (reload_requested.exchange(false)) {
      if (!stopping) DoReload();
    }
    if (stopping) {
      if (!grace_end) {
        spdlog::info("stopping: {} run(s) in progress; waiting up to {} (runner.shutdown_grace)",
                     active.size(), FormatDuration(config->runner.shutdown_grace));
        grace_end = SteadyClock::now() + config->runner.shutdown_grace;
        std::vector<int64_t> unstarted;
        for (auto& [job, ids] : pending_requests) {
          unstarted.insert(unstarted.end(), ids.begin(), ids.end());
        }
        pending_requests.clear();
        manual_retry_at.clear();
        manual_retry_wait.clear();
        if (Status s = coord->UnclaimRequests(unstarted); !s.ok()) {
          spdlog::warn("stopping: returning {} run request(s): {}", unstarted.size(), s.message());
        }
      }
      if (active.empty()) break;
      if (!cancel_runs_ && SteadyClock::now() >= *grace_end) {
        spdlog::warn(
            "stopping: the grace period passed; cancelling {} run(s) at their next safe "
            "point",
            active.size());
        cancel_runs_ = true;
      }
      if (cancel_runs_ && !drain_end) drain_end = SteadyClock::now() + kCancelDrain;
      if (drain_end && SteadyClock::now() >= *drain_end) {
        spdlog::error(
            "stopping: {} run(s) did not reach a safe point; exiting anyway (their "
            "leases expire by themselves)",
            active.size());
        return Status::Cancelled("runs did not stop in time");
      }
      cv.wait_for(lock, std::chrono::milliseconds(100));
      continue;
    }

    const TimePoint now = SystemClock::Instance().Now();
    std::optional<TimePoint> wake;
    for (auto it = manual_retry_at.begin(); it != manual_retry_at.end();) {
      if (it->second <= now) {
        (void)scheduler->RequestManual(it->first);
        it = manual_retry_at.erase(it);
      } else {
        wake = wake ? std::min(*wake, it->second) : it->second;
        ++it;
      }
    }
    bool deferred = false;
    for (const RunOrder& order : scheduler->Due()) {
      // Leases are per job name: a job renamed (or added) while another job's run writes the
      // same table would start a second writer of it. It waits until that run ends.
      if (std::string other = RunningOnTheSameTables(order.job); !other.empty()) {
        if (deferred_jobs.insert(order.job).second) {
          spdlog::info("{}: waits for the running job {}, which writes the same table", order.job,
                       other);
        }
        deferred = true;
        continue;
      }
      deferred_jobs.erase(order.job);
      std::optional<db::TickServed> tick = scheduler->TickServedBy(order);
      if (Status s = scheduler->Started(order); !s.ok()) {
        spdlog::error("{}: scheduler: {}", order.job, s.message());
        continue;
      }
      Launch(order, std::move(tick));
    }
    for (const std::string& job : scheduler->TimedOut()) {
      spdlog::warn("{}: the run passed its timeout; it stops at its next safe point", job);
    }
    if (auto next = scheduler->NextWakeup()) wake = wake ? std::min(*wake, *next) : *next;
    const TimePoint limit = SystemClock::Instance().Now() + std::chrono::seconds(1);
    TimePoint until = wake ? std::min(*wake, limit) : limit;
    // A deferred order stays due: wait for a run to finish (or a second), not in a busy loop.
    if (deferred) until = limit;
    cv.wait_until(lock, until, [&] {
      return stopping || reload_requested || manual_requested || !finished.empty();
    });
    manual_requested = false;
  }
  // What the store could not take yet: one more try. Left over, a request is run again by
  // another daemon once its claim expires, and the run is closed by a daemon's sweep.
  // (KeepAlive may be settling the same ones: both writes are idempotent.)
  for (const Unsettled& u : unsettled) {
    if (Status s = Settle(u); !s.ok()) {
      spdlog::warn("{}: run {} ended but its record or its request(s) {} could not be written: {}",
                   u.job, u.run_id ? std::to_string(*u.run_id) : "?", fmt::join(u.ids, ", "),
                   s.message());
    }
  }
  unsettled.clear();
  return Status::OK();
}

// ---- Daemon -----------------------------------------------------------------------------

Daemon::Daemon(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Daemon::~Daemon() {
  if (!impl_) return;
  // REQUIRES (below): the helper threads ended (Run returned OK, or was never called).
  impl_->threads_stop = true;
  impl_->cv.notify_all();
  if (impl_->listener_thread.joinable()) impl_->listener_thread.join();
  if (impl_->lag_thread.joinable()) impl_->lag_thread.join();
  if (impl_->keepalive_thread.joinable()) impl_->keepalive_thread.join();
  impl_->http.reset();
  // REQUIRES: Run returned OK (every run finished), or Run was never called.
}

Result<std::unique_ptr<Daemon>> Daemon::Create(Config config, DaemonOptions options) {
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  impl->runner_id = config.runner.runner_id.empty() ? DefaultRunnerId() : config.runner.runner_id;
  LAKESYNC_ASSIGN_OR_RETURN(impl->database_url, ResolveDatabaseUrl(&config));
  LAKESYNC_ASSIGN_OR_RETURN(impl->store, db::PgStateStore::Connect(impl->database_url));
  LAKESYNC_ASSIGN_OR_RETURN(db::MigrateReport report, impl->store->Migrate());
  (void)report;
  LAKESYNC_RETURN_IF_ERROR(impl->store->SyncJobs(JobKinds(config)));
  LAKESYNC_ASSIGN_OR_RETURN(impl->coord, db::Coordination::Connect(impl->database_url));

  SchedulerOptions sched;
  sched.max_concurrent_runs = config.runner.max_concurrent_runs;
  LAKESYNC_ASSIGN_OR_RETURN(
      impl->scheduler,
      Scheduler::Create(JobSchedules(config), std::move(sched), SystemClock::Instance()));

  // A restarted daemon keeps each job's rhythm instead of running every job at once.
  impl->SeedScheduler(config);

  impl->notifier = std::make_unique<Notifier>(config.notifications);
  impl->metrics = std::make_unique<metrics::Metrics>(impl->runner_id, impl->options.version);
  impl->metrics->ConfigureJobsAndTargets(MetricJobs(config));
  const TimePoint now = SystemClock::Instance().Now();
  for (const auto& j : config.jobs) {
    const std::string kind(JobKindName(j.kind));
    impl->metrics->SetJobConfig(
        j.name, kind,
        j.lag_alert ? std::optional<double>(std::chrono::duration<double>(*j.lag_alert).count())
                    : std::nullopt,
        ScheduleIntervalSeconds(j.schedule, now));
    // The last success survives restarts: seed it from the record, however many runs failed
    // since (an outage must not reset LakesyncNoRecentSuccess at each restart).
    auto last_success = impl->store->LastSuccessAt(j.name);
    if (last_success.ok() && *last_success) {
      impl->metrics->SetLastSuccess(j.name, kind, UnixSeconds(**last_success));
    }
  }
  impl->config = std::make_shared<const Config>(std::move(config));
  *impl->shutdown_grace_ms = impl->config->runner.shutdown_grace.count();

  Impl* d = impl.get();
  std::map<std::string, HttpHandler> routes;
  routes["/healthz"] = [d] {
    return HttpResponse{200, "text/plain; charset=utf-8",
                        fmt::format("ok {} {}\n", d->runner_id, d->options.version)};
  };
  routes["/readyz"] = [d] {
    // Its own short connection with a deadline: never behind a query the store's connection is
    // stuck in, never hung on a frozen server (4 such requests would take every HTTP thread,
    // /healthz and /metrics included).
    if (!db::pg::AnswersWithin(d->database_url, std::chrono::seconds(2))) {
      return HttpResponse{503, "text/plain; charset=utf-8",
                          "not ready: the state store cannot be reached\n"};
    }
    return HttpResponse{200, "text/plain; charset=utf-8", "ready\n"};
  };
  routes["/metrics"] = [d] {
    return HttpResponse{200, "text/plain; version=0.0.4; charset=utf-8", d->metrics->Serialize()};
  };
  LAKESYNC_ASSIGN_OR_RETURN(impl->http,
                            HttpServer::Start(impl->config->runner.listen, std::move(routes)));
  spdlog::info("daemon {} serving /healthz /readyz /metrics on http://{}:{} ({} job(s))",
               impl->runner_id,
               impl->config->runner.listen.substr(0, impl->config->runner.listen.rfind(':')),
               impl->http->port(), impl->config->jobs.size());
  return std::unique_ptr<Daemon>(new Daemon(std::move(impl)));
}

Status Daemon::Run() {
  impl_->listener_thread = impl_->StartHelper("request listener", &Impl::Listen);
  impl_->lag_thread = impl_->StartHelper("lag probe", &Impl::ProbeLag);
  impl_->keepalive_thread = impl_->StartHelper("keep-alive", &Impl::KeepAlive);
  Status s = impl_->Loop();
  if (std::string stuck = impl_->StopHelpers(); !stuck.empty()) {
    spdlog::error(
        "stopping: the {} did not stop within {} (stuck in a query to a state store that does "
        "not answer, or reading a slow table); exiting without it (runs left `running` are "
        "marked abandoned by the job's next lease holder, and leases and request claims expire "
        "by themselves)",
        stuck, FormatDuration(kHelperStop));
    impl_->notifier->Shutdown(std::chrono::seconds(5));
    return s.ok() ? Status::Unavailable("the " + stuck + " did not stop") : s;
  }
  // Requests claimed while stopping (the listener's last claim) go back too.
  {
    std::lock_guard lock(impl_->mu);
    std::vector<int64_t> unstarted;
    for (auto& [job, ids] : impl_->pending_requests) {
      unstarted.insert(unstarted.end(), ids.begin(), ids.end());
    }
    impl_->pending_requests.clear();
    impl_->coord->UnclaimRequests(unstarted).IgnoreError();
  }
  impl_->notifier->Shutdown(std::chrono::seconds(5));
  spdlog::info("daemon {} stopped", impl_->runner_id);
  return s;
}

void Daemon::Stop() {
  // No lock (see `stopping`): a signal is taken even while the loop waits on the state store.
  if (impl_->stopping.exchange(true) && !impl_->cancel_runs_.exchange(true)) {
    spdlog::warn("stopping: asked again; cancelling the runs in progress at their next safe point");
  }
  impl_->cv.notify_all();
}

Duration Daemon::MaxStopTime(Duration shutdown_grace) {
  return shutdown_grace + kCancelDrain + kHelperStop;
}

std::shared_ptr<const std::atomic<int64_t>> Daemon::shutdown_grace_ms() const {
  return impl_->shutdown_grace_ms;
}

void Daemon::Reload() {
  impl_->reload_requested = true;  // no lock: see `stopping`
  impl_->cv.notify_all();
}

int Daemon::http_port() const { return impl_->http->port(); }

}  // namespace lakesync::runner
