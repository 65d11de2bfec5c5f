#pragma once

// Process-wide logging set-up (spdlog). Human-readable on a terminal, or JSON lines
// ({"ts","level","logger","msg"}) for log shippers. Call once from main before logging.

#include <string_view>

#include "common/status.h"

namespace lakesync {

enum class LogFormat { kText, kJson };

Result<LogFormat> ParseLogFormat(std::string_view name);

// `level`: trace, debug, info, warn, error, off. Logs go to stderr.
Status SetupLogging(LogFormat format, std::string_view level);

// Escapes a string for inclusion in a JSON string literal (without the quotes).
void AppendJsonEscaped(std::string& out, std::string_view s);

}  // namespace lakesync
