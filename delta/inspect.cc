#include "delta/inspect.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <simdjson.h>

#include "common/duration.h"
#include "common/logging.h"
#include "delta/log_reader.h"
#include "delta/protocol.h"

namespace lakesync::delta {
namespace {

namespace dom = simdjson::dom;

std::string TypeSummary(dom::element type) {
  std::string_view s;
  if (!type.get_string().get(s)) return std::string(s);
  dom::object o;
  if (type.get_object().get(o)) return "?";
  std::string_view kind;
  if (o["type"].get_string().get(kind)) return "?";
  if (kind == "array") {
    dom::element e;
    if (!o["elementType"].get(e)) return "array<" + TypeSummary(e) + ">";
  } else if (kind == "map") {
    dom::element k, v;
    if (!o["keyType"].get(k) && !o["valueType"].get(v)) {
      return "map<" + TypeSummary(k) + "," + TypeSummary(v) + ">";
    }
  }
  return std::string(kind);
}

void Quoted(std::string& out, std::string_view s) {
  out += '"';
  AppendJsonEscaped(out, s);
  out += '"';
}

void StringArray(std::string& out, const std::vector<std::string>& items) {
  out += '[';
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out += ',';
    Quoted(out, items[i]);
  }
  out += ']';
}

}  // namespace

Result<std::vector<ColumnSummary>> SummarizeSchema(std::string_view schema_string) {
  dom::parser parser;
  dom::element doc;
  auto bad = [&](std::string_view why) {
    return Status::Corruption(fmt::format(
        "metaData.schemaString is not a Delta struct schema ({}); the table metadata is "
        "damaged",
        why));
  };
  if (auto err = parser.parse(schema_string.data(), schema_string.size(), true).get(doc)) {
    return bad(simdjson::error_message(err));
  }
  dom::array fields;
  if (doc["fields"].get_array().get(fields)) return bad("no 'fields' array");
  std::vector<ColumnSummary> out;
  for (auto f : fields) {
    ColumnSummary c;
    std::string_view name;
    if (f["name"].get_string().get(name)) return bad("a field has no name");
    c.name = std::string(name);
    dom::element type;
    if (f["type"].get(type)) return bad(fmt::format("field '{}' has no type", name));
    c.type = TypeSummary(type);
    bool nullable = true;
    if (!f["nullable"].get_bool().get(nullable)) c.nullable = nullable;
    out.push_back(std::move(c));
  }
  return out;
}

Result<InspectReport> Inspect(storage::Storage& storage, std::string_view table_prefix,
                              std::optional<int64_t> version, std::optional<TimePoint> as_of,
                              NonIctTimestampPolicy timestamps) {
  if (version && as_of) {
    return Status::InvalidArgument("give either a version or a timestamp (as of), not both");
  }
  DeltaLog log(storage, std::string(table_prefix));
  std::optional<int64_t> target = version;
  std::optional<TableState> head_state;
  if (as_of) {
    LAKESYNC_ASSIGN_OR_RETURN(TableState head, log.Load(std::nullopt));
    LAKESYNC_ASSIGN_OR_RETURN(auto ict, IctEnablementVersion(head.snapshot.metadata()));
    LAKESYNC_ASSIGN_OR_RETURN(auto times,
                              ComputeCommitTimestamps(head.commit_times, ict, timestamps));
    auto v = VersionAsOf(times, *as_of);
    if (!v.ok()) return v.status().WithContext(log.Describe());
    target = *v;
    if (*v == head.snapshot.version()) head_state = std::move(head);
  }
  std::optional<TableState> loaded;
  if (head_state) {
    loaded = std::move(head_state);
  } else {
    LAKESYNC_ASSIGN_OR_RETURN(TableState st, log.Load(target));
    loaded = std::move(st);
  }
  const Snapshot& snap = loaded->snapshot;

  InspectReport r;
  r.table = log.Describe();
  r.version = snap.version();
  LAKESYNC_ASSIGN_OR_RETURN(auto ict, IctEnablementVersion(snap.metadata()));
  LAKESYNC_ASSIGN_OR_RETURN(auto times,
                            ComputeCommitTimestamps(loaded->commit_times, ict, timestamps));
  if (!times.empty()) {
    r.timestamp = times.back().timestamp;
    r.timestamp_source = times.back().source;
  }
  const Protocol& p = snap.protocol();
  r.min_reader_version = p.min_reader_version;
  r.min_writer_version = p.min_writer_version;
  for (const auto& f : ReaderFeatures(p)) r.reader_features.push_back(f);
  for (const auto& f : WriterFeatures(p)) r.writer_features.push_back(f);
  Status readable = CheckReadable(p);
  if (!readable.ok()) r.unsupported = readable.message();
  r.table_id = snap.metadata().id;
  r.partition_columns = snap.metadata().partition_columns;
  LAKESYNC_ASSIGN_OR_RETURN(r.schema, SummarizeSchema(snap.metadata().schema_string));
  r.num_files = snap.num_files();
  r.bytes = snap.bytes();
  r.rows = snap.rows();
  r.rows_exact = snap.rows_exact();
  if (loaded->segment.checkpoint) r.checkpoint = loaded->segment.checkpoint->Describe();
  r.files.reserve(snap.files().size());
  for (const auto& lf : snap.files()) {
    InspectFile f;
    f.path = lf.add.decoded_path;
    f.size = lf.add.size;
    f.num_records = lf.add.num_records;
    f.partition_values = lf.add.partition_values;
    if (lf.add.deletion_vector && lf.add.deletion_vector->HasFile()) {
      const auto& dv = *lf.add.deletion_vector;
      auto path = dv.storage_type == 'u' ? dv.RelativePath() : dv.AbsolutePath("");
      if (path.ok()) f.deletion_vector_path = *path;
    }
    r.files.push_back(std::move(f));
  }
  return r;
}

std::string InspectReportToJson(const InspectReport& r, bool with_files) {
  std::string out = "{\"table\":";
  Quoted(out, r.table);
  out += fmt::format(",\"version\":{},\"timestamp\":", r.version);
  Quoted(out, FormatTimestamp(r.timestamp));
  out += fmt::format(",\"timestamp_ms\":{},\"timestamp_source\":", ToUnixMillis(r.timestamp));
  Quoted(out, TimestampSourceName(r.timestamp_source));
  out += fmt::format(",\"protocol\":{{\"min_reader_version\":{},\"min_writer_version\":{},",
                     r.min_reader_version, r.min_writer_version);
  out += "\"reader_features\":";
  StringArray(out, r.reader_features);
  out += ",\"writer_features\":";
  StringArray(out, r.writer_features);
  out += ",\"unsupported\":";
  if (r.unsupported.empty()) {
    out += "null";
  } else {
    Quoted(out, r.unsupported);
  }
  out += "},\"table_id\":";
  Quoted(out, r.table_id);
  out += ",\"partition_columns\":";
  StringArray(out, r.partition_columns);
  out += ",\"schema\":[";
  for (size_t i = 0; i < r.schema.size(); ++i) {
    if (i) out += ',';
    out += "{\"name\":";
    Quoted(out, r.schema[i].name);
    out += ",\"type\":";
    Quoted(out, r.schema[i].type);
    out += fmt::format(",\"nullable\":{}}}", r.schema[i].nullable);
  }
  out += fmt::format("],\"num_files\":{},\"bytes\":{},\"rows\":{},\"rows_exact\":{},", r.num_files,
                     r.bytes, r.rows, r.rows_exact);
  out += "\"checkpoint\":";
  Quoted(out, r.checkpoint);
  if (with_files) {
    out += ",\"files\":[";
    for (size_t i = 0; i < r.files.size(); ++i) {
      const auto& f = r.files[i];
      if (i) out += ',';
      out += "{\"path\":";
      Quoted(out, f.path);
      out += fmt::format(",\"size\":{},\"deletion_vector_path\":", f.size);
      if (f.deletion_vector_path) {
        Quoted(out, *f.deletion_vector_path);
      } else {
        out += "null";
      }
      out += ",\"num_records\":";
      out += f.num_records ? std::to_string(*f.num_records) : "null";
      out += ",\"partition_values\":{";
      bool first = true;
      for (const auto& [k, v] : f.partition_values) {
        if (!first) out += ',';
        first = false;
        Quoted(out, k);
        out += ':';
        if (v) {
          Quoted(out, *v);
        } else {
          out += "null";
        }
      }
      out += "}}";
    }
    out += ']';
  }
  out += '}';
  return out;
}

std::string InspectReportToText(const InspectReport& r, bool with_files) {
  auto features = [](const std::vector<std::string>& f) {
    return f.empty() ? std::string() : fmt::format(" [{}]", fmt::join(f, ", "));
  };
  std::string out;
  out += fmt::format("table:       {}\n", r.table);
  out += fmt::format("version:     {}\n", r.version);
  out += fmt::format("timestamp:   {} (from {})\n", FormatTimestamp(r.timestamp),
                     TimestampSourceName(r.timestamp_source));
  out +=
      fmt::format("protocol:    reader {}{}, writer {}{}\n", r.min_reader_version,
                  features(r.reader_features), r.min_writer_version, features(r.writer_features));
  if (!r.unsupported.empty()) out += fmt::format("unsupported: {}\n", r.unsupported);
  out += fmt::format("partitions:  {}\n",
                     r.partition_columns.empty()
                         ? std::string("none")
                         : fmt::format("{}", fmt::join(r.partition_columns, ", ")));
  std::vector<std::string> cols;
  for (const auto& c : r.schema) cols.push_back(c.name + " " + c.type);
  out += fmt::format("schema:      {}\n", fmt::join(cols, ", "));
  out += fmt::format("files:       {} live, {} bytes, {} rows{}\n", r.num_files, r.bytes, r.rows,
                     r.rows_exact ? "" : " (at least: some files have no stats)");
  out += fmt::format("checkpoint:  {}\n", r.checkpoint);
  if (with_files) {
    for (const auto& f : r.files) {
      out += fmt::format("  {}  {}", f.path, f.size);
      if (f.deletion_vector_path) out += fmt::format("  dv={}", *f.deletion_vector_path);
      out += '\n';
    }
  }
  return out;
}

}  // namespace lakesync::delta
