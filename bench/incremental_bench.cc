// incremental_bench: the cost of one incremental run inside a warm process — what a daemon
// would pay per run once it is up (no process start, no configuration parsing, the state
// store connection already open). lakesync has no daemon yet, so this calls the engine
// (jobs::RunIncremental) directly, in a loop, in one process.
//
// Usage:
//   incremental_bench --source DIR --target DIR [--runs N] [--warmup W]
//                     [--files-per-commit K] [--file-size BYTES] [--copy-parallelism P]
//                     [--database-url URL]
//
// The source must be a Delta table (bench/delta_gen makes one). First the target is brought
// up to date (untimed). Then, W + N times: one commit of K new files of BYTES pseudo-random
// bytes is appended to the source (data files first, then the commit, put-if-absent; untimed),
// and one RunIncremental brings the target to it (timed). With --database-url, each timed run
// is also recorded in the PostgreSQL state store over the one warm connection, as
// `lakesync run` records it (lock, start, target version, finish, unlock); the database must
// be migrated (`lakesync db migrate`).
//
// Prints one line per timed run, `run I engine_ms=E total_ms=T` (T = E plus the recording;
// T = E without --database-url), to stdout. Exit 0 success, 1 failure, 2 usage error.

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "bench/bench_args.h"
#include "common/clock.h"
#include "common/status.h"
#include "common/uri.h"
#include "db/pg_state_store.h"
#include "delta/actions.h"
#include "delta/commit_writer.h"
#include "delta/log_reader.h"
#include "jobs/incremental.h"
#include "jobs/run_observer.h"
#include "storage/local_storage.h"

namespace lakesync::bench {
namespace {

constexpr std::string_view kUsage =
    "usage: incremental_bench --source DIR --target DIR [--runs N] [--warmup W]\n"
    "                         [--files-per-commit K] [--file-size BYTES]\n"
    "                         [--copy-parallelism P] [--database-url URL]\n";

constexpr std::string_view kJob = "bench_incremental";

struct Options {
  std::string source;
  std::string target;
  int64_t runs = 20;
  int64_t warmup = 2;
  int64_t files_per_commit = 10;
  int64_t file_size = 1024;
  int64_t copy_parallelism = 8;
  std::string database_url;
};

// Returns an error text, or "" when the arguments are usable.
std::string ParseArgs(int argc, char** argv, Options& o) {
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (i + 1 >= argc) return fmt::format("{} needs a value", a);
    std::string_view v = argv[++i];
    auto number = [&](int64_t& out) -> std::string {
      auto n = ParseInt(v);
      if (!n) return fmt::format("{} needs a non-negative integer, not '{}'", a, v);
      out = *n;
      return "";
    };
    std::string err;
    if (a == "--source") {
      o.source = v;
    } else if (a == "--target") {
      o.target = v;
    } else if (a == "--runs") {
      err = number(o.runs);
    } else if (a == "--warmup") {
      err = number(o.warmup);
    } else if (a == "--files-per-commit") {
      err = number(o.files_per_commit);
    } else if (a == "--file-size") {
      err = number(o.file_size);
    } else if (a == "--copy-parallelism") {
      err = number(o.copy_parallelism);
    } else if (a == "--database-url") {
      o.database_url = v;
    } else {
      return fmt::format("unknown argument '{}'", a);
    }
    if (!err.empty()) return err;
  }
  if (o.source.empty() || o.target.empty()) return "--source DIR and --target DIR are required";
  if (o.runs < 1) return "--runs must be at least 1";
  if (o.copy_parallelism < 1 || o.copy_parallelism > 256) return "--copy-parallelism is 1..256";
  return "";
}

Result<std::unique_ptr<storage::LocalStorage>> OpenDir(const std::string& dir) {
  std::error_code ec;
  std::string abs = std::filesystem::absolute(dir, ec).lexically_normal().string();
  if (ec) return Status::InvalidArgument(fmt::format("{}: {}", dir, ec.message()));
  while (abs.size() > 1 && abs.back() == '/') abs.pop_back();
  LAKESYNC_ASSIGN_OR_RETURN(Uri root, Uri::LocalPath(abs));
  return storage::LocalStorage::Open(root);
}

// Appends commit `version`: K data files (published before the commit, as a writer would),
// then the commit with put-if-absent.
Status AppendCommit(storage::LocalStorage& source, int64_t version, const Options& o,
                    std::mt19937_64& rng) {
  const int64_t now_ms = ToUnixMillis(SystemClock::Instance().Now());
  std::vector<delta::Action> actions;
  for (int64_t i = 0; i < o.files_per_commit; ++i) {
    delta::Add a;
    a.path = fmt::format("part-{:05d}-{:03d}-bench-{:016x}.parquet", version, i, rng());
    a.decoded_path = a.path;
    std::string bytes(static_cast<size_t>(o.file_size), '\0');
    for (auto& c : bytes) c = static_cast<char>(rng() & 0xFF);
    LAKESYNC_RETURN_IF_ERROR(source.WriteAtomic(a.decoded_path, bytes));
    a.size = o.file_size;
    a.modification_time = now_ms;
    a.num_records = std::max<int64_t>(1, o.file_size / 8);
    a.stats = fmt::format(R"({{"numRecords":{}}})", *a.num_records);
    actions.push_back(std::move(a));
  }
  delta::CommitInfo ci;
  ci.timestamp = now_ms;
  ci.operation = "WRITE";
  actions.push_back(ci);
  return delta::WriteCommit(source, "", version, actions);
}

// What `lakesync run` records around one run (runner/cmd_run.cc), over a warm connection.
Status Record(db::PgStateStore& store, const jobs::IncrementalOutcome& outcome) {
  LAKESYNC_ASSIGN_OR_RETURN(bool locked, store.TryLockJob(kJob));
  if (!locked) return Status::Conflict("job bench_incremental is locked by another process");
  db::RunStart start;
  start.job = std::string(kJob);
  start.kind = "incremental";
  start.trigger = db::Trigger::kSchedule;
  start.runner_id = "incremental_bench";
  start.started_at = SystemClock::Instance().Now();
  LAKESYNC_ASSIGN_OR_RETURN(int64_t run_id, store.StartRun(start));
  db::RunFinish finish;
  finish.finished_at = SystemClock::Instance().Now();
  finish.source_version = outcome.source_head;
  for (const auto& t : outcome.targets) {
    db::TargetResult tr;
    tr.target = t.target;
    if (t.start_version >= 0) tr.start_version = t.start_version;
    tr.end_version = t.end_version;
    tr.commits = t.commits;
    tr.files = t.files;
    tr.bytes = t.bytes;
    tr.rows = t.rows;
    finish.targets.push_back(tr);
    finish.commits += t.commits;
    finish.files += t.files;
    finish.bytes += t.bytes;
    finish.rows += t.rows;
    finish.target_version = t.end_version;
    db::TargetVersion tv{std::string(kJob),   t.target,           t.end_version,
                         outcome.source_head, finish.finished_at, run_id};
    LAKESYNC_RETURN_IF_ERROR(store.SetTargetVersion(tv));
  }
  LAKESYNC_RETURN_IF_ERROR(store.FinishRun(run_id, finish));
  return store.UnlockJob(kJob);
}

Status Bench(const Options& o) {
  LAKESYNC_ASSIGN_OR_RETURN(auto source, OpenDir(o.source));
  LAKESYNC_ASSIGN_OR_RETURN(auto target, OpenDir(o.target));
  std::unique_ptr<db::PgStateStore> store;
  if (!o.database_url.empty()) {
    LAKESYNC_ASSIGN_OR_RETURN(store, db::PgStateStore::Connect(o.database_url));
    LAKESYNC_RETURN_IF_ERROR(store->SyncJobs({{std::string(kJob), "incremental"}}));
  }
  jobs::TableLocation src{"source", source.get(), ""};
  std::vector<jobs::TableLocation> dst{{"target", target.get(), ""}};
  jobs::IncrementalOptions options;
  options.copy_parallelism = static_cast<int>(o.copy_parallelism);
  jobs::RunObserver observer;  // no-op: a daemon's observer only bumps counters

  auto run_once = [&]() -> Result<jobs::IncrementalOutcome> {
    LAKESYNC_ASSIGN_OR_RETURN(auto outcome, jobs::RunIncremental(src, dst, options, observer));
    for (const auto& t : outcome.targets) {
      if (!t.status.ok()) return t.status.WithContext("target " + t.target);
    }
    return outcome;
  };

  // Bring the target up to date first; the timed runs then each replicate one new commit.
  auto start = std::chrono::steady_clock::now();
  LAKESYNC_ASSIGN_OR_RETURN(auto first, run_once());
  std::fprintf(stderr, "initial sync to version %lld: %.3f s\n",
               static_cast<long long>(first.end_version),
               std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  int64_t head = first.end_version;

  std::mt19937_64 rng(static_cast<uint64_t>(head) * 0x9E3779B97F4A7C15ULL + 17);
  for (int64_t i = 0; i < o.warmup + o.runs; ++i) {
    LAKESYNC_RETURN_IF_ERROR_CTX(AppendCommit(*source, head + 1, o, rng),
                                 "appending a commit to the source");
    auto t0 = std::chrono::steady_clock::now();
    LAKESYNC_ASSIGN_OR_RETURN(auto outcome, run_once());
    auto t1 = std::chrono::steady_clock::now();
    if (store) LAKESYNC_RETURN_IF_ERROR_CTX(Record(*store, outcome), "recording the run");
    auto t2 = std::chrono::steady_clock::now();
    if (outcome.end_version != head + 1 || outcome.targets.at(0).files != o.files_per_commit) {
      return Status::Internal(fmt::format(
          "run {} replicated to version {} with {} files; expected version {} with {} files", i,
          outcome.end_version, outcome.targets.at(0).files, head + 1, o.files_per_commit));
    }
    head = outcome.end_version;
    if (i < o.warmup) continue;
    std::printf("run %lld engine_ms=%.3f total_ms=%.3f\n", static_cast<long long>(i - o.warmup),
                std::chrono::duration<double, std::milli>(t1 - t0).count(),
                std::chrono::duration<double, std::milli>(t2 - t0).count());
  }
  return Status::OK();
}

}  // namespace
}  // namespace lakesync::bench

int main(int argc, char** argv) {
  lakesync::bench::Options options;
  std::string err = lakesync::bench::ParseArgs(argc, argv, options);
  if (!err.empty()) {
    std::fprintf(stderr, "incremental_bench: %s\n%.*s", err.c_str(),
                 static_cast<int>(lakesync::bench::kUsage.size()), lakesync::bench::kUsage.data());
    return 2;
  }
  lakesync::Status s = lakesync::bench::Bench(options);
  if (!s.ok()) {
    std::fprintf(stderr, "incremental_bench: %s\n", s.ToString().c_str());
    return 1;
  }
  return 0;
}
