#pragma once

// Helpers shared by the CLI commands.

#include <iosfwd>
#include <string>

#include "common/clock.h"
#include "common/status.h"
#include "delta/timestamps.h"
#include "runner/commands.h"
#include "runner/config.h"

namespace lakesync::runner {

// Prints "lakesync: <message>" to `err` and returns the exit code for the status:
// Unavailable → 3 (state store), InvalidArgument/NotFound while loading configuration → 2,
// anything else → `otherwise`.
int ReportError(const Status& s, std::ostream& err, int otherwise);
// For a state store that could not be opened: a rejected login, a missing database or a bad
// URL is a configuration error (exit 2), anything else an unusable state store (exit 3).
int ReportStoreOpenError(const Status& s, std::ostream& err);

// Loads the -c/LAKESYNC_CONFIG file; InvalidArgument when none was given.
Result<Config> LoadGlobalConfig(const GlobalOptions& g);

// The job called `name`; InvalidArgument (exit 2) naming the file and pointing at `status`
// when there is none.
Result<const JobConfig*> FindConfiguredJob(const Config& config, const GlobalOptions& g,
                                           const std::string& name);

// The value of --timestamps; an empty one is the default (modification_time). InvalidArgument
// (exit 2) naming the option and both accepted values otherwise.
Result<delta::NonIctTimestampPolicy> TimestampsOption(const std::string& value);

// "2026-11-22T02:00:00Z", or "-" for nullopt.
std::string FormatOptionalTime(const std::optional<TimePoint>& t);

}  // namespace lakesync::runner
