#pragma once

// Restores (`lakesync restore`):
//
//  * RestoreSnapshotCopy: copies a complete snapshot (jobs/snapshot.h) to a location that is
//    empty or new, as a table: the snapshot's relative data and deletion-vector files, made
//    durable, then its commit 0 byte for byte with put-if-absent (so the copy is a table only
//    once whole). A shallow snapshot's copy is shallow too (its absolute paths are kept).
//  * RestoreInPlace: like Delta's RESTORE. One new commit (head + 1) that removes every file
//    live at the head but not at the restored version and re-adds every file live there but not
//    at the head (logical keys: path + deletion vector, so DV changes are undone too). Before
//    anything is written, every re-added file (data and 'u' DV files) must exist with the
//    log's size: a vacuumed file fails the restore naming it, with the table unchanged. When
//    the restored version's metadata (schema, partition columns, properties) differs from the
//    head's, the commit carries it too, as Delta's RESTORE does (the re-added files were
//    written under it), keeping the head's in-commit-timestamp settings. The protocol is
//    never changed: a version needing a feature the head dropped is refused, as is a schema
//    change on a table with identity columns. The commit is published with put-if-absent: a
//    concurrent writer makes it fail with Conflict, changing nothing.
//
// Ownership: borrows storages and the observer for the duration of a call.
// Thread-safety: as jobs/snapshot.h.

#include <cstdint>
#include <optional>
#include <string>

#include "common/clock.h"
#include "common/status.h"
#include "delta/timestamps.h"
#include "jobs/incremental.h"
#include "jobs/run_observer.h"

namespace lakesync::jobs {

struct RestoreCopyOutcome {
  std::string snapshot_id;
  int64_t source_version = 0;  // the version the snapshot holds
  int64_t files = 0;           // files copied
  int64_t bytes = 0;
  bool shallow = false;
};

// `snapshots`: the snapshot job's target (where `_snapshots/` lives). Errors: NotFound when
// the snapshot is not complete (never written, half-written or being deleted), naming the
// complete ones to choose from; AlreadyExists when `to` is not empty; the errors of
// CopyTableFiles (then the files this call copied are removed again); Conflict when a table
// appeared at `to` meanwhile.
Result<RestoreCopyOutcome> RestoreSnapshotCopy(const TableLocation& snapshots,
                                               const std::string& id, const TableLocation& to,
                                               int copy_parallelism, RunObserver& observer);

struct RestoreInPlaceOptions {
  std::optional<int64_t> version;  // exactly one of version and as_of
  std::optional<TimePoint> as_of;
  // How as_of reads the commit times of non-ICT commits (delta/timestamps.h).
  delta::NonIctTimestampPolicy timestamps = delta::NonIctTimestampPolicy::kFileModificationTime;
  const Clock* clock = &SystemClock::Instance();
};

struct RestoreInPlaceOutcome {
  int64_t head = 0;                // the table's head before the restore
  int64_t restored_version = 0;    // the version whose files are now live
  int64_t new_version = -1;        // the commit written (-1: nothing to do, already equal)
  int64_t removed = 0;             // remove actions written
  int64_t added = 0;               // add actions written
  bool metadata_restored = false;  // the commit carries the restored version's metadata
  int64_t files = 0;               // live files after the restore
  int64_t bytes = 0;
};

// Errors (the table unchanged in every case): NotFound for a version beyond the head, a
// timestamp before the first commit, or a needed file that is gone (vacuumed); Unsupported
// for a protocol lakesync cannot write, an append-only table that would lose files, a version
// needing a table feature the head dropped, or a schema change on a table with identity columns;
// Conflict when another writer committed head + 1 first; Cancelled from the observer.
Result<RestoreInPlaceOutcome> RestoreInPlace(const TableLocation& table,
                                             const RestoreInPlaceOptions& options,
                                             RunObserver& observer);

}  // namespace lakesync::jobs
