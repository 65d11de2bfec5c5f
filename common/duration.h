#pragma once

// Durations as users write them: "500ms", "30s", "5m", "2h", "7d", and sums of those without
// spaces ("1h30m"). Also ISO-8601 UTC timestamps as used by --as-of and snapshot ids.

#include <chrono>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/status.h"

namespace lakesync {

using Duration = std::chrono::milliseconds;

// Errors name the input and list the accepted units. Zero ("0s") is allowed; negative is not.
Result<Duration> ParseDuration(std::string_view text);

// The shortest exact form: 90000ms → "1m30s", 0 → "0s".
std::string FormatDuration(Duration d);

// "2026-11-22T02:00:00Z", "2026-11-22T02:00:00.123Z", "2026-11-22 02:00:00" (UTC),
// "2026-11-22T02:00:00+01:00", or "2026-11-22" (midnight UTC).
Result<TimePoint> ParseTimestamp(std::string_view text);

// "2026-11-22T02:00:00.123Z" (milliseconds shown only when non-zero).
std::string FormatTimestamp(TimePoint t);

}  // namespace lakesync
