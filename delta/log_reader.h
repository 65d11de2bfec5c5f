#pragma once

// DeltaLog: reads one table's `_delta_log/` through a Storage (DELTA_NOTES §1).
//
// What it checks: commit files contiguous up to the requested version (Corruption "commit N
// missing between M and K"), no two commit files for one version (Corruption naming both),
// and whether the version can be rebuilt from JSON commits alone. Reading Parquet
// checkpoints is not implemented: when the commits before the newest usable checkpoint were
// removed by log cleanup, loading fails with Unsupported naming the checkpoint. When every
// commit from 0 is present the checkpoint is not needed, but the one a checkpoint-reading
// reader would choose is still reported (skip 0-byte files; UUID-named > multi-part with more
// parts > classic; incomplete multi-part sets ignored).
//
// `_last_checkpoint` is only a hint for HeadVersion (where to start listing); a missing,
// stale or unparsable hint still works.
//
// Ownership: holds a reference to the Storage, which must outlive it.
// Thread-safety: const methods only; safe for concurrent use if the Storage is.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "delta/actions.h"
#include "delta/log_names.h"
#include "delta/snapshot.h"
#include "delta/timestamps.h"
#include "storage/storage.h"

namespace lakesync::delta {

struct LogEntry {
  LogFile file;
  storage::FileInfo info;  // info.path is the storage key
};

struct CheckpointRef {
  int64_t version = 0;
  LogFileKind kind = LogFileKind::kClassicCheckpoint;
  std::vector<LogEntry> parts;  // one entry except for multi-part checkpoints
  // "00000000000000000010.checkpoint.parquet" or "…checkpoint.0000000001.0000000003.parquet
  // (+2 more parts)".
  std::string Describe() const;
};

struct LogListing {
  std::vector<LogEntry> commits;           // ascending by version, one per version
  std::vector<CheckpointRef> checkpoints;  // the best complete one per version, ascending
  std::vector<LogEntry> other;             // crc, compaction, _last_checkpoint
  // The newest version any commit or checkpoint gives; -1 for an empty log.
  int64_t MaxVersion() const;
};

struct LogSegment {
  int64_t version = 0;                      // the version the segment rebuilds
  std::vector<LogEntry> commits;            // 0..version, ascending, contiguous
  std::optional<CheckpointRef> checkpoint;  // the checkpoint a reader would start from
};

// A snapshot plus what was read to build it.
struct TableState {
  Snapshot snapshot;
  LogSegment segment;
  std::vector<CommitTimeInput> commit_times;  // one per replayed commit, ascending
};

class DeltaLog {
 public:
  // `table_prefix`: the table's key prefix in `storage` ("" for the root, "delta/sales").
  // `limits`: every commit read (ReadCommit, Load) is checked against them before it is parsed.
  DeltaLog(storage::Storage& storage, std::string table_prefix, CommitLimits limits = {});

  // "file:///data/eastus/delta/sales", for messages.
  std::string Describe() const;
  const std::string& table_prefix() const { return table_prefix_; }
  storage::Storage& storage() const { return storage_; }

  // Every Delta file directly in `_delta_log/` (plus nothing below it). Corruption on
  // duplicate commit files for one version.
  Result<LogListing> List() const;

  // Like List, but only the names that sort at or after `version`'s 20-digit prefix: the
  // commits, checkpoints and .crc files of versions ≥ `version`, plus `_last_checkpoint`
  // (compactions starting at ≥ `version`). One storage listing with start_after, so the cost
  // is proportional to the tail, not to the whole log. `version` ≤ 0 lists everything.
  Result<LogListing> ListFromVersion(int64_t version) const;

  // The same as ListFromVersion(version) for a healthy log, found by name instead of by
  // listing, so the cost is O(new versions) storage calls however long the log is: Stat of
  // `V.json`, `V.crc` and `V.checkpoint.parquet` for V = version, version+1, … until the first
  // missing commit, plus `_last_checkpoint` (Stat + Read). Multi-part and UUID-named
  // checkpoints cannot be guessed by name; the one `_last_checkpoint` names is confirmed by
  // Stat when its version lies in [version, head]. Falls back to ListFromVersion(version) —
  // so the result is never less than a listing would give for what it reports — when:
  // `version` ≤ 0; `version`.json is absent; more than `max_probe` versions after `version`
  // are found; `_last_checkpoint` names a checkpoint in the probed range that the Stat calls
  // cannot confirm (missing, 0 bytes, or a multi-part/UUID one with unprobed versions between
  // `version` and it, where other such checkpoints may hide).
  // Not reported on the fast path (by design): compaction files (optional, never needed);
  // commits after a gap (the tail stops at the first missing commit, as a writer never
  // leaves one); a multi-part/UUID checkpoint at `version` itself that the hint does not
  // name. Errors: those of the Storage calls (a NotFound from Stat is "absent", not an error).
  Result<LogListing> ProbeFromVersion(int64_t version, int max_probe) const;

  // The newest version, listing only from the `_last_checkpoint` hint onwards when there is
  // one. NotFound when the log holds no commit and no checkpoint. Corruption on duplicates
  // or a gap in what was listed.
  Result<int64_t> HeadVersion() const;

  // What is needed to rebuild `version` (head when nullopt). Errors: NotFound (no table;
  // version beyond head; version older than what the log still holds), Corruption (gaps),
  // Unsupported (needs a Parquet checkpoint).
  Result<LogSegment> Segment(std::optional<int64_t> version) const;

  // Reads and parses one commit file (by its entry or by version). InvalidArgument naming the
  // version, the size or count and the key to raise when the commit is over the limits (a
  // commit over max_bytes is not even read). `bytes`, when given, receives the file's bytes.
  Result<Commit> ReadCommit(const LogEntry& entry, std::string* bytes = nullptr) const;
  Result<Commit> ReadCommit(int64_t version, std::string* bytes = nullptr) const;

  // The commit's first commitInfo only (a Commit holding that one action, or none), for its
  // timestamps (CommitTimeInputOf): the actions are streamed and dropped, so memory is that of
  // the file's bytes however many actions it has. Subject to max_bytes, not to max_actions.
  Result<Commit> ReadCommitInfo(const LogEntry& entry) const;

  // Replays the segment of `version` (head when nullopt).
  Result<TableState> Load(std::optional<int64_t> version = std::nullopt) const;
  Result<Snapshot> LoadSnapshot(std::optional<int64_t> version = std::nullopt) const;

 private:
  Result<LogListing> ListFrom(const std::string& start_after) const;
  Result<std::optional<int64_t>> ReadLastCheckpointHint() const;
  // The bytes of a commit file, refused (not read) over limits_.max_bytes.
  Result<std::string> ReadCommitBytes(const LogEntry& entry) const;
  // Stat of one `_delta_log/` name: nullopt when absent.
  Result<std::optional<LogEntry>> StatLogFile(const std::string& name) const;

  storage::Storage& storage_;
  std::string table_prefix_;
  CommitLimits limits_;
};

}  // namespace lakesync::delta
