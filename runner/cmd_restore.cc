#include <ostream>

#include "runner/commands.h"
#include "runner/exit_codes.h"

namespace lakesync::runner {

int CmdRestore(const GlobalOptions&, const RestoreOptions&, std::ostream&, std::ostream& err) {
  err << "lakesync: restore: not available in this version of lakesync\n";
  return kExitUsage;
}

}  // namespace lakesync::runner
