#pragma once

// Snapshot jobs (job kind `snapshot`): a standalone point-in-time copy of a Delta table,
// written under `<target>/<snapshot-id>/`, plus retention of older snapshots.
//
// Layout of a snapshot target (`T` = the target's prefix):
//   T/<id>/_delta_log/00000000000000000000.json   the snapshot's only commit (version 0)
//   T/<id>/<data and deletion-vector files>         deep mode: copies, same relative paths
//   T/_snapshots/<id>.json                          the manifest (published LAST)
//   T/_snapshots/<id>.writing                       marker: a run is (or was) writing <id>
//   T/_snapshots/<id>.deleting                      marker: retention is (or was) deleting <id>
//
// Complete or invisible: a snapshot counts only when its manifest exists and no `.deleting`
// marker names it. A run writes the `.writing` marker (put-if-absent), the files, SyncAll, the
// commit, then the manifest (put-if-absent) and finally removes the marker. Retention writes
// the `.deleting` marker, deletes the manifest FIRST, then the commit, then the files, then
// the marker. A run killed anywhere leaves markers that the next run's CleanupLeftovers
// finishes (deletes the half-written or half-deleted snapshot's files).
// REQUIRES: one writer per target at a time (the runner's job lock); the markers of a dead
// writer are indistinguishable from a live one's, so never run two jobs into one target.
//
// Version 0 of a snapshot holds: commitInfo (first; with inCommitTimestamp when the source
// has in-commit timestamps enabled), protocol, metaData (fresh id; the in-commit-timestamp
// enablement properties removed, since the new table has them from version 0), every live
// domainMetadata and txn, and the live `add` actions (byte-identical to the source's unless a
// feature requires a change). Table features: see SnapshotFeaturePolicy below.
//
// Ownership: borrows storages and the observer for the duration of a call.
// Thread-safety: RunSnapshot uses up to `copy_parallelism` worker threads internally; the
// functions are otherwise independent and safe to call concurrently on different targets.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/duration.h"
#include "common/status.h"
#include "delta/actions.h"
#include "delta/snapshot.h"
#include "delta/timestamps.h"
#include "jobs/incremental.h"
#include "jobs/run_observer.h"

namespace lakesync::jobs {

enum class SnapshotMode { kDeep, kShallow };
std::string_view SnapshotModeName(SnapshotMode mode);  // "deep", "shallow"

// The manifest: what a snapshot holds, readable without PostgreSQL.
struct SnapshotManifest {
  std::string id;      // "20261122T020000Z-v42"
  std::string source;  // the source table's URL
  int64_t version = 0;
  TimePoint commit_timestamp;  // the source commit's timestamp (delta/timestamps.h rules)
  int64_t files = 0;           // live files (adds) in the snapshot
  int64_t bytes = 0;           // sum of their sizes
  int64_t rows = 0;            // numRecords − DV cardinality (see rows_exact)
  bool rows_exact = true;      // false when some live add has no numRecords
  TimePoint created_at;
  SnapshotMode mode = SnapshotMode::kDeep;
  std::string table_id;  // the snapshot's metaData.id
  // The source's metaData.id at `version` ("" in manifests of lakesync before 0.1.1): with
  // `source` and `version`, which table state this is (a dropped and recreated source reuses
  // the URL and versions).
  std::string source_table_id;
  std::vector<std::string> notes;  // how table features were carried over, one line each

  friend bool operator==(const SnapshotManifest&, const SnapshotManifest&) = default;
};

// Manifest JSON (one object, keys as the field names; times ISO-8601 UTC with ms).
std::string ManifestToJson(const SnapshotManifest& manifest);
// Corruption naming what is wrong when the text is not a manifest.
Result<SnapshotManifest> ParseManifest(std::string_view json);

// "20261122T020000Z-v42": created_at to the second (UTC) and the source version.
std::string SnapshotId(TimePoint created_at, int64_t version);

// The storage prefix of snapshot `id`'s table inside `target`.
std::string SnapshotTablePrefix(const TableLocation& target, std::string_view id);

enum class SnapshotStatus { kComplete, kWriting, kDeleting };
std::string_view SnapshotStatusName(SnapshotStatus status);  // "complete", "writing", "deleting"

struct SnapshotEntry {
  std::string id;
  SnapshotStatus status = SnapshotStatus::kComplete;
  // Set for complete snapshots (and for deleting ones whose manifest is not yet deleted).
  std::optional<SnapshotManifest> manifest;
};

// Every snapshot of the target: complete ones newest first (by the source version they hold,
// then created_at, then id: runners' clocks may disagree, source versions only grow), then the
// incomplete ones (leftovers of killed runs, or in progress) by id. One listing of
// `T/_snapshots/` plus one read per manifest. Corruption naming the file for an unreadable
// manifest.
Result<std::vector<SnapshotEntry>> ListSnapshots(const TableLocation& target);

// The complete snapshots only, newest first.
Result<std::vector<SnapshotManifest>> CompleteSnapshots(const TableLocation& target);

// Retention: which of `newest_first` (complete snapshots, newest first) to delete. A snapshot
// is kept when it is among the `keep_last` newest, or created within `keep_within` before
// `now`; both unset keeps everything. The newest is always kept.
std::vector<std::string> RetentionVictims(const std::vector<SnapshotManifest>& newest_first,
                                          std::optional<int> keep_last,
                                          std::optional<Duration> keep_within, TimePoint now);

// Deletes snapshot `id` crash-safely (marker, manifest, commit, files, marker). Deleting an
// absent snapshot is OK. Calls the failpoint `snapshot.mid_retention` after the manifest and
// the first file are gone.
Status DeleteSnapshot(const TableLocation& target, std::string_view id);

// Finishes what killed runs left behind: every `.writing` marker without a manifest (a
// half-written snapshot: its files are deleted), every `.writing` marker with a manifest (a
// complete snapshot whose marker was not yet removed: only the marker goes) and every
// `.deleting` marker (the deletion is finished). Returns the ids whose files were removed.
// REQUIRES: no other process is writing to this target.
Result<std::vector<std::string>> CleanupLeftovers(const TableLocation& target);

// Version 0 of a snapshot of `source` (a replayed state). `source_root` is the source table's
// URL (for shallow mode's absolute paths, "file:///data/t"). Notes (how features were carried)
// are appended to `notes`. Unsupported naming the feature when a feature cannot be carried
// into a fresh table correctly; InvalidArgument for absolute paths in deep mode.
struct SnapshotCommitOptions {
  SnapshotMode mode = SnapshotMode::kDeep;
  std::string source_root;
  TimePoint created_at;
  std::string table_id;  // the new metaData.id
  int64_t source_version = 0;
};
Result<std::vector<delta::Action>> BuildSnapshotCommit(const delta::Snapshot& source,
                                                       const SnapshotCommitOptions& options,
                                                       std::vector<std::string>* notes);

struct SnapshotOptions {
  // Which source version: latest (both unset), a number, or the latest version whose commit
  // time ≤ as_of.
  std::optional<int64_t> version;
  std::optional<TimePoint> as_of;
  // How as_of and the manifest's commit_timestamp read the commit times of non-ICT commits
  // (delta/timestamps.h).
  delta::NonIctTimestampPolicy timestamps = delta::NonIctTimestampPolicy::kFileModificationTime;
  SnapshotMode mode = SnapshotMode::kDeep;
  bool skip_unchanged = true;
  std::optional<int> keep_last;
  std::optional<Duration> keep_within;
  int copy_parallelism = 8;
  const Clock* clock = &SystemClock::Instance();
};

struct SnapshotOutcome {
  int64_t source_head = -1;
  int64_t version = -1;  // the source version chosen
  // Set when a snapshot was written by this run.
  std::optional<SnapshotManifest> created;
  // Set when the run skipped writing (skip_unchanged): the id of a complete snapshot that
  // already holds `version` of this source (URL and, where recorded, table id) in this mode.
  std::optional<std::string> unchanged_since;
  int64_t files_copied = 0;
  int64_t bytes_copied = 0;
  std::vector<std::string> cleaned;  // leftovers of killed runs removed
  std::vector<std::string> deleted;  // removed by retention
  // Retention runs after the snapshot is published; its failure does not undo the snapshot.
  Status retention;
  // The complete snapshots after the run, newest first.
  std::vector<SnapshotManifest> snapshots;
};

// One run: cleans leftovers, picks the version, skips when unchanged, else writes and
// publishes a snapshot; then applies retention. Errors (nothing counts as a new snapshot; the
// run's own partial files are removed when possible): the source cannot be read or its
// version found; a live file is missing in the source or has the wrong size (NotFound /
// Corruption naming it); a feature cannot be carried (Unsupported naming it); Cancelled from
// the observer. Failpoints: snapshot.before_manifest (files and commit written, manifest
// next), snapshot.mid_retention (DeleteSnapshot).
Result<SnapshotOutcome> RunSnapshot(const TableLocation& source, const TableLocation& target,
                                    const SnapshotOptions& options, RunObserver& observer);

// Lag of a snapshot job: how far the newest complete snapshot is behind the source's head.
struct SnapshotLag {
  int64_t source_version = -1;
  std::optional<int64_t> newest_version;  // the newest complete snapshot's source version
  int64_t snapshots = 0;                  // complete snapshots
  int64_t versions = 0;                   // head − newest (head + 1 without a snapshot)
  double seconds = 0;  // age of the oldest source commit no snapshot holds; 0 when caught up
};
// Cheap: one listing of `_snapshots/`, the source head (TableHead) and one commit read.
Result<SnapshotLag> ComputeSnapshotLag(const TableLocation& source, const TableLocation& target,
                                       TimePoint now);

}  // namespace lakesync::jobs
