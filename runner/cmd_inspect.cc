#include <filesystem>
#include <ostream>

#include "common/duration.h"
#include "common/uri.h"
#include "delta/inspect.h"
#include "runner/command_util.h"
#include "runner/commands.h"
#include "runner/exit_codes.h"

namespace lakesync::runner {

int CmdInspect(const GlobalOptions& g, const InspectOptions& o, std::ostream& out,
               std::ostream& err) {
  // A plain path on the command line means a local table; a relative one is resolved against
  // the working directory (and "..", which the shell user meant, is resolved lexically).
  std::string url = o.url;
  if (url.find("://") == std::string::npos && !url.empty()) {
    std::error_code ec;
    url = std::filesystem::absolute(url, ec).lexically_normal().string();
  }
  Result<Uri> uri = Uri::Parse(url);
  if (!uri.ok()) return ReportError(uri.status(), err, kExitUsage);
  std::optional<TimePoint> as_of;
  if (!o.as_of.empty()) {
    Result<TimePoint> t = ParseTimestamp(o.as_of);
    if (!t.ok()) return ReportError(t.status(), err, kExitUsage);
    as_of = *t;
  }
  Result<delta::NonIctTimestampPolicy> timestamps = TimestampsOption(o.timestamps);
  if (!timestamps.ok()) return ReportError(timestamps.status(), err, kExitUsage);
  if (o.version && *o.version < 0) {
    err << "lakesync: --version must be 0 or more\n";
    return kExitUsage;
  }
  auto storage = storage::OpenStorage(*uri);
  if (!storage.ok()) return ReportError(storage.status(), err, kExitUsage);
  auto report = delta::Inspect(**storage, "", o.version, as_of, *timestamps);
  if (!report.ok()) {
    return ReportError(report.status().WithContext("inspecting " + uri->ToString()), err,
                       kExitJobFailed);
  }
  out << (g.json ? delta::InspectReportToJson(*report, o.files) + "\n"
                 : delta::InspectReportToText(*report, o.files));
  return report->unsupported.empty() ? kExitOk : kExitJobFailed;
}

}  // namespace lakesync::runner
