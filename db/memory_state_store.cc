#include "db/memory_state_store.h"

#include <algorithm>

#include <fmt/format.h>

namespace lakesync::db {

Status MemoryStateStore::SyncJobs(
    const std::vector<std::pair<std::string, std::string>>& name_and_kind) {
  for (const auto& [name, kind] : name_and_kind) {
    if (name.empty()) {
      return Status::InvalidArgument("cannot record a job without a name; name every job");
    }
  }
  std::lock_guard lock(mu_);
  for (const auto& [name, kind] : name_and_kind) jobs_[name] = kind;
  return Status::OK();
}

Result<int64_t> MemoryStateStore::StartRun(const RunStart& start) {
  LAKESYNC_RETURN_IF_ERROR(ValidateRunStart(start));
  std::lock_guard lock(mu_);
  RunRecord record;
  record.id = next_run_id_++;
  record.start = start;
  record.start.started_at = TruncateToMillis(start.started_at);
  record.status = RunStatus::kRunning;
  runs_.emplace(record.id, std::move(record));
  return next_run_id_ - 1;
}

Status MemoryStateStore::HeartbeatRun(int64_t run_id, TimePoint now) {
  std::lock_guard lock(mu_);
  auto it = runs_.find(run_id);
  if (it == runs_.end()) {
    return Status::NotFound(fmt::format("run {} does not exist; pass an id from StartRun", run_id));
  }
  if (it->second.status != RunStatus::kRunning) {
    return Status::Conflict(fmt::format("run {} already finished with status {}", run_id,
                                        RunStatusName(it->second.status)));
  }
  it->second.heartbeat_at = TruncateToMillis(now);
  return Status::OK();
}

Status MemoryStateStore::FinishRun(int64_t run_id, const RunFinish& finish) {
  LAKESYNC_RETURN_IF_ERROR(ValidateRunFinish(run_id, finish));
  std::lock_guard lock(mu_);
  auto it = runs_.find(run_id);
  if (it == runs_.end()) {
    return Status::NotFound(fmt::format("run {} does not exist; pass an id from StartRun", run_id));
  }
  RunRecord& run = it->second;
  if (run.status != RunStatus::kRunning) {
    return Status::Conflict(
        fmt::format("run {} already finished with status {}", run_id, RunStatusName(run.status)));
  }
  run.status = finish.status;
  run.finished_at = TruncateToMillis(finish.finished_at);
  run.source_version = finish.source_version;
  run.target_version = finish.target_version;
  run.commits = finish.commits;
  run.files = finish.files;
  run.bytes = finish.bytes;
  run.rows = finish.rows;
  run.error = finish.error;
  run.targets = finish.targets;
  return Status::OK();
}

std::vector<RunRecord> MemoryStateStore::RunsOfLocked(std::string_view job, size_t limit) const {
  std::vector<RunRecord> out;
  for (const auto& [id, run] : runs_) {
    if (run.start.job == job) out.push_back(run);
  }
  // Same order as the PostgreSQL query: started_at DESC, id DESC.
  std::sort(out.begin(), out.end(), [](const RunRecord& a, const RunRecord& b) {
    if (a.start.started_at != b.start.started_at) return a.start.started_at > b.start.started_at;
    return a.id > b.id;
  });
  if (out.size() > limit) out.resize(limit);
  return out;
}

Result<std::optional<RunRecord>> MemoryStateStore::LastRun(std::string_view job) {
  std::lock_guard lock(mu_);
  std::vector<RunRecord> runs = RunsOfLocked(job, 1);
  if (runs.empty()) return std::optional<RunRecord>();
  return std::optional<RunRecord>(std::move(runs.front()));
}

Result<std::optional<TimePoint>> MemoryStateStore::LastSuccessAt(std::string_view job) {
  std::lock_guard lock(mu_);
  std::optional<TimePoint> out;
  for (const auto& [id, run] : runs_) {
    if (run.start.job != job || run.status != RunStatus::kSucceeded || !run.finished_at) continue;
    if (!out || *run.finished_at > *out) out = run.finished_at;
  }
  return out;
}

Result<std::vector<RunRecord>> MemoryStateStore::ListRuns(std::string_view job, int limit) {
  if (limit < 1) {
    return Status::InvalidArgument(
        fmt::format("cannot list {} runs of job {}; pass a limit of at least 1", limit, job));
  }
  std::lock_guard lock(mu_);
  return RunsOfLocked(job, static_cast<size_t>(limit));
}

Status MemoryStateStore::SetTargetVersion(const TargetVersion& version) {
  LAKESYNC_RETURN_IF_ERROR(ValidateTargetVersion(version));
  std::lock_guard lock(mu_);
  TargetVersion stored = version;
  stored.updated_at = TruncateToMillis(version.updated_at);
  target_versions_[{version.job, version.target}] = std::move(stored);
  return Status::OK();
}

Result<std::vector<TargetVersion>> MemoryStateStore::TargetVersions(std::string_view job) {
  std::lock_guard lock(mu_);
  std::vector<TargetVersion> out;
  // The map is ordered by (job, target), so the targets of one job come out sorted by name.
  for (const auto& [key, version] : target_versions_) {
    if (key.first == job) out.push_back(version);
  }
  return out;
}

std::map<std::string, std::string> MemoryStateStore::Jobs() const {
  std::lock_guard lock(mu_);
  return {jobs_.begin(), jobs_.end()};
}

Result<bool> MemoryStateStore::TryLockJob(std::string_view job) {
  // One MemoryStateStore models one session: taking a lock it already holds succeeds.
  std::lock_guard lock(mu_);
  locked_jobs_.emplace(job);
  return true;
}

Status MemoryStateStore::UnlockJob(std::string_view job) {
  std::lock_guard lock(mu_);
  auto it = locked_jobs_.find(job);
  if (it == locked_jobs_.end()) {
    return Status::NotFound(fmt::format("job {} is not locked by this store", job));
  }
  locked_jobs_.erase(it);
  return Status::OK();
}

Result<int> MemoryStateStore::AbandonRuns(std::string_view job, std::string_view error,
                                          TimePoint now) {
  std::lock_guard lock(mu_);
  int n = 0;
  for (auto& [id, run] : runs_) {
    if (run.start.job == job && run.status == RunStatus::kRunning) {
      run.status = RunStatus::kFailed;
      run.error = std::string(error);
      run.finished_at = TruncateToMillis(now);
      ++n;
    }
  }
  return n;
}

Status MemoryStateStore::UpsertSnapshot(const SnapshotRecord& snapshot) {
  LAKESYNC_RETURN_IF_ERROR(ValidateSnapshotRecord(snapshot));
  SnapshotRecord r = snapshot;
  if (r.commit_timestamp) r.commit_timestamp = TruncateToMillis(*r.commit_timestamp);
  r.created_at = TruncateToMillis(r.created_at);
  if (r.deleted_at) r.deleted_at = TruncateToMillis(*r.deleted_at);
  std::lock_guard lock(mu_);
  snapshots_[{r.job, r.snapshot_id}] = std::move(r);
  return Status::OK();
}

Result<bool> MemoryStateStore::MarkSnapshotDeleted(std::string_view job,
                                                   std::string_view snapshot_id, TimePoint at) {
  std::lock_guard lock(mu_);
  auto it = snapshots_.find({std::string(job), std::string(snapshot_id)});
  if (it == snapshots_.end()) return false;
  it->second.status = SnapshotRecordStatus::kDeleted;
  it->second.deleted_at = TruncateToMillis(at);
  return true;
}

Result<std::vector<SnapshotRecord>> MemoryStateStore::Snapshots(std::string_view job) {
  std::lock_guard lock(mu_);
  std::vector<SnapshotRecord> out;
  for (const auto& [key, r] : snapshots_) {
    if (key.first == job) out.push_back(r);
  }
  std::sort(out.begin(), out.end(), [](const SnapshotRecord& a, const SnapshotRecord& b) {
    if (a.created_at != b.created_at) return a.created_at > b.created_at;
    return a.snapshot_id > b.snapshot_id;
  });
  return out;
}

}  // namespace lakesync::db
