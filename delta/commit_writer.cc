#include "delta/commit_writer.h"

#include <fmt/format.h>

#include "common/logging.h"
#include "delta/log_names.h"

namespace lakesync::delta {
namespace {

// A minimal JSON object writer: enough for the flat shapes of Delta actions.
class JsonObject {
 public:
  explicit JsonObject(std::string* out) : out_(out) { *out_ += '{'; }
  void Finish() { *out_ += '}'; }

  void Key(std::string_view key) {
    if (!first_) *out_ += ',';
    first_ = false;
    *out_ += '"';
    AppendJsonEscaped(*out_, key);
    *out_ += "\":";
  }
  void String(std::string_view key, std::string_view value) {
    Key(key);
    Quoted(value);
  }
  void Int(std::string_view key, int64_t value) {
    Key(key);
    *out_ += std::to_string(value);
  }
  void Bool(std::string_view key, bool value) {
    Key(key);
    *out_ += value ? "true" : "false";
  }
  void OptString(std::string_view key, const std::optional<std::string>& v) {
    if (v) String(key, *v);
  }
  void OptInt(std::string_view key, const std::optional<int64_t>& v) {
    if (v) Int(key, *v);
  }
  void NullableMap(std::string_view key,
                   const std::map<std::string, std::optional<std::string>>& m) {
    Key(key);
    *out_ += '{';
    bool first = true;
    for (const auto& [k, v] : m) {
      if (!first) *out_ += ',';
      first = false;
      Quoted(k);
      *out_ += ':';
      if (v) {
        Quoted(*v);
      } else {
        *out_ += "null";
      }
    }
    *out_ += '}';
  }
  void Map(std::string_view key, const StringMap& m) {
    Key(key);
    *out_ += '{';
    bool first = true;
    for (const auto& [k, v] : m) {
      if (!first) *out_ += ',';
      first = false;
      Quoted(k);
      *out_ += ':';
      Quoted(v);
    }
    *out_ += '}';
  }
  void Array(std::string_view key, const std::vector<std::string>& items) {
    Key(key);
    *out_ += '[';
    for (size_t i = 0; i < items.size(); ++i) {
      if (i) *out_ += ',';
      Quoted(items[i]);
    }
    *out_ += ']';
  }
  // Starts a nested object under `key`; the caller Finish()es it.
  JsonObject Object(std::string_view key) {
    Key(key);
    return JsonObject(out_);
  }

 private:
  void Quoted(std::string_view s) {
    *out_ += '"';
    AppendJsonEscaped(*out_, s);
    *out_ += '"';
  }

  std::string* out_;
  bool first_ = true;
};

void WriteDv(JsonObject& parent, const DeletionVectorDescriptor& dv) {
  JsonObject o = parent.Object("deletionVector");
  o.String("storageType", std::string(1, dv.storage_type));
  o.String("pathOrInlineDv", dv.path_or_inline_dv);
  if (dv.offset) o.Int("offset", *dv.offset);
  o.Int("sizeInBytes", dv.size_in_bytes);
  o.Int("cardinality", dv.cardinality);
  o.Finish();
}

struct Writer {
  std::string* out;

  void operator()(const Add& a) const {
    JsonObject top(out);
    JsonObject o = top.Object("add");
    o.String("path", a.path);
    o.NullableMap("partitionValues", a.partition_values);
    o.Int("size", a.size);
    o.Int("modificationTime", a.modification_time);
    o.Bool("dataChange", a.data_change);
    o.OptString("stats", a.stats);
    if (a.tags) o.NullableMap("tags", *a.tags);
    if (a.deletion_vector) WriteDv(o, *a.deletion_vector);
    o.OptInt("baseRowId", a.base_row_id);
    o.OptInt("defaultRowCommitVersion", a.default_row_commit_version);
    o.OptString("clusteringProvider", a.clustering_provider);
    o.Finish();
    top.Finish();
  }
  void operator()(const Remove& r) const {
    JsonObject top(out);
    JsonObject o = top.Object("remove");
    o.String("path", r.path);
    o.OptInt("deletionTimestamp", r.deletion_timestamp);
    o.Bool("dataChange", r.data_change);
    if (r.extended_file_metadata) o.Bool("extendedFileMetadata", *r.extended_file_metadata);
    if (r.partition_values) o.NullableMap("partitionValues", *r.partition_values);
    o.OptInt("size", r.size);
    o.OptString("stats", r.stats);
    if (r.tags) o.NullableMap("tags", *r.tags);
    if (r.deletion_vector) WriteDv(o, *r.deletion_vector);
    o.OptInt("baseRowId", r.base_row_id);
    o.OptInt("defaultRowCommitVersion", r.default_row_commit_version);
    o.Finish();
    top.Finish();
  }
  void operator()(const Cdc& c) const {
    JsonObject top(out);
    JsonObject o = top.Object("cdc");
    o.String("path", c.path);
    o.NullableMap("partitionValues", c.partition_values);
    o.Int("size", c.size);
    o.Bool("dataChange", c.data_change);
    if (c.tags) o.NullableMap("tags", *c.tags);
    o.Finish();
    top.Finish();
  }
  void operator()(const Metadata& m) const {
    JsonObject top(out);
    JsonObject o = top.Object("metaData");
    o.String("id", m.id);
    o.OptString("name", m.name);
    o.OptString("description", m.description);
    JsonObject f = o.Object("format");
    f.String("provider", m.format_provider);
    f.Map("options", m.format_options);
    f.Finish();
    o.String("schemaString", m.schema_string);
    o.Array("partitionColumns", m.partition_columns);
    o.Map("configuration", m.configuration);
    o.OptInt("createdTime", m.created_time);
    o.Finish();
    top.Finish();
  }
  void operator()(const Protocol& p) const {
    JsonObject top(out);
    JsonObject o = top.Object("protocol");
    o.Int("minReaderVersion", p.min_reader_version);
    o.Int("minWriterVersion", p.min_writer_version);
    if (p.reader_features) o.Array("readerFeatures", *p.reader_features);
    if (p.writer_features) o.Array("writerFeatures", *p.writer_features);
    o.Finish();
    top.Finish();
  }
  void operator()(const Txn& t) const {
    JsonObject top(out);
    JsonObject o = top.Object("txn");
    o.String("appId", t.app_id);
    o.Int("version", t.version);
    o.OptInt("lastUpdated", t.last_updated);
    o.Finish();
    top.Finish();
  }
  void operator()(const CommitInfo& c) const {
    JsonObject top(out);
    JsonObject o = top.Object("commitInfo");
    o.OptInt("inCommitTimestamp", c.in_commit_timestamp);
    o.OptInt("timestamp", c.timestamp);
    o.OptString("operation", c.operation);
    o.Finish();
    top.Finish();
  }
  void operator()(const DomainMetadata& d) const {
    JsonObject top(out);
    JsonObject o = top.Object("domainMetadata");
    o.String("domain", d.domain);
    o.String("configuration", d.configuration);
    o.Bool("removed", d.removed);
    o.Finish();
    top.Finish();
  }
  void operator()(const Sidecar& s) const {
    JsonObject top(out);
    JsonObject o = top.Object("sidecar");
    o.String("path", s.path);
    o.Int("sizeInBytes", s.size_in_bytes);
    o.Int("modificationTime", s.modification_time);
    o.Finish();
    top.Finish();
  }
  void operator()(const CheckpointMetadata& c) const {
    JsonObject top(out);
    JsonObject o = top.Object("checkpointMetadata");
    o.Int("version", c.version);
    o.Finish();
    top.Finish();
  }
  void operator()(const UnknownAction& u) const {
    // Only reachable for an UnknownAction built in code without its line: write an empty
    // body rather than invent fields.
    JsonObject top(out);
    JsonObject o = top.Object(u.type);
    o.Finish();
    top.Finish();
  }
};

}  // namespace

std::string SerializeAction(const Action& action) {
  const std::string& raw = RawJson(action);
  if (!raw.empty()) return raw;
  std::string out;
  std::visit(Writer{&out}, action);
  return out;
}

std::string SerializeCommit(std::span<const Action> actions) {
  std::string out;
  for (const auto& a : actions) {
    const std::string& raw = RawJson(a);
    if (!raw.empty()) {
      out += raw;
    } else {
      std::visit(Writer{&out}, a);
    }
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
