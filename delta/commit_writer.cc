#include "delta/commit_writer.h"

#include <fmt/format.h>

#include "common/json_writer.h"
#include "delta/log_names.h"

namespace lakesync::delta {
namespace {

// Delta actions are one-key objects ({"add":{...}}); optional fields are omitted, not null.
void OptInt(JsonWriter& w, std::string_view key, const std::optional<int64_t>& v) {
  if (v) w.Key(key).Int(*v);
}
void OptString(JsonWriter& w, std::string_view key, const std::optional<std::string>& v) {
  if (v) w.Key(key).String(*v);
}
void NullableMap(JsonWriter& w, std::string_view key,
                 const std::map<std::string, std::optional<std::string>>& m) {
  w.Key(key).BeginObject();
  for (const auto& [k, v] : m) {
    w.Key(k);
    if (v)
      w.String(*v);
    else
      w.Null();
  }
  w.EndObject();
}
void Map(JsonWriter& w, std::string_view key, const StringMap& m) {
  w.Key(key).BeginObject();
  for (const auto& [k, v] : m) w.Key(k).String(v);
  w.EndObject();
}
void Array(JsonWriter& w, std::string_view key, const std::vector<std::string>& items) {
  w.Key(key).BeginArray();
  for (const auto& item : items) w.String(item);
  w.EndArray();
}

void WriteDv(JsonWriter& w, const DeletionVectorDescriptor& dv) {
  w.Key("deletionVector").BeginObject();
  w.Key("storageType").String(std::string(1, dv.storage_type));
  w.Key("pathOrInlineDv").String(dv.path_or_inline_dv);
  OptInt(w, "offset", dv.offset);
  w.Key("sizeInBytes").Int(dv.size_in_bytes);
  w.Key("cardinality").Int(dv.cardinality);
  w.EndObject();
}

// Writes the body of each action type inside {"<type>":{ ... }}.
struct Body {
  JsonWriter& w;

  void operator()(const Add& a) const {
    w.Key("path").String(a.path);
    NullableMap(w, "partitionValues", a.partition_values);
    w.Key("size").Int(a.size);
    w.Key("modificationTime").Int(a.modification_time);
    w.Key("dataChange").Bool(a.data_change);
    OptString(w, "stats", a.stats);
    if (a.tags) NullableMap(w, "tags", *a.tags);
    if (a.deletion_vector) WriteDv(w, *a.deletion_vector);
    OptInt(w, "baseRowId", a.base_row_id);
    OptInt(w, "defaultRowCommitVersion", a.default_row_commit_version);
    OptString(w, "clusteringProvider", a.clustering_provider);
  }
  void operator()(const Remove& r) const {
    w.Key("path").String(r.path);
    OptInt(w, "deletionTimestamp", r.deletion_timestamp);
    w.Key("dataChange").Bool(r.data_change);
    if (r.extended_file_metadata) w.Key("extendedFileMetadata").Bool(*r.extended_file_metadata);
    if (r.partition_values) NullableMap(w, "partitionValues", *r.partition_values);
    OptInt(w, "size", r.size);
    OptString(w, "stats", r.stats);
    if (r.tags) NullableMap(w, "tags", *r.tags);
    if (r.deletion_vector) WriteDv(w, *r.deletion_vector);
    OptInt(w, "baseRowId", r.base_row_id);
    OptInt(w, "defaultRowCommitVersion", r.default_row_commit_version);
  }
  void operator()(const Cdc& c) const {
    w.Key("path").String(c.path);
    NullableMap(w, "partitionValues", c.partition_values);
    w.Key("size").Int(c.size);
    w.Key("dataChange").Bool(c.data_change);
    if (c.tags) NullableMap(w, "tags", *c.tags);
  }
  void operator()(const Metadata& m) const {
    w.Key("id").String(m.id);
    OptString(w, "name", m.name);
    OptString(w, "description", m.description);
    w.Key("format").BeginObject().Key("provider").String(m.format_provider);
    Map(w, "options", m.format_options);
    w.EndObject();
    w.Key("schemaString").String(m.schema_string);
    Array(w, "partitionColumns", m.partition_columns);
    Map(w, "configuration", m.configuration);
    OptInt(w, "createdTime", m.created_time);
  }
  void operator()(const Protocol& p) const {
    w.Key("minReaderVersion").Int(p.min_reader_version);
    w.Key("minWriterVersion").Int(p.min_writer_version);
    if (p.reader_features) Array(w, "readerFeatures", *p.reader_features);
    if (p.writer_features) Array(w, "writerFeatures", *p.writer_features);
  }
  void operator()(const Txn& t) const {
    w.Key("appId").String(t.app_id);
    w.Key("version").Int(t.version);
    OptInt(w, "lastUpdated", t.last_updated);
  }
  void operator()(const CommitInfo& c) const {
    OptInt(w, "inCommitTimestamp", c.in_commit_timestamp);
    OptInt(w, "timestamp", c.timestamp);
    OptString(w, "operation", c.operation);
  }
  void operator()(const DomainMetadata& d) const {
    w.Key("domain").String(d.domain);
    w.Key("configuration").String(d.configuration);
    w.Key("removed").Bool(d.removed);
  }
  void operator()(const Sidecar& s) const {
    w.Key("path").String(s.path);
    w.Key("sizeInBytes").Int(s.size_in_bytes);
    w.Key("modificationTime").Int(s.modification_time);
  }
  void operator()(const CheckpointMetadata& c) const { w.Key("version").Int(c.version); }
  // Only reachable for an UnknownAction built in code without its line: write an empty body
  // rather than invent fields.
  void operator()(const UnknownAction&) const {}
};

void AppendAction(std::string& out, const Action& action) {
  const std::string& raw = RawJson(action);
  if (!raw.empty()) {
    out += raw;
    return;
  }
  JsonWriter w;
  w.BeginObject().Key(ActionTypeName(action)).BeginObject();
  std::visit(Body{w}, action);
  w.EndObject().EndObject();
  out += w.str();
}

}  // namespace

std::string SerializeAction(const Action& action) {
  std::string out;
  AppendAction(out, action);
  return out;
}

std::string SerializeCommit(std::span<const Action> actions) {
  std::string out;
  for (const auto& a : actions) {
    AppendAction(out, a);
    out += '\n';
  }
  return out;
}

Status PublishCommit(storage::Storage& storage, std::string_view table_prefix, int64_t version,
                     std::string_view bytes) {
  if (version < 0) {
    return Status::InvalidArgument(fmt::format("cannot write commit version {}", version));
  }
  const std::string key = LogFileKey(table_prefix, CommitFileName(version));
  Status s = storage.PutIfAbsent(key, bytes);
  if (s.IsAlreadyExists()) {
    std::string table = storage.Describe();
    if (!table_prefix.empty()) {
      if (!table.empty() && table.back() != '/') table += '/';
      table += table_prefix;
    }
    return Status::Conflict(fmt::format(
        "version {} of {} already exists (another writer committed first)", version, table));
  }
  if (!s.ok()) return s.WithContext(fmt::format("publishing commit {}", version));
  return Status::OK();
}

Status WriteCommit(storage::Storage& storage, std::string_view table_prefix, int64_t version,
                   std::span<const Action> actions) {
  if (actions.empty()) {
    return Status::InvalidArgument("a commit needs at least one action");
  }
  return PublishCommit(storage, table_prefix, version, SerializeCommit(actions));
}

}  // namespace lakesync::delta
