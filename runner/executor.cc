#include "runner/executor.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdio>

#include "common/failpoint.h"

namespace lakesync::runner {

std::string DefaultRunnerId() {
  char host[256] = {0};
  if (gethostname(host, sizeof(host) - 1) != 0) std::snprintf(host, sizeof(host), "unknown");
  return std::string(host) + "-" + std::to_string(getpid());
}

db::RunStart MakeRunStart(const JobConfig& job, const ExecuteOptions& options) {
  db::RunStart start;
  start.job = job.name;
  start.kind = std::string(JobKindName(job.kind));
  start.trigger = options.trigger;
  start.attempt = options.attempt;
  start.runner_id = options.runner_id.empty() ? DefaultRunnerId() : options.runner_id;
  start.started_at = options.clock->Now();
  return start;
}

void RunStarted(const JobConfig& job, const ExecuteOptions& options, int64_t run_id,
                const Result<std::vector<db::TargetVersion>>& recorded) {
  if (options.on_started) options.on_started(run_id);
  spdlog::info("{}: run {} started ({} job, trigger {}, attempt {})", job.name, run_id,
               JobKindName(job.kind), db::TriggerName(options.trigger), options.attempt);
  if (job.kind == JobKind::kIncremental) ReconcileIncrementalTargets(recorded, job);
}

Result<int64_t> StartJobRun(const JobConfig& job, const ExecuteOptions& options,
                            db::StateStore& store) {
  LAKESYNC_ASSIGN_OR_RETURN(int64_t run_id, store.StartRun(MakeRunStart(job, options)));
  Result<std::vector<db::TargetVersion>> recorded = std::vector<db::TargetVersion>();
  if (job.kind == JobKind::kIncremental) recorded = store.TargetVersions(job.name);
  RunStarted(job, options, run_id, recorded);
  return run_id;
}

Result<JobOutcome> RunJobKind(const Config& config, const JobConfig& job,
                              const ExecuteOptions& options, db::StateStore& store,
                              jobs::RunObserver& observer) {
  Result<JobOutcome> outcome = Status::Internal("unknown job kind");
  switch (job.kind) {
    case JobKind::kIncremental:
      outcome = RunIncrementalJob(config, job, options, observer);
      break;
    case JobKind::kSnapshot:
      outcome = RunSnapshotJob(config, job, options, store, observer);
      break;
    case JobKind::kConsolidation:
      outcome = RunConsolidationJob(config, job, options, store, observer);
      break;
  }
  return outcome;
}

Result<ExecuteResult> RecordJobRun(const JobConfig& job, const ExecuteOptions& options,
                                   db::StateStore& store, jobs::RunObserver& observer,
                                   int64_t run_id, Result<JobOutcome> outcome) {
  if (!outcome.ok() && outcome.status().code() != StatusCode::kUnavailable) {
    // Not the state store: a failure of the job itself, recorded as such.
    JobOutcome failed;
    failed.finish.status = db::RunStatus::kFailed;
    failed.finish.error = outcome.status().message();
    failed.errors.push_back("lakesync: " + job.name + " failed: " + failed.finish.error);
    outcome = std::move(failed);
  }
  LAKESYNC_RETURN_IF_ERROR(outcome.status());
  ExecuteResult result;
  result.run_id = run_id;
  result.outcome = std::move(outcome).value();

  LAKESYNC_FAILPOINT("runner.before_record");
  // Fencing: a runner that lost its lease records nothing (the new holder abandons the run).
  LAKESYNC_RETURN_IF_ERROR(observer.BeforePublish(std::string(kRecordTarget), -1));

  db::RunFinish& finish = result.outcome.finish;
  if (options.timed_out && options.timed_out() && finish.status != db::RunStatus::kSucceeded) {
    finish.status = db::RunStatus::kTimedOut;
    if (finish.error.empty()) finish.error = "timed out";
  }
  finish.finished_at = options.clock->Now();
  for (auto& v : result.outcome.versions) {
    v.job = job.name;
    v.updated_at = finish.finished_at;
    v.run_id = result.run_id;
  }
  LAKESYNC_RETURN_IF_ERROR(
      store.FinishRunWithVersions(result.run_id, result.outcome.versions, finish));
  spdlog::info("{}: run {} {}: {} commits, {} files, {} bytes{}{}", job.name, result.run_id,
               db::RunStatusName(finish.status), finish.commits, finish.files, finish.bytes,
               finish.error.empty() ? "" : ": ", finish.error);
  return result;
}

Result<ExecuteResult> ExecuteJob(const Config& config, const JobConfig& job,
                                 const ExecuteOptions& options, db::StateStore& store,
                                 jobs::RunObserver& observer) {
  LAKESYNC_ASSIGN_OR_RETURN(int64_t run_id, StartJobRun(job, options, store));
  return RecordJobRun(job, options, store, observer, run_id,
                      RunJobKind(config, job, options, store, observer));
}

std::vector<TargetLag> ProbeJobLag(const JobConfig& job, TimePoint now) {
  switch (job.kind) {
    case JobKind::kIncremental:
      return ProbeIncrementalLag(job, now);
    case JobKind::kSnapshot:
      return ProbeSnapshotLag(job, now);
    case JobKind::kConsolidation:
      return ProbeConsolidationLag(job, now);
  }
  return {};
}

}  // namespace lakesync::runner
