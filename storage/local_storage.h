#pragma once

// LocalStorage: Storage over a POSIX filesystem (a local disk or a mounted share), rooted at
// an absolute directory. Keys map to files below the root.
//
// Guarantees:
//  - Keys are checked with ValidateKey (InvalidArgument otherwise).
//  - Symbolic links below the root are never followed: a key whose path crosses a symlink
//    (a directory or the file itself) fails with Unsupported naming it, so a link planted in
//    a table cannot make lakesync read or write outside the root. The root itself may be (or
//    lie below) a symlink. List skips symlinks (with a warning).
//  - WriteAtomic / PutIfAbsent / CopyFrom* write a temp file in the target's directory
//    (".lakesync-<pid>-<n>-<random>.tmp", which List never returns), fsync it, publish it with
//    rename (replace) or link (never replace: AlreadyExists), fsync the directory, and remove
//    the temp file on every path. CopyFromDeferred does the same without the two fsyncs;
//    SyncAll then makes all such copies (and the files named by OweSync) durable with an
//    fsync of each, and of every directory they were published in (and its ancestors), on
//    several threads. Never syncfs(): a run must not wait for other writers' dirty data.
//  - CopyFrom* start the writeback of the copy while copying (sync_file_range
//    SYNC_FILE_RANGE_WRITE every 32 MiB and at the end of the file, not waiting for the
//    writes to finish), so the disk writes while the CPU copies and the later fsync/SyncAll
//    has little left to do. Only a hint: a copy is durable only after its fsync (CopyFrom,
//    CopyFromIfAbsent) or SyncAll (CopyFromDeferred).
//  - Directories (as keys) are not files: Stat/Read on one → NotFound.
//  - Errors come from errno through Status::FromErrno and name the full filesystem path:
//    NotFound (ENOENT, ENOTDIR), AlreadyExists, IOError (the rest; EACCES/EPERM not retryable).
//
// Thread-safety: safe for concurrent use; besides the immutable root the object holds only
// the sets of files and directories SyncAll owes an fsync, guarded by a mutex.

#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/uri.h"
#include "storage/storage.h"

namespace lakesync::storage {

class LocalStorage final : public Storage {
 public:
  // `root` must be a file:// URI. The root directory need not exist yet (the first write
  // creates it; reads and lists of a missing root see no files). InvalidArgument when the
  // root exists but is not a directory, or the scheme is not file.
  [[nodiscard]] static Result<std::unique_ptr<LocalStorage>> Open(const Uri& root);

  [[nodiscard]] Result<std::vector<FileInfo>> List(const ListOptions& options) override;
  [[nodiscard]] Result<FileInfo> Stat(std::string_view path) override;
  [[nodiscard]] Result<std::string> Read(std::string_view path) override;
  [[nodiscard]] Result<std::string> ReadRange(std::string_view path, uint64_t offset,
                                              uint64_t length) override;
  [[nodiscard]] Status ReadStream(std::string_view path, const ChunkSink& sink) override;
  [[nodiscard]] Status WriteAtomic(std::string_view path, std::string_view data) override;
  [[nodiscard]] Status PutIfAbsent(std::string_view path, std::string_view data) override;
  [[nodiscard]] Status Delete(std::string_view path) override;
  // Fast path when `source` is a LocalStorage (this one or another): FICLONE, then
  // copy_file_range, then read/write with a 1 MiB buffer, copying exactly the size the source
  // had when opened (IOError if it shrinks meanwhile). Otherwise streams source.ReadStream.
  [[nodiscard]] Result<uint64_t> CopyFrom(Storage& source, std::string_view from,
                                          std::string_view to) override;
  [[nodiscard]] Result<uint64_t> CopyFromIfAbsent(Storage& source, std::string_view from,
                                                  std::string_view to) override;
  // CopyFrom without fsyncing the file or its directory (still temp file + rename).
  [[nodiscard]] Result<uint64_t> CopyFromDeferredIfAbsent(Storage& source, std::string_view from,
                                                          std::string_view to) override;
  [[nodiscard]] Result<uint64_t> CopyFromDeferred(Storage& source, std::string_view from,
                                                  std::string_view to) override;
  // fsync of each deferred copy and OweSync'd file, and of each directory they are in and
  // its ancestors up to the root (files and directories removed since are skipped). The
  // first error is returned (IOError; Unsupported for a file replaced by a symlink; NotFound
  // when the root itself is gone); everything then stays owed to the next SyncAll.
  // Concurrent calls run one after another.
  [[nodiscard]] Status SyncAll() override;
  // Invalid keys are ignored (nothing of this storage to make durable).
  void OweSync(std::string_view path) override;
  // Keeps nanoseconds where the filesystem does.
  [[nodiscard]] Status SetModificationTime(std::string_view path, TimePoint t) override;
  // Temp files (IsTempFileName) under `prefix`, recursively, whose writer's process id (in
  // the name) is not a live process here, or last modified more than `stale_after` ago.
  // Symbolic links are not followed.
  [[nodiscard]] Result<TempFilesRemoved> RemoveAbandonedTempFiles(std::string_view prefix,
                                                                  Duration stale_after) override;
  std::string Describe() const override;
  // nullopt for an invalid key.
  std::optional<std::string> LocalPath(std::string_view path) const override;

  // The absolute root directory ("/data/eastus").
  const std::string& root() const { return root_; }

  // True for the names of this class's temp files (so tests and tools can recognise them).
  static bool IsTempFileName(std::string_view name);

 private:
  explicit LocalStorage(Uri uri) : uri_(std::move(uri)), root_(uri_.path()) {}

  Result<uint64_t> Copy(Storage& source, std::string_view from, std::string_view to, bool replace,
                        bool durable = true);
  Status Write(std::string_view path, std::string_view data, bool replace);
  // Adds the file and its directories to what SyncAll owes. Requires mu_ held.
  void OweLocked(std::string_view path);

  const Uri uri_;
  const std::string root_;
  std::mutex sync_mu_;  // held by SyncAll for its whole run; taken before mu_
  std::mutex mu_;
  std::set<std::string> unsynced_files_;  // Keys; guarded by mu_.
  std::set<std::string> unsynced_dirs_;   // Keys ("" = root); guarded by mu_.
};

}  // namespace lakesync::storage
