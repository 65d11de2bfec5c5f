// Job kind `consolidation`: jobs::RunConsolidation over the job's regional sources and its
// global target (docs/consolidation.md). Each region is recorded like a target: one
// db::TargetResult per region per run and one target_versions row per region (target = the
// region name, replicated_version = the source version consolidated).

#include <spdlog/spdlog.h>

#include "jobs/consolidation.h"
#include "runner/job_kinds.h"
#include "runner/progress.h"
#include "runner/tables.h"

namespace lakesync::runner {
namespace {

// R6: the global table's txn actions are the truth. Says so when the state store remembers
// other region versions (restored from a backup, or a run killed before recording).
void ReconcileWithGlobal(db::StateStore& store, const JobConfig& job,
                         const jobs::ConsolidationOutcome& outcome) {
  auto recorded = store.TargetVersions(job.name);
  if (!recorded.ok()) {
    spdlog::warn("{}: could not read recorded region versions: {}", job.name,
                 recorded.status().message());
    return;
  }
  for (const auto& r : outcome.regions) {
    std::optional<int64_t> remembered;
    for (const auto& v : *recorded) {
      if (v.target == r.region) remembered = v.replicated_version;
    }
    if (remembered.value_or(-1) != r.start_version) {
      spdlog::warn(
          "{}: region {}: the state store records source version {} but the global table's txn "
          "says {}; continuing from the global table (its log is the truth)",
          job.name, r.region, remembered ? std::to_string(*remembered) : "none",
          r.start_version >= 0 ? std::to_string(r.start_version) : "none");
    }
  }
}

}  // namespace

Result<JobOutcome> RunConsolidationJob(const Config& config, const JobConfig& job,
                                       const ExecuteOptions& options, db::StateStore& store,
                                       jobs::RunObserver& observer) {
  JobOutcome result;
  db::RunFinish& finish = result.finish;
  auto fail = [&](const Status& s) {
    finish.status =
        s.code() == StatusCode::kCancelled ? db::RunStatus::kCancelled : db::RunStatus::kFailed;
    finish.error = s.message();
    result.errors.push_back("lakesync: " + job.name + " failed: " + finish.error);
    return result;
  };
  auto tables = OpenConsolidationTables(job);
  if (!tables.ok()) return fail(tables.status());

  jobs::ConsolidationOptions engine;
  engine.job = job.name;
  engine.region_column = job.consolidation.region_column;
  engine.union_schema = job.consolidation.schema == ConsolidationSpec::kUnion;
  engine.copy_parallelism = config.runner.copy_parallelism;
  engine.clock = options.clock;
  auto outcome =
      jobs::RunConsolidation(tables->locations, tables->target.location, engine, observer);
  if (!outcome.ok()) return fail(outcome.status());
  ReconcileWithGlobal(store, job, *outcome);

  if (outcome->end_version >= 0) finish.target_version = outcome->end_version;
  int failed = 0;
  for (const auto& r : outcome->regions) {
    db::TargetResult tr;
    tr.target = r.region;
    if (r.start_version >= 0) tr.start_version = r.start_version;
    if (r.end_version >= 0) tr.end_version = r.end_version;
    tr.commits = r.commits;
    tr.files = r.files;
    tr.bytes = r.bytes;
    tr.rows = r.rows;
    tr.status = r.status.ok() ? db::RunStatus::kSucceeded : db::RunStatus::kFailed;
    tr.error = r.status.ok() ? "" : r.status.message();
    finish.targets.push_back(tr);
    finish.commits += r.commits;
    finish.files += r.files;
    finish.bytes += r.bytes;
    finish.rows += r.rows;
    if (r.end_version >= 0) {
      db::TargetVersion tv;
      tv.target = r.region;
      tv.replicated_version = r.end_version;
      if (r.source_head >= 0) tv.source_version = r.source_head;
      result.versions.push_back(tv);
    }
    const std::string at =
        r.end_version >= 0 ? "source version " + std::to_string(r.end_version) : "no version yet";
    if (r.status.ok()) {
      result.report.push_back(job.name + " ← " + r.region + ": at " + at + " (was " +
                              (r.start_version >= 0 ? std::to_string(r.start_version) : "none") +
                              "), " + std::to_string(r.commits) + " commits, " +
                              std::to_string(r.adds) + " adds, " + std::to_string(r.removes) +
                              " removes, " + std::to_string(r.files) + " files, " +
                              FormatBytes(static_cast<double>(r.bytes)) + " copied");
    } else {
      ++failed;
      if (!finish.error.empty()) finish.error += "; ";
      finish.error += r.status.message();
      result.errors.push_back("lakesync: " + job.name + " ← " + r.region +
                              " failed; the region stays at " + at + ": " + r.status.message());
    }
  }
  result.report.push_back(
      job.name + " → " + job.consolidation.target.text + ": " +
      (outcome->published ? (outcome->created ? "created at version " : "published version ") +
                                std::to_string(outcome->end_version)
                          : (outcome->end_version >= 0
                                 ? "unchanged at version " + std::to_string(outcome->end_version)
                                 : std::string("no table yet"))));
  const int n = static_cast<int>(outcome->regions.size());
  finish.status = failed == 0   ? db::RunStatus::kSucceeded
                  : failed == n ? db::RunStatus::kFailed
                                : db::RunStatus::kPartial;
  return result;
}

std::vector<TargetLag> ProbeConsolidationLag(const JobConfig& job, TimePoint now) {
  std::vector<TargetLag> out;
  for (const auto& [region, ref] : job.consolidation.sources) {
    TargetLag t;
    t.target = region;
    out.push_back(std::move(t));
  }
  auto tables = OpenConsolidationTables(job);
  if (!tables.ok()) {
    for (auto& t : out) t.error = tables.status().message();
    return out;
  }
  auto lags = jobs::ConsolidationLag(tables->locations, tables->target.location, job.name, now);
  for (size_t i = 0; i < lags.size() && i < out.size(); ++i) {
    const jobs::RegionLag& l = lags[i];
    if (l.source_version >= 0) out[i].source_version = l.source_version;
    if (l.consolidated_version >= 0) out[i].replicated_version = l.consolidated_version;
    out[i].lag_versions = l.versions;
    out[i].lag_seconds = l.seconds;
    if (!l.status.ok()) out[i].error = l.status.message();
  }
  return out;
}

}  // namespace lakesync::runner
