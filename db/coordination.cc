#include "db/coordination.h"

#include <fmt/format.h>
#include <libpq-fe.h>
#include <poll.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "common/redact.h"
#include "db/lease_sql.h"
#include "db/pg.h"

namespace lakesync::db {
namespace {

int64_t Millis(Duration d) { return std::max<int64_t>(d.count(), 1); }

// A text[] literal for job names (quoted, so any name is safe).
std::string TextArray(const std::vector<std::string>& items) {
  std::string out = "{";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += ',';
    out += '"';
    for (char c : items[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  out += '}';
  return out;
}

std::string IdArray(const std::vector<int64_t>& ids) {
  std::string out = "{";
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i > 0) out += ',';
    out += std::to_string(ids[i]);
  }
  out += '}';
  return out;
}

Result<RunRequest> RequestFromRow(const pg::Rows& rows, int r) {
  // Columns: id, job, status, claimed_by, run_id, requested_at, claimed_at.
  RunRequest req;
  LAKESYNC_ASSIGN_OR_RETURN(req.id, rows.Int64(r, 0));
  req.job = std::string(rows.Text(r, 1));
  req.status = std::string(rows.Text(r, 2));
  if (!rows.IsNull(r, 3)) req.claimed_by = std::string(rows.Text(r, 3));
  LAKESYNC_ASSIGN_OR_RETURN(req.run_id, rows.OptionalInt64(r, 4));
  LAKESYNC_ASSIGN_OR_RETURN(req.requested_at, rows.Time(r, 5));
  LAKESYNC_ASSIGN_OR_RETURN(req.claimed_at, rows.OptionalTime(r, 6));
  return req;
}

// The columns RequestFromRow reads, in its order (times as epoch milliseconds, which
// pg::Rows::Time reads).
#define LAKESYNC_REQUEST_COLUMNS                                                             \
  "id, job, status, claimed_by, run_id, (extract(epoch from requested_at) * 1000)::bigint, " \
  "(extract(epoch from claimed_at) * 1000)::bigint"

}  // namespace

Coordination::Coordination(std::unique_ptr<pg::Connection> conn)
    : own_conn_(std::move(conn)), mu_(&own_mu_), conn_(own_conn_.get()) {}
Coordination::Coordination(std::mutex& mu, pg::Connection& conn) : mu_(&mu), conn_(&conn) {}
Coordination::~Coordination() = default;

Result<std::unique_ptr<Coordination>> Coordination::Connect(std::string_view conninfo,
                                                            Duration connect_timeout) {
  LAKESYNC_ASSIGN_OR_RETURN(auto conn, pg::Connection::Open(conninfo, connect_timeout));
  return std::unique_ptr<Coordination>(new Coordination(std::move(conn)));
}

std::unique_ptr<Coordination> Coordination::Borrow(std::mutex& mu, pg::Connection& conn) {
  return std::unique_ptr<Coordination>(new Coordination(mu, conn));
}

Result<pg::Connection*> Coordination::ConnLocked() {
  // An idle session the server ended (a restart, a failover, a terminated backend) is found
  // here, without a round trip, and replaced before the statement fails on it.
  if (conn_->broken() || !conn_->StillConnected()) {
    spdlog::warn("coordination: connection to {} was lost; reconnecting",
                 conn_->redacted_conninfo());
    LAKESYNC_RETURN_IF_ERROR(conn_->Reset());
  }
  return conn_;
}

bool Coordination::Ping() {
  std::lock_guard lock(*mu_);
  auto conn = ConnLocked();
  if (!conn.ok()) return false;
  return (*conn)->Query("SELECT 1").ok();
}

Result<std::optional<int64_t>> Coordination::AcquireLease(std::string_view job,
                                                          std::string_view holder, Duration ttl) {
  LAKESYNC_ASSIGN_OR_RETURN(LeaseGrant grant,
                            AcquireLease(job, holder, ttl, SystemClock::Instance().Now(),
                                         /*tick=*/std::nullopt));
  return grant.token;
}

Result<LeaseGrant> Coordination::AcquireLease(std::string_view job, std::string_view holder,
                                              Duration ttl, TimePoint now,
                                              const std::optional<TickServed>& tick) {
  // Whether the lease row `l` records a run that served the tick ($4 kind, $5 fire, $6 window;
  // see TickServed): another holder's take that ended in a release, and that counts for the
  // kind. NULL columns (a lease taken before schema version 2) make it false.
  static constexpr std::string_view kServed =
      "coalesce($4::int IS NOT NULL AND l.holder <> $2 AND l.released_at >= l.acquired_at AND "
      "CASE $4::int "
      "WHEN 0 THEN l.runner_clock_at >= to_timestamp($5::double precision / 1000) AND "
      "l.acquired_at >= to_timestamp($5::double precision / 1000) - interval '1 minute' "
      "WHEN 1 THEN l.acquired_at > clock_timestamp() - $6::bigint * interval '1 millisecond' "
      "ELSE l.released_at > clock_timestamp() - $6::bigint * interval '1 millisecond' END, "
      "false)";
  std::optional<int> kind;
  std::optional<TimePoint> fire;
  std::optional<int64_t> window;
  if (tick) {
    kind = static_cast<int>(tick->kind);
    fire = tick->fire;
    window = tick->window.count();
  }
  std::lock_guard lock(*mu_);
  LAKESYNC_ASSIGN_OR_RETURN(pg::Connection * conn, ConnLocked());
  // One statement. A concurrent acquirer of a new job waits for the inserter's row lock, then
  // re-checks the WHERE against the inserted (live) row and updates nothing; the WHERE is
  // checked against the newest row, so the tick condition cannot race a concurrent acquirer.
  // `prev` (the row before, from the statement's snapshot) only says why nothing was taken.
  LAKESYNC_ASSIGN_OR_RETURN(
      pg::Rows rows,
      conn->Query(
          fmt::format(
              "WITH prev AS (SELECT l.holder, l.runner_clock_at, {0} AS served FROM leases l "
              "WHERE l.job = $1), "
              "got AS (INSERT INTO leases AS l (job, holder, token, acquired_at, heartbeat_at, "
              "expires_at, runner_clock_at) VALUES ($1, $2, 1, clock_timestamp(), "
              "clock_timestamp(), clock_timestamp() + $3::bigint * interval '1 millisecond', "
              "to_timestamp($7::double precision / 1000)) "
              "ON CONFLICT (job) DO UPDATE SET holder = EXCLUDED.holder, token = l.token + 1, "
              "acquired_at = EXCLUDED.acquired_at, heartbeat_at = EXCLUDED.heartbeat_at, "
              "expires_at = EXCLUDED.expires_at, runner_clock_at = EXCLUDED.runner_clock_at "
              "WHERE l.expires_at <= clock_timestamp() AND NOT {0} "
              "RETURNING token) "
              "SELECT (SELECT token FROM got), prev.holder, "
              "(extract(epoch from prev.runner_clock_at) * 1000)::bigint, prev.served::int "
              "FROM (VALUES (1)) AS one (x) LEFT JOIN prev ON true",
              kServed),
          job, holder, Millis(ttl), kind, fire, window, now));
  LeaseGrant grant;
  LAKESYNC_ASSIGN_OR_RETURN(grant.token, rows.OptionalInt64(0, 0));
  if (grant.token || rows.IsNull(0, 3) || rows.Text(0, 3) != "1") return grant;
  grant.served_by = std::string(rows.Text(0, 1));
  LAKESYNC_ASSIGN_OR_RETURN(grant.served_at, rows.OptionalTime(0, 2));
  return grant;
}

Status Coordination::RenewLease(std::string_view job, std::string_view holder, int64_t token,
                                Duration ttl) {
  {
    std::lock_guard lock(*mu_);
    LAKESYNC_ASSIGN_OR_RETURN(pg::Connection * conn, ConnLocked());
    LAKESYNC_ASSIGN_OR_RETURN(
        pg::Rows rows,
        conn->Query("UPDATE leases SET heartbeat_at = clock_timestamp(), expires_at = "
                    "clock_timestamp() + $4::bigint * interval '1 millisecond' WHERE job = $1 AND "
                    "holder = $2 AND token = $3 AND expires_at > clock_timestamp() RETURNING token",
                    job, holder, token, Millis(ttl)));
    if (rows.size() == 1) return Status::OK();
  }
  return CheckLease(job, holder, token);  // says why (and is Cancelled)
}

Status Coordination::CheckLease(std::string_view job, std::string_view holder, int64_t token,
                                Duration* remaining) {
  std::lock_guard lock(*mu_);
  LAKESYNC_ASSIGN_OR_RETURN(pg::Connection * conn, ConnLocked());
  LAKESYNC_ASSIGN_OR_RETURN(
      pg::Rows rows,
      conn->Query("WITH t AS (SELECT clock_timestamp() AS now) SELECT holder, token, "
                  "(expires_at > t.now)::int, greatest(0, (extract(epoch from expires_at - "
                  "t.now) * 1000)::bigint) FROM leases, t WHERE job = $1",
                  job));
  if (rows.size() == 0) {
    return Status::Cancelled(fmt::format("lease lost: job {} has no lease row", job));
  }
  LAKESYNC_ASSIGN_OR_RETURN(int64_t current, rows.Int64(0, 1));
  LAKESYNC_ASSIGN_OR_RETURN(int64_t live, rows.Int64(0, 2));
  LAKESYNC_ASSIGN_OR_RETURN(int64_t left_ms, rows.Int64(0, 3));
  if (remaining != nullptr) *remaining = Duration(left_ms);
  if (rows.Text(0, 0) == holder && current == token && live == 1) return Status::OK();
  if (current == token) {
    return Status::Cancelled(
        fmt::format("lease lost: the lease of job {} (token {}) expired before it was renewed "
                    "(was this process paused or the database slow?)",
                    job, token));
  }
  return Status::Cancelled(fmt::format(
      "lease lost: job {} was taken over by {} (token {}, ours was {}); publishing nothing more",
      job, rows.Text(0, 0), current, token));
}

Status Coordination::ReleaseLease(std::string_view job, std::string_view holder, int64_t token,
                                  bool ran) {
  std::lock_guard lock(*mu_);
  LAKESYNC_ASSIGN_OR_RETURN(pg::Connection * conn, ConnLocked());
  return conn
      ->Query(
          "UPDATE leases SET expires_at = clock_timestamp(), released_at = CASE WHEN $4::bool "
          "THEN clock_timestamp() ELSE released_at END WHERE job = $1 AND holder = $2 AND "
          "token = $3 AND expires_at > clock_timestamp()",
          job, holder, token, ran ? "true" : "false")
      .status();
}

pg::Statement LeaseStatement(std::string_view job) {
  return pg::MakeStatement(
      "SELECT holder, token, (extract(epoch from acquired_at) * 1000)::bigint, "
      "(extract(epoch from expires_at) * 1000)::bigint, "
      "(expires_at > clock_timestamp())::int FROM leases WHERE job = $1",
      job);
}

Result<std::optional<LeaseInfo>> Coordination::GetLease(std::string_view job) {
  std::lock_guard lock(*mu_);
  LAKESYNC_ASSIGN_OR_RETURN(pg::Connection * conn, ConnLocked());
  const pg::Statement s = LeaseStatement(job);
  LAKESYNC_ASSIGN_OR_RETURN(pg::Rows rows, conn->Exec(s.sql, s.params));
  return ParseLease(rows, job);
}

Result<std::optional<LeaseInfo>> ParseLease(const pg::Rows& rows, std::string_view job) {
  if (rows.size() == 0) return std::optional<LeaseInfo>();
  LeaseInfo info;
  info.job = std::string(job);
  info.holder = std::string(rows.Text(0, 0));
  LAKESYNC_ASSIGN_OR_RETURN(info.token, rows.Int64(0, 1));
  LAKESYNC_ASSIGN_OR_RETURN(info.acquired_at, rows.Time(0, 2));
  LAKESYNC_ASSIGN_OR_RETURN(info.expires_at, rows.Time(0, 3));
  LAKESYNC_ASSIGN_OR_RETURN(int64_t live, rows.Int64(0, 4));
  info.live = live == 1;
  return std::optional<LeaseInfo>(std::move(info));
}

Result<int64_t> Coordination::InsertRequest(std::string_view job, std::string_view requested_by) {
  std::lock_guard lock(*mu_);
  LAKESYNC_ASSIGN_OR_RETURN(pg::Connection * conn, ConnLocked());
  // One statement, so the row and its notification commit together.
  LAKESYNC_ASSIGN_OR_RETURN(
      pg::Rows rows,
      conn->Query("WITH r AS (INSERT INTO run_requests (job, requested_at, requested_by) VALUES "
                  "($1, clock_timestamp(), $2) RETURNING id) SELECT id, pg_notify($3, $1)::text "
                  "FROM r",
                  job, requested_by, kRequestChannel));
  return rows.Int64(0, 0);
}

Result<std::vector<RunRequest>> Coordination::ClaimRequests(const std::vector<std::string>& jobs,
                                                            std::string_view claimer,
                                                            Duration claim_ttl) {
  std::vector<RunRequest> out;
  if (jobs.empty()) return out;
  std::lock_guard lock(*mu_);
  LAKESYNC_ASSIGN_OR_RETURN(pg::Connection * conn, ConnLocked());
  LAKESYNC_ASSIGN_OR_RETURN(
      pg::Rows rows,
      conn->Query("UPDATE run_requests SET status = 'claimed', claimed_by = $2, claimed_at = "
                  "clock_timestamp() WHERE id IN (SELECT id FROM run_requests WHERE (status = "
                  "'pending' OR (status = 'claimed' AND claimed_at < clock_timestamp() - "
                  "$3::bigint * interval '1 millisecond')) AND job = ANY($1::text[]) ORDER BY id "
                  "FOR UPDATE SKIP LOCKED) RETURNING " LAKESYNC_REQUEST_COLUMNS,
                  TextArray(jobs), claimer, Millis(claim_ttl)));
  for (int r = 0; r < rows.size(); ++r) {
    LAKESYNC_ASSIGN_OR_RETURN(RunRequest req, RequestFromRow(rows, r));
    out.push_back(std::move(req));
  }
  std::sort(out.begin(), out.end(),
            [](const RunRequest& a, const RunRequest& b) { return a.id < b.id; });
  return out;
}

template <typename... Args>
Status Coordination::UpdateRequests(const std::vector<int64_t>& ids, std::string_view sql,
                                    const Args&... args) {
  if (ids.empty()) return Status::OK();
  std::lock_guard lock(*mu_);
  LAKESYNC_ASSIGN_OR_RETURN(pg::Connection * conn, ConnLocked());
  return conn->Query(sql, IdArray(ids), args...).status();
}

Status Coordination::RefreshClaims(const std::vector<int64_t>& ids, std::string_view claimer) {
  return UpdateRequests(
      ids,
      "UPDATE run_requests SET claimed_at = clock_timestamp() WHERE id = ANY($1::bigint[]) AND "
      "status = 'claimed' AND claimed_by = $2",
      claimer);
}

Status Coordination::LinkRequests(const std::vector<int64_t>& ids, std::string_view claimer,
                                  int64_t run_id) {
  return UpdateRequests(ids,
                        "UPDATE run_requests SET run_id = $3 WHERE id = ANY($1::bigint[]) AND "
                        "status = 'claimed' AND claimed_by = $2",
                        claimer, run_id);
}

Status Coordination::CompleteRequests(const std::vector<int64_t>& ids,
                                      std::optional<int64_t> run_id) {
  return UpdateRequests(ids,
                        "UPDATE run_requests SET status = 'done', run_id = $2 WHERE id = "
                        "ANY($1::bigint[]) AND status = 'claimed'",
                        run_id);
}

Status Coordination::UnclaimRequests(const std::vector<int64_t>& ids) {
  return UpdateRequests(ids,
                        "WITH r AS (UPDATE run_requests SET status = 'pending', claimed_by = NULL, "
                        "claimed_at = NULL WHERE id = ANY($1::bigint[]) AND status = 'claimed' "
                        "RETURNING job) SELECT pg_notify($2, job)::text FROM r",
                        kRequestChannel);
}

Result<bool> Coordination::CancelPendingRequest(int64_t id, std::optional<Duration> expired_claim) {
  std::lock_guard lock(*mu_);
  LAKESYNC_ASSIGN_OR_RETURN(pg::Connection * conn, ConnLocked());
  // Without expired_claim, $2 is NULL and only a pending request matches.
  std::optional<int64_t> expired_ms;
  if (expired_claim) expired_ms = Millis(*expired_claim);
  LAKESYNC_ASSIGN_OR_RETURN(
      pg::Rows rows,
      conn->Query("UPDATE run_requests SET status = 'cancelled' WHERE id = $1 AND (status = "
                  "'pending' OR (status = 'claimed' AND claimed_at < clock_timestamp() - "
                  "$2::bigint * interval '1 millisecond')) RETURNING id",
                  id, expired_ms));
  return rows.size() == 1;
}

Result<RunRequest> Coordination::GetRequest(int64_t id) {
  std::lock_guard lock(*mu_);
  LAKESYNC_ASSIGN_OR_RETURN(pg::Connection * conn, ConnLocked());
  LAKESYNC_ASSIGN_OR_RETURN(
      pg::Rows rows,
      conn->Query("SELECT q.id, q.job, q.status, q.claimed_by, q.run_id, "
                  "(extract(epoch from q.requested_at) * 1000)::bigint, "
                  "(extract(epoch from q.claimed_at) * 1000)::bigint, r.status, r.error, "
                  "coalesce((extract(epoch from clock_timestamp() - q.claimed_at) * 1000)::bigint, "
                  "0) FROM run_requests q LEFT JOIN runs r ON r.id = q.run_id WHERE q.id = $1",
                  id));
  if (rows.size() == 0) return Status::NotFound(fmt::format("no run request {}", id));
  LAKESYNC_ASSIGN_OR_RETURN(RunRequest req, RequestFromRow(rows, 0));
  if (!rows.IsNull(0, 7)) req.run_status = std::string(rows.Text(0, 7));
  if (!rows.IsNull(0, 8)) req.run_error = std::string(rows.Text(0, 8));
  LAKESYNC_ASSIGN_OR_RETURN(int64_t age_ms, rows.Int64(0, 9));
  req.claim_age = Duration(std::max<int64_t>(age_ms, 0));
  return req;
}

// ---- NotificationListener ---------------------------------------------------------------

NotificationListener::NotificationListener(std::string conninfo, std::string channel,
                                           Duration connect_timeout)
    : conninfo_(std::move(conninfo)),
      redacted_(RedactConnectionString(conninfo_)),
      channel_(std::move(channel)),
      connect_timeout_(connect_timeout) {}

NotificationListener::~NotificationListener() {
  if (conn_ != nullptr) PQfinish(conn_);
}

Result<std::unique_ptr<NotificationListener>> NotificationListener::Connect(
    std::string_view conninfo, std::string_view channel, Duration connect_timeout) {
  for (char c : channel) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) {
      return Status::InvalidArgument(fmt::format("invalid channel name {}", channel));
    }
  }
  std::unique_ptr<NotificationListener> listener(
      new NotificationListener(std::string(conninfo), std::string(channel), connect_timeout));
  LAKESYNC_RETURN_IF_ERROR(listener->Open());
  return listener;
}

Status NotificationListener::Open() {
  if (conn_ != nullptr) {
    PQfinish(conn_);
    conn_ = nullptr;
  }
  std::string timeout_s =
      std::to_string(std::max<int64_t>((connect_timeout_.count() + 999) / 1000, 2));
  const char* keywords[] = {"dbname", "fallback_application_name", "connect_timeout", nullptr};
  const char* values[] = {conninfo_.c_str(), "lakesync-listen", timeout_s.c_str(), nullptr};
  conn_ = PQconnectdbParams(keywords, values, /*expand_dbname=*/1);
  if (conn_ == nullptr || PQstatus(conn_) != CONNECTION_OK) {
    // libpq's reason is left out: it could quote part of the connection string.
    return Status::Unavailable(fmt::format(
        "cannot open a listening connection to the state store at {}; check that PostgreSQL is "
        "running",
        redacted_));
  }
  std::string sql = "LISTEN " + channel_;
  PGresult* result = PQexec(conn_, sql.c_str());
  bool ok = result != nullptr && PQresultStatus(result) == PGRES_COMMAND_OK;
  PQclear(result);
  if (!ok) {
    return Status::Unavailable(
        fmt::format("LISTEN {} failed on the state store at {}", channel_, redacted_));
  }
  return Status::OK();
}

Status NotificationListener::Reconnect() { return Open(); }

Result<std::vector<std::string>> NotificationListener::Wait(Duration timeout) {
  std::vector<std::string> out;
  if (conn_ == nullptr || PQstatus(conn_) != CONNECTION_OK) {
    return Status::Unavailable(fmt::format("the listening connection to {} is lost", redacted_));
  }
  auto drain = [&]() -> Status {
    if (PQconsumeInput(conn_) == 0) {
      return Status::Unavailable(fmt::format("the listening connection to {} is lost", redacted_));
    }
    while (PGnotify* n = PQnotifies(conn_)) {
      out.emplace_back(n->extra != nullptr ? n->extra : "");
      PQfreemem(n);
    }
    return Status::OK();
  };
  LAKESYNC_RETURN_IF_ERROR(drain());
  if (!out.empty()) return out;
  pollfd pfd{};
  pfd.fd = PQsocket(conn_);
  pfd.events = POLLIN;
  int rc = poll(&pfd, 1, static_cast<int>(std::max<int64_t>(timeout.count(), 0)));
  if (rc > 0) LAKESYNC_RETURN_IF_ERROR(drain());
  return out;
}

}  // namespace lakesync::db
