#pragma once

// Consolidation (job kind `consolidation`): several regional Delta tables merged into one
// global table partitioned by a region column, at the file level (no data rewrite),
// incrementally and idempotently (DESIGN.md C1, C2; docs/consolidation.md).
//
//  * The global table's own log is the truth (R6): for each region, the source version
//    already consolidated is the `txn` action of appId ConsolidationAppId(job, region).
//  * A run reads, per region, the source commits after that version up to the source's
//    head, and reduces them to their net effect on the live set: adds still live at the
//    head, removes of files the global table holds, change-data files (kept only when every
//    data-changing commit in the run has them, so change-data readers stay exact). Files
//    are copied (data, 'u' deletion vectors, change data) to `<column>=<region>/<source
//    relative path>` in the global table — a deletion-vector file to
//    `<column>=<region>/deletion_vector_<uuid>.bin`, its descriptor's prefix becoming
//    `<column>=<region>` (a Delta DV prefix is one directory name) — sizes checked, made
//    durable (SyncAll), then ONE global commit is published with put-if-absent: every
//    region's actions plus a `txn` per region (version = source version reached). A crash
//    at any point leaves either no commit (copied files are reused by the rerun) or the
//    whole commit: a region is never half-added and a rerun never adds a file twice.
//  * The first run creates the table (version 0 = protocol + metaData + the first files):
//    schema = the sources' columns + the region column (string, not null); partitioned by
//    the region column then the sources' partition columns; protocol = what the sources
//    need (jobs/consolidation_schema.h).
//  * A region that cannot be read, or whose table is refused, fails on its own: the other
//    regions are consolidated and its txn version stays where it was.
//  * A commit conflict (another writer published the version first) re-reads the global
//    table and retries, up to `max_commit_attempts` times.
//
// Failpoints: consolidation.after_copy (files copied and durable, commit not yet built),
// consolidation.before_commit_publish (right before the put-if-absent),
// consolidation.after_commit_publish.
//
// Ownership: borrows the storages for the duration of the call.
// Thread-safety: one call uses up to `copy_parallelism` worker threads internally.

#include <cstdint>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "jobs/incremental.h"
#include "jobs/run_observer.h"

namespace lakesync::jobs {

struct ConsolidationSource {
  std::string region;  // an identifier ([A-Za-z_][A-Za-z0-9_]*)
  TableLocation table;
  // Non-OK: the source could not even be opened (its storage is then unused); the region
  // fails with this status and the others proceed.
  Status unavailable;
};

struct ConsolidationOptions {
  std::string job;  // names the txn appIds
  std::string region_column = "source_region";
  bool union_schema = false;
  int copy_parallelism = 8;
  int max_commit_attempts = 5;
  const Clock* clock = &SystemClock::Instance();
};

// "lakesync:<job>:<region>".
std::string ConsolidationAppId(std::string_view job, std::string_view region);

struct RegionOutcome {
  std::string region;
  Status status;                           // OK, or why this region was left out of the run
  int64_t source_head = -1;                // the source's head seen by the run (-1: unknown)
  int64_t start_version = -1;              // consolidated source version before the run (-1: none)
  int64_t end_version = -1;                // after the run
  int64_t commits = 0;                     // source commits consolidated by this run
  int64_t files = 0;                       // files copied by this run (present ones not counted)
  int64_t bytes = 0;                       // bytes copied by this run
  int64_t rows = 0;                        // numRecords of the adds published by this run
  int64_t adds = 0, removes = 0, cdc = 0;  // actions published by this run
};

struct ConsolidationOutcome {
  int64_t start_version = -1;          // the global table's head before the run (-1: no table)
  int64_t end_version = -1;            // after the run
  bool created = false;                // this run created the global table
  bool published = false;              // this run published a commit
  int attempts = 0;                    // commit attempts (conflicts + 1)
  std::vector<RegionOutcome> regions;  // in the order of the sources
  bool ok() const;
};

// Errors returned directly (nothing published): the global table cannot be read, the
// sources disagree on schema or partitioning at creation (naming the columns), no source
// can be read at creation, cancellation (CheckContinue / BeforePublish non-OK), storage
// errors while publishing, conflicts on every attempt. Per-region failures are in the
// outcome.
Result<ConsolidationOutcome> RunConsolidation(const std::vector<ConsolidationSource>& sources,
                                              const TableLocation& target,
                                              const ConsolidationOptions& options,
                                              RunObserver& observer);

// Lag of each region, cheaply: the global head commit (and older ones only until every
// region's txn is found), the source's head by probing, and one source commit for the age.
struct RegionLag {
  std::string region;
  Status status;                      // non-OK: this region's source (or the target) unreadable
  int64_t source_version = -1;        // the source's head
  int64_t consolidated_version = -1;  // txn version in the global table (-1: none)
  int64_t versions = 0;
  double seconds = 0;  // age of the oldest unconsolidated source commit; 0 when caught up
  // The source is not the table consolidated: its commit at `consolidated_version` differs
  // from the one the global table recorded (dropped and recreated, or replaced). `status`
  // then says so.
  bool replaced = false;
};
std::vector<RegionLag> ConsolidationLag(const std::vector<ConsolidationSource>& sources,
                                        const TableLocation& target, std::string_view job,
                                        TimePoint now);

}  // namespace lakesync::jobs
