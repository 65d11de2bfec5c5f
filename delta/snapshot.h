#pragma once

// Snapshot: the state of a Delta table at one version, replayed from its commits
// (DELTA_NOTES §2 "Live files"): latest protocol and metaData win; the latest txn per appId;
// the latest domainMetadata per domain (removed = tombstone, dropped from the state); a
// logical file is keyed by (path, deletion-vector id) and the newest add/remove of a key
// wins, applied in log order (a DV update is remove(old dv) + add(new dv) of the same path).
//
// Built by SnapshotBuilder (commit by commit) or ReplayCommits; immutable afterwards.
// Thread-safety: a built Snapshot is a value, safe to share read-only; a builder is not.

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "delta/actions.h"

namespace lakesync::delta {

struct LiveFile {
  Add add;                    // the newest add of this (path, dvId), with its raw JSON
  int64_t added_version = 0;  // the commit that added it
};

class Snapshot {
 public:
  int64_t version() const { return version_; }
  const Protocol& protocol() const { return protocol_; }
  const Metadata& metadata() const { return metadata_; }
  // Live files sorted by (decoded path, DV unique id).
  const std::vector<LiveFile>& files() const { return files_; }
  // appId → the newest txn of that appId.
  const std::map<std::string, Txn>& txns() const { return txns_; }
  // domain → the newest domainMetadata of that domain, when not removed.
  const std::map<std::string, DomainMetadata>& domains() const { return domains_; }
  // Every commit version replayed to build this snapshot, ascending.
  const std::vector<int64_t>& commit_versions() const { return commit_versions_; }

  int64_t num_files() const { return static_cast<int64_t>(files_.size()); }
  // Sum of the live files' sizes.
  int64_t bytes() const { return bytes_; }
  // Sum over live files of stats.numRecords minus DV cardinality. Only files whose add has
  // numRecords count; rows_exact() is false when some live add lacks it.
  int64_t rows() const { return rows_; }
  bool rows_exact() const { return files_without_stats_ == 0; }
  int64_t files_without_stats() const { return files_without_stats_; }

  // The version recorded by the newest txn of `app_id`, if any.
  std::optional<int64_t> TxnVersion(std::string_view app_id) const;

 private:
  friend class SnapshotBuilder;
  Snapshot() = default;

  int64_t version_ = -1;
  Protocol protocol_;
  Metadata metadata_;
  std::vector<LiveFile> files_;
  std::map<std::string, Txn> txns_;
  std::map<std::string, DomainMetadata> domains_;
  std::vector<int64_t> commit_versions_;
  int64_t bytes_ = 0;
  int64_t rows_ = 0;
  int64_t files_without_stats_ = 0;
};

class SnapshotBuilder {
 public:
  SnapshotBuilder() = default;

  // Applies the next commit. The first commit must be version 0 and each next one the
  // previous + 1; otherwise Corruption ("commit N missing between M and K").
  Status Apply(Commit commit);

  // The state after the last applied commit. Corruption when no commit was applied or the
  // replayed log holds no protocol or no metaData action. The builder is left empty.
  Result<Snapshot> Build() &&;

 private:
  int64_t version_ = -1;
  std::optional<Protocol> protocol_;
  std::optional<Metadata> metadata_;
  std::unordered_map<std::string, LiveFile> files_;
  std::map<std::string, Txn> txns_;
  std::map<std::string, DomainMetadata> domains_;
  std::vector<int64_t> commit_versions_;
};

// Replays commits 0..N (in order, contiguous) into a snapshot at N.
Result<Snapshot> ReplayCommits(std::vector<Commit> commits);

// The key of a logical file: decoded path + '\0' + DV unique id ("" without a DV).
std::string LogicalFileKey(std::string_view decoded_path,
                           const std::optional<DeletionVectorDescriptor>& dv);

}  // namespace lakesync::delta
