#include "jobs/consolidation.h"

#include <algorithm>
#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <unordered_map>
#include <unordered_set>
#include <variant>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <simdjson.h>
#include <spdlog/spdlog.h>

#include "common/failpoint.h"
#include "common/json_writer.h"
#include "common/parallel.h"
#include "delta/actions.h"
#include "delta/commit_writer.h"
#include "delta/log_reader.h"
#include "delta/protocol.h"
#include "delta/timestamps.h"
#include "jobs/commit_files.h"
#include "jobs/consolidation_schema.h"
#include "storage/checksum.h"

namespace lakesync::jobs {

std::string ConsolidationAppId(std::string_view job, std::string_view region) {
  return fmt::format("lakesync:{}:{}", job, region);
}

namespace {

// The (job, appId) of a consolidation txn for `region` written by a job other than `job` (the
// job was renamed: its txns keep the old name), if the global table has one.
std::optional<std::pair<std::string, std::string>> OtherJobsTxn(const delta::Snapshot& global,
                                                                std::string_view job,
                                                                std::string_view region) {
  const std::string prefix = "lakesync:";
  const std::string suffix = ":" + std::string(region);
  for (const auto& [app_id, txn] : global.txns()) {
    if (app_id.size() <= prefix.size() + suffix.size() || !app_id.starts_with(prefix) ||
        !app_id.ends_with(suffix)) {
      continue;
    }
    std::string other = app_id.substr(prefix.size(), app_id.size() - prefix.size() - suffix.size());
    if (other != job && other.find(':') == std::string::npos) return std::pair(other, app_id);
  }
  return std::nullopt;
}

}  // namespace

bool ConsolidationOutcome::ok() const {
  return std::all_of(regions.begin(), regions.end(),
                     [](const RegionOutcome& r) { return r.status.ok(); });
}

namespace {

// A version-4 UUID for the global table's metaData.id.
std::string RandomUuid() {
  std::random_device rd;
  std::mt19937_64 gen((static_cast<uint64_t>(rd()) << 32) ^ rd());
  uint64_t hi = gen(), lo = gen();
  hi = (hi & 0xFFFFFFFFFFFF0FFFULL) | 0x0000000000004000ULL;
  lo = (lo & 0x3FFFFFFFFFFFFFFFULL) | 0x8000000000000000ULL;
  std::string h = fmt::format("{:016x}{:016x}", hi, lo);
  return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) +
         "-" + h.substr(20);
}

// The net effect of a range of source commits on one logical file: its last add or remove.
using NetAction = std::variant<delta::Add, delta::Remove>;

// What one region contributes to this attempt, before translation.
struct RegionPlan {
  Status status;
  int64_t prev = -1;                        // txn version in the global table (-1: none)
  int64_t head = -1;                        // the source's head
  std::optional<delta::Metadata> metadata;  // creation: at head; later: the newest in range
  std::optional<delta::Protocol> protocol;
  std::vector<std::string> order;  // logical keys in order of first appearance
  std::unordered_map<std::string, NetAction> net;
  std::vector<delta::Cdc> cdcs;
  // Keys an add of this range wrote: a remove of one of them that the global table does not
  // hold was added and removed before it was ever consolidated.
  std::unordered_set<std::string> born;
  bool cdc_complete = true;  // every data-changing commit of the range has cdc files
  bool data_change = false;
  // The fingerprint of the source's commit `head` (SourceFingerprint), recorded with the txn
  // so the next run can tell the source it reads is the one consolidated. Set when advancing
  // (or, for a region the global table has none of, at `prev`); empty when that commit file is
  // gone (only a checkpoint there).
  std::string fingerprint;
  bool Advances() const { return status.ok() && head > prev; }
};

// What the global table records of a region's source at its consolidated version: the
// version and the XXH3 of that commit file ("42:0123456789abcdef"). Commit files are never
// rewritten, so a different fingerprint at the same version means a different table (the
// source was dropped and recreated, or replaced by a copy of another) — whose rows must not be
// merged into those of the old one.
std::string FingerprintOf(int64_t version, std::string_view commit_bytes) {
  return fmt::format("{}:{}", version, storage::FormatXxh3(storage::Xxh3Of(commit_bytes)));
}

Result<std::string> SourceFingerprint(const TableLocation& table, int64_t version) {
  auto bytes =
      table.storage->Read(delta::LogFileKey(TablePrefix(table), delta::CommitFileName(version)));
  if (!bytes.ok()) return bytes.status();
  return FingerprintOf(version, *bytes);
}

// The global commit's commitInfo field holding each region's SourceFingerprint.
constexpr std::string_view kSourcesField = "lakesyncSources";

// The region's fingerprint in a commitInfo line written by lakesync; empty when absent (a
// commit of an older lakesync, or of another writer).
std::string RecordedFingerprint(const delta::CommitInfo& info, const std::string& region) {
  simdjson::dom::parser parser;
  simdjson::padded_string padded(info.raw_json);
  simdjson::dom::element doc;
  if (parser.parse(padded).get(doc)) return "";
  std::string_view fp;
  if (doc["commitInfo"][kSourcesField][region].get_string().get(fp)) return "";
  return std::string(fp);
}

// The region's fingerprint recorded in `commit` for the source version `version` its txn
// names; empty when the commit recorded none (or one of another version).
std::string RecordedFingerprintOf(const delta::Commit& commit, const std::string& region,
                                  int64_t version) {
  for (const auto& a : commit.actions) {
    const auto* info = std::get_if<delta::CommitInfo>(&a);
    if (info == nullptr) continue;
    std::string fp = RecordedFingerprint(*info, region);
    if (fp.rfind(std::to_string(version) + ":", 0) == 0) return fp;
  }
  return "";
}

// Reads the global table at `target` back from `head` and calls found(i, txn, commit) for the
// newest txn of each appId in `wanted` (→ index i), until every one was seen, version 0 was
// read, or (with `stop_at_missing`) a commit file is gone (cleaned up after a checkpoint).
// Every commit lakesync publishes carries a txn of every region consolidated so far, so this
// is normally the head commit alone; with `own_prefix` ("lakesync:<job>:") it also stops after
// the newest commit holding a txn of that prefix (a wanted appId not in it was never
// consolidated: no need to read the log back to version 0). Errors: reading a commit.
Status NewestTxns(const TableLocation& target, int64_t head, std::map<std::string, size_t> wanted,
                  const std::function<void(size_t, const delta::Txn&, const delta::Commit&)>& found,
                  bool stop_at_missing = false, std::string_view own_prefix = {}) {
  delta::DeltaLog log(*target.storage, TablePrefix(target));
  for (int64_t v = head; v >= 0 && !wanted.empty(); --v) {
    auto read = log.ReadCommit(v);
    if (!read.ok() && stop_at_missing && read.status().IsNotFound()) break;
    LAKESYNC_ASSIGN_OR_RETURN(delta::Commit commit, std::move(read));
    bool own = false;
    for (const auto& a : commit.actions) {
      const auto* t = std::get_if<delta::Txn>(&a);
      if (t == nullptr) continue;
      own = own || (!own_prefix.empty() && t->app_id.starts_with(own_prefix));
      auto it = wanted.find(t->app_id);
      if (it == wanted.end()) continue;
      found(it->second, *t, commit);
      wanted.erase(it);
    }
    if (own) break;  // every region consolidated so far has its txn in this commit
  }
  return Status::OK();
}

Status RefuseAbsolute(const std::string& region, int64_t version, std::string_view what,
                      std::string_view path) {
  return Status::Unsupported(fmt::format(
      "region {}: version {} references {} {} by an absolute URI (a shallow clone?); "
      "consolidation copies files relative to the table root — consolidate a deep copy of the "
      "table",
      region, version, what, path));
}

Status CheckPaths(const std::string& region, int64_t version,
                  const std::optional<delta::DeletionVectorDescriptor>& dv, bool absolute,
                  std::string_view path) {
  if (absolute) return RefuseAbsolute(region, version, "a file", path);
  if (dv && dv->storage_type == 'p') {
    return RefuseAbsolute(region, version, "a deletion vector", dv->path_or_inline_dv);
  }
  return Status::OK();
}

void Record(RegionPlan& plan, std::string key, NetAction action) {
  auto [it, inserted] = plan.net.try_emplace(key, action);
  if (inserted) {
    plan.order.push_back(std::move(key));
  } else {
    it->second = std::move(action);
  }
}

// Reads what `source` did after version `prev` (the whole live set when prev < 0).
// `recorded`: the source's fingerprint at `prev` as the global table recorded it (empty:
// unknown); a source whose commit `prev` differs is refused (it is another table).
RegionPlan PlanRegion(const ConsolidationSource& source, int64_t prev,
                      const std::string& recorded) {
  RegionPlan plan;
  plan.prev = prev;
  const std::string& region = source.region;
  auto fail = [&](Status s) {
    plan.status = std::move(s);
    return std::move(plan);
  };
  if (!source.unavailable.ok()) return fail(source.unavailable);
  auto head = TableHead(*source.table.storage, TablePrefix(source.table));
  if (!head.ok()) {
    return fail(
        head.status().WithContext("region " + region + ": reading " + DescribeTable(source.table)));
  }
  plan.head = *head;
  if (plan.head < 0) {
    return fail(Status::NotFound(
        fmt::format("region {}: no Delta table at {}; check the source's URL in the job", region,
                    DescribeTable(source.table))));
  }
  if (plan.head < prev) {
    return fail(Status::Corruption(fmt::format(
        "region {}: the source's newest version is {} but version {} was already consolidated; "
        "the source was replaced or restored — consolidate it into a new global table",
        region, plan.head, prev)));
  }
  if (prev >= 0 && !recorded.empty()) {
    auto now = SourceFingerprint(source.table, prev);
    if (now.ok() && *now != recorded) {
      return fail(Status::Corruption(fmt::format(
          "region {}: the source's version {} is not the commit that was consolidated "
          "(fingerprint {}, recorded {}): the table at {} was replaced or recreated, and its "
          "rows must not be merged with the old table's already in the global table — "
          "consolidate it into a new global table (or restore the original source)",
          region, prev, *now, recorded, DescribeTable(source.table))));
    }
    if (!now.ok() && !now.status().IsNotFound()) {
      return fail(now.status().WithContext(fmt::format("region {}: reading version {} of {}",
                                                       region, prev, DescribeTable(source.table))));
    }
    // NotFound: the commit file was cleaned up (log retention); nothing to compare with.
  }
  // The fingerprint the next commit records: of the head when advancing (taken below from the
  // bytes the range's last commit is read from, when there is a range), else (a global table
  // of an older lakesync recorded none) of the consolidated version, trusted on first use.
  const int64_t fingerprint_at =
      plan.head > prev ? (prev < 0 ? plan.head : -1) : (recorded.empty() ? prev : -1);
  if (fingerprint_at >= 0) {
    auto fp = SourceFingerprint(source.table, fingerprint_at);
    if (fp.ok()) {
      plan.fingerprint = std::move(fp).value();
    } else if (!fp.status().IsNotFound()) {  // NotFound: only a checkpoint at that version
      return fail(
          fp.status().WithContext(fmt::format("region {}: reading version {} of {}", region,
                                              fingerprint_at, DescribeTable(source.table))));
    }
  }
  if (plan.head == prev) return plan;

  delta::DeltaLog log(*source.table.storage, TablePrefix(source.table));
  if (prev < 0) {
    auto state = log.Load(plan.head);
    if (!state.ok()) return fail(state.status().WithContext("region " + region));
    const delta::Snapshot& snap = state->snapshot;
    plan.metadata = snap.metadata();
    plan.protocol = snap.protocol();
    Status ok = CheckConsolidatable(snap.protocol());
    if (!ok.ok()) return fail(ok.WithContext("region " + region));
    for (const auto& f : snap.files()) {
      Status paths =
          CheckPaths(region, f.added_version, f.add.deletion_vector, f.add.absolute, f.add.path);
      if (!paths.ok()) return fail(paths);
      // The global table gains every row of these files now, whatever the source's commit
      // that wrote them said (an OPTIMIZE writes dataChange=false): readers of changes must
      // see them.
      delta::Add add = f.add;
      add.data_change = true;
      std::string key = delta::LogicalFileKey(add.decoded_path, add.deletion_vector);
      Record(plan, std::move(key), std::move(add));
    }
    plan.data_change = !snap.files().empty();
    plan.cdc_complete = false;  // history's change data does not describe "add everything"
    return plan;
  }

  // dataChange: a rearrangement (a dataChange=false commit: compaction, clustering) keeps
  // rows as the source saw them, but not as the global table will: if it consumes a file
  // born in this range (the global table never had its rows) or writes one that dies in this
  // range, its surviving actions carry rows the global table gains or loses. Those commits'
  // net actions are published with dataChange=true, so readers of the change feed see them.
  std::unordered_map<std::string, int64_t> net_version;  // key → version of its net action
  std::vector<std::pair<int64_t, std::string>> rearranged_adds;  // (version, key)
  std::unordered_set<int64_t> changes_rows;                      // such commits' versions
  std::string head_bytes;
  for (int64_t v = prev + 1; v <= plan.head; ++v) {
    auto commit = log.ReadCommit(v, v == plan.head ? &head_bytes : nullptr);
    if (commit.status().IsNotFound()) {
      return fail(Status::NotFound(fmt::format(
          "region {}: the source's log no longer holds version {} (log retention removed it "
          "after a checkpoint) but consolidation needs every commit after the consolidated "
          "version {}; consolidate {} into a new global table, and keep the source's commits "
          "longer than consolidation lags (delta.logRetentionDuration)",
          region, v, prev, DescribeTable(source.table))));
    }
    if (!commit.ok()) {
      return fail(commit.status().WithContext(fmt::format("region {}: reading version {} of {}",
                                                          region, v, DescribeTable(source.table))));
    }
    if (v == plan.head) plan.fingerprint = FingerprintOf(v, head_bytes);
    bool changes = false, has_cdc = false;
    for (auto& action : commit->actions) {
      if (auto* a = std::get_if<delta::Add>(&action)) {
        Status paths = CheckPaths(region, v, a->deletion_vector, a->absolute, a->path);
        if (!paths.ok()) return fail(paths);
        changes = changes || a->data_change;
        std::string key = delta::LogicalFileKey(a->decoded_path, a->deletion_vector);
        if (!a->data_change) rearranged_adds.emplace_back(v, key);
        plan.born.insert(key);
        net_version[key] = v;
        Record(plan, std::move(key), std::move(*a));
      } else if (auto* r = std::get_if<delta::Remove>(&action)) {
        changes = changes || r->data_change;
        std::string key = delta::LogicalFileKey(r->decoded_path, r->deletion_vector);
        if (!r->data_change) {
          auto born = plan.net.find(key);  // only this range's actions are in plan.net
          if (born != plan.net.end() && std::holds_alternative<delta::Add>(born->second)) {
            changes_rows.insert(v);
          }
        }
        net_version[key] = v;
        Record(plan, std::move(key), std::move(*r));
      } else if (auto* c = std::get_if<delta::Cdc>(&action)) {
        if (c->absolute) return fail(RefuseAbsolute(region, v, "a change-data file", c->path));
        has_cdc = true;
        plan.cdcs.push_back(std::move(*c));
      } else if (auto* m = std::get_if<delta::Metadata>(&action)) {
        plan.metadata = std::move(*m);
      } else if (auto* p = std::get_if<delta::Protocol>(&action)) {
        plan.protocol = std::move(*p);
      }
    }
    plan.data_change = plan.data_change || changes;
    if (changes && !has_cdc) plan.cdc_complete = false;
  }
  for (const auto& [v, key] : rearranged_adds) {
    if (std::holds_alternative<delta::Remove>(plan.net.at(key))) changes_rows.insert(v);
  }
  if (!changes_rows.empty()) {
    for (auto& [key, action] : plan.net) {
      if (changes_rows.count(net_version.at(key)) == 0) continue;
      std::visit([](auto& a) { a.data_change = true; }, action);
      plan.data_change = true;
    }
  }
  return plan;
}

// The global table as this attempt sees it.
struct GlobalView {
  int64_t head = -1;  // -1: no table yet
  std::optional<delta::Snapshot> snapshot;
  std::unordered_map<std::string, const delta::LiveFile*> live;  // by logical key
};

Result<GlobalView> LoadGlobal(const TableLocation& target, const std::string& region_column) {
  GlobalView g;
  LAKESYNC_ASSIGN_OR_RETURN(g.head, TableHead(*target.storage, TablePrefix(target)));
  if (g.head < 0) return g;
  delta::DeltaLog log(*target.storage, TablePrefix(target));
  LAKESYNC_ASSIGN_OR_RETURN(g.snapshot, log.LoadSnapshot(g.head));
  LAKESYNC_RETURN_IF_ERROR(delta::CheckReadable(g.snapshot->protocol()));
  // lakesync writes this table: a feature it cannot keep (or does not know), enabled on it by
  // another writer, stops the run before anything is copied.
  if (Status writable = CheckConsolidatable(g.snapshot->protocol()); !writable.ok()) {
    return Status::Unsupported(fmt::format(
        "it has a table feature lakesync cannot write with ({}); point the job at a new global "
        "table location, or drop the feature from this table",
        writable.message()));
  }
  const auto& parts = g.snapshot->metadata().partition_columns;
  if (parts.empty() || parts.front() != region_column) {
    return Status::InvalidArgument(fmt::format(
        "the target {} is a Delta table not partitioned first by {} (its partition columns: "
        "{}); it is not this job's global table — point the job at a new location",
        DescribeTable(target), region_column,
        parts.empty() ? "none" : fmt::format("{}", parts.front())));
  }
  for (const auto& f : g.snapshot->files()) {
    g.live.emplace(delta::LogicalFileKey(f.add.decoded_path, f.add.deletion_vector), &f);
  }
  return g;
}

// A file to copy from a region's source into the global table.
struct CopyTask {
  size_t region = 0;
  std::string from;  // relative to the source's root (decoded)
  std::string to;    // relative to the global table's root (decoded)
  FileRole role = FileRole::kData;
  int64_t size = -1;     // exact size from the log; -1 for DV files
  int64_t min_size = 0;  // DV files: smallest length holding their DVs
  Status status;
};

// The translated actions of one region.
struct RegionActions {
  std::vector<delta::Action> removes, adds, cdcs;
  int64_t rows = 0;
};

class Translator {
 public:
  Translator(const std::string& region_column, const std::string& region, size_t index,
             int64_t now_ms)
      : column_(region_column),
        region_(region),
        dir_(region_column + "=" + region),
        index_(index),
        now_ms_(now_ms) {}

  // The DV as the global table names it. A 'u' file moves into the region directory, which
  // becomes its prefix: Delta prefixes are one directory name (no '/'), so a source prefix
  // ("ab/deletion_vector_<uuid>.bin") is dropped — DV file names are unique by their UUID, so
  // `<dir>/deletion_vector_<uuid>.bin` cannot collide. Inline DVs are unchanged.
  std::optional<delta::DeletionVectorDescriptor> Dv(
      const std::optional<delta::DeletionVectorDescriptor>& dv) const {
    if (!dv || dv->storage_type != 'u') return dv;
    delta::DeletionVectorDescriptor out = *dv;
    const std::string& all = dv->path_or_inline_dv;
    out.path_or_inline_dv = dir_ + all.substr(all.size() - 20);
    return out;
  }

  delta::PartitionValues Partitions(const delta::PartitionValues& values) const {
    delta::PartitionValues out = values;
    out[column_] = region_;
    return out;
  }

  // Adds the add's files (data, DV) to `tasks` and returns the translated add.
  Result<delta::Add> Add(const delta::Add& a, std::map<std::string, CopyTask>& tasks) const {
    delta::Add out;
    out.path = dir_ + "/" + a.path;
    out.decoded_path = dir_ + "/" + a.decoded_path;
    out.partition_values = Partitions(a.partition_values);
    out.size = a.size;
    out.modification_time = a.modification_time;
    out.data_change = a.data_change;
    out.stats = a.stats;
    out.num_records = a.num_records;
    out.tags = a.tags;
    out.deletion_vector = Dv(a.deletion_vector);
    // baseRowId / defaultRowCommitVersion / clusteringProvider: row tracking and clustering
    // are refused (jobs/consolidation_schema.h), so they are not carried.
    Task(tasks, a.decoded_path, out.decoded_path, FileRole::kData, a.size, 0);
    if (a.deletion_vector && a.deletion_vector->storage_type == 'u') {
      LAKESYNC_ASSIGN_OR_RETURN(std::string from, a.deletion_vector->RelativePath());
      LAKESYNC_ASSIGN_OR_RETURN(std::string to, out.deletion_vector->RelativePath());
      const auto& dv = *a.deletion_vector;
      int64_t need = int64_t{dv.offset.value_or(1)} + 4 + dv.size_in_bytes + 4;
      Task(tasks, from, to, FileRole::kDeletionVector, -1, need);
    }
    return out;
  }

  // The remove of the global table's live file, or nullopt when the global table does not
  // hold it (added and removed before it was ever consolidated).
  std::optional<delta::Remove> Remove(const delta::Remove& r, const GlobalView& global) const {
    const std::string key =
        delta::LogicalFileKey(dir_ + "/" + r.decoded_path, Dv(r.deletion_vector));
    auto it = global.live.find(key);
    if (it == global.live.end()) return std::nullopt;
    const delta::Add& live = it->second->add;
    delta::Remove out;
    out.path = live.path;
    out.decoded_path = live.decoded_path;
    out.deletion_timestamp = r.deletion_timestamp.value_or(now_ms_);
    out.data_change = r.data_change;
    out.extended_file_metadata = true;
    out.partition_values = live.partition_values;
    out.size = live.size;
    out.tags = live.tags;
    out.deletion_vector = live.deletion_vector;
    return out;
  }

  delta::Cdc Cdc(const delta::Cdc& c, std::map<std::string, CopyTask>& tasks) const {
    delta::Cdc out;
    out.path = dir_ + "/" + c.path;
    out.decoded_path = dir_ + "/" + c.decoded_path;
    out.partition_values = Partitions(c.partition_values);
    out.size = c.size;
    out.data_change = false;
    out.tags = c.tags;
    Task(tasks, c.decoded_path, out.decoded_path, FileRole::kChangeData, c.size, 0);
    return out;
  }

 private:
  void Task(std::map<std::string, CopyTask>& tasks, const std::string& from, const std::string& to,
            FileRole role, int64_t size, int64_t min_size) const {
    auto [it, inserted] = tasks.try_emplace(to);
    CopyTask& t = it->second;
    if (inserted) {
      t.region = index_;
      t.from = from;
      t.to = to;
      t.role = role;
      t.size = size;
    }
    t.min_size = std::max(t.min_size, min_size);
  }

  const std::string& column_;
  const std::string& region_;
  std::string dir_;
  size_t index_;
  int64_t now_ms_;
};

bool RightSize(const CopyTask& t, uint64_t size) {
  if (t.size >= 0) return size == static_cast<uint64_t>(t.size);
  return size >= static_cast<uint64_t>(t.min_size);
}

// Per-region counters that survive commit retries (a file copied by an earlier attempt is
// found present by the next one and not counted twice).
struct Counters {
  std::atomic<int64_t> files{0};
  std::atomic<int64_t> bytes{0};
};

class Run {
 public:
  Run(const std::vector<ConsolidationSource>& sources, const TableLocation& target,
      const ConsolidationOptions& options, RunObserver& observer)
      : sources_(sources),
        target_(target),
        options_(options),
        observer_(observer),
        counters_(sources.size()) {}

  Result<ConsolidationOutcome> Execute();

 private:
  // One attempt. Conflict when another writer published the version first.
  Status Attempt(ConsolidationOutcome& outcome);
  Status CopyAll(std::vector<CopyTask>& tasks, std::vector<RegionPlan>& plans);
  Status CopyOne(CopyTask& task);
  // The global table's metaData and protocol grown to take every plan (still ok) that brings
  // a changed one; nullopt where nothing changes. A plan that does not fit gets the reason as
  // its status. `log`: the final decision, logged per region.
  struct Growth {
    std::optional<delta::Metadata> metadata;
    std::optional<delta::Protocol> protocol;
  };
  Growth Grow(const delta::Snapshot& global, std::vector<RegionPlan>& plans, bool log);

  const std::vector<ConsolidationSource>& sources_;
  const TableLocation& target_;
  const ConsolidationOptions& options_;
  RunObserver& observer_;
  std::vector<Counters> counters_;
};

Run::Growth Run::Grow(const delta::Snapshot& global, std::vector<RegionPlan>& plans, bool log) {
  delta::Metadata metadata = global.metadata();
  delta::Protocol protocol = global.protocol();
  for (size_t i = 0; i < plans.size(); ++i) {
    RegionPlan& p = plans[i];
    if (!p.status.ok() || (!p.metadata && !p.protocol)) continue;
    delta::Metadata m = metadata;
    delta::Protocol pr = protocol;
    std::vector<std::string> changes;
    p.status = FitGlobalToRegion(sources_[i].region, p.metadata ? &*p.metadata : nullptr,
                                 p.protocol ? &*p.protocol : nullptr, options_.region_column,
                                 options_.union_schema, m, pr, changes);
    if (!p.status.ok()) {
      spdlog::warn("consolidation {}: {}", options_.job, p.status.message());
      continue;
    }
    if (changes.empty()) continue;
    if (log) {
      spdlog::info("consolidation {}: region {} brings {}; the global table gains them",
                   options_.job, sources_[i].region, fmt::join(changes, ", "));
    }
    metadata = std::move(m);
    protocol = std::move(pr);
  }
  Growth out;
  const delta::Metadata& was = global.metadata();
  if (metadata.schema_string != was.schema_string || metadata.configuration != was.configuration) {
    out.metadata = std::move(metadata);
  }
  const delta::Protocol& had = global.protocol();
  if (protocol.min_reader_version != had.min_reader_version ||
      protocol.min_writer_version != had.min_writer_version ||
      protocol.reader_features != had.reader_features ||
      protocol.writer_features != had.writer_features) {
    out.protocol = std::move(protocol);
  }
  return out;
}

Status Run::CopyOne(CopyTask& task) {
  const ConsolidationSource& src = sources_[task.region];
  const std::string from = TableKey(TablePrefix(src.table), task.from);
  const std::string to = TableKey(TablePrefix(target_), task.to);
  // Resume: copies are atomic, so a present file of the right size is a whole one.
  auto keep = [&](const storage::FileInfo& present) {
    if (!RightSize(task, present.size)) return false;
    // Possibly copied by a run that was killed before flushing it.
    target_.storage->OweSync(to);
    observer_.OnFileCopied(src.region, task.to, static_cast<int64_t>(present.size));
    return true;
  };
  auto existing = target_.storage->Stat(to);
  if (existing.ok() && keep(*existing)) return Status::OK();
  if (!existing.ok() && !existing.status().IsNotFound()) {
    return existing.status().WithContext("checking " + to + " in the global table");
  }
  // Made durable by the one SyncAll before the commit is published. Only a wrong file found
  // above is replaced: one that appears meanwhile was copied by another writer racing this run
  // (perhaps durable and published already), and is kept rather than replaced by a copy not
  // yet on disk.
  auto copied = existing.ok()
                    ? target_.storage->CopyFromDeferred(*src.table.storage, from, to)
                    : target_.storage->CopyFromDeferredIfAbsent(*src.table.storage, from, to);
  if (!copied.ok() && copied.status().code() == StatusCode::kAlreadyExists) {
    auto appeared = target_.storage->Stat(to);
    if (appeared.ok() && keep(*appeared)) return Status::OK();
    return Status::Conflict(fmt::format(
        "region {}: {} {} appeared in the global table while it was being copied, with a size "
        "its log does not give; another writer is writing the global table — stop it, then rerun",
        src.region, FileRoleName(task.role), task.from));
  }
  if (!copied.ok()) {
    if (copied.status().IsNotFound()) {
      return Status::NotFound(fmt::format(
          "region {}: {} {} is live in the source's log but missing from {}; the source table "
          "is incomplete — restore the file (or repair the table) and rerun",
          src.region, FileRoleName(task.role), task.from, DescribeTable(src.table)));
    }
    return copied.status().WithContext(
        fmt::format("region {}: copying {} {}", src.region, FileRoleName(task.role), task.from));
  }
  if (!RightSize(task, *copied)) {
    std::string want = task.size >= 0 ? fmt::format("{} bytes", task.size)
                                      : fmt::format("at least {} bytes", task.min_size);
    return Status::Corruption(fmt::format(
        "region {}: {} {} in the source has {} bytes but its log says {}; the source file was "
        "damaged or replaced — repair the source table and rerun",
        src.region, FileRoleName(task.role), task.from, *copied, want));
  }
  counters_[task.region].files.fetch_add(1);
  counters_[task.region].bytes.fetch_add(static_cast<int64_t>(*copied));
  observer_.OnFileCopied(src.region, task.to, static_cast<int64_t>(*copied));
  return Status::OK();
}

Status Run::CopyAll(std::vector<CopyTask>& tasks, std::vector<RegionPlan>& plans) {
  std::mutex mu;
  Status stop;
  std::atomic<bool> stopped{false};
  ParallelFor(options_.copy_parallelism, tasks.size(), [&](size_t i) {
    CopyTask& task = tasks[i];
    if (stopped.load()) return;
    Status go = observer_.CheckContinue();
    if (!go.ok()) {
      std::lock_guard<std::mutex> lock(mu);
      if (stop.ok()) stop = go;
      stopped.store(true);
      return;
    }
    task.status = CopyOne(task);
  });
  if (!stop.ok()) return stop;
  for (const auto& t : tasks) {
    if (!t.status.ok() && plans[t.region].status.ok()) plans[t.region].status = t.status;
  }
  return Status::OK();
}

Status Run::Attempt(ConsolidationOutcome& outcome) {
  LAKESYNC_RETURN_IF_ERROR(observer_.CheckContinue());
  const std::string& column = options_.region_column;
  const int64_t now_ms = ToUnixMillis(options_.clock->Now());
  auto global_or = LoadGlobal(target_, column);
  if (!global_or.ok()) {
    return global_or.status().WithContext("reading the global table " + DescribeTable(target_));
  }
  GlobalView global = std::move(global_or).value();
  const bool creating = global.head < 0;
  outcome.start_version = outcome.end_version = global.head;

  // 1. Each region's new commits, reduced to their net effect, after checking that its source
  // is still the table consolidated so far (the fingerprint recorded with its txn).
  std::vector<std::string> recorded(sources_.size());
  if (global.snapshot) {
    std::map<std::string, size_t> wanted;  // regions consolidated before
    for (size_t i = 0; i < sources_.size(); ++i) {
      std::string app = ConsolidationAppId(options_.job, sources_[i].region);
      if (global.snapshot->TxnVersion(app).has_value()) wanted.emplace(std::move(app), i);
    }
    Status read = NewestTxns(
        target_, global.head, std::move(wanted),
        [&](size_t i, const delta::Txn& t, const delta::Commit& commit) {
          recorded[i] = RecordedFingerprintOf(commit, sources_[i].region, t.version);
        },
        /*stop_at_missing=*/true);
    if (!read.ok()) return read.WithContext("reading the global table " + DescribeTable(target_));
  }
  std::vector<RegionPlan> plans;
  for (size_t i = 0; i < sources_.size(); ++i) {
    const auto& s = sources_[i];
    int64_t prev = -1;
    if (global.snapshot) {
      prev = global.snapshot->TxnVersion(ConsolidationAppId(options_.job, s.region)).value_or(-1);
    }
    if (prev < 0 && global.snapshot) {
      if (auto other = OtherJobsTxn(*global.snapshot, options_.job, s.region)) {
        RegionPlan refused;
        refused.status = Status::InvalidArgument(fmt::format(
            "region {}: the global table already holds this region's files, consolidated by "
            "job `{}` (txn {}); as job `{}` it would add them all again and keep rows the region "
            "deleted since. Give the job its old name back, or consolidate into a new global "
            "table",
            s.region, other->first, other->second, options_.job));
        spdlog::warn("consolidation {}: {}", options_.job, refused.status.message());
        plans.push_back(std::move(refused));
        continue;
      }
    }
    plans.push_back(PlanRegion(s, prev, recorded[i]));
    if (!plans.back().status.ok()) {
      spdlog::warn("consolidation {}: {}", options_.job, plans.back().status.message());
    }
  }
  LAKESYNC_RETURN_IF_ERROR(observer_.CheckContinue());

  // 2. Schema and protocol: agreed by the sources at creation, checked against the global
  // table afterwards.
  std::optional<GlobalDefinition> definition;
  if (creating) {
    std::vector<RegionSchema> schemas;
    std::string unreadable;
    for (size_t i = 0; i < plans.size(); ++i) {
      if (plans[i].status.ok()) {
        schemas.push_back({sources_[i].region, &*plans[i].metadata, &*plans[i].protocol});
      } else {
        unreadable += (unreadable.empty() ? "" : "; ") + plans[i].status.message();
      }
    }
    if (schemas.empty()) {
      return Status::Unavailable("no source could be read, so the global table was not created: " +
                                 unreadable);
    }
    LAKESYNC_ASSIGN_OR_RETURN(definition,
                              BuildGlobalDefinition(schemas, column, options_.union_schema));
  }
  // Later: each region's changed schema or protocol must fit the global table, which gains
  // the nullable columns (schema: union) and the table features a region brings. Checked here,
  // before anything is copied; what the commit carries is decided again after the copies, from
  // the regions still advancing (a region that fails later must not grow the table).
  if (!creating) Grow(*global.snapshot, plans, /*log=*/false);

  // 3. Change data only when it describes the whole commit: a commit with cdc files is read
  // through them alone, so one region without them would vanish from the change feed.
  bool include_cdc = false;
  for (const auto& p : plans) {
    if (!p.Advances() || !p.data_change) continue;
    if (!p.cdc_complete) {
      include_cdc = false;
      break;
    }
    include_cdc = include_cdc || !p.cdcs.empty();
  }

  // 4. Translation and the files to copy.
  std::vector<RegionActions> actions(plans.size());
  std::map<std::string, CopyTask> task_map;
  for (size_t i = 0; i < plans.size(); ++i) {
    RegionPlan& p = plans[i];
    if (!p.Advances()) continue;
    Translator tr(column, sources_[i].region, i, now_ms);
    std::map<std::string, CopyTask> mine;
    Status st;
    for (const auto& key : p.order) {
      const NetAction& a = p.net.at(key);
      if (const auto* add = std::get_if<delta::Add>(&a)) {
        auto out = tr.Add(*add, mine);
        if (!out.ok()) {
          st = out.status().WithContext("region " + sources_[i].region);
          break;
        }
        actions[i].rows += out->num_records.value_or(0);
        actions[i].adds.push_back(std::move(out).value());
      } else if (auto rm = tr.Remove(std::get<delta::Remove>(a), global)) {
        actions[i].removes.push_back(std::move(*rm));
      } else if (p.born.count(key) == 0) {
        // Consolidated earlier, yet no longer in the global table: another writer rewrote it
        // (an OPTIMIZE, a DELETE). Dropping the remove would keep rows the region deleted.
        st = Status::Corruption(fmt::format(
            "region {}: the source removed {} (after version {}), which the global table no "
            "longer holds: another writer changed this region's files in the global table "
            "(OPTIMIZE, DELETE, UPDATE), so lakesync cannot apply the region's deletes and "
            "updates; nothing of this region was published. Consolidate into a new global "
            "table and let no other writer change it (readers only)",
            sources_[i].region, std::get<delta::Remove>(a).path, p.prev));
        break;
      }
    }
    if (st.ok() && include_cdc) {
      for (const auto& c : p.cdcs) actions[i].cdcs.push_back(tr.Cdc(c, mine));
    }
    if (!st.ok()) {
      p.status = st;
      continue;
    }
    int64_t bytes = 0;
    for (const auto& [to, t] : mine) bytes += std::max<int64_t>(t.size, 0);
    observer_.OnTargetPlanned(sources_[i].region, p.prev, p.head, static_cast<int64_t>(mine.size()),
                              bytes);
    task_map.merge(mine);
  }
  std::vector<CopyTask> tasks;
  tasks.reserve(task_map.size());
  for (auto& [to, t] : task_map) tasks.push_back(std::move(t));

  // 5. Copies, made durable before anything references them.
  LAKESYNC_RETURN_IF_ERROR(CopyAll(tasks, plans));
  LAKESYNC_RETURN_IF_ERROR(
      target_.storage->SyncAll().WithContext("making the copied files durable"));
  LAKESYNC_FAILPOINT("consolidation.after_copy");
  LAKESYNC_RETURN_IF_ERROR(observer_.CheckContinue());
  Growth growth;
  if (!creating) growth = Grow(*global.snapshot, plans, /*log=*/true);

  // 6. One commit: every advancing region's actions and a txn per known region.
  std::vector<delta::Action> commit;
  std::string summary;
  bool any = false;
  std::vector<delta::Action> txns, removes, adds, cdcs;
  std::vector<std::pair<std::string, std::string>> fingerprints;  // (region, fingerprint)
  for (size_t i = 0; i < plans.size(); ++i) {
    const RegionPlan& p = plans[i];
    const bool advances = p.Advances();
    const int64_t version = advances ? p.head : p.prev;
    // Advancing: the head's. Otherwise what was recorded, or (none recorded) the one the plan
    // took at `prev` — only if it is of that version (a region that failed after planning
    // may hold its head's).
    std::string fp = advances || recorded[i].empty() ? p.fingerprint : recorded[i];
    if (fp.rfind(std::to_string(version) + ":", 0) != 0) fp.clear();
    if (version >= 0 && !fp.empty()) fingerprints.emplace_back(sources_[i].region, fp);
    if (advances) {
      any = true;
      summary += fmt::format("{}{}={}..{}", summary.empty() ? "" : ",", sources_[i].region,
                             p.prev + 1, p.head);
      for (auto& a : actions[i].removes) removes.push_back(std::move(a));
      for (auto& a : actions[i].adds) adds.push_back(std::move(a));
      for (auto& a : actions[i].cdcs) cdcs.push_back(std::move(a));
    }
    if (version >= 0) {
      delta::Txn t;
      t.app_id = ConsolidationAppId(options_.job, sources_[i].region);
      t.version = version;
      t.last_updated = now_ms;
      txns.push_back(t);
    }
  }

  // Outcomes as they will be if the commit is published.
  outcome.regions.clear();
  for (size_t i = 0; i < plans.size(); ++i) {
    const RegionPlan& p = plans[i];
    RegionOutcome r;
    r.region = sources_[i].region;
    r.status = p.status;
    r.source_head = p.head;
    r.start_version = r.end_version = p.prev;
    r.files = counters_[i].files.load();
    r.bytes = counters_[i].bytes.load();
    if (p.Advances()) {
      r.end_version = p.head;
      r.commits = p.head - p.prev;
      r.rows = actions[i].rows;
      r.adds = static_cast<int64_t>(actions[i].adds.size());
      r.removes = static_cast<int64_t>(actions[i].removes.size());
      r.cdc = static_cast<int64_t>(actions[i].cdcs.size());
    }
    outcome.regions.push_back(std::move(r));
  }
  if (!any && !creating) return Status::OK();  // every readable region is caught up
  if (creating && !any) {
    // Nothing readable advanced (only possible with empty sources): still no table without data.
    return Status::OK();
  }

  JsonWriter info;
  info.BeginObject()
      .Key("commitInfo")
      .BeginObject()
      .Key("timestamp")
      .Int(now_ms)
      .Key("operation")
      .String("CONSOLIDATE")
      .Key("operationParameters")
      .BeginObject()
      .Key("job")
      .String(options_.job)
      .Key("regions")
      .String(summary)
      .EndObject()
      .Key("isBlindAppend")
      .Bool(removes.empty())
      .Key("engineInfo")
      .String("lakesync")
      .Key(kSourcesField)
      .BeginObject();
  for (const auto& [region, fp] : fingerprints) info.Key(region).String(fp);
  info.EndObject().EndObject().EndObject();
  delta::CommitInfo ci;
  ci.raw_json = info.Take();
  commit.push_back(ci);
  if (creating) {
    commit.push_back(definition->protocol);
    delta::Metadata m;
    m.id = RandomUuid();
    m.schema_string = definition->schema_string;
    m.partition_columns = definition->partition_columns;
    m.configuration = definition->configuration;
    m.created_time = now_ms;
    commit.push_back(m);
  } else {
    if (growth.protocol) commit.push_back(*growth.protocol);
    if (growth.metadata) commit.push_back(*growth.metadata);
  }
  for (auto* group : {&txns, &removes, &adds, &cdcs}) {
    for (auto& a : *group) commit.push_back(std::move(a));
  }

  const int64_t version = global.head + 1;
  LAKESYNC_RETURN_IF_ERROR(observer_.BeforePublish(target_.name, version));
  LAKESYNC_FAILPOINT("consolidation.before_commit_publish");
  Status published = delta::WriteCommit(*target_.storage, TablePrefix(target_), version, commit);
  if (!published.ok()) {
    if (published.IsConflict()) return published;
    return published.WithContext("publishing version " + std::to_string(version) +
                                 " of the global table");
  }
  LAKESYNC_FAILPOINT("consolidation.after_commit_publish");
  outcome.end_version = version;
  outcome.created = creating;
  outcome.published = true;
  observer_.OnCommitPublished(target_.name, version);
  return Status::OK();
}

Result<ConsolidationOutcome> Run::Execute() {
  ConsolidationOutcome outcome;
  const int attempts = std::max(1, options_.max_commit_attempts);
  for (int attempt = 1; attempt <= attempts; ++attempt) {
    outcome.attempts = attempt;
    Status st = Attempt(outcome);
    if (st.ok()) return outcome;
    if (!st.IsConflict()) return st;
    spdlog::info("consolidation {}: {}; re-reading the global table and retrying (attempt {}/{})",
                 options_.job, st.message(), attempt + 1, attempts);
  }
  return Status::Conflict(fmt::format(
      "the global table {} kept changing: {} commit attempts lost to other writers; rerun the "
      "job (and check that only one lakesync consolidates into it)",
      DescribeTable(target_), attempts));
}

// The commit time of `version` of the table read by `log` (DELTA_NOTES §3), as ComputeLag.
Result<double> CommitAge(const delta::DeltaLog& log, int64_t version, TimePoint now) {
  auto st =
      log.storage().Stat(delta::LogFileKey(log.table_prefix(), delta::CommitFileName(version)));
  if (!st.ok()) return st.status();
  LAKESYNC_ASSIGN_OR_RETURN(delta::Commit commit, log.ReadCommit(version));
  return CommitAgeSeconds(commit, st->modification_time, now);
}

}  // namespace

Result<ConsolidationOutcome> RunConsolidation(const std::vector<ConsolidationSource>& sources,
                                              const TableLocation& target,
                                              const ConsolidationOptions& options,
                                              RunObserver& observer) {
  if (target.storage == nullptr) return Status::InvalidArgument("the target has no storage");
  if (sources.empty()) return Status::InvalidArgument("a consolidation needs at least one source");
  for (const auto& s : sources) {
    if (s.table.storage == nullptr && s.unavailable.ok()) {
      return Status::InvalidArgument("region " + s.region + " has no storage");
    }
  }
  Run run(sources, target, options, observer);
  return run.Execute();
}

std::vector<RegionLag> ConsolidationLag(const std::vector<ConsolidationSource>& sources,
                                        const TableLocation& target, std::string_view job,
                                        TimePoint now) {
  std::vector<RegionLag> out(sources.size());
  for (size_t i = 0; i < sources.size(); ++i) out[i].region = sources[i].region;

  // The txn versions: the newest commit of each appId, reading back from the head. Every
  // commit lakesync publishes carries a txn of every region consolidated so far, so this is
  // normally the head commit alone.
  std::map<std::string, size_t> wanted;
  for (size_t i = 0; i < sources.size(); ++i) {
    wanted.emplace(ConsolidationAppId(job, sources[i].region), i);
  }
  Status target_status;
  std::vector<std::string> recorded(sources.size());  // fingerprints recorded with the txns
  auto head = target.storage ? TableHead(*target.storage, TablePrefix(target))
                             : Result<int64_t>(Status::InvalidArgument("no target storage"));
  if (!head.ok()) {
    target_status = head.status().WithContext("reading the global table");
  } else {
    target_status = NewestTxns(
                        target, *head, std::move(wanted),
                        [&](size_t i, const delta::Txn& t, const delta::Commit& commit) {
                          out[i].consolidated_version = t.version;
                          recorded[i] = RecordedFingerprintOf(commit, sources[i].region, t.version);
                        },
                        /*stop_at_missing=*/false, ConsolidationAppId(job, ""))
                        .WithContext("reading the global table");
  }

  for (size_t i = 0; i < sources.size(); ++i) {
    RegionLag& lag = out[i];
    if (!target_status.ok()) {
      lag.status = target_status;
      continue;
    }
    const TableLocation& src = sources[i].table;
    if (!sources[i].unavailable.ok()) {
      lag.status = sources[i].unavailable;
      continue;
    }
    auto source_head = TableHead(*src.storage, TablePrefix(src));
    if (!source_head.ok() || *source_head < 0) {
      lag.status = source_head.ok() ? Status::NotFound("no Delta table at " + DescribeTable(src))
                                    : source_head.status().WithContext("region " + lag.region);
      continue;
    }
    lag.source_version = *source_head;
    if (!recorded[i].empty() && lag.consolidated_version <= lag.source_version) {
      auto now_fp = SourceFingerprint(src, lag.consolidated_version);
      if (now_fp.ok() && *now_fp != recorded[i]) {
        lag.replaced = true;
        lag.status = Status::Corruption(fmt::format(
            "region {}: the source was replaced or recreated: its commit {} is not the one "
            "consolidated; consolidate it into a new global table, or put the original back",
            lag.region, lag.consolidated_version));
        continue;
      }
    }
    lag.versions = std::max<int64_t>(0, lag.source_version - lag.consolidated_version);
    if (lag.versions == 0) continue;
    delta::DeltaLog log(*src.storage, TablePrefix(src));
    auto age = CommitAge(log, lag.consolidated_version + 1, now);
    if (age.ok()) {
      lag.seconds = *age;
    } else if (!age.status().IsNotFound()) {
      lag.status = age.status().WithContext("region " + lag.region);
    }
  }
  return out;
}

}  // namespace lakesync::jobs
