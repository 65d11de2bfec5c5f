#pragma once

// Status and Result<T>: how every lakesync function reports failure.
//
// A Status carries a code, a message, a retryable bit and a context chain. Context is added
// from the inside out as the error travels up, so the final message reads from the outermost
// operation to the root cause:
//   "copying part-0001.parquet: writing target: No space left on device".
//
// Thread-safety: values; safe to copy between threads.

#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

namespace lakesync {

enum class StatusCode {
  kOk = 0,
  kNotFound,
  kInvalidArgument,
  kCorruption,
  kConflict,       // e.g. a Delta version that already exists (put-if-absent lost)
  kAlreadyExists,  // a file that must not be overwritten is already there
  kIOError,
  kUnavailable,  // a service (PostgreSQL, a region) cannot be reached right now
  kCancelled,
  kUnsupported,  // a valid input lakesync does not handle (a Delta feature, a URL scheme)
  kInternal,
};

std::string_view StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK

  static Status OK() { return Status(); }
  static Status NotFound(std::string msg) { return Status(StatusCode::kNotFound, std::move(msg)); }
  static Status InvalidArgument(std::string msg) {
    return Status(StatusCode::kInvalidArgument, std::move(msg));
  }
  static Status Corruption(std::string msg) {
    return Status(StatusCode::kCorruption, std::move(msg));
  }
  static Status Conflict(std::string msg) { return Status(StatusCode::kConflict, std::move(msg)); }
  static Status AlreadyExists(std::string msg) {
    return Status(StatusCode::kAlreadyExists, std::move(msg));
  }
  // I/O errors are retryable by default (a full disk or a flaky mount may recover).
  static Status IOError(std::string msg) {
    return Status(StatusCode::kIOError, std::move(msg), /*retryable=*/true);
  }
  static Status Unavailable(std::string msg) {
    return Status(StatusCode::kUnavailable, std::move(msg), /*retryable=*/true);
  }
  static Status Cancelled(std::string msg) {
    return Status(StatusCode::kCancelled, std::move(msg));
  }
  static Status Unsupported(std::string msg) {
    return Status(StatusCode::kUnsupported, std::move(msg));
  }
  static Status Internal(std::string msg) { return Status(StatusCode::kInternal, std::move(msg)); }

  // From an errno value: ENOENT → NotFound, EEXIST → AlreadyExists, otherwise IOError.
  static Status FromErrno(int err, std::string_view what);

  Status(StatusCode code, std::string msg, bool retryable = false)
      : code_(code), message_(std::move(msg)), retryable_(retryable) {}

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  bool retryable() const { return retryable_; }
  // The full message including context, without the code name.
  const std::string& message() const { return message_; }

  bool IsNotFound() const { return code_ == StatusCode::kNotFound; }
  bool IsAlreadyExists() const { return code_ == StatusCode::kAlreadyExists; }
  bool IsConflict() const { return code_ == StatusCode::kConflict; }

  // Returns a copy whose message is "context: message". OK stays OK.
  Status WithContext(std::string_view context) const;
  Status WithRetryable(bool retryable) const;

  // "NotFound: copying x: no such file". "OK" for success.
  std::string ToString() const;

  // Marks a status as deliberately ignored (a best-effort cleanup).
  void IgnoreError() const {}

  friend bool operator==(const Status& a, const Status& b) {
    return a.code_ == b.code_ && a.message_ == b.message_;
  }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
  bool retryable_ = false;
};

std::ostream& operator<<(std::ostream& os, const Status& s);

// Result<T>: a T or a non-OK Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : data_(std::move(value)) {}        // NOLINT(google-explicit-constructor)
  Result(Status status) : data_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    if (std::get<Status>(data_).ok()) {
      data_ = Status::Internal("Result constructed from an OK status without a value");
    }
  }
  template <typename U, typename = std::enable_if_t<std::is_constructible_v<T, U&&> &&
                                                    !std::is_same_v<std::decay_t<U>, Status> &&
                                                    !std::is_same_v<std::decay_t<U>, T>>>
  Result(U&& value) : data_(T(std::forward<U>(value))) {}  // NOLINT

  bool ok() const { return std::holds_alternative<T>(data_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(data_);
  }
  // REQUIRES: ok().
  T& value() & { return std::get<T>(data_); }
  const T& value() const& { return std::get<T>(data_); }
  T&& value() && { return std::get<T>(std::move(data_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  T value_or(T fallback) const& { return ok() ? value() : std::move(fallback); }

 private:
  std::variant<T, Status> data_;
};

}  // namespace lakesync

#define LAKESYNC_CONCAT_INNER(a, b) a##b
#define LAKESYNC_CONCAT(a, b) LAKESYNC_CONCAT_INNER(a, b)

// Returns the status from the enclosing function when `expr` (a Status) is not OK.
#define LAKESYNC_RETURN_IF_ERROR(expr)                   \
  do {                                                   \
    ::lakesync::Status lakesync_status_ = (expr);        \
    if (!lakesync_status_.ok()) return lakesync_status_; \
  } while (0)

// Same, adding context to the message.
#define LAKESYNC_RETURN_IF_ERROR_CTX(expr, ctx)                           \
  do {                                                                    \
    ::lakesync::Status lakesync_status_ = (expr);                         \
    if (!lakesync_status_.ok()) return lakesync_status_.WithContext(ctx); \
  } while (0)

// `LAKESYNC_ASSIGN_OR_RETURN(auto x, Foo());` declares x from a Result, or returns its status.
#define LAKESYNC_ASSIGN_OR_RETURN(lhs, expr) \
  LAKESYNC_ASSIGN_OR_RETURN_IMPL(LAKESYNC_CONCAT(lakesync_result_, __LINE__), lhs, expr)
#define LAKESYNC_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                   \
  if (!tmp.ok()) return tmp.status();                  \
  lhs = std::move(tmp).value()
