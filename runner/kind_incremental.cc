// Job kind `incremental`: jobs::RunIncremental over the job's source and targets.

#include <spdlog/spdlog.h>

#include "jobs/commit_files.h"
#include "jobs/incremental.h"
#include "runner/job_kinds.h"
#include "runner/progress.h"
#include "runner/tables.h"

namespace lakesync::runner {
namespace {

jobs::StartMode ToStartMode(IncrementalSpec::Start s) {
  switch (s) {
    case IncrementalSpec::kEarliest:
      return jobs::StartMode::kEarliest;
    case IncrementalSpec::kLatestCheckpoint:
      return jobs::StartMode::kLatestCheckpoint;
    case IncrementalSpec::kAuto:
      return jobs::StartMode::kAuto;
  }
  return jobs::StartMode::kAuto;
}

}  // namespace

// R6: the target's log is the truth. Says so when the state store remembers something else
// (restored from an old backup, wiped, or a run killed between publishing and recording).
void ReconcileIncrementalTargets(const Result<std::vector<db::TargetVersion>>& recorded,
                                 const JobConfig& job) {
  auto tables = OpenIncrementalTables(job);
  if (!tables.ok()) return;  // the run reports it
  if (!recorded.ok()) {
    spdlog::warn("{}: could not read recorded target versions: {}", job.name,
                 recorded.status().message());
    return;
  }
  for (const auto& t : tables->targets) {
    // The engine's cheap head probe (a few stats, not a listing of the whole log).
    auto head = jobs::TableHead(*t.location.storage, t.location.prefix);
    if (!head.ok()) continue;  // the run reports it
    const int64_t actual = *head;
    std::optional<int64_t> remembered;
    for (const auto& r : *recorded) {
      if (r.target == t.location.name) remembered = r.replicated_version;
    }
    if (remembered.value_or(-1) != actual) {
      spdlog::warn(
          "{}: target {}: the state store records version {} but the target's log is at {}; "
          "reconciling from the target (its log is the truth)",
          job.name, t.location.name, remembered ? std::to_string(*remembered) : "none",
          actual >= 0 ? std::to_string(actual) : "none (no table yet)");
    }
  }
}

Result<JobOutcome> RunIncrementalJob(const Config& config, const JobConfig& job,
                                     const ExecuteOptions& options, jobs::RunObserver& observer) {
  JobOutcome result;
  db::RunFinish& finish = result.finish;
  auto tables = OpenIncrementalTables(job);
  if (!tables.ok()) {
    finish.status = db::RunStatus::kFailed;
    finish.error = tables.status().message();
    result.errors.push_back("lakesync: " + job.name + " failed: " + finish.error);
    return result;
  }

  jobs::IncrementalOptions engine;
  engine.to_version = options.to_version;
  engine.max_versions_per_run = job.incremental.max_versions_per_run;
  engine.start = ToStartMode(job.incremental.start);
  engine.verify_checksum = job.incremental.verify == IncrementalSpec::kChecksum;
  engine.copy_parallelism = config.runner.copy_parallelism;
  engine.commit_limits.max_actions = config.runner.max_commit_actions;
  engine.commit_limits.max_bytes = config.runner.max_commit_bytes;
  engine.clock = options.clock;

  auto outcome =
      jobs::RunIncremental(tables->source.location, tables->TargetLocations(), engine, observer);
  if (!outcome.ok()) {
    finish.status = outcome.status().code() == StatusCode::kCancelled ? db::RunStatus::kCancelled
                                                                      : db::RunStatus::kFailed;
    finish.error = outcome.status().message();
    result.errors.push_back("lakesync: " + job.name + " failed: " + finish.error);
    return result;
  }

  finish.source_version = outcome->source_head;
  std::optional<int64_t> min_end;
  int failed = 0, cancelled = 0;
  for (const auto& t : outcome->targets) {
    db::TargetResult tr;
    tr.target = t.target;
    if (t.start_version >= 0) tr.start_version = t.start_version;
    if (t.end_version >= 0) tr.end_version = t.end_version;
    tr.commits = t.commits;
    tr.files = t.files;
    tr.bytes = t.bytes;
    tr.rows = t.rows;
    tr.status = t.status.ok()                               ? db::RunStatus::kSucceeded
                : t.status.code() == StatusCode::kCancelled ? db::RunStatus::kCancelled
                                                            : db::RunStatus::kFailed;
    tr.error = t.status.ok() ? "" : t.status.message();
    finish.targets.push_back(tr);
    finish.commits += t.commits;
    finish.files += t.files;
    finish.bytes += t.bytes;
    finish.rows += t.rows;
    min_end = min_end ? std::min(*min_end, t.end_version) : t.end_version;
    if (!t.status.ok()) {
      ++failed;
      if (t.status.code() == StatusCode::kCancelled) ++cancelled;
      if (!finish.error.empty()) finish.error += "; ";
      finish.error += t.target + ": " + t.status.message();
    }
    if (t.end_version >= 0) {
      db::TargetVersion tv;
      tv.target = t.target;
      tv.replicated_version = t.end_version;
      tv.source_version = outcome->source_head;
      result.versions.push_back(tv);
    }
    if (t.status.ok()) {
      std::string line = job.name + " → " + t.target + ": at version " +
                         std::to_string(t.end_version) + " (was " +
                         (t.start_version >= 0 ? std::to_string(t.start_version) : "empty") +
                         "), " + std::to_string(t.commits) + " commits, " +
                         std::to_string(t.files) + " files, " + FormatBytes(t.bytes) + " copied";
      if (t.skipped_in_flight > 0) {
        line += ", " + std::to_string(t.skipped_in_flight) +
                " files still being written in the source skipped (newer than the checkpoint)";
      }
      if (t.skipped_vacuumed > 0) {
        line += ", " + std::to_string(t.skipped_vacuumed) + " vacuumed history files skipped";
      }
      result.report.push_back(line);
    } else {
      result.errors.push_back(
          "lakesync: " + job.name + " → " + t.target + " failed; the target is at " +
          (t.end_version >= 0 ? "version " + std::to_string(t.end_version) : "no version yet") +
          " (" + std::to_string(t.commits) +
          " commits published by this run): " + t.status.message());
    }
  }
  if (min_end && *min_end >= 0) finish.target_version = *min_end;
  const int n = static_cast<int>(outcome->targets.size());
  finish.status = failed == 0      ? db::RunStatus::kSucceeded
                  : cancelled == n ? db::RunStatus::kCancelled
                  : failed == n    ? db::RunStatus::kFailed
                                   : db::RunStatus::kPartial;
  return result;
}

std::vector<TargetLag> ProbeIncrementalLag(const JobConfig& job, TimePoint now) {
  std::vector<TargetLag> out;
  for (const auto& name : job.TargetNames()) {
    TargetLag t;
    t.target = name;
    out.push_back(std::move(t));
  }
  auto tables = OpenIncrementalTables(job);
  if (!tables.ok()) {
    for (auto& t : out) t.error = tables.status().message();
    return out;
  }
  for (size_t i = 0; i < tables->targets.size() && i < out.size(); ++i) {
    auto lag = jobs::ComputeLag(tables->source.location, tables->targets[i].location, now);
    if (!lag.ok()) {
      out[i].error = lag.status().message();
      continue;
    }
    out[i].source_version = lag->source_version;
    if (lag->replicated_version >= 0) out[i].replicated_version = lag->replicated_version;
    out[i].lag_versions = lag->versions;
    out[i].lag_seconds = lag->seconds;
  }
  return out;
}

}  // namespace lakesync::runner
