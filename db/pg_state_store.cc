#include "db/pg_state_store.h"

#include <algorithm>
#include <map>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/json_writer.h"
#include "db/coordination.h"
#include "db/lease_sql.h"
#include "db/migrations.h"
#include "db/pg.h"

namespace lakesync::db {
namespace {

// pg_advisory_lock key serialising migrators: "lakesync" in ASCII.
constexpr int64_t kMigrationLockKey = 0x6c616b6573796e63;

// Times are written as epoch milliseconds and read back the same way, so no date strings are
// parsed anywhere. extract(epoch ...) is exact (numeric) on PostgreSQL 14+.
#define LAKESYNC_TS(param) "to_timestamp(" param "::double precision / 1000)"
#define LAKESYNC_MS(column) "(extract(epoch from " column ") * 1000)::bigint"

// clang-format off
constexpr std::string_view kRunColumns =
    "id, job, kind, trigger, attempt, runner_id, "
    LAKESYNC_MS("started_at") ", " LAKESYNC_MS("heartbeat_at") ", " LAKESYNC_MS("finished_at") ", "
    "status, source_version, target_version, commits, files, bytes, rows, error";
// clang-format on

Result<RunRecord> ParseRun(const pg::Rows& rows, int r) {
  RunRecord run;
  LAKESYNC_ASSIGN_OR_RETURN(run.id, rows.Int64(r, 0));
  run.start.job = rows.Text(r, 1);
  run.start.kind = rows.Text(r, 2);
  LAKESYNC_ASSIGN_OR_RETURN(run.start.trigger, ParseTrigger(rows.Text(r, 3)));
  LAKESYNC_ASSIGN_OR_RETURN(int64_t attempt, rows.Int64(r, 4));
  run.start.attempt = static_cast<int>(attempt);
  run.start.runner_id = rows.Text(r, 5);
  LAKESYNC_ASSIGN_OR_RETURN(run.start.started_at, rows.Time(r, 6));
  LAKESYNC_ASSIGN_OR_RETURN(run.heartbeat_at, rows.OptionalTime(r, 7));
  LAKESYNC_ASSIGN_OR_RETURN(run.finished_at, rows.OptionalTime(r, 8));
  LAKESYNC_ASSIGN_OR_RETURN(run.status, ParseRunStatus(rows.Text(r, 9)));
  LAKESYNC_ASSIGN_OR_RETURN(run.source_version, rows.OptionalInt64(r, 10));
  LAKESYNC_ASSIGN_OR_RETURN(run.target_version, rows.OptionalInt64(r, 11));
  LAKESYNC_ASSIGN_OR_RETURN(run.commits, rows.Int64(r, 12));
  LAKESYNC_ASSIGN_OR_RETURN(run.files, rows.Int64(r, 13));
  LAKESYNC_ASSIGN_OR_RETURN(run.bytes, rows.Int64(r, 14));
  LAKESYNC_ASSIGN_OR_RETURN(run.rows, rows.Int64(r, 15));
  run.error = rows.Text(r, 16);
  return run;
}

// Columns: run_id, target, start_version, end_version, commits, files, bytes, rows, status, error.
Result<TargetResult> ParseTarget(const pg::Rows& rows, int r) {
  TargetResult t;
  t.target = rows.Text(r, 1);
  LAKESYNC_ASSIGN_OR_RETURN(t.start_version, rows.OptionalInt64(r, 2));
  LAKESYNC_ASSIGN_OR_RETURN(t.end_version, rows.OptionalInt64(r, 3));
  LAKESYNC_ASSIGN_OR_RETURN(t.commits, rows.Int64(r, 4));
  LAKESYNC_ASSIGN_OR_RETURN(t.files, rows.Int64(r, 5));
  LAKESYNC_ASSIGN_OR_RETURN(t.bytes, rows.Int64(r, 6));
  LAKESYNC_ASSIGN_OR_RETURN(t.rows, rows.Int64(r, 7));
  LAKESYNC_ASSIGN_OR_RETURN(t.status, ParseRunStatus(rows.Text(r, 8)));
  t.error = rows.Text(r, 9);
  return t;
}

// NotFound or Conflict for a run that is not running, after an update matched no row.
Status NotRunning(pg::Connection& conn, int64_t run_id) {
  LAKESYNC_ASSIGN_OR_RETURN(pg::Rows rows,
                            conn.Query("SELECT status FROM runs WHERE id = $1", run_id));
  if (rows.size() == 0) {
    return Status::NotFound(fmt::format("run {} does not exist; pass an id from StartRun", run_id));
  }
  return Status::Conflict(
      fmt::format("run {} already finished with status {}", run_id, rows.Text(0, 0)));
}

struct Recorded {
  int version;
  std::string name;
  std::string checksum;
};

Result<std::vector<Recorded>> RecordedMigrations(pg::Connection& conn) {
  LAKESYNC_ASSIGN_OR_RETURN(
      pg::Rows rows, conn.Query("SELECT version, name, checksum FROM lakesync_schema_migrations "
                                "ORDER BY version"));
  std::vector<Recorded> out;
  for (int r = 0; r < rows.size(); ++r) {
    LAKESYNC_ASSIGN_OR_RETURN(int64_t version, rows.Int64(r, 0));
    out.push_back(
        {static_cast<int>(version), std::string(rows.Text(r, 1)), std::string(rows.Text(r, 2))});
  }
  return out;
}

Status TooNew(int version) {
  return Status::Unsupported(
      fmt::format("database schema is at version {} but this lakesync knows only up to {}; "
                  "upgrade lakesync",
                  version, PgStateStore::LatestSchemaVersion()));
}

// REQUIRES: the migration advisory lock is held.
Result<MigrateReport> MigrateUnderLock(pg::Connection& conn) {
  LAKESYNC_RETURN_IF_ERROR(
      conn.ExecScript("CREATE TABLE IF NOT EXISTS lakesync_schema_migrations ("
                      " version integer PRIMARY KEY,"
                      " name text NOT NULL,"
                      " checksum text NOT NULL,"
                      " applied_at timestamptz NOT NULL DEFAULT now())"));
  LAKESYNC_ASSIGN_OR_RETURN(std::vector<Recorded> recorded, RecordedMigrations(conn));
  std::span<const Migration> known = EmbeddedMigrations();

  MigrateReport report;
  std::map<int, const Recorded*> recorded_by_version;
  for (const Recorded& r : recorded) {
    recorded_by_version[r.version] = &r;
    report.from_version = std::max(report.from_version, r.version);
  }
  if (report.from_version > PgStateStore::LatestSchemaVersion()) {
    return TooNew(report.from_version);
  }
  for (const Migration& m : known) {
    auto it = recorded_by_version.find(m.version);
    if (it == recorded_by_version.end()) continue;
    std::string checksum = MigrationChecksum(m.sql);
    if (it->second->checksum != checksum) {
      return Status::Corruption(fmt::format(
          "migration {} ({}) was applied with checksum {} but this lakesync's copy has checksum "
          "{}; the migration was edited after it was applied. Restore db/migrations/{:04d}_{}.sql "
          "to the applied text and add the change as a new migration",
          m.version, m.name, it->second->checksum, checksum, m.version, m.name));
    }
  }

  report.to_version = report.from_version;
  for (const Migration& m : known) {
    if (recorded_by_version.count(m.version) != 0) continue;
    Status applied = conn.InTransaction([&]() -> Status {
      LAKESYNC_RETURN_IF_ERROR(conn.ExecScript(m.sql));
      return conn
          .Query(
              "INSERT INTO lakesync_schema_migrations (version, name, checksum) "
              "VALUES ($1, $2, $3)",
              m.version, m.name, MigrationChecksum(m.sql))
          .status();
    });
    if (!applied.ok()) {
      return applied.WithContext(fmt::format("applying migration {:04d}_{}", m.version, m.name));
    }
    spdlog::info("state store: applied migration {:04d}_{}", m.version, m.name);
    report.applied.push_back(m.version);
    report.to_version = std::max(report.to_version, m.version);
  }
  return report;
}

// Each statement the store sends, and how its answer is read: shared by the methods below and
// by ClaimRun, which sends several of them in one pipeline.

pg::Statement SchemaVersionStatement() {
  return pg::MakeStatement("SELECT coalesce(max(version), 0) FROM lakesync_schema_migrations");
}

// One round trip for a migrated database (every `lakesync run` asks). The table is missing only
// before the first migration: that query fails (InvalidArgument, undefined table) and the check
// below tells it apart from other failures.
Result<int> ParseSchemaVersion(pg::Connection& conn, Result<pg::Rows> rows) {
  if (!rows.ok()) {
    if (rows.status().code() != StatusCode::kInvalidArgument) return rows.status();
    LAKESYNC_ASSIGN_OR_RETURN(
        pg::Rows exists,
        conn.Query("SELECT to_regclass('lakesync_schema_migrations') IS NOT NULL"));
    if (exists.Text(0, 0) != "t") return 0;
    return rows.status();
  }
  LAKESYNC_ASSIGN_OR_RETURN(int64_t version, rows->Int64(0, 0));
  return static_cast<int>(version);
}

// One statement (one round trip, atomic). Sorted by name, so concurrent syncs lock the rows in
// the same order; a name listed twice keeps its last kind, as one upsert after another would.
Result<pg::Statement> SyncJobsStatement(
    const std::vector<std::pair<std::string, std::string>>& name_and_kind) {
  for (const auto& [name, kind] : name_and_kind) {
    if (name.empty()) {
      return Status::InvalidArgument("cannot record a job without a name; name every job");
    }
  }
  std::map<std::string_view, std::string_view> jobs;
  for (const auto& [name, kind] : name_and_kind) jobs[name] = kind;
  JsonWriter json;
  json.BeginArray();
  for (const auto& [name, kind] : jobs) {
    json.BeginObject().Key("name").String(name).Key("kind").String(kind).EndObject();
  }
  json.EndArray();
  return pg::MakeStatement(
      "INSERT INTO jobs (name, kind, first_seen, last_seen) "
      "SELECT name, kind, now(), now() FROM json_to_recordset($1::json) "
      "AS t(name text, kind text) ORDER BY name "
      "ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, "
      "last_seen = excluded.last_seen",
      json.str());
}

Status ParseSyncJobs(Result<pg::Rows> rows) {
  return rows.status().WithContext("recording the configured jobs");
}

pg::Statement StartRunStatement(const RunStart& start) {
  return pg::MakeStatement(
      "INSERT INTO runs (job, kind, trigger, attempt, runner_id, status, started_at) "
      "VALUES ($1, $2, $3, $4, $5, 'running', " LAKESYNC_TS("$6") ") RETURNING id",
      start.job, start.kind, TriggerName(start.trigger), start.attempt, start.runner_id,
      start.started_at);
}

Result<int64_t> ParseStartRun(Result<pg::Rows> rows, std::string_view job) {
  if (!rows.ok()) {
    return rows.status().WithContext(fmt::format("recording the start of a run of job {}", job));
  }
  return rows->Int64(0, 0);
}

pg::Statement TargetVersionsStatement(std::string_view job) {
  return pg::MakeStatement(
      "SELECT job, target, replicated_version, source_version, " LAKESYNC_MS("updated_at") ", "
      "run_id FROM target_versions WHERE job = $1 ORDER BY target",
      job);
}

Result<std::vector<TargetVersion>> ParseTargetVersions(Result<pg::Rows> rows,
                                                       std::string_view job) {
  if (!rows.ok()) {
    return rows.status().WithContext(fmt::format("reading the target versions of job {}", job));
  }
  std::vector<TargetVersion> out;
  for (int r = 0; r < rows->size(); ++r) {
    TargetVersion v;
    v.job = rows->Text(r, 0);
    v.target = rows->Text(r, 1);
    LAKESYNC_ASSIGN_OR_RETURN(v.replicated_version, rows->Int64(r, 2));
    LAKESYNC_ASSIGN_OR_RETURN(v.source_version, rows->OptionalInt64(r, 3));
    LAKESYNC_ASSIGN_OR_RETURN(v.updated_at, rows->Time(r, 4));
    LAKESYNC_ASSIGN_OR_RETURN(v.run_id, rows->OptionalInt64(r, 5));
    out.push_back(std::move(v));
  }
  return out;
}

// One statement (one round trip, atomic): the targets are inserted only when the update
// matched. The row lock taken by UPDATE makes a concurrent second FinishRun wait, then match
// nothing and report Conflict (ParseFinishRun).
pg::Statement FinishRunStatement(int64_t run_id, const RunFinish& finish) {
  JsonWriter targets;
  targets.BeginArray();
  for (size_t i = 0; i < finish.targets.size(); ++i) {
    const TargetResult& t = finish.targets[i];
    targets.BeginObject().Key("position").Int(static_cast<int64_t>(i));
    WriteTargetResultFields(targets, t);
    targets.EndObject();
  }
  targets.EndArray();
  return pg::MakeStatement(
      "WITH u AS (UPDATE runs SET status = $2, finished_at = " LAKESYNC_TS("$3") ", "
      "source_version = $4, target_version = $5, commits = $6, files = $7, bytes = $8, "
      "rows = $9, error = $10 WHERE id = $1 AND status = 'running' RETURNING id), "
      "t AS (INSERT INTO run_targets (run_id, target, position, start_version, end_version, "
      "commits, files, bytes, rows, status, error) SELECT u.id, x.target, x.position, "
      "x.start_version, x.end_version, x.commits, x.files, x.bytes, x.rows, x.status, x.error "
      "FROM u, json_to_recordset($11::json) AS x(target text, position integer, "
      "start_version bigint, end_version bigint, commits bigint, files bigint, bytes bigint, "
      "rows bigint, status text, error text)) "
      "SELECT id FROM u",
      run_id, RunStatusName(finish.status), finish.finished_at, finish.source_version,
      finish.target_version, finish.commits, finish.files, finish.bytes, finish.rows,
      finish.error, targets.str());
}

Status ParseFinishRun(pg::Connection& conn, Result<pg::Rows> updated, int64_t run_id) {
  Status status = updated.status();
  if (status.ok() && updated->size() != 1) status = NotRunning(conn, run_id);
  return status.WithContext(fmt::format("recording the end of run {}", run_id));
}

pg::Statement SetTargetVersionStatement(const TargetVersion& version) {
  return pg::MakeStatement(
      "INSERT INTO target_versions (job, target, replicated_version, source_version, "
      "updated_at, run_id) VALUES ($1, $2, $3, $4, " LAKESYNC_TS("$5") ", $6) "
      "ON CONFLICT (job, target) DO UPDATE SET "
      "replicated_version = excluded.replicated_version, "
      "source_version = excluded.source_version, updated_at = excluded.updated_at, "
      "run_id = excluded.run_id",
      version.job, version.target, version.replicated_version, version.source_version,
      version.updated_at, version.run_id);
}

Status ParseSetTargetVersion(Result<pg::Rows> rows, const TargetVersion& version) {
  return rows.status().WithContext(fmt::format("recording the replicated version of {} for job {}",
                                               version.target, version.job));
}

// Job locks are session-level advisory locks keyed (class, hash of the job name): they vanish
// with the session, so a killed process never leaves a job locked.
#define LAKESYNC_JOB_LOCK_KEY "hashtext('lakesync.job'), hashtext($1)"

pg::Statement TryLockStatement(std::string_view job) {
  return pg::MakeStatement("SELECT pg_try_advisory_lock(" LAKESYNC_JOB_LOCK_KEY ")::int", job);
}

pg::Statement UnlockStatement(std::string_view job) {
  return pg::MakeStatement("SELECT pg_advisory_unlock(" LAKESYNC_JOB_LOCK_KEY ")::int", job);
}

#undef LAKESYNC_JOB_LOCK_KEY

pg::Statement AbandonRunsStatement(std::string_view job, std::string_view error, TimePoint now) {
  return pg::MakeStatement(
      "UPDATE runs SET status = 'failed', error = $2, "
      "finished_at = " LAKESYNC_TS("$3") " WHERE job = $1 AND status = 'running' RETURNING id",
      job, error, now);
}

Result<int> ParseAbandonRuns(Result<pg::Rows> rows) {
  LAKESYNC_RETURN_IF_ERROR(rows.status());
  return rows->size();
}

}  // namespace

int PgStateStore::LatestSchemaVersion() { return EmbeddedMigrations().back().version; }

PgStateStore::PgStateStore(std::unique_ptr<pg::Connection> conn) : conn_(std::move(conn)) {}

PgStateStore::~PgStateStore() = default;

Result<std::unique_ptr<PgStateStore>> PgStateStore::Connect(std::string_view conninfo,
                                                            Duration connect_timeout) {
  LAKESYNC_ASSIGN_OR_RETURN(std::unique_ptr<pg::Connection> conn,
                            pg::Connection::Open(conninfo, connect_timeout));
  return std::unique_ptr<PgStateStore>(new PgStateStore(std::move(conn)));
}

Result<pg::Connection*> PgStateStore::ConnLocked() {
  // An idle session the server ended (a restart, a failover, a terminated backend) is found
  // here, without a round trip, and replaced before the statement fails on it.
  if (conn_->broken() || !conn_->StillConnected()) {
    // One attempt per call: a caller that retries gets a fresh attempt each time.
    spdlog::warn("state store: connection to {} was lost; reconnecting",
                 conn_->redacted_conninfo());
    Status reset = conn_->Reset();
    ForgetLocksOfReplacedSessionLocked();
    LAKESYNC_RETURN_IF_ERROR(reset);
  }
  ForgetLocksOfReplacedSessionLocked();
  return conn_.get();
}

void PgStateStore::ForgetLocksOfReplacedSessionLocked() {
  if (conn_->session() == locks_session_) return;
  // The session's job locks ended with it; the new session holds none.
  lost_job_locks_.insert(held_job_locks_.begin(), held_job_locks_.end());
  held_job_locks_.clear();
  locks_session_ = conn_->session();
}

Status PgStateStore::SessionAlive() {
  std::lock_guard lock(mu_);
  ForgetLocksOfReplacedSessionLocked();
  if (lost_job_locks_.empty() && conn_->StillConnected()) return Status::OK();
  return Status::Unavailable(
      fmt::format("lost the connection to the state store at {}, and with it the job's lock; "
                  "nothing more is published by this run — rerun it once PostgreSQL is back",
                  conn_->redacted_conninfo()));
}

Result<MigrateReport> PgStateStore::Migrate() {
  std::lock_guard lock(mu_);
  LAKESYNC_ASSIGN_OR_RETURN(pg::Connection * conn, ConnLocked());
  // A session-level lock: each migration commits separately, and a second migrator must wait
  // for all of them, then find nothing left to do. A crash releases it with the session.
  LAKESYNC_RETURN_IF_ERROR_CTX(
      conn->Query("SELECT pg_advisory_lock($1::bigint)", kMigrationLockKey).status(),
      "waiting for the schema migration lock");
  Result<MigrateReport> report = MigrateUnderLock(*conn);
  Status unlocked =
      conn->Query("SELECT pg_advisory_unlock($1::bigint)", kMigrationLockKey).status();
  if (!report.ok()) return report.status().WithContext("migrating the state store schema");
  LAKESYNC_RETURN_IF_ERROR_CTX(unlocked, "releasing the schema migration lock");
  return report;
}

Result<int> PgStateStore::SchemaVersion() {
  std::lock_guard lock(mu_);
  LAKESYNC_ASSIGN_OR_RETURN(pg::Connection * conn, ConnLocked());
  // One round trip for a migrated database (every `lakesync run` asks). The table is missing
  // only before the first migration: that query fails (InvalidArgument, undefined table) and
  // the check below tells it apart from other failures.
  const pg::Statement s = SchemaVersionStatement();
  return ParseSchemaVersion(*conn, conn->Exec(s.sql, s.params));
}

std::unique_ptr<Coordination> PgStateStore::BorrowCoordination() {
  return Coordination::Borrow(mu_, *conn_);
}

Result<bool> PgStateStore::Ping() {
  std::lock_guard lock(mu_);
  Result<pg::Connection*> conn = ConnLocked();
  if (!conn.ok()) {
    if (conn.status().code() == StatusCode::kUnavailable) return false;
    return conn.status();
  }
  Result<pg::Rows> rows = (*conn)->Query("SELECT 1");
  if (!rows.ok()) {
    if (rows.status().code() == StatusCode::kUnavailable) return false;
    return rows.status();
  }
  return true;
}

Status PgStateStore::SyncJobs(
    const std::vector<std::pair<std::string, std::string>>& name_and_kind) {
  LAKESYNC_ASSIGN_OR_RETURN(pg::Statement s, SyncJobsStatement(name_and_kind));
  std::lock_guard lock(mu_);
  LAKESYNC_ASSIGN_OR_RETURN(pg::Connection * conn, ConnLocked());
  return ParseSyncJobs(conn->Exec(s.sql, s.params));
}

Result<int64_t> PgStateStore::StartRun(const RunStart& start) {
  LAKESYNC_RETURN_IF_ERROR(ValidateRunStart(start));
  std::lock_guard lock(mu_);
  LAKESYNC_ASSIGN_OR_RETURN(pg::Connection * conn, ConnLocked());
  const pg::Statement s = StartRunStatement(start);
  return ParseStartRun(conn->Exec(s.sql, s.params), start.job);
}

Status PgStateStore::HeartbeatRun(int64_t run_id, TimePoint now) {
  std::lock_guard lock(mu_);
  LAKESYNC_ASSIGN_OR_RETURN(pg::Connection * conn, ConnLocked());
  LAKESYNC_ASSIGN_OR_RETURN(
      pg::Rows rows, conn->Query("UPDATE runs SET heartbeat_at = " LAKESYNC_TS(
                                     "$2") " "
                                           "WHERE id = $1 AND status = 'running' RETURNING id",
                                 run_id, now));
  if (rows.size() == 1) return Status::OK();
  return NotRunning(*conn, run_id);
}

Status PgStateStore::FinishRun(int64_t run_id, const RunFinish& finish) {
  LAKESYNC_RETURN_IF_ERROR(ValidateRunFinish(run_id, finish));
  std::lock_guard lock(mu_);
  LAKESYNC_ASSIGN_OR_RETURN(pg::Connection * conn, ConnLocked());
  const pg::Statement s = FinishRunStatement(run_id, finish);
  return ParseFinishRun(*conn, conn->Exec(s.sql, s.params), run_id);
}

Result<std::vector<RunRecord>> PgStateStore::RunsLocked(std::string_view job, int limit) {
  LAKESYNC_ASSIGN_OR_RETURN(pg::Connection * conn, ConnLocked());
  std::vector<RunRecord> runs;
  // One snapshot for both queries, so a run and its targets are read as of the same moment.
  Status status = conn->InTransaction(
      [&]() -> Status {
        LAKESYNC_ASSIGN_OR_RETURN(
            pg::Rows rows, conn->Query(fmt::format("SELECT {} FROM runs WHERE job = $1 "
                                                   "ORDER BY started_at DESC, id DESC LIMIT $2",
                                                   kRunColumns),
                                       job, limit));
        std::map<int64_t, size_t> index;
        std::string ids = "{";
        for (int r = 0; r < rows.size(); ++r) {
          LAKESYNC_ASSIGN_OR_RETURN(RunRecord run, ParseRun(rows, r));
          if (ids.size() > 1) ids += ",";
          ids += std::to_string(run.id);
          index[run.id] = runs.size();
          runs.push_back(std::move(run));
        }
        ids += "}";
        if (runs.empty()) return Status::OK();
        LAKESYNC_ASSIGN_OR_RETURN(
            pg::Rows targets,
            conn->Query("SELECT run_id, target, start_version, end_version, commits, files, "
                        "bytes, rows, status, error FROM run_targets "
                        "WHERE run_id = ANY($1::bigint[]) ORDER BY run_id, position",
                        ids));
        for (int r = 0; r < targets.size(); ++r) {
          LAKESYNC_ASSIGN_OR_RETURN(int64_t run_id, targets.Int64(r, 0));
          LAKESYNC_ASSIGN_OR_RETURN(TargetResult target, ParseTarget(targets, r));
          runs[index.at(run_id)].targets.push_back(std::move(target));
        }
        return Status::OK();
      },
      "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
  LAKESYNC_RETURN_IF_ERROR_CTX(status, fmt::format("reading the runs of job {}", job));
  return runs;
}

Result<std::optional<RunRecord>> PgStateStore::LastRun(std::string_view job) {
  std::lock_guard lock(mu_);
  LAKESYNC_ASSIGN_OR_RETURN(std::vector<RunRecord> runs, RunsLocked(job, 1));
  if (runs.empty()) return std::optional<RunRecord>();
  return std::optional<RunRecord>(std::move(runs.front()));
}

Result<std::optional<TimePoint>> PgStateStore::LastSuccessAt(std::string_view job) {
  static constexpr const char* kSql =
      "SELECT max(" LAKESYNC_MS("finished_at") ") FROM runs WHERE job = $1 AND status = "
      "'succeeded'";
  std::lock_guard lock(mu_);
  LAKESYNC_ASSIGN_OR_RETURN(pg::Connection * conn, ConnLocked());
  LAKESYNC_ASSIGN_OR_RETURN(pg::Rows rows, conn->Query(kSql, job));
  return rows.OptionalTime(0, 0);
}

Result<std::vector<RunRecord>> PgStateStore::ListRuns(std::string_view job, int limit) {
  if (limit < 1) {
    return Status::InvalidArgument(
        fmt::format("cannot list {} runs of job {}; pass a limit of at least 1", limit, job));
  }
  std::lock_guard lock(mu_);
  return RunsLocked(job, limit);
}

Status PgStateStore::SetTargetVersion(const TargetVersion& version) {
  LAKESYNC_RETURN_IF_ERROR(ValidateTargetVersion(version));
  std::lock_guard lock(mu_);
  LAKESYNC_ASSIGN_OR_RETURN(pg::Connection * conn, ConnLocked());
  const pg::Statement s = SetTargetVersionStatement(version);
  return ParseSetTargetVersion(conn->Exec(s.sql, s.params), version);
}

Status PgStateStore::FinishRunWithVersions(int64_t run_id,
                                           const std::vector<TargetVersion>& versions,
                                           const RunFinish& finish) {
  for (const auto& v : versions) LAKESYNC_RETURN_IF_ERROR(ValidateTargetVersion(v));
  LAKESYNC_RETURN_IF_ERROR(ValidateRunFinish(run_id, finish));
  std::lock_guard lock(mu_);
  LAKESYNC_ASSIGN_OR_RETURN(pg::Connection * conn, ConnLocked());
  // One round trip; each statement still runs as its own call would.
  std::vector<pg::Statement> statements;
  for (const auto& v : versions) statements.push_back(SetTargetVersionStatement(v));
  statements.push_back(FinishRunStatement(run_id, finish));
  std::vector<Result<pg::Rows>> answers = conn->ExecPipeline(statements);
  for (size_t i = 0; i < versions.size(); ++i) {
    LAKESYNC_RETURN_IF_ERROR(ParseSetTargetVersion(std::move(answers[i]), versions[i]));
  }
  return ParseFinishRun(*conn, std::move(answers.back()), run_id);
}

Result<std::vector<TargetVersion>> PgStateStore::TargetVersions(std::string_view job) {
  std::lock_guard lock(mu_);
  LAKESYNC_ASSIGN_OR_RETURN(pg::Connection * conn, ConnLocked());
  const pg::Statement s = TargetVersionsStatement(job);
  return ParseTargetVersions(conn->Exec(s.sql, s.params), job);
}

Status PgStateStore::UpsertSnapshot(const SnapshotRecord& r) {
  LAKESYNC_RETURN_IF_ERROR(ValidateSnapshotRecord(r));
  std::lock_guard lock(mu_);
  LAKESYNC_ASSIGN_OR_RETURN(pg::Connection * conn, ConnLocked());
  return conn
      ->Query("INSERT INTO snapshots (job, snapshot_id, target, source_version, "
              "commit_timestamp, files, bytes, rows, status, created_at, deleted_at) VALUES "
              "($1, $2, $3, $4, " LAKESYNC_TS("$5") ", $6, $7, $8, $9, " LAKESYNC_TS("$10") ", "
              LAKESYNC_TS("$11") ") ON CONFLICT (job, snapshot_id) DO UPDATE SET "
              "target = excluded.target, source_version = excluded.source_version, "
              "commit_timestamp = excluded.commit_timestamp, files = excluded.files, "
              "bytes = excluded.bytes, rows = excluded.rows, status = excluded.status, "
              "created_at = excluded.created_at, deleted_at = excluded.deleted_at",
              r.job, r.snapshot_id, r.target, r.source_version, r.commit_timestamp, r.files,
              r.bytes, r.rows, SnapshotRecordStatusName(r.status), r.created_at, r.deleted_at)
      .status()
      .WithContext(fmt::format("recording snapshot {} of job {}", r.snapshot_id, r.job));
}

Result<bool> PgStateStore::MarkSnapshotDeleted(std::string_view job, std::string_view snapshot_id,
                                               TimePoint at) {
  std::lock_guard lock(mu_);
  LAKESYNC_ASSIGN_OR_RETURN(pg::Connection * conn, ConnLocked());
  Result<pg::Rows> rows = conn->Query(
      "UPDATE snapshots SET status = 'deleted', deleted_at = " LAKESYNC_TS("$3") " "
      "WHERE job = $1 AND snapshot_id = $2 RETURNING 1",
      job, snapshot_id, at);
  if (!rows.ok()) {
    return rows.status().WithContext(
        fmt::format("recording the deletion of snapshot {} of job {}", snapshot_id, job));
  }
  return rows->size() > 0;
}

Result<std::vector<SnapshotRecord>> PgStateStore::Snapshots(std::string_view job) {
  std::lock_guard lock(mu_);
  LAKESYNC_ASSIGN_OR_RETURN(pg::Connection * conn, ConnLocked());
  Result<pg::Rows> rows = conn->Query(
      "SELECT job, snapshot_id, target, source_version, " LAKESYNC_MS("commit_timestamp") ", "
      "files, bytes, rows, status, " LAKESYNC_MS("created_at") ", " LAKESYNC_MS("deleted_at")
      " FROM snapshots WHERE job = $1 ORDER BY created_at DESC, snapshot_id DESC",
      job);
  if (!rows.ok()) {
    return rows.status().WithContext(fmt::format("reading the snapshots of job {}", job));
  }
  std::vector<SnapshotRecord> out;
  for (int r = 0; r < rows->size(); ++r) {
    SnapshotRecord s;
    s.job = rows->Text(r, 0);
    s.snapshot_id = rows->Text(r, 1);
    s.target = rows->Text(r, 2);
    LAKESYNC_ASSIGN_OR_RETURN(s.source_version, rows->Int64(r, 3));
    LAKESYNC_ASSIGN_OR_RETURN(s.commit_timestamp, rows->OptionalTime(r, 4));
    LAKESYNC_ASSIGN_OR_RETURN(s.files, rows->Int64(r, 5));
    LAKESYNC_ASSIGN_OR_RETURN(s.bytes, rows->Int64(r, 6));
    LAKESYNC_ASSIGN_OR_RETURN(s.rows, rows->Int64(r, 7));
    LAKESYNC_ASSIGN_OR_RETURN(s.status, ParseSnapshotRecordStatus(rows->Text(r, 8)));
    LAKESYNC_ASSIGN_OR_RETURN(s.created_at, rows->Time(r, 9));
    LAKESYNC_ASSIGN_OR_RETURN(s.deleted_at, rows->OptionalTime(r, 10));
    out.push_back(std::move(s));
  }
  return out;
}

#undef LAKESYNC_TS
#undef LAKESYNC_MS

Result<bool> PgStateStore::TryLockJob(std::string_view job) {
  std::lock_guard lock(mu_);
  // First: a lost session is replaced here, and forgets the locks it held.
  LAKESYNC_ASSIGN_OR_RETURN(pg::Connection * conn, ConnLocked());
  // Advisory locks stack within a session; taking one this session holds is a no-op here.
  if (held_job_locks_.count(job) != 0) return true;
  const pg::Statement s = TryLockStatement(job);
  return ParseTryLockLocked(conn->Exec(s.sql, s.params), job);
}

Result<bool> PgStateStore::ParseTryLockLocked(Result<pg::Rows> rows, std::string_view job) {
  LAKESYNC_RETURN_IF_ERROR(rows.status());
  LAKESYNC_ASSIGN_OR_RETURN(int64_t taken, rows->Int64(0, 0));
  if (taken == 1) {
    held_job_locks_.emplace(job);
    if (auto it = lost_job_locks_.find(job); it != lost_job_locks_.end()) lost_job_locks_.erase(it);
  }
  return taken == 1;
}

Status PgStateStore::UnlockJob(std::string_view job) {
  std::lock_guard lock(mu_);
  LAKESYNC_ASSIGN_OR_RETURN(pg::Connection * conn, ConnLocked());
  const pg::Statement s = UnlockStatement(job);
  LAKESYNC_ASSIGN_OR_RETURN(pg::Rows rows, conn->Exec(s.sql, s.params));
  LAKESYNC_ASSIGN_OR_RETURN(int64_t released, rows.Int64(0, 0));
  held_job_locks_.erase(std::string(job));
  if (released != 1) {
    return Status::NotFound(fmt::format("job {} is not locked by this session", job));
  }
  return Status::OK();
}

Result<int> PgStateStore::AbandonRuns(std::string_view job, std::string_view error, TimePoint now) {
  std::lock_guard lock(mu_);
  LAKESYNC_ASSIGN_OR_RETURN(pg::Connection * conn, ConnLocked());
  const pg::Statement s = AbandonRunsStatement(job, error, now);
  return ParseAbandonRuns(conn->Exec(s.sql, s.params));
}

Result<std::vector<std::string>> PgStateStore::AbandonSilentRuns(Duration silence,
                                                                 std::string_view error) {
  std::lock_guard lock(mu_);
  LAKESYNC_ASSIGN_OR_RETURN(pg::Connection * conn, ConnLocked());
  const int64_t ms = std::chrono::duration_cast<std::chrono::milliseconds>(silence).count();
  LAKESYNC_ASSIGN_OR_RETURN(
      pg::Rows rows,
      conn->Query("UPDATE runs r SET status = 'failed', error = $2, finished_at = "
                  "clock_timestamp() WHERE r.status = 'running' AND r.heartbeat_at IS NOT NULL "
                  "AND r.heartbeat_at < clock_timestamp() - $1::bigint * interval '1 millisecond' "
                  "AND NOT EXISTS (SELECT 1 FROM leases l WHERE l.job = r.job AND l.expires_at > "
                  "clock_timestamp()) RETURNING r.job, r.id",
                  ms, error));
  std::vector<std::string> out;
  for (int i = 0; i < rows.size(); ++i) {
    out.push_back(fmt::format("{}/{}", rows.Text(i, 0), rows.Text(i, 1)));
  }
  return out;
}

Result<RunClaim> PgStateStore::ClaimRun(
    const std::vector<std::pair<std::string, std::string>>& name_and_kind, std::string_view job,
    std::string_view abandon_error, TimePoint now, const RunStart* start) {
  LAKESYNC_ASSIGN_OR_RETURN(pg::Statement sync_jobs, SyncJobsStatement(name_and_kind));
  if (start != nullptr) {
    LAKESYNC_RETURN_IF_ERROR(ValidateRunStart(*start));
    if (start->job != job) return Status::InvalidArgument("ClaimRun: the run is of another job");
  }
  std::lock_guard lock(mu_);
  LAKESYNC_ASSIGN_OR_RETURN(pg::Connection * conn, ConnLocked());
  RunClaim claim;
  // First round trip. In this order on one session: the lease is read after the lock is taken
  // (a daemon checks the lock after taking the lease), as TryLockJob then GetLease would.
  // Advisory locks stack within a session: one this session holds is not taken again.
  const bool held = held_job_locks_.count(job) != 0;
  std::vector<pg::Statement> statements;
  statements.push_back(std::move(sync_jobs));
  if (!held) statements.push_back(TryLockStatement(job));
  statements.push_back(LeaseStatement(job));
  std::vector<Result<pg::Rows>> first = conn->ExecPipeline(statements);
  if (!first[0].ok() && first[0].status().code() == StatusCode::kInvalidArgument) {
    // No jobs table: perhaps a database never migrated (a fresh server's first query costs
    // ~1 ms of catalog loading, so the schema is asked about only here).
    const pg::Statement s = SchemaVersionStatement();
    LAKESYNC_ASSIGN_OR_RETURN(int version, ParseSchemaVersion(*conn, conn->Exec(s.sql, s.params)));
    if (version == 0) {
      claim.migrated = false;
      return claim;
    }
  }
  LAKESYNC_RETURN_IF_ERROR(ParseSyncJobs(std::move(first[0])));
  claim.locked = held;
  if (!held) {
    LAKESYNC_ASSIGN_OR_RETURN(claim.locked, ParseTryLockLocked(std::move(first[1]), job));
  }
  if (!claim.locked) return claim;
  const Result<pg::Rows>& lease_rows = first.back();
  LAKESYNC_RETURN_IF_ERROR(lease_rows.status());
  LAKESYNC_ASSIGN_OR_RETURN(std::optional<LeaseInfo> lease, ParseLease(*lease_rows, job));
  if (lease.has_value() && lease->live) {
    claim.live_lease = std::move(lease);
    claim.locked = false;
    const pg::Statement unlock = UnlockStatement(job);
    LAKESYNC_ASSIGN_OR_RETURN(pg::Rows released, conn->Exec(unlock.sql, unlock.params));
    held_job_locks_.erase(std::string(job));
    return claim;
  }
  // Second round trip: the runs a killed process left `running` (before this run exists, so it
  // is not among them), then this run and the recorded target versions.
  std::vector<pg::Statement> second = {AbandonRunsStatement(job, abandon_error, now)};
  if (start != nullptr) {
    second.push_back(StartRunStatement(*start));
    second.push_back(TargetVersionsStatement(job));
  }
  std::vector<Result<pg::Rows>> answers = conn->ExecPipeline(second);
  LAKESYNC_ASSIGN_OR_RETURN(claim.abandoned, ParseAbandonRuns(std::move(answers[0])));
  if (start != nullptr) {
    LAKESYNC_ASSIGN_OR_RETURN(claim.run_id, ParseStartRun(std::move(answers[1]), job));
    claim.recorded = ParseTargetVersions(std::move(answers[2]), job);
  }
  return claim;
}

}  // namespace lakesync::db
