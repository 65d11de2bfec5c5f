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

int ReportStoreOpenError(const Status& s, std::ostream& err) {
  return ReportError(s, err,
                     s.code() == StatusCode::kInvalidArgument ? kExitUsage : kExitStateStore);
}

Result<Config> LoadGlobalConfig(const GlobalOptions& g) {
  if (g.config_path.empty()) {
    return Status::InvalidArgument(
        "no configuration file: pass -c FILE (or set LAKESYNC_CONFIG=FILE)");
  }
  return LoadConfigFile(g.config_path);
}

Result<const JobConfig*> FindConfiguredJob(const Config& config, const GlobalOptions& g,
                                           const std::string& name) {
  const JobConfig* job = config.FindJob(name);
  if (job == nullptr) {
    return Status::InvalidArgument("no job named \"" + name + "\" in " + g.config_path +
                                   "; `lakesync status` lists the configured jobs");
  }
  return job;
}

Result<delta::NonIctTimestampPolicy> TimestampsOption(const std::string& value) {
  if (value.empty()) return delta::NonIctTimestampPolicy::kFileModificationTime;
  auto p = delta::ParseNonIctTimestampPolicy(value);
  if (!p.ok()) return p.status().WithContext("--timestamps");
  return *p;
}

std::string FormatOptionalTime(const std::optional<TimePoint>& t) {
  return t ? FormatTimestamp(*t) : "-";
}

}  // namespace lakesync::runner
