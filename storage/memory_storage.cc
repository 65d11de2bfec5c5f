#include "storage/memory_storage.h"

#include <algorithm>
#include <utility>

namespace lakesync::storage {

MemoryStorage::MemoryStorage(const Clock& clock, std::string name)
    : clock_(clock), name_(std::move(name)) {}

std::string MemoryStorage::Describe(std::string_view path) const {
  return name_ + "/" + std::string(path);
}

Result<MemoryStorage::Entry> MemoryStorage::Get(std::string_view path) const {
  LAKESYNC_RETURN_IF_ERROR(ValidateKey(path));
  std::lock_guard<std::mutex> lock(mu_);
  auto it = files_.find(path);
  if (it == files_.end()) return Status::NotFound(Describe(path) + ": no such file");
  return it->second;
}

Status MemoryStorage::Put(std::string_view path, std::string data, bool replace) {
  LAKESYNC_RETURN_IF_ERROR(ValidateKey(path));
  Entry entry{std::make_shared<const std::string>(std::move(data)), clock_.Now()};
  std::lock_guard<std::mutex> lock(mu_);
  auto [it, inserted] = files_.try_emplace(std::string(path), entry);
  if (!inserted) {
    if (!replace) {
      return Status::AlreadyExists(Describe(path) +
                                   " already exists; it was left unchanged (put-if-absent "
                                   "never replaces a file)");
    }
    it->second = std::move(entry);
  }
  return Status::OK();
}

Result<std::vector<FileInfo>> MemoryStorage::List(const ListOptions& options) {
  LAKESYNC_RETURN_IF_ERROR(ValidateListOptions(options));
  std::vector<FileInfo> out;
  std::lock_guard<std::mutex> lock(mu_);
  // The map is ordered by key, so the matches come out sorted.
  for (auto it = files_.lower_bound(options.prefix);
       it != files_.end() && it->first.compare(0, options.prefix.size(), options.prefix) == 0;
       ++it) {
    if (ListMatches(options, it->first)) {
      out.push_back(FileInfo{it->first, it->second.data->size(), it->second.modification_time});
    }
  }
  return out;
}

Result<FileInfo> MemoryStorage::Stat(std::string_view path) {
  LAKESYNC_ASSIGN_OR_RETURN(Entry entry, Get(path));
  return FileInfo{std::string(path), entry.data->size(), entry.modification_time};
}

Result<std::string> MemoryStorage::Read(std::string_view path) {
  LAKESYNC_ASSIGN_OR_RETURN(Entry entry, Get(path));
  return *entry.data;
}

Result<std::string> MemoryStorage::ReadRange(std::string_view path, uint64_t offset,
                                             uint64_t length) {
  LAKESYNC_ASSIGN_OR_RETURN(Entry entry, Get(path));
  const std::string& data = *entry.data;
  if (offset >= data.size()) return std::string();
  return data.substr(static_cast<size_t>(offset),
                     static_cast<size_t>(std::min<uint64_t>(length, data.size() - offset)));
}

Status MemoryStorage::ReadStream(std::string_view path, const ChunkSink& sink) {
  LAKESYNC_ASSIGN_OR_RETURN(Entry entry, Get(path));
  std::string_view rest = *entry.data;
  while (!rest.empty()) {
    size_t n = std::min(rest.size(), kReadChunkSize);
    LAKESYNC_RETURN_IF_ERROR(sink(rest.substr(0, n)));
    rest.remove_prefix(n);
  }
  return Status::OK();
}

Status MemoryStorage::WriteAtomic(std::string_view path, std::string_view data) {
  return Put(path, std::string(data), /*replace=*/true);
}

Status MemoryStorage::PutIfAbsent(std::string_view path, std::string_view data) {
  return Put(path, std::string(data), /*replace=*/false);
}

Status MemoryStorage::Delete(std::string_view path) {
  LAKESYNC_RETURN_IF_ERROR(ValidateKey(path));
  std::lock_guard<std::mutex> lock(mu_);
  auto it = files_.find(path);
  if (it == files_.end()) return Status::NotFound("deleting " + Describe(path) + ": no such file");
  files_.erase(it);
  return Status::OK();
}

Result<uint64_t> MemoryStorage::Copy(Storage& source, std::string_view from, std::string_view to,
                                     bool replace) {
  LAKESYNC_RETURN_IF_ERROR(ValidateKey(to));
  // Stream rather than Read so a wrapping FaultInjectingStorage sees the same call a local
  // copy would make. The lock is not held here, so `source` may be this storage.
  std::string data;
  Status streamed = source.ReadStream(from, [&](std::string_view chunk) {
    data.append(chunk);
    return Status::OK();
  });
  if (!streamed.ok()) {
    return streamed.WithContext("copying " + source.Describe() + " " + std::string(from) + " to " +
                                Describe(to));
  }
  uint64_t size = data.size();
  LAKESYNC_RETURN_IF_ERROR(Put(to, std::move(data), replace));
  return size;
}

Result<uint64_t> MemoryStorage::CopyFrom(Storage& source, std::string_view from,
                                         std::string_view to) {
  return Copy(source, from, to, /*replace=*/true);
}

Result<uint64_t> MemoryStorage::CopyFromIfAbsent(Storage& source, std::string_view from,
                                                 std::string_view to) {
  return Copy(source, from, to, /*replace=*/false);
}

Status MemoryStorage::SetModificationTime(std::string_view path, TimePoint t) {
  LAKESYNC_RETURN_IF_ERROR(ValidateKey(path));
  std::lock_guard<std::mutex> lock(mu_);
  auto it = files_.find(path);
  if (it == files_.end()) {
    return Status::NotFound("setting the modification time of " + Describe(path) +
                            ": no such file");
  }
  it->second.modification_time = t;
  return Status::OK();
}

}  // namespace lakesync::storage
