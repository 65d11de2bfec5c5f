#include "jobs/commit_files.h"

#include <algorithm>
#include <unordered_map>

#include <fmt/format.h>

#include "delta/log_names.h"
#include "delta/log_reader.h"
#include "delta/snapshot.h"
#include "delta/timestamps.h"

namespace lakesync::jobs {

std::string_view FileRoleName(FileRole role) {
  switch (role) {
    case FileRole::kData:
      return "data file";
    case FileRole::kDeletionVector:
      return "deletion-vector file";
    case FileRole::kChangeData:
      return "change-data file";
  }
  return "file";
}

Result<CommitFiles> ExtractCommitFiles(const delta::Commit& commit) {
  CommitFiles out;
  out.version = commit.version;
  std::unordered_map<std::string, size_t> index;  // path → position in out.files
  auto note = [&](FileRef ref) {
    auto [it, inserted] = index.emplace(ref.path, out.files.size());
    if (inserted) {
      out.files.push_back(std::move(ref));
      return;
    }
    FileRef& seen = out.files[it->second];
    seen.min_size = std::max(seen.min_size, ref.min_size);
    if (seen.size < 0) seen.size = ref.size;
  };
  for (const auto& action : commit.actions) {
    if (const auto* add = std::get_if<delta::Add>(&action)) {
      ++out.adds;
      out.rows += add->num_records.value_or(0);
      KeyAction ka;
      ka.add = true;
      ka.key = delta::LogicalFileKey(add->decoded_path, add->deletion_vector);
      note(FileRef{add->decoded_path, FileRole::kData, add->absolute, add->size, 0});
      if (!add->absolute) ka.data_path = add->decoded_path;
      if (add->deletion_vector && add->deletion_vector->HasFile()) {
        const auto& dv = *add->deletion_vector;
        const int64_t end = int64_t{dv.offset.value_or(0)} + 4 + dv.size_in_bytes + 4;
        if (dv.storage_type == 'p') {
          note(FileRef{dv.path_or_inline_dv, FileRole::kDeletionVector, true, -1, end});
        } else {
          auto rel = dv.RelativePath();
          if (!rel.ok()) {
            return Status::Corruption(fmt::format("version {}: add of {}: {}", commit.version,
                                                  add->path, rel.status().message()));
          }
          ka.dv_path = *rel;
          note(FileRef{*rel, FileRole::kDeletionVector, false, -1, end});
        }
      }
      out.actions.push_back(std::move(ka));
    } else if (const auto* rm = std::get_if<delta::Remove>(&action)) {
      out.actions.push_back(
          KeyAction{false, delta::LogicalFileKey(rm->decoded_path, rm->deletion_vector), "", ""});
    } else if (const auto* cdc = std::get_if<delta::Cdc>(&action)) {
      note(FileRef{cdc->decoded_path, FileRole::kChangeData, cdc->absolute, cdc->size, 0});
    }
  }
  return out;
}

std::unordered_set<std::string> LiveAtEnd(std::span<const CommitFiles* const> commits) {
  // Walk backwards: the newest action of a key decides; an add is live when nothing after it
  // (in its commit or a later one) names the same key.
  std::unordered_set<std::string> decided;
  std::unordered_set<std::string> live;
  for (auto c = commits.rbegin(); c != commits.rend(); ++c) {
    const auto& actions = (*c)->actions;
    for (auto a = actions.rbegin(); a != actions.rend(); ++a) {
      if (!decided.insert(a->key).second) continue;
      if (!a->add) continue;
      if (!a->data_path.empty()) live.insert(a->data_path);
      if (!a->dv_path.empty()) live.insert(a->dv_path);
    }
  }
  return live;
}

Result<int64_t> TableHead(storage::Storage& storage, std::string_view table_prefix) {
  delta::DeltaLog log(storage, std::string(table_prefix));
  auto exists = [&](int64_t v) -> Result<bool> {
    auto st = storage.Stat(delta::LogFileKey(log.table_prefix(), delta::CommitFileName(v)));
    if (st.ok()) return true;
    if (st.status().IsNotFound()) return false;
    return st.status();
  };
  LAKESYNC_ASSIGN_OR_RETURN(bool has_zero, exists(0));
  if (!has_zero) {
    auto head = log.HeadVersion();
    if (head.ok()) return *head;
    if (head.status().IsNotFound()) return int64_t{-1};
    return head.status();
  }
  // Gallop: lo exists, hi does not (or is unknown).
  int64_t lo = 0;
  int64_t step = 1;
  int64_t hi = -1;
  while (hi < 0) {
    LAKESYNC_ASSIGN_OR_RETURN(bool present, exists(lo + step));
    if (present) {
      lo += step;
      step *= 2;
    } else {
      hi = lo + step;
    }
  }
  while (hi - lo > 1) {
    const int64_t mid = lo + (hi - lo) / 2;
    LAKESYNC_ASSIGN_OR_RETURN(bool present, exists(mid));
    (present ? lo : hi) = mid;
  }
  // lo.json exists, so the head is ≥ lo; the listing from lo sees everything newer (commits
  // past a gap, checkpoints).
  LAKESYNC_ASSIGN_OR_RETURN(auto tail, log.ProbeFromVersion(lo, kMaxProbedVersions));
  return std::max(lo, tail.MaxVersion());
}

bool MayHoldTableFiles(std::string_view rel) {
  size_t begin = 0;
  while (begin <= rel.size()) {
    const size_t slash = std::min(rel.find('/', begin), rel.size());
    const std::string_view part = rel.substr(begin, slash - begin);
    if (!part.empty() && part[0] == '.') return false;
    if (!part.empty() && part[0] == '_' && part.find('=') == std::string_view::npos &&
        part != "_change_data") {
      return false;
    }
    begin = slash + 1;
  }
  return true;
}

std::string TableKey(std::string_view table_prefix, std::string_view relative) {
  while (!table_prefix.empty() && table_prefix.back() == '/') table_prefix.remove_suffix(1);
  if (table_prefix.empty()) return std::string(relative);
  std::string key(table_prefix);
  key += '/';
  key += relative;
  return key;
}

Result<double> CommitAgeSeconds(const delta::Commit& commit, TimePoint modification_time,
                                TimePoint now) {
  delta::CommitTimeInput input = delta::CommitTimeInputOf(commit, modification_time);
  std::optional<int64_t> ict;
  if (input.in_commit_timestamp) ict = input.version;
  LAKESYNC_ASSIGN_OR_RETURN(
      auto times,
      delta::ComputeCommitTimestamps(std::span<const delta::CommitTimeInput>(&input, 1), ict));
  if (times.empty()) return 0.0;
  return std::max(0.0, std::chrono::duration<double>(now - times.front().timestamp).count());
}

}  // namespace lakesync::jobs
