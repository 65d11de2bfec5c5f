#include <ostream>

#include "runner/commands.h"
#include "runner/exit_codes.h"

namespace lakesync::runner {

int CmdDaemon(const GlobalOptions&, std::ostream&, std::ostream& err) {
  err << "lakesync: daemon: not available in this version of lakesync\n";
  return kExitUsage;
}

}  // namespace lakesync::runner
