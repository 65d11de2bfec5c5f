#pragma once

// FaultInjectingStorage: wraps another Storage and makes chosen calls fail, for tests of
// what callers do when storage misbehaves (in the spirit of LevelDB's fault-injection Env).
//
// Every call is counted per operation kind (Op) and then checked against the configured
// faults, in this order: FailAll, FailNth / ShortWrite, the no-space budget. A failing call
// returns its Status without reaching the wrapped storage, except for copies, which reach it
// with a source that breaks off mid-stream so the wrapped storage's own cleanup of a partial
// copy is exercised. In every case the wrapped storage never publishes partial data.
//
// LocalPath() returns nullopt, so a copy *from* this storage always streams through
// ReadStream and read faults apply to it.
//
// Thread-safety: safe for concurrent use; configuration may change while calls are running
// (a call sees the configuration as it was when the call began). The byte budget is checked
// per call, so concurrent copies may together overshoot it slightly.

#include <array>
#include <cstdint>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "storage/storage.h"

namespace lakesync::storage {

class FaultInjectingStorage final : public Storage {
 public:
  enum class Op {
    kList,
    kStat,
    kRead,
    kReadRange,
    kReadStream,
    kWriteAtomic,
    kPutIfAbsent,
    kDelete,
    kCopy,  // CopyFrom, CopyFromIfAbsent, CopyFromDeferred and CopyFromDeferredIfAbsent
    kSetModificationTime,
    kSyncAll,
    kOweSync,  // counted only: it cannot fail
  };
  static constexpr int kOpCount = 12;
  static std::string_view OpName(Op op);

  // `base` must outlive this object.
  explicit FaultInjectingStorage(Storage& base);

  // The n-th call of `op` made after this one (n = 1: the very next) fails with `status`
  // (which must not be OK). Several may be pending for one op.
  void FailNth(Op op, int n, Status status);
  // Every call of `op` fails with `status` until Clear().
  void FailAll(Op op, Status status);
  // The n-th call of write op `op` (kWriteAtomic, kPutIfAbsent or kCopy) fails as a torn
  // write would after `bytes` bytes: IOError, and nothing is published.
  void ShortWrite(Op op, int n, uint64_t bytes);
  // Once the bytes published by successful writes and copies through this wrapper would
  // exceed `budget`, writes fail with an ENOSPC IOError ("No space left on device") and
  // publish nothing. Counts from the bytes already written.
  void NoSpaceAfterBytes(uint64_t budget);
  // The next Stat of `path` answers NotFound whether or not it exists: what a writer sees when
  // another writer creates the file right after its Stat.
  void HideFromNextStat(std::string path);
  // Removes every fault (counters are kept).
  void Clear();

  // Calls of `op` since construction, failed ones included.
  int Calls(Op op) const;
  // Bytes published through WriteAtomic, PutIfAbsent and copies.
  uint64_t BytesWritten() const;

  [[nodiscard]] Result<std::vector<FileInfo>> List(const ListOptions& options) override;
  [[nodiscard]] Result<FileInfo> Stat(std::string_view path) override;
  [[nodiscard]] Result<std::string> Read(std::string_view path) override;
  [[nodiscard]] Result<std::string> ReadRange(std::string_view path, uint64_t offset,
                                              uint64_t length) override;
  [[nodiscard]] Status ReadStream(std::string_view path, const ChunkSink& sink) override;
  [[nodiscard]] Status WriteAtomic(std::string_view path, std::string_view data) override;
  [[nodiscard]] Status PutIfAbsent(std::string_view path, std::string_view data) override;
  [[nodiscard]] Status Delete(std::string_view path) override;
  [[nodiscard]] Result<uint64_t> CopyFrom(Storage& source, std::string_view from,
                                          std::string_view to) override;
  [[nodiscard]] Result<uint64_t> CopyFromIfAbsent(Storage& source, std::string_view from,
                                                  std::string_view to) override;
  [[nodiscard]] Result<uint64_t> CopyFromDeferred(Storage& source, std::string_view from,
                                                  std::string_view to) override;
  [[nodiscard]] Result<uint64_t> CopyFromDeferredIfAbsent(Storage& source, std::string_view from,
                                                          std::string_view to) override;
  // Counted as kSyncAll; FailNth/FailAll make it fail without reaching the wrapped storage.
  [[nodiscard]] Status SyncAll() override;
  void OweSync(std::string_view path) override;
  [[nodiscard]] Status SetModificationTime(std::string_view path, TimePoint t) override;
  std::string Describe() const override;

 private:
  struct NthFault {
    Op op;
    int call;                             // fires when Calls(op) reaches this
    Status status;                        // for FailNth
    std::optional<uint64_t> short_bytes;  // for ShortWrite
  };
  // What one call must do.
  struct Plan {
    Status fail;                          // not OK: fail outright
    std::optional<uint64_t> short_bytes;  // a torn write after this many bytes
    std::optional<uint64_t> space_left;   // bytes left under the budget
  };

  Plan Begin(Op op);
  Status CheckWrite(const Plan& plan, std::string_view path, uint64_t size) const;
  Status Write(Op op, std::string_view path, std::string_view data);
  enum class CopyKind { kReplace, kIfAbsent, kDeferred, kDeferredIfAbsent };
  Result<uint64_t> Copy(Storage& source, std::string_view from, std::string_view to, CopyKind kind);
  void AddWritten(uint64_t bytes);

  Storage& base_;
  mutable std::mutex mu_;
  std::array<int, kOpCount> calls_{};                       // Guarded by mu_.
  std::array<std::optional<Status>, kOpCount> fail_all_{};  // Guarded by mu_.
  std::vector<NthFault> nth_;                               // Guarded by mu_.
  std::optional<uint64_t> budget_;                          // Guarded by mu_.
  uint64_t written_ = 0;                                    // Guarded by mu_.
  std::set<std::string, std::less<>> hidden_;               // Guarded by mu_.
};

}  // namespace lakesync::storage
