// `lakesync snapshots JOB [--json]`: the snapshots of a snapshot job, read from the manifests in
// the job's target (no PostgreSQL needed: the target is the truth).

#include <ostream>

#include <fmt/format.h>

#include "common/duration.h"
#include "common/json_writer.h"
#include "jobs/snapshot.h"
#include "runner/command_util.h"
#include "runner/commands.h"
#include "runner/exit_codes.h"
#include "runner/progress.h"
#include "runner/table_printer.h"
#include "runner/tables.h"

namespace lakesync::runner {

int CmdSnapshots(const GlobalOptions& g, const std::string& job_name, std::ostream& out,
                 std::ostream& err) {
  Result<Config> config = LoadGlobalConfig(g);
  if (!config.ok()) return ReportError(config.status(), err, kExitUsage);
  auto found = FindConfiguredJob(*config, g, job_name);
  if (!found.ok()) return ReportError(found.status(), err, kExitUsage);
  const JobConfig* job = *found;
  if (job->kind != JobKind::kSnapshot) {
    err << "lakesync: snapshots lists the snapshots of snapshot jobs; " << job->name << " is a "
        << JobKindName(job->kind) << " job\n";
    return kExitUsage;
  }
  auto target = OpenTableRef(job->snapshot.target);
  if (!target.ok()) return ReportError(target.status(), err, kExitJobFailed);
  auto entries = jobs::ListSnapshots(target->location);
  if (!entries.ok()) {
    return ReportError(
        entries.status().WithContext("listing the snapshots in " + job->snapshot.target.text), err,
        kExitJobFailed);
  }
  if (g.json) {
    JsonWriter w;
    w.BeginArray();
    for (const auto& e : *entries) {
      w.BeginObject().Key("id").String(e.id);
      w.Key("status").String(jobs::SnapshotStatusName(e.status));
      if (e.manifest) {
        const auto& m = *e.manifest;
        w.Key("version").Int(m.version);
        w.Key("timestamp").String(FormatTimestamp(m.commit_timestamp));
        w.Key("created_at").String(FormatTimestamp(m.created_at));
        w.Key("files").Int(m.files);
        w.Key("bytes").Int(m.bytes);
        w.Key("rows").Int(m.rows);
        w.Key("rows_exact").Bool(m.rows_exact);
        w.Key("mode").String(jobs::SnapshotModeName(m.mode));
        w.Key("source").String(m.source);
      }
      w.EndObject();
    }
    w.EndArray();
    out << w.str() << "\n";
    return kExitOk;
  }
  if (entries->empty()) {
    out << "no snapshots of " << job->name << " in " << job->snapshot.target.text << "\n";
    return kExitOk;
  }
  TablePrinter table({"ID", "VERSION", "TIMESTAMP", "FILES", "BYTES", "ROWS", "MODE", "STATUS"});
  for (const auto& e : *entries) {
    if (!e.manifest) {
      table.AddRow(
          {e.id, "-", "-", "-", "-", "-", "-", std::string(jobs::SnapshotStatusName(e.status))});
      continue;
    }
    const auto& m = *e.manifest;
    table.AddRow({e.id, std::to_string(m.version), FormatTimestamp(m.commit_timestamp),
                  std::to_string(m.files), FormatBytes(static_cast<double>(m.bytes)),
                  std::to_string(m.rows) + (m.rows_exact ? "" : "+"),
                  std::string(jobs::SnapshotModeName(m.mode)),
                  std::string(jobs::SnapshotStatusName(e.status))});
  }
  table.Print(out);
  return kExitOk;
}

}  // namespace lakesync::runner
