#pragma once

// Delta protocol versions and table features (DELTA_NOTES §5, PROTOCOL.md "Table Features").
//
// Reader features exist only at reader version 3 and writer features only at writer version
// 7; lower versions imply a fixed feature set (writer 2 = appendOnly, invariants; 3 adds
// checkConstraints; 4 changeDataFeed, generatedColumns; 5 columnMapping; 6 identityColumns;
// reader 2 = columnMapping).
//
// Thread-safety: pure functions over values.

#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "common/status.h"
#include "delta/actions.h"

namespace lakesync::delta {

enum class FeatureKind {
  kWriterOnly,    // listed in writerFeatures only
  kReaderWriter,  // listed in both readerFeatures and writerFeatures
};

struct FeatureInfo {
  std::string_view name;
  FeatureKind kind;
  // Whose recent commits live outside the table's storage, or that point the table
  // elsewhere: a path-based reader/copier must refuse them (catalogManaged,
  // coordinatedCommits, redirect*).
  bool catalog_or_redirect;
};

// nullptr for a feature name this version of lakesync does not know.
const FeatureInfo* FindFeature(std::string_view name);

// The features a protocol requires of readers / writers, legacy versions expanded.
std::set<std::string> ReaderFeatures(const Protocol& protocol);
std::set<std::string> WriterFeatures(const Protocol& protocol);

// OK when lakesync can read the table from its storage alone. Unsupported, naming them, for
// an unknown reader version (> 3), unknown reader features, or a table whose commits live in
// a catalog or that redirects elsewhere (catalogManaged, coordinatedCommits-preview,
// redirectReaderWriter-preview).
Status CheckReadable(const Protocol& protocol);

// OK when a writer that implements `honoured` may write new commits to a table with this
// protocol. Unsupported naming every writer feature not in `honoured` (unknown names called
// out as unknown; catalog/redirect features with their own explanation), or an unknown
// writer version (> 7). Reader checks are included.
Status CheckWritable(const Protocol& protocol, const std::set<std::string>& honoured);

// The protocol a version checksum file (`V.crc`, JSON, PROTOCOL.md "Version Checksum File")
// records for its version; nullopt when it has no "protocol". Corruption when the file is not
// a JSON object or its protocol is malformed.
Result<std::optional<Protocol>> ProtocolOfChecksum(int64_t version, std::string_view crc_json);

}  // namespace lakesync::delta
