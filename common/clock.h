#pragma once

// Time is an argument: code that needs "now" takes a Clock, so tests advance a ManualClock
// instead of sleeping.
//
// Thread-safety: SystemClock is stateless; ManualClock is safe to read and advance from
// several threads.

#include <atomic>
#include <chrono>

namespace lakesync {

using TimePoint = std::chrono::system_clock::time_point;

class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock time (UTC). Used for schedules, timestamps and lag.
  virtual TimePoint Now() const = 0;
};

class SystemClock final : public Clock {
 public:
  TimePoint Now() const override { return std::chrono::system_clock::now(); }
  // A process-wide instance.
  static const SystemClock& Instance();
};

class ManualClock final : public Clock {
 public:
  explicit ManualClock(TimePoint start) : now_(start.time_since_epoch().count()) {}
  TimePoint Now() const override {
    return TimePoint(TimePoint::duration(now_.load(std::memory_order_acquire)));
  }
  void Set(TimePoint t) { now_.store(t.time_since_epoch().count(), std::memory_order_release); }
  void Advance(std::chrono::nanoseconds d) {
    now_.fetch_add(std::chrono::duration_cast<TimePoint::duration>(d).count(),
                   std::memory_order_acq_rel);
  }

 private:
  std::atomic<TimePoint::duration::rep> now_;
};

// Milliseconds since the Unix epoch, the unit Delta uses for timestamps.
inline int64_t ToUnixMillis(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}
// Saturates outside what a TimePoint can hold (about the years 1678 to 2262), so a hostile
// timestamp in a log or a file can never overflow.
inline TimePoint FromUnixMillis(int64_t ms) {
  constexpr int64_t kLimit =
      std::chrono::duration_cast<std::chrono::milliseconds>(TimePoint::duration::max()).count();
  ms = ms > kLimit ? kLimit : ms < -kLimit ? -kLimit : ms;
  return TimePoint(std::chrono::duration_cast<TimePoint::duration>(std::chrono::milliseconds(ms)));
}

}  // namespace lakesync
