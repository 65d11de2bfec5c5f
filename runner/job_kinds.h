#pragma once

// The per-kind halves of running a job and probing its lag. runner/executor.cc dispatches to
// these by JobConfig::kind; each kind lives in its own file (kind_incremental.cc,
// kind_snapshot.cc, kind_consolidation.cc) so the kinds evolve independently.
//
// A kind function never touches the runs table: the executor starts the run before calling it
// and records the returned outcome (db::RunFinish) and target versions afterwards. A kind may
// use the state store for its own records (for example snapshots).

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "db/state_store.h"
#include "jobs/run_observer.h"
#include "runner/config.h"

namespace lakesync::runner {

// What the caller asked for, beyond the job's configuration.
struct ExecuteOptions {
  db::Trigger trigger = db::Trigger::kManual;
  int attempt = 1;
  std::string runner_id;              // recorded with the run
  std::optional<int64_t> to_version;  // incremental: replicate up to this source version
  const Clock* clock = &SystemClock::Instance();
  // Set by the daemon: true when the run was stopped because its `timeout` passed. A run that
  // did not succeed while this is true is recorded as kTimedOut.
  std::function<bool()> timed_out;
  // Called right after StartRun with the new run's id (from the calling thread).
  std::function<void(int64_t run_id)> on_started;
};

// What one run of a job did.
struct JobOutcome {
  // status, source_version, target_version, counters, error and per-target (per-region)
  // results. finished_at is set by the executor.
  db::RunFinish finish;
  // Rows for target_versions (what each target / region has reached). run_id, updated_at and
  // job are filled in by the executor.
  std::vector<db::TargetVersion> versions;
  // Human-readable summary for `lakesync run`: one line each, without a trailing newline.
  std::vector<std::string> report;  // stdout
  std::vector<std::string> errors;  // stderr (already prefixed "lakesync: ")
};

// Lag of one target (incremental, snapshot) or one region (consolidation).
struct TargetLag {
  std::string target;  // as written in the configuration (a region name for consolidation)
  std::optional<int64_t> source_version;      // the source's head
  std::optional<int64_t> replicated_version;  // from the target's own log (the truth)
  int64_t lag_versions = 0;
  double lag_seconds = 0;  // age of the oldest unreplicated source commit; 0 when caught up
  std::string error;       // the table could not be read (then the versions may be unset)
  // Snapshot jobs: how many complete snapshots the target holds (replicated_version is then
  // the newest snapshot's source version).
  std::optional<int64_t> snapshots;
};

// Each kind's run. REQUIRES: job.kind matches. Never returns a run-level failure as an error:
// failures go into outcome.finish (status kFailed / kPartial + error); the Result is an error
// only when something outside the job failed (the state store). Observer: progress callbacks,
// CheckContinue at safe points, BeforePublish before every commit publish.
Result<JobOutcome> RunIncrementalJob(const Config& config, const JobConfig& job,
                                     const ExecuteOptions& options, jobs::RunObserver& observer);
Result<JobOutcome> RunSnapshotJob(const Config& config, const JobConfig& job,
                                  const ExecuteOptions& options, db::StateStore& store,
                                  jobs::RunObserver& observer);
Result<JobOutcome> RunConsolidationJob(const Config& config, const JobConfig& job,
                                       const ExecuteOptions& options, db::StateStore& store,
                                       jobs::RunObserver& observer);

// R6 for an incremental job, before its run: logs a warning for each target whose version the
// state store records differently from the target's own log (the run goes by the log). Never
// fails: a store or target that cannot be read is left to the run to report.
// `recorded`: the state store's target versions of the job (db::StateStore::TargetVersions).
void ReconcileIncrementalTargets(const Result<std::vector<db::TargetVersion>>& recorded,
                                 const JobConfig& job);

// Each kind's cheap lag probe (log tails only; no full listing). One entry per target / region,
// in configuration order; a table that cannot be read is reported in its entry's `error`.
std::vector<TargetLag> ProbeIncrementalLag(const JobConfig& job, TimePoint now);
std::vector<TargetLag> ProbeSnapshotLag(const JobConfig& job, TimePoint now);
std::vector<TargetLag> ProbeConsolidationLag(const JobConfig& job, TimePoint now);

}  // namespace lakesync::runner
