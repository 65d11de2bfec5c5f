#include "jobs/snapshot.h"

#include <algorithm>
#include <ctime>
#include <map>
#include <random>
#include <set>

#include <fmt/format.h>
#include <simdjson.h>
#include <spdlog/spdlog.h>

#include "common/failpoint.h"
#include "common/json_writer.h"
#include "delta/commit_writer.h"
#include "delta/log_names.h"
#include "delta/log_reader.h"
#include "delta/protocol.h"
#include "delta/timestamps.h"
#include "jobs/commit_files.h"
#include "jobs/snapshot_files.h"

namespace lakesync::jobs {
namespace {

constexpr std::string_view kManifestDir = "_snapshots";
constexpr std::string_view kManifestSuffix = ".json";
constexpr std::string_view kWritingSuffix = ".writing";
constexpr std::string_view kDeletingSuffix = ".deleting";
constexpr std::string_view kManifestFormat = "lakesync-snapshot/1";

std::string Trimmed(std::string_view prefix) {
  while (!prefix.empty() && prefix.back() == '/') prefix.remove_suffix(1);
  return std::string(prefix);
}

std::string MarkerKey(const TableLocation& target, std::string_view id, std::string_view suffix) {
  return TableKey(Trimmed(target.prefix), fmt::format("{}/{}{}", kManifestDir, id, suffix));
}

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// Deletes `key`; absent is fine.
Status DeleteIfPresent(storage::Storage& storage, const std::string& key) {
  Status s = storage.Delete(key);
  if (s.ok() || s.IsNotFound()) return Status::OK();
  return s.WithContext("deleting " + key);
}

std::string NewTableId() {
  std::random_device rd;
  std::mt19937_64 gen((static_cast<uint64_t>(rd()) << 32) ^ rd());
  uint64_t a = gen(), b = gen();
  a = (a & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;  // version 4
  b = (b & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;  // variant 10
  return fmt::format("{:08x}-{:04x}-{:04x}-{:04x}-{:012x}", a >> 32, (a >> 16) & 0xffff, a & 0xffff,
                     b >> 48, b & 0xffffffffffffULL);
}

// A number after `"key":` in a small JSON text (domain configurations); nullopt when absent.
std::optional<int64_t> JsonNumberField(std::string_view json, std::string_view key) {
  const std::string quoted = fmt::format("\"{}\"", key);
  size_t pos = json.find(quoted);
  if (pos == std::string_view::npos) return std::nullopt;
  pos += quoted.size();
  while (pos < json.size() && (json[pos] == ' ' || json[pos] == ':')) ++pos;
  bool neg = pos < json.size() && json[pos] == '-';
  if (neg) ++pos;
  int64_t v = 0;
  size_t digits = 0;
  while (pos < json.size() && json[pos] >= '0' && json[pos] <= '9' && digits < 18) {
    v = v * 10 + (json[pos++] - '0');
    ++digits;
  }
  if (digits == 0) return std::nullopt;
  return neg ? -v : v;
}

// Writer features a fresh table carries over unchanged: their state lives in the protocol,
// the schema, the table properties or the domains, all of which version 0 keeps as they are
// at the source version. `liquid` is the preview name of clustering (Databricks Runtime 13).
const std::set<std::string_view>& KeptFeatures() {
  static const std::set<std::string_view> kept = {"appendOnly",
                                                  "invariants",
                                                  "checkConstraints",
                                                  "changeDataFeed",
                                                  "generatedColumns",
                                                  "identityColumns",
                                                  "columnMapping",
                                                  "deletionVectors",
                                                  "domainMetadata",
                                                  "clustering",
                                                  "liquid",
                                                  "timestampNtz",
                                                  "v2Checkpoint",
                                                  "vacuumProtocolCheck",
                                                  "typeWidening",
                                                  "typeWidening-preview",
                                                  "variantType",
                                                  "variantType-preview",
                                                  "variantShredding-preview",
                                                  "collations-preview",
                                                  "icebergCompatV1",
                                                  "icebergCompatV2",
                                                  "icebergWriterCompatV1",
                                                  "materializePartitionColumns",
                                                  "allowColumnDefaults"};
  return kept;
}

bool PropertyTrue(const delta::Metadata& m, const std::string& key) {
  auto it = m.configuration.find(key);
  return it != m.configuration.end() &&
         (it->second == "true" || it->second == "TRUE" || it->second == "True");
}

}  // namespace

std::string_view SnapshotModeName(SnapshotMode mode) {
  return mode == SnapshotMode::kShallow ? "shallow" : "deep";
}

std::string_view SnapshotStatusName(SnapshotStatus status) {
  switch (status) {
    case SnapshotStatus::kComplete:
      return "complete";
    case SnapshotStatus::kWriting:
      return "writing";
    case SnapshotStatus::kDeleting:
      return "deleting";
  }
  return "complete";
}

std::string SnapshotId(TimePoint created_at, int64_t version) {
  const std::time_t secs = static_cast<std::time_t>(ToUnixMillis(created_at) / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return fmt::format("{}-v{}", buf, version);
}

std::string SnapshotTablePrefix(const TableLocation& target, std::string_view id) {
  return TableKey(Trimmed(target.prefix), id);
}

std::string ManifestToJson(const SnapshotManifest& m) {
  JsonWriter w;
  w.BeginObject();
  w.Key("format").String(kManifestFormat);
  w.Key("id").String(m.id);
  w.Key("source").String(m.source);
  w.Key("version").Int(m.version);
  w.Key("commit_timestamp").String(FormatTimestamp(m.commit_timestamp));
  w.Key("commit_timestamp_ms").Int(ToUnixMillis(m.commit_timestamp));
  w.Key("files").Int(m.files);
  w.Key("bytes").Int(m.bytes);
  w.Key("rows").Int(m.rows);
  w.Key("rows_exact").Bool(m.rows_exact);
  w.Key("created_at").String(FormatTimestamp(m.created_at));
  w.Key("created_at_ms").Int(ToUnixMillis(m.created_at));
  w.Key("mode").String(SnapshotModeName(m.mode));
  w.Key("table_id").String(m.table_id);
  w.Key("source_table_id").String(m.source_table_id);
  w.Key("notes").BeginArray();
  for (const auto& n : m.notes) w.String(n);
  w.EndArray();
  w.EndObject();
  return w.Take() + "\n";
}

Result<SnapshotManifest> ParseManifest(std::string_view json) {
  simdjson::dom::parser parser;
  simdjson::padded_string padded(json);
  simdjson::dom::element doc;
  if (parser.parse(padded).get(doc) != simdjson::SUCCESS) {
    return Status::Corruption("the manifest is not valid JSON");
  }
  SnapshotManifest m;
  auto str = [&](const char* key, std::string& out) -> Status {
    std::string_view v;
    if (doc[key].get_string().get(v) != simdjson::SUCCESS) {
      return Status::Corruption(fmt::format("the manifest has no string \"{}\"", key));
    }
    out = std::string(v);
    return Status::OK();
  };
  auto num = [&](const char* key, int64_t& out) -> Status {
    if (doc[key].get_int64().get(out) != simdjson::SUCCESS) {
      return Status::Corruption(fmt::format("the manifest has no integer \"{}\"", key));
    }
    return Status::OK();
  };
  std::string format, mode;
  LAKESYNC_RETURN_IF_ERROR(str("format", format));
  if (format != kManifestFormat) {
    return Status::Corruption(
        fmt::format("the manifest's format is \"{}\", not \"{}\" (written by a newer lakesync?)",
                    format, kManifestFormat));
  }
  int64_t commit_ms = 0, created_ms = 0;
  LAKESYNC_RETURN_IF_ERROR(str("id", m.id));
  LAKESYNC_RETURN_IF_ERROR(str("source", m.source));
  LAKESYNC_RETURN_IF_ERROR(num("version", m.version));
  LAKESYNC_RETURN_IF_ERROR(num("commit_timestamp_ms", commit_ms));
  LAKESYNC_RETURN_IF_ERROR(num("files", m.files));
  LAKESYNC_RETURN_IF_ERROR(num("bytes", m.bytes));
  LAKESYNC_RETURN_IF_ERROR(num("rows", m.rows));
  LAKESYNC_RETURN_IF_ERROR(num("created_at_ms", created_ms));
  LAKESYNC_RETURN_IF_ERROR(str("mode", mode));
  LAKESYNC_RETURN_IF_ERROR(str("table_id", m.table_id));
  if (doc["source_table_id"].error() != simdjson::NO_SUCH_FIELD) {
    LAKESYNC_RETURN_IF_ERROR(str("source_table_id", m.source_table_id));
  }
  if (doc["rows_exact"].get_bool().get(m.rows_exact) != simdjson::SUCCESS) {
    return Status::Corruption("the manifest has no boolean \"rows_exact\"");
  }
  if (mode != "deep" && mode != "shallow") {
    return Status::Corruption(fmt::format("the manifest's mode \"{}\" is unknown", mode));
  }
  m.mode = mode == "shallow" ? SnapshotMode::kShallow : SnapshotMode::kDeep;
  m.commit_timestamp = FromUnixMillis(commit_ms);
  m.created_at = FromUnixMillis(created_ms);
  simdjson::dom::array notes;
  if (doc["notes"].get_array().get(notes) == simdjson::SUCCESS) {
    for (auto n : notes) {
      std::string_view s;
      if (n.get_string().get(s) == simdjson::SUCCESS) m.notes.emplace_back(s);
    }
  }
  return m;
}

Result<std::vector<SnapshotEntry>> ListSnapshots(const TableLocation& target) {
  storage::ListOptions opts;
  opts.prefix = TableKey(Trimmed(target.prefix), kManifestDir) + "/";
  opts.recursive = false;
  LAKESYNC_ASSIGN_OR_RETURN(auto listed, target.storage->List(opts));
  std::map<std::string, std::set<std::string_view>> kinds;  // id → suffixes present
  for (const auto& f : listed) {
    std::string_view name = std::string_view(f.path).substr(opts.prefix.size());
    for (std::string_view suffix : {kManifestSuffix, kWritingSuffix, kDeletingSuffix}) {
      if (EndsWith(name, suffix) && name.size() > suffix.size()) {
        kinds[std::string(name.substr(0, name.size() - suffix.size()))].insert(suffix);
      }
    }
  }
  std::vector<SnapshotEntry> complete, incomplete;
  for (const auto& [id, suffixes] : kinds) {
    SnapshotEntry e;
    e.id = id;
    const bool has_manifest = suffixes.count(kManifestSuffix) > 0;
    if (has_manifest) {
      const std::string key = MarkerKey(target, id, kManifestSuffix);
      auto bytes = target.storage->Read(key);
      if (!bytes.ok()) {
        // Deleted by retention since the listing: not a snapshot any more.
        if (bytes.status().IsNotFound()) continue;
        return bytes.status().WithContext("reading " + key);
      }
      auto m = ParseManifest(*bytes);
      if (!m.ok()) return m.status().WithContext(TableUrl(target) + ": " + key);
      e.manifest = std::move(m).value();
    }
    if (suffixes.count(kDeletingSuffix)) {
      e.status = SnapshotStatus::kDeleting;
    } else if (!has_manifest) {
      e.status = SnapshotStatus::kWriting;
    }
    (e.status == SnapshotStatus::kComplete ? complete : incomplete).push_back(std::move(e));
  }
  // Newest first: by the source version held, then by creation. Not by creation alone: runners
  // whose clocks disagree would make an old snapshot "newest" (skipping, lag and retention all
  // go by the first).
  std::sort(complete.begin(), complete.end(), [](const SnapshotEntry& a, const SnapshotEntry& b) {
    if (a.manifest->version != b.manifest->version) {
      return a.manifest->version > b.manifest->version;
    }
    if (a.manifest->created_at != b.manifest->created_at) {
      return a.manifest->created_at > b.manifest->created_at;
    }
    return a.id > b.id;
  });
  for (auto& e : incomplete) complete.push_back(std::move(e));
  return complete;
}

Result<std::vector<SnapshotManifest>> CompleteSnapshots(const TableLocation& target) {
  LAKESYNC_ASSIGN_OR_RETURN(auto entries, ListSnapshots(target));
  std::vector<SnapshotManifest> out;
  for (auto& e : entries) {
    if (e.status == SnapshotStatus::kComplete) out.push_back(std::move(*e.manifest));
  }
  return out;
}

std::vector<std::string> RetentionVictims(const std::vector<SnapshotManifest>& newest_first,
                                          std::optional<int> keep_last,
                                          std::optional<Duration> keep_within, TimePoint now) {
  std::vector<std::string> victims;
  if (!keep_last && !keep_within) return victims;
  for (size_t i = 1; i < newest_first.size(); ++i) {  // the newest (i == 0) always stays
    const auto& m = newest_first[i];
    const bool by_count = keep_last && static_cast<int64_t>(i) < *keep_last;
    const bool by_age = keep_within && m.created_at >= now - *keep_within;
    if (!by_count && !by_age) victims.push_back(m.id);
  }
  return victims;
}

Status DeleteSnapshot(const TableLocation& target, std::string_view id) {
  storage::Storage& st = *target.storage;
  // The marker first: from here on the snapshot is never listed as complete, even if the
  // manifest outlives a crash.
  Status marked = st.WriteAtomic(MarkerKey(target, id, kDeletingSuffix), std::string(id) + "\n");
  if (!marked.ok()) return marked.WithContext(fmt::format("deleting snapshot {}", id));
  LAKESYNC_RETURN_IF_ERROR(DeleteIfPresent(st, MarkerKey(target, id, kManifestSuffix)));
  const std::string dir = SnapshotTablePrefix(target, id);
  LAKESYNC_RETURN_IF_ERROR(DeleteIfPresent(st, delta::LogFileKey(dir, delta::CommitFileName(0))));
  LAKESYNC_FAILPOINT("snapshot.mid_retention");
  LAKESYNC_RETURN_IF_ERROR(DeleteTree(st, dir, /*remove_dir=*/true));
  LAKESYNC_RETURN_IF_ERROR(DeleteIfPresent(st, MarkerKey(target, id, kWritingSuffix)));
  // The manifest once more: a writer that lost the job (paused past its lease) may have
  // published it after the first delete and removed its `.writing` marker before the line
  // above. A writer that publishes later finds its marker gone and withdraws the manifest.
  LAKESYNC_RETURN_IF_ERROR(DeleteIfPresent(st, MarkerKey(target, id, kManifestSuffix)));
  return DeleteIfPresent(st, MarkerKey(target, id, kDeletingSuffix));
}

Result<std::vector<std::string>> CleanupLeftovers(const TableLocation& target) {
  LAKESYNC_ASSIGN_OR_RETURN(auto entries, ListSnapshots(target));
  std::vector<std::string> cleaned;
  for (const auto& e : entries) {
    if (e.status == SnapshotStatus::kComplete) {
      // A complete snapshot whose `.writing` marker the run did not get to remove.
      LAKESYNC_RETURN_IF_ERROR(
          DeleteIfPresent(*target.storage, MarkerKey(target, e.id, kWritingSuffix)));
      continue;
    }
    spdlog::warn("{}: removing {} snapshot {} left by an interrupted run", TableUrl(target),
                 e.status == SnapshotStatus::kWriting ? "half-written" : "half-deleted", e.id);
    LAKESYNC_RETURN_IF_ERROR(DeleteSnapshot(target, e.id));
    cleaned.push_back(e.id);
  }
  return cleaned;
}

Result<std::vector<delta::Action>> BuildSnapshotCommit(const delta::Snapshot& source,
                                                       const SnapshotCommitOptions& options,
                                                       std::vector<std::string>* notes) {
  const delta::Protocol& protocol = source.protocol();
  LAKESYNC_RETURN_IF_ERROR(delta::CheckReadable(protocol));
  const auto writer_features = delta::WriterFeatures(protocol);
  std::vector<std::string> refused;
  for (const auto& f : writer_features) {
    if (KeptFeatures().count(f) || f == "rowTracking" || f == "inCommitTimestamp") continue;
    refused.push_back(f);
  }
  if (!refused.empty()) {
    std::string why;
    for (const auto& f : refused) {
      const delta::FeatureInfo* info = delta::FindFeature(f);
      why += fmt::format("{}{} ({})", why.empty() ? "" : ", ", f,
                         info == nullptr ? "unknown to this version of lakesync"
                         : info->catalog_or_redirect
                             ? "its commits live in a catalog or it redirects elsewhere"
                             : "its state cannot be carried into a fresh table");
    }
    return Status::Unsupported(fmt::format(
        "cannot snapshot version {}: the table uses writer feature(s) {}; nothing was written — "
        "disable the feature on the source or snapshot with a tool that supports it",
        source.version(), why));
  }

  delta::Metadata metadata = source.metadata();
  metadata.raw_json.clear();
  metadata.id = options.table_id;
  metadata.created_time = ToUnixMillis(options.created_at);
  const bool ict = writer_features.count("inCommitTimestamp") &&
                   PropertyTrue(metadata, "delta.enableInCommitTimestamps");
  if (ict) {
    metadata.configuration.erase("delta.inCommitTimestampEnablementVersion");
    metadata.configuration.erase("delta.inCommitTimestampEnablementTimestamp");
    notes->push_back(
        "inCommitTimestamp: enabled from version 0 of the snapshot (the source's enablement "
        "version and timestamp properties are not carried over)");
  }
  if (writer_features.count("columnMapping")) {
    auto mode = metadata.configuration.find("delta.columnMapping.mode");
    notes->push_back(
        fmt::format("columnMapping: mode {} with the source's physical names and maxColumnId kept",
                    mode == metadata.configuration.end() ? "none" : mode->second));
  }
  if (writer_features.count("identityColumns")) {
    notes->push_back(
        "identityColumns: the identity high-water marks of the schema at this version kept");
  }

  // Row tracking (PROTOCOL.md "Row Tracking"): a fresh row id must never reuse an old one, so
  // the source's baseRowIds are kept with the source's high-water mark (both valid in the new
  // table); defaultRowCommitVersion names a commit of the new table, whose only commit is 0.
  const bool row_tracking = writer_features.count("rowTracking") > 0;
  std::optional<int64_t> high_water_mark;
  if (row_tracking) {
    auto it = source.domains().find("delta.rowTracking");
    if (it != source.domains().end()) {
      high_water_mark = JsonNumberField(it->second.configuration, "rowIdHighWaterMark");
    }
  }

  std::vector<delta::Action> actions;
  {
    JsonWriter w;
    w.BeginObject().Key("commitInfo").BeginObject();
    if (ict) w.Key("inCommitTimestamp").Int(ToUnixMillis(options.created_at));
    w.Key("timestamp").Int(ToUnixMillis(options.created_at));
    w.Key("operation").String("SNAPSHOT");
    w.Key("operationParameters").BeginObject();
    w.Key("source").String(options.source_root);
    w.Key("version").String(std::to_string(options.source_version));
    w.Key("mode").String(SnapshotModeName(options.mode));
    w.EndObject();
    w.Key("engineInfo").String("lakesync");
    w.EndObject().EndObject();
    delta::CommitInfo ci;
    ci.timestamp = ToUnixMillis(options.created_at);
    if (ict) ci.in_commit_timestamp = ci.timestamp;
    ci.operation = "SNAPSHOT";
    ci.raw_json = w.Take();
    actions.emplace_back(std::move(ci));
  }
  actions.emplace_back(protocol);
  actions.emplace_back(std::move(metadata));
  for (const auto& [domain, dm] : source.domains()) actions.emplace_back(dm);
  for (const auto& [app, txn] : source.txns()) actions.emplace_back(txn);

  int64_t max_row_id = -1;
  int64_t dv_files_converted = 0;
  // The log names files by URI: the source's folder is percent-encoded like the relative paths
  // appended to it ("/data/50% off" → "/data/50%25%20off"), or Spark cannot read the snapshot.
  const std::string root = delta::PercentEncodeUriPath(Trimmed(options.source_root));
  for (const auto& live : source.files()) {
    delta::Add add = live.add;
    if (add.absolute && options.mode == SnapshotMode::kDeep) {
      return Status::InvalidArgument(fmt::format(
          "cannot write a deep snapshot of version {}: data file {} has an absolute path (the "
          "source is itself a shallow clone); snapshot it with mode: shallow",
          source.version(), add.path));
    }
    bool changed = false;
    if (row_tracking) {
      if (add.base_row_id) {
        if (add.num_records)
          max_row_id = std::max(max_row_id, *add.base_row_id + *add.num_records - 1);
      } else if (PropertyTrue(source.metadata(), "delta.enableRowTracking")) {
        return Status::Unsupported(fmt::format(
            "cannot snapshot version {}: rowTracking is enabled but data file {} has no "
            "baseRowId, so its row ids cannot be carried into a fresh table; nothing was written",
            source.version(), add.path));
      }
      if (add.default_row_commit_version && *add.default_row_commit_version != 0) {
        add.default_row_commit_version = 0;
        changed = true;
      }
    }
    if (options.mode == SnapshotMode::kShallow) {
      if (!add.absolute) {
        add.path = root + "/" + add.path;
        changed = true;
      }
      if (add.deletion_vector && add.deletion_vector->storage_type == 'u') {
        LAKESYNC_ASSIGN_OR_RETURN(std::string rel, add.deletion_vector->RelativePath());
        add.deletion_vector->storage_type = 'p';
        add.deletion_vector->path_or_inline_dv = root + "/" + rel;
        ++dv_files_converted;
        changed = true;
      }
    }
    if (changed) add.raw_json.clear();
    actions.emplace_back(std::move(add));
  }
  if (row_tracking && max_row_id >= 0) {
    if (!high_water_mark) {
      return Status::Unsupported(fmt::format(
          "cannot snapshot version {}: rowTracking: the files carry baseRowIds but the source "
          "has no delta.rowTracking high-water mark at that version, so fresh row ids could "
          "collide; nothing was written",
          source.version()));
    }
    if (*high_water_mark < max_row_id) {
      return Status::Corruption(fmt::format(
          "cannot snapshot version {}: rowTracking: the source's high-water mark {} is below "
          "the largest row id in use ({}); the source table is inconsistent",
          source.version(), *high_water_mark, max_row_id));
    }
  }
  if (row_tracking) {
    notes->push_back(
        fmt::format("rowTracking: baseRowIds and the delta.rowTracking high-water mark ({}) kept; "
                    "defaultRowCommitVersion set to 0, the snapshot's only commit",
                    high_water_mark ? std::to_string(*high_water_mark) : "none"));
  }
  if (writer_features.count("deletionVectors")) {
    notes->push_back(options.mode == SnapshotMode::kShallow
                         ? fmt::format("deletionVectors: {} deletion-vector file references "
                                       "made absolute (storageType p)",
                                       dv_files_converted)
                         : "deletionVectors: deletion-vector files copied with their paths");
  }
  return actions;
}

namespace {

struct ChosenVersion {
  int64_t head = -1;
  delta::TableState state;
  TimePoint commit_timestamp;
};

Result<TimePoint> CommitTimeOf(const delta::TableState& state,
                               delta::NonIctTimestampPolicy policy) {
  LAKESYNC_ASSIGN_OR_RETURN(auto ict, delta::IctEnablementVersion(state.snapshot.metadata()));
  LAKESYNC_ASSIGN_OR_RETURN(auto times,
                            delta::ComputeCommitTimestamps(state.commit_times, ict, policy));
  if (times.empty()) return Status::Corruption("no commit timestamps");
  return times.back().timestamp;
}

// The source version a run snapshots, without loading anything when it only needs the head.
Result<int64_t> PickVersion(const delta::DeltaLog& log, const TableLocation& source,
                            const SnapshotOptions& options, int64_t head,
                            std::optional<delta::TableState>* head_state) {
  if (options.version) {
    if (*options.version > head) {
      return Status::NotFound(fmt::format(
          "version {} of {} does not exist yet (the newest is {}); configure an existing version",
          *options.version, TableUrl(source), head));
    }
    return *options.version;
  }
  if (!options.as_of) return head;
  LAKESYNC_ASSIGN_OR_RETURN(delta::TableState st, log.Load(head));
  LAKESYNC_ASSIGN_OR_RETURN(auto ict, delta::IctEnablementVersion(st.snapshot.metadata()));
  LAKESYNC_ASSIGN_OR_RETURN(
      auto times, delta::ComputeCommitTimestamps(st.commit_times, ict, options.timestamps));
  auto v = delta::VersionAsOf(times, *options.as_of);
  if (!v.ok()) return v.status().WithContext(TableUrl(source));
  *head_state = std::move(st);
  return *v;
}

// Writes snapshot `id` (marker already written). On error the caller removes what was written.
Status WriteSnapshot(const TableLocation& source, const TableLocation& target,
                     const SnapshotOptions& options, RunObserver& observer,
                     const delta::TableState& state, SnapshotManifest& manifest,
                     SnapshotOutcome& out) {
  const delta::Snapshot& snap = state.snapshot;
  SnapshotCommitOptions copts;
  copts.mode = options.mode;
  copts.source_root = TableUrl(source);
  copts.created_at = manifest.created_at;
  copts.table_id = NewTableId();
  copts.source_version = snap.version();
  LAKESYNC_ASSIGN_OR_RETURN(auto actions, BuildSnapshotCommit(snap, copts, &manifest.notes));
  manifest.table_id = copts.table_id;

  std::vector<const delta::Add*> adds;
  adds.reserve(snap.files().size());
  for (const auto& f : snap.files()) adds.push_back(&f.add);
  LAKESYNC_ASSIGN_OR_RETURN(auto files, FilesOfAdds(adds));
  const std::string what = fmt::format("version {}", snap.version());
  TableLocation table{target.name, target.storage, SnapshotTablePrefix(target, manifest.id)};
  int64_t plan_bytes = 0;
  for (const auto& f : files) plan_bytes += std::max<int64_t>(f.size, 0);
  observer.OnTargetPlanned(
      target.name, -1, snap.version(),
      options.mode == SnapshotMode::kDeep ? static_cast<int64_t>(files.size()) : 0,
      options.mode == SnapshotMode::kDeep ? plan_bytes : 0);
  if (options.mode == SnapshotMode::kDeep) {
    LAKESYNC_ASSIGN_OR_RETURN(
        CopyTotals totals,
        CopyTableFiles(source, table, files, options.copy_parallelism, observer, what));
    out.files_copied = totals.files;
    out.bytes_copied = totals.bytes;
  } else {
    // Nothing is copied, but a snapshot referencing missing files would be broken from birth.
    LAKESYNC_RETURN_IF_ERROR(CheckTableFiles(source, files, what));
  }

  LAKESYNC_RETURN_IF_ERROR(observer.CheckContinue());
  LAKESYNC_RETURN_IF_ERROR(observer.BeforePublish(target.name, 0));
  LAKESYNC_RETURN_IF_ERROR(
      delta::PublishCommit(*target.storage, table.prefix, 0, delta::SerializeCommit(actions)));
  observer.OnCommitPublished(target.name, 0);
  // The commit's file was synced in its directory, but `<id>/_delta_log/` and `<id>/` are new
  // directories whose own entries must survive a crash before the manifest makes the snapshot
  // count: SyncAll fsyncs the commit and every directory up to the root.
  target.storage->OweSync(delta::LogFileKey(table.prefix, delta::CommitFileName(0)));
  LAKESYNC_RETURN_IF_ERROR(
      target.storage->SyncAll().WithContext("making the snapshot's commit durable"));

  LAKESYNC_FAILPOINT("snapshot.before_manifest");
  LAKESYNC_RETURN_IF_ERROR(observer.BeforePublish(target.name, 0));
  // A runner that took the job over while this one was cut off (its lock or lease lost)
  // removes a half-written snapshot, marker included: then this one must not be published.
  auto marker = target.storage->Stat(MarkerKey(target, manifest.id, kWritingSuffix));
  if (!marker.ok()) {
    return marker.status().IsNotFound()
               ? Status::Conflict("snapshot " + manifest.id +
                                  " was removed by another run while this one was writing it "
                                  "(this run had lost the job's lock or lease); it is abandoned")
               : marker.status().WithContext("checking the marker of " + manifest.id);
  }
  Status published = target.storage->PutIfAbsent(MarkerKey(target, manifest.id, kManifestSuffix),
                                                 ManifestToJson(manifest));
  if (!published.ok()) return published.WithContext("publishing the manifest of " + manifest.id);
  return Status::OK();
}

}  // namespace

Result<SnapshotOutcome> RunSnapshot(const TableLocation& source, const TableLocation& target,
                                    const SnapshotOptions& options, RunObserver& observer) {
  if (options.version && options.as_of) {
    return Status::InvalidArgument("give either a version or a timestamp (as of), not both");
  }
  SnapshotOutcome out;
  LAKESYNC_RETURN_IF_ERROR(observer.CheckContinue());
  {
    auto cleaned = CleanupLeftovers(target);
    if (!cleaned.ok()) {
      return cleaned.status().WithContext("cleaning up after an interrupted run on " +
                                          TableUrl(target));
    }
    out.cleaned = std::move(cleaned).value();
  }
  LAKESYNC_ASSIGN_OR_RETURN(auto existing, CompleteSnapshots(target));

  delta::DeltaLog log(*source.storage, Trimmed(source.prefix));
  auto head = TableHead(*source.storage, Trimmed(source.prefix));
  if (!head.ok()) return head.status().WithContext("reading " + TableUrl(source));
  if (*head < 0) {
    return Status::NotFound(
        fmt::format("{} holds no Delta table (no _delta_log commits)", TableUrl(source)));
  }
  out.source_head = *head;
  std::optional<delta::TableState> loaded;
  LAKESYNC_ASSIGN_OR_RETURN(out.version, PickVersion(log, source, options, *head, &loaded));

  auto apply_retention = [&]() {
    auto all = CompleteSnapshots(target);
    if (!all.ok()) {
      out.retention = all.status();
      return;
    }
    for (const auto& id :
         RetentionVictims(*all, options.keep_last, options.keep_within, options.clock->Now())) {
      // Never the snapshot this run just wrote (a clock that stepped back can sort it below
      // older ones).
      if (out.created && id == out.created->id) continue;
      Status go = observer.CheckContinue();
      if (!go.ok()) {
        out.retention = go;
        break;
      }
      Status s = DeleteSnapshot(target, id);
      if (!s.ok()) {
        out.retention = s;
        break;
      }
      out.deleted.push_back(id);
    }
    auto after = CompleteSnapshots(target);
    if (after.ok()) {
      out.snapshots = std::move(after).value();
      return;
    }
    // What the run knows instead: the listing before retention, less what it deleted. The
    // failure is reported with the retention (the run is not a clean success).
    for (const auto& m : *all) {
      if (std::find(out.deleted.begin(), out.deleted.end(), m.id) == out.deleted.end()) {
        out.snapshots.push_back(m);
      }
    }
    if (out.retention.ok()) {
      out.retention = after.status().WithContext("listing the snapshots after retention");
    }
  };

  auto load = [&]() -> Status {
    if (!loaded || loaded->snapshot.version() != out.version) {
      auto st = log.Load(out.version);
      if (!st.ok()) return st.status().WithContext("reading " + TableUrl(source));
      loaded = std::move(st).value();
    }
    return Status::OK();
  };
  if (options.skip_unchanged) {
    // A snapshot of this very state: the same source, version and mode (and, when the manifest
    // recorded it, the same table: not one dropped and recreated under the URL).
    for (const auto& m : existing) {
      if (m.version != out.version || m.mode != options.mode || m.source != TableUrl(source)) {
        continue;
      }
      if (!m.source_table_id.empty()) {
        LAKESYNC_RETURN_IF_ERROR(load());
        if (loaded->snapshot.metadata().id != m.source_table_id) continue;
      }
      out.unchanged_since = m.id;
      apply_retention();
      return out;
    }
  }

  LAKESYNC_RETURN_IF_ERROR(load());
  const delta::Snapshot& snap = loaded->snapshot;
  SnapshotManifest manifest;
  manifest.source = TableUrl(source);
  manifest.version = snap.version();
  LAKESYNC_ASSIGN_OR_RETURN(manifest.commit_timestamp, CommitTimeOf(*loaded, options.timestamps));
  manifest.files = snap.num_files();
  manifest.bytes = snap.bytes();
  manifest.rows = snap.rows();
  manifest.rows_exact = snap.rows_exact();
  manifest.created_at = FromUnixMillis(ToUnixMillis(options.clock->Now()));
  manifest.mode = options.mode;
  manifest.source_table_id = snap.metadata().id;

  // A fresh id: put-if-absent of the `.writing` marker claims it (a second snapshot of the
  // same version within one second gets a suffix). An id this run just cleaned up is never
  // reused, so one id never names two different snapshots.
  const std::string base_id = SnapshotId(manifest.created_at, snap.version());
  for (int n = 1;; ++n) {
    manifest.id = n == 1 ? base_id : fmt::format("{}-{}", base_id, n);
    if (std::find(out.cleaned.begin(), out.cleaned.end(), manifest.id) != out.cleaned.end()) {
      continue;
    }
    auto present = target.storage->Stat(MarkerKey(target, manifest.id, kManifestSuffix));
    if (present.ok()) continue;
    Status claimed = target.storage->PutIfAbsent(MarkerKey(target, manifest.id, kWritingSuffix),
                                                 manifest.source + "\n");
    if (claimed.ok()) break;
    if (!claimed.IsAlreadyExists() || n >= 100) {
      return claimed.WithContext("starting snapshot " + manifest.id + " in " + TableUrl(target));
    }
  }

  Status written = WriteSnapshot(source, target, options, observer, *loaded, manifest, out);
  if (!written.ok()) {
    // Complete or invisible: remove what this run wrote (the next run does it if this fails).
    Status undone = DeleteSnapshot(target, manifest.id);
    if (!undone.ok()) {
      spdlog::warn("{}: could not remove the unfinished snapshot {} ({}); the next run will",
                   TableUrl(target), manifest.id, undone.message());
    }
    return written.WithContext(
        fmt::format("snapshot of {} at version {}", TableUrl(source), snap.version()));
  }
  Status unmarked = target.storage->Delete(MarkerKey(target, manifest.id, kWritingSuffix));
  if (unmarked.IsNotFound()) {
    // Removed by another run's clean-up between the check above and the manifest: the files
    // may be gone, so the snapshot must not count.
    Status undone = DeleteSnapshot(target, manifest.id);
    return Status::Conflict(fmt::format(
        "snapshot {} was removed by another run while this one was publishing it (this run had "
        "lost the job's lock or lease); it is abandoned{}",
        manifest.id, undone.ok() ? "" : " (" + undone.message() + "; the next run removes it)"));
  }
  if (!unmarked.ok()) {
    spdlog::warn("{}: snapshot {} is complete but its marker stays ({}); the next run removes it",
                 TableUrl(target), manifest.id, unmarked.message());
  }
  out.created = manifest;
  apply_retention();
  return out;
}

Result<SnapshotLag> ComputeSnapshotLag(const TableLocation& source, const TableLocation& target,
                                       TimePoint now) {
  SnapshotLag lag;
  LAKESYNC_ASSIGN_OR_RETURN(auto snaps, CompleteSnapshots(target));
  lag.snapshots = static_cast<int64_t>(snaps.size());
  if (!snaps.empty()) lag.newest_version = snaps.front().version;
  LAKESYNC_ASSIGN_OR_RETURN(lag.source_version, TableHead(*source.storage, Trimmed(source.prefix)));
  if (lag.source_version < 0) {
    return Status::NotFound(TableUrl(source) + " holds no Delta table (no _delta_log commits)");
  }
  const int64_t first_missing = lag.newest_version.value_or(-1) + 1;
  lag.versions = std::max<int64_t>(0, lag.source_version - first_missing + 1);
  if (lag.versions == 0) return lag;
  // The oldest commit no snapshot holds, timed as ComputeLag does for replicas (only this
  // commit is read, so a commit with an inCommitTimestamp is timed by it).
  delta::DeltaLog log(*source.storage, Trimmed(source.prefix));
  const std::string key =
      delta::LogFileKey(Trimmed(source.prefix), delta::CommitFileName(first_missing));
  auto info = source.storage->Stat(key);
  if (!info.ok()) return lag;  // removed by log cleanup: the age is unknown, not an error
  LAKESYNC_ASSIGN_OR_RETURN(delta::Commit commit, log.ReadCommit(first_missing));
  LAKESYNC_ASSIGN_OR_RETURN(lag.seconds, CommitAgeSeconds(commit, info->modification_time, now));
  return lag;
}

}  // namespace lakesync::jobs
