#pragma once

// A job lease held for one run (DESIGN.md: leases and fencing): renewed by a heartbeat thread
// until released. The fencing check asks the database, so a holder that was frozen past its
// TTL finds out before it publishes anything; and the keeper knows, on the steady clock and
// without asking, when the lease may have run out (the last renewal it saw succeed, plus the
// TTL), so a run checks the database before destructive work once that time has passed — a
// process resumed after a pause stops at once, not a heartbeat later.
//
// Thread-safety: every method may be called from any thread.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include "common/duration.h"
#include "common/status.h"
#include "db/coordination.h"

namespace lakesync::db {

class LeaseKeeper {
 public:
  using SteadyTime = std::chrono::steady_clock::time_point;

  // `token`: what AcquireLease returned; `asked`: when that request was sent (the lease runs
  // `ttl` from a moment after it). Starts the heartbeat thread (a renewal every `heartbeat`).
  LeaseKeeper(Coordination& coord, std::string job, std::string holder, int64_t token, Duration ttl,
              Duration heartbeat, SteadyTime asked);
  ~LeaseKeeper();  // Release()
  LeaseKeeper(const LeaseKeeper&) = delete;
  LeaseKeeper& operator=(const LeaseKeeper&) = delete;

  int64_t token() const { return token_; }
  // Whether a check or a renewal found the lease lost (taken over, or expired).
  bool lost() const { return lost_.load(); }
  // Whether the lease may have run out by now as far as this process knows: no renewal or
  // check it saw succeed covers the present. Then only a Check() can tell (and it asks).
  bool PastValidity() const;

  // OK while this holder still has the lease (database check); Cancelled once it was lost
  // (also when the answer came back later than the validity it reported); other errors when
  // the database cannot be asked.
  Status Check();

  // Stops the heartbeat and expires the lease (when still held). Idempotent. `ran`: whether
  // the job ran under it (see Coordination::ReleaseLease); the destructor says true.
  void Release(bool ran = true);

 private:
  std::string LostReason();
  void MarkLost(const std::string& why);
  void ValidUntil(SteadyTime t);
  void Beat();

  Coordination& coord_;
  const std::string job_;
  const std::string holder_;
  const int64_t token_;
  const Duration ttl_;
  const Duration heartbeat_;
  std::atomic<int64_t> valid_until_ns_;  // steady clock, since its epoch
  std::mutex mu_;
  std::condition_variable cv_;
  bool released_ = false;  // guarded by mu_
  std::atomic<bool> lost_{false};
  std::string lost_reason_;  // guarded by mu_
  std::thread thread_;
};

}  // namespace lakesync::db
