#include "delta/snapshot.h"

#include <algorithm>

#include <fmt/format.h>

namespace lakesync::delta {

std::string LogicalFileKey(std::string_view decoded_path,
                           const std::optional<DeletionVectorDescriptor>& dv) {
  std::string key(decoded_path);
  key += '\0';
  if (dv) key += dv->UniqueId();
  return key;
}

std::optional<int64_t> Snapshot::TxnVersion(std::string_view app_id) const {
  auto it = txns_.find(std::string(app_id));
  if (it == txns_.end()) return std::nullopt;
  return it->second.version;
}

Status SnapshotBuilder::Apply(Commit commit) {
  int64_t expected = version_ + 1;
  if (commit.version != expected) {
    if (commit.version > expected) {
      return Status::Corruption(expected == commit.version - 1
                                    ? fmt::format("commit {} missing between {} and {}", expected,
                                                  version_, commit.version)
                                    : fmt::format("commits {} to {} missing between {} and {}",
                                                  expected, commit.version - 1, version_,
                                                  commit.version));
    }
    return Status::InvalidArgument(fmt::format(
        "commit {} applied out of order (expected {}); commits must be replayed in ascending "
        "version order",
        commit.version, expected));
  }
  const int64_t v = commit.version;
  for (auto& action : commit.actions) {
    if (auto* add = std::get_if<Add>(&action)) {
      auto [it, inserted] =
          files_.try_emplace(LogicalFileKey(add->decoded_path, add->deletion_vector));
      it->second.add = std::move(*add);
      it->second.added_version = v;
    } else if (auto* rm = std::get_if<Remove>(&action)) {
      files_.erase(LogicalFileKey(rm->decoded_path, rm->deletion_vector));
    } else if (auto* p = std::get_if<Protocol>(&action)) {
      protocol_ = std::move(*p);
    } else if (auto* m = std::get_if<Metadata>(&action)) {
      metadata_ = std::move(*m);
    } else if (auto* t = std::get_if<Txn>(&action)) {
      std::string app = t->app_id;
      txns_.insert_or_assign(std::move(app), std::move(*t));
    } else if (auto* d = std::get_if<DomainMetadata>(&action)) {
      if (d->removed) {
        domains_.erase(d->domain);
      } else {
        std::string domain = d->domain;
        domains_.insert_or_assign(std::move(domain), std::move(*d));
      }
    }
    // cdc, commitInfo, sidecar, checkpointMetadata and unknown actions do not change the
    // live state.
  }
  version_ = v;
  commit_versions_.push_back(v);
  return Status::OK();
}

Result<Snapshot> SnapshotBuilder::Build() && {
  if (version_ < 0) {
    return Status::Corruption("no commits to replay; a Delta table starts with commit 0");
  }
  if (!protocol_) {
    return Status::Corruption(fmt::format(
        "no protocol action in commits 0..{}; version 0 of a Delta table must hold one (the "
        "log is damaged or this is not a Delta table)",
        version_));
  }
  if (!metadata_) {
    return Status::Corruption(fmt::format(
        "no metaData action in commits 0..{}; version 0 of a Delta table must hold one (the "
        "log is damaged or this is not a Delta table)",
        version_));
  }
  Snapshot s;
  s.version_ = version_;
  s.protocol_ = std::move(*protocol_);
  s.metadata_ = std::move(*metadata_);
  s.txns_ = std::move(txns_);
  s.domains_ = std::move(domains_);
  s.commit_versions_ = std::move(commit_versions_);
  // Sort pointers, not the (large) LiveFile values, then move each file exactly once.
  std::vector<std::pair<const std::string*, LiveFile*>> sorted;
  sorted.reserve(files_.size());
  for (auto& [key, file] : files_) sorted.emplace_back(&key, &file);
  std::sort(sorted.begin(), sorted.end(),
            [](const auto& a, const auto& b) { return *a.first < *b.first; });
  s.files_.reserve(sorted.size());
  for (auto& [key, ptr] : sorted) {
    LiveFile& file = *ptr;
    s.bytes_ += file.add.size;
    if (file.add.num_records) {
      s.rows_ += *file.add.num_records;
      if (file.add.deletion_vector) s.rows_ -= file.add.deletion_vector->cardinality;
    } else {
      ++s.files_without_stats_;
    }
    s.files_.push_back(std::move(file));
  }
  files_.clear();
  version_ = -1;
  return s;
}

Result<Snapshot> ReplayCommits(std::vector<Commit> commits) {
  SnapshotBuilder builder;
  for (auto& c : commits) LAKESYNC_RETURN_IF_ERROR(builder.Apply(std::move(c)));
  return std::move(builder).Build();
}

}  // namespace lakesync::delta
