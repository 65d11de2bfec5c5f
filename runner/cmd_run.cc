#include <spdlog/spdlog.h>
#include <unistd.h>

#include <ostream>

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
  const JobConfig* job = config->FindJob(o.job);
  if (job == nullptr) {
    err << "lakesync: no job named \"" << o.job << "\" in " << g.config_path
        << "; `lakesync status` lists the configured jobs\n";
    return kExitUsage;
  }
  auto store = OpenStateStore(&*config);
  if (!store.ok()) {
    return ReportError(
        store.status(), err,
        store.status().code() == StatusCode::kInvalidArgument ? kExitUsage : kExitStateStore);
  }
  std::vector<std::pair<std::string, std::string>> names;
  for (const auto& j : config->jobs) names.emplace_back(j.name, std::string(JobKindName(j.kind)));
  if (Status s = (*store)->SyncJobs(names); !s.ok()) return ReportError(s, err, kExitStateStore);

  // At most one process runs a job at a time. The lock dies with its holder, so a `running`
  // record found while holding it belongs to a process that was killed before recording.
  auto locked = (*store)->TryLockJob(job->name);
  if (!locked.ok()) return ReportError(locked.status(), err, kExitStateStore);
  if (!*locked) {
    err << "lakesync: job " << job->name
        << " is running in another process right now; wait for it to finish (see `lakesync "
           "status`)\n";
    return kExitJobFailed;
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
