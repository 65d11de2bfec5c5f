#include "jobs/restore.h"

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "common/json_writer.h"
#include "delta/commit_writer.h"
#include "delta/log_names.h"
#include "delta/log_reader.h"
#include "delta/protocol.h"
#include "delta/timestamps.h"
#include "jobs/commit_files.h"
#include "jobs/snapshot.h"
#include "jobs/snapshot_files.h"

namespace lakesync::jobs {
namespace {

std::string Trimmed(std::string_view prefix) {
  while (!prefix.empty() && prefix.back() == '/') prefix.remove_suffix(1);
  return std::string(prefix);
}

// The configuration keys of in-commit timestamps: a restore keeps the head's (timestamps stay
// monotonic across the restore commit; Delta never turns them off by going back in time).
constexpr std::string_view kIctKeys[] = {"delta.enableInCommitTimestamps",
                                         "delta.inCommitTimestampEnablementVersion",
                                         "delta.inCommitTimestampEnablementTimestamp"};

// The metadata the restore commit must carry: version `then`'s (its schema, partition columns
// and properties describe the files it re-adds), with the head's in-commit-timestamp settings;
// nullopt when that equals the head's. As Delta's RESTORE, except that a schema with identity
// columns is refused (their high-water marks would have to be merged) and the protocol is not
// changed: version `then` must need no feature the head lacks (checked whether or not the
// metadata differs).
Result<std::optional<delta::Metadata>> RestoredMetadata(const delta::Snapshot& now,
                                                        const delta::Snapshot& then,
                                                        std::string_view table, int64_t version) {
  delta::Metadata md = then.metadata();
  md.raw_json.clear();
  for (std::string_view key : kIctKeys) {
    md.configuration.erase(std::string(key));
    auto it = now.metadata().configuration.find(std::string(key));
    if (it != now.metadata().configuration.end()) md.configuration.insert(*it);
  }
  const std::string cannot = fmt::format("cannot restore {} to version {}", table, version);
  // The files it re-adds were written under its protocol: a table feature the head dropped
  // since (DROP FEATURE) would leave them unreadable. Not restored (Delta would upgrade the
  // head again): refused. Only the features its protocol lists: a legacy protocol's implied
  // ones (appendOnly, invariants, ...) need not be listed by a head that upgraded to table
  // features without using them.
  std::vector<std::string> missing;
  const std::set<std::string> now_reader = delta::ReaderFeatures(now.protocol());
  const std::set<std::string> now_writer = delta::WriterFeatures(now.protocol());
  for (const auto& f : then.protocol().reader_features.value_or(std::vector<std::string>{})) {
    if (!now_reader.count(f)) missing.push_back(f + " (reader)");
  }
  for (const auto& f : then.protocol().writer_features.value_or(std::vector<std::string>{})) {
    if (!now_writer.count(f)) missing.push_back(f);
  }
  if (!missing.empty()) {
    return Status::Unsupported(fmt::format(
        "{}: that version needs table feature(s) the head's protocol no longer has: {}; "
        "nothing was changed",
        cannot, fmt::join(missing, ", ")));
  }
  const delta::Metadata& head = now.metadata();
  if (md.id == head.id && md.name == head.name && md.description == head.description &&
      md.format_provider == head.format_provider && md.format_options == head.format_options &&
      md.schema_string == head.schema_string && md.partition_columns == head.partition_columns &&
      md.configuration == head.configuration) {
    return std::optional<delta::Metadata>();
  }
  if (md.schema_string != head.schema_string &&
      (head.schema_string.find("delta.identity.") != std::string::npos ||
       md.schema_string.find("delta.identity.") != std::string::npos)) {
    return Status::Unsupported(fmt::format(
        "{}: its schema differs from the head's and has identity columns, whose high-water "
        "marks lakesync does not merge; restore it with Spark (RESTORE TABLE); nothing was "
        "changed",
        cannot));
  }
  return std::optional<delta::Metadata>(std::move(md));
}

std::string LiveKey(const delta::Add& add) {
  return delta::LogicalFileKey(add.decoded_path, add.deletion_vector);
}

}  // namespace

Result<RestoreCopyOutcome> RestoreSnapshotCopy(const TableLocation& snapshots,
                                               const std::string& id, const TableLocation& to,
                                               int copy_parallelism, RunObserver& observer) {
  LAKESYNC_ASSIGN_OR_RETURN(auto complete, CompleteSnapshots(snapshots));
  const SnapshotManifest* manifest = nullptr;
  for (const auto& m : complete) {
    if (m.id == id) manifest = &m;
  }
  if (manifest == nullptr) {
    std::string ids;
    for (size_t i = 0; i < complete.size() && i < 10; ++i) {
      ids += (i ? ", " : "") + complete[i].id;
    }
    return Status::NotFound(
        fmt::format("{} holds no complete snapshot {}; complete snapshots (newest first): {} — see "
                    "'lakesync snapshots JOB'",
                    TableUrl(snapshots), id, ids.empty() ? "none" : ids));
  }
  storage::ListOptions opts;
  opts.prefix = Trimmed(to.prefix).empty() ? "" : Trimmed(to.prefix) + "/";
  opts.recursive = true;
  LAKESYNC_ASSIGN_OR_RETURN(auto present, to.storage->List(opts));
  if (!present.empty()) {
    const bool table = std::any_of(present.begin(), present.end(), [](const storage::FileInfo& f) {
      return f.path.find("_delta_log/") != std::string::npos;
    });
    return Status::AlreadyExists(fmt::format(
        "{} is not empty (it holds {}, ...){}; restore into an empty or new location", TableUrl(to),
        present.front().path,
        table ? ""
              : ", but holds no Delta table: a restore stopped before its commit leaves such "
                "files (remove them, then restore again)"));
  }

  TableLocation snap{snapshots.name, snapshots.storage, SnapshotTablePrefix(snapshots, id)};
  const std::string commit_key = delta::LogFileKey(snap.prefix, delta::CommitFileName(0));
  auto bytes = snap.storage->Read(commit_key);
  if (!bytes.ok()) return bytes.status().WithContext("reading snapshot " + id);
  LAKESYNC_ASSIGN_OR_RETURN(delta::Commit commit, delta::ParseCommit(0, *bytes));
  std::vector<const delta::Add*> adds;
  for (const auto& a : commit.actions) {
    if (const auto* add = std::get_if<delta::Add>(&a)) adds.push_back(add);
  }
  LAKESYNC_ASSIGN_OR_RETURN(auto files, FilesOfAdds(adds));
  int64_t plan_bytes = 0;
  for (const auto& f : files) plan_bytes += f.absolute ? 0 : std::max<int64_t>(f.size, 0);
  // A shallow snapshot's files live in its source: a restore of one that was vacuumed there
  // would publish a table that cannot be read.
  if (Status there = CheckAbsoluteFiles(files, "snapshot " + id); !there.ok()) {
    return there.WithContext("restoring snapshot " + id + " to " + TableUrl(to));
  }
  observer.OnTargetPlanned(to.name, -1, 0, static_cast<int64_t>(files.size()), plan_bytes);
  CopyTotals totals;
  Status copied = [&]() -> Status {
    LAKESYNC_ASSIGN_OR_RETURN(
        totals, CopyTableFiles(snap, to, files, copy_parallelism, observer, "snapshot " + id));
    LAKESYNC_RETURN_IF_ERROR(observer.CheckContinue());
    LAKESYNC_RETURN_IF_ERROR(observer.BeforePublish(to.name, 0));
    return delta::PublishCommit(*to.storage, Trimmed(to.prefix), 0, *bytes);
  }();
  if (!copied.ok()) {
    // The location was empty: remove this restore's copies (there is no commit, so no table).
    if (!copied.IsConflict()) (void)DeleteTree(*to.storage, Trimmed(to.prefix));
    return copied.WithContext("restoring snapshot " + id + " to " + TableUrl(to));
  }
  observer.OnCommitPublished(to.name, 0);
  // The commit's file was synced in its directory, but `_delta_log/` and the location itself
  // may be new directories whose entries must survive a crash too: SyncAll fsyncs the commit
  // and every directory up to the root.
  to.storage->OweSync(delta::LogFileKey(Trimmed(to.prefix), delta::CommitFileName(0)));
  if (Status synced = to.storage->SyncAll(); !synced.ok()) {
    return synced.WithContext(fmt::format(
        "restoring snapshot {} to {}: the table is written but making it durable failed (a "
        "crash now could lose it); check the filesystem, then restore again into a new "
        "location",
        id, TableUrl(to)));
  }
  RestoreCopyOutcome out;
  out.snapshot_id = id;
  out.source_version = manifest->version;
  out.files = totals.files;
  out.bytes = totals.bytes;
  out.shallow = manifest->mode == SnapshotMode::kShallow;
  return out;
}

Result<RestoreInPlaceOutcome> RestoreInPlace(const TableLocation& table,
                                             const RestoreInPlaceOptions& options,
                                             RunObserver& observer) {
  if (options.version.has_value() == options.as_of.has_value()) {
    return Status::InvalidArgument("give exactly one of a version and a timestamp (as of)");
  }
  const std::string prefix = Trimmed(table.prefix);
  delta::DeltaLog log(*table.storage, prefix);
  LAKESYNC_ASSIGN_OR_RETURN(delta::TableState head, log.Load(std::nullopt));
  const delta::Snapshot& now_state = head.snapshot;
  RestoreInPlaceOutcome out;
  out.head = now_state.version();

  LAKESYNC_ASSIGN_OR_RETURN(auto ict_from, delta::IctEnablementVersion(now_state.metadata()));
  LAKESYNC_ASSIGN_OR_RETURN(
      auto times, delta::ComputeCommitTimestamps(head.commit_times, ict_from, options.timestamps));
  if (options.as_of) {
    auto v = delta::VersionAsOf(times, *options.as_of);
    if (!v.ok()) return v.status().WithContext(TableUrl(table));
    out.restored_version = *v;
  } else {
    out.restored_version = *options.version;
    if (out.restored_version > out.head || out.restored_version < 0) {
      return Status::NotFound(
          fmt::format("{} has no version {} (its versions end at {}); nothing was changed",
                      TableUrl(table), out.restored_version, out.head));
    }
  }
  std::optional<delta::TableState> old_loaded;
  const delta::Snapshot* old_state = &now_state;
  if (out.restored_version != out.head) {
    auto loaded = log.Load(out.restored_version);
    if (!loaded.ok()) {
      return loaded.status().WithContext(fmt::format(
          "reading version {} of {}; nothing was changed", out.restored_version, TableUrl(table)));
    }
    old_loaded = std::move(loaded).value();
    old_state = &old_loaded->snapshot;
  }
  out.files = old_state->num_files();
  out.bytes = old_state->bytes();

  // The writer checks: this commit writes adds of existing files and removes.
  const delta::Protocol& protocol = now_state.protocol();
  std::set<std::string> honoured;
  for (const auto& f : delta::WriterFeatures(protocol)) {
    const delta::FeatureInfo* info = delta::FindFeature(f);
    if (info != nullptr && !info->catalog_or_redirect) honoured.insert(f);
  }
  if (Status writable = delta::CheckWritable(protocol, honoured); !writable.ok()) {
    return writable.WithContext(
        fmt::format("cannot restore {}; nothing was changed", TableUrl(table)));
  }

  std::map<std::string, const delta::Add*> live_now, live_then;
  for (const auto& f : now_state.files()) live_now.emplace(LiveKey(f.add), &f.add);
  for (const auto& f : old_state->files()) live_then.emplace(LiveKey(f.add), &f.add);

  const int64_t now_ms = ToUnixMillis(options.clock->Now());
  std::vector<delta::Action> removes, adds;
  std::vector<const delta::Add*> needed;
  for (const auto& [key, add] : live_now) {
    if (live_then.count(key)) continue;
    delta::Remove r;
    r.path = add->path;
    r.decoded_path = add->decoded_path;
    r.absolute = add->absolute;
    r.deletion_timestamp = now_ms;
    r.data_change = true;
    r.extended_file_metadata = true;
    r.partition_values = add->partition_values;
    r.size = add->size;
    r.stats = add->stats;
    r.tags = add->tags;
    r.deletion_vector = add->deletion_vector;
    r.base_row_id = add->base_row_id;
    r.default_row_commit_version = add->default_row_commit_version;
    removes.emplace_back(std::move(r));
  }
  for (const auto& [key, add] : live_then) {
    if (live_now.count(key)) continue;
    needed.push_back(add);
    delta::Add a = *add;
    if (!a.data_change) {
      a.data_change = true;
      a.raw_json.clear();
    }
    adds.emplace_back(std::move(a));
  }
  LAKESYNC_ASSIGN_OR_RETURN(
      std::optional<delta::Metadata> metadata,
      RestoredMetadata(now_state, *old_state, TableUrl(table), out.restored_version));
  if (removes.empty() && adds.empty() && !metadata) {
    return out;  // the head already has exactly these files and this metadata
  }
  auto it = now_state.metadata().configuration.find("delta.appendOnly");
  if (!removes.empty() && it != now_state.metadata().configuration.end() && it->second == "true") {
    return Status::Unsupported(fmt::format(
        "cannot restore {} to version {}: the table is append-only (delta.appendOnly=true) and "
        "the restore would remove {} files; nothing was changed",
        TableUrl(table), out.restored_version, removes.size()));
  }

  // Vacuumed files: refuse before writing anything.
  LAKESYNC_ASSIGN_OR_RETURN(auto files, FilesOfAdds(needed));
  Status present = CheckTableFiles(
      table, files, fmt::format("version {}, which the restore needs", out.restored_version));
  if (!present.ok()) {
    return present.WithContext(fmt::format("cannot restore {} to version {}; nothing was changed",
                                           TableUrl(table), out.restored_version));
  }

  std::vector<delta::Action> actions;
  {
    const bool ict = ict_from.has_value() && *ict_from <= out.head + 1;
    int64_t ts = now_ms;
    if (ict && !times.empty()) {
      ts = std::max(ts, ToUnixMillis(times.back().timestamp) + 1);
    }
    JsonWriter w;
    w.BeginObject().Key("commitInfo").BeginObject();
    if (ict) w.Key("inCommitTimestamp").Int(ts);
    w.Key("timestamp").Int(ts);
    w.Key("operation").String("RESTORE");
    w.Key("operationParameters").BeginObject();
    w.Key("version").String(std::to_string(out.restored_version));
    w.EndObject();
    w.Key("engineInfo").String("lakesync");
    w.EndObject().EndObject();
    delta::CommitInfo ci;
    ci.timestamp = ts;
    if (ict) ci.in_commit_timestamp = ts;
    ci.operation = "RESTORE";
    ci.raw_json = w.Take();
    actions.emplace_back(std::move(ci));
  }
  out.metadata_restored = metadata.has_value();
  if (metadata) actions.emplace_back(std::move(*metadata));
  for (auto& r : removes) actions.push_back(std::move(r));
  for (auto& a : adds) actions.push_back(std::move(a));
  out.removed = static_cast<int64_t>(removes.size());
  out.added = static_cast<int64_t>(adds.size());

  LAKESYNC_RETURN_IF_ERROR(observer.CheckContinue());
  out.new_version = out.head + 1;
  LAKESYNC_RETURN_IF_ERROR(observer.BeforePublish(table.name, out.new_version));
  Status published = delta::PublishCommit(*table.storage, prefix, out.new_version,
                                          delta::SerializeCommit(actions));
  if (!published.ok()) return published.WithContext("nothing was changed");
  observer.OnCommitPublished(table.name, out.new_version);
  return out;
}

}  // namespace lakesync::jobs
