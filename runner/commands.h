#pragma once

// One function per CLI subcommand. Each returns the process exit code and writes its result
// to `out` (stdout) and its errors to `err` (stderr).

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

namespace lakesync::runner {

struct GlobalOptions {
  std::string config_path;  // -c/--config or LAKESYNC_CONFIG; may be empty
  bool json = false;        // --json on read commands
};

int CmdValidate(const GlobalOptions& g, const std::vector<std::string>& files, std::ostream& out,
                std::ostream& err);
int CmdDbMigrate(const GlobalOptions& g, std::ostream& out, std::ostream& err);
int CmdStatus(const GlobalOptions& g, std::ostream& out, std::ostream& err);
int CmdHistory(const GlobalOptions& g, const std::string& job, int limit, std::ostream& out,
               std::ostream& err);

struct RunOptions {
  std::string job;
  std::optional<int64_t> to_version;
};
int CmdRun(const GlobalOptions& g, const RunOptions& o, std::ostream& out, std::ostream& err);
int CmdVerify(const GlobalOptions& g, const std::string& job, bool checksum, std::ostream& out,
              std::ostream& err);

struct InspectOptions {
  std::string url;
  std::optional<int64_t> version;
  std::string as_of;
  bool files = false;
};
int CmdInspect(const GlobalOptions& g, const InspectOptions& o, std::ostream& out,
               std::ostream& err);

}  // namespace lakesync::runner
