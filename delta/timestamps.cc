#include "delta/timestamps.h"

#include <charconv>

#include <fmt/format.h>

#include "common/duration.h"

namespace lakesync::delta {

std::string_view TimestampSourceName(TimestampSource source) {
  switch (source) {
    case TimestampSource::kInCommitTimestamp:
      return "inCommitTimestamp";
    case TimestampSource::kCommitInfo:
      return "commitInfo.timestamp";
    case TimestampSource::kFileModificationTime:
      return "file modification time";
  }
  return "unknown";
}

std::string_view NonIctTimestampPolicyName(NonIctTimestampPolicy policy) {
  return policy == NonIctTimestampPolicy::kCommitInfoThenFile ? "commit_info" : "modification_time";
}

Result<NonIctTimestampPolicy> ParseNonIctTimestampPolicy(std::string_view name) {
  for (auto p :
       {NonIctTimestampPolicy::kFileModificationTime, NonIctTimestampPolicy::kCommitInfoThenFile}) {
    if (name == NonIctTimestampPolicyName(p)) return p;
  }
  return Status::InvalidArgument(fmt::format(
      "'{}' is not a timestamp source; use modification_time (the commit file's modification "
      "time, as Delta readers do; the default) or commit_info (commitInfo.timestamp, for a "
      "table copied by a tool that reset modification times)",
      name));
}

CommitTimeInput CommitTimeInputOf(const Commit& commit, TimePoint file_modification_time) {
  CommitTimeInput in;
  in.version = commit.version;
  in.file_modification_time = file_modification_time;
  if (const CommitInfo* ci = commit.FindCommitInfo()) {
    in.in_commit_timestamp = ci->in_commit_timestamp;
    in.commit_info_timestamp = ci->timestamp;
  }
  return in;
}

Result<std::optional<int64_t>> IctEnablementVersion(const Metadata& metadata) {
  auto enabled = metadata.configuration.find("delta.enableInCommitTimestamps");
  if (enabled == metadata.configuration.end() || enabled->second != "true") {
    return std::optional<int64_t>();
  }
  auto ver = metadata.configuration.find("delta.inCommitTimestampEnablementVersion");
  if (ver == metadata.configuration.end()) return std::optional<int64_t>(0);
  int64_t v = 0;
  const std::string& s = ver->second;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size() || v < 0) {
    return Status::InvalidArgument(fmt::format(
        "table property delta.inCommitTimestampEnablementVersion='{}' is not a version number", s));
  }
  return std::optional<int64_t>(v);
}

Result<std::vector<CommitTimestamp>> ComputeCommitTimestamps(
    std::span<const CommitTimeInput> inputs, std::optional<int64_t> ict_enablement_version,
    NonIctTimestampPolicy policy) {
  std::vector<CommitTimestamp> out;
  out.reserve(inputs.size());
  for (const auto& in : inputs) {
    CommitTimestamp ts;
    ts.version = in.version;
    if (ict_enablement_version && in.version >= *ict_enablement_version) {
      if (!in.in_commit_timestamp) {
        return Status::Corruption(fmt::format(
            "commit {} has no commitInfo.inCommitTimestamp although in-commit timestamps are "
            "enabled from version {}; the commit was not written by an ICT-aware writer",
            in.version, *ict_enablement_version));
      }
      ts.timestamp = FromUnixMillis(*in.in_commit_timestamp);
      ts.source = TimestampSource::kInCommitTimestamp;
    } else {
      if (policy == NonIctTimestampPolicy::kCommitInfoThenFile && in.commit_info_timestamp) {
        ts.timestamp = FromUnixMillis(*in.commit_info_timestamp);
        ts.source = TimestampSource::kCommitInfo;
      } else {
        ts.timestamp = FromUnixMillis(ToUnixMillis(in.file_modification_time));
        ts.source = TimestampSource::kFileModificationTime;
      }
      // Delta readers make non-ICT commit times strictly increasing so that "as of" is
      // well defined even when clocks or copies disagree.
      if (!out.empty() && ts.timestamp <= out.back().timestamp) {
        ts.timestamp = out.back().timestamp + std::chrono::milliseconds(1);
      }
    }
    out.push_back(ts);
  }
  return out;
}

Result<int64_t> VersionAsOf(std::span<const CommitTimestamp> timestamps, TimePoint t) {
  if (timestamps.empty()) {
    return Status::NotFound("the table has no commits to travel to");
  }
  if (t < timestamps.front().timestamp) {
    return Status::NotFound(fmt::format(
        "{} is before the earliest available commit (version {} at {}); choose a time at or "
        "after {}",
        FormatTimestamp(t), timestamps.front().version,
        FormatTimestamp(timestamps.front().timestamp),
        FormatTimestamp(timestamps.front().timestamp)));
  }
  // Linear from the end: timestamps are increasing except possibly across the ICT boundary,
  // and "latest version with timestamp ≤ t" is what readers define.
  for (auto it = timestamps.rbegin(); it != timestamps.rend(); ++it) {
    if (it->timestamp <= t) return it->version;
  }
  return timestamps.front().version;  // unreachable: front() <= t
}

}  // namespace lakesync::delta
