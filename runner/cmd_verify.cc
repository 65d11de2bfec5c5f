#include <ostream>

#include "common/json_writer.h"
#include "jobs/incremental.h"
#include "jobs/table_verify.h"
#include "runner/command_util.h"
#include "runner/commands.h"
#include "runner/exit_codes.h"
#include "runner/tables.h"

namespace lakesync::runner {

namespace {

void WriteReportJson(JsonWriter& w, const jobs::VerifyReport& report) {
  w.BeginObject()
      .Key("target")
      .String(report.target)
      .Key("ok")
      .Bool(report.problems.empty())
      .Key("target_version")
      .Int(report.target_version)
      .Key("source_version")
      .Int(report.source_version)
      .Key("commits_checked")
      .Int(report.commits_checked)
      .Key("files_checked")
      .Int(report.files_checked)
      .Key("problems")
      .BeginArray();
  for (const auto& p : report.problems) w.String(p);
  w.EndArray().Key("notes").BeginArray();
  for (const auto& n : report.notes) w.String(n);
  w.EndArray().EndObject();
}

void WriteProblems(std::ostream& out, const jobs::VerifyReport& report) {
  for (const auto& p : report.problems) out << "  " << p << "\n";
  for (const auto& n : report.notes) out << "  note: " << n << "\n";
}

// Every complete snapshot of the job's target (jobs::VerifySnapshots).
int VerifySnapshotJob(const GlobalOptions& g, const JobConfig& job, bool checksum,
                      std::ostream& out, std::ostream& err) {
  auto source = OpenTableRef(job.snapshot.source);
  if (!source.ok()) return ReportError(source.status(), err, kExitUsage);
  auto target = OpenTableRef(job.snapshot.target);
  if (!target.ok()) return ReportError(target.status(), err, kExitUsage);
  auto report = jobs::VerifySnapshots(source->location, target->location, checksum);
  if (!report.ok()) {
    return ReportError(report.status().WithContext("verifying the snapshots of " + job.name), err,
                       kExitJobFailed);
  }
  bool all_ok = true;
  for (const auto& s : report->snapshots) all_ok = all_ok && s.problems.empty();
  if (g.json) {
    JsonWriter w;
    w.BeginObject().Key("snapshots").BeginArray();
    for (const auto& s : report->snapshots) WriteReportJson(w, s);
    w.EndArray().Key("incomplete").BeginArray();
    for (const auto& s : report->incomplete) w.String(s);
    w.EndArray();
    if (!report->source_error.empty()) w.Key("source_error").String(report->source_error);
    w.EndObject();
    out << w.str() << "\n";
    return all_ok ? kExitOk : kExitJobFailed;
  }
  if (report->snapshots.empty()) out << job.name << ": no complete snapshot yet\n";
  for (const auto& s : report->snapshots) {
    out << s.target << ": " << (s.problems.empty() ? "ok" : "DAMAGED") << " (source version "
        << s.target_version << ", " << s.files_checked << " files checked"
        << (checksum ? " with checksums where the source still has them" : "") << ")\n";
    WriteProblems(out, s);
  }
  for (const auto& s : report->incomplete) {
    out << s << ": left by a killed run; invisible to readers, removed by the job's next run\n";
  }
  if (!report->source_error.empty()) {
    out << "source not compared: " << report->source_error << "\n";
  }
  return all_ok ? kExitOk : kExitJobFailed;
}

// The job's global table and each region's txn (jobs::VerifyConsolidation).
int VerifyConsolidationJob(const GlobalOptions& g, const JobConfig& job, bool checksum,
                           std::ostream& out, std::ostream& err) {
  auto tables = OpenConsolidationTables(job);
  if (!tables.ok()) return ReportError(tables.status(), err, kExitUsage);
  auto report = jobs::VerifyConsolidation(tables->locations, tables->target.location, job.name);
  if (!report.ok()) {
    return ReportError(report.status().WithContext("verifying the global table of " + job.name),
                       err, kExitJobFailed);
  }
  const jobs::VerifyReport& global = report->global;
  const bool ok = global.problems.empty();
  if (g.json) {
    JsonWriter w;
    w.BeginObject().Key("global");
    WriteReportJson(w, global);
    w.Key("regions").BeginArray();
    for (const auto& r : report->regions) {
      w.BeginObject()
          .Key("region")
          .String(r.region)
          .Key("consolidated_version")
          .Int(r.consolidated_version)
          .Key("source_version")
          .Int(r.source_version);
      if (!r.status.ok()) w.Key("error").String(r.status.message());
      w.EndObject();
    }
    w.EndArray().EndObject();
    out << w.str() << "\n";
    return ok ? kExitOk : kExitJobFailed;
  }
  if (global.target_version < 0) {
    out << global.target << ": no global table yet\n";
    return kExitOk;
  }
  out << global.target << ": " << (ok ? "ok" : "DAMAGED") << " (version " << global.target_version
      << ", " << global.commits_checked << " commits replayed, " << global.files_checked
      << " files checked"
      << (checksum ? "; --checksum compares replicas with their source and "
                     "does not apply to a consolidated table: sizes checked"
                   : "")
      << ")\n";
  WriteProblems(out, global);
  for (const auto& r : report->regions) {
    out << "  region " << r.region << ": source version " << r.consolidated_version
        << " consolidated";
    if (r.status.ok()) {
      out << ", source head " << r.source_version;
    } else {
      out << ", source unreadable: " << r.status.message();
    }
    out << "\n";
  }
  return ok ? kExitOk : kExitJobFailed;
}

}  // namespace

int CmdVerify(const GlobalOptions& g, const std::string& job_name, bool checksum, std::ostream& out,
              std::ostream& err) {
  Result<Config> config = LoadGlobalConfig(g);
  if (!config.ok()) return ReportError(config.status(), err, kExitUsage);
  auto found = FindConfiguredJob(*config, g, job_name);
  if (!found.ok()) return ReportError(found.status(), err, kExitUsage);
  const JobConfig* job = *found;
  if (job->kind == JobKind::kSnapshot) return VerifySnapshotJob(g, *job, checksum, out, err);
  if (job->kind == JobKind::kConsolidation) {
    return VerifyConsolidationJob(g, *job, checksum, out, err);
  }
  auto tables = OpenIncrementalTables(*job);
  if (!tables.ok()) return ReportError(tables.status(), err, kExitUsage);

  bool all_ok = true;
  JsonWriter w;
  w.BeginArray();
  for (const auto& target : tables->targets) {
    auto report = jobs::VerifyReplica(tables->source.location, target.location, checksum);
    if (!report.ok()) {
      all_ok = false;
      if (g.json) {
        w.BeginObject().Key("target").String(target.location.name).Key("ok").Bool(false);
        w.Key("error").String(report.status().message()).EndObject();
      } else {
        out << target.location.name << ": cannot verify: " << report.status().message() << "\n";
      }
      continue;
    }
    bool ok = report->problems.empty();
    all_ok = all_ok && ok;
    if (g.json) {
      WriteReportJson(w, *report);
    } else {
      out << report->target << ": " << (ok ? "ok" : "DIFFERS") << " (version "
          << report->target_version << " of source " << report->source_version << ", "
          << report->commits_checked << " commits and " << report->files_checked << " files checked"
          << (checksum ? " with checksums" : "") << ")\n";
      WriteProblems(out, *report);
    }
  }
  w.EndArray();
  if (g.json) out << w.str() << "\n";
  return all_ok ? kExitOk : kExitJobFailed;
}

}  // namespace lakesync::runner
