#include "jobs/incremental.h"

#include <algorithm>
#include <atomic>
#include <limits>
#include <map>
#include <mutex>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/failpoint.h"
#include "common/parallel.h"
#include "delta/actions.h"
#include "delta/log_names.h"
#include "delta/log_reader.h"
#include "delta/protocol.h"
#include "jobs/commit_files.h"
#include "storage/checksum.h"

namespace lakesync::jobs {

bool IncrementalOutcome::ok() const {
  return std::all_of(targets.begin(), targets.end(),
                     [](const TargetOutcome& t) { return t.status.ok(); });
}

std::string TablePrefix(const TableLocation& t) {
  std::string p = t.prefix;
  while (!p.empty() && p.back() == '/') p.pop_back();
  return p;
}

std::string DescribeTable(const TableLocation& t) {
  std::string root = t.storage->Describe();
  std::string p = TablePrefix(t);
  if (p.empty()) return root;
  if (!root.empty() && root.back() != '/') root += '/';
  return root + p;
}

namespace {

// A batch of commits whose files are copied together (in parallel) before the batch's
// commits are published in order. Bounded so a long first sync publishes as it goes and a
// failure wastes little work.
constexpr size_t kBatchMaxFiles = 512;
constexpr size_t kBatchMaxCommits = 64;

struct SourceCommit {
  std::string bytes;
  TimePoint mtime;
  CommitFiles files;
};

// What the run knows of the source: one listing of `_delta_log/` from the oldest target head
// on, and the commits any target needs, read once and shared by every target.
struct SourceView {
  const TableLocation* location = nullptr;
  int64_t head = -1;
  std::map<int64_t, delta::LogEntry> commit_entries;
  std::map<int64_t, delta::CheckpointRef> checkpoints;
  std::map<int64_t, delta::LogEntry> crcs;
  std::map<int64_t, SourceCommit> commits;
  std::optional<std::string> last_checkpoint;  // the bytes of `_last_checkpoint`, if any
  // The first commit over the configured limits (not read): no target goes past the version
  // before it, and every target that would have is failed with `refused`.
  std::optional<int64_t> refused_version;
  Status refused;

  // Listed lazily, at most once per run.
  std::mutex mu;
  std::optional<std::vector<storage::FileInfo>> sidecars;
};

enum class Mode { kIncremental, kEarliest, kLatestCheckpoint };

struct TargetPlan {
  Mode mode = Mode::kIncremental;
  int64_t from = 0;  // first commit to publish
  int64_t to = -1;   // last commit to publish (to < from: nothing to publish)
  // Latest-checkpoint first sync: the checkpoint to seed from.
  std::optional<int64_t> seed_checkpoint;
  // Where the run would end without max_versions_per_run (> to when that limit cut it): a run
  // the limit would end at a version it cannot publish (a file live there is gone from the
  // source: vacuumed after a later commit removed it) goes on towards it (TargetRun::Run).
  int64_t uncapped_to = -1;
};

// Parses "version" out of `_last_checkpoint` (a hint: anything odd reads as absent). A tiny
// scanner rather than a JSON library: jobs/ needs this one number only.
std::optional<int64_t> LastCheckpointVersion(std::string_view bytes) {
  size_t pos = bytes.find("\"version\"");
  if (pos == std::string_view::npos) return std::nullopt;
  pos += 9;
  while (pos < bytes.size() && (bytes[pos] == ' ' || bytes[pos] == ':' || bytes[pos] == '\t')) {
    ++pos;
  }
  int64_t v = 0;
  size_t digits = 0;
  while (pos < bytes.size() && bytes[pos] >= '0' && bytes[pos] <= '9' && digits < 18) {
    v = v * 10 + (bytes[pos++] - '0');
    ++digits;
  }
  if (digits == 0) return std::nullopt;
  return v;
}

// The target's head: -1 when it holds no table yet.
Result<int64_t> TargetHead(const TableLocation& target) {
  return TableHead(*target.storage, TablePrefix(target));
}

// One file to copy. `ref` points into the run's CommitFiles (or the seed list), which outlive
// the task: a commit with a million files must not hold a second copy of every path.
struct FileTask {
  const FileRef* ref = nullptr;
  int64_t version = 0;     // the first commit of the run referencing it (seed files: -1)
  bool seed = false;       // found by listing for a latest-checkpoint first sync: always live
  TimePoint listed_mtime;  // seed files: the modification time the listing gave
  Status status;
};

// Reads the source commits from..to into src.commits (defined below, with RunIncremental).
Status ReadSourceCommits(SourceView& src, int64_t from, int64_t to,
                         const IncrementalOptions& options);

// One target's run. Not thread-safe itself; it fans the copies out to worker threads.
class TargetRun {
 public:
  TargetRun(SourceView& src, const TableLocation& target, const IncrementalOptions& options,
            RunObserver& observer, TargetOutcome& out)
      : src_(src),
        source_(*src.location),
        target_(target),
        options_(options),
        observer_(observer),
        out_(out) {}

  Status Run(const TargetPlan& plan);

 private:
  Status CheckHeadMatches(int64_t head);
  // A target head that is a checkpoint without its commit: the source's commit of that version,
  // when it still has one, published under it (see CheckHeadMatches).
  Status PublishMissingHeadCommit(int64_t head);
  // How many of `versions` (a prefix) may be published, given which referenced files the
  // source lacks; sets preflight_error_ when a missing file is live at the end version.
  Result<size_t> PublishableCount(const std::vector<int64_t>& versions,
                                  const std::vector<const CommitFiles*>& files,
                                  const std::vector<FileTask>& tasks);
  Status CopyFiles(std::vector<FileTask>& tasks, size_t begin, size_t end);
  Status CopyOne(FileTask& task);
  Status PublishCommit(int64_t version, const SourceCommit& commit);
  Status PublishExtras(int64_t version);
  // `required`: the checkpoint a first sync starts from, which must end up whole on the target
  // (otherwise a part the source's log cleanup removed meanwhile is skipped: nothing lost).
  Status CopyCheckpoint(const delta::CheckpointRef& cp, bool required = false);
  // Latest-checkpoint first sync from `cp`: when a file live at it was last written at the
  // latest (its commit's modification time, else the checkpoint's); nullopt when unknown.
  std::optional<TimePoint> SeedCutoff(int64_t cp) const;
  // Latest-checkpoint first sync from `cp` up to `end`: the protocol at the start lives in the
  // (Parquet) checkpoint, which lakesync does not read, and later commits rarely repeat it. It
  // is read from the newest version checksum file (.crc) in [cp, end] when the source has
  // one; without one, a table whose commits a catalog keeps (_staged_commits) is refused.
  Status CheckSeedProtocol(int64_t cp, int64_t end);
  // Copies one file of the source's log unless the target has it with the same size (then it
  // is made durable first when `others_depend` on it: a checkpoint's parts, sidecars).
  Status CopyLogFile(const storage::FileInfo& source_file, uint64_t* copied,
                     bool others_depend = true);
  // A file found under the source table's folder: its path relative to the table, and the
  // target's key for it.
  std::string_view RelativeToSource(std::string_view source_path) const {
    const std::string& prefix = TablePrefix(source_);
    return source_path.substr(prefix.empty() ? 0 : prefix.size() + 1);
  }
  std::string TargetKeyOf(std::string_view source_path) const {
    return TableKey(TablePrefix(target_), RelativeToSource(source_path));
  }
  // The modification time of the source's commit `version` as the run's listing found it.
  std::optional<TimePoint> SourceCommitTime(int64_t version) const {
    auto it = src_.commit_entries.find(version);
    if (it == src_.commit_entries.end()) return std::nullopt;
    return it->second.info.modification_time;
  }
  Status SyncLastCheckpoint();
  // Whether the task's file is live at the run's end version (missing in the source =
  // failure). The set of live files costs memory per file, so it is built only when first
  // needed: when some file is missing from the source.
  bool Live(const FileTask& task);
  // A seed file that changed or vanished since the listing and is newer than the checkpoint
  // (counted as skipped). See the definition.
  bool InFlight(const FileTask& task);

  std::string LogKey(const TableLocation& t, std::string_view name) const {
    return delta::LogFileKey(TablePrefix(t), name);
  }

  SourceView& src_;
  const TableLocation& source_;
  const TableLocation& target_;
  const IncrementalOptions& options_;
  RunObserver& observer_;
  TargetOutcome& out_;
  int64_t plan_end_ = -1;                        // the version this run brings the target to
  std::vector<const CommitFiles*> range_files_;  // the commits this run publishes, ascending

  std::mutex live_mu_;
  std::optional<std::unordered_set<std::string>> live_;  // Guarded by live_mu_.

  std::atomic<int64_t> files_{0};
  std::atomic<int64_t> bytes_{0};
  std::atomic<int64_t> skipped_vacuumed_{0};
  std::atomic<int64_t> skipped_in_flight_{0};
  int64_t seeded_checkpoint_ = -1;  // the checkpoint a first sync published before any commit
  // Latest-checkpoint first sync: a listed file modified after this (the checkpoint's commit, or
  // the checkpoint itself) cannot be live at the checkpoint. Unset: every listed file may be.
  std::optional<TimePoint> seed_newer_than_;
  TimePoint listed_at_;  // when the seed listing was taken (the wall clock, as mtimes are)
  Status preflight_error_;
  // The first cancellation seen by a worker (CheckContinue non-OK): nothing more is published.
  std::mutex stop_mu_;
  Status stop_;  // Guarded by stop_mu_.
  std::atomic<bool> stopped_{false};
  // Copies of files first referenced after this version are pointless once it failed.
  std::atomic<int64_t> first_failed_version_{std::numeric_limits<int64_t>::max()};
};

Status TargetRun::PublishMissingHeadCommit(int64_t head) {
  auto bytes = source_.storage->Read(LogKey(source_, delta::CommitFileName(head)));
  if (!bytes.ok()) return bytes.status().IsNotFound() ? Status::OK() : bytes.status();
  const std::optional<TimePoint> mtime_there = SourceCommitTime(head);
  if (!mtime_there) return Status::OK();  // listed before it was written: the next run
  // Its files are the checkpoint's seed (live at it) or history: nothing to copy first.
  LAKESYNC_RETURN_IF_ERROR(observer_.BeforePublish(target_.name, head));
  const std::string key = LogKey(target_, delta::CommitFileName(head));
  Status put = target_.storage->PutIfAbsent(key, *bytes);
  if (!put.ok() && !put.IsAlreadyExists()) {
    return put.WithContext(fmt::format("publishing version {} under its checkpoint", head));
  }
  Status mtime = target_.storage->SetModificationTime(key, *mtime_there);
  if (!mtime.ok() && mtime.code() != StatusCode::kUnsupported) return mtime;
  if (put.ok()) {
    ++out_.commits;
    observer_.OnCommitPublished(target_.name, head);
  }
  return Status::OK();
}

Status TargetRun::CheckHeadMatches(int64_t head) {
  // Cheap divergence detection: the target's newest commit must equal the source's commit of
  // the same version, byte for byte.
  auto target_bytes = target_.storage->Read(LogKey(target_, delta::CommitFileName(head)));
  if (!target_bytes.ok()) {
    // A target seeded from a checkpoint has no commit at its head when the source had none
    // (log cleanup), or when the first sync was killed between the checkpoint and its commit:
    // that commit is published now, the run then going on after it.
    if (target_bytes.status().IsNotFound()) return PublishMissingHeadCommit(head);
    return target_bytes.status().WithContext("reading the target's head commit");
  }
  std::string source_bytes;
  std::optional<TimePoint> source_mtime;
  if (auto it = src_.commits.find(head); it != src_.commits.end()) {
    source_bytes = it->second.bytes;
    source_mtime = it->second.mtime;
  } else {
    auto read = source_.storage->Read(LogKey(source_, delta::CommitFileName(head)));
    if (!read.ok()) {
      if (read.status().IsNotFound()) {
        if (head > src_.head) {
          return Status::Corruption(fmt::format(
              "target diverged at version {}: the target is at version {} but the source's "
              "newest version is {} (was the source replaced or restored?); replicate into a "
              "fresh target or restore the source",
              src_.head + 1, head, src_.head));
        }
        // Removed by the source's log cleanup: nothing to compare with.
        return Status::OK();
      }
      return read.status().WithContext("reading the source's commit " + std::to_string(head));
    }
    source_bytes = std::move(read).value();
  }
  if (source_bytes != *target_bytes) {
    return Status::Corruption(fmt::format(
        "target diverged at version {}: {} differs from the source's commit of that version; "
        "something other than lakesync wrote to the target — inspect it, then replicate into a "
        "fresh target",
        head, LogKey(target_, delta::CommitFileName(head))));
  }
  // A run killed between publishing the head and giving it the source's modification time left
  // it with the time of the copy; timestamp time travel on the replica reads it (DELTA_NOTES
  // §3), and the next run starts after it, so it is repaired here.
  const std::string key = LogKey(target_, delta::CommitFileName(head));
  if (!source_mtime) source_mtime = SourceCommitTime(head);
  auto there = target_.storage->Stat(key);
  if (source_mtime && there.ok() && there->modification_time != *source_mtime) {
    Status mtime = target_.storage->SetModificationTime(key, *source_mtime);
    if (!mtime.ok() && mtime.code() != StatusCode::kUnsupported) {
      return mtime.WithContext(fmt::format("restoring the modification time of version {}", head));
    }
  }
  return Status::OK();
}

// The log gives data and change-data files their exact size, and deletion-vector files the
// smallest size that holds their DVs.
bool RightSize(const FileRef& ref, uint64_t size) {
  if (ref.size >= 0) return size == static_cast<uint64_t>(ref.size);
  return size >= static_cast<uint64_t>(ref.min_size);
}

// How recent a file changed or gone since the seed listing must be to count as a writer's
// file in progress (see TargetRun::InFlight).
constexpr std::chrono::hours kInFlightWindow{1};

Status SizeError(const FileTask& task, uint64_t got) {
  const FileRef& ref = *task.ref;
  std::string want = ref.size >= 0 ? fmt::format("{} bytes", ref.size)
                                   : fmt::format("at least {} bytes", ref.min_size);
  return Status::Corruption(fmt::format(
      "{} {} in the source has {} bytes but version {} of the log says {}; the source file "
      "was damaged or replaced — repair the source table before replicating",
      FileRoleName(ref.role), ref.path, got, task.version, want));
}

Status TargetRun::CopyOne(FileTask& task) {
  const FileRef& ref = *task.ref;
  const std::string from = TableKey(TablePrefix(source_), ref.path);
  const std::string to = TableKey(TablePrefix(target_), ref.path);
  auto right_size = [&](uint64_t size) { return RightSize(ref, size); };
  auto size_error = [&](uint64_t got) { return SizeError(task, got); };
  auto same_checksum = [&]() -> Result<bool> {
    LAKESYNC_ASSIGN_OR_RETURN(uint64_t a, storage::Xxh3OfFile(*source_.storage, from));
    LAKESYNC_ASSIGN_OR_RETURN(uint64_t b, storage::Xxh3OfFile(*target_.storage, to));
    return a == b;
  };

  // Resume: a file already on the target with the right size is not copied again (copies are
  // atomic, so a present file is a whole one after a process kill; after a machine crash too
  // on filesystems that write a file's data before its rename, such as ext4's default
  // data=ordered; `verify: checksum` compares the bytes).
  auto keep = [&](const storage::FileInfo& present) {
    if (!right_size(present.size)) return false;
    if (options_.verify_checksum) {
      auto same = same_checksum();
      // A source file gone meanwhile: the target's copy is the best there is.
      if (same.ok() && !*same) return false;
    }
    // Possibly copied by a run that was killed before flushing it.
    target_.storage->OweSync(to);
    observer_.OnFileCopied(target_.name, ref.path, static_cast<int64_t>(present.size));
    return true;
  };
  auto existing = target_.storage->Stat(to);
  if (existing.ok() && keep(*existing)) return Status::OK();
  if (!existing.ok() && !existing.status().IsNotFound()) {
    return existing.status().WithContext("checking " + to + " on the target");
  }

  // Not yet durable: the batch loop makes the whole batch durable with one SyncAll before it
  // publishes any commit referencing these files. Only a wrong file found above is replaced:
  // a file that appears meanwhile was put there by another writer (a `lakesync run` copies
  // before it knows whether the job is its to run), perhaps durable and published already, so
  // it is kept as a resumed one rather than replaced by a copy not yet on disk.
  auto copied = existing.ok()
                    ? target_.storage->CopyFromDeferred(*source_.storage, from, to)
                    : target_.storage->CopyFromDeferredIfAbsent(*source_.storage, from, to);
  if (!copied.ok() && copied.status().code() == StatusCode::kAlreadyExists) {
    auto appeared = target_.storage->Stat(to);
    if (appeared.ok() && keep(*appeared)) return Status::OK();
    return Status::Conflict(fmt::format(
        "{} {} (version {}) appeared on the target while it was being copied, and differs from "
        "the source's; another writer is writing this table — stop it, then rerun",
        FileRoleName(ref.role), ref.path, task.version));
  }
  if (!copied.ok()) {
    if (copied.status().IsNotFound()) {
      auto in_source = source_.storage->Stat(from);
      if (!in_source.ok() && in_source.status().IsNotFound()) {
        if (InFlight(task)) return Status::OK();
        if (task.seed) {
          // Found by listing, older than the checkpoint, gone before its copy: most likely
          // VACUUM removing an unreferenced file during a long first sync; a file live at the
          // checkpoint deleted would look the same, and lakesync cannot tell them apart without
          // reading the Parquet checkpoint, so nothing is published.
          return Status::NotFound(fmt::format(
              "{} {} (found by listing the source {}, older than checkpoint {}) disappeared "
              "from the source while being copied: VACUUM (or another cleaner) removed it, or "
              "the table lost a file live at the checkpoint. Rerun: the next run lists the "
              "table again and keeps what this one copied; nothing was published",
              FileRoleName(ref.role), ref.path, DescribeTable(source_), task.version));
        }
        if (Live(task)) {
          return Status::NotFound(fmt::format(
              "{} {} (referenced by version {}) is missing from the source {} but is live at "
              "version {}; the source table is incomplete — restore the file in the source (or "
              "repair the table) and rerun; {}",
              FileRoleName(ref.role), ref.path, task.version, DescribeTable(source_), plan_end_,
              task.version > 0 && !task.seed
                  ? fmt::format("nothing past version {} was published", task.version - 1)
                  : std::string("nothing was published")));
        }
        // Vacuumed history: time travel to that version fails on the source too.
        skipped_vacuumed_.fetch_add(1);
        return Status::OK();
      }
    }
    return copied.status().WithContext(
        fmt::format("copying {} {} (version {})", FileRoleName(ref.role), ref.path, task.version));
  }
  if (!right_size(*copied)) {
    if (InFlight(task)) {
      // A partial copy of a file still being written: not left where a commit will name it.
      Status removed = target_.storage->Delete(to);
      if (!removed.ok() && !removed.IsNotFound()) return removed;
      return Status::OK();
    }
    return size_error(*copied);
  }
  if (options_.verify_checksum) {
    LAKESYNC_ASSIGN_OR_RETURN(bool same, same_checksum());
    if (!same) {
      return Status::Corruption(fmt::format(
          "{} {}: the copy's xxh3 differs from the source's; the file changed while being "
          "copied or the target storage corrupts data — rerun, and check the target storage if "
          "it happens again",
          FileRoleName(ref.role), ref.path));
    }
  }
  files_.fetch_add(1);
  bytes_.fetch_add(static_cast<int64_t>(*copied));
  observer_.OnFileCopied(target_.name, ref.path, static_cast<int64_t>(*copied));
  return Status::OK();
}

Status TargetRun::CopyFiles(std::vector<FileTask>& tasks, size_t begin, size_t end) {
  ParallelFor(options_.copy_parallelism, end - begin, [&](size_t i) {
    FileTask& task = tasks[begin + i];
    if (stopped_.load()) {
      task.status = Status::Cancelled("stopped before copying " + task.ref->path);
      return;
    }
    if (task.version > first_failed_version_.load()) {
      task.status = Status::Cancelled("not copied: an earlier version failed");
      return;
    }
    Status go = observer_.CheckContinue();
    if (!go.ok()) {
      std::lock_guard<std::mutex> lock(stop_mu_);
      if (stop_.ok()) stop_ = go;
      stopped_.store(true);
      task.status = go;
      return;
    }
    task.status = CopyOne(task);
    if (!task.status.ok()) {
      int64_t cur = first_failed_version_.load();
      while (task.version < cur &&
             !first_failed_version_.compare_exchange_weak(cur, task.version)) {
      }
    }
  });
  std::lock_guard<std::mutex> lock(stop_mu_);
  return stop_;
}

Status TargetRun::CopyLogFile(const storage::FileInfo& source_file, uint64_t* copied,
                              bool others_depend) {
  *copied = 0;
  const std::string to = TargetKeyOf(source_file.path);
  const std::string rel(RelativeToSource(source_file.path));
  auto existing = target_.storage->Stat(to);
  if (existing.ok() && existing->size == source_file.size) {
    // Nothing is published on the strength of a .crc (an optional summary of its version):
    // not flushed again by every run. One a crash left short is copied again.
    if (!others_depend) return Status::OK();
    // Left by a run killed after the rename, perhaps before its directory was synced (a V2
    // checkpoint's sidecars are the only files in theirs): make it durable before the files
    // that depend on it are published. Rare: only after a killed run.
    target_.storage->OweSync(to);
    return target_.storage->SyncAll().WithContext("making " + rel + " durable");
  }
  auto n = target_.storage->CopyFrom(*source_.storage, source_file.path, to);
  if (!n.ok()) {
    // Removed by the source's log cleanup since it was listed: optional files, nothing lost.
    if (n.status().IsNotFound()) return Status::OK();
    return n.status().WithContext("copying " + rel);
  }
  *copied = *n;
  return Status::OK();
}

Status TargetRun::CopyCheckpoint(const delta::CheckpointRef& cp, bool required) {
  // V2 checkpoints reference sidecars, which must be in place first. Their names are unique
  // and they are immutable, so copying every sidecar not yet on the target is safe; the
  // listing is done once per run and only when a checkpoint is copied.
  std::vector<storage::FileInfo> sidecars;
  {
    std::lock_guard<std::mutex> lock(src_.mu);
    if (!src_.sidecars) {
      storage::ListOptions opts;
      opts.prefix = LogKey(source_, delta::kSidecarsDir) + "/";
      LAKESYNC_ASSIGN_OR_RETURN(auto listed, source_.storage->List(opts));
      src_.sidecars = std::move(listed);
    }
    sidecars = *src_.sidecars;
  }
  for (const auto& sidecar : sidecars) {
    uint64_t n = 0;
    LAKESYNC_RETURN_IF_ERROR(CopyLogFile(sidecar, &n));
  }
  for (const auto& part : cp.parts) {
    uint64_t n = 0;
    LAKESYNC_RETURN_IF_ERROR(CopyLogFile(part.info, &n));
    if (required && n == 0) {
      // Not copied now: it must be on the target already (from a killed run), or the source's
      // log cleanup removed it since the listing.
      auto there = target_.storage->Stat(TargetKeyOf(part.info.path));
      if (!there.ok()) {
        return Status::NotFound(fmt::format(
            "{} was removed from the source (log cleanup) while it was being copied; rerun "
            "(the first sync then starts from the source's newest checkpoint)",
            part.info.path));
      }
    }
  }
  return Status::OK();
}

Status TargetRun::PublishExtras(int64_t version) {
  // DELTA_NOTES §9: the .crc and the checkpoint of a version follow its commit.
  if (auto it = src_.crcs.find(version); it != src_.crcs.end()) {
    uint64_t n = 0;
    LAKESYNC_RETURN_IF_ERROR(CopyLogFile(it->second.info, &n, /*others_depend=*/false));
  }
  if (auto it = src_.checkpoints.find(version);
      it != src_.checkpoints.end() && version != seeded_checkpoint_) {
    LAKESYNC_RETURN_IF_ERROR_CTX(CopyCheckpoint(it->second),
                                 "copying checkpoint " + it->second.Describe());
  }
  return Status::OK();
}

Status TargetRun::PublishCommit(int64_t version, const SourceCommit& commit) {
  LAKESYNC_RETURN_IF_ERROR(observer_.CheckContinue());
  LAKESYNC_RETURN_IF_ERROR(observer_.BeforePublish(target_.name, version));
  LAKESYNC_FAILPOINT("incremental.before_commit_publish");
  const std::string key = LogKey(target_, delta::CommitFileName(version));
  Status put = target_.storage->PutIfAbsent(key, commit.bytes);
  if (put.IsAlreadyExists()) {
    LAKESYNC_ASSIGN_OR_RETURN(std::string there, target_.storage->Read(key));
    if (there != commit.bytes) {
      return Status::Corruption(fmt::format(
          "target diverged at version {}: {} already exists with different bytes than the "
          "source's commit; something other than lakesync wrote to the target — inspect it, "
          "then replicate into a fresh target",
          version, key));
    }
    // Identical: published by an earlier, interrupted run. Not counted as published now.
  } else if (!put.ok()) {
    return put.WithContext(fmt::format("publishing version {}", version));
  } else {
    ++out_.commits;
    out_.rows += commit.files.rows;
    observer_.OnCommitPublished(target_.name, version);
  }
  out_.end_version = version;
  LAKESYNC_FAILPOINT("incremental.after_commit_publish");
  // Copying resets modification times; keep the source's so timestamp time travel on a
  // non-ICT replica matches the source (DELTA_NOTES §3). Also repairs a run killed between
  // publish and this call.
  Status mtime = target_.storage->SetModificationTime(key, commit.mtime);
  if (!mtime.ok() && mtime.code() != StatusCode::kUnsupported) {
    return mtime.WithContext(fmt::format("keeping the modification time of version {}", version));
  }
  return PublishExtras(version);
}

Status TargetRun::SyncLastCheckpoint() {
  // `_last_checkpoint` last, and only when the checkpoint it names is on the target.
  if (!src_.last_checkpoint) return Status::OK();
  auto version = LastCheckpointVersion(*src_.last_checkpoint);
  if (!version || *version > out_.end_version) return Status::OK();
  const std::string key = LogKey(target_, delta::kLastCheckpointName);
  auto there = target_.storage->Read(key);
  if (there.ok() && *there == *src_.last_checkpoint) return Status::OK();
  if (!there.ok() && !there.status().IsNotFound()) return there.status();
  // Never back: a run that read the source earlier than another (a `lakesync run` beside a
  // daemon's) must not point readers at an older checkpoint than the target's hint names.
  if (there.ok()) {
    auto current = LastCheckpointVersion(*there);
    if (current && *current >= *version) return Status::OK();
  }
  delta::DeltaLog log(*target_.storage, TablePrefix(target_));
  LAKESYNC_ASSIGN_OR_RETURN(auto listing, log.ListFromVersion(*version));
  bool present = std::any_of(listing.checkpoints.begin(), listing.checkpoints.end(),
                             [&](const delta::CheckpointRef& c) { return c.version == *version; });
  if (!present) return Status::OK();
  return target_.storage->WriteAtomic(key, *src_.last_checkpoint);
}

Status TargetRun::Run(const TargetPlan& plan) {
  const int64_t head = out_.start_version;
  plan_end_ = plan.to;
  out_.end_version = head;
  if (head >= 0) LAKESYNC_RETURN_IF_ERROR(CheckHeadMatches(head));

  // The commits to publish, in order; every one must be in the source's log. Built again when
  // the range grows (see the pre-flight below).
  std::vector<int64_t> versions;
  std::vector<const CommitFiles*>& files = range_files_;
  std::vector<FileTask> tasks;
  std::vector<size_t> first_task_of;
  std::unordered_set<std::string_view> seen;  // views of paths in src_.commits
  int64_t planned_bytes = 0;
  int64_t to = plan.to;
  size_t publish_count = 0;
  for (;;) {
    versions.clear();
    files.clear();
    tasks.clear();
    seen.clear();
    planned_bytes = 0;
    for (int64_t v = plan.from; v <= to; ++v) {
      auto it = src_.commits.find(v);
      if (it == src_.commits.end()) {
        if (head >= 0) {
          return Status::NotFound(fmt::format(
              "commit {} is no longer in the source's log (removed by log cleanup): the target, "
              "at version {}, fell behind the source's log retention and cannot be advanced by "
              "replaying commits; replicate into a fresh target with start: latest_checkpoint, "
              "or raise delta.logRetentionDuration on the source",
              v, head));
        }
        return Status::NotFound(fmt::format(
            "commit {} is missing from the source's log, so the table cannot be replicated from "
            "version {}; use start: latest_checkpoint to start from the newest checkpoint",
            v, plan.from));
      }
      versions.push_back(v);
      files.push_back(&it->second.files);
    }

    // Files: one task per distinct file, attributed to the first commit that references it.
    first_task_of.assign(versions.size() + 1, 0);
    for (size_t i = 0; i < versions.size(); ++i) {
      first_task_of[i] = tasks.size();
      for (const auto& ref : files[i]->files) {
        if (ref.absolute) continue;  // allowed by the options; never copied
        if (!seen.insert(ref.path).second) continue;
        FileTask task;
        task.ref = &ref;
        task.version = versions[i];
        planned_bytes += std::max<int64_t>(ref.size, 0);
        tasks.push_back(std::move(task));
      }
    }
    first_task_of[versions.size()] = tasks.size();

    // Pre-flight (R2, R7): the run may only end at a version whose live files all exist in the
    // source, and commits cannot be unpublished. So find the files missing from the source
    // before publishing anything: a missing file live at the end version fails the target, and
    // publication stops at the newest earlier version at which no missing file is live
    // (history-only files that were vacuumed are fine once a later commit removed them).
    plan_end_ = to;
    live_.reset();
    preflight_error_ = Status::OK();
    LAKESYNC_ASSIGN_OR_RETURN(publish_count, PublishableCount(versions, files, tasks));
    // max_versions_per_run cut the range at a version where a file the source no longer holds
    // is live (vacuumed after a later commit removed it): every later run would stop at the
    // same place. Go on, by the same number of versions at a time, until a version at or past
    // the cut can be published, or to the end the run would have had without the limit.
    const int64_t reached = publish_count == 0 ? out_.start_version : versions[publish_count - 1];
    int64_t limit = plan.uncapped_to;
    if (src_.refused_version) limit = std::min(limit, *src_.refused_version - 1);
    if (preflight_error_.ok() || !preflight_error_.IsNotFound() || reached >= plan.to ||
        to >= limit) {
      break;
    }
    const int64_t next = std::min(limit, to + std::max<int64_t>(1, plan.to - plan.from + 1));
    LAKESYNC_RETURN_IF_ERROR(ReadSourceCommits(src_, to + 1, next, options_));
    if (src_.refused_version) limit = std::min(limit, *src_.refused_version - 1);
    spdlog::info(
        "target {}: max_versions_per_run ends this run at version {}, where a file the source no "
        "longer holds is live; going on to version {}",
        target_.name, to, std::min(next, limit));
    to = std::min(next, limit);
  }
  // Past the limit's cut, a version the next run cannot reach is left to that run.
  if (to > plan.to && !preflight_error_.ok() && publish_count > 0 &&
      versions[publish_count - 1] >= plan.to) {
    preflight_error_ = Status::OK();
    plan_end_ = versions[publish_count - 1];
  }

  // Latest-checkpoint first sync: the files live at the checkpoint are not known without
  // reading it (Parquet); every data file found by listing the source is copied before the
  // checkpoint is published — also those a copied commit references, since a file live at the
  // checkpoint may be named again by a later commit (a deletion-vector update re-adds its
  // path) whose batch comes after the checkpoint is published. That commit's copy then finds
  // the file in place. Files no copied commit references are counted as unattributed.
  std::vector<FileTask> seed;
  std::vector<FileRef> seed_refs;  // what the seed tasks point to; not resized once they do
  std::vector<TimePoint> seed_mtimes;
  int64_t unattributed = 0;
  if (plan.seed_checkpoint) {
    LAKESYNC_RETURN_IF_ERROR(CheckSeedProtocol(*plan.seed_checkpoint, to));
    seed_newer_than_ = SeedCutoff(*plan.seed_checkpoint);
    listed_at_ = std::chrono::system_clock::now();
    storage::ListOptions opts;
    opts.prefix = TablePrefix(source_).empty() ? "" : TablePrefix(source_) + "/";
    opts.recursive = true;
    LAKESYNC_ASSIGN_OR_RETURN(auto listed, source_.storage->List(opts));
    const std::string log_dir = delta::LogDirKey(TablePrefix(source_));
    for (auto& info : listed) {
      if (info.path.compare(0, log_dir.size(), log_dir) == 0) continue;
      std::string rel = info.path.substr(opts.prefix.size());
      if (!MayHoldTableFiles(rel)) continue;
      if (seen.count(rel) == 0) {
        planned_bytes += static_cast<int64_t>(info.size);
        ++unattributed;
      }
      seed_refs.push_back(
          FileRef{std::move(rel), FileRole::kData, false, static_cast<int64_t>(info.size), 0});
      seed_mtimes.push_back(info.modification_time);
    }
    for (size_t k = 0; k < seed_refs.size(); ++k) {
      FileTask task;
      task.ref = &seed_refs[k];
      task.version = *plan.seed_checkpoint;
      task.seed = true;
      task.listed_mtime = seed_mtimes[k];
      seed.push_back(std::move(task));
    }
    out_.unattributed = unattributed;
  }

  const Status preflight = preflight_error_;

  observer_.OnTargetPlanned(target_.name, head, std::max(head, to),
                            static_cast<int64_t>(tasks.size() + seed.size()), planned_bytes);

  auto finish = [&](Status s) {
    out_.files = files_.load();
    out_.bytes = bytes_.load();
    out_.skipped_vacuumed = skipped_vacuumed_.load();
    out_.skipped_in_flight = skipped_in_flight_.load();
    return s;
  };

  if (plan.seed_checkpoint) {
    LAKESYNC_RETURN_IF_ERROR(finish(CopyFiles(seed, 0, seed.size())));
    for (auto& task : seed) {
      if (!task.status.ok()) return finish(task.status);
    }
    LAKESYNC_RETURN_IF_ERROR(finish(target_.storage->SyncAll().WithContext(
        "making the copied files durable before publishing the checkpoint")));
    // The checkpoint is published as soon as its files are in place, before any commit: a
    // target holding the checkpoint's commit without the checkpoint (and without the commits
    // before it) is a table no reader can load, for as long as a run killed there leaves it.
    // When the checkpoint's own commit is in the range, the pre-flight decides for both: a
    // version the pre-flight stops before (a file it adds is missing or damaged) gets neither,
    // or the target would start from a checkpoint naming a file it lacks.
    const bool cp_commit_held_back =
        !versions.empty() && versions.front() == *plan.seed_checkpoint && publish_count == 0;
    auto it = src_.checkpoints.find(*plan.seed_checkpoint);
    if (it != src_.checkpoints.end() && !cp_commit_held_back) {
      LAKESYNC_RETURN_IF_ERROR(finish(observer_.BeforePublish(target_.name, it->first)));
      LAKESYNC_RETURN_IF_ERROR(finish(
          CopyCheckpoint(it->second, /*required=*/true)
              .WithContext("publishing checkpoint " + it->second.Describe() + " to start from")));
      seeded_checkpoint_ = it->first;
      if (plan.from > *plan.seed_checkpoint) out_.end_version = *plan.seed_checkpoint;
    }
  } else if (head >= 0) {
    // A .crc or checkpoint the source wrote after the target reached its head.
    LAKESYNC_RETURN_IF_ERROR(finish(PublishExtras(head)));
  }

  // Batches: copy the batch's files in parallel, then publish its commits in order, stopping
  // at the first commit whose files are not all in place.
  size_t i = 0;
  while (i < publish_count) {
    size_t j = i;
    while (j < publish_count && j - i < kBatchMaxCommits &&
           first_task_of[j + 1] - first_task_of[i] <= kBatchMaxFiles) {
      ++j;
    }
    if (j == i) j = i + 1;  // one commit with more files than a batch holds
    LAKESYNC_RETURN_IF_ERROR(finish(CopyFiles(tasks, first_task_of[i], first_task_of[j])));
    // The batch's copies were not made durable one by one (CopyOne): every file a commit
    // references must be durable before the commit is, so one flush for the whole batch.
    LAKESYNC_RETURN_IF_ERROR(finish(target_.storage->SyncAll().WithContext(
        "making the copied files durable before publishing their commits")));
    for (size_t k = i; k < j; ++k) {
      for (size_t t = first_task_of[k]; t < first_task_of[k + 1]; ++t) {
        if (!tasks[t].status.ok()) return finish(tasks[t].status);
      }
      LAKESYNC_RETURN_IF_ERROR(finish(PublishCommit(versions[k], src_.commits.at(versions[k]))));
    }
    i = j;
  }
  LAKESYNC_RETURN_IF_ERROR(finish(SyncLastCheckpoint()));
  return finish(preflight);
}

Status TargetRun::CheckSeedProtocol(int64_t cp, int64_t end) {
  auto it = src_.crcs.upper_bound(end);
  if (it != src_.crcs.begin() && (--it)->first >= cp) {
    LAKESYNC_ASSIGN_OR_RETURN(std::string bytes, source_.storage->Read(it->second.info.path));
    LAKESYNC_ASSIGN_OR_RETURN(std::optional<delta::Protocol> protocol,
                              delta::ProtocolOfChecksum(it->first, bytes));
    if (protocol) {
      return delta::CheckReadable(*protocol).WithContext(fmt::format(
          "source {} version {} cannot be replicated", DescribeTable(source_), it->first));
    }
  }
  storage::ListOptions staged;
  staged.prefix = LogKey(source_, delta::kStagedCommitsDir) + "/";
  auto listed = source_.storage->List(staged);
  if (!listed.ok() && !listed.status().IsNotFound()) return listed.status();
  if (listed.ok() && !listed->empty()) {
    return Status::Unsupported(fmt::format(
        "source {} has {}: a catalog keeps its newest commits (catalogManaged or coordinated "
        "commits), so its storage alone is not the table and a replica of it would silently "
        "lag; lakesync cannot replicate it — replicate a copy the catalog writes out instead",
        DescribeTable(source_), staged.prefix));
  }
  return Status::OK();
}

std::optional<TimePoint> TargetRun::SeedCutoff(int64_t cp) const {
  if (auto c = src_.commits.find(cp); c != src_.commits.end()) return c->second.mtime;
  auto it = src_.checkpoints.find(cp);
  if (it == src_.checkpoints.end() || it->second.parts.empty()) return std::nullopt;
  TimePoint t = TimePoint::max();
  for (const auto& part : it->second.parts) t = std::min(t, part.info.modification_time);
  return t;
}

bool TargetRun::InFlight(const FileTask& task) {
  // A file found by listing that changed or went away between the listing and its copy is not
  // one of the immutable files a commit names; when it is also newer than the checkpoint, it is
  // not live there either: a writer's file in progress (or an aborted task's), which its own
  // commit, if it comes, names with its final size. An older one is reported as before.
  if (!task.seed || !seed_newer_than_ || task.listed_mtime <= *seed_newer_than_) return false;
  // And recent: a file being written carries the time of its last write. A source whose data
  // files are younger than its commits for another reason (a replica, whose copies carry the
  // time of the copy while its commits keep the original's; a table copied without -p) has
  // old files that are newer than the checkpoint too; those are reported as before.
  if (task.listed_mtime < listed_at_ - kInFlightWindow) return false;
  skipped_in_flight_.fetch_add(1);
  return true;
}

bool TargetRun::Live(const FileTask& task) {
  if (task.seed) return true;
  std::lock_guard<std::mutex> lock(live_mu_);
  if (!live_) live_ = LiveAtEnd(range_files_);
  return live_->count(task.ref->path) > 0;
}

Result<size_t> TargetRun::PublishableCount(const std::vector<int64_t>& versions,
                                           const std::vector<const CommitFiles*>& files,
                                           const std::vector<FileTask>& tasks) {
  // Files the source lacks, and the first file that makes a version unreachable: one missing
  // but live at the end version, or one whose size disagrees with the log (corruption).
  std::unordered_set<std::string> missing;
  const FileTask* bad = nullptr;
  Status bad_status;
  for (const auto& task : tasks) {
    if (task.ref->absolute) continue;
    auto st = source_.storage->Stat(TableKey(TablePrefix(source_), task.ref->path));
    if (st.ok()) {
      if (!RightSize(*task.ref, st->size) && bad == nullptr) {
        bad = &task;
        bad_status = SizeError(task, st->size);
      }
      continue;
    }
    if (!st.status().IsNotFound()) {
      return st.status().WithContext("checking " + task.ref->path + " in the source");
    }
    missing.insert(task.ref->path);
    if (Live(task) && bad == nullptr) {
      bad = &task;
      bad_status = Status::NotFound(fmt::format(
          "{} {} (referenced by version {}) is missing from the source {} but is live at "
          "version {}; the source table is incomplete — restore the file in the source (or "
          "repair the table) and rerun",
          FileRoleName(task.ref->role), task.ref->path, task.version, DescribeTable(source_),
          plan_end_));
    }
  }
  if (missing.empty() && bad == nullptr) return versions.size();

  // Walk the commits, counting live references to missing files; a version is a valid end
  // when none is live.
  std::unordered_map<std::string, std::pair<std::string, std::string>> live_keys;
  std::unordered_map<std::string, int> refs;
  int live_missing = 0;
  auto track = [&](const std::string& path, int delta) {
    if (path.empty() || missing.count(path) == 0) return;
    int& n = refs[path];
    if (n == 0 && delta > 0) ++live_missing;
    n += delta;
    if (n == 0 && delta < 0) --live_missing;
  };
  size_t count = 0;
  for (size_t k = 0; k < versions.size(); ++k) {
    if (bad != nullptr && versions[k] >= bad->version) break;
    for (const auto& a : files[k]->actions) {
      auto it = live_keys.find(a.key);
      if (it != live_keys.end()) {
        track(it->second.first, -1);
        track(it->second.second, -1);
        live_keys.erase(it);
      }
      if (a.add) {
        live_keys.emplace(a.key, std::make_pair(a.data_path, a.dv_path));
        track(a.data_path, +1);
        track(a.dv_path, +1);
      }
    }
    if (live_missing == 0) count = k + 1;
  }
  if (bad != nullptr) {
    const int64_t reached = count == 0 ? out_.start_version : versions[count - 1];
    preflight_error_ = Status(
        bad_status.code(),
        reached < 0 ? fmt::format("{}; nothing was published", bad_status.message())
                    : fmt::format("{}; nothing past version {} was published (the newest version "
                                  "whose live files all exist in the source)",
                                  bad_status.message(), reached));
  }
  return count;
}

// Chooses each target's range from the source listing.
Result<TargetPlan> PlanTarget(const SourceView& src, int64_t head, int64_t end_version,
                              const IncrementalOptions& options) {
  TargetPlan plan;
  if (head >= 0) {
    plan.mode = Mode::kIncremental;
    plan.from = head + 1;
  } else {
    bool complete_from_zero = !src.commit_entries.empty() && src.commit_entries.begin()->first == 0;
    if (complete_from_zero) {
      int64_t expect = 0;
      for (const auto& [v, e] : src.commit_entries) {
        if (v > end_version) break;
        if (v != expect) {
          complete_from_zero = false;
          break;
        }
        ++expect;
      }
    }
    StartMode start = options.start;
    if (start == StartMode::kAuto) {
      start = complete_from_zero ? StartMode::kEarliest : StartMode::kLatestCheckpoint;
    }
    if (start == StartMode::kEarliest) {
      plan.mode = Mode::kEarliest;
      plan.from = 0;
    } else {
      const delta::CheckpointRef* newest = nullptr;
      for (const auto& [v, cp] : src.checkpoints) {
        if (v <= end_version) newest = &cp;
      }
      if (newest == nullptr) {
        return Status::NotFound(fmt::format(
            "the source has no checkpoint at or before version {} to start from, and its log "
            "does not hold every commit from version 0; the table cannot be replicated",
            end_version));
      }
      plan.mode = Mode::kLatestCheckpoint;
      plan.seed_checkpoint = newest->version;
      plan.from =
          src.commit_entries.count(newest->version) > 0 ? newest->version : newest->version + 1;
    }
  }
  plan.to = plan.uncapped_to = end_version;
  if (options.max_versions_per_run && *options.max_versions_per_run >= 0) {
    plan.to = std::min(plan.to, plan.from + *options.max_versions_per_run - 1);
  }
  return plan;
}

// Appends `chunk` (the files of later actions of the same commit) to `into`.
void AppendChunk(CommitFiles& into, CommitFiles&& chunk) {
  into.rows += chunk.rows;
  into.adds += chunk.adds;
  for (auto& f : chunk.files) into.files.push_back(std::move(f));
  for (auto& a : chunk.actions) into.actions.push_back(std::move(a));
}

// Chunks each hold distinct paths; across chunks a path (a deletion-vector file shared by many
// adds) may repeat. Merges repeats into the first occurrence, as ExtractCommitFiles does within
// one chunk, keeping log order. Sorting indices costs 4 bytes per file, a hash map ~100.
void MergeRepeatedPaths(std::vector<FileRef>& files) {
  std::vector<uint32_t> order(files.size());
  for (uint32_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](uint32_t a, uint32_t b) { return files[a].path < files[b].path; });
  std::vector<bool> drop(files.size(), false);
  for (size_t i = 1; i < order.size(); ++i) {
    FileRef& first = files[order[i - 1]];
    FileRef& again = files[order[i]];
    if (first.path != again.path) continue;
    first.min_size = std::max(first.min_size, again.min_size);
    if (first.size < 0) first.size = again.size;
    drop[order[i]] = true;
    order[i] = order[i - 1];  // later repeats merge into the same first occurrence
  }
  size_t out = 0;
  for (size_t i = 0; i < files.size(); ++i) {
    if (drop[i]) continue;
    if (out != i) files[out] = std::move(files[i]);  // never self-move: it empties strings
    ++out;
  }
  files.resize(out);
}

// Reduces one source commit to what the engine keeps of it, without ever holding all of its
// parsed actions: they are streamed in chunks of kExtractChunk, each reduced by
// ExtractCommitFiles. Refuses a protocol lakesync cannot read. `table` prefixes parse errors.
constexpr size_t kExtractChunk = 4096;
Result<CommitFiles> StreamCommitFiles(const TableLocation& source, const std::string& table,
                                      int64_t version, std::string_view bytes) {
  CommitFiles out;
  out.version = version;
  const auto actions = static_cast<size_t>(delta::CountActions(bytes));
  out.actions.reserve(actions);
  size_t chunks = 0;
  delta::Commit chunk;
  chunk.version = version;
  auto flush = [&]() -> Status {
    LAKESYNC_ASSIGN_OR_RETURN(CommitFiles files, ExtractCommitFiles(chunk));
    AppendChunk(out, std::move(files));
    chunk.actions.clear();
    ++chunks;
    return Status::OK();
  };
  Status refused;
  Status st = delta::ForEachAction(version, bytes, [&](delta::Action&& action) -> Status {
    if (const auto* protocol = std::get_if<delta::Protocol>(&action)) {
      refused = delta::CheckReadable(*protocol);
      if (!refused.ok()) {
        refused = refused.WithContext(fmt::format("source {} version {} cannot be replicated",
                                                  DescribeTable(source), version));
        return refused;
      }
    }
    chunk.actions.push_back(std::move(action));
    if (chunk.actions.size() >= kExtractChunk) return flush();
    return Status::OK();
  });
  if (!refused.ok()) return refused;
  if (st.ok() && (!chunk.actions.empty() || chunks == 0)) st = flush();
  LAKESYNC_RETURN_IF_ERROR_CTX(st, table);
  if (chunks > 1) MergeRepeatedPaths(out.files);
  return out;
}

// Reads and checks every source commit in [from, to] that the listing holds. A commit over
// the configured limits is not parsed (nor even read when the listing shows its size is over):
// reading stops there and src.refused_version / src.refused say why.
Status ReadSourceCommits(SourceView& src, int64_t from, int64_t to,
                         const IncrementalOptions& options) {
  const TableLocation& source = *src.location;
  const std::string table = "source " + DescribeTable(source);
  auto refuse = [&](int64_t v, Status why) {
    src.refused_version = v;
    src.refused = std::move(why);
    return Status::OK();
  };
  for (auto it = src.commit_entries.lower_bound(from);
       it != src.commit_entries.end() && it->first <= to; ++it) {
    const int64_t v = it->first;
    const auto& limits = options.commit_limits;
    Status fits =
        delta::CheckCommitBytes(table, v, static_cast<int64_t>(it->second.info.size), limits);
    if (!fits.ok()) return refuse(v, std::move(fits));
    LAKESYNC_ASSIGN_OR_RETURN(std::string bytes, source.storage->Read(it->second.info.path));
    fits = delta::CheckCommitBytes(table, v, static_cast<int64_t>(bytes.size()), limits);
    if (fits.ok()) fits = delta::CheckCommitActions(table, v, bytes, limits);
    if (!fits.ok()) return refuse(v, std::move(fits));
    LAKESYNC_ASSIGN_OR_RETURN(CommitFiles files, StreamCommitFiles(source, table, v, bytes));
    if (!options.allow_absolute_paths) {
      for (const auto& ref : files.files) {
        if (ref.absolute) {
          return Status::Unsupported(fmt::format(
              "source {} version {} references the {} '{}' by absolute path (a shallow clone "
              "or a 'p' deletion vector); lakesync copies only files inside the table, so the "
              "replica would depend on that location and is not made: replicate a "
              "self-contained copy of the table instead (a deep clone: CREATE TABLE ... DEEP "
              "CLONE, or a lakesync snapshot job with mode: deep)",
              DescribeTable(source), v, FileRoleName(ref.role), ref.path));
        }
      }
    }
    src.commits.emplace(
        v, SourceCommit{std::move(bytes), it->second.info.modification_time, std::move(files)});
  }
  return Status::OK();
}

}  // namespace

Result<IncrementalOutcome> RunIncremental(const TableLocation& source,
                                          const std::vector<TableLocation>& targets,
                                          const IncrementalOptions& options,
                                          RunObserver& observer) {
  if (source.storage == nullptr) return Status::InvalidArgument("the source has no storage");
  if (options.to_version && *options.to_version < 0) {
    return Status::InvalidArgument(
        fmt::format("to_version {} is negative; Delta versions start at 0", *options.to_version));
  }
  if (options.max_versions_per_run && *options.max_versions_per_run < 1) {
    return Status::InvalidArgument(
        fmt::format("max_versions_per_run {} must be at least 1", *options.max_versions_per_run));
  }
  IncrementalOutcome outcome;
  outcome.targets.resize(targets.size());

  // 1. Where each target is: its own log is the truth (R6).
  std::vector<bool> usable(targets.size(), false);
  int64_t list_from = std::numeric_limits<int64_t>::max();
  bool first_sync = false;  // some target holds no table yet
  for (size_t i = 0; i < targets.size(); ++i) {
    TargetOutcome& out = outcome.targets[i];
    out.target = targets[i].name;
    if (targets[i].storage == nullptr) {
      out.status = Status::InvalidArgument("target " + targets[i].name + " has no storage");
      continue;
    }
    auto head = TargetHead(targets[i]);
    if (!head.ok()) {
      out.status = head.status().WithContext("reading the head of target " + targets[i].name);
      continue;
    }
    out.start_version = out.end_version = *head;
    usable[i] = true;
    first_sync = first_sync || *head < 0;
    list_from = std::min(list_from, std::max<int64_t>(*head, 0));
  }
  if (list_from == std::numeric_limits<int64_t>::max()) list_from = 0;

  // 2. The source's log tail from the oldest target head on: probed by name when every target
  // already holds the table (cost O(new commits), not O(log)); a first sync needs the listing
  // (the oldest commits and every checkpoint).
  SourceView src;
  src.location = &source;
  delta::DeltaLog source_log(*source.storage, TablePrefix(source));
  LAKESYNC_ASSIGN_OR_RETURN(
      auto listing, first_sync ? source_log.ListFromVersion(list_from)
                               : source_log.ProbeFromVersion(list_from, kMaxProbedVersions));
  for (auto& e : listing.commits) src.commit_entries.emplace(e.file.version, std::move(e));
  for (auto& cp : listing.checkpoints) src.checkpoints.emplace(cp.version, std::move(cp));
  for (auto& e : listing.other) {
    if (e.file.kind == delta::LogFileKind::kChecksum) {
      src.crcs.emplace(e.file.version, std::move(e));
    } else if (e.file.kind == delta::LogFileKind::kLastCheckpoint) {
      auto bytes = source.storage->Read(e.info.path);
      if (bytes.ok()) {
        src.last_checkpoint = std::move(bytes).value();
      } else if (!bytes.status().IsNotFound()) {
        return bytes.status().WithContext("reading the source's _last_checkpoint");
      }
    }
    // Compaction files are optional and never copied (DELTA_NOTES §9.6).
  }
  src.head = std::max(src.commit_entries.empty() ? -1 : src.commit_entries.rbegin()->first,
                      src.checkpoints.empty() ? -1 : src.checkpoints.rbegin()->first);
  if (src.head < 0) {
    // Nothing at or after the oldest target head: ask for the real head (NotFound when there
    // is no table at all).
    LAKESYNC_ASSIGN_OR_RETURN(src.head, source_log.HeadVersion());
  }
  outcome.source_head = src.head;
  outcome.end_version = options.to_version ? std::min(*options.to_version, src.head) : src.head;

  // 3. Plans, then the commits any target needs, read once.
  std::vector<TargetPlan> plans(targets.size());
  int64_t read_from = std::numeric_limits<int64_t>::max();
  int64_t read_to = -1;
  for (size_t i = 0; i < targets.size(); ++i) {
    if (!usable[i]) continue;
    auto plan = PlanTarget(src, outcome.targets[i].start_version, outcome.end_version, options);
    if (!plan.ok()) {
      outcome.targets[i].status = plan.status();
      usable[i] = false;
      continue;
    }
    plans[i] = *plan;
    if (plan->from <= plan->to) {
      read_from = std::min(read_from, plan->from);
      read_to = std::max(read_to, plan->to);
    }
  }
  if (read_from <= read_to) {
    LAKESYNC_RETURN_IF_ERROR(ReadSourceCommits(src, read_from, read_to, options));
  }

  // 4. Each target advances on its own; one failing does not stop the others.
  for (size_t i = 0; i < targets.size(); ++i) {
    if (!usable[i]) continue;
    TargetOutcome& out = outcome.targets[i];
    TargetRun run(src, targets[i], options, observer, out);
    // Up to the version before a refused commit (its predecessors are fine to publish).
    const bool stops_early = src.refused_version && plans[i].to >= *src.refused_version;
    if (stops_early) plans[i].to = *src.refused_version - 1;
    out.status = run.Run(plans[i]);
    if (out.status.ok() && stops_early) {
      out.status =
          Status(src.refused.code(),
                 src.refused.message() +
                     (out.end_version >= 0
                          ? fmt::format("; nothing past version {} was published", out.end_version)
                          : std::string("; nothing was published")));
    }
    if (!out.status.ok()) {
      spdlog::warn("incremental: target {} stopped at version {}: {}", out.target, out.end_version,
                   out.status.ToString());
    }
  }
  return outcome;
}

}  // namespace lakesync::jobs
