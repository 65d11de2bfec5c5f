#pragma once

// Writing commits (DELTA_NOTES §4): serialise actions to newline-delimited JSON and publish
// `_delta_log/<version>.json` with Storage::PutIfAbsent, so two writers can never both
// create one version.
//
// A parsed action is written as its original line (byte for byte, unknown fields kept);
// an action built in code (empty raw_json) is written canonically: the protocol's field
// names in a fixed order, optional fields omitted when absent. `path` is written as given
// (callers supply the percent-encoded form they read from a log).
//
// Thread-safety: pure functions, plus Storage calls (safe if the Storage is).

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "common/status.h"
#include "delta/actions.h"
#include "storage/storage.h"

namespace lakesync::delta {

// One line, without the newline.
std::string SerializeAction(const Action& action);

// Every action followed by '\n'.
std::string SerializeCommit(std::span<const Action> actions);

// Publishes `bytes` as commit `version` of the table at `table_prefix`. Conflict ("version N
// of <table> already exists (another writer committed first)") when the version exists;
// other storage errors pass through with context.
Status PublishCommit(storage::Storage& storage, std::string_view table_prefix, int64_t version,
                     std::string_view bytes);

// SerializeCommit + PublishCommit.
Status WriteCommit(storage::Storage& storage, std::string_view table_prefix, int64_t version,
                   std::span<const Action> actions);

}  // namespace lakesync::delta
