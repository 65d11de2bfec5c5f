// copy_probe: compares ways of copying a directory tree durably (every file on disk before
// the command returns), to choose LocalStorage's local-to-local copy strategy. Standalone
// POSIX code (no lakesync library), so a strategy can be tried without touching the engine.
//
//   copy_probe --strategy NAME [--threads N] [--chunk BYTES] SRC DST
//
// Copies every regular file below SRC to the same relative path below DST (DST must not
// exist), each through a temp file renamed into place, as LocalStorage does, then makes the
// whole copy durable. Prints one line: "strategy=NAME threads=N chunk=C files=F bytes=B
// ms=T mbps=M". Strategies:
//   fsync        copy_file_range, fsync each file and its directory before the rename
//                returns (lakesync before the SyncAll batching)
//   syncfs       copy_file_range, no per-file sync; at the end one syncfs plus an fsync of
//                every directory (LocalStorage::CopyFromDeferred + SyncAll)
//   sfr          copy_file_range in chunks of --chunk bytes, each followed by
//                sync_file_range(SYNC_FILE_RANGE_WRITE) so writeback starts while the copy
//                goes on; at the end syncfs plus the directory fsyncs
//   sfr-fdatasync  as sfr, but each file is fdatasync'd by its copying thread (no syncfs)
//   sfr-fsync-end  as sfr, but at the end every file is reopened and fsync'd (--threads in
//                parallel) instead of one syncfs: touches only this copy's files
//   rw           read/write through a --chunk buffer; syncfs at the end
//   rw-sfr       as rw, with sync_file_range after each chunk
//   none         copy_file_range, nothing synced (what `cp -a` leaves behind)
// --threads defaults to 8 (lakesync's runner.copy_parallelism default), --chunk to 8 MiB.
//
// Findings (2026-11-23, 2 vCPUs, ext4 on virtio, 200 files of 10 MiB, source in the page
// cache, medians of 5-7 alternating repetitions on a loaded machine): syncfs 3.1-3.3 s,
// fsync 2.9 s, sfr with --chunk 32 MiB (one sync_file_range per 10 MiB file) 1.8-2.1 s with 8
// threads and 2.5-2.8 s with 2; `cp -a` 1.3-3.8 s, `cp -a && sync` 3.0-4.5 s. So LocalStorage
// starts writeback every 32 MiB and at each file's end (local_storage.cc, StartWriteback).
// sfr-fsync-end (the same, but fsync of each file in parallel instead of syncfs) 1.8 s and
// the steadiest, since syncfs also waits for other processes' dirty data. 2026-12-05 (quiet
// machine, 5 alternating repetitions, medians): 200 x 10 MiB sfr 1882 ms, sfr-fsync-end
// 1847 ms, sfr-fdatasync 2073 ms; 500 x 1 KiB 186 / 193 / 202 ms; 10 x 1 KiB 2.1 / 2.2 /
// 2.5 ms. So SyncAll became sfr-fsync-end (the engine names the resumed files it keeps with
// Storage::OweSync), which costs what syncfs did and no longer waits for other writers.
// read/write (rw, rw-sfr) ran at 100-300 MB/s on that machine, buffered `dd` too: only
// copy_file_range is fast there, and the copy uses it whenever the kernel accepts it.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace {

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "copy_probe: %s: %s\n", what.c_str(), std::strerror(errno));
  std::exit(1);
}

void Walk(const std::string& root, const std::string& rel, std::vector<std::string>* files,
          std::vector<std::string>* dirs) {
  std::string full = rel.empty() ? root : root + "/" + rel;
  DIR* d = ::opendir(full.c_str());
  if (d == nullptr) Die("opendir " + full);
  while (struct dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    std::string r = rel.empty() ? name : rel + "/" + name;
    struct stat st;
    if (::lstat((root + "/" + r).c_str(), &st) != 0) Die("lstat " + r);
    if (S_ISDIR(st.st_mode)) {
      dirs->push_back(r);
      Walk(root, r, files, dirs);
    } else if (S_ISREG(st.st_mode)) {
      files->push_back(r);
    }
  }
  ::closedir(d);
}

// Runs fn(0..n-1) on `threads` threads.
template <typename Fn>
void ParallelEach(int threads, size_t n, const Fn& fn) {
  std::atomic<size_t> next{0};
  auto loop = [&] {
    for (size_t i = next.fetch_add(1); i < n; i = next.fetch_add(1)) fn(i);
  };
  std::vector<std::thread> pool;
  for (int i = 1; i < threads; ++i) pool.emplace_back(loop);
  loop();
  for (auto& t : pool) t.join();
}

void FsyncPath(const std::string& path, int extra_flags) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | extra_flags);
  if (fd < 0 || ::fsync(fd) != 0) Die("fsync " + path);
  ::close(fd);
}

struct Options {
  std::string strategy;
  int threads = 8;
  size_t chunk = size_t{8} << 20;
};

void CopyOne(const Options& o, const std::string& src_root, const std::string& dst_root,
             const std::string& rel, std::atomic<uint64_t>* bytes) {
  std::string src_path = src_root + "/" + rel;
  std::string dst_path = dst_root + "/" + rel;
  std::string tmp_path = dst_path + ".probe.tmp";
  int src = ::open(src_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (src < 0) Die("open " + src_path);
  struct stat st;
  if (::fstat(src, &st) != 0) Die("fstat " + src_path);
  int dst = ::open(tmp_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (dst < 0) Die("open " + tmp_path);
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  const bool sfr = o.strategy == "sfr" || o.strategy == "sfr-fdatasync" ||
                   o.strategy == "sfr-fsync-end" || o.strategy == "rw-sfr";
  uint64_t done = 0;
  if (o.strategy == "rw" || o.strategy == "rw-sfr") {
    std::vector<char> buf(o.chunk);
    while (done < size) {
      ssize_t n = ::read(src, buf.data(), buf.size());
      if (n < 0) Die("read " + src_path);
      if (n == 0) break;
      for (ssize_t w = 0; w < n;) {
        ssize_t k = ::write(dst, buf.data() + w, static_cast<size_t>(n - w));
        if (k < 0) Die("write " + tmp_path);
        w += k;
      }
      if (sfr) ::sync_file_range(dst, static_cast<off_t>(done), n, SYNC_FILE_RANGE_WRITE);
      done += static_cast<uint64_t>(n);
    }
  } else {
    const size_t step = sfr ? o.chunk : size_t{1} << 30;
    while (done < size) {
      size_t want = static_cast<size_t>(std::min<uint64_t>(size - done, step));
      ssize_t n = ::copy_file_range(src, nullptr, dst, nullptr, want, 0);
      if (n < 0) Die("copy_file_range " + src_path);
      if (n == 0) break;
      if (sfr) ::sync_file_range(dst, static_cast<off_t>(done), n, SYNC_FILE_RANGE_WRITE);
      done += static_cast<uint64_t>(n);
    }
  }
  if (o.strategy == "fsync" && ::fsync(dst) != 0) Die("fsync " + tmp_path);
  if (o.strategy == "sfr-fdatasync" && ::fdatasync(dst) != 0) Die("fdatasync " + tmp_path);
  if (::close(dst) != 0) Die("close " + tmp_path);
  ::close(src);
  if (::rename(tmp_path.c_str(), dst_path.c_str()) != 0) Die("rename " + dst_path);
  if (o.strategy == "fsync" || o.strategy == "sfr-fdatasync") {
    FsyncPath(dst_path.substr(0, dst_path.rfind('/')), O_DIRECTORY);
  }
  bytes->fetch_add(done);
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  std::vector<std::string> pos;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--strategy" && i + 1 < argc) {
      o.strategy = argv[++i];
    } else if (a == "--threads" && i + 1 < argc) {
      o.threads = std::atoi(argv[++i]);
    } else if (a == "--chunk" && i + 1 < argc) {
      o.chunk = static_cast<size_t>(std::atoll(argv[++i]));
    } else {
      pos.push_back(a);
    }
  }
  static const std::set<std::string> kStrategies = {"fsync", "syncfs", "sfr",  "sfr-fdatasync",
                                                    "rw",    "rw-sfr", "none", "sfr-fsync-end"};
  if (pos.size() != 2 || kStrategies.count(o.strategy) == 0 || o.threads < 1 || o.chunk == 0) {
    std::fprintf(
        stderr,
        "usage: copy_probe --strategy fsync|syncfs|sfr|sfr-fdatasync|sfr-fsync-end|rw|rw-sfr|none "
        "[--threads N] [--chunk BYTES] SRC DST\n");
    return 2;
  }
  const std::string src = pos[0];
  const std::string dst = pos[1];
  auto t0 = std::chrono::steady_clock::now();
  std::vector<std::string> files;
  std::vector<std::string> dirs;
  Walk(src, "", &files, &dirs);
  if (::mkdir(dst.c_str(), 0755) != 0) Die("mkdir " + dst);
  for (const auto& d : dirs) {
    if (::mkdir((dst + "/" + d).c_str(), 0755) != 0) Die("mkdir " + d);
  }
  std::atomic<uint64_t> bytes{0};
  ParallelEach(o.threads, files.size(), [&](size_t i) { CopyOne(o, src, dst, files[i], &bytes); });
  const bool syncfs_at_end =
      o.strategy == "syncfs" || o.strategy == "sfr" || o.strategy == "rw" || o.strategy == "rw-sfr";
  if (syncfs_at_end) {
    int fd = ::open(dst.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || ::syncfs(fd) != 0) Die("syncfs " + dst);
    ::close(fd);
  }
  if (o.strategy == "sfr-fsync-end") {
    ParallelEach(o.threads, files.size(), [&](size_t i) { FsyncPath(dst + "/" + files[i], 0); });
  }
  if (syncfs_at_end || o.strategy == "sfr-fsync-end") {
    FsyncPath(dst, O_DIRECTORY);
    for (const auto& d : dirs) FsyncPath(dst + "/" + d, O_DIRECTORY);
  }
  double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  std::printf("strategy=%s threads=%d chunk=%zu files=%zu bytes=%llu ms=%.1f mbps=%.0f\n",
              o.strategy.c_str(), o.threads, o.chunk, files.size(),
              static_cast<unsigned long long>(bytes.load()), ms,
              static_cast<double>(bytes.load()) / 1e6 / (ms / 1000));
  return 0;
}
