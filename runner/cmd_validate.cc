#include <ostream>

#include "runner/command_util.h"
#include "runner/commands.h"
#include "runner/exit_codes.h"

namespace lakesync::runner {

int CmdValidate(const GlobalOptions& g, const std::vector<std::string>& files, std::ostream& out,
                std::ostream& err) {
  std::vector<std::string> paths = files;
  if (paths.empty() && !g.config_path.empty()) paths.push_back(g.config_path);
  if (paths.empty()) {
    err << "lakesync: nothing to validate: pass -c FILE or name the files "
           "(lakesync validate FILE...)\n";
    return kExitUsage;
  }
  int code = kExitOk;
  for (const auto& path : paths) {
    Result<Config> config = LoadConfigFile(path);
    if (!config.ok()) {
      // The loader's message already names file:line:col for each problem.
      err << config.status().message() << "\n";
      code = kExitUsage;
      continue;
    }
    out << path << ": ok (" << config->jobs.size() << (config->jobs.size() == 1 ? " job" : " jobs")
        << ", " << config->locations.size()
        << (config->locations.size() == 1 ? " location" : " locations") << ")\n";
  }
  return code;
}

}  // namespace lakesync::runner
