// delta_replay_bench: how fast the log engine replays a long JSON history.
//
// Generates N commits (default 10,000) of 10 realistic add actions each (~400 bytes per line,
// with stats) into a MemoryStorage, then times DeltaLog::Load() to the head: listing, reading,
// parsing every line and replaying to the live-file set. Prints seconds and MB/s of log
// parsed. Goal: ≤ 1 s for 10,000 × 10 on a 2-core machine.
//
// Usage: delta_replay_bench [num_commits] [adds_per_commit]

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <fmt/format.h>

#include "delta/log_names.h"
#include "delta/log_reader.h"
#include "storage/memory_storage.h"

namespace {

std::string AddLine(int64_t v, int i) {
  // Shaped like a Spark add: partitioned path, stats with min/max/nullCount, tags.
  return fmt::format(
      R"({{"add":{{"path":"date=2024-01-{:02d}/part-{:05d}-{:08x}-4c1b-4a8e-9d1c-{:012x}.c000.snappy.parquet",)"
      R"("partitionValues":{{"date":"2024-01-{:02d}"}},"size":{},"modificationTime":{},"dataChange":true,)"
      R"("stats":"{{\"numRecords\":{},\"minValues\":{{\"id\":{},\"name\":\"a\"}},\"maxValues\":{{\"id\":{},\"name\":\"z\"}},\"nullCount\":{{\"id\":0,\"name\":0}}}}",)"
      R"("tags":{{"INSERTION_TIME":"{}"}}}}}})",
      v % 28 + 1, i, static_cast<uint32_t>(v * 7919 + i), static_cast<uint64_t>(v * 10 + i),
      v % 28 + 1, 100000 + (v * 37 + i) % 5000, 1700000000000 + v, 1000 + i, v * 1000,
      v * 1000 + 999, 1700000000000000 + v);
}

std::string RemoveLine(int64_t v, int i) {
  return fmt::format(
      R"({{"remove":{{"path":"date=2024-01-{:02d}/part-{:05d}-{:08x}-4c1b-4a8e-9d1c-{:012x}.c000.snappy.parquet",)"
      R"("deletionTimestamp":{},"dataChange":true}}}})",
      v % 28 + 1, i, static_cast<uint32_t>(v * 7919 + i), static_cast<uint64_t>(v * 10 + i),
      1700000000000 + v);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace lakesync;
  const int64_t commits = argc > 1 ? std::atoll(argv[1]) : 10000;
  const int adds = argc > 2 ? std::atoi(argv[2]) : 10;

  ManualClock clock(FromUnixMillis(1700000000000));
  storage::MemoryStorage storage(clock);
  uint64_t log_bytes = 0;
  uint64_t add_line_bytes = 0;
  for (int64_t v = 0; v < commits; ++v) {
    std::string c = fmt::format(R"({{"commitInfo":{{"timestamp":{},"operation":"WRITE"}}}})",
                                1700000000000 + v * 1000) +
                    "\n";
    if (v == 0) {
      c +=
          R"({"protocol":{"minReaderVersion":1,"minWriterVersion":2}})"
          "\n"
          R"({"metaData":{"id":"bench","format":{"provider":"parquet","options":{}},"schemaString":"{\"type\":\"struct\",\"fields\":[{\"name\":\"id\",\"type\":\"long\",\"nullable\":true,\"metadata\":{}},{\"name\":\"name\",\"type\":\"string\",\"nullable\":true,\"metadata\":{}},{\"name\":\"date\",\"type\":\"string\",\"nullable\":true,\"metadata\":{}}]}","partitionColumns":["date"],"configuration":{}}})"
          "\n";
    }
    // Every 10th commit compacts: removes the previous commit's files.
    if (v % 10 == 9) {
      for (int i = 0; i < adds; ++i) c += RemoveLine(v - 1, i) + "\n";
    }
    for (int i = 0; i < adds; ++i) {
      std::string line = AddLine(v, i);
      add_line_bytes += line.size() + 1;
      c += line + "\n";
    }
    log_bytes += c.size();
    Status s = storage.WriteAtomic("t/_delta_log/" + delta::CommitFileName(v), c);
    if (!s.ok()) {
      std::fprintf(stderr, "generating: %s\n", s.ToString().c_str());
      return 1;
    }
  }
  std::printf("generated %lld commits x %d adds: %.1f MB of log, %.0f bytes per add line\n",
              static_cast<long long>(commits), adds, log_bytes / 1e6,
              static_cast<double>(add_line_bytes) / (commits * adds));

  delta::DeltaLog log(storage, "t");
  double best = 1e9;
  for (int run = 0; run < 3; ++run) {
    auto start = std::chrono::steady_clock::now();
    auto state = log.Load();
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (!state.ok()) {
      std::fprintf(stderr, "replay failed: %s\n", state.status().ToString().c_str());
      return 1;
    }
    best = std::min(best, secs);
    std::printf("run %d: replay to version %lld: %.3f s, %.1f MB/s (%lld live files, %lld rows)\n",
                run + 1, static_cast<long long>(state->snapshot.version()), secs,
                log_bytes / 1e6 / secs, static_cast<long long>(state->snapshot.num_files()),
                static_cast<long long>(state->snapshot.rows()));
  }
  std::printf("best: %.3f s, %.1f MB/s (goal: <= 1 s for 10000 x 10)\n", best,
              log_bytes / 1e6 / best);
  return 0;
}
