#include "delta/log_names.h"

#include <charconv>
#include <vector>

#include <fmt/format.h>

namespace lakesync::delta {
namespace {

// A run of 1..20 decimal digits that fits in int64. Signs, spaces and empty strings are not
// versions (std::from_chars alone would accept a leading '-').
std::optional<int64_t> ParseDigits(std::string_view s) {
  if (s.empty() || s.size() > 20) return std::nullopt;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  int64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  return v;
}

std::vector<std::string_view> SplitDots(std::string_view s) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    size_t dot = s.find('.', start);
    if (dot == std::string_view::npos) {
      out.push_back(s.substr(start));
      return out;
    }
    out.push_back(s.substr(start, dot - start));
    start = dot + 1;
  }
}

bool IsUuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return false;
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
      return false;
    }
  }
  return true;
}

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

}  // namespace

std::string_view LogFileKindName(LogFileKind kind) {
  switch (kind) {
    case LogFileKind::kCommit:
      return "commit";
    case LogFileKind::kClassicCheckpoint:
      return "classic checkpoint";
    case LogFileKind::kMultiPartCheckpoint:
      return "multi-part checkpoint";
    case LogFileKind::kUuidCheckpoint:
      return "UUID-named checkpoint";
    case LogFileKind::kCompaction:
      return "log compaction";
    case LogFileKind::kChecksum:
      return "checksum";
    case LogFileKind::kLastCheckpoint:
      return "_last_checkpoint";
    case LogFileKind::kSidecar:
      return "sidecar";
    case LogFileKind::kStagedCommit:
      return "staged commit";
  }
  return "unknown";
}

std::string VersionPrefix(int64_t version) { return fmt::format("{:020d}", version); }

std::string CommitFileName(int64_t version) { return VersionPrefix(version) + ".json"; }

std::string CheckpointFileName(int64_t version) {
  return VersionPrefix(version) + ".checkpoint.parquet";
}

std::string MultiPartCheckpointFileName(int64_t version, int32_t part, int32_t num_parts) {
  return fmt::format("{:020d}.checkpoint.{:010d}.{:010d}.parquet", version, part, num_parts);
}

std::string UuidCheckpointFileName(int64_t version, std::string_view uuid, bool parquet) {
  return fmt::format("{:020d}.checkpoint.{}.{}", version, uuid, parquet ? "parquet" : "json");
}

std::string CompactionFileName(int64_t start_version, int64_t end_version) {
  return fmt::format("{:020d}.{:020d}.compacted.json", start_version, end_version);
}

std::string ChecksumFileName(int64_t version) { return VersionPrefix(version) + ".crc"; }

std::string SidecarFileName(std::string_view name) {
  return fmt::format("{}/{}", kSidecarsDir, name);
}

std::optional<LogFile> ParseLogFileName(std::string_view name) {
  LogFile f;
  f.name = std::string(name);

  // Subdirectories: only _sidecars/ and _staged_commits/ mean anything, one level deep.
  size_t slash = name.find('/');
  if (slash != std::string_view::npos) {
    std::string_view dir = name.substr(0, slash);
    std::string_view base = name.substr(slash + 1);
    if (base.empty() || base.find('/') != std::string_view::npos || base[0] == '.' ||
        EndsWith(base, ".tmp")) {
      return std::nullopt;
    }
    if (dir == kSidecarsDir) {
      if (!EndsWith(base, ".parquet") || base.size() == 8) return std::nullopt;
      f.kind = LogFileKind::kSidecar;
      f.uuid = std::string(base);
      f.parquet = true;
      return f;
    }
    if (dir == kStagedCommitsDir) {
      auto parts = SplitDots(base);
      if (parts.size() != 3 || parts[2] != "json") return std::nullopt;
      auto v = ParseDigits(parts[0]);
      if (!v || !IsUuid(parts[1])) return std::nullopt;
      f.kind = LogFileKind::kStagedCommit;
      f.version = *v;
      f.uuid = std::string(parts[1]);
      return f;
    }
    return std::nullopt;
  }

  if (name == kLastCheckpointName) {
    f.kind = LogFileKind::kLastCheckpoint;
    return f;
  }
  if (name.empty() || name[0] == '.' || EndsWith(name, ".tmp")) return std::nullopt;

  auto parts = SplitDots(name);
  auto v = ParseDigits(parts[0]);
  if (!v) return std::nullopt;
  f.version = *v;

  if (parts.size() == 2 && parts[1] == "json") {
    f.kind = LogFileKind::kCommit;
    return f;
  }
  if (parts.size() == 2 && parts[1] == "crc") {
    f.kind = LogFileKind::kChecksum;
    return f;
  }
  if (parts.size() >= 3 && parts[1] == "checkpoint") {
    if (parts.size() == 3 && parts[2] == "parquet") {
      f.kind = LogFileKind::kClassicCheckpoint;
      f.parquet = true;
      return f;
    }
    if (parts.size() == 5 && parts[4] == "parquet") {
      auto part = ParseDigits(parts[2]);
      auto num = ParseDigits(parts[3]);
      if (!part || !num || *part < 1 || *num < 1 || *part > *num || *num > INT32_MAX) {
        return std::nullopt;
      }
      f.kind = LogFileKind::kMultiPartCheckpoint;
      f.part = static_cast<int32_t>(*part);
      f.num_parts = static_cast<int32_t>(*num);
      f.parquet = true;
      return f;
    }
    if (parts.size() == 4 && (parts[3] == "json" || parts[3] == "parquet") && IsUuid(parts[2])) {
      f.kind = LogFileKind::kUuidCheckpoint;
      f.uuid = std::string(parts[2]);
      f.parquet = parts[3] == "parquet";
      return f;
    }
    return std::nullopt;
  }
  if (parts.size() == 4 && parts[2] == "compacted" && parts[3] == "json") {
    auto end = ParseDigits(parts[1]);
    if (!end || *end < f.version) return std::nullopt;
    f.kind = LogFileKind::kCompaction;
    f.end_version = *end;
    return f;
  }
  return std::nullopt;
}

std::string LogDirKey(std::string_view table_prefix) {
  std::string key(table_prefix);
  while (!key.empty() && key.back() == '/') key.pop_back();
  if (!key.empty()) key += '/';
  key += kDeltaLogDir;
  key += '/';
  return key;
}

std::string LogFileKey(std::string_view table_prefix, std::string_view name) {
  return LogDirKey(table_prefix) + std::string(name);
}

}  // namespace lakesync::delta
