#include "runner/tables.h"

#include <spdlog/spdlog.h>

namespace lakesync::runner {

Result<OpenTable> OpenTableRef(const TableRef& ref) {
  auto storage = storage::OpenStorage(ref.uri);
  if (!storage.ok()) return storage.status().WithContext("opening " + ref.text);
  OpenTable t;
  t.storage = std::move(storage).value();
  t.location.name = ref.text;
  t.location.storage = t.storage.get();
  t.location.prefix = "";
  return t;
}

std::vector<jobs::TableLocation> IncrementalTables::TargetLocations() const {
  std::vector<jobs::TableLocation> out;
  for (const auto& t : targets) out.push_back(t.location);
  return out;
}

Result<IncrementalTables> OpenIncrementalTables(const JobConfig& job) {
  IncrementalTables tables;
  LAKESYNC_ASSIGN_OR_RETURN(tables.source, OpenTableRef(job.incremental.source));
  for (const auto& ref : job.incremental.targets) {
    LAKESYNC_ASSIGN_OR_RETURN(OpenTable t, OpenTableRef(ref));
    tables.targets.push_back(std::move(t));
  }
  return tables;
}

Result<ConsolidationTables> OpenConsolidationTables(const JobConfig& job) {
  ConsolidationTables t;
  LAKESYNC_ASSIGN_OR_RETURN(t.target, OpenTableRef(job.consolidation.target));
  for (const auto& [region, ref] : job.consolidation.sources) {
    jobs::ConsolidationSource s;
    s.region = region;
    auto opened = OpenTableRef(ref);
    if (opened.ok()) {
      t.sources.push_back(std::move(opened).value());
      s.table = t.sources.back().location;
    } else {
      t.sources.emplace_back();
      s.table.name = ref.text;
      s.unavailable = opened.status().WithContext("region " + region);
    }
    t.locations.push_back(std::move(s));
  }
  return t;
}

void RemoveAbandonedCopies(const JobConfig& job) {
  std::vector<const TableRef*> targets;
  switch (job.kind) {
    case JobKind::kIncremental:
      for (const auto& ref : job.incremental.targets) targets.push_back(&ref);
      break;
    case JobKind::kSnapshot:
      targets.push_back(&job.snapshot.target);
      break;
    case JobKind::kConsolidation:
      targets.push_back(&job.consolidation.target);
      break;
  }
  for (const TableRef* ref : targets) {
    auto table = OpenTableRef(*ref);
    if (!table.ok()) continue;  // the run reports it
    auto removed =
        table->storage->RemoveAbandonedTempFiles(table->location.prefix, kAbandonedCopyAge);
    if (!removed.ok()) {
      spdlog::warn("{}: removing partial copies a killed run left in {}: {}", job.name, ref->text,
                   removed.status().message());
    } else if (removed->files > 0) {
      spdlog::info("{}: removed {} partial cop{} ({} bytes) a killed run left in {}", job.name,
                   removed->files, removed->files == 1 ? "y" : "ies", removed->bytes, ref->text);
    }
  }
}

}  // namespace lakesync::runner
