// Job kind `snapshot`: jobs::RunSnapshot from the job's source into its target, retention, and
// the `snapshots` records in the state store (the manifests in the target are the truth; the
// records mirror them).

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "jobs/snapshot.h"
#include "runner/job_kinds.h"
#include "runner/progress.h"
#include "runner/tables.h"

namespace lakesync::runner {
namespace {

jobs::SnapshotOptions EngineOptions(const Config& config, const JobConfig& job,
                                    const ExecuteOptions& options) {
  jobs::SnapshotOptions o;
  o.version = job.snapshot.version;
  o.as_of = job.snapshot.as_of;
  o.mode = job.snapshot.mode == SnapshotSpec::kShallow ? jobs::SnapshotMode::kShallow
                                                       : jobs::SnapshotMode::kDeep;
  o.timestamps = job.snapshot.timestamps == SnapshotSpec::kCommitInfo
                     ? delta::NonIctTimestampPolicy::kCommitInfoThenFile
                     : delta::NonIctTimestampPolicy::kFileModificationTime;
  o.skip_unchanged = job.snapshot.skip_unchanged;
  o.keep_last = job.snapshot.keep_last;
  o.keep_within = job.snapshot.keep_within;
  o.copy_parallelism = config.runner.copy_parallelism;
  o.clock = options.clock;
  return o;
}

db::SnapshotRecord Record(const JobConfig& job, const jobs::SnapshotManifest& m) {
  db::SnapshotRecord r;
  r.job = job.name;
  r.snapshot_id = m.id;
  r.target = job.snapshot.target.text;
  r.source_version = m.version;
  r.commit_timestamp = m.commit_timestamp;
  r.files = m.files;
  r.bytes = m.bytes;
  r.rows = m.rows;
  r.status = db::SnapshotRecordStatus::kComplete;
  r.created_at = m.created_at;
  return r;
}

// R6 for snapshots: the target is the truth. A run killed after publishing a snapshot's
// manifest, or in the middle of retention, left PostgreSQL behind; bring its records of this
// target in line with the complete snapshots the target holds, and say so.
Status ReconcileSnapshots(db::StateStore& store, const JobConfig& job,
                          const std::vector<jobs::SnapshotManifest>& in_target, TimePoint now) {
  LAKESYNC_ASSIGN_OR_RETURN(std::vector<db::SnapshotRecord> recorded, store.Snapshots(job.name));
  std::erase_if(recorded,
                [&](const db::SnapshotRecord& r) { return r.target != job.snapshot.target.text; });
  std::map<std::string, db::SnapshotRecordStatus> status_of;
  for (const auto& r : recorded) status_of[r.snapshot_id] = r.status;
  std::set<std::string> present;
  for (const auto& m : in_target) {
    present.insert(m.id);
    auto it = status_of.find(m.id);
    if (it != status_of.end() && it->second == db::SnapshotRecordStatus::kComplete) continue;
    LAKESYNC_RETURN_IF_ERROR(store.UpsertSnapshot(Record(job, m)));
    spdlog::warn(
        "{}: snapshot {} is complete in the target but PostgreSQL {}; recorded it as complete "
        "(a run was stopped after publishing it)",
        job.name, m.id,
        it == status_of.end()
            ? std::string("had no record of it")
            : fmt::format("had it as {}", db::SnapshotRecordStatusName(it->second)));
  }
  for (const auto& r : recorded) {
    if (r.status != db::SnapshotRecordStatus::kComplete || present.count(r.snapshot_id) != 0) {
      continue;
    }
    LAKESYNC_ASSIGN_OR_RETURN(bool known, store.MarkSnapshotDeleted(job.name, r.snapshot_id, now));
    (void)known;
    spdlog::warn(
        "{}: snapshot {} is recorded as complete but the target no longer holds it; marked it "
        "deleted (a run was stopped while deleting it)",
        job.name, r.snapshot_id);
  }
  return Status::OK();
}

}  // namespace

Result<JobOutcome> RunSnapshotJob(const Config& config, const JobConfig& job,
                                  const ExecuteOptions& options, db::StateStore& store,
                                  jobs::RunObserver& observer) {
  JobOutcome result;
  db::RunFinish& finish = result.finish;
  const std::string& target_name = job.snapshot.target.text;
  auto fail = [&](const Status& s) {
    finish.status =
        s.code() == StatusCode::kCancelled ? db::RunStatus::kCancelled : db::RunStatus::kFailed;
    finish.error = s.message();
    db::TargetResult tr;
    tr.target = target_name;
    tr.status = finish.status;
    tr.error = finish.error;
    finish.targets.push_back(tr);
    result.errors.push_back("lakesync: " + job.name + " → " + target_name +
                            " failed; no snapshot was published: " + finish.error);
  };
  auto source = OpenTableRef(job.snapshot.source);
  if (!source.ok()) {
    fail(source.status());
    return result;
  }
  auto target = OpenTableRef(job.snapshot.target);
  if (!target.ok()) {
    fail(target.status());
    return result;
  }
  auto out = jobs::RunSnapshot(source->location, target->location,
                               EngineOptions(config, job, options), observer);
  if (!out.ok()) {
    fail(out.status());
    return result;
  }

  // The state store's mirror of what the target now holds.
  if (out->created) LAKESYNC_RETURN_IF_ERROR(store.UpsertSnapshot(Record(job, *out->created)));
  const TimePoint now = options.clock->Now();
  for (const auto* ids : {&out->cleaned, &out->deleted}) {
    for (const auto& id : *ids) {
      LAKESYNC_ASSIGN_OR_RETURN(bool known, store.MarkSnapshotDeleted(job.name, id, now));
      (void)known;
    }
  }
  LAKESYNC_RETURN_IF_ERROR(ReconcileSnapshots(store, job, out->snapshots, now));

  finish.source_version = out->source_head;
  db::TargetResult tr;
  tr.target = target_name;
  if (!out->snapshots.empty()) {
    finish.target_version = out->snapshots.front().version;
    tr.end_version = out->snapshots.front().version;
    db::TargetVersion tv;
    tv.target = target_name;
    tv.replicated_version = out->snapshots.front().version;
    tv.source_version = out->source_head;
    result.versions.push_back(tv);
  }
  if (out->created) {
    tr.commits = 1;
    tr.files = out->files_copied;
    tr.bytes = out->bytes_copied;
    tr.rows = out->created->rows;
  }
  finish.commits = tr.commits;
  finish.files = tr.files;
  finish.bytes = tr.bytes;
  finish.rows = tr.rows;

  std::string line = job.name + " → " + target_name + ": ";
  if (out->created) {
    line += fmt::format(
        "snapshot {} of version {} ({} files, {} {})", out->created->id, out->created->version,
        out->created->files,
        FormatBytes(static_cast<double>(out->created->mode == jobs::SnapshotMode::kDeep
                                            ? out->bytes_copied
                                            : out->created->bytes)),
        out->created->mode == jobs::SnapshotMode::kDeep ? "copied" : "referenced (shallow)");
  } else {
    line += fmt::format("source version {} unchanged since snapshot {}; nothing written",
                        out->version, out->unchanged_since.value_or("?"));
  }
  line += fmt::format(", {} snapshot{} kept", out->snapshots.size(),
                      out->snapshots.size() == 1 ? "" : "s");
  if (!out->deleted.empty()) line += fmt::format(", {} deleted by retention", out->deleted.size());
  if (!out->cleaned.empty()) {
    line += fmt::format(", {} left by interrupted runs removed", out->cleaned.size());
  }
  result.report.push_back(line);

  if (out->retention.ok()) {
    tr.status = db::RunStatus::kSucceeded;
    finish.status = db::RunStatus::kSucceeded;
  } else {
    // The snapshot is published and valid; only the cleanup of old ones failed.
    tr.status = out->retention.code() == StatusCode::kCancelled ? db::RunStatus::kCancelled
                                                                : db::RunStatus::kPartial;
    finish.status = tr.status;
    tr.error = "retention: " + out->retention.message();
    finish.error = tr.error;
    result.errors.push_back("lakesync: " + job.name + " → " + target_name +
                            ": the snapshot is complete but retention failed (the next run " +
                            "retries it): " + out->retention.message());
  }
  finish.targets.push_back(tr);
  return result;
}

std::vector<TargetLag> ProbeSnapshotLag(const JobConfig& job, TimePoint now) {
  TargetLag t;
  t.target = job.snapshot.target.text;
  auto source = OpenTableRef(job.snapshot.source);
  auto target = OpenTableRef(job.snapshot.target);
  if (!source.ok() || !target.ok()) {
    t.error = (!source.ok() ? source.status() : target.status()).message();
    return {t};
  }
  auto lag = jobs::ComputeSnapshotLag(source->location, target->location, now);
  if (!lag.ok()) {
    t.error = lag.status().message();
    return {t};
  }
  t.source_version = lag->source_version;
  t.replicated_version = lag->newest_version;
  t.lag_versions = lag->versions;
  t.lag_seconds = lag->seconds;
  t.snapshots = lag->snapshots;
  return {t};
}

}  // namespace lakesync::runner
