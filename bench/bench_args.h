#pragma once

// Argument helpers shared by the bench/ tools.

#include <cstdint>
#include <optional>
#include <string_view>

namespace lakesync::bench {

// A non-negative decimal integer, or nullopt (empty, a non-digit, or overflow).
inline std::optional<int64_t> ParseInt(std::string_view s) {
  if (s.empty()) return std::nullopt;
  int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9' || v > (INT64_MAX - 9) / 10) return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v;
}

}  // namespace lakesync::bench
