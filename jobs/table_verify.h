#pragma once

// verify for the job kinds that write tables of their own (incremental replicas are checked
// against their source by VerifyReplica in jobs/incremental.h):
//
//  * VerifySnapshots: every complete snapshot of a snapshot target (jobs/snapshot.h) is a
//    readable table whose only commit is version 0, whose live files are all present with the
//    sizes its log gives (deep mode; with `checksum`, byte-equal to the source's file of the
//    same path while the source still has it), whose counts agree with its manifest, and — in
//    shallow mode — whose files the source still has (a vacuumed source breaks a shallow
//    snapshot). Half-written or half-deleted snapshots (markers of killed runs) are listed
//    apart: they are invisible, and the job's next run removes them.
//  * VerifyConsolidation: the global table's log replays, every live file is present with its
//    logged size (C2), and no region's txn claims a source version past that source's head.
//
// Problems are listed, not just the first; an error is returned only when the target itself
// cannot be read or listed.
// Ownership: borrows the storages for the duration of a call. Thread-safety: none shared.

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "jobs/consolidation.h"
#include "jobs/incremental.h"

namespace lakesync::jobs {

struct SnapshotsVerifyReport {
  // One per complete snapshot, newest first: target = the snapshot id, target_version = the
  // source version it holds, source_version = the source's head (-1 when unreadable).
  std::vector<VerifyReport> snapshots;
  std::vector<std::string> incomplete;  // "<id> (writing)" / "<id> (deleting)"
  std::string source_error;             // why the source could not be compared, if it could not
};
Result<SnapshotsVerifyReport> VerifySnapshots(const TableLocation& source,
                                              const TableLocation& target, bool checksum);

struct ConsolidationVerifyReport {
  // target = the global table, target_version = its head, source_version = -1.
  VerifyReport global;
  std::vector<RegionLag> regions;  // in the order of the sources
};
Result<ConsolidationVerifyReport> VerifyConsolidation(
    const std::vector<ConsolidationSource>& sources, const TableLocation& target,
    std::string_view job);

}  // namespace lakesync::jobs
