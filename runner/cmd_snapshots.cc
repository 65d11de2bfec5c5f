#include <ostream>

#include "runner/commands.h"
#include "runner/exit_codes.h"

namespace lakesync::runner {

int CmdSnapshots(const GlobalOptions&, const std::string&, std::ostream&, std::ostream& err) {
  err << "lakesync: snapshots: not available in this version of lakesync\n";
  return kExitUsage;
}

}  // namespace lakesync::runner
