#include "delta/log_reader.h"

#include <algorithm>
#include <map>

#include <fmt/format.h>
#include <simdjson.h>

namespace lakesync::delta {
namespace {

std::string GapMessage(int64_t first_missing, int64_t last_missing, int64_t prev,
                       std::optional<int64_t> next) {
  std::string what = first_missing == last_missing
                         ? fmt::format("commit {} missing", first_missing)
                         : fmt::format("commits {} to {} missing", first_missing, last_missing);
  std::string where;
  if (prev < 0) {
    where = next ? fmt::format(
                       " (the log's oldest commit is {} and no checkpoint covers the "
                       "versions before it)",
                       *next)
                 : std::string();
  } else if (next) {
    where = fmt::format(" between {} and {}", prev, *next);
  } else {
    where = fmt::format(" after {}", prev);
  }
  return what + where +
         "; the log is damaged or was copied incompletely — restore the missing commit files "
         "from the source table";
}

// First gap in [from, to] among `present` (ascending versions, may extend beyond `to`).
Status FindGap(const std::vector<int64_t>& present, int64_t from, int64_t to) {
  int64_t expect = from;
  int64_t prev = from - 1;
  for (int64_t v : present) {
    if (v < from) continue;
    if (expect > to) break;
    if (v != expect) {
      return Status::Corruption(GapMessage(expect, std::min(v - 1, to), prev, v));
    }
    prev = v;
    expect = v + 1;
  }
  if (expect <= to) return Status::Corruption(GapMessage(expect, to, prev, std::nullopt));
  return Status::OK();
}

// At one version: UUID-named beats multi-part (more parts wins) beats classic.
int CheckpointRank(const CheckpointRef& c) {
  switch (c.kind) {
    case LogFileKind::kUuidCheckpoint:
      return 1 << 30;
    case LogFileKind::kMultiPartCheckpoint:
      return static_cast<int>(c.parts.size()) + 1;
    default:
      return 0;
  }
}

}  // namespace

std::string CheckpointRef::Describe() const {
  if (parts.empty()) return "(none)";
  if (parts.size() == 1) return parts.front().file.name;
  return fmt::format("{} (+{} more parts)", parts.front().file.name, parts.size() - 1);
}

int64_t LogListing::MaxVersion() const {
  int64_t v = -1;
  if (!commits.empty()) v = commits.back().file.version;
  if (!checkpoints.empty()) v = std::max(v, checkpoints.back().version);
  return v;
}

DeltaLog::DeltaLog(storage::Storage& storage, std::string table_prefix, CommitLimits limits)
    : storage_(storage), table_prefix_(std::move(table_prefix)), limits_(limits) {
  while (!table_prefix_.empty() && table_prefix_.back() == '/') table_prefix_.pop_back();
}

std::string DeltaLog::Describe() const {
  std::string root = storage_.Describe();
  if (table_prefix_.empty()) return root;
  if (!root.empty() && root.back() != '/') root += '/';
  return root + table_prefix_;
}

Result<LogListing> DeltaLog::List() const { return ListFrom(""); }

Result<LogListing> DeltaLog::ListFromVersion(int64_t version) const {
  if (version <= 0) return ListFrom("");
  // Every name of version ≥ `version` is strictly greater than its bare 20-digit prefix
  // (start_after is exclusive), and every name of an older version is smaller.
  return ListFrom(LogDirKey(table_prefix_) + VersionPrefix(version));
}

Result<LogListing> DeltaLog::ListFrom(const std::string& start_after) const {
  const std::string dir = LogDirKey(table_prefix_);
  storage::ListOptions opts;
  opts.prefix = dir;
  opts.start_after = start_after;
  opts.recursive = false;
  LAKESYNC_ASSIGN_OR_RETURN(auto files, storage_.List(opts));

  LogListing listing;
  std::map<int64_t, LogEntry> commits;
  // version → candidate checkpoints; multi-part ones grouped by part count.
  std::map<int64_t, std::vector<CheckpointRef>> singles;
  std::map<std::pair<int64_t, int32_t>, std::map<int32_t, LogEntry>> multi;
  for (auto& info : files) {
    if (info.path.size() <= dir.size() || info.path.compare(0, dir.size(), dir) != 0) continue;
    auto parsed = ParseLogFileName(std::string_view(info.path).substr(dir.size()));
    if (!parsed) continue;
    LogEntry entry{std::move(*parsed), std::move(info)};
    switch (entry.file.kind) {
      case LogFileKind::kCommit: {
        auto [it, inserted] = commits.emplace(entry.file.version, entry);
        if (!inserted) {
          return Status::Corruption(fmt::format(
              "duplicate commit files for version {} in {}: '{}' and '{}'; a version has "
              "exactly one commit file (20-digit zero-padded name) — remove the stray one",
              entry.file.version, dir, it->second.file.name, entry.file.name));
        }
        break;
      }
      case LogFileKind::kClassicCheckpoint:
      case LogFileKind::kUuidCheckpoint:
        // A 0-byte checkpoint is a failed or in-progress write: never use it.
        if (entry.info.size > 0) {
          CheckpointRef ref;
          ref.version = entry.file.version;
          ref.kind = entry.file.kind;
          ref.parts.push_back(std::move(entry));
          singles[ref.version].push_back(std::move(ref));
        }
        break;
      case LogFileKind::kMultiPartCheckpoint:
        if (entry.info.size > 0) {
          auto key = std::make_pair(entry.file.version, entry.file.num_parts);
          multi[key].emplace(entry.file.part, std::move(entry));
        }
        break;
      case LogFileKind::kChecksum:
      case LogFileKind::kCompaction:
      case LogFileKind::kLastCheckpoint:
        listing.other.push_back(std::move(entry));
        break;
      default:
        break;  // sidecars and staged commits are not direct children
    }
  }
  for (auto& [key, parts] : multi) {
    // Incomplete sets (a writer died mid-checkpoint) are ignored, as readers do.
    if (static_cast<int32_t>(parts.size()) != key.second) continue;
    CheckpointRef ref;
    ref.version = key.first;
    ref.kind = LogFileKind::kMultiPartCheckpoint;
    for (auto& [part, e] : parts) ref.parts.push_back(std::move(e));
    singles[key.first].push_back(std::move(ref));
  }
  for (auto& [version, candidates] : singles) {
    auto best = std::max_element(candidates.begin(), candidates.end(),
                                 [](const CheckpointRef& a, const CheckpointRef& b) {
                                   return CheckpointRank(a) < CheckpointRank(b);
                                 });
    listing.checkpoints.push_back(std::move(*best));
  }
  listing.commits.reserve(commits.size());
  for (auto& [v, e] : commits) listing.commits.push_back(std::move(e));
  return listing;
}

Result<std::optional<LogEntry>> DeltaLog::StatLogFile(const std::string& name) const {
  auto parsed = ParseLogFileName(name);
  if (!parsed) return Status::Internal("not a Delta log file name: " + name);
  auto info = storage_.Stat(LogFileKey(table_prefix_, name));
  if (!info.ok()) {
    if (info.status().IsNotFound()) return std::optional<LogEntry>();
    return info.status().WithContext(Describe());
  }
  return std::optional<LogEntry>(LogEntry{std::move(*parsed), std::move(info).value()});
}

Result<LogListing> DeltaLog::ProbeFromVersion(int64_t version, int max_probe) const {
  if (version <= 0) return ListFromVersion(version);
  LogListing listing;
  std::map<int64_t, std::vector<CheckpointRef>> found;  // version → checkpoints confirmed
  int64_t v = version;
  for (;; ++v) {
    LAKESYNC_ASSIGN_OR_RETURN(auto commit, StatLogFile(CommitFileName(v)));
    if (!commit) break;
    // More new versions than the caller cares to probe: one listing is cheaper.
    if (v - version > max_probe) return ListFromVersion(version);
    listing.commits.push_back(std::move(*commit));
    LAKESYNC_ASSIGN_OR_RETURN(auto crc, StatLogFile(ChecksumFileName(v)));
    if (crc) listing.other.push_back(std::move(*crc));
    LAKESYNC_ASSIGN_OR_RETURN(auto cp, StatLogFile(CheckpointFileName(v)));
    if (cp && cp->info.size > 0) {
      CheckpointRef ref;
      ref.version = v;
      ref.kind = LogFileKind::kClassicCheckpoint;
      ref.parts.push_back(std::move(*cp));
      found[v].push_back(std::move(ref));
    }
  }
  // The starting commit itself is absent (log cleanup, or a source older than `version`):
  // only a listing tells what is there.
  if (listing.commits.empty()) return ListFromVersion(version);
  const int64_t head = v - 1;

  LAKESYNC_ASSIGN_OR_RETURN(auto parsed, StatLogFile(std::string(kLastCheckpointName)));
  if (parsed) {
    auto bytes = storage_.Read(parsed->info.path);
    if (!bytes.ok()) {
      if (bytes.status().IsNotFound()) return ListFromVersion(version);
      return bytes.status().WithContext(Describe());
    }
    listing.other.push_back(std::move(*parsed));
    // Only a hint: unparsable means "no checkpoint named".
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    int64_t hint = -1;
    if (!parser.parse(bytes->data(), bytes->size(), true).get(doc) &&
        !doc["version"].get_int64().get(hint) && hint >= version && hint <= head) {
      int64_t parts = 0;
      std::string_view v2_path;
      simdjson::dom::object v2;
      if (!doc["v2Checkpoint"].get_object().get(v2)) {
        if (v2["path"].get_string().get(v2_path)) v2_path = {};
      }
      if (doc["parts"].get_int64().get(parts)) parts = 0;
      std::optional<CheckpointRef> named;
      if (!v2_path.empty()) {
        auto file = ParseLogFileName(v2_path);
        if (!file || file->version != hint ||
            (file->kind != LogFileKind::kUuidCheckpoint &&
             file->kind != LogFileKind::kClassicCheckpoint)) {
          return ListFromVersion(version);
        }
        LAKESYNC_ASSIGN_OR_RETURN(auto entry, StatLogFile(std::string(v2_path)));
        if (!entry || entry->info.size == 0) return ListFromVersion(version);
        named.emplace();
        named->kind = entry->file.kind;
        named->parts.push_back(std::move(*entry));
      } else if (parts > 1 && parts <= 100000) {
        named.emplace();
        named->kind = LogFileKind::kMultiPartCheckpoint;
        for (int32_t p = 1; p <= parts; ++p) {
          LAKESYNC_ASSIGN_OR_RETURN(auto entry, StatLogFile(MultiPartCheckpointFileName(
                                                    hint, p, static_cast<int32_t>(parts))));
          if (!entry || entry->info.size == 0) return ListFromVersion(version);
          named->parts.push_back(std::move(*entry));
        }
      } else if (found.count(hint) == 0) {
        // A classic checkpoint the probe did not see (missing or 0 bytes).
        return ListFromVersion(version);
      }
      if (named) {
        // Writers using multi-part or UUID checkpoints may have left more of them, unnamed,
        // at the versions probed before the named one.
        if (hint > version + 1) return ListFromVersion(version);
        named->version = hint;
        found[hint].push_back(std::move(*named));
      }
    }
  }
  for (auto& [cv, candidates] : found) {
    auto best = std::max_element(candidates.begin(), candidates.end(),
                                 [](const CheckpointRef& a, const CheckpointRef& b) {
                                   return CheckpointRank(a) < CheckpointRank(b);
                                 });
    listing.checkpoints.push_back(std::move(*best));
  }
  return listing;
}

Result<std::optional<int64_t>> DeltaLog::ReadLastCheckpointHint() const {
  auto bytes = storage_.Read(LogFileKey(table_prefix_, kLastCheckpointName));
  if (!bytes.ok()) {
    if (bytes.status().IsNotFound()) return std::optional<int64_t>();
    return bytes.status().WithContext("reading _last_checkpoint");
  }
  // Only a hint: anything unreadable is treated as absent.
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(bytes->data(), bytes->size(), true).get(doc)) return std::optional<int64_t>();
  int64_t v = 0;
  if (doc["version"].get_int64().get(v) || v < 0) return std::optional<int64_t>();
  return std::optional<int64_t>(v);
}

Result<int64_t> DeltaLog::HeadVersion() const {
  LAKESYNC_ASSIGN_OR_RETURN(auto hint, ReadLastCheckpointHint());
  if (hint) {
    // Every name of version ≥ hint sorts after its 20-digit prefix.
    LAKESYNC_ASSIGN_OR_RETURN(auto tail, ListFrom(LogDirKey(table_prefix_) + VersionPrefix(*hint)));
    std::vector<int64_t> present;
    for (const auto& c : tail.commits) {
      if (c.file.version >= *hint) present.push_back(c.file.version);
    }
    int64_t max =
        std::max<int64_t>(present.empty() ? -1 : present.back(),
                          tail.checkpoints.empty() ? -1 : tail.checkpoints.back().version);
    if (max >= *hint) {
      // What was listed must be contiguous (Segment checks the whole history).
      if (!present.empty()) {
        LAKESYNC_RETURN_IF_ERROR_CTX(FindGap(present, present.front(), present.back()), Describe());
      }
      return max;
    }
    // A stale hint (pointing past everything listed): fall back to a full listing.
  }
  LAKESYNC_ASSIGN_OR_RETURN(auto listing, List());
  int64_t head = listing.MaxVersion();
  if (head < 0) {
    return Status::NotFound(
        fmt::format("no Delta table at {}: {} holds no commit files; check the table location",
                    Describe(), LogDirKey(table_prefix_)));
  }
  return head;
}

Result<LogSegment> DeltaLog::Segment(std::optional<int64_t> version) const {
  LAKESYNC_ASSIGN_OR_RETURN(auto listing, List());
  const int64_t head = listing.MaxVersion();
  if (head < 0) {
    return Status::NotFound(
        fmt::format("no Delta table at {}: {} holds no commit files; check the table location",
                    Describe(), LogDirKey(table_prefix_)));
  }
  if (version && *version < 0) {
    return Status::InvalidArgument(
        fmt::format("version {} is negative; Delta versions start at 0", *version));
  }
  const int64_t v = version.value_or(head);
  if (v > head) {
    return Status::NotFound(fmt::format("version {} of {} does not exist; the newest version is {}",
                                        v, Describe(), head));
  }

  LogSegment seg;
  seg.version = v;
  for (auto& cp : listing.checkpoints) {
    if (cp.version <= v) seg.checkpoint = cp;
  }
  std::vector<int64_t> present;
  present.reserve(listing.commits.size());
  for (const auto& c : listing.commits) present.push_back(c.file.version);

  // Preferred: every commit 0..v is present, so JSON replay alone rebuilds the version.
  Status from_zero = FindGap(present, 0, v);
  if (from_zero.ok()) {
    for (auto& c : listing.commits) {
      if (c.file.version <= v) seg.commits.push_back(std::move(c));
    }
    return seg;
  }
  if (seg.checkpoint) {
    const int64_t cp = seg.checkpoint->version;
    Status after_cp = FindGap(present, cp + 1, v);
    if (!after_cp.ok()) return after_cp.WithContext(Describe());
    int64_t oldest = present.empty() ? cp : present.front();
    return Status::Unsupported(fmt::format(
        "reading Parquet checkpoints is not supported yet; version {} of {} can only be rebuilt "
        "from checkpoint {} because older commits were removed by log cleanup (the oldest "
        "commit left is {}); use a table whose JSON history from version 0 is complete",
        v, Describe(), seg.checkpoint->Describe(), oldest));
  }
  if (!present.empty() && present.front() > v) {
    return Status::NotFound(
        fmt::format("version {} of {} is no longer in the log: the oldest commit left is {} and no "
                    "checkpoint at or before {} exists; choose a version ≥ {}",
                    v, Describe(), present.front(), v, present.front()));
  }
  return from_zero.WithContext(Describe());
}

Result<Commit> DeltaLog::ReadCommit(const LogEntry& entry, std::string* bytes_out) const {
  LAKESYNC_ASSIGN_OR_RETURN(std::string bytes, ReadCommitBytes(entry));
  LAKESYNC_RETURN_IF_ERROR(CheckCommitActions(Describe(), entry.file.version, bytes, limits_));
  auto commit = ParseCommit(entry.file.version, bytes);
  if (!commit.ok()) return commit.status().WithContext(Describe());
  if (bytes_out != nullptr) *bytes_out = std::move(bytes);
  return commit;
}

Result<std::string> DeltaLog::ReadCommitBytes(const LogEntry& entry) const {
  // The listing's size (0 when the entry was not listed) spares reading an enormous file.
  LAKESYNC_RETURN_IF_ERROR(CheckCommitBytes(Describe(), entry.file.version,
                                            static_cast<int64_t>(entry.info.size), limits_));
  LAKESYNC_ASSIGN_OR_RETURN(std::string bytes, storage_.Read(entry.info.path));
  LAKESYNC_RETURN_IF_ERROR(CheckCommitBytes(Describe(), entry.file.version,
                                            static_cast<int64_t>(bytes.size()), limits_));
  return bytes;
}

Result<Commit> DeltaLog::ReadCommitInfo(const LogEntry& entry) const {
  LAKESYNC_ASSIGN_OR_RETURN(std::string bytes, ReadCommitBytes(entry));
  Commit commit;
  commit.version = entry.file.version;
  // Stops at the first commitInfo (with in-commit timestamps it is the first line).
  const Status found = Status::Cancelled("found");
  Status st = ForEachAction(entry.file.version, bytes, [&](Action&& action) {
    if (!std::holds_alternative<CommitInfo>(action)) return Status::OK();
    commit.actions.push_back(std::move(action));
    return found;
  });
  if (!st.ok() && !(st == found)) return st.WithContext(Describe());
  return commit;
}

Result<Commit> DeltaLog::ReadCommit(int64_t version, std::string* bytes) const {
  LogEntry entry;
  entry.file.kind = LogFileKind::kCommit;
  entry.file.version = version;
  entry.file.name = CommitFileName(version);
  entry.info.path = LogFileKey(table_prefix_, entry.file.name);
  return ReadCommit(entry, bytes);
}

Result<TableState> DeltaLog::Load(std::optional<int64_t> version) const {
  LAKESYNC_ASSIGN_OR_RETURN(LogSegment seg, Segment(version));
  SnapshotBuilder builder;
  std::vector<CommitTimeInput> times;
  times.reserve(seg.commits.size());
  for (const auto& entry : seg.commits) {
    LAKESYNC_ASSIGN_OR_RETURN(Commit commit, ReadCommit(entry));
    times.push_back(CommitTimeInputOf(commit, entry.info.modification_time));
    LAKESYNC_RETURN_IF_ERROR_CTX(builder.Apply(std::move(commit)), Describe());
  }
  auto snapshot = std::move(builder).Build();
  if (!snapshot.ok()) return snapshot.status().WithContext(Describe());
  return TableState{std::move(snapshot).value(), std::move(seg), std::move(times)};
}

Result<Snapshot> DeltaLog::LoadSnapshot(std::optional<int64_t> version) const {
  LAKESYNC_ASSIGN_OR_RETURN(TableState state, Load(version));
  return std::move(state.snapshot);
}

}  // namespace lakesync::delta
