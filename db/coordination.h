#pragma once

// How several lakesync processes sharing one PostgreSQL coordinate: job leases with fencing
// tokens, manual run requests (`lakesync trigger`) and their NOTIFY wake-ups.
//
// Leases (table `leases`, one row per job that was ever leased):
// - A lease is live while expires_at > the database's clock; every time comparison uses the
//   database's clock (clock_timestamp()), so runners with skewed clocks agree.
// - AcquireLease succeeds only when no live lease exists; each acquisition increments the row's
//   `token` (it never goes back: releasing keeps the row and only expires it), so the token is
//   a fencing token: a holder that was frozen past its TTL finds a different token and must
//   publish nothing.
// - Several daemons each keep every job's schedule, so each asks for the lease at each tick; a
//   run that ends before the next daemon asks would run once per daemon (and a failing run be
//   retried by each). A scheduled run therefore asks with a TickServed: the lease is refused
//   when another holder's run served the tick already. Each take records the taker's own clock
//   (runner_clock_at) and each release after a run its time (released_at): only a take that
//   ended in such a release serves a tick (a holder that died mid-run, or that did not run the
//   job, served nothing: a daemon whose order for that tick comes later still runs it).
// - RenewLease and CheckLease succeed only while (holder, token) still match AND the lease has
//   not expired. A lease that expired is lost even when nobody took it over: a holder that was
//   frozen past its TTL must stop, since another runner may be about to take the job.
//
// Requests (table `run_requests`): InsertRequest adds a pending row and NOTIFYs channel
// kRequestChannel in the same transaction (the payload is the job name). Daemons LISTEN
// (NotificationListener) and claim pending rows for their jobs with ClaimRequests (FOR UPDATE
// SKIP LOCKED: each request goes to exactly one daemon). A claim expires like a lease: its
// holder refreshes claimed_at (RefreshClaims) until it completes the request, and a claim not
// refreshed for the claim TTL (the claimer was killed or frozen) is taken over by the next
// ClaimRequests, so a request never stays `claimed` by a dead daemon.
//
// Errors: Unavailable (retryable) when PostgreSQL cannot be reached (the next call reconnects);
// InvalidArgument telling to run `lakesync db migrate` when the schema is missing. Messages never
// hold the password.
//
// Thread-safety: Coordination is thread-safe (one connection behind a mutex; with Borrow, the
// mutex of the connection's owner).
// NotificationListener is not: one thread owns it.

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/duration.h"
#include "common/status.h"

struct pg_conn;

namespace lakesync::db {

namespace pg {
class Connection;
}

// The NOTIFY channel of run requests.
inline constexpr std::string_view kRequestChannel = "lakesync_run_requests";

struct LeaseInfo {
  std::string job;
  std::string holder;
  int64_t token = 0;
  TimePoint acquired_at;
  TimePoint expires_at;
  bool live = false;  // expires_at is after the database's clock now
};

// When another runner's run served the schedule tick a scheduled run is for (AcquireLease then
// refuses the lease). Whatever the kind, only a take by another holder that ended in a release
// counts: a holder that died mid-run served nothing, and a daemon's own runs are its
// scheduler's to count.
struct TickServed {
  enum Kind {
    // cron: a take at or after `fire` by the taker's clock (a fire is a time on the clocks of
    // the daemons that fire it), and no earlier than a minute before it by the database's clock
    // (a taker whose clock ran far ahead does not serve fires that are yet to come).
    kTakenAtOrAfterFire = 0,
    // every: a take within `window` (the interval, start to start) before the database's now.
    kTakenWithin = 1,
    // continuous: a release within `window` (the poll) before the database's now.
    kReleasedWithin = 2,
  };
  Kind kind = kTakenAtOrAfterFire;
  TimePoint fire;      // kTakenAtOrAfterFire
  Duration window{0};  // kTakenWithin, kReleasedWithin

  bool operator==(const TickServed&) const = default;
};

// How AcquireLease (with a tick) answered.
struct LeaseGrant {
  std::optional<int64_t> token;  // the new fencing token; nullopt: not taken
  // Not taken because another holder's run served the tick: who, and when it took the lease by
  // its clock. Unset when the lease was not taken for another reason (another live lease).
  std::optional<std::string> served_by;
  std::optional<TimePoint> served_at;
};

// A request as `lakesync trigger --wait` follows it.
struct RunRequest {
  int64_t id = 0;
  std::string job;
  std::string status;  // "pending", "claimed", "done", "cancelled"
  std::string claimed_by;
  std::optional<int64_t> run_id;
  TimePoint requested_at;
  std::optional<TimePoint> claimed_at;
  // GetRequest only: how long ago claimed_at was, by the database's clock (0 when unclaimed).
  Duration claim_age{0};
  // GetRequest only: the linked run's status name and error ("" while there is none).
  std::string run_status;
  std::string run_error;
};

class Coordination {
 public:
  // Connects (see pg::Connection::Open for the errors).
  [[nodiscard]] static Result<std::unique_ptr<Coordination>> Connect(
      std::string_view conninfo, Duration connect_timeout = std::chrono::seconds(5));
  // A Coordination over a connection another object owns, so a process that needs both opens
  // one connection (PgStateStore::BorrowCoordination; `lakesync run`). Every call locks `mu`.
  // REQUIRES: `mu` and `conn` outlive the result, and every other user of `conn` holds `mu`.
  [[nodiscard]] static std::unique_ptr<Coordination> Borrow(std::mutex& mu, pg::Connection& conn);
  ~Coordination();
  Coordination(const Coordination&) = delete;
  Coordination& operator=(const Coordination&) = delete;

  // True when a round trip succeeds (reconnecting once if needed).
  bool Ping();

  // Takes the job's lease for `holder` for `ttl` when no live lease exists. Returns the new
  // fencing token, or nullopt when another live lease holds the job (even one of `holder`: a
  // holder never re-enters its own lease).
  [[nodiscard]] Result<std::optional<int64_t>> AcquireLease(std::string_view job,
                                                            std::string_view holder, Duration ttl);
  // The same, recording `now` (the acquirer's clock) as the lease's runner_clock_at. With `tick`
  // (a scheduled run: Scheduler::TickServedBy), the lease is also refused when another holder's
  // run served the tick (see TickServed); `served_by` then says who.
  [[nodiscard]] Result<LeaseGrant> AcquireLease(std::string_view job, std::string_view holder,
                                                Duration ttl, TimePoint now,
                                                const std::optional<TickServed>& tick);
  // Extends a held lease to now + ttl. Cancelled ("lease lost") when (holder, token) no longer
  // hold a live lease.
  [[nodiscard]] Status RenewLease(std::string_view job, std::string_view holder, int64_t token,
                                  Duration ttl);
  // The fencing check: OK while (holder, token) hold a live lease; Cancelled otherwise, saying
  // who holds it now. `remaining` (when non-null) receives how long the lease was still valid
  // when the database answered: a caller that was paused while the answer travelled (SIGSTOP)
  // compares it with the time the check took and treats a stale answer as a lost lease.
  [[nodiscard]] Status CheckLease(std::string_view job, std::string_view holder, int64_t token,
                                  Duration* remaining = nullptr);
  // Expires the lease now when (holder, token) still hold it (the token stays). With `ran` (the
  // job ran under the lease) the release is recorded (released_at), so the take serves schedule
  // ticks (TickServed); a holder that took the lease but did not run the job says false.
  // Releasing a lease that was lost is not an error.
  [[nodiscard]] Status ReleaseLease(std::string_view job, std::string_view holder, int64_t token,
                                    bool ran = true);
  // The job's lease row (live or not); nullopt when the job was never leased.
  [[nodiscard]] Result<std::optional<LeaseInfo>> GetLease(std::string_view job);

  // Inserts a pending request and NOTIFYs kRequestChannel; returns its id.
  [[nodiscard]] Result<int64_t> InsertRequest(std::string_view job, std::string_view requested_by);
  // Claims for `claimer` (oldest first) every request for one of `jobs` that is pending, or
  // claimed (by anyone) with a claimed_at older than `claim_ttl` (an expired claim: its
  // claimer stopped refreshing it). A taken-over request keeps its run_id until relinked.
  [[nodiscard]] Result<std::vector<RunRequest>> ClaimRequests(const std::vector<std::string>& jobs,
                                                              std::string_view claimer,
                                                              Duration claim_ttl);
  // Sets claimed_at to now for those of `ids` still claimed by `claimer` (the claim heartbeat).
  [[nodiscard]] Status RefreshClaims(const std::vector<int64_t>& ids, std::string_view claimer);
  // Links those of `ids` still claimed by `claimer` to the run that started for them, so
  // `trigger --wait` can show it while it runs.
  [[nodiscard]] Status LinkRequests(const std::vector<int64_t>& ids, std::string_view claimer,
                                    int64_t run_id);
  // Marks claimed requests done, linking them to `run_id` (nullopt: the run was not recorded).
  [[nodiscard]] Status CompleteRequests(const std::vector<int64_t>& ids,
                                        std::optional<int64_t> run_id);
  // Puts claimed requests back to pending (a daemon stopping before running them) and NOTIFYs.
  [[nodiscard]] Status UnclaimRequests(const std::vector<int64_t>& ids);
  // Cancels a request that is still pending; true when it was (false: already claimed). With
  // `expired_claim`, also cancels a request whose claim is older than that (nobody refreshed
  // it: its claimer died and no daemon took it over).
  [[nodiscard]] Result<bool> CancelPendingRequest(
      int64_t id, std::optional<Duration> expired_claim = std::nullopt);
  // NotFound for an unknown id.
  [[nodiscard]] Result<RunRequest> GetRequest(int64_t id);

 private:
  explicit Coordination(std::unique_ptr<pg::Connection> conn);
  Coordination(std::mutex& mu, pg::Connection& conn);
  // REQUIRES: *mu_ held.
  Result<pg::Connection*> ConnLocked();
  // Runs `sql` with $1 = `ids` as a bigint[] and $2... = `args`; OK at once for no ids.
  template <typename... Args>
  Status UpdateRequests(const std::vector<int64_t>& ids, std::string_view sql, const Args&... args);

  std::mutex own_mu_;                         // used when the connection is our own
  std::unique_ptr<pg::Connection> own_conn_;  // null when borrowed
  std::mutex* mu_;                            // &own_mu_, or the lender's
  pg::Connection* conn_;                      // guarded by *mu_
};

// A connection that LISTENs on one channel.
class NotificationListener {
 public:
  [[nodiscard]] static Result<std::unique_ptr<NotificationListener>> Connect(
      std::string_view conninfo, std::string_view channel,
      Duration connect_timeout = std::chrono::seconds(5));
  ~NotificationListener();
  NotificationListener(const NotificationListener&) = delete;
  NotificationListener& operator=(const NotificationListener&) = delete;

  // Waits up to `timeout` for notifications; returns their payloads (empty after the timeout).
  // Unavailable when the connection was lost: call Reconnect (notifications sent meanwhile are
  // lost, so callers also poll the table after reconnecting).
  [[nodiscard]] Result<std::vector<std::string>> Wait(Duration timeout);
  [[nodiscard]] Status Reconnect();

 private:
  NotificationListener(std::string conninfo, std::string channel, Duration connect_timeout);
  Status Open();

  std::string conninfo_;
  std::string redacted_;
  std::string channel_;
  Duration connect_timeout_;
  pg_conn* conn_ = nullptr;
};

}  // namespace lakesync::db
