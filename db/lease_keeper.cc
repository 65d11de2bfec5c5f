#include "db/lease_keeper.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace lakesync::db {
namespace {

int64_t Nanos(LeaseKeeper::SteadyTime t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

}  // namespace

LeaseKeeper::LeaseKeeper(Coordination& coord, std::string job, std::string holder, int64_t token,
                         Duration ttl, Duration heartbeat, SteadyTime asked)
    : coord_(coord),
      job_(std::move(job)),
      holder_(std::move(holder)),
      token_(token),
      ttl_(ttl),
      heartbeat_(heartbeat),
      valid_until_ns_(Nanos(asked + ttl)) {
  thread_ = std::thread([this] { Beat(); });
}

LeaseKeeper::~LeaseKeeper() { Release(); }

bool LeaseKeeper::PastValidity() const {
  return Nanos(std::chrono::steady_clock::now()) >= valid_until_ns_.load();
}

void LeaseKeeper::ValidUntil(SteadyTime t) {
  // Answers can arrive out of order (a check and a renewal): keep the latest validity.
  int64_t want = Nanos(t);
  int64_t cur = valid_until_ns_.load();
  while (want > cur && !valid_until_ns_.compare_exchange_weak(cur, want)) {
  }
}

Status LeaseKeeper::Check() {
  if (lost_) return Status::Cancelled(LostReason());
  const auto asked = std::chrono::steady_clock::now();
  Duration remaining{0};
  Status s = coord_.CheckLease(job_, holder_, token_, &remaining);
  // An answer older than the validity it reports is stale: this process was paused (or the
  // network stalled) while it travelled, and the lease may have passed to another runner.
  if (s.ok() && std::chrono::steady_clock::now() - asked >= remaining) {
    s = Status::Cancelled(fmt::format(
        "lease lost: the lease check of job {} took longer than the {} the lease had left "
        "(was this process paused?); publishing nothing more",
        job_, FormatDuration(remaining)));
  }
  if (s.ok()) ValidUntil(asked + remaining);
  if (s.code() == StatusCode::kCancelled) MarkLost(s.message());
  return s;
}

void LeaseKeeper::Release(bool ran) {
  {
    std::lock_guard lock(mu_);
    if (released_) return;
    released_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (!lost_) {
    if (Status s = coord_.ReleaseLease(job_, holder_, token_, ran); !s.ok()) {
      spdlog::warn("{}: releasing the lease: {} (it expires by itself within {})", job_,
                   s.message(), FormatDuration(ttl_));
    }
  }
}

std::string LeaseKeeper::LostReason() {
  std::lock_guard lock(mu_);
  return lost_reason_;
}

void LeaseKeeper::MarkLost(const std::string& why) {
  std::lock_guard lock(mu_);
  if (!lost_) {
    lost_reason_ = why;
    lost_ = true;
    spdlog::error("{}: {}", job_, why);
  }
}

void LeaseKeeper::Beat() {
  std::unique_lock lock(mu_);
  while (!released_) {
    cv_.wait_for(lock, heartbeat_, [&] { return released_; });
    if (released_ || lost_) return;
    lock.unlock();
    const auto sent = std::chrono::steady_clock::now();
    Status s = coord_.RenewLease(job_, holder_, token_, ttl_);
    if (s.ok()) {
      ValidUntil(sent + ttl_);  // the database set the expiry after `sent`
    } else if (s.code() == StatusCode::kCancelled) {
      MarkLost(s.message());
    } else {
      spdlog::warn("{}: lease heartbeat failed: {}; retrying", job_, s.message());
    }
    lock.lock();
  }
}

}  // namespace lakesync::db
