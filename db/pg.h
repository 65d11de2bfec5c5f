#pragma once

// A thin RAII layer over libpq for the state store: one connection, parameterised queries,
// results read as text, libpq errors mapped to Status with every secret redacted.
//
// libpq's own header stays out of this file (its handle types are forward-declared), so code
// that includes db/ headers never sees libpq.
//
// Thread-safety: a Connection is not thread-safe; callers serialise access (PgStateStore
// holds a mutex around it).

#include <concepts>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/duration.h"
#include "common/status.h"

struct pg_conn;
struct pg_result;

namespace lakesync::db::pg {

struct ConnDeleter {
  void operator()(pg_conn* conn) const;
};
struct ResultDeleter {
  void operator()(pg_result* result) const;
};

// One query parameter in libpq's text format; nullopt is SQL NULL.
using Param = std::optional<std::string>;

inline Param ToParam(std::string_view s) { return std::string(s); }
inline Param ToParam(const std::string& s) { return s; }
inline Param ToParam(const char* s) { return std::string(s); }
inline Param ToParam(std::nullopt_t) { return std::nullopt; }
// Times travel as epoch milliseconds; SQL converts with to_timestamp($n::double precision/1000).
inline Param ToParam(TimePoint t) { return std::to_string(ToUnixMillis(t)); }
template <std::integral T>
Param ToParam(T v) {
  return std::to_string(v);
}
template <typename T>
Param ToParam(const std::optional<T>& v) {
  return v ? ToParam(*v) : std::nullopt;
}

// The rows of a successful statement (none for commands). Cells are read as text.
class Rows {
 public:
  explicit Rows(std::unique_ptr<pg_result, ResultDeleter> result);

  int size() const;
  bool IsNull(int row, int col) const;
  std::string_view Text(int row, int col) const;
  // Corruption when the cell is NULL or not an integer.
  Result<int64_t> Int64(int row, int col) const;
  // nullopt for NULL; Corruption when not an integer.
  Result<std::optional<int64_t>> OptionalInt64(int row, int col) const;
  // A cell holding epoch milliseconds (SELECT (extract(epoch from t) * 1000)::bigint).
  Result<TimePoint> Time(int row, int col) const;
  Result<std::optional<TimePoint>> OptionalTime(int row, int col) const;

 private:
  std::unique_ptr<pg_result, ResultDeleter> result_;
};

// One statement of a pipeline (Connection::ExecPipeline).
struct Statement {
  std::string sql;
  std::vector<Param> params;
};
template <typename... Args>
Statement MakeStatement(std::string sql, const Args&... args) {
  return Statement{std::move(sql), std::vector<Param>{ToParam(args)...}};
}

class Connection {
 public:
  // Connects to `conninfo` (URI or keyword form). A non-zero `connect_timeout` bounds the
  // connection attempt (libpq rounds it up to whole seconds, at least 2) and overrides a
  // connect_timeout given in `conninfo`.
  // Errors: InvalidArgument for a malformed conninfo, bad credentials or a missing database;
  // Unavailable (retryable) when the server cannot be reached. Messages never hold the
  // password: the address is shown as RedactConnectionString(conninfo).
  Connection(const Connection&) = delete;  // held by pointer: libpq keeps a pointer into it
  Connection& operator=(const Connection&) = delete;

  [[nodiscard]] static Result<std::unique_ptr<Connection>> Open(std::string_view conninfo,
                                                                Duration connect_timeout);

  // Runs one statement with $1..$n bound to `params` (PQexecParams: values never become SQL
  // text). Errors map SQLSTATEs: 23505 → AlreadyExists, other 23xxx → InvalidArgument,
  // 40001/40P01 → Conflict (retryable), 08xxx / shutdown / too many clients → Unavailable,
  // undefined table or column → InvalidArgument telling to run `lakesync db migrate`, others →
  // Internal. A connection lost mid-call → Unavailable (retryable); see broken()/Reset().
  [[nodiscard]] Result<Rows> Exec(std::string_view sql, const std::vector<Param>& params);

  template <typename... Args>
  [[nodiscard]] Result<Rows> Query(std::string_view sql, const Args&... args) {
    return Exec(sql, std::vector<Param>{ToParam(args)...});
  }

  // Runs `statements` in order in one round trip (libpq's pipeline mode), each exactly as Exec
  // would run it: in its own implicit transaction, so one that fails neither rolls back nor
  // skips the others. Returns one result per statement, in order, with Exec's error mapping;
  // when the connection is lost midway, the statements whose results were not read are
  // Unavailable (they may or may not have run, as with Exec).
  [[nodiscard]] std::vector<Result<Rows>> ExecPipeline(const std::vector<Statement>& statements);

  // Runs fixed SQL text, possibly several statements, without parameters (migrations,
  // BEGIN/COMMIT). Never pass text that contains values.
  [[nodiscard]] Status ExecScript(std::string_view sql);

  // Runs `body` between `begin` and COMMIT; rolls back when `body` or COMMIT fails and returns
  // that failure.
  [[nodiscard]] Status InTransaction(const std::function<Status()>& body,
                                     std::string_view begin = "BEGIN");

  // True when the connection was lost; Reset() tries once to re-establish it.
  bool broken() const;
  // Without a round trip: reads whatever the server sent (nothing blocks), so a connection the
  // server closed (a terminated backend, a restart) shows as lost. False when lost.
  bool StillConnected();
  [[nodiscard]] Status Reset();
  // Which server session this is: changes with every Reset (whoever called it), so a holder of
  // session state (advisory locks) can tell that its session was replaced.
  uint64_t session() const { return session_; }

  // The conninfo with its password masked, for messages.
  const std::string& redacted_conninfo() const { return redacted_conninfo_; }
  // `text` with every known secret masked.
  std::string Redact(std::string_view text) const;

 private:
  Connection(std::unique_ptr<pg_conn, ConnDeleter> conn, std::string redacted_conninfo,
             std::vector<std::string> secrets);
  Status ErrorFromResult(const pg_result* result) const;

  std::unique_ptr<pg_conn, ConnDeleter> conn_;
  std::string redacted_conninfo_;
  std::vector<std::string> secrets_;
  uint64_t session_ = 0;
};

// Maps a SQLSTATE and a (redacted) message to a Status, as Exec documents. Exposed for tests.
Status StatusFromSqlState(std::string_view sqlstate, std::string message);

// Whether the PostgreSQL at `conninfo` answers `SELECT 1` within `timeout`, on a connection of
// its own that is closed again: a readiness probe must neither wait behind another thread's
// query on a shared connection nor hang on a server that stopped answering (libpq's blocking
// calls have no timeout once connected). Only the host name lookup may take longer.
bool AnswersWithin(std::string_view conninfo, Duration timeout);

}  // namespace lakesync::db::pg
