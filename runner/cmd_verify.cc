#include <ostream>

#include "common/json_writer.h"
#include "jobs/incremental.h"
#include "runner/command_util.h"
#include "runner/commands.h"
#include "runner/exit_codes.h"
#include "runner/tables.h"

namespace lakesync::runner {

int CmdVerify(const GlobalOptions& g, const std::string& job_name, bool checksum, std::ostream& out,
              std::ostream& err) {
  Result<Config> config = LoadGlobalConfig(g);
  if (!config.ok()) return ReportError(config.status(), err, kExitUsage);
  auto found = FindConfiguredJob(*config, g, job_name);
  if (!found.ok()) return ReportError(found.status(), err, kExitUsage);
  const JobConfig* job = *found;
  if (job->kind != JobKind::kIncremental) {
    err << "lakesync: verify checks incremental jobs; " << job->name << " is a "
        << JobKindName(job->kind) << " job\n";
    return kExitUsage;
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
      w.BeginObject()
          .Key("target")
          .String(report->target)
          .Key("ok")
          .Bool(ok)
          .Key("target_version")
          .Int(report->target_version)
          .Key("source_version")
          .Int(report->source_version)
          .Key("commits_checked")
          .Int(report->commits_checked)
          .Key("files_checked")
          .Int(report->files_checked)
          .Key("problems")
          .BeginArray();
      for (const auto& p : report->problems) w.String(p);
      w.EndArray().EndObject();
    } else {
      out << report->target << ": " << (ok ? "ok" : "DIFFERS") << " (version "
          << report->target_version << " of source " << report->source_version << ", "
          << report->commits_checked << " commits and " << report->files_checked << " files checked"
          << (checksum ? " with checksums" : "") << ")\n";
      for (const auto& p : report->problems) out << "  " << p << "\n";
    }
  }
  w.EndArray();
  if (g.json) out << w.str() << "\n";
  return all_ok ? kExitOk : kExitJobFailed;
}

}  // namespace lakesync::runner
