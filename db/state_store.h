#pragma once

// What happened: the record of runs and replicated versions that the runner keeps, behind an
// interface so unit tests of the runner can use MemoryStateStore and production uses
// PgStateStore (PostgreSQL).
//
// Times are kept to the millisecond: every store truncates TimePoints to whole milliseconds
// since the Unix epoch, so what is read back equals what was written after that truncation.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/json_writer.h"
#include "common/status.h"

namespace lakesync::db {

enum class RunStatus { kRunning, kSucceeded, kFailed, kPartial, kTimedOut, kCancelled };
enum class Trigger { kSchedule, kRetry, kManual };

// "running", "succeeded", "failed", "partial", "timed_out", "cancelled": the names stored in
// the database and shown to users.
std::string_view RunStatusName(RunStatus status);
// InvalidArgument for any other text, listing the accepted names.
Result<RunStatus> ParseRunStatus(std::string_view name);

// "schedule", "retry", "manual".
std::string_view TriggerName(Trigger trigger);
Result<Trigger> ParseTrigger(std::string_view name);

struct RunStart {
  std::string job;
  std::string kind;  // "incremental", "snapshot", "consolidation"
  Trigger trigger = Trigger::kSchedule;
  int attempt = 1;  // 1 for the first try, 2 for the first retry, ...
  std::string runner_id;
  TimePoint started_at;

  friend bool operator==(const RunStart&, const RunStart&) = default;
};

struct TargetResult {
  std::string target;
  std::optional<int64_t> start_version, end_version;
  int64_t commits = 0, files = 0, bytes = 0, rows = 0;
  RunStatus status = RunStatus::kSucceeded;
  std::string error;

  friend bool operator==(const TargetResult&, const TargetResult&) = default;
};

// The fields of `t` as keys of the JSON object `w` is writing (FinishRun's one-statement
// insert and `status --json` share this shape).
void WriteTargetResultFields(JsonWriter& w, const TargetResult& t);

struct RunFinish {
  RunStatus status = RunStatus::kSucceeded;  // anything but kRunning
  TimePoint finished_at;
  std::optional<int64_t> source_version, target_version;
  int64_t commits = 0, files = 0, bytes = 0, rows = 0;
  std::string error;
  std::vector<TargetResult> targets;  // target names unique; kept in this order
};

struct RunRecord {
  int64_t id = 0;
  RunStart start;
  std::optional<TimePoint> heartbeat_at;
  std::optional<TimePoint> finished_at;
  RunStatus status = RunStatus::kRunning;
  std::optional<int64_t> source_version, target_version;
  int64_t commits = 0, files = 0, bytes = 0, rows = 0;
  std::string error;
  std::vector<TargetResult> targets;  // empty while running; FinishRun's order afterwards

  friend bool operator==(const RunRecord&, const RunRecord&) = default;
};

struct TargetVersion {
  std::string job;
  std::string target;
  int64_t replicated_version = 0;
  std::optional<int64_t> source_version;
  TimePoint updated_at;
  std::optional<int64_t> run_id;

  friend bool operator==(const TargetVersion&, const TargetVersion&) = default;
};

// A snapshot of a snapshot job, as recorded in the `snapshots` table. The snapshot's manifest
// in the target storage is the truth (jobs/snapshot.h); this record mirrors it for SQL users.
enum class SnapshotRecordStatus { kWriting, kComplete, kDeleting, kDeleted };
// "writing", "complete", "deleting", "deleted".
std::string_view SnapshotRecordStatusName(SnapshotRecordStatus status);
Result<SnapshotRecordStatus> ParseSnapshotRecordStatus(std::string_view name);

struct SnapshotRecord {
  std::string job;
  std::string snapshot_id;
  std::string target;
  int64_t source_version = 0;
  std::optional<TimePoint> commit_timestamp;
  int64_t files = 0, bytes = 0, rows = 0;
  SnapshotRecordStatus status = SnapshotRecordStatus::kComplete;
  TimePoint created_at;
  std::optional<TimePoint> deleted_at;

  friend bool operator==(const SnapshotRecord&, const SnapshotRecord&) = default;
};

// The runner's record of jobs, runs and replicated versions.
//
// Errors common to every method: Unavailable (retryable) when the store cannot be reached;
// InvalidArgument for arguments that break the documented contract (empty job name, attempt
// < 1, finishing with status kRunning, duplicate target names, limit < 1).
//
// Thread-safety: implementations are safe to call from several threads.
class StateStore {
 public:
  virtual ~StateStore() = default;

  // Records the configured jobs: inserts new names, updates the kind and last-seen time of
  // known ones. Jobs missing from the list are kept (their history stays readable).
  [[nodiscard]] virtual Status SyncJobs(
      const std::vector<std::pair<std::string, std::string>>& name_and_kind) = 0;

  // Inserts a run with status kRunning and returns its id (ids grow with every call).
  [[nodiscard]] virtual Result<int64_t> StartRun(const RunStart& start) = 0;

  // Records that a running run is alive at `now`. NotFound if there is no such run; Conflict if
  // it has already finished.
  [[nodiscard]] virtual Status HeartbeatRun(int64_t run_id, TimePoint now) = 0;

  // Atomically records the outcome of a run and its per-target results. NotFound if there is
  // no such run; Conflict if it has already finished (the first outcome stays).
  [[nodiscard]] virtual Status FinishRun(int64_t run_id, const RunFinish& finish) = 0;

  // The newest run of `job` (latest started_at, then highest id), or nullopt if it never ran.
  [[nodiscard]] virtual Result<std::optional<RunRecord>> LastRun(std::string_view job) = 0;

  // When the newest successful run of `job` finished (however many runs failed since), or
  // nullopt if none ever succeeded.
  [[nodiscard]] virtual Result<std::optional<TimePoint>> LastSuccessAt(std::string_view job) = 0;

  // Up to `limit` runs of `job`, newest first (same order as LastRun).
  [[nodiscard]] virtual Result<std::vector<RunRecord>> ListRuns(std::string_view job,
                                                                int limit) = 0;

  // Inserts or replaces the row for (job, target).
  [[nodiscard]] virtual Status SetTargetVersion(const TargetVersion& version) = 0;

  // SetTargetVersion of each of `versions`, in order, then FinishRun: the end of a run. Stops at
  // the first error. The default makes the calls one by one; a store may save round trips.
  [[nodiscard]] virtual Status FinishRunWithVersions(int64_t run_id,
                                                     const std::vector<TargetVersion>& versions,
                                                     const RunFinish& finish) {
    for (const auto& v : versions) {
      if (Status s = SetTargetVersion(v); !s.ok()) return s;
    }
    return FinishRun(run_id, finish);
  }

  // Every target of `job`, ordered by target name.
  [[nodiscard]] virtual Result<std::vector<TargetVersion>> TargetVersions(std::string_view job) = 0;

  // The job's run lock: at most one process runs a job at a time. True when this store's
  // session took it, false when another session holds it. The lock dies with the session (a
  // killed process releases it), so a holder may treat any `running` run of the job as
  // abandoned.
  [[nodiscard]] virtual Result<bool> TryLockJob(std::string_view job) = 0;
  [[nodiscard]] virtual Status UnlockJob(std::string_view job) = 0;
  // Marks every `running` run of `job` failed with `error`, finished at `now`; returns how
  // many. REQUIRES: the caller holds the job's lock (so no live process owns those runs).
  [[nodiscard]] virtual Result<int> AbandonRuns(std::string_view job, std::string_view error,
                                                TimePoint now) = 0;

  // Inserts or replaces the record of (job, snapshot_id).
  [[nodiscard]] virtual Status UpsertSnapshot(const SnapshotRecord& snapshot) = 0;
  // Marks (job, snapshot_id) deleted at `at` (status kDeleted, deleted_at). Unknown ids are
  // not an error (the snapshot may predate the database). Returns whether a record changed.
  [[nodiscard]] virtual Result<bool> MarkSnapshotDeleted(std::string_view job,
                                                         std::string_view snapshot_id,
                                                         TimePoint at) = 0;
  // Every recorded snapshot of `job` (deleted ones included), newest first (created_at, then
  // snapshot_id descending).
  [[nodiscard]] virtual Result<std::vector<SnapshotRecord>> Snapshots(std::string_view job) = 0;
};

// The argument checks every StateStore applies, shared so the fake and PostgreSQL agree.
[[nodiscard]] Status ValidateRunStart(const RunStart& start);
[[nodiscard]] Status ValidateRunFinish(int64_t run_id, const RunFinish& finish);
[[nodiscard]] Status ValidateTargetVersion(const TargetVersion& version);
[[nodiscard]] Status ValidateSnapshotRecord(const SnapshotRecord& snapshot);

// Truncates to whole milliseconds, the precision every store keeps.
inline TimePoint TruncateToMillis(TimePoint t) { return FromUnixMillis(ToUnixMillis(t)); }

}  // namespace lakesync::db
