#include "jobs/snapshot_files.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <optional>

#include <fmt/format.h>

#include "common/parallel.h"

namespace lakesync::jobs {
namespace {

bool RightSize(const FileRef& ref, uint64_t size) {
  if (ref.size >= 0) return size == static_cast<uint64_t>(ref.size);
  return size >= static_cast<uint64_t>(ref.min_size);
}

// `place`: where the file was looked for ("file:///t", or kAbsolutePlace below).
Status SizeError(std::string_view place, const FileRef& ref, uint64_t got, std::string_view what) {
  return Status::Corruption(fmt::format(
      "{} {} in {} is {} bytes but the log ({}) says {}{} bytes; the file was changed or "
      "truncated — repair the table and rerun",
      FileRoleName(ref.role), ref.path, place, got, what, ref.size >= 0 ? "" : "at least ",
      ref.size >= 0 ? ref.size : ref.min_size));
}

// `pick`: what else the user may restore from ("a version" for a table's own files; for files
// named by absolute path, whose source may have vacuumed them, also "a deep snapshot").
Status MissingError(std::string_view place, const FileRef& ref, std::string_view what,
                    std::string_view pick = "a version") {
  return Status::NotFound(fmt::format(
      "{} {} is missing from {} (referenced by {}); it may have been vacuumed or deleted — "
      "restore the file, or pick {} whose files still exist, and rerun",
      FileRoleName(ref.role), ref.path, place, what, pick));
}

// Where CheckAbsoluteFiles looks: the file a shallow snapshot or a shallow clone names by
// absolute path, in the table it was taken from.
constexpr std::string_view kAbsolutePlace = "the location its absolute path names";
constexpr std::string_view kAbsolutePick = "a deep snapshot or a version";

// The local filesystem path of an absolute file URI ("file:///t/a%20b.parquet", Spark's
// "file:/t/a%20b.parquet", "FILE://localhost/t/...", or "/t/a%20b.parquet" → "/t/a b.parquet");
// nullopt for a location lakesync cannot read (another scheme, or a file URI naming a host).
// Corruption for a malformed percent escape.
Result<std::optional<std::string>> LocalFileOf(const FileRef& ref, std::string_view what) {
  std::string_view uri = ref.path;
  std::string_view path;
  if (!uri.empty() && uri[0] == '/') {
    path = uri;
  } else {
    const size_t colon = uri.find(':');
    if (colon == std::string_view::npos) return std::optional<std::string>();
    std::string scheme(uri.substr(0, colon));
    std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (scheme != "file") return std::optional<std::string>();
    path = uri.substr(colon + 1);
    if (path.rfind("//", 0) == 0) {  // an authority: empty or localhost
      const size_t slash = path.find('/', 2);
      const std::string_view host = path.substr(2, slash == std::string_view::npos ? 0 : slash - 2);
      if (slash == std::string_view::npos || (!host.empty() && host != "localhost")) {
        return std::optional<std::string>();
      }
      path = path.substr(slash);
    }
    if (path.empty() || path[0] != '/') return std::optional<std::string>();
  }
  auto decoded = delta::PercentDecode(path);
  if (!decoded.ok()) {
    return Status::Corruption(fmt::format("{} {} (referenced by {}): {}", FileRoleName(ref.role),
                                          ref.path, what, decoded.status().message()));
  }
  return std::optional<std::string>(std::move(decoded).value());
}

}  // namespace

Status CheckAbsoluteFiles(const std::vector<FileRef>& files, std::string_view what) {
  for (const auto& ref : files) {
    if (!ref.absolute) continue;
    LAKESYNC_ASSIGN_OR_RETURN(std::optional<std::string> path, LocalFileOf(ref, what));
    if (!path) continue;  // a location lakesync cannot read: nothing to check it with
    const std::string& local = *path;
    struct stat st {};
    if (::stat(local.c_str(), &st) != 0) {
      const int err = errno;
      if (err == ENOENT || err == ENOTDIR)
        return MissingError(kAbsolutePlace, ref, what, kAbsolutePick);
      return Status::IOError(
          fmt::format("checking {} {}: {}", FileRoleName(ref.role), ref.path, std::strerror(err)));
    }
    if (!S_ISREG(st.st_mode)) {
      return Status::Corruption(
          fmt::format("{} {} in {} (referenced by {}) is not a regular file — repair it and rerun",
                      FileRoleName(ref.role), ref.path, kAbsolutePlace, what));
    }
    if (!RightSize(ref, static_cast<uint64_t>(st.st_size))) {
      return SizeError(kAbsolutePlace, ref, static_cast<uint64_t>(st.st_size), what);
    }
  }
  return Status::OK();
}

std::string TableUrl(const TableLocation& table) {
  std::string root = table.storage ? table.storage->Describe() : "";
  std::string p = table.prefix;
  while (!p.empty() && p.back() == '/') p.pop_back();
  if (p.empty()) return root;
  if (!root.empty() && root.back() != '/') root += '/';
  return root + p;
}

Result<std::vector<FileRef>> FilesOfAdds(std::span<const delta::Add* const> adds) {
  delta::Commit commit;
  commit.actions.reserve(adds.size());
  for (const delta::Add* a : adds) commit.actions.emplace_back(*a);
  LAKESYNC_ASSIGN_OR_RETURN(CommitFiles files, ExtractCommitFiles(commit));
  return std::move(files.files);
}

Result<CopyTotals> CopyTableFiles(const TableLocation& from, const TableLocation& to,
                                  const std::vector<FileRef>& files, int parallelism,
                                  RunObserver& observer, std::string_view what) {
  std::vector<const FileRef*> todo;
  for (const auto& f : files) {
    if (!f.absolute) todo.push_back(&f);
  }
  std::atomic<int64_t> copied_files{0}, copied_bytes{0};
  std::atomic<bool> stop{false};
  std::mutex mu;
  Status first;  // Guarded by mu.
  auto fail = [&](Status s) {
    std::lock_guard<std::mutex> lock(mu);
    if (first.ok()) first = std::move(s);
    stop.store(true);
  };
  ParallelFor(parallelism, todo.size(), [&](size_t i) {
    if (stop.load()) return;
    const FileRef& ref = *todo[i];
    Status go = observer.CheckContinue();
    if (!go.ok()) return fail(go);
    const std::string src = TableKey(from.prefix, ref.path);
    const std::string dst = TableKey(to.prefix, ref.path);
    // Durable later: one SyncAll after every copy, before anything references them.
    auto n = to.storage->CopyFromDeferred(*from.storage, src, dst);
    if (!n.ok()) {
      if (n.status().IsNotFound()) {
        auto st = from.storage->Stat(src);
        if (!st.ok() && st.status().IsNotFound())
          return fail(MissingError(TableUrl(from), ref, what));
      }
      return fail(n.status().WithContext(
          fmt::format("copying {} {} to {}", FileRoleName(ref.role), ref.path, TableUrl(to))));
    }
    if (!RightSize(ref, *n)) return fail(SizeError(TableUrl(from), ref, *n, what));
    copied_files.fetch_add(1);
    copied_bytes.fetch_add(static_cast<int64_t>(*n));
    observer.OnFileCopied(to.name, ref.path, static_cast<int64_t>(*n));
  });
  {
    std::lock_guard<std::mutex> lock(mu);
    if (!first.ok()) return first;
  }
  Status synced = to.storage->SyncAll();
  if (!synced.ok()) return synced.WithContext("making the copies durable on " + TableUrl(to));
  return CopyTotals{copied_files.load(), copied_bytes.load()};
}

Status CheckTableFiles(const TableLocation& table, const std::vector<FileRef>& files,
                       std::string_view what) {
  LAKESYNC_RETURN_IF_ERROR(CheckAbsoluteFiles(files, what));
  for (const auto& ref : files) {
    if (ref.absolute) continue;
    auto st = table.storage->Stat(TableKey(table.prefix, ref.path));
    if (!st.ok()) {
      if (st.status().IsNotFound()) return MissingError(TableUrl(table), ref, what);
      return st.status().WithContext("checking " + ref.path);
    }
    if (!RightSize(ref, st->size)) return SizeError(TableUrl(table), ref, st->size, what);
  }
  return Status::OK();
}

namespace {

// Removes the empty folders under `path` (deepest first), and `path` itself with `self`.
// Symbolic links are not followed. Best effort: a folder that cannot go stays.
void RemoveEmptyFolders(const std::filesystem::path& path, bool self) {
  std::error_code ec;
  for (std::filesystem::directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_directory(ec) && !it->is_symlink(ec)) RemoveEmptyFolders(it->path(), true);
  }
  if (self) (void)::rmdir(path.c_str());  // fails, harmlessly, unless empty
}

}  // namespace

Status DeleteTree(storage::Storage& storage, const std::string& dir, bool remove_dir) {
  storage::ListOptions opts;
  opts.prefix = dir.empty() || dir.back() == '/' ? dir : dir + "/";
  opts.recursive = true;
  LAKESYNC_ASSIGN_OR_RETURN(auto files, storage.List(opts));
  // The log first: a reader of a half-deleted table sees no table rather than a torn one.
  std::stable_partition(files.begin(), files.end(), [&](const storage::FileInfo& f) {
    return f.path.find("/_delta_log/") != std::string::npos;
  });
  for (const auto& f : files) {
    Status s = storage.Delete(f.path);
    if (!s.ok() && !s.IsNotFound()) return s.WithContext("deleting " + f.path);
  }
  if (auto local = storage.LocalPath(dir)) RemoveEmptyFolders(*local, remove_dir);
  return Status::OK();
}

}  // namespace lakesync::jobs
