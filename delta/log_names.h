#pragma once

// log_names: the one place that builds and parses the names of files under `_delta_log/`
// (in the spirit of LevelDB's db/filename.h). See docs: DELTA_NOTES §1.
//
//   00000000000000000007.json                                     commit 7
//   00000000000000000010.checkpoint.parquet                       classic checkpoint 10
//   00000000000000000010.checkpoint.0000000001.0000000003.parquet part 1 of 3 of checkpoint 10
//   00000000000000000010.checkpoint.<uuid>.json|parquet           UUID-named V2 checkpoint
//   00000000000000000004.00000000000000000009.compacted.json      log compaction of 4..9
//   00000000000000000007.crc                                      checksum of version 7
//   _last_checkpoint                                              checkpoint hint
//   _sidecars/<name>.parquet                                      V2 checkpoint sidecar
//   _staged_commits/00000000000000000007.<uuid>.json              NOT a commit (catalog-owned)
//
// Builders always write 20-digit zero-padded versions. The parser accepts any run of decimal
// digits that fits in int64 (a non-padded "7.json" is read as version 7, so that a listing can
// notice it aliases "00000000000000000007.json"); everything else — dot-files, `*.tmp`,
// non-numeric names, names in other subdirectories — is ignored (nullopt).
//
// Thread-safety: pure functions.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace lakesync::delta {

inline constexpr std::string_view kDeltaLogDir = "_delta_log";
inline constexpr std::string_view kLastCheckpointName = "_last_checkpoint";
inline constexpr std::string_view kSidecarsDir = "_sidecars";
inline constexpr std::string_view kStagedCommitsDir = "_staged_commits";

enum class LogFileKind {
  kCommit,               // V.json
  kClassicCheckpoint,    // V.checkpoint.parquet
  kMultiPartCheckpoint,  // V.checkpoint.P.N.parquet
  kUuidCheckpoint,       // V.checkpoint.<uuid>.json|parquet
  kCompaction,           // X.Y.compacted.json
  kChecksum,             // V.crc
  kLastCheckpoint,       // _last_checkpoint
  kSidecar,              // _sidecars/<name>.parquet
  kStagedCommit,         // _staged_commits/V.<uuid>.json (never a commit)
};

std::string_view LogFileKindName(LogFileKind kind);

struct LogFile {
  LogFileKind kind = LogFileKind::kCommit;
  // The version (start version for a compaction); -1 for _last_checkpoint and sidecars.
  int64_t version = -1;
  // Compaction only: the last version covered.
  int64_t end_version = -1;
  // Multi-part checkpoints only: 1-based part number and the number of parts.
  int32_t part = 0;
  int32_t num_parts = 0;
  // UUID checkpoints and staged commits: the uuid text; sidecars: the file name.
  std::string uuid;
  // UUID checkpoints: true for .parquet, false for .json. Classic/multi-part: true.
  bool parquet = false;
  // The name as given (relative to _delta_log/).
  std::string name;

  bool IsCheckpoint() const {
    return kind == LogFileKind::kClassicCheckpoint || kind == LogFileKind::kMultiPartCheckpoint ||
           kind == LogFileKind::kUuidCheckpoint;
  }
};

// Names relative to `_delta_log/`.
std::string VersionPrefix(int64_t version);  // "00000000000000000007"
std::string CommitFileName(int64_t version);
std::string CheckpointFileName(int64_t version);
std::string MultiPartCheckpointFileName(int64_t version, int32_t part, int32_t num_parts);
std::string UuidCheckpointFileName(int64_t version, std::string_view uuid, bool parquet);
std::string CompactionFileName(int64_t start_version, int64_t end_version);
std::string ChecksumFileName(int64_t version);
std::string SidecarFileName(std::string_view name);  // "_sidecars/<name>"

// `name` is relative to `_delta_log/` ("00000000000000000007.json", "_sidecars/x.parquet").
// Returns nullopt for anything that is not a Delta log file (see the header comment).
std::optional<LogFile> ParseLogFileName(std::string_view name);

// Storage keys. `table_prefix` is the table's key prefix inside a Storage ("" for the storage
// root, "delta/sales" — with or without a trailing '/').
std::string LogDirKey(std::string_view table_prefix);  // "delta/sales/_delta_log/"
std::string LogFileKey(std::string_view table_prefix, std::string_view name);

}  // namespace lakesync::delta
