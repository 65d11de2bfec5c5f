#pragma once

// Opens the tables a job names: one Storage per table, rooted at the table's URL.

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "jobs/consolidation.h"
#include "jobs/incremental.h"
#include "runner/config.h"
#include "storage/storage.h"

namespace lakesync::runner {

struct OpenTable {
  std::unique_ptr<storage::Storage> storage;
  jobs::TableLocation location;  // points into `storage`
};

// `name` is how the table is shown and recorded (the text written in the configuration).
Result<OpenTable> OpenTableRef(const TableRef& ref);

// The source and the targets of an incremental job.
struct IncrementalTables {
  OpenTable source;
  std::vector<OpenTable> targets;
  std::vector<jobs::TableLocation> TargetLocations() const;
};
Result<IncrementalTables> OpenIncrementalTables(const JobConfig& job);

// The global target and the regional sources of a consolidation job. A source that cannot be
// opened does not fail the call: its location carries `unavailable` (and a null storage).
struct ConsolidationTables {
  OpenTable target;
  std::vector<OpenTable> sources;  // in configuration order; storage null when unopenable
  std::vector<jobs::ConsolidationSource> locations;
};
Result<ConsolidationTables> OpenConsolidationTables(const JobConfig& job);

// A temp file of a live process counts as abandoned once nothing wrote to it for this long.
inline constexpr Duration kAbandonedCopyAge = std::chrono::hours(1);

// Called once a run of `job` was found abandoned (its process was killed): removes from the
// job's targets the partial copies a killed process leaves behind (temp files no commit names,
// which nothing else would ever remove: Storage::RemoveAbandonedTempFiles), and logs what it
// removed. A target that cannot be opened or cleaned is logged and skipped.
void RemoveAbandonedCopies(const JobConfig& job);

}  // namespace lakesync::runner
