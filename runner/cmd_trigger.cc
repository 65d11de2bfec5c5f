#include <ostream>

#include "runner/commands.h"
#include "runner/exit_codes.h"

namespace lakesync::runner {

int CmdTrigger(const GlobalOptions&, const TriggerOptions&, std::ostream&, std::ostream& err) {
  err << "lakesync: trigger: not available in this version of lakesync\n";
  return kExitUsage;
}

}  // namespace lakesync::runner
