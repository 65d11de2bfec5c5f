#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <future>
#include <ostream>
#include <sstream>
#include <thread>

#include "db/coordination.h"
#include "runner/command_util.h"
#include "runner/commands.h"
#include "runner/executor.h"
#include "runner/exit_codes.h"
#include "runner/progress.h"
#include "runner/state_connection.h"
#include "runner/tables.h"

namespace lakesync::runner {
namespace {

// ClaimJob's answer when the job is ours to run.
constexpr int kClaimed = -1;

// The state store's part of a run before the job starts, in two round trips
// (db::PgStateStore::ClaimRun): connects, records the job list, takes the job's lock, marks the
// runs a killed process left `running` as failed and, with `start`, starts the run. Returns
// kClaimed with `store` open and holding the lock and `claim` filled in, or else an exit code,
// having written why to `err`.
int ClaimJob(const Config& config, const JobConfig& job, bool wait, const db::RunStart* start,
             std::ostream& err, std::unique_ptr<db::PgStateStore>& store, db::RunClaim& claim) {
  auto opened = OpenStateStore(&config, /*require_schema=*/false);
  if (!opened.ok()) return ReportStoreOpenError(opened.status(), err);
  store = std::move(opened).value();
  std::vector<std::pair<std::string, std::string>> names;
  for (const auto& j : config.jobs) names.emplace_back(j.name, std::string(JobKindName(j.kind)));

  // At most one process runs a job at a time: `lakesync run` holds the job's session lock
  // (it dies with its holder, so a `running` record found while holding it belongs to a
  // process that was killed before recording), and a daemon holds the job's lease while it
  // runs it. A daemon checks the lock after taking the lease; we check the lease after
  // taking the lock, so the two never run the job together.
  bool said_waiting = false;
  for (;;) {
    auto claimed = store->ClaimRun(
        names, job.name,
        "abandoned: the process running it stopped before recording a result (killed or "
        "crashed); the next run resumed from the targets' logs",
        SystemClock::Instance().Now(), start);
    if (!claimed.ok()) return ReportError(claimed.status(), err, kExitStateStore);
    if (!claimed->migrated) {
      return ReportStoreOpenError(NoSchemaError(*ResolveDatabaseUrl(&config)), err);
    }
    std::string busy;
    if (claimed->live_lease) {
      busy = "is being run by daemon " + claimed->live_lease->holder + " right now";
    } else if (!claimed->locked) {
      busy = "is running in another process right now";
    }
    if (busy.empty()) {
      claim = std::move(claimed).value();
      break;
    }
    if (!wait) {
      err << "lakesync: job " << job.name << " " << busy
          << "; wait for it to finish (`lakesync run --wait " << job.name
          << "` waits, then runs; see `lakesync status`)\n";
      return kExitJobFailed;
    }
    if (!said_waiting) {
      err << "lakesync: job " << job.name << " " << busy << "; waiting for it to finish\n";
      said_waiting = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  if (claim.abandoned > 0) {
    spdlog::warn("{}: marked {} run(s) left `running` by a process that died as failed", job.name,
                 claim.abandoned);
  }
  return kClaimed;
}

// How a fresh `lakesync run` of an incremental job hides the state store's latency: ClaimJob
// (which also starts the run) runs on a thread while the engine plans and copies data files.
// A data file is invisible until a commit names it, so only publishing needs the job's lock
// and the run's record: BeforePublish (before every commit and before the final record) waits
// for the thread. When the claim failed (the job is busy, the store cannot be reached), the
// engine stops at its next safe point (CheckContinue) and nothing is published; files it copied
// stay unreferenced until a run publishes the commits that name them (it keeps them).
// Every publish also checks that the session holding the job's lock is still connected (a lost
// connection took the lock with it; a daemon may be running the job now), in every kind of run.
class ClaimGate final : public jobs::RunObserver {
 public:
  // `store`: set by the claim before `claimed` is true.
  ClaimGate(jobs::RunObserver& inner, std::shared_future<bool> claimed,
            const std::unique_ptr<db::PgStateStore>& store)
      : inner_(inner), claimed_(std::move(claimed)), store_(store) {}

  void OnTargetPlanned(const std::string& target, int64_t from_version, int64_t to_version,
                       int64_t files, int64_t bytes) override {
    inner_.OnTargetPlanned(target, from_version, to_version, files, bytes);
  }
  void OnFileCopied(const std::string& target, const std::string& path, int64_t bytes) override {
    inner_.OnFileCopied(target, path, bytes);
  }
  void OnCommitPublished(const std::string& target, int64_t version) override {
    inner_.OnCommitPublished(target, version);
  }
  Status CheckContinue() override {
    if (claimed_.wait_for(std::chrono::seconds(0)) == std::future_status::ready &&
        !claimed_.get()) {
      return NotClaimed();
    }
    return inner_.CheckContinue();
  }
  Status BeforePublish(const std::string& target, int64_t version) override {
    if (!claimed_.get()) return NotClaimed();
    // The job's lock lives in the store's session: a lost connection means a lost lock.
    LAKESYNC_RETURN_IF_ERROR(store_->SessionAlive());
    return inner_.BeforePublish(target, version);
  }

 private:
  static Status NotClaimed() {
    return Status::Cancelled("the run could not start; nothing was published");
  }

  jobs::RunObserver& inner_;
  std::shared_future<bool> claimed_;
  const std::unique_ptr<db::PgStateStore>& store_;
};

int Finish(const Result<ExecuteResult>& result, std::ostream& out, std::ostream& err) {
  if (!result.ok()) return ReportError(result.status(), err, kExitStateStore);
  for (const auto& line : result->outcome.report) out << line << "\n";
  for (const auto& line : result->outcome.errors) err << line << "\n";
  return result->outcome.finish.status == db::RunStatus::kSucceeded ? kExitOk : kExitJobFailed;
}

}  // namespace

int CmdRun(const GlobalOptions& g, const RunOptions& o, std::ostream& out, std::ostream& err) {
  Result<Config> config = LoadGlobalConfig(g);
  if (!config.ok()) return ReportError(config.status(), err, kExitUsage);
  auto found = FindConfiguredJob(*config, g, o.job);
  if (!found.ok()) return ReportError(found.status(), err, kExitUsage);
  const JobConfig* job = *found;
  if (o.to_version && job->kind != JobKind::kIncremental) {
    return ReportError(
        Status::InvalidArgument(
            fmt::format("--to-version bounds incremental jobs only; {} is a {} job (run it without "
                        "--to-version)",
                        job->name, JobKindName(job->kind))),
        err, kExitUsage);
  }
  // No state store configured: say so before anything runs.
  if (auto url = ResolveDatabaseUrl(&*config); !url.ok()) {
    return ReportStoreOpenError(url.status(), err);
  }

  ExecuteOptions options;
  options.trigger = db::Trigger::kManual;
  options.attempt = 1;
  options.runner_id = config->runner.runner_id;
  options.to_version = o.to_version;
  ProgressObserver progress(job->name, isatty(STDERR_FILENO) == 1);

  // Snapshot and consolidation jobs use the state store while they run, and a run that waits
  // for the job's lock must plan after the run it waited for: those claim first.
  if (job->kind != JobKind::kIncremental || o.wait) {
    std::unique_ptr<db::PgStateStore> store;
    db::RunClaim claim;
    if (int rc = ClaimJob(*config, *job, o.wait, /*start=*/nullptr, err, store, claim);
        rc != kClaimed) {
      return rc;
    }
    std::promise<bool> claimed;
    claimed.set_value(true);
    ClaimGate gate(progress, claimed.get_future().share(), store);
    auto result = ExecuteJob(*config, *job, options, *store, gate);
    progress.Finish();
    // After the run (a walk of the targets must not delay its publishing).
    if (claim.abandoned > 0) RemoveAbandonedCopies(*job);
    return Finish(result, out, err);
  }

  std::ostringstream claim_err;
  std::unique_ptr<db::PgStateStore> store;
  int claim = kClaimed;
  int64_t run_id = 0;
  int abandoned = 0;
  std::promise<bool> claimed;
  ClaimGate gate(progress, claimed.get_future().share(), store);
  std::thread claimer([&] {
    const db::RunStart start = MakeRunStart(*job, options);
    db::RunClaim got;
    claim = ClaimJob(*config, *job, /*wait=*/false, &start, claim_err, store, got);
    if (claim == kClaimed) {
      run_id = got.run_id;
      abandoned = got.abandoned;
      RunStarted(*job, options, run_id, got.recorded);
    }
    claimed.set_value(claim == kClaimed);
  });
  Result<JobOutcome> outcome = RunIncrementalJob(*config, *job, options, gate);
  claimer.join();
  if (claim != kClaimed) {
    progress.Finish();
    err << claim_err.str();
    return claim;
  }
  auto result = RecordJobRun(*job, options, *store, gate, run_id, std::move(outcome));
  progress.Finish();
  if (abandoned > 0) RemoveAbandonedCopies(*job);
  return Finish(result, out, err);
}

}  // namespace lakesync::runner
