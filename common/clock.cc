#include "common/clock.h"

namespace lakesync {

const SystemClock& SystemClock::Instance() {
  static const SystemClock clock;
  return clock;
}

}  // namespace lakesync
