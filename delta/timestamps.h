#pragma once

// Commit timestamps and "as of timestamp" time travel (DELTA_NOTES §3).
//
// For versions at or after `delta.inCommitTimestampEnablementVersion` of a table with
// `delta.enableInCommitTimestamps=true` (enabled from version 0 when the enablement version
// is absent), a commit's time is commitInfo.inCommitTimestamp. Before that, the default
// (kFileModificationTime) is the commit file's modification time, as Delta readers define it:
// commitInfo.timestamp is never authoritative. kCommitInfoThenFile, an operator's explicit
// choice, takes commitInfo.timestamp (falling back to the modification time) for a table that
// was copied by a tool that reset modification times. Either way, non-ICT timestamps are
// forced to increase (+1 ms over the previous commit) as Delta readers do.
//
// Thread-safety: pure functions over values.

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "delta/actions.h"

namespace lakesync::delta {

enum class TimestampSource { kInCommitTimestamp, kCommitInfo, kFileModificationTime };
std::string_view TimestampSourceName(TimestampSource source);

enum class NonIctTimestampPolicy { kFileModificationTime, kCommitInfoThenFile };

// How the configuration and the CLI spell a policy: "modification_time" | "commit_info".
std::string_view NonIctTimestampPolicyName(NonIctTimestampPolicy policy);
// InvalidArgument naming both accepted spellings otherwise.
Result<NonIctTimestampPolicy> ParseNonIctTimestampPolicy(std::string_view name);

// What a commit contributes to its timestamp.
struct CommitTimeInput {
  int64_t version = 0;
  std::optional<int64_t> in_commit_timestamp;    // commitInfo.inCommitTimestamp (ms)
  std::optional<int64_t> commit_info_timestamp;  // commitInfo.timestamp (ms)
  TimePoint file_modification_time;
};

struct CommitTimestamp {
  int64_t version = 0;
  TimePoint timestamp;
  TimestampSource source = TimestampSource::kCommitInfo;
};

CommitTimeInput CommitTimeInputOf(const Commit& commit, TimePoint file_modification_time);

// The version from which in-commit timestamps apply, or nullopt when they are off.
// InvalidArgument when the enablement version property is not a number.
Result<std::optional<int64_t>> IctEnablementVersion(const Metadata& metadata);

// `inputs` ascending by version (contiguous or not). Corruption when a commit at or after the
// ICT enablement version lacks inCommitTimestamp.
Result<std::vector<CommitTimestamp>> ComputeCommitTimestamps(
    std::span<const CommitTimeInput> inputs, std::optional<int64_t> ict_enablement_version,
    NonIctTimestampPolicy policy = NonIctTimestampPolicy::kFileModificationTime);

// The latest version whose timestamp is ≤ t. NotFound naming the earliest available time
// when t is before the first commit; NotFound when `timestamps` is empty.
Result<int64_t> VersionAsOf(std::span<const CommitTimestamp> timestamps, TimePoint t);

}  // namespace lakesync::delta
