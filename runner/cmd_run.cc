#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <ostream>
#include <thread>

#include "db/coordination.h"
#include "runner/command_util.h"
#include "runner/commands.h"
#include "runner/executor.h"
#include "runner/exit_codes.h"
#include "runner/progress.h"
#include "runner/state_connection.h"

namespace lakesync::runner {

int CmdRun(const GlobalOptions& g, const RunOptions& o, std::ostream& out, std::ostream& err) {
  Result<Config> config = LoadGlobalConfig(g);
  if (!config.ok()) return ReportError(config.status(), err, kExitUsage);
  auto found = FindConfiguredJob(*config, g, o.job);
  if (!found.ok()) return ReportError(found.status(), err, kExitUsage);
  const JobConfig* job = *found;
  auto store = OpenStateStore(&*config);
  if (!store.ok()) {
    return ReportStoreOpenError(store.status(), err);
  }
  std::vector<std::pair<std::string, std::string>> names;
  for (const auto& j : config->jobs) names.emplace_back(j.name, std::string(JobKindName(j.kind)));
  if (Status s = (*store)->SyncJobs(names); !s.ok()) return ReportError(s, err, kExitStateStore);

  // At most one process runs a job at a time: `lakesync run` holds the job's session lock
  // (it dies with its holder, so a `running` record found while holding it belongs to a
  // process that was killed before recording), and a daemon holds the job's lease while it
  // runs it. A daemon checks the lock after taking the lease; we check the lease after
  // taking the lock, so the two never run the job together.
  // One connection per process: the lease reads go over the store's own connection.
  std::unique_ptr<db::Coordination> coord = (*store)->BorrowCoordination();
  bool said_waiting = false;
  for (;;) {
    auto locked = (*store)->TryLockJob(job->name);
    if (!locked.ok()) return ReportError(locked.status(), err, kExitStateStore);
    std::string busy;
    if (!*locked) {
      busy = "is running in another process right now";
    } else {
      auto lease = coord->GetLease(job->name);
      if (!lease.ok()) return ReportError(lease.status(), err, kExitStateStore);
      if (lease->has_value() && (*lease)->live) {
        busy = "is being run by daemon " + (*lease)->holder + " right now";
        if (Status s = (*store)->UnlockJob(job->name); !s.ok()) {
          return ReportError(s, err, kExitStateStore);
        }
      }
    }
    if (busy.empty()) break;
    if (!o.wait) {
      err << "lakesync: job " << job->name << " " << busy
          << "; wait for it to finish (`lakesync run --wait " << job->name
          << "` waits, then runs; see `lakesync status`)\n";
      return kExitJobFailed;
    }
    if (!said_waiting) {
      err << "lakesync: job " << job->name << " " << busy << "; waiting for it to finish\n";
      said_waiting = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  auto abandoned = (*store)->AbandonRuns(
      job->name,
      "abandoned: the process running it stopped before recording a result (killed or "
      "crashed); the next run resumed from the targets' logs",
      SystemClock::Instance().Now());
  if (!abandoned.ok()) return ReportError(abandoned.status(), err, kExitStateStore);
  if (*abandoned > 0) {
    spdlog::warn("{}: marked {} run(s) left `running` by a process that died as failed", job->name,
                 *abandoned);
  }

  ExecuteOptions options;
  options.trigger = db::Trigger::kManual;
  options.attempt = 1;
  options.runner_id = config->runner.runner_id;
  options.to_version = o.to_version;

  ProgressObserver progress(job->name, isatty(STDERR_FILENO) == 1);
  auto result = ExecuteJob(*config, *job, options, **store, progress);
  progress.Finish();
  if (!result.ok()) return ReportError(result.status(), err, kExitStateStore);
  for (const auto& line : result->outcome.report) out << line << "\n";
  for (const auto& line : result->outcome.errors) err << line << "\n";
  return result->outcome.finish.status == db::RunStatus::kSucceeded ? kExitOk : kExitJobFailed;
}

}  // namespace lakesync::runner
