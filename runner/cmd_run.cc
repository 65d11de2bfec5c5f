#include <spdlog/spdlog.h>
#include <unistd.h>

#include <ostream>

#include "common/failpoint.h"
#include "jobs/commit_files.h"
#include "jobs/incremental.h"
#include "runner/command_util.h"
#include "runner/commands.h"
#include "runner/exit_codes.h"
#include "runner/progress.h"
#include "runner/state_connection.h"
#include "runner/tables.h"

namespace lakesync::runner {
namespace {

std::string DefaultRunnerId() {
  char host[256] = {0};
  if (gethostname(host, sizeof(host) - 1) != 0) std::snprintf(host, sizeof(host), "unknown");
  return std::string(host) + "-" + std::to_string(getpid());
}

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

// R6: the target's log is the truth. Says so when the state store remembers something else
// (restored from an old backup, wiped, or a run killed between publishing and recording).
void ReconcileWithTargets(db::StateStore& store, const JobConfig& job,
                          const IncrementalTables& tables) {
  auto recorded = store.TargetVersions(job.name);
  if (!recorded.ok()) {
    spdlog::warn("{}: could not read recorded target versions: {}", job.name,
                 recorded.status().message());
    return;
  }
  for (const auto& t : tables.targets) {
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

}  // namespace

int CmdRun(const GlobalOptions& g, const RunOptions& o, std::ostream& out, std::ostream& err) {
  Result<Config> config = LoadGlobalConfig(g);
  if (!config.ok()) return ReportError(config.status(), err, kExitUsage);
  const JobConfig* job = config->FindJob(o.job);
  if (job == nullptr) {
    err << "lakesync: no job named \"" << o.job << "\" in " << g.config_path
        << "; `lakesync status` lists the configured jobs\n";
    return kExitUsage;
  }
  if (job->kind != JobKind::kIncremental) {
    err << "lakesync: job " << job->name << " is a " << JobKindName(job->kind)
        << " job; this version of lakesync runs incremental jobs only\n";
    return kExitUsage;
  }
  auto store = OpenStateStore(&*config);
  if (!store.ok()) {
    return ReportError(
        store.status(), err,
        store.status().code() == StatusCode::kInvalidArgument ? kExitUsage : kExitStateStore);
  }
  std::vector<std::pair<std::string, std::string>> names;
  for (const auto& j : config->jobs) names.emplace_back(j.name, std::string(JobKindName(j.kind)));
  if (Status s = (*store)->SyncJobs(names); !s.ok()) return ReportError(s, err, kExitStateStore);

  // At most one process runs a job at a time. The lock dies with its holder, so a `running`
  // record found while holding it belongs to a process that was killed before recording.
  auto locked = (*store)->TryLockJob(job->name);
  if (!locked.ok()) return ReportError(locked.status(), err, kExitStateStore);
  if (!*locked) {
    err << "lakesync: job " << job->name
        << " is running in another process right now; wait for it to finish (see `lakesync "
           "status`)\n";
    return kExitJobFailed;
  }
  auto abandoned = (*store)->AbandonRuns(
      job->name,
      "abandoned: the process running it stopped before recording a result (killed or "
      "crashed); the next run resumed from the targets' logs",
      SystemClock::Instance().Now());
  if (!abandoned.ok()) return ReportError(abandoned.status(), err, kExitStateStore);
  if (*abandoned > 0) {
    spdlog::warn("{}: marked {} run(s) left `running` by a process that died as failed", job->name,
                 *abandoned);
  }

  auto tables = OpenIncrementalTables(*job);
  if (!tables.ok()) return ReportError(tables.status(), err, kExitUsage);
  ReconcileWithTargets(**store, *job, *tables);

  db::RunStart start;
  start.job = job->name;
  start.kind = std::string(JobKindName(job->kind));
  start.trigger = db::Trigger::kManual;
  start.attempt = 1;
  start.runner_id = config->runner.runner_id.empty() ? DefaultRunnerId() : config->runner.runner_id;
  start.started_at = SystemClock::Instance().Now();
  auto run_id = (*store)->StartRun(start);
  if (!run_id.ok()) return ReportError(run_id.status(), err, kExitStateStore);
  spdlog::info("{}: run {} started: {} → {} target(s)", job->name, *run_id,
               job->incremental.source.text, job->incremental.targets.size());

  jobs::IncrementalOptions options;
  options.to_version = o.to_version;
  options.max_versions_per_run = job->incremental.max_versions_per_run;
  options.start = ToStartMode(job->incremental.start);
  options.verify_checksum = job->incremental.verify == IncrementalSpec::kChecksum;
  options.copy_parallelism = config->runner.copy_parallelism;

  ProgressObserver progress(job->name, isatty(STDERR_FILENO) == 1);
  auto outcome =
      jobs::RunIncremental(tables->source.location, tables->TargetLocations(), options, progress);
  progress.Finish();

  LAKESYNC_FAILPOINT("runner.before_record");

  db::RunFinish finish;
  finish.finished_at = SystemClock::Instance().Now();
  if (!outcome.ok()) {
    finish.status = db::RunStatus::kFailed;
    finish.error = outcome.status().message();
  } else {
    finish.source_version = outcome->source_head;
    std::optional<int64_t> min_end;
    int failed = 0;
    for (const auto& t : outcome->targets) {
      db::TargetResult tr;
      tr.target = t.target;
      if (t.start_version >= 0) tr.start_version = t.start_version;
      if (t.end_version >= 0) tr.end_version = t.end_version;
      tr.commits = t.commits;
      tr.files = t.files;
      tr.bytes = t.bytes;
      tr.rows = t.rows;
      tr.status = t.status.ok() ? db::RunStatus::kSucceeded : db::RunStatus::kFailed;
      tr.error = t.status.ok() ? "" : t.status.message();
      finish.targets.push_back(tr);
      finish.commits += t.commits;
      finish.files += t.files;
      finish.bytes += t.bytes;
      finish.rows += t.rows;
      min_end = min_end ? std::min(*min_end, t.end_version) : t.end_version;
      if (!t.status.ok()) {
        ++failed;
        if (!finish.error.empty()) finish.error += "; ";
        finish.error += t.target + ": " + t.status.message();
      }
      if (t.end_version >= 0) {
        db::TargetVersion tv{job->name,          t.target, t.end_version, outcome->source_head,
                             finish.finished_at, *run_id};
        if (Status s = (*store)->SetTargetVersion(tv); !s.ok()) {
          return ReportError(s, err, kExitStateStore);
        }
      }
    }
    if (min_end && *min_end >= 0) finish.target_version = *min_end;
    finish.status = failed == 0 ? db::RunStatus::kSucceeded
                    : failed == static_cast<int>(outcome->targets.size()) ? db::RunStatus::kFailed
                                                                          : db::RunStatus::kPartial;
  }
  if (Status s = (*store)->FinishRun(*run_id, finish); !s.ok()) {
    return ReportError(s, err, kExitStateStore);
  }

  if (!outcome.ok()) {
    err << "lakesync: " << job->name << " failed: " << outcome.status().message() << "\n";
    return kExitJobFailed;
  }
  for (const auto& t : outcome->targets) {
    if (t.status.ok()) {
      out << job->name << " → " << t.target << ": at version " << t.end_version << " (was "
          << (t.start_version >= 0 ? std::to_string(t.start_version) : "empty") << "), "
          << t.commits << " commits, " << t.files << " files, " << FormatBytes(t.bytes)
          << " copied";
      if (t.skipped_vacuumed > 0) {
        out << ", " << t.skipped_vacuumed << " vacuumed history files skipped";
      }
      out << "\n";
    } else {
      err << "lakesync: " << job->name << " → " << t.target << " failed; the target is at "
          << (t.end_version >= 0 ? "version " + std::to_string(t.end_version) : "no version yet")
          << " (" << t.commits << " commits published by this run): " << t.status.message() << "\n";
    }
  }
  return finish.status == db::RunStatus::kSucceeded ? kExitOk : kExitJobFailed;
}

}  // namespace lakesync::runner
