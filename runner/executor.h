#pragma once

// Runs one job of any kind and records it: StartRun, the kind's run (runner/job_kinds.h), the
// failpoint `runner.before_record`, the target versions and FinishRun. Used by `lakesync run`
// and by the daemon; the caller holds the job's lock or lease.
//
// Fencing: observer.BeforePublish(kRecordTarget, -1) is called right before the outcome is
// recorded; a non-OK answer (the lease was lost) skips the record and returns that status
// (the run stays `running` until the next holder abandons it).
//
// Errors: the state store failing (Unavailable), or the fencing refusal. A failed job is an OK
// Result whose finish.status is not kSucceeded.

#include <cstdint>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "db/state_store.h"
#include "jobs/run_observer.h"
#include "runner/config.h"
#include "runner/job_kinds.h"

namespace lakesync::runner {

// The target name BeforePublish receives before the final record.
inline constexpr std::string_view kRecordTarget = "<record>";

struct ExecuteResult {
  int64_t run_id = 0;
  JobOutcome outcome;  // outcome.finish.finished_at is set
};

Result<ExecuteResult> ExecuteJob(const Config& config, const JobConfig& job,
                                 const ExecuteOptions& options, db::StateStore& store,
                                 jobs::RunObserver& observer);

// ExecuteJob's three steps, for a caller that runs the job while the state store's part is
// still under way (`lakesync run`: runner/cmd_run.cc). ExecuteJob is
// RecordJobRun(StartJobRun(), RunJobKind()).
//
// StartJobRun: StartRun(MakeRunStart()), then RunStarted: options.on_started, a log line and,
// for an incremental job, the comparison of the recorded target versions with the targets'
// logs (ReconcileIncrementalTargets).
Result<int64_t> StartJobRun(const JobConfig& job, const ExecuteOptions& options,
                            db::StateStore& store);
db::RunStart MakeRunStart(const JobConfig& job, const ExecuteOptions& options);
void RunStarted(const JobConfig& job, const ExecuteOptions& options, int64_t run_id,
                const Result<std::vector<db::TargetVersion>>& recorded);
// The kind's run (runner/job_kinds.h). An incremental job does not use `store`.
Result<JobOutcome> RunJobKind(const Config& config, const JobConfig& job,
                              const ExecuteOptions& options, db::StateStore& store,
                              jobs::RunObserver& observer);
// Turns a job error into a failed outcome, then the failpoint, the fencing check and the
// records, as above.
Result<ExecuteResult> RecordJobRun(const JobConfig& job, const ExecuteOptions& options,
                                   db::StateStore& store, jobs::RunObserver& observer,
                                   int64_t run_id, Result<JobOutcome> outcome);

// The kind's lag probe (runner/job_kinds.h).
std::vector<TargetLag> ProbeJobLag(const JobConfig& job, TimePoint now);

// hostname-pid: the runner id when the configuration names none.
std::string DefaultRunnerId();

}  // namespace lakesync::runner
