#pragma once

// MemoryStorage: Storage over an in-process map of key → (bytes, modification time), for tests.
// Same contract as LocalStorage: keys checked by ValidateKey, List sorted and filtered by
// ListMatches, PutIfAbsent / CopyFromIfAbsent never replace (AlreadyExists), writes are
// atomic (a value is swapped in whole), ReadStream hands out chunks of at most kReadChunkSize.
// There are no directories: a key "a" and a key "a/b" may coexist.
//
// Modification times come from the Clock given at construction (ManualClock in tests).
//
// Thread-safety: safe for concurrent use. Sinks passed to ReadStream run without the lock
// held, so they may call back into this storage (CopyFrom within one MemoryStorage works).

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "storage/storage.h"

namespace lakesync::storage {

class MemoryStorage final : public Storage {
 public:
  // `clock` must outlive this object.
  explicit MemoryStorage(const Clock& clock = SystemClock::Instance(),
                         std::string name = "memory://test");

  [[nodiscard]] Result<std::vector<FileInfo>> List(const ListOptions& options) override;
  [[nodiscard]] Result<FileInfo> Stat(std::string_view path) override;
  [[nodiscard]] Result<std::string> Read(std::string_view path) override;
  [[nodiscard]] Result<std::string> ReadRange(std::string_view path, uint64_t offset,
                                              uint64_t length) override;
  [[nodiscard]] Status ReadStream(std::string_view path, const ChunkSink& sink) override;
  [[nodiscard]] Status WriteAtomic(std::string_view path, std::string_view data) override;
  [[nodiscard]] Status PutIfAbsent(std::string_view path, std::string_view data) override;
  [[nodiscard]] Status Delete(std::string_view path) override;
  // Streams the source (any Storage, including this one) into memory, then publishes.
  [[nodiscard]] Result<uint64_t> CopyFrom(Storage& source, std::string_view from,
                                          std::string_view to) override;
  [[nodiscard]] Result<uint64_t> CopyFromIfAbsent(Storage& source, std::string_view from,
                                                  std::string_view to) override;
  [[nodiscard]] Status SetModificationTime(std::string_view path, TimePoint t) override;
  std::string Describe() const override { return name_; }

 private:
  struct Entry {
    // Shared so readers can use the bytes after dropping the lock while a writer replaces
    // the entry.
    std::shared_ptr<const std::string> data;
    TimePoint modification_time;
  };

  Result<Entry> Get(std::string_view path) const;
  Status Put(std::string_view path, std::string data, bool replace);
  Result<uint64_t> Copy(Storage& source, std::string_view from, std::string_view to, bool replace);
  std::string Describe(std::string_view path) const;

  const Clock& clock_;
  const std::string name_;
  mutable std::mutex mu_;
  std::map<std::string, Entry, std::less<>> files_;  // Guarded by mu_.
};

}  // namespace lakesync::storage
