// ComputeLag and VerifyReplica (declared in jobs/incremental.h): read-only checks of a
// replica against its source.

#include <algorithm>
#include <map>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>
#include <simdjson.h>

#include "delta/actions.h"
#include "delta/log_names.h"
#include "delta/log_reader.h"
#include "delta/timestamps.h"
#include "jobs/commit_files.h"
#include "jobs/incremental.h"
#include "storage/checksum.h"

namespace lakesync::jobs {
namespace {

Result<int64_t> HeadOrEmpty(const TableLocation& t) {
  return TableHead(*t.storage, TablePrefix(t));
}

// Two present copies of one file: a problem when their sizes differ, or (with `checksum`) their
// xxh3. `rule` and `what` name the file in the problem.
Status CompareContents(const TableLocation& source, const TableLocation& target,
                       const std::string& from, const std::string& to, uint64_t source_size,
                       uint64_t target_size, bool checksum, const std::string& rule,
                       const std::string& what, std::vector<std::string>& problems) {
  if (target_size != source_size) {
    problems.push_back(fmt::format("{}: {} has {} bytes in the target but {} in the source", rule,
                                   what, target_size, source_size));
    return Status::OK();
  }
  if (checksum) {
    LAKESYNC_ASSIGN_OR_RETURN(uint64_t a, storage::Xxh3OfFile(*source.storage, from));
    LAKESYNC_ASSIGN_OR_RETURN(uint64_t b, storage::Xxh3OfFile(*target.storage, to));
    if (a != b) {
      problems.push_back(fmt::format("{}: {} differs from the source (xxh3 {} vs {})", rule, what,
                                     storage::FormatXxh3(b), storage::FormatXxh3(a)));
    }
  }
  return Status::OK();
}

// Compares one log or table file of the target with the source's: present, same size, and
// with `checksum` the same xxh3. `rule` and `what` name it in problems. Returns whether the
// source still has it (a source's log cleanup removes old checkpoints: nothing to compare).
Result<bool> CompareWithSource(const TableLocation& source, const TableLocation& target,
                               const std::string& from, const std::string& to, bool checksum,
                               const std::string& rule, const std::string& what,
                               std::vector<std::string>& problems) {
  auto in_source = source.storage->Stat(from);
  if (!in_source.ok()) {
    if (in_source.status().IsNotFound()) return false;
    return in_source.status();
  }
  auto in_target = target.storage->Stat(to);
  if (!in_target.ok()) {
    if (!in_target.status().IsNotFound()) return in_target.status();
    problems.push_back(fmt::format("{}: {} is missing from the target", rule, what));
    return true;
  }
  LAKESYNC_RETURN_IF_ERROR(CompareContents(source, target, from, to, in_source->size,
                                           in_target->size, checksum, rule, what, problems));
  return true;
}

// The checkpoints of a replica: each one the target holds is the source's, byte for byte
// (size; xxh3 with `checksum`); `_last_checkpoint` names one the target holds, at or before its
// head; and a log that does not start at version 0 has a checkpoint to start from. The files
// live at that checkpoint are not known without reading its Parquet: a first sync copied every
// table file the source listed, so every table file the source holds that is older than the
// checkpoint (its live files were written before it) must be in the target (R2).
Status CheckCheckpoints(const TableLocation& source, const TableLocation& target,
                        const delta::LogListing& listing, bool checksum, VerifyReport& report) {
  auto& problems = report.problems;
  const int64_t first = listing.commits.empty() ? -1 : listing.commits.front().file.version;
  const delta::CheckpointRef* base = nullptr;
  for (const auto& cp : listing.checkpoints) {
    const std::string what = "checkpoint " + cp.Describe();
    for (const auto& part : cp.parts) {
      const std::string name = part.info.path.substr(part.info.path.rfind('/') + 1);
      LAKESYNC_RETURN_IF_ERROR(CompareWithSource(source, target,
                                                 delta::LogFileKey(TablePrefix(source), name),
                                                 part.info.path, checksum, "R1", what, problems)
                                   .status());
    }
    if (cp.version <= report.target_version && (first < 0 || cp.version >= first - 1)) {
      base = &cp;
    }
  }
  if (first != 0 && base == nullptr) {
    problems.push_back(fmt::format(
        "R1: the target's log starts at version {} and holds no checkpoint at version {} or "
        "later to start from: no reader can load the table",
        first, first - 1));
  }
  for (const auto& e : listing.other) {
    if (e.file.kind != delta::LogFileKind::kLastCheckpoint) continue;
    LAKESYNC_ASSIGN_OR_RETURN(std::string bytes, target.storage->Read(e.info.path));
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    int64_t v = -1;
    if (parser.parse(bytes).get(doc) || doc["version"].get_int64().get(v)) {
      problems.push_back("R1: the target's _last_checkpoint is not a JSON object with a version");
      continue;
    }
    bool present = false;
    for (const auto& cp : listing.checkpoints) present = present || cp.version == v;
    if (v > report.target_version || !present) {
      problems.push_back(
          fmt::format("R1: the target's _last_checkpoint names version {}, {}", v,
                      v > report.target_version
                          ? fmt::format("past the target's head {}", report.target_version)
                          : std::string("a checkpoint the target does not hold")));
    }
  }
  if (first == 0 || base == nullptr) return Status::OK();

  // The files live at the base checkpoint, by listing the source (see above).
  TimePoint written = TimePoint::max();
  for (const auto& part : base->parts) {
    const std::string name = part.info.path.substr(part.info.path.rfind('/') + 1);
    auto st = source.storage->Stat(delta::LogFileKey(TablePrefix(source), name));
    if (!st.ok()) {
      if (st.status().IsNotFound()) {
        report.notes.push_back(fmt::format(
            "the files live at checkpoint {} were not checked: the source no longer holds it",
            base->Describe()));
        return Status::OK();
      }
      return st.status();
    }
    written = std::min(written, st->modification_time);
  }
  storage::ListOptions opts;
  opts.prefix = TablePrefix(source).empty() ? "" : TablePrefix(source) + "/";
  opts.recursive = true;
  LAKESYNC_ASSIGN_OR_RETURN(auto listed, source.storage->List(opts));
  const std::string log_dir = delta::LogDirKey(TablePrefix(source));
  int64_t checked = 0;
  for (const auto& info : listed) {
    if (info.path.compare(0, log_dir.size(), log_dir) == 0) continue;
    const std::string rel = info.path.substr(opts.prefix.size());
    if (!MayHoldTableFiles(rel) || info.modification_time > written) continue;
    ++checked;
    LAKESYNC_RETURN_IF_ERROR(
        CompareWithSource(
            source, target, info.path, TableKey(TablePrefix(target), rel), checksum, "R2",
            fmt::format("file {} (in the source since before checkpoint {})", rel, base->version),
            problems)
            .status());
  }
  report.files_checked += checked;
  report.notes.push_back(fmt::format(
      "the log starts at checkpoint {}: its live files are unknown without reading Parquet, so "
      "the {} table files the source held when it was written were checked",
      base->Describe(), checked));
  return Status::OK();
}

}  // namespace

Result<Lag> ComputeLag(const TableLocation& source, const TableLocation& target, TimePoint now) {
  if (source.storage == nullptr || target.storage == nullptr) {
    return Status::InvalidArgument("ComputeLag needs a source and a target storage");
  }
  Lag lag;
  LAKESYNC_ASSIGN_OR_RETURN(lag.replicated_version, HeadOrEmpty(target));
  // Only the tail after the replicated version is listed: the cost does not grow with the
  // table's history.
  delta::DeltaLog log(*source.storage, TablePrefix(source));
  LAKESYNC_ASSIGN_OR_RETURN(auto tail, log.ListFromVersion(lag.replicated_version + 1));
  int64_t head = tail.MaxVersion();
  if (head < 0) {
    LAKESYNC_ASSIGN_OR_RETURN(head, log.HeadVersion());
  }
  lag.source_version = head;
  if (lag.replicated_version > head) {
    // Not "caught up": the source went back (dropped and recreated under the same path), and a
    // run will refuse the target as diverged. Lag alerts must not stay quiet.
    return Status::Conflict(fmt::format(
        "the target is at version {} but the source's newest version is {}: the source was "
        "dropped and recreated, or replaced by an older copy; runs refuse the target as "
        "diverged — replicate into a new, empty target",
        lag.replicated_version, head));
  }
  lag.versions = head - lag.replicated_version;
  if (lag.versions == 0 || tail.commits.empty()) return lag;

  // The oldest unreplicated commit (the first listed one at or after replicated + 1).
  const delta::LogEntry& oldest = tail.commits.front();
  LAKESYNC_ASSIGN_OR_RETURN(delta::Commit commit, log.ReadCommitInfo(oldest));
  LAKESYNC_ASSIGN_OR_RETURN(lag.seconds,
                            CommitAgeSeconds(commit, oldest.info.modification_time, now));
  return lag;
}

Result<VerifyReport> VerifyReplica(const TableLocation& source, const TableLocation& target,
                                   bool checksum) {
  if (source.storage == nullptr || target.storage == nullptr) {
    return Status::InvalidArgument("VerifyReplica needs a source and a target storage");
  }
  VerifyReport report;
  report.target = target.name;
  delta::DeltaLog source_log(*source.storage, TablePrefix(source));
  delta::DeltaLog target_log(*target.storage, TablePrefix(target));
  LAKESYNC_ASSIGN_OR_RETURN(report.source_version, source_log.HeadVersion());
  LAKESYNC_ASSIGN_OR_RETURN(auto target_listing, target_log.List());
  report.target_version = target_listing.MaxVersion();
  if (report.target_version < 0) {
    report.problems.push_back(
        "R1: the target holds no table yet (no run has published to it): nothing to verify; run "
        "the job first");
    return report;
  }

  auto& problems = report.problems;
  if (report.target_version > report.source_version) {
    problems.push_back(
        fmt::format("R1: the target is at version {} but the source's newest version is {}",
                    report.target_version, report.source_version));
  }

  // R1: the target's commits are the source's, byte for byte, without gaps.
  std::vector<CommitFiles> commits;
  int64_t prev = -1;
  for (const auto& entry : target_listing.commits) {
    const int64_t v = entry.file.version;
    if (prev >= 0 && v != prev + 1) {
      problems.push_back(
          fmt::format("R1: commits {} to {} are missing from the target's log", prev + 1, v - 1));
    }
    prev = v;
    ++report.commits_checked;
    LAKESYNC_ASSIGN_OR_RETURN(std::string target_bytes, target.storage->Read(entry.info.path));
    auto source_bytes =
        source.storage->Read(delta::LogFileKey(TablePrefix(source), delta::CommitFileName(v)));
    if (source_bytes.ok()) {
      if (*source_bytes != target_bytes) {
        problems.push_back(fmt::format(
            "R1: version {}: the target's commit differs from the source's ({} vs {} bytes)", v,
            target_bytes.size(), source_bytes->size()));
      }
    } else if (!source_bytes.status().IsNotFound()) {
      return source_bytes.status().WithContext(fmt::format("reading source version {}", v));
    } else if (v <= report.source_version) {
      // Removed by the source's log cleanup: nothing to compare with, not a difference.
    } else {
      problems.push_back(
          fmt::format("R1: version {} exists in the target but not in the source", v));
    }
    auto parsed = delta::ParseCommit(v, target_bytes);
    if (!parsed.ok()) {
      problems.push_back(fmt::format("R1: version {}: the target's commit does not parse: {}", v,
                                     parsed.status().message()));
      continue;
    }
    auto files = ExtractCommitFiles(*parsed);
    if (!files.ok()) {
      problems.push_back(fmt::format("version {}: {}", v, files.status().message()));
      continue;
    }
    commits.push_back(std::move(files).value());
  }

  // A log that does not start at version 0 is read from a checkpoint (a first sync that
  // started from the source's newest one): the target needs one, like the source's.
  LAKESYNC_RETURN_IF_ERROR(CheckCheckpoints(source, target, target_listing, checksum, report));

  // R2 and R3: files.
  std::vector<const CommitFiles*> ptrs;
  for (const auto& c : commits) ptrs.push_back(&c);
  const auto live = LiveAtEnd(ptrs);
  std::unordered_set<std::string> seen;
  for (auto c = commits.rbegin(); c != commits.rend(); ++c) {
    for (const auto& ref : c->files) {
      if (ref.absolute || !seen.insert(ref.path).second) continue;
      ++report.files_checked;
      const bool is_live = live.count(ref.path) > 0;
      const std::string rule = is_live ? "R2" : "R3";
      const std::string what =
          fmt::format("{} {} (version {})", FileRoleName(ref.role), ref.path, c->version);
      const std::string from = TableKey(TablePrefix(source), ref.path);
      const std::string to = TableKey(TablePrefix(target), ref.path);
      auto in_source = source.storage->Stat(from);
      if (!in_source.ok() && !in_source.status().IsNotFound()) return in_source.status();
      if (!in_source.ok() && !is_live) continue;  // vacuumed history: nothing to compare
      auto in_target = target.storage->Stat(to);
      if (!in_target.ok() && !in_target.status().IsNotFound()) return in_target.status();
      if (!in_source.ok() && in_target.ok() && report.target_version < report.source_version) {
        // Live at the target's (older) version; the source may have removed it since and
        // vacuumed it. The replica holds it: nothing to compare with, not a difference.
        continue;
      }
      if (!in_source.ok()) {
        problems.push_back(fmt::format(
            "R2: {} is live at version {} but missing from the source itself (the source table "
            "is incomplete){}",
            what, report.target_version, in_target.ok() ? "" : " and from the target"));
        continue;
      }
      if (!in_target.ok()) {
        problems.push_back(fmt::format("{}: {} is missing from the target", rule, what));
        continue;
      }
      // Same size as the source's, but not the size the log gives: reported instead of the
      // contents (a size difference between the copies is reported by CompareContents).
      if (in_target->size == in_source->size && ref.size >= 0 &&
          in_target->size != static_cast<uint64_t>(ref.size)) {
        problems.push_back(fmt::format("{}: {} has {} bytes in the target but the log says {}",
                                       rule, what, in_target->size, ref.size));
        continue;
      }
      LAKESYNC_RETURN_IF_ERROR(CompareContents(source, target, from, to, in_source->size,
                                               in_target->size, checksum, rule, what, problems));
    }
  }
  return report;
}

}  // namespace lakesync::jobs
