#include "storage/fault_storage.h"

#include <algorithm>
#include <cerrno>
#include <utility>

namespace lakesync::storage {

namespace {

size_t Index(FaultInjectingStorage::Op op) { return static_cast<size_t>(op); }

// A source that passes `limit` bytes of any stream and then fails with `error`. Handed to the
// wrapped storage's CopyFrom, it makes a copy break off mid-way exactly as a full disk or a
// torn write would, so the wrapped storage's real cleanup path runs.
class BreakingSource final : public Storage {
 public:
  BreakingSource(Storage& source, uint64_t limit, Status error)
      : source_(source), limit_(limit), error_(std::move(error)) {}

  Status ReadStream(std::string_view path, const ChunkSink& sink) override {
    uint64_t passed = 0;
    return source_.ReadStream(path, [&](std::string_view chunk) -> Status {
      if (passed + chunk.size() <= limit_) {
        passed += chunk.size();
        return sink(chunk);
      }
      size_t keep = static_cast<size_t>(limit_ - passed);
      passed = limit_;
      if (keep > 0) LAKESYNC_RETURN_IF_ERROR(sink(chunk.substr(0, keep)));
      return error_;
    });
  }

  // Everything else is the source's own behaviour.
  Result<std::vector<FileInfo>> List(const ListOptions& options) override {
    return source_.List(options);
  }
  Result<FileInfo> Stat(std::string_view path) override { return source_.Stat(path); }
  Result<std::string> Read(std::string_view path) override { return source_.Read(path); }
  Result<std::string> ReadRange(std::string_view path, uint64_t offset, uint64_t length) override {
    return source_.ReadRange(path, offset, length);
  }
  Status WriteAtomic(std::string_view path, std::string_view data) override {
    return source_.WriteAtomic(path, data);
  }
  Status PutIfAbsent(std::string_view path, std::string_view data) override {
    return source_.PutIfAbsent(path, data);
  }
  Status Delete(std::string_view path) override { return source_.Delete(path); }
  Result<uint64_t> CopyFrom(Storage& source, std::string_view from, std::string_view to) override {
    return source_.CopyFrom(source, from, to);
  }
  Result<uint64_t> CopyFromIfAbsent(Storage& source, std::string_view from,
                                    std::string_view to) override {
    return source_.CopyFromIfAbsent(source, from, to);
  }
  Result<uint64_t> CopyFromDeferred(Storage& source, std::string_view from,
                                    std::string_view to) override {
    return source_.CopyFromDeferred(source, from, to);
  }
  Result<uint64_t> CopyFromDeferredIfAbsent(Storage& source, std::string_view from,
                                            std::string_view to) override {
    return source_.CopyFromDeferredIfAbsent(source, from, to);
  }
  Status SyncAll() override { return source_.SyncAll(); }
  void OweSync(std::string_view path) override { source_.OweSync(path); }
  Status SetModificationTime(std::string_view path, TimePoint t) override {
    return source_.SetModificationTime(path, t);
  }
  std::string Describe() const override { return source_.Describe(); }

 private:
  Storage& source_;
  const uint64_t limit_;
  const Status error_;
};

}  // namespace

std::string_view FaultInjectingStorage::OpName(Op op) {
  switch (op) {
    case Op::kList:
      return "List";
    case Op::kStat:
      return "Stat";
    case Op::kRead:
      return "Read";
    case Op::kReadRange:
      return "ReadRange";
    case Op::kReadStream:
      return "ReadStream";
    case Op::kWriteAtomic:
      return "WriteAtomic";
    case Op::kPutIfAbsent:
      return "PutIfAbsent";
    case Op::kDelete:
      return "Delete";
    case Op::kCopy:
      return "Copy";
    case Op::kSetModificationTime:
      return "SetModificationTime";
    case Op::kSyncAll:
      return "SyncAll";
    case Op::kOweSync:
      return "OweSync";
  }
  return "Unknown";
}

FaultInjectingStorage::FaultInjectingStorage(Storage& base) : base_(base) {}

void FaultInjectingStorage::FailNth(Op op, int n, Status status) {
  std::lock_guard<std::mutex> lock(mu_);
  nth_.push_back(NthFault{op, calls_[Index(op)] + std::max(n, 1), std::move(status), {}});
}

void FaultInjectingStorage::FailAll(Op op, Status status) {
  std::lock_guard<std::mutex> lock(mu_);
  fail_all_[Index(op)] = std::move(status);
}

void FaultInjectingStorage::ShortWrite(Op op, int n, uint64_t bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  nth_.push_back(NthFault{op, calls_[Index(op)] + std::max(n, 1), Status::OK(), bytes});
}

void FaultInjectingStorage::NoSpaceAfterBytes(uint64_t budget) {
  std::lock_guard<std::mutex> lock(mu_);
  budget_ = budget;
}

void FaultInjectingStorage::Clear() {
  std::lock_guard<std::mutex> lock(mu_);
  fail_all_.fill(std::nullopt);
  nth_.clear();
  budget_.reset();
  hidden_.clear();
}

void FaultInjectingStorage::HideFromNextStat(std::string path) {
  std::lock_guard<std::mutex> lock(mu_);
  hidden_.insert(std::move(path));
}

int FaultInjectingStorage::Calls(Op op) const {
  std::lock_guard<std::mutex> lock(mu_);
  return calls_[Index(op)];
}

uint64_t FaultInjectingStorage::BytesWritten() const {
  std::lock_guard<std::mutex> lock(mu_);
  return written_;
}

void FaultInjectingStorage::AddWritten(uint64_t bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  written_ += bytes;
}

FaultInjectingStorage::Plan FaultInjectingStorage::Begin(Op op) {
  std::lock_guard<std::mutex> lock(mu_);
  int call = ++calls_[Index(op)];
  Plan plan;
  if (const auto& all = fail_all_[Index(op)]; all.has_value()) {
    plan.fail = all->ok() ? Status::Internal("FailAll configured with an OK status") : *all;
    return plan;
  }
  for (auto it = nth_.begin(); it != nth_.end(); ++it) {
    if (it->op != op || it->call != call) continue;
    if (it->short_bytes.has_value()) {
      plan.short_bytes = it->short_bytes;
    } else {
      plan.fail =
          it->status.ok() ? Status::Internal("FailNth configured with an OK status") : it->status;
    }
    nth_.erase(it);
    break;
  }
  if (budget_.has_value()) plan.space_left = *budget_ > written_ ? *budget_ - written_ : 0;
  return plan;
}

Status FaultInjectingStorage::CheckWrite(const Plan& plan, std::string_view path,
                                         uint64_t size) const {
  if (plan.short_bytes.has_value()) {
    return Status::IOError("short write (injected): only " +
                           std::to_string(std::min(*plan.short_bytes, size)) + " of " +
                           std::to_string(size) + " bytes of " + std::string(path) + " in " +
                           base_.Describe() + " were written; nothing was published");
  }
  if (plan.space_left.has_value() && size > *plan.space_left) {
    return Status::FromErrno(ENOSPC, "writing " + std::string(path) + " in " + base_.Describe() +
                                         " (injected: byte budget exhausted)");
  }
  return Status::OK();
}

Status FaultInjectingStorage::Write(Op op, std::string_view path, std::string_view data) {
  Plan plan = Begin(op);
  LAKESYNC_RETURN_IF_ERROR(plan.fail);
  LAKESYNC_RETURN_IF_ERROR(CheckWrite(plan, path, data.size()));
  Status s = op == Op::kWriteAtomic ? base_.WriteAtomic(path, data) : base_.PutIfAbsent(path, data);
  if (s.ok()) AddWritten(data.size());
  return s;
}

Result<uint64_t> FaultInjectingStorage::Copy(Storage& source, std::string_view from,
                                             std::string_view to, CopyKind kind) {
  Plan plan = Begin(Op::kCopy);
  LAKESYNC_RETURN_IF_ERROR(plan.fail);
  // The size is unknown until the stream ends, so a short write or the budget becomes a source
  // that breaks off at the limit with the error the check would give for one byte more.
  std::optional<uint64_t> limit;
  Status error;
  if (plan.short_bytes.has_value()) {
    limit = plan.short_bytes;
    error = Status::IOError("short write (injected): copying " + std::string(from) + " to " +
                            std::string(to) + " in " + base_.Describe() + " broke off after " +
                            std::to_string(*limit) + " bytes; nothing was published");
  } else if (plan.space_left.has_value()) {
    limit = plan.space_left;
    error = CheckWrite(plan, to, *limit + 1);
  }
  std::optional<BreakingSource> breaking;
  if (limit.has_value()) breaking.emplace(source, *limit, error);
  Storage& from_storage = breaking.has_value() ? *breaking : source;
  Result<uint64_t> copied = uint64_t{0};
  switch (kind) {
    case CopyKind::kReplace:
      copied = base_.CopyFrom(from_storage, from, to);
      break;
    case CopyKind::kIfAbsent:
      copied = base_.CopyFromIfAbsent(from_storage, from, to);
      break;
    case CopyKind::kDeferred:
      copied = base_.CopyFromDeferred(from_storage, from, to);
      break;
    case CopyKind::kDeferredIfAbsent:
      copied = base_.CopyFromDeferredIfAbsent(from_storage, from, to);
      break;
  }
  if (copied.ok()) AddWritten(*copied);
  return copied;
}

Result<std::vector<FileInfo>> FaultInjectingStorage::List(const ListOptions& options) {
  LAKESYNC_RETURN_IF_ERROR(Begin(Op::kList).fail);
  return base_.List(options);
}

Result<FileInfo> FaultInjectingStorage::Stat(std::string_view path) {
  LAKESYNC_RETURN_IF_ERROR(Begin(Op::kStat).fail);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = hidden_.find(path); it != hidden_.end()) {
      hidden_.erase(it);
      return Status::NotFound(std::string(path) + " not found (hidden from this Stat, test)");
    }
  }
  return base_.Stat(path);
}

Result<std::string> FaultInjectingStorage::Read(std::string_view path) {
  LAKESYNC_RETURN_IF_ERROR(Begin(Op::kRead).fail);
  return base_.Read(path);
}

Result<std::string> FaultInjectingStorage::ReadRange(std::string_view path, uint64_t offset,
                                                     uint64_t length) {
  LAKESYNC_RETURN_IF_ERROR(Begin(Op::kReadRange).fail);
  return base_.ReadRange(path, offset, length);
}

Status FaultInjectingStorage::ReadStream(std::string_view path, const ChunkSink& sink) {
  LAKESYNC_RETURN_IF_ERROR(Begin(Op::kReadStream).fail);
  return base_.ReadStream(path, sink);
}

Status FaultInjectingStorage::WriteAtomic(std::string_view path, std::string_view data) {
  return Write(Op::kWriteAtomic, path, data);
}

Status FaultInjectingStorage::PutIfAbsent(std::string_view path, std::string_view data) {
  return Write(Op::kPutIfAbsent, path, data);
}

Status FaultInjectingStorage::Delete(std::string_view path) {
  LAKESYNC_RETURN_IF_ERROR(Begin(Op::kDelete).fail);
  return base_.Delete(path);
}

Result<uint64_t> FaultInjectingStorage::CopyFrom(Storage& source, std::string_view from,
                                                 std::string_view to) {
  return Copy(source, from, to, CopyKind::kReplace);
}

Result<uint64_t> FaultInjectingStorage::CopyFromIfAbsent(Storage& source, std::string_view from,
                                                         std::string_view to) {
  return Copy(source, from, to, CopyKind::kIfAbsent);
}

Result<uint64_t> FaultInjectingStorage::CopyFromDeferred(Storage& source, std::string_view from,
                                                         std::string_view to) {
  return Copy(source, from, to, CopyKind::kDeferred);
}

Result<uint64_t> FaultInjectingStorage::CopyFromDeferredIfAbsent(Storage& source,
                                                                 std::string_view from,
                                                                 std::string_view to) {
  return Copy(source, from, to, CopyKind::kDeferredIfAbsent);
}

Status FaultInjectingStorage::SyncAll() {
  LAKESYNC_RETURN_IF_ERROR(Begin(Op::kSyncAll).fail);
  return base_.SyncAll();
}

void FaultInjectingStorage::OweSync(std::string_view path) {
  (void)Begin(Op::kOweSync);
  base_.OweSync(path);
}

Status FaultInjectingStorage::SetModificationTime(std::string_view path, TimePoint t) {
  LAKESYNC_RETURN_IF_ERROR(Begin(Op::kSetModificationTime).fail);
  return base_.SetModificationTime(path, t);
}

std::string FaultInjectingStorage::Describe() const { return base_.Describe(); }

}  // namespace lakesync::storage
