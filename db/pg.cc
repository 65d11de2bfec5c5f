#include "db/pg.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <memory>

#include <fmt/format.h>
#include <libpq-fe.h>
#include <poll.h>

#include <spdlog/spdlog.h>

#include "common/redact.h"

namespace lakesync::db::pg {
namespace {

constexpr std::string_view kCheckConfig = "check state.postgres or LAKESYNC_DATABASE_URL";

// libpq messages are multi-line: "connection to server at ... failed: Connection refused\n\tIs
// the server running...?\n". Tab-indented lines are generic hints; the rest are joined with
// "; " so the message fits in one log line.
std::string OneLine(std::string_view message) {
  std::string out;
  size_t pos = 0;
  while (pos < message.size()) {
    size_t end = message.find('\n', pos);
    if (end == std::string_view::npos) end = message.size();
    std::string_view line = message.substr(pos, end - pos);
    pos = end + 1;
    if (line.empty() || line.front() == '\t') continue;
    while (!line.empty() && (line.back() == ' ' || line.back() == '\r')) line.remove_suffix(1);
    if (line.empty()) continue;
    if (!out.empty()) out += "; ";
    out.append(line);
  }
  return out.empty() ? std::string("no error message from libpq") : out;
}

bool Contains(std::string_view text, std::string_view needle) {
  return text.find(needle) != std::string_view::npos;
}

// A connection attempt the server answered but refused: retrying will not help.
bool IsRejection(std::string_view message) {
  return Contains(message, "authentication failed") || Contains(message, "no password supplied") ||
         Contains(message, "does not exist") || Contains(message, "permission denied") ||
         Contains(message, "no pg_hba.conf entry");
}

// The passwords a message could echo: the one in the conninfo (decoded, as libpq sees it).
std::vector<std::string> SecretsOf(const PQconninfoOption* options) {
  std::vector<std::string> secrets;
  for (const PQconninfoOption* o = options; o != nullptr && o->keyword != nullptr; ++o) {
    if (o->val != nullptr && o->val[0] != '\0' && std::string_view(o->keyword) == "password") {
      secrets.emplace_back(o->val);
    }
  }
  return secrets;
}

std::string RedactAll(std::string_view text, const std::vector<std::string>& secrets) {
  std::string out(text);
  for (const std::string& secret : secrets) out = RedactSecret(out, secret);
  return out;
}

// Server notices ("relation ... already exists, skipping") would otherwise go to stderr raw.
// They are expected during migration, so they are logged at debug level only.
void LogNotice(void* arg, const char* message) {
  const auto* secrets = static_cast<const std::vector<std::string>*>(arg);
  spdlog::debug("state store notice: {}", RedactAll(OneLine(message), *secrets));
}

// True for a postgresql:// URL whose authority (before the first '/' or '?' after "://") holds
// more than one '@'.
bool HasSeveralAtSigns(std::string_view conninfo) {
  size_t scheme_end = conninfo.find("://");
  if (scheme_end == std::string_view::npos) return false;
  std::string_view rest = conninfo.substr(scheme_end + 3);
  std::string_view authority = rest.substr(0, rest.find_first_of("/?"));
  return std::count(authority.begin(), authority.end(), '@') > 1;
}

}  // namespace

void ConnDeleter::operator()(pg_conn* conn) const { PQfinish(conn); }
void ResultDeleter::operator()(pg_result* result) const { PQclear(result); }

// ---- Rows -------------------------------------------------------------------------------

Rows::Rows(std::unique_ptr<pg_result, ResultDeleter> result) : result_(std::move(result)) {}

int Rows::size() const { return PQntuples(result_.get()); }

bool Rows::IsNull(int row, int col) const { return PQgetisnull(result_.get(), row, col) != 0; }

std::string_view Rows::Text(int row, int col) const {
  return std::string_view(PQgetvalue(result_.get(), row, col),
                          static_cast<size_t>(PQgetlength(result_.get(), row, col)));
}

Result<int64_t> Rows::Int64(int row, int col) const {
  LAKESYNC_ASSIGN_OR_RETURN(std::optional<int64_t> value, OptionalInt64(row, col));
  if (!value) {
    return Status::Corruption(fmt::format("state store returned NULL for column {} ({}) of row {}",
                                          PQfname(result_.get(), col), col, row));
  }
  return *value;
}

Result<std::optional<int64_t>> Rows::OptionalInt64(int row, int col) const {
  if (IsNull(row, col)) return std::optional<int64_t>();
  std::string_view text = Text(row, col);
  int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) {
    return Status::Corruption(
        fmt::format("state store returned \"{}\" for column {} of row {}; expected an integer",
                    text, PQfname(result_.get(), col), row));
  }
  return std::optional<int64_t>(value);
}

Result<TimePoint> Rows::Time(int row, int col) const {
  LAKESYNC_ASSIGN_OR_RETURN(int64_t ms, Int64(row, col));
  return FromUnixMillis(ms);
}

Result<std::optional<TimePoint>> Rows::OptionalTime(int row, int col) const {
  LAKESYNC_ASSIGN_OR_RETURN(std::optional<int64_t> ms, OptionalInt64(row, col));
  if (!ms) return std::optional<TimePoint>();
  return std::optional<TimePoint>(FromUnixMillis(*ms));
}

// ---- Connection -------------------------------------------------------------------------

Connection::Connection(std::unique_ptr<pg_conn, ConnDeleter> conn, std::string redacted_conninfo,
                       std::vector<std::string> secrets)
    : conn_(std::move(conn)),
      redacted_conninfo_(std::move(redacted_conninfo)),
      secrets_(std::move(secrets)) {}

Result<std::unique_ptr<Connection>> Connection::Open(std::string_view conninfo,
                                                     Duration connect_timeout) {
  std::string redacted = RedactConnectionString(conninfo);
  if (conninfo.empty()) {
    return Status::InvalidArgument(
        fmt::format("no state store is configured; set state.postgres in the configuration or "
                    "LAKESYNC_DATABASE_URL to a PostgreSQL URL such as "
                    "postgresql://user:password@host:5432/lakesync"));
  }
  if (HasSeveralAtSigns(conninfo)) {
    // libpq would split the credentials at the first '@' and try to resolve the rest of the
    // password as a host name, echoing it in its error. The redacted form masks up to the last.
    return Status::InvalidArgument(fmt::format(
        "invalid state store URL {}: its user name or password contains '@'; percent-encode "
        "each '@' in them as %40 (postgresql://user:p%40ss@host:port/database)",
        redacted));
  }
  std::string conninfo_str(conninfo);

  // Parse first: it validates the string and tells us the password to keep out of messages.
  char* parse_error = nullptr;
  std::unique_ptr<PQconninfoOption, decltype(&PQconninfoFree)> options(
      PQconninfoParse(conninfo_str.c_str(), &parse_error), &PQconninfoFree);
  if (options == nullptr) {
    std::string why = parse_error != nullptr ? OneLine(parse_error) : "out of memory";
    if (parse_error != nullptr) PQfreemem(parse_error);
    // The string did not parse, so we cannot tell which part is the password; libpq's reason
    // may quote any fragment of it, so it is shown only when the string holds no password.
    if (redacted != conninfo) why = "libpq cannot parse it";
    return Status::InvalidArgument(fmt::format(
        "invalid state store connection string {}: {}; write it as "
        "postgresql://user:password@host:port/database or as host=... dbname=... keywords",
        redacted, why));
  }
  std::vector<std::string> secrets = SecretsOf(options.get());

  // dbname is expanded as a full conninfo; the keywords after it override what it says, so the
  // caller's timeout wins over one in the URL.
  std::string timeout_s;
  std::vector<const char*> keywords = {"dbname", "fallback_application_name"};
  std::vector<const char*> values = {conninfo_str.c_str(), "lakesync"};
  if (connect_timeout.count() > 0) {
    timeout_s = std::to_string((connect_timeout.count() + 999) / 1000);
    keywords.push_back("connect_timeout");
    values.push_back(timeout_s.c_str());
  }
  keywords.push_back(nullptr);
  values.push_back(nullptr);
  std::unique_ptr<pg_conn, ConnDeleter> conn(
      PQconnectdbParams(keywords.data(), values.data(), /*expand_dbname=*/1));
  if (conn == nullptr) {
    return Status::Unavailable(
        fmt::format("cannot connect to the state store at {}: libpq is out of memory", redacted));
  }
  if (const char* used = PQpass(conn.get()); used != nullptr && used[0] != '\0') {
    secrets.emplace_back(used);  // from PGPASSWORD or ~/.pgpass
  }
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    std::string why = RedactAll(OneLine(PQerrorMessage(conn.get())), secrets);
    if (IsRejection(why)) {
      return Status::InvalidArgument(
          fmt::format("the state store at {} refused the connection: {}; {} (user, password and "
                      "database name)",
                      redacted, why, kCheckConfig));
    }
    return Status::Unavailable(
        fmt::format("cannot reach the state store at {}: {}; {} and that PostgreSQL is running",
                    redacted, why, kCheckConfig));
  }
  std::unique_ptr<Connection> connection(
      new Connection(std::move(conn), std::move(redacted), std::move(secrets)));
  // The processor outlives resets (PQreset keeps it) and points at the Connection's own copy.
  PQsetNoticeProcessor(connection->conn_.get(), &LogNotice, &connection->secrets_);
  return connection;
}

std::string Connection::Redact(std::string_view text) const { return RedactAll(text, secrets_); }

bool Connection::broken() const { return PQstatus(conn_.get()) != CONNECTION_OK; }

bool Connection::StillConnected() {
  // A server that ends the session sends its last message (FATAL: terminating connection) and
  // then closes: one read can return the message and the next the end of the stream. Read while
  // the socket has something (a few times at most: notifications that keep arriving are not a
  // lost connection).
  for (int i = 0; i < 4 && !broken(); ++i) {
    pollfd p{PQsocket(conn_.get()), POLLIN, 0};
    if (::poll(&p, 1, 0) <= 0) break;  // nothing sent: as alive as it can be told
    if (PQconsumeInput(conn_.get()) != 1) break;
  }
  return !broken();
}

Status Connection::Reset() {
  ++session_;
  PQreset(conn_.get());
  if (!broken()) return Status::OK();
  return Status::Unavailable(
      fmt::format("cannot reconnect to the state store at {}: {}; {} and that PostgreSQL is "
                  "running",
                  redacted_conninfo_, Redact(OneLine(PQerrorMessage(conn_.get()))), kCheckConfig));
}

Status StatusFromSqlState(std::string_view sqlstate, std::string message) {
  auto starts = [&](std::string_view prefix) {
    return sqlstate.substr(0, prefix.size()) == prefix;
  };
  if (sqlstate == "23505") return Status::AlreadyExists(std::move(message));
  if (starts("23")) return Status::InvalidArgument(std::move(message));
  if (sqlstate == "40001" || sqlstate == "40P01") {
    return Status(StatusCode::kConflict, message + "; the transaction can be retried",
                  /*retryable=*/true);
  }
  if (starts("08") || sqlstate == "57P01" || sqlstate == "57P02" || sqlstate == "57P03" ||
      sqlstate == "53300") {
    return Status::Unavailable(std::move(message));
  }
  if (sqlstate == "42P01" || sqlstate == "42703") {
    return Status::InvalidArgument(
        message + "; the database schema is older than this lakesync: run `lakesync db migrate`");
  }
  return Status::Internal(std::move(message));
}

Status Connection::ErrorFromResult(const pg_result* result) const {
  if (broken()) {
    std::string why = Redact(OneLine(PQerrorMessage(conn_.get())));
    return Status::Unavailable(fmt::format(
        "lost the connection to the state store at {}: {}; the next call reconnects; check that "
        "PostgreSQL is running",
        redacted_conninfo_, why));
  }
  if (result == nullptr) {
    return Status::Internal(
        fmt::format("state store query failed: {}", Redact(OneLine(PQerrorMessage(conn_.get())))));
  }
  const char* sqlstate = PQresultErrorField(result, PG_DIAG_SQLSTATE);
  const char* primary = PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY);
  const char* detail = PQresultErrorField(result, PG_DIAG_MESSAGE_DETAIL);
  std::string message = fmt::format(
      "PostgreSQL error {}: {}", sqlstate != nullptr ? sqlstate : "?????",
      primary != nullptr ? std::string_view(primary) : OneLine(PQresultErrorMessage(result)));
  if (detail != nullptr) message += fmt::format(" ({})", OneLine(detail));
  return StatusFromSqlState(sqlstate != nullptr ? sqlstate : "", Redact(message));
}

Result<Rows> Connection::Exec(std::string_view sql, const std::vector<Param>& params) {
  if (broken()) return ErrorFromResult(nullptr);
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const Param& p : params) values.push_back(p ? p->c_str() : nullptr);
  std::string sql_str(sql);
  std::unique_ptr<pg_result, ResultDeleter> result(PQexecParams(
      conn_.get(), sql_str.c_str(), static_cast<int>(values.size()), /*paramTypes=*/nullptr,
      values.data(), /*paramLengths=*/nullptr, /*paramFormats=*/nullptr, /*resultFormat=*/0));
  ExecStatusType status = result ? PQresultStatus(result.get()) : PGRES_FATAL_ERROR;
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return Rows(std::move(result));
  return ErrorFromResult(result.get());
}

std::vector<Result<Rows>> Connection::ExecPipeline(const std::vector<Statement>& statements) {
  std::vector<Result<Rows>> out;
  out.reserve(statements.size());
  pg_conn* conn = conn_.get();
  auto fail_rest = [&] {
    Status failed = ErrorFromResult(nullptr);
    while (out.size() < statements.size()) out.push_back(failed);
  };
  if (broken() || PQenterPipelineMode(conn) != 1) {
    fail_rest();
    return out;
  }
  // A Sync after each statement: each runs in its own implicit transaction, as with Exec.
  size_t sent = 0;
  for (const Statement& s : statements) {
    std::vector<const char*> values;
    values.reserve(s.params.size());
    for (const Param& p : s.params) values.push_back(p ? p->c_str() : nullptr);
    if (PQsendQueryParams(conn, s.sql.c_str(), static_cast<int>(values.size()),
                          /*paramTypes=*/nullptr, values.data(), /*paramLengths=*/nullptr,
                          /*paramFormats=*/nullptr, /*resultFormat=*/0) != 1 ||
        PQpipelineSync(conn) != 1) {
      break;
    }
    ++sent;
  }
  // Each statement answers with its result, a null, then the Sync's PGRES_PIPELINE_SYNC.
  for (size_t i = 0; i < sent; ++i) {
    std::unique_ptr<pg_result, ResultDeleter> result(PQgetResult(conn));
    if (result == nullptr) break;  // the connection failed
    ExecStatusType status = PQresultStatus(result.get());
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) {
      out.push_back(Rows(std::move(result)));
    } else {
      out.push_back(ErrorFromResult(result.get()));
    }
    if (std::unique_ptr<pg_result, ResultDeleter> end(PQgetResult(conn)); end != nullptr) {
      break;  // not what the protocol says: give up on the rest
    }
    std::unique_ptr<pg_result, ResultDeleter> sync(PQgetResult(conn));
    if (sync == nullptr || PQresultStatus(sync.get()) != PGRES_PIPELINE_SYNC) break;
  }
  if (out.size() < statements.size()) {
    fail_rest();
    return out;  // the connection is unusable in pipeline mode; Reset() starts afresh
  }
  PQexitPipelineMode(conn);
  return out;
}

Status Connection::ExecScript(std::string_view sql) {
  if (broken()) return ErrorFromResult(nullptr);
  std::string sql_str(sql);
  // PQexec with several statements returns the last result; an error stops at the failing one.
  std::unique_ptr<pg_result, ResultDeleter> result(PQexec(conn_.get(), sql_str.c_str()));
  ExecStatusType status = result ? PQresultStatus(result.get()) : PGRES_FATAL_ERROR;
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK || status == PGRES_EMPTY_QUERY) {
    return Status::OK();
  }
  return ErrorFromResult(result.get());
}

Status Connection::InTransaction(const std::function<Status()>& body, std::string_view begin) {
  LAKESYNC_RETURN_IF_ERROR(ExecScript(begin));
  Status status = body();
  if (status.ok()) status = ExecScript("COMMIT");
  if (!status.ok() && !broken()) {
    // Best effort: a failed COMMIT has already ended the transaction, and a lost connection
    // rolls back on the server by itself.
    ExecScript("ROLLBACK").IgnoreError();
  }
  return status;
}

bool AnswersWithin(std::string_view conninfo, Duration timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  // Waits until the socket is ready for `events` or the deadline passes.
  auto wait = [&](PGconn* c, short events) {
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0 || PQsocket(c) < 0) return false;
      pollfd p{PQsocket(c), events, 0};
      const int r = ::poll(&p, 1, static_cast<int>(left.count()));
      if (r > 0) return true;
      if (r == 0 || errno != EINTR) return false;
    }
  };
  const std::string conninfo_str(conninfo);
  const char* keywords[] = {"dbname", "fallback_application_name", nullptr};
  const char* values[] = {conninfo_str.c_str(), "lakesync-readyz", nullptr};
  std::unique_ptr<PGconn, decltype(&PQfinish)> conn(
      PQconnectStartParams(keywords, values, /*expand_dbname=*/1), &PQfinish);
  if (conn == nullptr || PQstatus(conn.get()) == CONNECTION_BAD) return false;
  for (PostgresPollingStatusType st = PGRES_POLLING_WRITING; st != PGRES_POLLING_OK;) {
    if (st == PGRES_POLLING_FAILED) return false;
    if (!wait(conn.get(), st == PGRES_POLLING_READING ? POLLIN : POLLOUT)) return false;
    st = PQconnectPoll(conn.get());
  }
  if (PQsetnonblocking(conn.get(), 1) != 0 || !PQsendQuery(conn.get(), "SELECT 1")) return false;
  for (int flushed = PQflush(conn.get()); flushed != 0; flushed = PQflush(conn.get())) {
    if (flushed < 0 || !wait(conn.get(), POLLOUT)) return false;
  }
  bool ok = false;
  for (;;) {
    while (PQisBusy(conn.get())) {
      if (!wait(conn.get(), POLLIN) || !PQconsumeInput(conn.get())) return false;
    }
    PGresult* result = PQgetResult(conn.get());
    if (result == nullptr) break;
    ok = ok || PQresultStatus(result) == PGRES_TUPLES_OK;
    PQclear(result);
  }
  return ok;
}

}  // namespace lakesync::db::pg
