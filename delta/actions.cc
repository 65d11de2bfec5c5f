#include "delta/actions.h"

#include <algorithm>
#include <array>
#include <cctype>

#include <fmt/format.h>
#include <simdjson.h>

namespace lakesync::delta {
namespace {

namespace dom = simdjson::dom;

constexpr std::string_view kZ85Alphabet =
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

std::array<int8_t, 256> BuildZ85Table() {
  std::array<int8_t, 256> t{};
  t.fill(-1);
  for (size_t i = 0; i < kZ85Alphabet.size(); ++i) {
    t[static_cast<unsigned char>(kZ85Alphabet[i])] = static_cast<int8_t>(i);
  }
  return t;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string FormatUuid(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (size_t i = 0; i < bytes.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    auto b = static_cast<unsigned char>(bytes[i]);
    out += kHex[b >> 4];
    out += kHex[b & 0xF];
  }
  return out;
}

// "s3://", "file:/", "abfss://": RFC 3986 scheme followed by ':'.
bool HasScheme(std::string_view p) {
  if (p.empty() || !((p[0] >= 'a' && p[0] <= 'z') || (p[0] >= 'A' && p[0] <= 'Z'))) {
    return false;
  }
  for (size_t i = 1; i < p.size(); ++i) {
    char c = p[i];
    if (c == ':') return true;
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '-' || c == '.';
    if (!ok) return false;
  }
  return false;
}

// Where a parse error happened, for messages.
struct LineContext {
  int64_t version;
  size_t line;
  std::string_view action;
};

Status Bad(const LineContext& ctx, std::string_view what) {
  return Status::Corruption(fmt::format(
      "commit {} line {}: {}{}{}; the commit file is damaged or was not written by a Delta "
      "writer — restore it from the source table or a backup",
      ctx.version, ctx.line, ctx.action.empty() ? "" : std::string(ctx.action),
      ctx.action.empty() ? "" : " action: ", what));
}

// Field access helpers. "Opt" getters treat an absent field and JSON null alike.
bool Present(dom::object obj, std::string_view key, dom::element* out) {
  auto r = obj.at_key(key);
  if (r.error()) return false;
  *out = r.value_unsafe();
  return !out->is_null();
}

Status ReqString(const LineContext& ctx, dom::object obj, std::string_view key, std::string* out) {
  dom::element e;
  if (!Present(obj, key, &e)) return Bad(ctx, fmt::format("missing required field '{}'", key));
  std::string_view s;
  if (e.get_string().get(s)) return Bad(ctx, fmt::format("field '{}' is not a string", key));
  out->assign(s);
  return Status::OK();
}

Status OptString(const LineContext& ctx, dom::object obj, std::string_view key,
                 std::optional<std::string>* out) {
  dom::element e;
  if (!Present(obj, key, &e)) return Status::OK();
  std::string_view s;
  if (e.get_string().get(s)) return Bad(ctx, fmt::format("field '{}' is not a string", key));
  *out = std::string(s);
  return Status::OK();
}

Status ReqInt(const LineContext& ctx, dom::object obj, std::string_view key, int64_t* out) {
  dom::element e;
  if (!Present(obj, key, &e)) return Bad(ctx, fmt::format("missing required field '{}'", key));
  if (e.get_int64().get(*out)) return Bad(ctx, fmt::format("field '{}' is not an integer", key));
  return Status::OK();
}

Status OptInt(const LineContext& ctx, dom::object obj, std::string_view key,
              std::optional<int64_t>* out) {
  dom::element e;
  if (!Present(obj, key, &e)) return Status::OK();
  int64_t v = 0;
  if (e.get_int64().get(v)) return Bad(ctx, fmt::format("field '{}' is not an integer", key));
  *out = v;
  return Status::OK();
}

Status OptBool(const LineContext& ctx, dom::object obj, std::string_view key,
               std::optional<bool>* out) {
  dom::element e;
  if (!Present(obj, key, &e)) return Status::OK();
  bool v = false;
  if (e.get_bool().get(v)) return Bad(ctx, fmt::format("field '{}' is not a boolean", key));
  *out = v;
  return Status::OK();
}

Status BoolOr(const LineContext& ctx, dom::object obj, std::string_view key, bool fallback,
              bool* out) {
  std::optional<bool> v;
  LAKESYNC_RETURN_IF_ERROR(OptBool(ctx, obj, key, &v));
  *out = v.value_or(fallback);
  return Status::OK();
}

// Scalar JSON value as text: strings unquoted, numbers/bools in their JSON spelling. Some
// writers put numbers where the protocol says strings; accept them.
bool ScalarText(dom::element e, std::string* out) {
  switch (e.type()) {
    case dom::element_type::STRING:
      out->assign(e.get_string().value_unsafe());
      return true;
    case dom::element_type::INT64:
    case dom::element_type::UINT64:
    case dom::element_type::DOUBLE:
    case dom::element_type::BOOL:
      *out = simdjson::minify(e);
      return true;
    default:
      return false;
  }
}

Status NullableStringMap(const LineContext& ctx, dom::element e, std::string_view key,
                         std::map<std::string, std::optional<std::string>>* out) {
  dom::object obj;
  if (e.get_object().get(obj)) return Bad(ctx, fmt::format("field '{}' is not an object", key));
  for (auto field : obj) {
    std::optional<std::string> value;
    if (!field.value.is_null()) {
      std::string text;
      if (!ScalarText(field.value, &text)) {
        return Bad(ctx, fmt::format("field '{}.{}' is not a string", key, field.key));
      }
      value = std::move(text);
    }
    out->emplace(std::string(field.key), std::move(value));
  }
  return Status::OK();
}

Status OptNullableStringMap(const LineContext& ctx, dom::object obj, std::string_view key,
                            std::optional<std::map<std::string, std::optional<std::string>>>* out) {
  dom::element e;
  if (!Present(obj, key, &e)) return Status::OK();
  out->emplace();
  return NullableStringMap(ctx, e, key, &**out);
}

Status StringMapField(const LineContext& ctx, dom::object obj, std::string_view key,
                      StringMap* out) {
  dom::element e;
  if (!Present(obj, key, &e)) return Status::OK();
  std::map<std::string, std::optional<std::string>> m;
  LAKESYNC_RETURN_IF_ERROR(NullableStringMap(ctx, e, key, &m));
  // A null configuration value means "unset" to every Delta reader; drop it.
  for (auto& [k, v] : m) {
    if (v) out->emplace(k, std::move(*v));
  }
  return Status::OK();
}

Status StringArray(const LineContext& ctx, dom::element e, std::string_view key,
                   std::vector<std::string>* out) {
  dom::array arr;
  if (e.get_array().get(arr)) return Bad(ctx, fmt::format("field '{}' is not an array", key));
  for (auto item : arr) {
    std::string_view s;
    if (item.get_string().get(s)) {
      return Bad(ctx, fmt::format("field '{}' holds a non-string element", key));
    }
    out->emplace_back(s);
  }
  return Status::OK();
}

Status ResolvePath(const LineContext& ctx, std::string_view raw, std::string* decoded,
                   bool* absolute) {
  if (raw.empty()) return Bad(ctx, "empty 'path'");
  if (raw[0] == '/' || HasScheme(raw)) {
    *absolute = true;
    decoded->assign(raw);
    return Status::OK();
  }
  *absolute = false;
  auto d = PercentDecode(raw);
  if (!d.ok()) return Bad(ctx, fmt::format("path '{}': {}", raw, d.status().message()));
  std::string s = std::move(d).value();
  // Fast path: nothing to normalise.
  bool simple = s[0] != '.' && s.find("/.") == std::string::npos &&
                s.find("//") == std::string::npos && s.back() != '/' && s[0] != '/';
  if (simple) {
    *decoded = std::move(s);
    return Status::OK();
  }
  // Resolve "." and ".." the way Hadoop's Path (URI.normalize) does, but refuse to climb out
  // of the table root: such a file is outside the table and a copier must never follow it.
  std::vector<std::string_view> segs;
  std::string_view rest = s;
  while (true) {
    size_t slash = rest.find('/');
    std::string_view seg = rest.substr(0, slash);
    if (seg == "..") {
      if (segs.empty()) {
        return Bad(ctx, fmt::format("path '{}' climbs out of the table root with '..'; "
                                    "refusing to read or copy files outside the table",
                                    raw));
      }
      segs.pop_back();
    } else if (!seg.empty() && seg != ".") {
      segs.push_back(seg);
    }
    if (slash == std::string_view::npos) break;
    rest = rest.substr(slash + 1);
  }
  if (segs.empty()) return Bad(ctx, fmt::format("path '{}' names the table root itself", raw));
  std::string out;
  for (size_t i = 0; i < segs.size(); ++i) {
    if (i) out += '/';
    out += segs[i];
  }
  *decoded = std::move(out);
  return Status::OK();
}

Status ParseDv(const LineContext& ctx, dom::object obj, std::string_view key,
               std::optional<DeletionVectorDescriptor>* out) {
  dom::element e;
  if (!Present(obj, key, &e)) return Status::OK();
  dom::object dv;
  if (e.get_object().get(dv)) return Bad(ctx, "field 'deletionVector' is not an object");
  LineContext dctx = ctx;
  DeletionVectorDescriptor d;
  std::string type;
  LAKESYNC_RETURN_IF_ERROR(ReqString(dctx, dv, "storageType", &type));
  if (type.size() != 1) {
    return Bad(ctx, fmt::format("deletionVector.storageType '{}' is not one of u, p, i", type));
  }
  d.storage_type = type[0];
  LAKESYNC_RETURN_IF_ERROR(ReqString(dctx, dv, "pathOrInlineDv", &d.path_or_inline_dv));
  std::optional<int64_t> offset;
  LAKESYNC_RETURN_IF_ERROR(OptInt(dctx, dv, "offset", &offset));
  int64_t size = 0;
  LAKESYNC_RETURN_IF_ERROR(ReqInt(dctx, dv, "sizeInBytes", &size));
  LAKESYNC_RETURN_IF_ERROR(ReqInt(dctx, dv, "cardinality", &d.cardinality));
  if (size < 0 || size > INT32_MAX || (offset && (*offset < 0 || *offset > INT32_MAX))) {
    return Bad(ctx, "deletionVector sizeInBytes/offset out of range");
  }
  d.size_in_bytes = static_cast<int32_t>(size);
  if (offset) d.offset = static_cast<int32_t>(*offset);
  Status v = d.Validate();
  if (!v.ok()) return Bad(ctx, v.message());
  *out = std::move(d);
  return Status::OK();
}

// numRecords from the stats JSON string. Stats are an optional hint: a stats string that does
// not parse yields nullopt (the snapshot then reports its row count as inexact), not an error.
std::optional<int64_t> NumRecordsFromStats(std::string_view stats) {
  thread_local dom::parser parser;
  dom::element doc;
  if (parser.parse(stats.data(), stats.size(), true).get(doc)) return std::nullopt;
  dom::object obj;
  if (doc.get_object().get(obj)) return std::nullopt;
  int64_t n = 0;
  if (obj.at_key("numRecords").get_int64().get(n)) return std::nullopt;
  return n;
}

Status ParseAdd(const LineContext& ctx, dom::object o, Add* a) {
  LAKESYNC_RETURN_IF_ERROR(ReqString(ctx, o, "path", &a->path));
  LAKESYNC_RETURN_IF_ERROR(ResolvePath(ctx, a->path, &a->decoded_path, &a->absolute));
  dom::element pv;
  if (Present(o, "partitionValues", &pv)) {
    LAKESYNC_RETURN_IF_ERROR(NullableStringMap(ctx, pv, "partitionValues", &a->partition_values));
  }
  LAKESYNC_RETURN_IF_ERROR(ReqInt(ctx, o, "size", &a->size));
  if (a->size < 0) return Bad(ctx, fmt::format("negative size {}", a->size));
  std::optional<int64_t> mtime;
  LAKESYNC_RETURN_IF_ERROR(OptInt(ctx, o, "modificationTime", &mtime));
  a->modification_time = mtime.value_or(0);
  LAKESYNC_RETURN_IF_ERROR(BoolOr(ctx, o, "dataChange", true, &a->data_change));
  LAKESYNC_RETURN_IF_ERROR(OptString(ctx, o, "stats", &a->stats));
  if (a->stats) a->num_records = NumRecordsFromStats(*a->stats);
  LAKESYNC_RETURN_IF_ERROR(OptNullableStringMap(ctx, o, "tags", &a->tags));
  LAKESYNC_RETURN_IF_ERROR(ParseDv(ctx, o, "deletionVector", &a->deletion_vector));
  LAKESYNC_RETURN_IF_ERROR(OptInt(ctx, o, "baseRowId", &a->base_row_id));
  LAKESYNC_RETURN_IF_ERROR(
      OptInt(ctx, o, "defaultRowCommitVersion", &a->default_row_commit_version));
  LAKESYNC_RETURN_IF_ERROR(OptString(ctx, o, "clusteringProvider", &a->clustering_provider));
  return Status::OK();
}

Status ParseRemove(const LineContext& ctx, dom::object o, Remove* r) {
  LAKESYNC_RETURN_IF_ERROR(ReqString(ctx, o, "path", &r->path));
  LAKESYNC_RETURN_IF_ERROR(ResolvePath(ctx, r->path, &r->decoded_path, &r->absolute));
  LAKESYNC_RETURN_IF_ERROR(OptInt(ctx, o, "deletionTimestamp", &r->deletion_timestamp));
  LAKESYNC_RETURN_IF_ERROR(BoolOr(ctx, o, "dataChange", true, &r->data_change));
  LAKESYNC_RETURN_IF_ERROR(OptBool(ctx, o, "extendedFileMetadata", &r->extended_file_metadata));
  dom::element pv;
  if (Present(o, "partitionValues", &pv)) {
    r->partition_values.emplace();
    LAKESYNC_RETURN_IF_ERROR(NullableStringMap(ctx, pv, "partitionValues", &*r->partition_values));
  }
  LAKESYNC_RETURN_IF_ERROR(OptInt(ctx, o, "size", &r->size));
  LAKESYNC_RETURN_IF_ERROR(OptString(ctx, o, "stats", &r->stats));
  LAKESYNC_RETURN_IF_ERROR(OptNullableStringMap(ctx, o, "tags", &r->tags));
  LAKESYNC_RETURN_IF_ERROR(ParseDv(ctx, o, "deletionVector", &r->deletion_vector));
  LAKESYNC_RETURN_IF_ERROR(OptInt(ctx, o, "baseRowId", &r->base_row_id));
  LAKESYNC_RETURN_IF_ERROR(
      OptInt(ctx, o, "defaultRowCommitVersion", &r->default_row_commit_version));
  return Status::OK();
}

Status ParseCdc(const LineContext& ctx, dom::object o, Cdc* c) {
  LAKESYNC_RETURN_IF_ERROR(ReqString(ctx, o, "path", &c->path));
  LAKESYNC_RETURN_IF_ERROR(ResolvePath(ctx, c->path, &c->decoded_path, &c->absolute));
  dom::element pv;
  if (Present(o, "partitionValues", &pv)) {
    LAKESYNC_RETURN_IF_ERROR(NullableStringMap(ctx, pv, "partitionValues", &c->partition_values));
  }
  LAKESYNC_RETURN_IF_ERROR(ReqInt(ctx, o, "size", &c->size));
  LAKESYNC_RETURN_IF_ERROR(BoolOr(ctx, o, "dataChange", false, &c->data_change));
  LAKESYNC_RETURN_IF_ERROR(OptNullableStringMap(ctx, o, "tags", &c->tags));
  return Status::OK();
}

Status ParseMetadata(const LineContext& ctx, dom::object o, Metadata* m) {
  LAKESYNC_RETURN_IF_ERROR(ReqString(ctx, o, "id", &m->id));
  LAKESYNC_RETURN_IF_ERROR(OptString(ctx, o, "name", &m->name));
  LAKESYNC_RETURN_IF_ERROR(OptString(ctx, o, "description", &m->description));
  dom::element fmt_el;
  if (Present(o, "format", &fmt_el)) {
    dom::object fo;
    if (fmt_el.get_object().get(fo)) return Bad(ctx, "field 'format' is not an object");
    std::optional<std::string> provider;
    LAKESYNC_RETURN_IF_ERROR(OptString(ctx, fo, "provider", &provider));
    if (provider) m->format_provider = *provider;
    LAKESYNC_RETURN_IF_ERROR(StringMapField(ctx, fo, "options", &m->format_options));
  }
  LAKESYNC_RETURN_IF_ERROR(ReqString(ctx, o, "schemaString", &m->schema_string));
  dom::element pc;
  if (Present(o, "partitionColumns", &pc)) {
    LAKESYNC_RETURN_IF_ERROR(StringArray(ctx, pc, "partitionColumns", &m->partition_columns));
  }
  LAKESYNC_RETURN_IF_ERROR(StringMapField(ctx, o, "configuration", &m->configuration));
  LAKESYNC_RETURN_IF_ERROR(OptInt(ctx, o, "createdTime", &m->created_time));
  return Status::OK();
}

Status ParseProtocol(const LineContext& ctx, dom::object o, Protocol* p) {
  int64_t r = 0, w = 0;
  LAKESYNC_RETURN_IF_ERROR(ReqInt(ctx, o, "minReaderVersion", &r));
  LAKESYNC_RETURN_IF_ERROR(ReqInt(ctx, o, "minWriterVersion", &w));
  if (r < 1 || w < 1 || r > 1000 || w > 1000) {
    return Bad(ctx, fmt::format("implausible protocol versions {}/{}", r, w));
  }
  p->min_reader_version = static_cast<int32_t>(r);
  p->min_writer_version = static_cast<int32_t>(w);
  dom::element e;
  if (Present(o, "readerFeatures", &e)) {
    p->reader_features.emplace();
    LAKESYNC_RETURN_IF_ERROR(StringArray(ctx, e, "readerFeatures", &*p->reader_features));
  }
  if (Present(o, "writerFeatures", &e)) {
    p->writer_features.emplace();
    LAKESYNC_RETURN_IF_ERROR(StringArray(ctx, e, "writerFeatures", &*p->writer_features));
  }
  return Status::OK();
}

Status ParseCommitInfo(dom::object o, CommitInfo* c) {
  // commitInfo is free-form: a field of an unexpected type is treated as absent.
  int64_t v = 0;
  if (!o.at_key("timestamp").get_int64().get(v)) c->timestamp = v;
  if (!o.at_key("inCommitTimestamp").get_int64().get(v)) c->in_commit_timestamp = v;
  std::string_view s;
  if (!o.at_key("operation").get_string().get(s)) c->operation = std::string(s);
  return Status::OK();
}

Status ParseLine(const LineContext& base, dom::element doc, std::string_view line, Action* out) {
  dom::object top;
  if (doc.get_object().get(top)) return Bad(base, "not a JSON object");
  if (top.size() != 1) {
    return Bad(base, fmt::format("expected an object with exactly one action key, found {} keys",
                                 top.size()));
  }
  auto field = *top.begin();
  std::string_view type = field.key;
  LineContext ctx{base.version, base.line, type};
  dom::object body;
  if (field.value.get_object().get(body)) {
    if (type == "add" || type == "remove" || type == "cdc" || type == "metaData" ||
        type == "protocol" || type == "txn" || type == "commitInfo" || type == "domainMetadata" ||
        type == "sidecar" || type == "checkpointMetadata") {
      return Bad(ctx, "the action's value is not an object");
    }
    *out = UnknownAction{std::string(type), std::string(line)};
    return Status::OK();
  }
  if (type == "add") {
    auto& a = out->emplace<Add>();
    LAKESYNC_RETURN_IF_ERROR(ParseAdd(ctx, body, &a));
    a.raw_json.assign(line);
  } else if (type == "remove") {
    auto& r = out->emplace<Remove>();
    LAKESYNC_RETURN_IF_ERROR(ParseRemove(ctx, body, &r));
    r.raw_json.assign(line);
  } else if (type == "cdc") {
    auto& c = out->emplace<Cdc>();
    LAKESYNC_RETURN_IF_ERROR(ParseCdc(ctx, body, &c));
    c.raw_json.assign(line);
  } else if (type == "metaData") {
    auto& m = out->emplace<Metadata>();
    LAKESYNC_RETURN_IF_ERROR(ParseMetadata(ctx, body, &m));
    m.raw_json.assign(line);
  } else if (type == "protocol") {
    auto& p = out->emplace<Protocol>();
    LAKESYNC_RETURN_IF_ERROR(ParseProtocol(ctx, body, &p));
    p.raw_json.assign(line);
  } else if (type == "txn") {
    Txn t;
    LAKESYNC_RETURN_IF_ERROR(ReqString(ctx, body, "appId", &t.app_id));
    LAKESYNC_RETURN_IF_ERROR(ReqInt(ctx, body, "version", &t.version));
    LAKESYNC_RETURN_IF_ERROR(OptInt(ctx, body, "lastUpdated", &t.last_updated));
    t.raw_json.assign(line);
    *out = std::move(t);
  } else if (type == "commitInfo") {
    CommitInfo c;
    LAKESYNC_RETURN_IF_ERROR(ParseCommitInfo(body, &c));
    c.raw_json.assign(line);
    *out = std::move(c);
  } else if (type == "domainMetadata") {
    DomainMetadata d;
    LAKESYNC_RETURN_IF_ERROR(ReqString(ctx, body, "domain", &d.domain));
    std::optional<std::string> conf;
    LAKESYNC_RETURN_IF_ERROR(OptString(ctx, body, "configuration", &conf));
    d.configuration = conf.value_or("");
    LAKESYNC_RETURN_IF_ERROR(BoolOr(ctx, body, "removed", false, &d.removed));
    d.raw_json.assign(line);
    *out = std::move(d);
  } else if (type == "sidecar") {
    Sidecar s;
    LAKESYNC_RETURN_IF_ERROR(ReqString(ctx, body, "path", &s.path));
    LAKESYNC_RETURN_IF_ERROR(ReqInt(ctx, body, "sizeInBytes", &s.size_in_bytes));
    std::optional<int64_t> mtime;
    LAKESYNC_RETURN_IF_ERROR(OptInt(ctx, body, "modificationTime", &mtime));
    s.modification_time = mtime.value_or(0);
    s.raw_json.assign(line);
    *out = std::move(s);
  } else if (type == "checkpointMetadata") {
    CheckpointMetadata c;
    LAKESYNC_RETURN_IF_ERROR(ReqInt(ctx, body, "version", &c.version));
    c.raw_json.assign(line);
    *out = std::move(c);
  } else {
    *out = UnknownAction{std::string(type), std::string(line)};
  }
  return Status::OK();
}

bool IsBlank(std::string_view s) {
  for (char c : s) {
    if (c != ' ' && c != '\t' && c != '\r') return false;
  }
  return true;
}

}  // namespace

Result<std::string> Z85Decode(std::string_view text) {
  static const std::array<int8_t, 256> kTable = BuildZ85Table();
  if (text.size() % 5 != 0) {
    return Status::InvalidArgument(
        fmt::format("Z85 text '{}' has length {}, not a multiple of 5", text, text.size()));
  }
  std::string out;
  out.reserve(text.size() / 5 * 4);
  for (size_t i = 0; i < text.size(); i += 5) {
    uint64_t value = 0;
    for (size_t j = 0; j < 5; ++j) {
      int8_t d = kTable[static_cast<unsigned char>(text[i + j])];
      if (d < 0) {
        return Status::InvalidArgument(
            fmt::format("Z85 text '{}' holds the invalid character '{}'", text, text[i + j]));
      }
      value = value * 85 + static_cast<uint64_t>(d);
    }
    if (value > 0xFFFFFFFFull) {
      return Status::InvalidArgument(fmt::format("Z85 text '{}' overflows 32 bits", text));
    }
    out += static_cast<char>((value >> 24) & 0xFF);
    out += static_cast<char>((value >> 16) & 0xFF);
    out += static_cast<char>((value >> 8) & 0xFF);
    out += static_cast<char>(value & 0xFF);
  }
  return out;
}

Result<std::string> PercentDecode(std::string_view s) {
  if (s.find('%') == std::string_view::npos) return std::string(s);
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    int hi = i + 2 < s.size() ? HexValue(s[i + 1]) : -1;
    int lo = i + 2 < s.size() ? HexValue(s[i + 2]) : -1;
    if (hi < 0 || lo < 0) {
      return Status::InvalidArgument(fmt::format(
          "malformed percent escape at offset {}: '%' must be followed by two hex digits", i));
    }
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

namespace {

constexpr std::string_view kUriPathKept = "-._~!$&'()*+,;=:@/";

bool KeptInUriPath(char c) {
  const auto u = static_cast<unsigned char>(c);
  return (u < 0x80 && std::isalnum(u) != 0) || kUriPathKept.find(c) != std::string_view::npos;
}

}  // namespace

bool NeedsPercentEncoding(std::string_view path) {
  return std::any_of(path.begin(), path.end(), [](char c) {
    return static_cast<unsigned char>(c) < 0x80 && !KeptInUriPath(c);
  });
}

std::string PercentEncodeUriPath(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (KeptInUriPath(c)) {
      out += c;
    } else {
      out += '%';
      out += kHex[u >> 4];
      out += kHex[u & 0xF];
    }
  }
  return out;
}

std::string DeletionVectorDescriptor::UniqueId() const {
  std::string id;
  id.reserve(path_or_inline_dv.size() + 12);
  id += storage_type;
  id += path_or_inline_dv;
  if (offset) {
    id += '@';
    id += std::to_string(*offset);
  }
  return id;
}

Result<std::string> DeletionVectorDescriptor::RelativePath() const {
  if (storage_type != 'u') {
    return Status::InvalidArgument(fmt::format(
        "deletion vector '{}' has storage type '{}'; only 'u' descriptors have a path relative "
        "to the table root",
        path_or_inline_dv, storage_type));
  }
  if (path_or_inline_dv.size() < 20) {
    return Status::InvalidArgument(
        fmt::format("deletion vector id '{}' is shorter than the 20 Z85 characters of a UUID",
                    path_or_inline_dv));
  }
  std::string_view all = path_or_inline_dv;
  std::string_view prefix = all.substr(0, all.size() - 20);
  auto bytes = Z85Decode(all.substr(all.size() - 20));
  if (!bytes.ok()) {
    return Status::InvalidArgument(
        fmt::format("deletion vector id '{}': {}", path_or_inline_dv, bytes.status().message()));
  }
  std::string path;
  if (!prefix.empty()) {
    path.assign(prefix);
    path += '/';
  }
  path += "deletion_vector_";
  path += FormatUuid(*bytes);
  path += ".bin";
  return path;
}

Result<std::string> DeletionVectorDescriptor::AbsolutePath(std::string_view table_root) const {
  if (storage_type == 'p') return path_or_inline_dv;
  LAKESYNC_ASSIGN_OR_RETURN(std::string rel, RelativePath());
  std::string root(table_root);
  while (!root.empty() && root.back() == '/') root.pop_back();
  return root + "/" + rel;
}

Status DeletionVectorDescriptor::Validate() const {
  if (storage_type != 'u' && storage_type != 'p' && storage_type != 'i') {
    return Status::Corruption(
        fmt::format("deletionVector.storageType '{}' is not one of u, p, i", storage_type));
  }
  if (size_in_bytes < 0 || cardinality < 0) {
    return Status::Corruption("deletionVector sizeInBytes and cardinality must be >= 0");
  }
  if (storage_type == 'i') return Status::OK();
  if (storage_type == 'p') {
    if (path_or_inline_dv.empty()) return Status::Corruption("deletionVector path is empty");
    return Status::OK();
  }
  auto rel = RelativePath();
  if (!rel.ok()) return Status::Corruption(rel.status().message());
  std::string_view prefix =
      std::string_view(path_or_inline_dv).substr(0, path_or_inline_dv.size() - 20);
  if (prefix.find('/') != std::string_view::npos || prefix == "." || prefix == "..") {
    return Status::Corruption(
        fmt::format("deletion vector id '{}' has a prefix that is not a plain directory name",
                    path_or_inline_dv));
  }
  return Status::OK();
}

const std::string& RawJson(const Action& action) {
  return std::visit([](const auto& a) -> const std::string& { return a.raw_json; }, action);
}

std::string_view ActionTypeName(const Action& action) {
  struct Visitor {
    std::string_view operator()(const Add&) const { return "add"; }
    std::string_view operator()(const Remove&) const { return "remove"; }
    std::string_view operator()(const Cdc&) const { return "cdc"; }
    std::string_view operator()(const Metadata&) const { return "metaData"; }
    std::string_view operator()(const Protocol&) const { return "protocol"; }
    std::string_view operator()(const Txn&) const { return "txn"; }
    std::string_view operator()(const CommitInfo&) const { return "commitInfo"; }
    std::string_view operator()(const DomainMetadata&) const { return "domainMetadata"; }
    std::string_view operator()(const Sidecar&) const { return "sidecar"; }
    std::string_view operator()(const CheckpointMetadata&) const { return "checkpointMetadata"; }
    std::string_view operator()(const UnknownAction& u) const { return u.type; }
  };
  return std::visit(Visitor{}, action);
}

const CommitInfo* Commit::FindCommitInfo() const {
  for (const auto& a : actions) {
    if (const auto* ci = std::get_if<CommitInfo>(&a)) return ci;
  }
  return nullptr;
}

int64_t CountActions(std::string_view bytes) {
  int64_t n = 0;
  size_t pos = 0;
  while (pos < bytes.size()) {
    size_t nl = bytes.find('\n', pos);
    size_t end = nl == std::string_view::npos ? bytes.size() : nl;
    if (!IsBlank(bytes.substr(pos, end - pos))) ++n;
    pos = end + 1;
  }
  return n;
}

namespace {
// `what`: "is 12 bytes" / "has 12 actions"; `key`: the runner configuration key.
Status OverLimit(std::string_view table, int64_t version, const std::string& what,
                 std::string_view key, int64_t limit) {
  return Status::InvalidArgument(fmt::format(
      "commit {} of {} {}, more than runner.{} ({}); lakesync refuses commits this large to "
      "keep its memory bounded — raise runner.{} in the configuration if this machine has the "
      "memory for it",
      version, table, what, key, limit, key));
}
}  // namespace

Status CheckCommitBytes(std::string_view table, int64_t version, int64_t size,
                        const CommitLimits& limits) {
  if (size <= limits.max_bytes) return Status::OK();
  return OverLimit(table, version, fmt::format("is {} bytes", size), "max_commit_bytes",
                   limits.max_bytes);
}

Status CheckCommitActions(std::string_view table, int64_t version, std::string_view bytes,
                          const CommitLimits& limits) {
  // Counting is a scan for newlines: cheap next to parsing, and it bounds what parsing costs.
  const int64_t n = CountActions(bytes);
  if (n <= limits.max_actions) return Status::OK();
  return OverLimit(table, version, fmt::format("has {} actions", n), "max_commit_actions",
                   limits.max_actions);
}

Status ForEachAction(int64_t version, std::string_view bytes,
                     const std::function<Status(Action&&)>& visit) {
  // One parser per thread: it keeps its buffers between calls, which matters when replaying
  // thousands of small commits. Each line is parsed (and copied into padded memory) on its
  // own so that an error names its line and memory stays that of one line.
  thread_local dom::parser parser;
  size_t line_no = 0;
  size_t pos = 0;
  while (pos < bytes.size()) {
    size_t nl = bytes.find('\n', pos);
    size_t end = nl == std::string_view::npos ? bytes.size() : nl;
    std::string_view line = bytes.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (IsBlank(line)) continue;
    LineContext ctx{version, line_no, {}};
    dom::element doc;
    auto err = parser.parse(line.data(), line.size(), true).get(doc);
    if (err) {
      return Bad(ctx, fmt::format("invalid JSON ({}); a truncated line means the commit was "
                                  "copied or written partially",
                                  simdjson::error_message(err)));
    }
    Action action;
    LAKESYNC_RETURN_IF_ERROR(ParseLine(ctx, doc, line, &action));
    LAKESYNC_RETURN_IF_ERROR(visit(std::move(action)));
  }
  return Status::OK();
}

Result<Commit> ParseCommit(int64_t version, std::string_view bytes) {
  Commit commit;
  commit.version = version;
  // Reserving avoids moving every (large) Action each time the vector grows.
  commit.actions.reserve(static_cast<size_t>(CountActions(bytes)));
  // On error the whole commit is discarded, so no partial result leaks.
  LAKESYNC_RETURN_IF_ERROR(ForEachAction(version, bytes, [&](Action&& action) {
    commit.actions.push_back(std::move(action));
    return Status::OK();
  }));
  return commit;
}

}  // namespace lakesync::delta
