#pragma once

// The process exit codes of the lakesync CLI (documented in the README).

namespace lakesync::runner {

inline constexpr int kExitOk = 0;
inline constexpr int kExitJobFailed = 1;   // a run (or verify) failed
inline constexpr int kExitUsage = 2;       // bad command line or configuration
inline constexpr int kExitStateStore = 3;  // PostgreSQL unreachable or unusable

}  // namespace lakesync::runner
