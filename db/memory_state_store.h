#pragma once

// An in-memory StateStore for unit tests of the runner. Same contract as PgStateStore
// (including millisecond truncation of times and the NotFound/Conflict rules of FinishRun),
// nothing persists.
//
// Thread-safety: every method takes one internal mutex; safe from any number of threads.

#include <map>
#include <mutex>
#include <set>

#include "db/state_store.h"

namespace lakesync::db {

class MemoryStateStore final : public StateStore {
 public:
  MemoryStateStore() = default;

  Status SyncJobs(const std::vector<std::pair<std::string, std::string>>& name_and_kind) override;
  Result<int64_t> StartRun(const RunStart& start) override;
  Status HeartbeatRun(int64_t run_id, TimePoint now) override;
  Status FinishRun(int64_t run_id, const RunFinish& finish) override;
  Result<std::optional<RunRecord>> LastRun(std::string_view job) override;
  Result<std::optional<TimePoint>> LastSuccessAt(std::string_view job) override;
  Result<std::vector<RunRecord>> ListRuns(std::string_view job, int limit) override;
  Status SetTargetVersion(const TargetVersion& version) override;
  Result<std::vector<TargetVersion>> TargetVersions(std::string_view job) override;
  Result<bool> TryLockJob(std::string_view job) override;
  Status UnlockJob(std::string_view job) override;
  Result<int> AbandonRuns(std::string_view job, std::string_view error, TimePoint now) override;
  Status UpsertSnapshot(const SnapshotRecord& snapshot) override;
  Result<bool> MarkSnapshotDeleted(std::string_view job, std::string_view snapshot_id,
                                   TimePoint at) override;
  Result<std::vector<SnapshotRecord>> Snapshots(std::string_view job) override;

  // The configured jobs as last synced: name → kind. For tests.
  std::map<std::string, std::string> Jobs() const;

 private:
  // REQUIRES: mu_ held. Runs of `job`, newest first.
  std::vector<RunRecord> RunsOfLocked(std::string_view job, size_t limit) const;

  mutable std::mutex mu_;
  std::map<std::string, std::string, std::less<>> jobs_;
  std::map<int64_t, RunRecord> runs_;
  std::set<std::string, std::less<>> locked_jobs_;
  int64_t next_run_id_ = 1;
  std::map<std::pair<std::string, std::string>, TargetVersion> target_versions_;
  std::map<std::pair<std::string, std::string>, SnapshotRecord> snapshots_;
};

}  // namespace lakesync::db
