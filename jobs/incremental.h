#pragma once

// Incremental replication (job kind `incremental`): brings each target table from its
// replicated version up to the source's head (or a bound), copying exactly the new commits
// and the files they reference, under the invariants R1–R7 of the design:
//
//  * The target's own `_delta_log` is the truth of what is replicated (R6): each run starts
//    from the target's head, whatever anyone else remembers.
//  * Per source version N, in ascending order: the files N references (add, cdc, deletion
//    vectors) are copied and their sizes checked against the log, then N.json is published
//    with put-if-absent, byte-identical to the source, keeping the source's modification
//    time (R1, R4). An existing N.json with identical bytes is skipped (idempotent resume);
//    different bytes fail with "target diverged at version N" (R7).
//  * A file referenced only by history (no longer live at the run's end version) and gone
//    from the source (vacuumed) is skipped and counted; a file live at the end version and
//    missing in the source fails the run naming it (R7). Nothing past the failing version is
//    published.
//  * `.crc` files, checkpoints (sidecars first) and `_last_checkpoint` follow the commits
//    they describe (DELTA_NOTES §9). `_staged_commits/` is never copied. Catalog-managed and
//    coordinated-commits tables are refused naming the feature; absolute paths in the log are
//    refused unless allowed.
//  * Targets advance independently: one failing target does not stop the others.
//  * Enormous commits: a source commit over `commit_limits` (actions or bytes) is not parsed
//    (nor read, when the listing shows its size is over); every target stops at the version
//    before it and fails with InvalidArgument naming the table, version, count and key to raise.
//    Commits under the limits are streamed through the parser action by action and kept only
//    as their bytes and the files they name (paths, sizes, add/remove keys), so memory grows
//    with the files of the commits being published, not with a parsed copy of their JSON.
//
// Ownership: borrows the storages for the duration of the call.
// Thread-safety: one call uses up to `copy_parallelism` worker threads internally.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "delta/actions.h"
#include "jobs/run_observer.h"
#include "storage/storage.h"

namespace lakesync::jobs {

// A table: a storage and the table's key prefix in it ("" = the storage root).
struct TableLocation {
  std::string name;  // for messages and records: the target as written in the configuration
  storage::Storage* storage = nullptr;
  std::string prefix;
};

// The table's key prefix without trailing slashes ("" = the storage root).
std::string TablePrefix(const TableLocation& t);
// Where the table is, for messages: the storage's description joined with the prefix.
std::string DescribeTable(const TableLocation& t);

enum class StartMode { kAuto, kEarliest, kLatestCheckpoint };

struct IncrementalOptions {
  std::optional<int64_t> to_version;            // replicate up to here (≤ source head)
  std::optional<int64_t> max_versions_per_run;  // at most this many commits per target
  StartMode start = StartMode::kAuto;
  bool verify_checksum = false;  // also compare xxh3 of source and target bytes
  int copy_parallelism = 8;
  bool allow_absolute_paths = false;
  // A source commit over these limits fails the run before anything is published.
  delta::CommitLimits commit_limits;
  const Clock* clock = &SystemClock::Instance();
};

struct TargetOutcome {
  std::string target;
  Status status;                 // OK, or why this target stopped
  int64_t start_version = -1;    // the target's head before the run (-1: no table)
  int64_t end_version = -1;      // the target's head after the run
  int64_t commits = 0;           // commits published by this run
  int64_t files = 0;             // files copied by this run
  int64_t bytes = 0;             // bytes copied by this run
  int64_t rows = 0;              // sum of numRecords of the adds published by this run
  int64_t skipped_vacuumed = 0;  // history-only files already gone from the source
  int64_t unattributed = 0;      // latest_checkpoint first sync: files found by listing
  // latest_checkpoint first sync: files found by listing that a writer was still writing (or
  // removed) as they were copied, newer than the checkpoint, so not live at it: not copied.
  int64_t skipped_in_flight = 0;
};

struct IncrementalOutcome {
  int64_t source_head = -1;  // the source head observed at the start
  int64_t end_version = -1;  // the version the run aimed for (head or the bound)
  std::vector<TargetOutcome> targets;
  bool ok() const;
};

// Errors returned directly (no target touched): the source cannot be read or listed, its
// protocol is refused. Per-target failures are in the outcome.
Result<IncrementalOutcome> RunIncremental(const TableLocation& source,
                                          const std::vector<TableLocation>& targets,
                                          const IncrementalOptions& options, RunObserver& observer);

// Lag of one target: versions = source head − replicated version; seconds = now − commit
// time of the oldest unreplicated source version (0 when caught up). Conflict when the target
// is past the source's head (a source dropped and recreated: the target diverged).
struct Lag {
  int64_t source_version = -1;
  int64_t replicated_version = -1;  // -1: the target has no table yet
  int64_t versions = 0;
  double seconds = 0;
};
Result<Lag> ComputeLag(const TableLocation& source, const TableLocation& target, TimePoint now);

// verify: checks R1–R3 for one target against its source and lists every difference.
struct VerifyReport {
  std::string target;
  int64_t target_version = -1;
  int64_t source_version = -1;
  int64_t commits_checked = 0;
  int64_t files_checked = 0;
  std::vector<std::string> problems;  // empty when R1–R3 hold
  std::vector<std::string> notes;     // what could not be checked, and why
};
Result<VerifyReport> VerifyReplica(const TableLocation& source, const TableLocation& target,
                                   bool checksum);

}  // namespace lakesync::jobs
