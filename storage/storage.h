#pragma once

// Storage: the one interface through which lakesync touches files (in the spirit of LevelDB's
// Env). Paths are keys relative to the storage root, '/'-separated, never starting with '/'
// and never containing "..": "delta/sales/_delta_log/00000000000000000000.json".
//
// Implementations: LocalStorage (POSIX filesystem, file:// URLs), MemoryStorage (tests),
// FaultInjectingStorage (wraps another and fails chosen calls).
//
// Thread-safety: every implementation is safe for concurrent use from several threads.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/duration.h"
#include "common/status.h"
#include "common/uri.h"

namespace lakesync::storage {

struct FileInfo {
  std::string path;  // relative to the storage root
  uint64_t size = 0;
  TimePoint modification_time;
};

struct ListOptions {
  // Only keys that start with this prefix ("t/_delta_log/"). Need not end at a '/'.
  std::string prefix;
  // Only keys strictly greater than this one (lexicographic byte order), when non-empty.
  std::string start_after;
  // true: every file below the prefix, at any depth. false: only the direct children of the
  // directory `prefix` names (prefix must then end in '/' or be empty); subdirectories are
  // not returned.
  bool recursive = false;
};

// What RemoveAbandonedTempFiles removed.
struct TempFilesRemoved {
  int64_t files = 0;
  uint64_t bytes = 0;
};

// A sink for streamed reads: called with consecutive chunks; return non-OK to stop.
using ChunkSink = std::function<Status(std::string_view chunk)>;

class Storage {
 public:
  virtual ~Storage() = default;

  // Files (never directories) under the prefix, sorted by key.
  // A prefix that does not exist yields an empty list, not NotFound.
  virtual Result<std::vector<FileInfo>> List(const ListOptions& options) = 0;

  // NotFound when absent.
  virtual Result<FileInfo> Stat(std::string_view path) = 0;

  // Whole file into memory. For small files (commits, manifests); use ReadStream for data.
  virtual Result<std::string> Read(std::string_view path) = 0;

  // `length` bytes from `offset`. Fewer only at end of file.
  virtual Result<std::string> ReadRange(std::string_view path, uint64_t offset,
                                        uint64_t length) = 0;

  // Streams the whole file in chunks of bounded size (memory independent of file size).
  virtual Status ReadStream(std::string_view path, const ChunkSink& sink) = 0;

  // Publishes `data` at `path` atomically: readers see the old file or the whole new one,
  // never a prefix. Replaces an existing file. Creates parent directories.
  virtual Status WriteAtomic(std::string_view path, std::string_view data) = 0;

  // The commit primitive: publishes `data` atomically only if nothing exists at `path`.
  // AlreadyExists (and nothing changed) when the path exists. Never overwrites.
  virtual Status PutIfAbsent(std::string_view path, std::string_view data) = 0;

  // Removes a file. NotFound when absent.
  virtual Status Delete(std::string_view path) = 0;

  // Copies `from` (in `source`, which may be this storage or another) to `to` in this
  // storage, atomically (a partial copy is never visible at `to`), replacing any existing
  // file. Uses a fast path when both are local (FICLONE, copy_file_range), else streams.
  // Returns the number of bytes copied.
  virtual Result<uint64_t> CopyFrom(Storage& source, std::string_view from,
                                    std::string_view to) = 0;

  // Same, but AlreadyExists when `to` exists (put-if-absent semantics for copies).
  virtual Result<uint64_t> CopyFromIfAbsent(Storage& source, std::string_view from,
                                            std::string_view to) = 0;

  // Like CopyFrom (atomic: a partial copy is never visible at `to`, and a failed copy leaves
  // nothing behind), but the copy need not be durable when this returns: after a crash of
  // the machine (not merely of the process) `to` may be missing or incomplete until SyncAll
  // has returned OK. For copying many files and then making them durable at once, which is
  // far cheaper than one flush per file. The default is CopyFrom, which is durable anyway.
  virtual Result<uint64_t> CopyFromDeferred(Storage& source, std::string_view from,
                                            std::string_view to) {
    return CopyFrom(source, from, to);
  }

  // CopyFromDeferred that never replaces: AlreadyExists when `to` exists (a file another
  // writer copied meanwhile, perhaps durable already, stays as it is; the caller decides
  // whether to keep it, and then owes it a sync: OweSync). The default is CopyFromIfAbsent.
  virtual Result<uint64_t> CopyFromDeferredIfAbsent(Storage& source, std::string_view from,
                                                    std::string_view to) {
    return CopyFromIfAbsent(source, from, to);
  }

  // Makes durable every CopyFromDeferred that returned OK before this call began (and the
  // directory entries naming those copies). On error nothing is known to be durable: the
  // caller must not rely on those copies (and must not publish anything referencing them)
  // until a later SyncAll succeeds. The default does nothing (every write already durable).
  virtual Status SyncAll() { return Status::OK(); }

  // Adds `path`, a file already in place that this process did not copy with
  // CopyFromDeferred (for example one an earlier, killed run copied and never flushed), to
  // what the next SyncAll makes durable. Every caller that keeps such a file instead of
  // copying it, and publishes something that depends on it, calls this and then SyncAll. The
  // default does nothing (every write already durable).
  virtual void OweSync(std::string_view path) { (void)path; }

  virtual Status SetModificationTime(std::string_view path, TimePoint t) = 0;

  // Removes, under the folder `prefix` ("" for the root), the partial files of copies whose
  // process died (a kill mid-copy leaves its temp file behind; nothing names it, and nothing
  // else would ever remove it). A temp file counts as abandoned when the process that wrote it
  // no longer runs on this machine, or when nothing wrote to it for `stale_after` (a writer
  // paused that long finds it gone and fails its copy: nothing half-written is published). The
  // default removes nothing (storages whose writes leave no partial files).
  virtual Result<TempFilesRemoved> RemoveAbandonedTempFiles(std::string_view prefix,
                                                            Duration stale_after) {
    (void)prefix;
    (void)stale_after;
    return TempFilesRemoved{};
  }

  // The root as a URL, for messages ("file:///data/eastus").
  virtual std::string Describe() const = 0;

  // For the local fast path: the absolute filesystem path of `path`, when this storage is a
  // local filesystem; nullopt otherwise.
  virtual std::optional<std::string> LocalPath(std::string_view path) const { return std::nullopt; }
};

// Opens the storage rooted at `root` (file:// only for now; other schemes → Unsupported
// naming the scheme).
[[nodiscard]] Result<std::unique_ptr<Storage>> OpenStorage(const Uri& root);

// --- Helpers shared by the implementations (and usable by callers) ---

// The largest chunk ReadStream hands to a sink, in every implementation.
inline constexpr size_t kReadChunkSize = size_t{1} << 20;  // 1 MiB

// OK when `key` is a valid file key: non-empty, no leading '/', no empty, "." or ".."
// segments, no NUL byte. InvalidArgument (naming the key and what to write instead)
// otherwise. Every Storage method that takes a path applies it.
[[nodiscard]] Status ValidateKey(std::string_view key);

// OK when `options.prefix` is usable: empty, or a key prefix whose complete segments (those
// followed by '/') obey ValidateKey's rules. The last, partial segment may be anything
// without '/' or NUL ("_delta_log/0000" matches "_delta_log/00000000000000000001.json").
[[nodiscard]] Status ValidateListOptions(const ListOptions& options);

// The single definition of what List returns: true when `key` starts with the prefix, is
// greater than start_after (when set), and, unless recursive, has no '/' after the prefix's
// last '/' (it is a direct child of the prefix's directory).
bool ListMatches(const ListOptions& options, std::string_view key);

}  // namespace lakesync::storage
