#pragma once

// The schema and protocol side of consolidation (jobs/consolidation.h): reading the top-level
// fields of a Delta `schemaString`, checking that regional tables agree, and building the
// global table's schema, protocol and configuration (DELTA_NOTES §5, §7).
//
// Only top-level fields are compared: a field is its name, its type (the type's JSON,
// compared as text after minification, so nested structs compare whole), nullability and,
// under column mapping, its physical name and id. Other field metadata (comments, ...) is
// taken from the first source.
//
// Thread-safety: values and pure functions.

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "delta/actions.h"

namespace lakesync::jobs {

struct SchemaField {
  std::string name;
  std::string type_json;  // minified JSON of "type" ("\"long\"", "{\"type\":\"struct\",...}")
  bool nullable = true;
  std::optional<std::string> physical_name;  // metadata delta.columnMapping.physicalName
  std::optional<int64_t> column_id;          // metadata delta.columnMapping.id
  std::string json;                          // the whole field, minified
};

// The top-level fields of a struct schema, in order. Corruption when the text is not a JSON
// struct schema.
Result<std::vector<SchemaField>> ParseSchemaFields(std::string_view schema_string);

// {"type":"struct","fields":[...]} from the fields' JSON.
std::string SchemaStringOf(const std::vector<SchemaField>& fields);

// "long", "string not null", "struct<…>" — for messages.
std::string DescribeType(const SchemaField& field);

// One regional table as far as its schema and protocol matter.
struct RegionSchema {
  std::string region;
  const delta::Metadata* metadata = nullptr;
  const delta::Protocol* protocol = nullptr;
};

// Features a consolidated table cannot carry (DELTA_NOTES §5 "writer of new commits"), each
// with the reason given to the user.
struct RefusedFeature {
  std::string_view name;
  std::string_view why;
};
const std::vector<RefusedFeature>& ConsolidationRefusedFeatures();

// OK when lakesync can consolidate a table with this protocol: readable, every writer
// feature known, none of ConsolidationRefusedFeatures. Unsupported naming the feature(s)
// otherwise.
Status CheckConsolidatable(const delta::Protocol& protocol);

// The global table's schema, partitioning, configuration and protocol, built from the
// regions' (at least one). Errors (InvalidArgument unless said):
//  * the region column is already a column of a source ("… already has a column named …");
//  * partition columns differ between sources;
//  * columns differ (naming each differing column; with union_schema a column missing from
//    some sources is added when nullable);
//  * column mapping: modes differ, or physical names / ids of a column differ (Unsupported,
//    naming the columnMapping feature).
struct GlobalDefinition {
  std::vector<SchemaField> fields;  // the sources' fields (merged), without the region column
  std::string schema_string;        // fields + the region column
  std::vector<std::string> partition_columns;  // region column first
  delta::StringMap configuration;
  delta::Protocol protocol;
};
Result<GlobalDefinition> BuildGlobalDefinition(const std::vector<RegionSchema>& regions,
                                               const std::string& region_column, bool union_schema);

// The protocol a table needs to hold files written under each of `protocols`: legacy versions
// (the highest of each) when every one is legacy, else writer version 7 listing every writer
// feature (and reader version 3 listing every reader feature when one needs it), legacy
// versions expanded. Features the global table does not carry (inCommitTimestamp) are left out.
delta::Protocol MergeProtocols(const std::vector<const delta::Protocol*>& protocols);

// Grows the global table so that a region's (possibly changed) source fits it. `metadata` and
// `protocol` hold what the next commit of the global table carries: the table's own, or
// already grown for other regions in this run. They change only when the whole region fits:
//  * partition columns (after the region column) and the column mapping mode must be the
//    global's;
//  * a source column the global table has must have its type and nullability (and, under
//    column mapping, its id and physical name);
//  * a source column the global table lacks is added when `union_schema` and it is nullable
//    (under column mapping only when no global column, the region column included, uses its
//    id or physical name; delta.columnMapping.maxColumnId follows);
//  * a global column the source lacks must be nullable, under `union_schema`;
//  * table features the source's protocol lists that the global's does not are added
//    (MergeProtocols). CheckConsolidatable(source protocol) must pass.
// A null `source` or `source_protocol` (unchanged since the last run) is not checked.
// `changes` gets one entry per addition: "column `c` (long)", "table feature deletionVectors".
// InvalidArgument naming every differing column otherwise; Unsupported for column mapping and
// for a feature that cannot be consolidated.
Status FitGlobalToRegion(const std::string& region, const delta::Metadata* source,
                         const delta::Protocol* source_protocol, const std::string& region_column,
                         bool union_schema, delta::Metadata& metadata, delta::Protocol& protocol,
                         std::vector<std::string>& changes);

}  // namespace lakesync::jobs
