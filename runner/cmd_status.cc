#include <ostream>

#include "common/duration.h"
#include "common/json_writer.h"
#include "jobs/incremental.h"
#include "runner/command_util.h"
#include "runner/commands.h"
#include "runner/executor.h"
#include "runner/exit_codes.h"
#include "runner/state_connection.h"
#include "runner/table_printer.h"

namespace lakesync::runner {
namespace {

// When the scheduler would start the job next, as a pure function of the schedule, the last
// run and now.
std::string DescribeNextRun(const Schedule& s, const std::optional<db::RunRecord>& last,
                            TimePoint now) {
  switch (s.kind) {
    case Schedule::kManual:
      return "-";
    case Schedule::kContinuous:
      return "continuous";
    case Schedule::kEvery: {
      if (!last) return "now";
      TimePoint next = last->start.started_at + s.every;
      return next <= now ? "now" : FormatTimestamp(next);
    }
    case Schedule::kCron:
      return FormatTimestamp(s.cron.NextAfter(now));
  }
  return "-";
}

struct TargetRow {
  std::string target;
  std::optional<int64_t> replicated_version;  // from the target's log (the truth)
  std::optional<int64_t> recorded_version;    // what the state store remembers
  std::optional<jobs::Lag> lag;
  std::optional<int64_t> snapshots;  // snapshot jobs: complete snapshots in the target
  // The head of this target's source: a consolidation region's own source; for the other
  // kinds the job's one source.
  std::optional<int64_t> source_version;
  std::string error;
};

struct JobRow {
  const JobConfig* job;
  std::optional<db::RunRecord> last_run;
  std::optional<int64_t> source_version;
  std::vector<TargetRow> targets;
};

// Reads the logs' tails (cheap) for versions and lag, through the job kind's probe. A table
// that cannot be read is reported on its row, not as a failure of the whole command.
void ProbeTables(JobRow& row, const std::vector<db::TargetVersion>& recorded, TimePoint now) {
  for (const TargetLag& probed : ProbeJobLag(*row.job, now)) {
    TargetRow t;
    t.target = probed.target;
    for (const auto& v : recorded) {
      if (v.target == probed.target) t.recorded_version = v.replicated_version;
    }
    t.replicated_version = probed.replicated_version;
    t.error = probed.error;
    t.snapshots = probed.snapshots;
    t.source_version = probed.source_version;
    if (probed.error.empty() && probed.source_version) {
      if (!row.source_version) row.source_version = probed.source_version;
      jobs::Lag lag;
      lag.source_version = *probed.source_version;
      lag.replicated_version = probed.replicated_version.value_or(-1);
      lag.versions = probed.lag_versions;
      lag.seconds = probed.lag_seconds;
      t.lag = lag;
    }
    row.targets.push_back(std::move(t));
  }
}

// Milliseconds matter for a lag under a minute; beyond that whole seconds read better.
std::string FormatLagSeconds(double s) {
  auto ms = std::chrono::milliseconds(static_cast<int64_t>(s * 1000));
  if (ms >= std::chrono::minutes(1)) ms = std::chrono::duration_cast<std::chrono::seconds>(ms);
  return FormatDuration(ms);
}

}  // namespace

int CmdStatus(const GlobalOptions& g, std::ostream& out, std::ostream& err) {
  Result<Config> config = LoadGlobalConfig(g);
  if (!config.ok()) return ReportError(config.status(), err, kExitUsage);
  auto store = OpenStateStore(&*config);
  if (!store.ok()) {
    return ReportStoreOpenError(store.status(), err);
  }

  TimePoint now = SystemClock::Instance().Now();
  std::vector<JobRow> rows;
  for (const auto& job : config->jobs) {
    JobRow row{&job, std::nullopt, std::nullopt, {}};
    auto last = (*store)->LastRun(job.name);
    if (!last.ok()) return ReportError(last.status(), err, kExitStateStore);
    row.last_run = *last;
    auto versions = (*store)->TargetVersions(job.name);
    if (!versions.ok()) return ReportError(versions.status(), err, kExitStateStore);
    ProbeTables(row, *versions, now);
    rows.push_back(std::move(row));
  }

  if (g.json) {
    JsonWriter w;
    w.BeginArray();
    for (const auto& row : rows) {
      w.BeginObject().Key("job").String(row.job->name);
      w.Key("kind").String(JobKindName(row.job->kind));
      w.Key("schedule").String(row.job->schedule.Describe());
      w.Key("source_version").Optional(row.source_version);
      w.Key("last_run");
      if (row.last_run) {
        w.BeginObject()
            .Key("id")
            .Int(row.last_run->id)
            .Key("status")
            .String(db::RunStatusName(row.last_run->status))
            .Key("trigger")
            .String(db::TriggerName(row.last_run->start.trigger))
            .Key("started_at")
            .String(FormatTimestamp(row.last_run->start.started_at))
            .Key("finished_at");
        if (row.last_run->finished_at)
          w.String(FormatTimestamp(*row.last_run->finished_at));
        else
          w.Null();
        w.Key("error").String(row.last_run->error).EndObject();
      } else {
        w.Null();
      }
      w.Key("next_run").String(DescribeNextRun(row.job->schedule, row.last_run, now));
      w.Key("targets").BeginArray();
      for (const auto& t : row.targets) {
        w.BeginObject().Key("target").String(t.target);
        w.Key("source_version").Optional(t.source_version);
        w.Key("replicated_version").Optional(t.replicated_version);
        w.Key("recorded_version").Optional(t.recorded_version);
        if (row.job->kind == JobKind::kSnapshot) w.Key("snapshots").Optional(t.snapshots);
        if (t.lag) {
          w.Key("lag_versions").Int(t.lag->versions).Key("lag_seconds").Double(t.lag->seconds);
        } else {
          w.Key("lag_versions").Null().Key("lag_seconds").Null();
        }
        w.Key("error");
        if (t.error.empty())
          w.Null();
        else
          w.String(t.error);
        w.EndObject();
      }
      w.EndArray().EndObject();
    }
    w.EndArray();
    out << w.str() << "\n";
    return kExitOk;
  }

  TablePrinter table({"JOB", "KIND", "SCHEDULE", "SOURCE", "TARGET", "REPLICATED", "LAG",
                      "LAST RUN", "RESULT", "NEXT RUN"});
  for (const auto& row : rows) {
    std::string last = row.last_run ? FormatTimestamp(row.last_run->start.started_at) : "never";
    std::string result = row.last_run ? std::string(db::RunStatusName(row.last_run->status)) : "-";
    std::string next = DescribeNextRun(row.job->schedule, row.last_run, now);
    bool first = true;
    // A consolidation job has a source per region: each row shows its own.
    const bool per_target_source = row.job->kind == JobKind::kConsolidation;
    for (const auto& t : row.targets) {
      std::string lag = !t.error.empty() ? "error: " + t.error
                        : t.lag          ? std::to_string(t.lag->versions) + " versions, " +
                                      FormatLagSeconds(t.lag->seconds)
                                : "-";
      table.AddRow({first ? row.job->name : "",
                    first ? std::string(JobKindName(row.job->kind)) : "",
                    first ? row.job->schedule.Describe() : "",
                    per_target_source ? (t.source_version ? std::to_string(*t.source_version) : "-")
                    : first && row.source_version ? std::to_string(*row.source_version)
                    : first                       ? "-"
                                                  : "",
                    t.target, t.replicated_version ? std::to_string(*t.replicated_version) : "-",
                    lag, first ? last : "", first ? result : "", first ? next : ""});
      first = false;
    }
  }
  table.Print(out);
  if (rows.empty()) out << "(no jobs configured in " << g.config_path << ")\n";
  return kExitOk;
}

int CmdHistory(const GlobalOptions& g, const std::string& job, int limit, std::ostream& out,
               std::ostream& err) {
  Result<Config> config = LoadGlobalConfig(g);
  if (!config.ok()) return ReportError(config.status(), err, kExitUsage);
  if (auto found = FindConfiguredJob(*config, g, job); !found.ok()) {
    return ReportError(found.status(), err, kExitUsage);
  }
  auto store = OpenStateStore(&*config);
  if (!store.ok()) return ReportStoreOpenError(store.status(), err);
  auto runs = (*store)->ListRuns(job, limit);
  if (!runs.ok()) return ReportError(runs.status(), err, kExitStateStore);

  if (g.json) {
    JsonWriter w;
    w.BeginArray();
    for (const auto& r : *runs) {
      w.BeginObject()
          .Key("id")
          .Int(r.id)
          .Key("job")
          .String(r.start.job)
          .Key("kind")
          .String(r.start.kind)
          .Key("trigger")
          .String(db::TriggerName(r.start.trigger))
          .Key("attempt")
          .Int(r.start.attempt)
          .Key("runner_id")
          .String(r.start.runner_id)
          .Key("status")
          .String(db::RunStatusName(r.status))
          .Key("started_at")
          .String(FormatTimestamp(r.start.started_at))
          .Key("finished_at");
      if (r.finished_at)
        w.String(FormatTimestamp(*r.finished_at));
      else
        w.Null();
      w.Key("source_version")
          .Optional(r.source_version)
          .Key("target_version")
          .Optional(r.target_version)
          .Key("commits")
          .Int(r.commits)
          .Key("files")
          .Int(r.files)
          .Key("bytes")
          .Int(r.bytes)
          .Key("rows")
          .Int(r.rows)
          .Key("error")
          .String(r.error)
          .Key("targets")
          .BeginArray();
      for (const auto& t : r.targets) {
        w.BeginObject();
        db::WriteTargetResultFields(w, t);
        w.EndObject();
      }
      w.EndArray().EndObject();
    }
    w.EndArray();
    out << w.str() << "\n";
    return kExitOk;
  }
  TablePrinter table({"RUN", "STARTED", "TRIGGER", "ATTEMPT", "RESULT", "SOURCE", "TARGET",
                      "COMMITS", "FILES", "BYTES", "ERROR"});
  for (const auto& r : *runs) {
    table.AddRow({std::to_string(r.id), FormatTimestamp(r.start.started_at),
                  std::string(db::TriggerName(r.start.trigger)), std::to_string(r.start.attempt),
                  std::string(db::RunStatusName(r.status)),
                  r.source_version ? std::to_string(*r.source_version) : "-",
                  r.target_version ? std::to_string(*r.target_version) : "-",
                  std::to_string(r.commits), std::to_string(r.files), std::to_string(r.bytes),
                  r.error});
  }
  table.Print(out);
  if (runs->empty()) out << "(no runs of " << job << " recorded yet)\n";
  return kExitOk;
}

}  // namespace lakesync::runner
