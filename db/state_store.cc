#include "db/state_store.h"

#include <set>
#include <string>

#include <fmt/format.h>

namespace lakesync::db {
namespace {

constexpr std::pair<RunStatus, std::string_view> kRunStatusNames[] = {
    {RunStatus::kRunning, "running"},    {RunStatus::kSucceeded, "succeeded"},
    {RunStatus::kFailed, "failed"},      {RunStatus::kPartial, "partial"},
    {RunStatus::kTimedOut, "timed_out"}, {RunStatus::kCancelled, "cancelled"},
};

constexpr std::pair<Trigger, std::string_view> kTriggerNames[] = {
    {Trigger::kSchedule, "schedule"},
    {Trigger::kRetry, "retry"},
    {Trigger::kManual, "manual"},
};

}  // namespace

std::string_view RunStatusName(RunStatus status) {
  for (const auto& [value, name] : kRunStatusNames) {
    if (value == status) return name;
  }
  return "unknown";
}

void WriteTargetResultFields(JsonWriter& w, const TargetResult& t) {
  w.Key("target")
      .String(t.target)
      .Key("status")
      .String(RunStatusName(t.status))
      .Key("start_version")
      .Optional(t.start_version)
      .Key("end_version")
      .Optional(t.end_version)
      .Key("commits")
      .Int(t.commits)
      .Key("files")
      .Int(t.files)
      .Key("bytes")
      .Int(t.bytes)
      .Key("rows")
      .Int(t.rows)
      .Key("error")
      .String(t.error);
}

Result<RunStatus> ParseRunStatus(std::string_view name) {
  for (const auto& [value, text] : kRunStatusNames) {
    if (text == name) return value;
  }
  return Status::InvalidArgument(
      fmt::format("unknown run status \"{}\"; expected one of running, succeeded, failed, "
                  "partial, timed_out, cancelled",
                  name));
}

std::string_view TriggerName(Trigger trigger) {
  for (const auto& [value, name] : kTriggerNames) {
    if (value == trigger) return name;
  }
  return "unknown";
}

Result<Trigger> ParseTrigger(std::string_view name) {
  for (const auto& [value, text] : kTriggerNames) {
    if (text == name) return value;
  }
  return Status::InvalidArgument(
      fmt::format("unknown run trigger \"{}\"; expected one of schedule, retry, manual", name));
}

Status ValidateRunStart(const RunStart& start) {
  if (start.job.empty()) {
    return Status::InvalidArgument("cannot start a run without a job name; pass the job's name");
  }
  if (start.attempt < 1) {
    return Status::InvalidArgument(fmt::format(
        "run of job {} has attempt {}; attempts are numbered from 1", start.job, start.attempt));
  }
  return Status::OK();
}

Status ValidateRunFinish(int64_t run_id, const RunFinish& finish) {
  if (finish.status == RunStatus::kRunning) {
    return Status::InvalidArgument(
        fmt::format("cannot finish run {} with status running; pass its final status", run_id));
  }
  std::set<std::string_view> seen;
  for (const TargetResult& target : finish.targets) {
    if (target.target.empty()) {
      return Status::InvalidArgument(
          fmt::format("run {} reports a target without a name; name every target result", run_id));
    }
    if (!seen.insert(target.target).second) {
      return Status::InvalidArgument(fmt::format(
          "run {} reports target {} twice; report each target once", run_id, target.target));
    }
  }
  return Status::OK();
}

Status ValidateTargetVersion(const TargetVersion& version) {
  if (version.job.empty() || version.target.empty()) {
    return Status::InvalidArgument(
        "a target version needs both a job and a target name; pass both");
  }
  return Status::OK();
}

namespace {
constexpr std::pair<SnapshotRecordStatus, std::string_view> kSnapshotStatusNames[] = {
    {SnapshotRecordStatus::kWriting, "writing"},
    {SnapshotRecordStatus::kComplete, "complete"},
    {SnapshotRecordStatus::kDeleting, "deleting"},
    {SnapshotRecordStatus::kDeleted, "deleted"},
};
}  // namespace

std::string_view SnapshotRecordStatusName(SnapshotRecordStatus status) {
  for (const auto& [value, text] : kSnapshotStatusNames) {
    if (value == status) return text;
  }
  return "complete";
}

Result<SnapshotRecordStatus> ParseSnapshotRecordStatus(std::string_view name) {
  for (const auto& [value, text] : kSnapshotStatusNames) {
    if (text == name) return value;
  }
  return Status::InvalidArgument(fmt::format(
      "unknown snapshot status \"{}\"; expected one of writing, complete, deleting, deleted",
      name));
}

Status ValidateSnapshotRecord(const SnapshotRecord& snapshot) {
  if (snapshot.job.empty() || snapshot.snapshot_id.empty() || snapshot.target.empty()) {
    return Status::InvalidArgument(
        "a snapshot record needs a job, a snapshot id and a target; pass all three");
  }
  if (snapshot.source_version < 0) {
    return Status::InvalidArgument(fmt::format("snapshot {} of job {} has source version {}",
                                               snapshot.snapshot_id, snapshot.job,
                                               snapshot.source_version));
  }
  return Status::OK();
}

}  // namespace lakesync::db
