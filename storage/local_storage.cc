#include "storage/local_storage.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/fs.h>  // FICLONE
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <utility>
#include <vector>

#include "common/failpoint.h"
#include "common/parallel.h"

namespace lakesync::storage {

namespace {

// Buffer of the read/write copy fallback. Copies never hold more than this in memory.
constexpr size_t kCopyBufferSize = size_t{1} << 20;
// Copies start the writeback of what they wrote every this many bytes (and at the end of the
// file), and a copy_file_range request is at most this large. See StartWriteback.
constexpr uint64_t kWritebackChunk = uint64_t{32} << 20;

// SyncAll fsyncs this many owed files and directories at a time.
constexpr int kSyncThreads = 8;

constexpr std::string_view kTempPrefix = ".lakesync-";
constexpr std::string_view kTempSuffix = ".tmp";

// Owns a file descriptor. std::unique_ptr wants a pointer and fds are ints, so this is the one
// small RAII type of the module. Close() exists because close() can report a deferred write
// error (NFS), which must fail a publish.
class ScopedFd {
 public:
  ScopedFd() = default;
  explicit ScopedFd(int fd) : fd_(fd) {}
  ScopedFd(ScopedFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  ScopedFd& operator=(ScopedFd&& other) noexcept {
    if (this != &other) {
      Reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  ScopedFd(const ScopedFd&) = delete;
  ScopedFd& operator=(const ScopedFd&) = delete;
  ~ScopedFd() { Reset(); }

  int get() const { return fd_; }
  int Release() { return std::exchange(fd_, -1); }
  // 0 or the errno of close().
  int Close() {
    int fd = std::exchange(fd_, -1);
    return fd >= 0 && ::close(fd) != 0 ? errno : 0;
  }

 private:
  void Reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  int fd_ = -1;
};

struct DirCloser {
  void operator()(DIR* d) const { ::closedir(d); }
};
using DirPtr = std::unique_ptr<DIR, DirCloser>;

std::string FullPath(const std::string& root, std::string_view key) {
  if (key.empty()) return root;
  std::string out = root;
  if (out.empty() || out.back() != '/') out += '/';
  out += key;
  return out;
}

// "a/b/c" → {"a/b", "c"}; "c" → {"", "c"}.
std::pair<std::string_view, std::string_view> SplitKey(std::string_view key) {
  size_t slash = key.rfind('/');
  if (slash == std::string_view::npos) return {std::string_view(), key};
  return {key.substr(0, slash), key.substr(slash + 1)};
}

Status SymlinkRefused(const std::string& full) {
  return Status::Unsupported("refusing to follow the symbolic link " + full +
                             ": lakesync never follows links inside a storage root, since one "
                             "could point outside the table; replace the link with the file or "
                             "directory it points to");
}

bool IsSymlinkAt(int dir_fd, const std::string& name) {
  struct stat st;
  return ::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode);
}

TimePoint ToTimePoint(const struct timespec& ts) {
  return TimePoint(std::chrono::duration_cast<TimePoint::duration>(
      std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec)));
}

struct timespec ToTimespec(TimePoint t) {
  int64_t ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  // Floor division so times before 1970 get a non-negative tv_nsec, as POSIX requires.
  int64_t sec = ns / 1'000'000'000;
  int64_t rem = ns % 1'000'000'000;
  if (rem < 0) {
    rem += 1'000'000'000;
    sec -= 1;
  }
  struct timespec ts;
  ts.tv_sec = static_cast<time_t>(sec);
  ts.tv_nsec = static_cast<long>(rem);
  return ts;
}

// mkdir -p for the root itself. The root comes from configuration and is trusted, so it may
// follow symlinks (unlike anything below it).
Status MakeRootDirs(const std::string& root) {
  for (size_t pos = root.find('/', 1);; pos = root.find('/', pos + 1)) {
    std::string part = pos == std::string::npos ? root : root.substr(0, pos);
    if (::mkdir(part.c_str(), 0755) != 0 && errno != EEXIST) {
      return Status::FromErrno(errno, "creating storage root directory " + part);
    }
    if (pos == std::string::npos) return Status::OK();
  }
}

// Opens the directory `dir_key` ("" = the root, "a/b" = below it) without following any
// symlink below the root. With `create`, missing directories are made (like mkdir -p).
Result<ScopedFd> OpenDir(const std::string& root, std::string_view dir_key, bool create) {
  ScopedFd fd(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0 && errno == ENOENT && create) {
    LAKESYNC_RETURN_IF_ERROR(MakeRootDirs(root));
    fd = ScopedFd(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  }
  if (fd.get() < 0) return Status::FromErrno(errno, "opening storage root " + root);

  size_t start = 0;
  while (start < dir_key.size()) {
    size_t slash = dir_key.find('/', start);
    if (slash == std::string_view::npos) slash = dir_key.size();
    std::string name(dir_key.substr(start, slash - start));
    constexpr int kFlags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
    int next = ::openat(fd.get(), name.c_str(), kFlags);
    if (next < 0 && errno == ENOENT && create) {
      if (::mkdirat(fd.get(), name.c_str(), 0755) != 0 && errno != EEXIST) {
        return Status::FromErrno(errno,
                                 "creating directory " + FullPath(root, dir_key.substr(0, slash)));
      }
      next = ::openat(fd.get(), name.c_str(), kFlags);
    }
    if (next < 0) {
      int err = errno;
      std::string full = FullPath(root, dir_key.substr(0, slash));
      // O_DIRECTORY|O_NOFOLLOW on a symlink fails with ENOTDIR (or ELOOP): tell the two apart
      // from a plain file in the way.
      if ((err == ENOTDIR || err == ELOOP) && IsSymlinkAt(fd.get(), name)) {
        return SymlinkRefused(full);
      }
      if (err == ENOTDIR && create) {
        // For a write this is not "not found": the key runs through an existing file.
        return Status(StatusCode::kIOError,
                      "cannot create " + full +
                          " as a directory: a file of that name exists; "
                          "choose a key that does not run through an existing file",
                      /*retryable=*/false);
      }
      return Status::FromErrno(err, "opening directory " + full);
    }
    fd = ScopedFd(next);
    start = slash + 1;
  }
  return fd;
}

struct OpenedFile {
  ScopedFd fd;
  uint64_t size = 0;
  std::string full;
};

Status NotARegularFile(const std::string& full, mode_t mode) {
  if (S_ISDIR(mode)) {
    return Status::NotFound(full + " is a directory, not a file; storage keys name files");
  }
  return Status::Unsupported(full +
                             " is not a regular file (a device, FIFO or socket); "
                             "lakesync only reads regular files");
}

// Opens a regular file for reading, refusing symlinks anywhere below the root.
Result<OpenedFile> OpenForRead(const std::string& root, std::string_view key) {
  LAKESYNC_RETURN_IF_ERROR(ValidateKey(key));
  auto [dir_key, leaf] = SplitKey(key);
  OpenedFile file;
  file.full = FullPath(root, key);
  LAKESYNC_ASSIGN_OR_RETURN(ScopedFd dir, OpenDir(root, dir_key, /*create=*/false));
  std::string name(leaf);
  // O_NONBLOCK: opening a FIFO planted in a table must not hang the job.
  file.fd =
      ScopedFd(::openat(dir.get(), name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
  if (file.fd.get() < 0) {
    int err = errno;
    if (err == ELOOP) return SymlinkRefused(file.full);
    return Status::FromErrno(err, "opening " + file.full);
  }
  struct stat st;
  if (::fstat(file.fd.get(), &st) != 0) return Status::FromErrno(errno, "stat " + file.full);
  if (!S_ISREG(st.st_mode)) return NotARegularFile(file.full, st.st_mode);
  file.size = static_cast<uint64_t>(st.st_size);
  return file;
}

// fsync of the file at `key` (opened read-only; Linux syncs through any descriptor). OK when
// the file is gone: a removed file holds nothing to make durable.
Status SyncFile(const std::string& root, std::string_view key) {
  Result<OpenedFile> file = OpenForRead(root, key);
  if (!file.ok()) return file.status().IsNotFound() ? Status::OK() : file.status();
  if (::fsync(file->fd.get()) != 0) {
    return Status::FromErrno(errno, "flushing " + file->full +
                                        " to disk (it is not known to be durable; check the "
                                        "disk and rerun)");
  }
  return Status::OK();
}

// fsync of the directory at `key` ("" = the root): POSIX makes a new name durable only once
// its directory is synced. OK when the directory is gone.
Status SyncDir(const std::string& root, const std::string& key) {
  Result<ScopedFd> dir = OpenDir(root, key, /*create=*/false);
  if (!dir.ok()) return dir.status().IsNotFound() ? Status::OK() : dir.status();
  if (::fsync(dir->get()) != 0) {
    return Status::FromErrno(errno, "syncing directory " + FullPath(root, key));
  }
  return Status::OK();
}

// Reads up to n bytes at offset, stopping early only at end of file.
Result<size_t> PreadFully(int fd, char* buf, size_t n, uint64_t offset, const std::string& full) {
  size_t done = 0;
  while (done < n) {
    ssize_t r = ::pread(fd, buf + done, n - done, static_cast<off_t>(offset + done));
    if (r < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno(errno, "reading " + full);
    }
    if (r == 0) break;
    done += static_cast<size_t>(r);
  }
  return done;
}

Result<size_t> ReadSome(int fd, char* buf, size_t n, const std::string& full) {
  while (true) {
    ssize_t r = ::read(fd, buf, n);
    if (r >= 0) return static_cast<size_t>(r);
    if (errno != EINTR) return Status::FromErrno(errno, "reading " + full);
  }
}

Status WriteAll(int fd, std::string_view data, const std::string& full) {
  while (!data.empty()) {
    ssize_t w = ::write(fd, data.data(), data.size());
    if (w < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno(errno, "writing " + full);
    }
    data.remove_prefix(static_cast<size_t>(w));
  }
  return Status::OK();
}

std::string TempName() {
  static std::atomic<uint64_t> counter{0};
  thread_local std::mt19937_64 rng{std::random_device{}()};
  char buf[96];
  std::snprintf(buf, sizeof(buf), "%.*s%d-%llu-%016llx%.*s", static_cast<int>(kTempPrefix.size()),
                kTempPrefix.data(), static_cast<int>(::getpid()),
                static_cast<unsigned long long>(counter.fetch_add(1)),
                static_cast<unsigned long long>(rng()), static_cast<int>(kTempSuffix.size()),
                kTempSuffix.data());
  return buf;
}

// A temp file in the target's directory, removed on destruction unless it was renamed into
// place. Publishing it is the only way data becomes visible at a key.
class TempFile {
 public:
  TempFile(int dir_fd, std::string dir_full, std::string target_full)
      : dir_fd_(dir_fd), dir_full_(std::move(dir_full)), target_full_(std::move(target_full)) {}
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  ~TempFile() {
    fd_.Close();  // Nothing to report: the temp file is being discarded.
    if (!name_.empty()) ::unlinkat(dir_fd_, name_.c_str(), 0);
  }

  Status Create() {
    // Names are unique by pid + counter + 64 random bits; O_EXCL makes a clash an error
    // rather than shared state, and a few retries make it vanishingly unlikely.
    for (int attempt = 0; attempt < 4; ++attempt) {
      std::string name = TempName();
      int fd = ::openat(dir_fd_, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                        0644);
      if (fd >= 0) {
        fd_ = ScopedFd(fd);
        name_ = std::move(name);
        return Status::OK();
      }
      if (errno != EEXIST) {
        return Status::FromErrno(
            errno, "creating a temp file in " + dir_full_ + " to write " + target_full_);
      }
    }
    return Status::IOError("could not create a unique temp file in " + dir_full_);
  }

  int fd() const { return fd_.get(); }

  // fsync + close, then rename (replace) or link (never replace) onto `leaf`, then fsync the
  // directory so the new name survives a crash. Without `durable` both fsyncs are skipped
  // (the caller makes the file durable later with SyncAll); the rename still makes
  // the publish atomic, and close() still reports deferred write errors.
  Status Publish(const std::string& leaf, bool replace, bool durable = true) {
    if (durable && ::fsync(fd_.get()) != 0) {
      return Status::FromErrno(errno, "syncing " + target_full_);
    }
    if (int err = fd_.Close(); err != 0) {
      return Status::FromErrno(err, "closing " + target_full_);
    }
    if (replace) {
      if (::renameat(dir_fd_, name_.c_str(), dir_fd_, leaf.c_str()) != 0) {
        return Status::FromErrno(errno, "publishing " + target_full_);
      }
      name_.clear();  // The temp name no longer exists.
    } else {
      if (durable) LAKESYNC_FAILPOINT("commit.before_link");
      // link() fails with EEXIST if anything is at the target, even a dangling symlink, and
      // never replaces it: the put-if-absent primitive on POSIX filesystems.
      if (::linkat(dir_fd_, name_.c_str(), dir_fd_, leaf.c_str(), 0) != 0) {
        int err = errno;
        if (err == EEXIST) {
          return Status::AlreadyExists(target_full_ +
                                       " already exists; it was left unchanged (put-if-absent "
                                       "never replaces a file)");
        }
        return Status::FromErrno(err, "publishing " + target_full_);
      }
      if (::unlinkat(dir_fd_, name_.c_str(), 0) == 0) name_.clear();
    }
    if (durable && ::fsync(dir_fd_) != 0) {
      return Status::FromErrno(errno, "syncing directory " + dir_full_);
    }
    return Status::OK();
  }

 private:
  int dir_fd_;  // Not owned.
  std::string dir_full_;
  std::string target_full_;
  std::string name_;
  ScopedFd fd_;
};

// Asks the kernel to start writing dst's bytes [begin, end) to disk now, without waiting for
// the writes to finish (sync_file_range SYNC_FILE_RANGE_WRITE; it can block while the disk's
// queue is full, which paces the copy to the disk). Copies call it as they go, so the disk
// writes one part of a copy while the CPU copies the next, and the fsync (per file, or SyncAll's)
// that makes the copy durable finds little left to write. Measured on ext4 (bench/copy_probe, 2
// CPUs): 200 files of 10 MiB copied by 8 threads, then one syncfs, took 3.1-3.3 s without it and
// 1.8-2.1 s with it (`cp -a && sync`: 3.0-4.5 s). It also keeps a large copy from piling up
// gigabytes of dirty pages (peak Dirty of a 2 GiB run: 1.9 GB before, 53 MB after).
// A hint only: durability still comes from the fsync, which reports the writeback errors
// the kernel still holds for the file, so a failure here (EINVAL or ESPIPE where unsupported) is
// ignored.
void StartWriteback(int dst, uint64_t begin, uint64_t end) {
  if (end > begin) {
    (void)::sync_file_range(dst, static_cast<off_t>(begin), static_cast<off_t>(end - begin),
                            SYNC_FILE_RANGE_WRITE);
  }
}

// Calls StartWriteback for every kWritebackChunk bytes written through it, and for the rest
// at Finish.
class WritebackStarter {
 public:
  explicit WritebackStarter(int dst) : dst_(dst) {}
  void Wrote(uint64_t n) {
    written_ += n;
    if (written_ - started_ >= kWritebackChunk) Finish();
  }
  void Finish() {
    StartWriteback(dst_, started_, written_);
    started_ = written_;
  }

 private:
  int dst_;
  uint64_t written_ = 0;
  uint64_t started_ = 0;
};

// Copies exactly `size` bytes from src (at offset 0) into dst (empty, at offset 0), starting
// the writeback of the copy as it goes (StartWriteback).
Result<uint64_t> CopyFd(int src, uint64_t size, int dst, const std::string& src_full,
                        const std::string& dst_full) {
  auto changed = [&](uint64_t got) {
    return Status::IOError(src_full + " changed size while being copied (" + std::to_string(size) +
                           " bytes when opened, " + std::to_string(got) +
                           " now); retry once the file is no longer being written");
  };
  if (size == 0) return uint64_t{0};

  // 1. A reflink shares extents (btrfs, XFS): instant and no extra space. Any failure
  //    (EOPNOTSUPP, EXDEV, EINVAL...) just means "not here"; fall through.
  if (::ioctl(dst, FICLONE, src) == 0) {
    LAKESYNC_FAILPOINT("copy.mid_file");
    struct stat st;
    if (::fstat(dst, &st) != 0) return Status::FromErrno(errno, "stat " + dst_full);
    if (static_cast<uint64_t>(st.st_size) != size) return changed(st.st_size);
    return size;
  }

  // 2. copy_file_range: in-kernel copy (server-side on NFS 4.2). It can refuse at the first
  //    call (EXDEV across filesystems on newer kernels, EINVAL/EOPNOTSUPP on some filesystems);
  //    then fall back. A failure after progress is a real error.
  uint64_t done = 0;
  bool in_kernel = true;
  WritebackStarter writeback(dst);
  while (done < size) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(size - done, kWritebackChunk));
    ssize_t n = ::copy_file_range(src, nullptr, dst, nullptr, want, 0);
    if (n < 0) {
      int err = errno;
      if (err == EINTR) continue;
      if (done == 0 && (err == EXDEV || err == EINVAL || err == ENOSYS || err == EOPNOTSUPP ||
                        err == EPERM || err == ETXTBSY)) {
        in_kernel = false;
        break;
      }
      return Status::FromErrno(err, "copying " + src_full + " to " + dst_full);
    }
    if (n == 0) break;  // End of file before `size`: the source shrank.
    if (done == 0) LAKESYNC_FAILPOINT("copy.mid_file");
    done += static_cast<uint64_t>(n);
    writeback.Wrote(static_cast<uint64_t>(n));
  }

  // 3. Plain read/write through a fixed buffer.
  if (!in_kernel) {
    std::string buf(static_cast<size_t>(std::min<uint64_t>(size, kCopyBufferSize)), '\0');
    while (done < size) {
      size_t want = static_cast<size_t>(std::min<uint64_t>(size - done, buf.size()));
      LAKESYNC_ASSIGN_OR_RETURN(size_t n, ReadSome(src, buf.data(), want, src_full));
      if (n == 0) break;
      LAKESYNC_RETURN_IF_ERROR(WriteAll(dst, std::string_view(buf.data(), n), dst_full));
      if (done == 0) LAKESYNC_FAILPOINT("copy.mid_file");
      done += n;
      writeback.Wrote(n);
    }
  }
  writeback.Finish();
  if (done != size) return changed(done);
  return done;
}

}  // namespace

Result<std::unique_ptr<LocalStorage>> LocalStorage::Open(const Uri& root) {
  if (root.scheme() != "file") {
    return Status::InvalidArgument("LocalStorage needs a file:// location, not " + root.ToString());
  }
  struct stat st;
  if (::stat(root.path().c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) {
      return Status::InvalidArgument("storage root " + root.path() +
                                     " is not a directory; point the location at a directory");
    }
  } else if (errno != ENOENT) {
    return Status::FromErrno(errno, "opening storage root " + root.path());
  }
  return std::unique_ptr<LocalStorage>(new LocalStorage(root));
}

bool LocalStorage::IsTempFileName(std::string_view name) {
  return name.size() > kTempPrefix.size() + kTempSuffix.size() &&
         name.substr(0, kTempPrefix.size()) == kTempPrefix &&
         name.substr(name.size() - kTempSuffix.size()) == kTempSuffix;
}

std::string LocalStorage::Describe() const { return uri_.ToString(); }

std::optional<std::string> LocalStorage::LocalPath(std::string_view path) const {
  if (!ValidateKey(path).ok()) return std::nullopt;
  return FullPath(root_, path);
}

namespace {

struct ListContext {
  const ListOptions& options;
  std::vector<FileInfo>* out;
};

// Lists the open directory `dir` whose keys start with `key_prefix` ("" or ending in '/').
Status ListDir(ScopedFd dir, const std::string& key_prefix, const std::string& full_dir,
               const ListContext& ctx) {
  int raw = dir.Release();
  DirPtr d(::fdopendir(raw));
  if (d == nullptr) {
    int err = errno;
    ::close(raw);
    return Status::FromErrno(err, "listing " + full_dir);
  }
  const ListOptions& options = ctx.options;
  while (true) {
    errno = 0;
    struct dirent* entry = ::readdir(d.get());
    if (entry == nullptr) {
      if (errno != 0) return Status::FromErrno(errno, "listing " + full_dir);
      return Status::OK();
    }
    std::string name = entry->d_name;
    if (name == "." || name == ".." || LocalStorage::IsTempFileName(name)) continue;
    std::string key = key_prefix + name;
    // Skip a stat for files that cannot match (e.g. old commits before start_after).
    if (entry->d_type == DT_REG && !ListMatches(options, key)) continue;

    struct stat st;
    if (::fstatat(::dirfd(d.get()), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) continue;  // Deleted while we list: not there.
      return Status::FromErrno(errno, "stat " + full_dir + "/" + name);
    }
    if (S_ISREG(st.st_mode)) {
      if (ListMatches(options, key)) {
        ctx.out->push_back(
            FileInfo{key, static_cast<uint64_t>(st.st_size), ToTimePoint(st.st_mtim)});
      }
    } else if (S_ISDIR(st.st_mode)) {
      if (!options.recursive) continue;
      std::string sub = key + "/";
      const std::string& prefix = options.prefix;
      bool may_match =
          sub.compare(0, prefix.size(), prefix) == 0 || prefix.compare(0, sub.size(), sub) == 0;
      if (!may_match) continue;
      // Every key below `sub` is < start_after when sub < start_after and start_after does
      // not itself lie below sub: prune the whole subtree.
      const std::string& after = options.start_after;
      if (!after.empty() && sub < after && after.compare(0, sub.size(), sub) != 0) continue;
      ScopedFd child(::openat(::dirfd(d.get()), name.c_str(),
                              O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (child.get() < 0) {
        if (errno == ENOENT) continue;
        return Status::FromErrno(errno, "opening directory " + full_dir + "/" + name);
      }
      LAKESYNC_RETURN_IF_ERROR(ListDir(std::move(child), sub, full_dir + "/" + name, ctx));
    } else if (S_ISLNK(st.st_mode)) {
      spdlog::warn(
          "skipping symbolic link {}/{} while listing: lakesync never follows links "
          "inside a storage root",
          full_dir, name);
    }
  }
}

}  // namespace

Result<std::vector<FileInfo>> LocalStorage::List(const ListOptions& options) {
  LAKESYNC_RETURN_IF_ERROR(ValidateListOptions(options));
  size_t last_slash = options.prefix.rfind('/');
  std::string dir_key = last_slash == std::string::npos ? "" : options.prefix.substr(0, last_slash);
  std::string key_prefix = last_slash == std::string::npos ? "" : dir_key + "/";
  std::vector<FileInfo> out;
  Result<ScopedFd> dir = OpenDir(root_, dir_key, /*create=*/false);
  if (!dir.ok()) {
    // A prefix whose directory does not exist lists nothing.
    if (dir.status().IsNotFound()) return out;
    return dir.status();
  }
  LAKESYNC_RETURN_IF_ERROR(
      ListDir(std::move(dir).value(), key_prefix, FullPath(root_, dir_key), {options, &out}));
  std::sort(out.begin(), out.end(),
            [](const FileInfo& a, const FileInfo& b) { return a.path < b.path; });
  return out;
}

Result<FileInfo> LocalStorage::Stat(std::string_view path) {
  LAKESYNC_RETURN_IF_ERROR(ValidateKey(path));
  auto [dir_key, leaf] = SplitKey(path);
  std::string full = FullPath(root_, path);
  LAKESYNC_ASSIGN_OR_RETURN(ScopedFd dir, OpenDir(root_, dir_key, /*create=*/false));
  struct stat st;
  if (::fstatat(dir.get(), std::string(leaf).c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    return Status::FromErrno(errno, "stat " + full);
  }
  if (S_ISLNK(st.st_mode)) return SymlinkRefused(full);
  if (!S_ISREG(st.st_mode)) return NotARegularFile(full, st.st_mode);
  return FileInfo{std::string(path), static_cast<uint64_t>(st.st_size), ToTimePoint(st.st_mtim)};
}

Result<std::string> LocalStorage::Read(std::string_view path) {
  LAKESYNC_ASSIGN_OR_RETURN(OpenedFile file, OpenForRead(root_, path));
  std::string out(static_cast<size_t>(file.size), '\0');
  LAKESYNC_ASSIGN_OR_RETURN(size_t n,
                            PreadFully(file.fd.get(), out.data(), out.size(), 0, file.full));
  out.resize(n);
  return out;
}

Result<std::string> LocalStorage::ReadRange(std::string_view path, uint64_t offset,
                                            uint64_t length) {
  LAKESYNC_ASSIGN_OR_RETURN(OpenedFile file, OpenForRead(root_, path));
  uint64_t available = file.size > offset ? file.size - offset : 0;
  std::string out(static_cast<size_t>(std::min(length, available)), '\0');
  LAKESYNC_ASSIGN_OR_RETURN(size_t n,
                            PreadFully(file.fd.get(), out.data(), out.size(), offset, file.full));
  out.resize(n);
  return out;
}

Status LocalStorage::ReadStream(std::string_view path, const ChunkSink& sink) {
  LAKESYNC_ASSIGN_OR_RETURN(OpenedFile file, OpenForRead(root_, path));
  std::string buf(static_cast<size_t>(std::clamp<uint64_t>(file.size, 1, kReadChunkSize)), '\0');
  while (true) {
    LAKESYNC_ASSIGN_OR_RETURN(size_t n, ReadSome(file.fd.get(), buf.data(), buf.size(), file.full));
    if (n == 0) return Status::OK();
    LAKESYNC_RETURN_IF_ERROR(sink(std::string_view(buf.data(), n)));
  }
}

Status LocalStorage::Write(std::string_view path, std::string_view data, bool replace) {
  LAKESYNC_RETURN_IF_ERROR(ValidateKey(path));
  auto [dir_key, leaf] = SplitKey(path);
  std::string full = FullPath(root_, path);
  LAKESYNC_ASSIGN_OR_RETURN(ScopedFd dir, OpenDir(root_, dir_key, /*create=*/true));
  TempFile temp(dir.get(), FullPath(root_, dir_key), full);
  LAKESYNC_RETURN_IF_ERROR(temp.Create());
  LAKESYNC_RETURN_IF_ERROR(WriteAll(temp.fd(), data, full));
  return temp.Publish(std::string(leaf), replace);
}

Status LocalStorage::WriteAtomic(std::string_view path, std::string_view data) {
  return Write(path, data, /*replace=*/true);
}

Status LocalStorage::PutIfAbsent(std::string_view path, std::string_view data) {
  return Write(path, data, /*replace=*/false);
}

Status LocalStorage::Delete(std::string_view path) {
  LAKESYNC_RETURN_IF_ERROR(ValidateKey(path));
  auto [dir_key, leaf] = SplitKey(path);
  LAKESYNC_ASSIGN_OR_RETURN(ScopedFd dir, OpenDir(root_, dir_key, /*create=*/false));
  // unlinkat removes a symlink itself, never its target, so no link check is needed here.
  if (::unlinkat(dir.get(), std::string(leaf).c_str(), 0) != 0) {
    return Status::FromErrno(errno, "deleting " + FullPath(root_, path));
  }
  return Status::OK();
}

Result<uint64_t> LocalStorage::Copy(Storage& source, std::string_view from, std::string_view to,
                                    bool replace, bool durable) {
  LAKESYNC_RETURN_IF_ERROR(ValidateKey(to));
  auto [dir_key, leaf] = SplitKey(to);
  std::string full = FullPath(root_, to);
  std::string what = "copying " + source.Describe() + " " + std::string(from) + " to " + full;

  // Open the source first, so a missing source creates no target directories.
  auto* local_source = dynamic_cast<LocalStorage*>(&source);
  std::optional<OpenedFile> src;
  if (local_source != nullptr) {
    LAKESYNC_ASSIGN_OR_RETURN(OpenedFile opened, OpenForRead(local_source->root_, from));
    src = std::move(opened);
  }

  LAKESYNC_ASSIGN_OR_RETURN(ScopedFd dir, OpenDir(root_, dir_key, /*create=*/true));
  TempFile temp(dir.get(), FullPath(root_, dir_key), full);
  LAKESYNC_RETURN_IF_ERROR(temp.Create());
  uint64_t copied = 0;
  if (src.has_value()) {
    LAKESYNC_ASSIGN_OR_RETURN(copied, CopyFd(src->fd.get(), src->size, temp.fd(), src->full, full));
  } else {
    // Not local (or wrapped): stream through the interface, one bounded chunk at a time.
    WritebackStarter writeback(temp.fd());
    Status streamed = source.ReadStream(from, [&](std::string_view chunk) {
      Status written = WriteAll(temp.fd(), chunk, full);
      if (written.ok() && copied == 0) LAKESYNC_FAILPOINT("copy.mid_file");
      copied += chunk.size();
      writeback.Wrote(chunk.size());
      return written;
    });
    if (!streamed.ok()) return streamed.WithContext(what);
    writeback.Finish();
  }
  LAKESYNC_RETURN_IF_ERROR(temp.Publish(std::string(leaf), replace, durable));
  if (!durable) {
    // SyncAll fsyncs the file, this directory and its ancestors.
    std::lock_guard<std::mutex> lock(mu_);
    OweLocked(to);
  }
  return copied;
}

Result<uint64_t> LocalStorage::CopyFrom(Storage& source, std::string_view from,
                                        std::string_view to) {
  return Copy(source, from, to, /*replace=*/true);
}

Result<uint64_t> LocalStorage::CopyFromIfAbsent(Storage& source, std::string_view from,
                                                std::string_view to) {
  return Copy(source, from, to, /*replace=*/false);
}

Result<uint64_t> LocalStorage::CopyFromDeferred(Storage& source, std::string_view from,
                                                std::string_view to) {
  return Copy(source, from, to, /*replace=*/true, /*durable=*/false);
}

Result<uint64_t> LocalStorage::CopyFromDeferredIfAbsent(Storage& source, std::string_view from,
                                                        std::string_view to) {
  return Copy(source, from, to, /*replace=*/false, /*durable=*/false);
}

void LocalStorage::OweSync(std::string_view path) {
  if (!ValidateKey(path).ok()) return;  // Not a file of this storage: nothing to make durable.
  std::lock_guard<std::mutex> lock(mu_);
  OweLocked(path);
}

void LocalStorage::OweLocked(std::string_view path) {
  unsynced_files_.insert(std::string(path));
  // The directories naming the file, up to the root: the new name, and the entries of any
  // directories OpenDir created on the way, must survive a crash too.
  std::string_view dir = SplitKey(path).first;
  while (!dir.empty() && unsynced_dirs_.insert(std::string(dir)).second) {
    size_t slash = dir.rfind('/');
    dir = slash == std::string_view::npos ? std::string_view() : dir.substr(0, slash);
  }
  unsynced_dirs_.insert(std::string());
}

Status LocalStorage::SyncAll() {
  // One at a time: a SyncAll that returns OK must not leave another caller's copies, swapped
  // out by a concurrent SyncAll still syncing them, behind.
  std::lock_guard<std::mutex> one_at_a_time(sync_mu_);
  std::set<std::string> files, dirs;
  {
    std::lock_guard<std::mutex> lock(mu_);
    files.swap(unsynced_files_);
    dirs.swap(unsynced_dirs_);
  }
  // On failure everything stays owed, so a later SyncAll retries it.
  auto fail = [&](Status status) {
    std::lock_guard<std::mutex> lock(mu_);
    unsynced_files_.insert(files.begin(), files.end());
    unsynced_dirs_.insert(dirs.begin(), dirs.end());
    return status;
  };
  ScopedFd root(::open(root_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (root.get() < 0) {
    // A root that was never created holds no deferred copies.
    if (errno == ENOENT && dirs.empty()) return Status::OK();
    return fail(Status::FromErrno(errno, "opening storage root " + root_ + " to sync it"));
  }
  // One fsync per owed file and directory, on kSyncThreads threads. Not syncfs(): that
  // flushes every writer's dirty data on the filesystem, so a run would wait for whatever
  // else writes there (measured: 1.8 s instead of 25 ms for a 10-file run right after another
  // tool copied 100,000 files to the same disk). The copies started their writeback while
  // copying (StartWriteback), and concurrent fsyncs share the journal commits, so on a quiet
  // disk this costs what one syncfs does (bench/copy_probe, sfr-fsync-end against sfr).
  std::vector<std::pair<const std::string*, bool>> work;  // (key, is a directory)
  work.reserve(files.size() + dirs.size());
  for (const std::string& f : files) work.emplace_back(&f, false);
  for (const std::string& d : dirs) work.emplace_back(&d, true);
  std::mutex mu;
  Status first;  // Guarded by mu.
  ParallelFor(kSyncThreads, work.size(), [&](size_t i) {
    const auto& [key, is_dir] = work[i];
    Status s = is_dir ? SyncDir(root_, *key) : SyncFile(root_, *key);
    if (s.ok()) return;
    std::lock_guard<std::mutex> lock(mu);
    if (first.ok()) first = std::move(s);
  });
  if (!first.ok()) return fail(std::move(first));
  return Status::OK();
}

Status LocalStorage::SetModificationTime(std::string_view path, TimePoint t) {
  LAKESYNC_RETURN_IF_ERROR(ValidateKey(path));
  auto [dir_key, leaf] = SplitKey(path);
  std::string full = FullPath(root_, path);
  std::string name(leaf);
  LAKESYNC_ASSIGN_OR_RETURN(ScopedFd dir, OpenDir(root_, dir_key, /*create=*/false));
  if (IsSymlinkAt(dir.get(), name)) return SymlinkRefused(full);
  struct timespec times[2];
  times[0].tv_sec = 0;
  times[0].tv_nsec = UTIME_OMIT;  // Leave the access time alone.
  times[1] = ToTimespec(t);
  if (::utimensat(dir.get(), name.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0) {
    return Status::FromErrno(errno, "setting the modification time of " + full);
  }
  return Status::OK();
}

namespace {

// The process id a temp file's name carries (TempName: ".lakesync-PID-COUNTER-RANDOM.tmp").
std::optional<pid_t> TempFileWriter(std::string_view name) {
  name.remove_prefix(kTempPrefix.size());
  pid_t pid = 0;
  size_t digits = 0;
  while (digits < name.size() && digits < 9 && name[digits] >= '0' && name[digits] <= '9') {
    pid = pid * 10 + (name[digits++] - '0');
  }
  if (digits == 0 || digits >= name.size() || name[digits] != '-' || pid <= 0) return std::nullopt;
  return pid;
}

bool ProcessIsGone(pid_t pid) { return ::kill(pid, 0) != 0 && errno == ESRCH; }

Status RemoveAbandonedIn(int dir_fd, const std::string& full_dir, TimePoint stale_before,
                         TempFilesRemoved& removed) {
  int raw = ::dup(dir_fd);
  if (raw < 0) return Status::FromErrno(errno, "listing " + full_dir);
  DirPtr d(::fdopendir(raw));
  if (d == nullptr) {
    int err = errno;
    ::close(raw);
    return Status::FromErrno(err, "listing " + full_dir);
  }
  std::vector<std::string> subdirs;
  while (true) {
    errno = 0;
    struct dirent* entry = ::readdir(d.get());
    if (entry == nullptr) {
      if (errno != 0) return Status::FromErrno(errno, "listing " + full_dir);
      break;
    }
    const std::string name = entry->d_name;
    if (name == "." || name == "..") continue;
    struct stat st;
    if (::fstatat(::dirfd(d.get()), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) continue;
      return Status::FromErrno(errno, "stat " + full_dir + "/" + name);
    }
    if (S_ISDIR(st.st_mode)) {
      subdirs.push_back(name);
      continue;
    }
    if (!S_ISREG(st.st_mode) || !LocalStorage::IsTempFileName(name)) continue;
    std::optional<pid_t> writer = TempFileWriter(name);
    const bool abandoned =
        (writer && ProcessIsGone(*writer)) || ToTimePoint(st.st_mtim) < stale_before;
    if (!abandoned) continue;
    if (::unlinkat(::dirfd(d.get()), name.c_str(), 0) != 0) {
      if (errno == ENOENT) continue;  // renamed into place or removed meanwhile
      return Status::FromErrno(errno, "removing " + full_dir + "/" + name);
    }
    ++removed.files;
    removed.bytes += static_cast<uint64_t>(st.st_size);
  }
  for (const std::string& name : subdirs) {
    ScopedFd child(
        ::openat(::dirfd(d.get()), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (child.get() < 0 && errno == ENOENT) continue;
    Status s = child.get() >= 0
                   ? RemoveAbandonedIn(child.get(), full_dir + "/" + name, stale_before, removed)
                   : Status::FromErrno(errno, "opening directory " + full_dir + "/" + name);
    // One folder it cannot read (permissions) does not keep the others from being cleaned.
    if (!s.ok()) spdlog::warn("removing abandoned temp files: {}", s.message());
  }
  return Status::OK();
}

}  // namespace

Result<TempFilesRemoved> LocalStorage::RemoveAbandonedTempFiles(std::string_view prefix,
                                                                Duration stale_after) {
  std::string dir_key(prefix);
  while (!dir_key.empty() && dir_key.back() == '/') dir_key.pop_back();
  if (!dir_key.empty()) LAKESYNC_RETURN_IF_ERROR(ValidateKey(dir_key));
  TempFilesRemoved removed;
  Result<ScopedFd> dir = OpenDir(root_, dir_key, /*create=*/false);
  if (!dir.ok()) {
    if (dir.status().IsNotFound()) return removed;
    return dir.status();
  }
  const TimePoint stale_before = std::chrono::system_clock::now() - stale_after;
  LAKESYNC_RETURN_IF_ERROR(
      RemoveAbandonedIn(dir->get(), FullPath(root_, dir_key), stale_before, removed));
  return removed;
}

}  // namespace lakesync::storage
