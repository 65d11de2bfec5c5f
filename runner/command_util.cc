#include "runner/command_util.h"

#include <ostream>

#include "common/duration.h"
#include "runner/exit_codes.h"

namespace lakesync::runner {

int ReportError(const Status& s, std::ostream& err, int otherwise) {
  err << "lakesync: " << s.message() << "\n";
  if (s.code() == StatusCode::kUnavailable) return kExitStateStore;
  return otherwise;
}

Result<Config> LoadGlobalConfig(const GlobalOptions& g) {
  if (g.config_path.empty()) {
    return Status::InvalidArgument(
        "no configuration file: pass -c FILE (or set LAKESYNC_CONFIG=FILE)");
  }
  return LoadConfigFile(g.config_path);
}

std::string FormatOptionalTime(const std::optional<TimePoint>& t) {
  return t ? FormatTimestamp(*t) : "-";
}

}  // namespace lakesync::runner
