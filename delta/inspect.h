#pragma once

// Inspect: a summary of a Delta table at a version, for `lakesync inspect` (the CLI lives in
// runner/; this is the data and its JSON/text renderings).
//
// Thread-safety: Inspect is safe to call concurrently if the Storage is; the report is a value.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "delta/actions.h"
#include "delta/timestamps.h"
#include "storage/storage.h"

namespace lakesync::delta {

struct ColumnSummary {
  std::string name;
  std::string type;  // "integer", "string", "struct", "array<long>", "map<string,long>"
  bool nullable = true;
};

struct InspectFile {
  std::string path;  // decoded path (absolute URI when the log has one)
  int64_t size = 0;
  std::optional<std::string> deletion_vector_path;  // relative ('u') or URI ('p'); none inline
  std::optional<int64_t> num_records;
  PartitionValues partition_values;
};

struct InspectReport {
  std::string table;  // storage description + prefix
  int64_t version = 0;
  TimePoint timestamp;
  TimestampSource timestamp_source = TimestampSource::kCommitInfo;
  int32_t min_reader_version = 1;
  int32_t min_writer_version = 2;
  std::vector<std::string> reader_features;  // legacy versions expanded
  std::vector<std::string> writer_features;
  // Empty when lakesync can read the table; else why not (CheckReadable's message).
  std::string unsupported;
  std::string table_id;
  std::vector<std::string> partition_columns;
  std::vector<ColumnSummary> schema;
  int64_t num_files = 0;
  int64_t bytes = 0;
  int64_t rows = 0;
  bool rows_exact = true;           // false when some live file has no numRecords in its stats
  std::string checkpoint = "none";  // the checkpoint a reader would start from
  std::vector<InspectFile> files;   // sorted by path
};

// The state at `version`, at the latest version whose commit time ≤ `as_of`, or at head.
// Commit times of non-ICT commits follow `timestamps` (delta/timestamps.h).
// InvalidArgument when both are given. Errors from DeltaLog::Load pass through (NotFound,
// Corruption, Unsupported for tables that need a Parquet checkpoint).
Result<InspectReport> Inspect(
    storage::Storage& storage, std::string_view table_prefix, std::optional<int64_t> version,
    std::optional<TimePoint> as_of,
    NonIctTimestampPolicy timestamps = NonIctTimestampPolicy::kFileModificationTime);

// Top-level columns of a Delta schemaString. Corruption when it is not a struct schema.
Result<std::vector<ColumnSummary>> SummarizeSchema(std::string_view schema_string);

// {"table","version","timestamp","timestamp_source","protocol":{...},"partition_columns",
//  "schema","num_files","bytes","rows","rows_exact","checkpoint","files":[{"path","size",
//  "deletion_vector_path",...}]} — "files" only when with_files.
std::string InspectReportToJson(const InspectReport& report, bool with_files);
// A human-readable block for a terminal.
std::string InspectReportToText(const InspectReport& report, bool with_files);

}  // namespace lakesync::delta
