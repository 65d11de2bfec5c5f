#pragma once

// ParallelFor: runs fn(0..n-1) on up to `threads` threads (the calling thread is one of them)
// and returns when every call has returned. Each index runs exactly once. Used for copying
// the files of a batch of commits and for syncing them (LocalStorage::SyncAll); the threads live
// for one call only, so there is no pool to shut down and nothing outlives the job.
//
// Thread-safety: `fn` is called concurrently from several threads.

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <thread>
#include <vector>

namespace lakesync {

template <typename Fn>
void ParallelFor(int threads, size_t n, const Fn& fn) {
  if (n == 0) return;
  const size_t workers = std::clamp<size_t>(threads < 1 ? 1 : static_cast<size_t>(threads), 1, n);
  std::atomic<size_t> next{0};
  auto loop = [&] {
    for (size_t i = next.fetch_add(1); i < n; i = next.fetch_add(1)) fn(i);
  };
  std::vector<std::thread> pool;
  pool.reserve(workers - 1);
  for (size_t i = 1; i < workers; ++i) pool.emplace_back(loop);
  loop();
  for (auto& t : pool) t.join();
}

}  // namespace lakesync
