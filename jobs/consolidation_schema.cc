#include "jobs/consolidation_schema.h"

#include <algorithm>
#include <cctype>
#include <map>

#include <fmt/format.h>
#include <simdjson.h>

#include "common/json_writer.h"
#include "delta/protocol.h"

namespace lakesync::jobs {
namespace {

constexpr std::string_view kMappingMode = "delta.columnMapping.mode";
constexpr std::string_view kMaxColumnId = "delta.columnMapping.maxColumnId";

// Configuration keys the global table must not inherit: in-commit timestamps are the new
// table's own choice (and their enablement version/timestamp describe the source's history),
// row tracking is refused.
// delta.appendOnly too: the global table takes every region's deletes and updates (removes),
// so one source's append-only setting would make lakesync's own commits violate it.
bool DroppedConfigKey(std::string_view key) {
  return key == "delta.appendOnly" || key.starts_with("delta.enableInCommitTimestamps") ||
         key.starts_with("delta.inCommitTimestamp") || key.starts_with("delta.enableRowTracking") ||
         key.starts_with("delta.rowTracking");
}

// Features the global table does not carry even when a source lists them.
bool DroppedFeature(std::string_view name) { return name == "inCommitTimestamp"; }

std::string MappingMode(const delta::Metadata& m) {
  auto it = m.configuration.find(std::string(kMappingMode));
  return it == m.configuration.end() ? "none" : it->second;
}

std::string Join(const std::vector<std::string>& items) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += ", ";
    out += items[i];
  }
  return out + "]";
}

const SchemaField* FindField(const std::vector<SchemaField>& fields, std::string_view name) {
  for (const auto& f : fields) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

bool SameNameIgnoringCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// A field whose name equals `name` but for case (Delta column names are case-insensitive: two
// such columns are one column to Spark, and a schema holding both is refused).
const SchemaField* FindFieldIgnoringCase(const std::vector<SchemaField>& fields,
                                         std::string_view name) {
  for (const auto& f : fields) {
    if (SameNameIgnoringCase(f.name, name)) return &f;
  }
  return nullptr;
}

bool SameDefinition(const SchemaField& a, const SchemaField& b) {
  return a.type_json == b.type_json && a.nullable == b.nullable;
}

std::string Quoted(std::string_view name) { return fmt::format("`{}`", name); }

std::string UnionHint(bool union_schema) {
  return union_schema ? ""
                      : " or write `schema: union` in the job to add nullable columns that "
                        "only some sources have";
}

constexpr std::string_view kIdKey = "\"delta.columnMapping.id\":";

// Every column mapping id in a minified field or schema JSON, nested fields included. The key
// text cannot occur inside a JSON string (its quotes would be escaped there).
std::vector<int64_t> ColumnIdsIn(std::string_view json) {
  std::vector<int64_t> out;
  for (size_t at = json.find(kIdKey); at != std::string_view::npos;
       at = json.find(kIdKey, at + 1)) {
    size_t begin = at + kIdKey.size(), end = begin;
    while (end < json.size() && std::isdigit(static_cast<unsigned char>(json[end]))) ++end;
    if (end > begin)
      out.push_back(
          std::strtoll(std::string(json.substr(begin, end - begin)).c_str(), nullptr, 10));
  }
  return out;
}

// `json` with each column mapping id that is a key of `renumber` replaced by its value.
std::string RenumberColumnIds(std::string_view json, const std::map<int64_t, int64_t>& renumber) {
  std::string out;
  size_t copied = 0;
  for (size_t at = json.find(kIdKey); at != std::string_view::npos;
       at = json.find(kIdKey, at + 1)) {
    size_t begin = at + kIdKey.size(), end = begin;
    while (end < json.size() && std::isdigit(static_cast<unsigned char>(json[end]))) ++end;
    if (end == begin) continue;
    auto it = renumber.find(
        std::strtoll(std::string(json.substr(begin, end - begin)).c_str(), nullptr, 10));
    if (it == renumber.end()) continue;
    out.append(json.substr(copied, begin - copied));
    out += std::to_string(it->second);
    copied = end;
  }
  out.append(json.substr(copied));
  return out;
}

int64_t MaxColumnId(const delta::Metadata& m) {
  auto it = m.configuration.find(std::string(kMaxColumnId));
  return it == m.configuration.end() ? 0 : std::strtoll(it->second.c_str(), nullptr, 10);
}

// Column mapping ids unique across `fields`, nested ones included: from fields[from] on, an
// id that an earlier field uses is replaced by a fresh one, above every id in `fields` and
// above `max_id`. Returns the highest id in use (at least `max_id`).
int64_t MakeColumnIdsUnique(std::vector<SchemaField>& fields, size_t from, int64_t max_id) {
  std::set<int64_t> used;
  for (const auto& f : fields) {
    for (int64_t id : ColumnIdsIn(f.json)) max_id = std::max(max_id, id);
  }
  for (size_t i = 0; i < fields.size(); ++i) {
    SchemaField& f = fields[i];
    const std::vector<int64_t> ids = ColumnIdsIn(f.json);
    std::map<int64_t, int64_t> renumber;
    if (i >= from) {
      for (int64_t id : ids) {
        if (used.count(id) > 0) renumber[id] = ++max_id;
      }
    }
    if (!renumber.empty()) {
      f.json = RenumberColumnIds(f.json, renumber);
      if (f.column_id && renumber.count(*f.column_id) > 0) f.column_id = renumber[*f.column_id];
    }
    for (int64_t id : ColumnIdsIn(f.json)) used.insert(id);
  }
  return max_id;
}

}  // namespace

Result<std::vector<SchemaField>> ParseSchemaFields(std::string_view schema_string) {
  simdjson::dom::parser parser;
  simdjson::padded_string padded(schema_string);
  simdjson::dom::element doc;
  auto bad = [&](std::string_view what) {
    return Status::Corruption(fmt::format("schemaString is not a Delta struct schema: {}", what));
  };
  if (parser.parse(padded).get(doc) != simdjson::SUCCESS) return bad("not valid JSON");
  simdjson::dom::array fields;
  if (doc["fields"].get_array().get(fields) != simdjson::SUCCESS) return bad("no fields array");
  std::vector<SchemaField> out;
  for (simdjson::dom::element f : fields) {
    SchemaField field;
    std::string_view name;
    if (f["name"].get_string().get(name) != simdjson::SUCCESS) return bad("a field has no name");
    field.name = std::string(name);
    simdjson::dom::element type;
    if (f["type"].get(type) != simdjson::SUCCESS) {
      return bad("field " + field.name + " has no type");
    }
    field.type_json = simdjson::minify(type);
    bool nullable = true;
    if (f["nullable"].get_bool().get(nullable) == simdjson::SUCCESS) field.nullable = nullable;
    simdjson::dom::object meta;
    if (f["metadata"].get_object().get(meta) == simdjson::SUCCESS) {
      std::string_view phys;
      if (meta["delta.columnMapping.physicalName"].get_string().get(phys) == simdjson::SUCCESS) {
        field.physical_name = std::string(phys);
      }
      int64_t id = 0;
      if (meta["delta.columnMapping.id"].get_int64().get(id) == simdjson::SUCCESS) {
        field.column_id = id;
      }
    }
    field.json = simdjson::minify(f);
    out.push_back(std::move(field));
  }
  return out;
}

std::string SchemaStringOf(const std::vector<SchemaField>& fields) {
  std::string out = R"({"type":"struct","fields":[)";
  for (size_t i = 0; i < fields.size(); ++i) {
    if (i > 0) out += ',';
    out += fields[i].json;
  }
  return out + "]}";
}

std::string DescribeType(const SchemaField& field) {
  std::string type = field.type_json;
  if (type.size() >= 2 && type.front() == '"' && type.back() == '"') {
    type = type.substr(1, type.size() - 2);
  }
  return field.nullable ? type : type + " not null";
}

const std::vector<RefusedFeature>& ConsolidationRefusedFeatures() {
  static const std::vector<RefusedFeature> kRefused = {
      {"rowTracking", "row ids of different regions would collide in one table"},
      {"identityColumns", "identity values of different regions would collide in one table"},
      {"clustering", "a table cannot be both clustered and partitioned by the region column"},
      {"icebergCompatV1", "it needs partition values inside the data files"},
      {"icebergCompatV2", "it needs partition values inside the data files"},
      {"icebergWriterCompatV1", "it needs partition values inside the data files"},
      {"materializePartitionColumns", "it needs partition values inside the data files"},
  };
  return kRefused;
}

Status CheckConsolidatable(const delta::Protocol& protocol) {
  LAKESYNC_RETURN_IF_ERROR(delta::CheckReadable(protocol));
  std::set<std::string> writer = delta::WriterFeatures(protocol);
  std::vector<std::string> refused;
  for (const auto& r : ConsolidationRefusedFeatures()) {
    if (writer.count(std::string(r.name)) > 0) {
      refused.push_back(fmt::format("{} ({})", r.name, r.why));
    }
  }
  if (!refused.empty()) {
    std::string list;
    for (size_t i = 0; i < refused.size(); ++i) list += (i > 0 ? ", " : "") + refused[i];
    return Status::Unsupported(
        "file-level consolidation cannot preserve table feature " + list +
        "; consolidate a copy of the table without that feature, or leave this region out");
  }
  // Everything else lakesync knows is carried over unchanged; unknown names are refused.
  std::set<std::string> honoured;
  for (const auto& name : writer) {
    if (delta::FindFeature(name) != nullptr) honoured.insert(name);
  }
  return delta::CheckWritable(protocol, honoured);
}

Result<GlobalDefinition> BuildGlobalDefinition(const std::vector<RegionSchema>& regions,
                                               const std::string& region_column,
                                               bool union_schema) {
  if (regions.empty()) return Status::InvalidArgument("no source to build the global table from");
  const RegionSchema& first = regions.front();

  // Partitioning must agree exactly.
  for (const auto& r : regions) {
    if (r.metadata->partition_columns != first.metadata->partition_columns) {
      return Status::InvalidArgument(fmt::format(
          "the sources are partitioned differently: {} by {}, {} by {}; consolidation needs the "
          "same partition columns in every source",
          first.region, Join(first.metadata->partition_columns), r.region,
          Join(r.metadata->partition_columns)));
    }
  }
  // Column mapping: one mode, and the same physical names everywhere (the data files use them).
  const std::string mode = MappingMode(*first.metadata);
  for (const auto& r : regions) {
    if (MappingMode(*r.metadata) != mode) {
      return Status::Unsupported(fmt::format(
          "feature columnMapping: {} uses column mapping mode {}, {} uses {}; file-level "
          "consolidation cannot preserve column mapping across tables whose modes differ",
          first.region, mode, r.region, MappingMode(*r.metadata)));
    }
  }

  GlobalDefinition def;
  std::vector<std::string> origin;  // which region each merged field came from
  LAKESYNC_ASSIGN_OR_RETURN(def.fields, ParseSchemaFields(first.metadata->schema_string));
  origin.assign(def.fields.size(), first.region);
  std::vector<std::string> diffs;
  for (size_t i = 1; i < regions.size(); ++i) {
    const RegionSchema& r = regions[i];
    auto parsed = ParseSchemaFields(r.metadata->schema_string);
    if (!parsed.ok()) return parsed.status().WithContext("region " + r.region);
    for (const auto& f : *parsed) {
      const SchemaField* have = FindField(def.fields, f.name);
      if (have == nullptr) {
        if (const SchemaField* other = FindFieldIgnoringCase(def.fields, f.name)) {
          diffs.push_back(fmt::format(
              "column {} in {} and {} in {} differ only in case (Delta treats them as one "
              "column; rename one so that they agree)",
              Quoted(other->name), origin[static_cast<size_t>(other - def.fields.data())],
              Quoted(f.name), r.region));
          continue;
        }
        if (union_schema && f.nullable && mode != "none") {
          // The added column keeps its source's physical name, which must not name another
          // column of the global table. Its ids: mode name reads by physical name, so a taken
          // id is replaced below (MakeColumnIdsUnique); mode id reads by id, so a taken one is
          // refused (and see the dropped-column check below).
          for (const auto& g : def.fields) {
            if ((mode == "id" && f.column_id && g.column_id == f.column_id) ||
                (f.physical_name && g.physical_name == f.physical_name)) {
              return Status::Unsupported(fmt::format(
                  "feature columnMapping: column {} of {} (physical name {}, id {}) would share "
                  "{} with column {} of {} in the global table; schema: union cannot add a "
                  "column-mapped column whose {} another column uses — "
                  "consolidate tables that share their column mapping, or add the column to "
                  "every source",
                  Quoted(f.name), r.region, f.physical_name.value_or("none"),
                  f.column_id ? std::to_string(*f.column_id) : "none",
                  f.physical_name && g.physical_name == f.physical_name ? "its physical name"
                                                                        : "its id",
                  Quoted(g.name), origin[static_cast<size_t>(&g - def.fields.data())],
                  mode == "id" ? "id or physical name" : "physical name"));
            }
          }
        }
        if (union_schema && f.nullable) {
          def.fields.push_back(f);
          origin.push_back(r.region);
        } else {
          diffs.push_back(
              fmt::format("column {}: in {}, not in {}{}", Quoted(f.name), r.region, first.region,
                          union_schema ? " (and not nullable, so union cannot add it)" : ""));
        }
        continue;
      }
      const std::string& from = origin[static_cast<size_t>(have - def.fields.data())];
      if (!SameDefinition(*have, f)) {
        diffs.push_back(fmt::format("column {}: {} has {}, {} has {}", Quoted(f.name), from,
                                    DescribeType(*have), r.region, DescribeType(f)));
      } else if (mode != "none" && (have->physical_name != f.physical_name ||
                                    (mode == "id" && have->column_id != f.column_id))) {
        return Status::Unsupported(fmt::format(
            "feature columnMapping: column {} has physical name {} (id {}) in {} but {} (id {}) "
            "in {}; file-level consolidation cannot preserve column mapping with differing "
            "physical names{} (the data files use them) — consolidate tables that share their "
            "column mapping (one created as a clone of the other), or rewrite a source without "
            "column mapping",
            Quoted(f.name), have->physical_name.value_or("none"),
            have->column_id ? std::to_string(*have->column_id) : "none", from,
            f.physical_name.value_or("none"), f.column_id ? std::to_string(*f.column_id) : "none",
            r.region, mode == "id" ? " or ids" : ""));
      }
    }
    for (size_t j = 0; j < def.fields.size(); ++j) {
      const SchemaField& f = def.fields[j];
      if (FindFieldIgnoringCase(*parsed, f.name) != nullptr) continue;
      if (union_schema && f.nullable) continue;
      diffs.push_back(
          fmt::format("column {}: in {}, not in {}{}", Quoted(f.name), origin[j], r.region,
                      union_schema ? " (and not nullable, so union cannot add it)" : ""));
    }
  }
  if (!diffs.empty()) {
    std::string list;
    for (size_t i = 0; i < diffs.size(); ++i) list += (i > 0 ? "; " : "") + diffs[i];
    return Status::InvalidArgument("the sources' schemas differ: " + list +
                                   ". Make the regional tables' schemas agree" +
                                   UnionHint(union_schema));
  }
  // Mode id reads a file's columns by id: a column some region lacks must not have an id that
  // region may have given a column it dropped (its maxColumnId reaches it), or that region's
  // old files would be read as this column.
  if (mode == "id" && union_schema) {
    for (const auto& q : regions) {
      auto q_fields = ParseSchemaFields(q.metadata->schema_string);
      if (!q_fields.ok()) continue;
      for (const auto& f : def.fields) {
        if (!f.column_id || FindField(*q_fields, f.name) != nullptr) continue;
        if (MaxColumnId(*q.metadata) >= *f.column_id) {
          return Status::Unsupported(fmt::format(
              "feature columnMapping: column {} has id {}, which {} (without the column, "
              "maxColumnId {}) may have given a column it dropped; in column mapping mode id its "
              "old files would be read as {}. schema: union cannot add it — add the column to "
              "every source, or consolidate tables in column mapping mode name",
              Quoted(f.name), *f.column_id, q.region, MaxColumnId(*q.metadata), Quoted(f.name)));
        }
      }
    }
  }
  for (const auto& r : regions) {
    if (FindFieldIgnoringCase(def.fields, region_column) != nullptr) {
      return Status::InvalidArgument(fmt::format(
          "region {}: the source already has a column named {}; choose another region_column "
          "for the job",
          r.region, region_column));
    }
  }

  // Configuration: the first source's, without what the new table must choose itself.
  for (const auto& [k, v] : first.metadata->configuration) {
    if (!DroppedConfigKey(k)) def.configuration[k] = v;
  }
  JsonWriter region_field;
  region_field.BeginObject()
      .Key("name")
      .String(region_column)
      .Key("type")
      .String("string")
      .Key("nullable")
      .Bool(false)
      .Key("metadata")
      .BeginObject();
  if (mode != "none") {
    int64_t max_id = 0;
    for (const auto& r : regions) max_id = std::max(max_id, MaxColumnId(*r.metadata));
    max_id = MakeColumnIdsUnique(def.fields, 0, max_id);
    region_field.Key("delta.columnMapping.id")
        .Int(max_id + 1)
        .Key("delta.columnMapping.physicalName")
        .String(region_column);
    def.configuration[std::string(kMaxColumnId)] = std::to_string(max_id + 1);
  }
  region_field.EndObject().EndObject();
  std::vector<SchemaField> all = def.fields;
  SchemaField rf;
  rf.name = region_column;
  rf.type_json = "\"string\"";
  rf.nullable = false;
  rf.json = region_field.Take();
  all.push_back(rf);
  def.schema_string = SchemaStringOf(all);
  def.partition_columns.push_back(region_column);
  for (const auto& c : first.metadata->partition_columns) def.partition_columns.push_back(c);

  // Protocol: what the sources need, minus the features the global table does not carry.
  std::vector<const delta::Protocol*> protocols;
  for (const auto& r : regions) protocols.push_back(r.protocol);
  def.protocol = MergeProtocols(protocols);
  return def;
}

delta::Protocol MergeProtocols(const std::vector<const delta::Protocol*>& protocols) {
  bool legacy = true;
  int32_t reader = 1, writer = 2;
  std::set<std::string> reader_features, writer_features;
  for (const delta::Protocol* p : protocols) {
    legacy = legacy && p->min_reader_version < 3 && p->min_writer_version < 7;
    reader = std::max(reader, p->min_reader_version);
    writer = std::max(writer, p->min_writer_version);
    for (const auto& f : delta::ReaderFeatures(*p)) {
      if (!DroppedFeature(f)) reader_features.insert(f);
    }
    for (const auto& f : delta::WriterFeatures(*p)) {
      if (!DroppedFeature(f)) writer_features.insert(f);
    }
  }
  delta::Protocol out;
  out.min_reader_version = reader;
  out.min_writer_version = writer;
  if (!legacy) {
    out.min_writer_version = 7;
    out.writer_features = std::vector<std::string>(writer_features.begin(), writer_features.end());
    if (reader >= 3) {
      out.reader_features =
          std::vector<std::string>(reader_features.begin(), reader_features.end());
    }
  }
  return out;
}

namespace {

// FitGlobalToRegion's schema half: `metadata` changes only when the source fits.
Status FitSchema(const std::string& region, const delta::Metadata& source,
                 const std::string& region_column, bool union_schema, delta::Metadata& metadata,
                 std::vector<std::string>& changes) {
  std::vector<std::string> want_partitions(
      metadata.partition_columns.begin() + (metadata.partition_columns.empty() ? 0 : 1),
      metadata.partition_columns.end());
  if (source.partition_columns != want_partitions) {
    return Status::InvalidArgument(fmt::format(
        "region {}: the source is partitioned by {} but the global table by {} after {}; "
        "consolidation needs the same partition columns in every source",
        region, Join(source.partition_columns), Join(want_partitions), region_column));
  }
  const std::string mode = MappingMode(metadata);
  if (MappingMode(source) != mode) {
    return Status::Unsupported(
        fmt::format("feature columnMapping: region {} uses column mapping mode {} but the global "
                    "table uses {}; file-level consolidation cannot change column mapping",
                    region, MappingMode(source), mode));
  }
  LAKESYNC_ASSIGN_OR_RETURN(std::vector<SchemaField> all,
                            ParseSchemaFields(metadata.schema_string));
  auto parsed = ParseSchemaFields(source.schema_string);
  if (!parsed.ok()) return parsed.status().WithContext("region " + region);
  std::vector<SchemaField> added;
  std::vector<std::string> diffs;
  for (const auto& f : *parsed) {
    const SchemaField* g = FindField(all, f.name);
    if (SameNameIgnoringCase(f.name, region_column)) {
      diffs.push_back(fmt::format("column {}: the source has a column named like the region column",
                                  Quoted(f.name)));
    } else if (g == nullptr) {
      if (const SchemaField* other = FindFieldIgnoringCase(all, f.name)) {
        diffs.push_back(fmt::format(
            "column {} of {} and {} of the global table differ only in case (Delta treats them "
            "as one column; rename the source's)",
            Quoted(f.name), region, Quoted(other->name)));
      } else if (!union_schema || !f.nullable) {
        diffs.push_back(fmt::format(
            "column {}: in {}, not in the global table{}", Quoted(f.name), region,
            union_schema ? " (and not nullable, so union cannot add it)"
                         : " (write `schema: union` in the job to add the nullable columns "
                           "a source gains)"));
      } else if (mode == "id") {
        return Status::Unsupported(fmt::format(
            "feature columnMapping: region {} added column {}, but the global table uses column "
            "mapping mode id, where a column's id names its data in the files of every region: "
            "an id given to a new column could name one another region dropped, and its old "
            "files would be read as the new column. Consolidate into a new global table",
            region, Quoted(f.name)));
      } else {
        if (mode == "name") {
          for (const auto& other : all) {
            if (f.physical_name && other.physical_name == f.physical_name) {
              return Status::Unsupported(fmt::format(
                  "feature columnMapping: column {} of region {} has physical name {}, which "
                  "column {} of the global table uses; schema: union cannot add a column-mapped "
                  "column whose physical name another column uses — consolidate into a new "
                  "global table",
                  Quoted(f.name), region, *f.physical_name, Quoted(other.name)));
            }
          }
        }
        added.push_back(f);
      }
    } else if (!SameDefinition(*g, f)) {
      diffs.push_back(fmt::format("column {}: the global table has {}, {} has {}", Quoted(f.name),
                                  DescribeType(*g), region, DescribeType(f)));
    } else if (mode != "none" && (g->physical_name != f.physical_name ||
                                  (mode == "id" && g->column_id != f.column_id))) {
      // Name mode reads by physical name alone: the global table may number a column
      // differently (see below).
      return Status::Unsupported(fmt::format(
          "feature columnMapping: column {} of region {} has physical name {} (id {}) but the "
          "global table's is {} (id {}); file-level consolidation cannot preserve column mapping "
          "with differing physical names{}",
          Quoted(f.name), region, f.physical_name.value_or("none"),
          f.column_id ? std::to_string(*f.column_id) : "none", g->physical_name.value_or("none"),
          g->column_id ? std::to_string(*g->column_id) : "none", mode == "id" ? " or ids" : ""));
    }
  }
  for (const auto& g : all) {
    if (g.name == region_column || FindField(*parsed, g.name) != nullptr) continue;
    if (union_schema && g.nullable) continue;
    diffs.push_back(fmt::format("column {}: in the global table, not in {}{}", Quoted(g.name),
                                region, union_schema ? " (and not nullable there)" : ""));
  }
  if (!diffs.empty()) {
    std::string list;
    for (size_t i = 0; i < diffs.size(); ++i) list += (i > 0 ? "; " : "") + diffs[i];
    return Status::InvalidArgument(fmt::format(
        "region {}: the source's schema does not fit the global table's: {}. Change the source "
        "back, or consolidate into a new global table",
        region, list));
  }

  // The region fits: grow the global table. New columns go before the region column.
  if (!added.empty()) {
    auto at = std::find_if(all.begin(), all.end(),
                           [&](const SchemaField& f) { return f.name == region_column; });
    for (const auto& f : added)
      changes.push_back(fmt::format("column {} ({})", Quoted(f.name), DescribeType(f)));
    if (mode == "name") {
      // Ids must stay unique across the whole schema, nested fields included; name mode reads
      // by physical name, so an id another column (the region column, say) already uses is
      // replaced by a fresh one.
      std::vector<SchemaField> fields = all;
      fields.insert(fields.end(), added.begin(), added.end());
      int64_t max_id = MakeColumnIdsUnique(fields, all.size(), MaxColumnId(metadata));
      added.assign(fields.begin() + static_cast<std::ptrdiff_t>(all.size()), fields.end());
      metadata.configuration[std::string(kMaxColumnId)] = std::to_string(max_id);
    }
    all.insert(at, added.begin(), added.end());
    metadata.schema_string = SchemaStringOf(all);
    metadata.raw_json.clear();
  }
  return Status::OK();
}

// FitGlobalToRegion's protocol half: adds what `source` lists and `protocol` does not.
void GrowProtocol(const delta::Protocol& source, delta::Protocol& protocol,
                  std::vector<std::string>& changes) {
  const std::set<std::string> had_writer = delta::WriterFeatures(protocol);
  const std::set<std::string> had_reader = delta::ReaderFeatures(protocol);
  delta::Protocol merged = MergeProtocols({&protocol, &source});
  // The global table's own features stay, even one a new global table would leave out.
  for (auto [list, had] : {std::pair{&merged.writer_features, &had_writer},
                           std::pair{&merged.reader_features, &had_reader}}) {
    if (!list->has_value()) continue;
    std::set<std::string> all((*list)->begin(), (*list)->end());
    all.insert(had->begin(), had->end());
    *list = std::vector<std::string>(all.begin(), all.end());
  }
  std::vector<std::string> features;
  for (const auto& f : delta::WriterFeatures(merged)) {
    if (had_writer.count(f) == 0) features.push_back(f);
  }
  for (const auto& f : delta::ReaderFeatures(merged)) {
    if (had_reader.count(f) == 0 && had_writer.count(f) == 0 &&
        std::find(features.begin(), features.end(), f) == features.end()) {
      features.push_back(f);
    }
  }
  if (merged.min_reader_version != protocol.min_reader_version ||
      merged.min_writer_version != protocol.min_writer_version || !features.empty()) {
    for (const auto& f : features) changes.push_back("table feature " + f);
    protocol = std::move(merged);
  }
}

}  // namespace

Status FitGlobalToRegion(const std::string& region, const delta::Metadata* source,
                         const delta::Protocol* source_protocol, const std::string& region_column,
                         bool union_schema, delta::Metadata& metadata, delta::Protocol& protocol,
                         std::vector<std::string>& changes) {
  if (source_protocol != nullptr) {
    LAKESYNC_RETURN_IF_ERROR(CheckConsolidatable(*source_protocol).WithContext("region " + region));
  }
  std::vector<std::string> added_changes;
  if (source != nullptr) {
    LAKESYNC_RETURN_IF_ERROR(
        FitSchema(region, *source, region_column, union_schema, metadata, added_changes));
  }
  if (source_protocol != nullptr) GrowProtocol(*source_protocol, protocol, added_changes);
  changes.insert(changes.end(), added_changes.begin(), added_changes.end());
  return Status::OK();
}

}  // namespace lakesync::jobs
