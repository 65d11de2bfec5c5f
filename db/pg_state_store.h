#pragma once

// The PostgreSQL StateStore. The schema is created and upgraded by Migrate() from the migrations
// compiled into the binary (db/migrations/*.sql), each in its own transaction and recorded in
// lakesync_schema_migrations(version, name, checksum, applied_at).
//
// Tables live in the connection's current schema (search_path). To keep several installations
// in one database, give each its own schema, e.g.
// postgresql://u:p@h/db?options=-csearch_path%3Dlakesync_prod
//
// Errors: Unavailable (retryable) when PostgreSQL cannot be reached or the connection is lost;
// the next call reconnects once before giving up. Messages never contain the password.
//
// Thread-safety: one connection guarded by a mutex; every method is safe from any thread, and
// calls are serialised (the runner makes a handful of small writes per run, so one connection
// is enough).

#include <chrono>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/duration.h"
#include "db/coordination.h"
#include "db/state_store.h"

namespace lakesync::db {

namespace pg {
class Connection;
class Rows;
}  // namespace pg
class Coordination;

// What PgStateStore::ClaimRun found and did.
struct RunClaim {
  // False: the database was never migrated (`lakesync db migrate`), and the caller must stop
  // (the session may hold the job's lock; it ends with the session).
  bool migrated = true;
  // This session holds the job's lock. False when another session holds it, or when a daemon's
  // lease is live (then `live_lease` is set and the lock was released again).
  bool locked = false;
  std::optional<LeaseInfo> live_lease;
  // Runs left `running` by a process that died, now marked failed (only when locked).
  int abandoned = 0;
  // With a RunStart, when locked: the new run, and the target versions recorded before it. The
  // versions are a Result of their own: failing to read them does not fail the claim.
  int64_t run_id = 0;
  Result<std::vector<TargetVersion>> recorded = std::vector<TargetVersion>();
};

struct MigrateReport {
  int from_version = 0;      // schema version before (0 for an empty database)
  int to_version = 0;        // schema version after
  std::vector<int> applied;  // versions this call applied, in order; empty when up to date
};

class PgStateStore final : public StateStore {
 public:
  // Connects to `conninfo` (a postgresql:// URI or libpq keywords). Does not check the schema:
  // call Migrate() (the daemon and `lakesync db migrate` do) before using the store.
  // Errors: Unavailable when the server cannot be reached within `connect_timeout` ("cannot
  // reach the state store at postgresql://u:***@h:5432/db: ...; check state.postgres or
  // LAKESYNC_DATABASE_URL and that PostgreSQL is running"); InvalidArgument for a malformed
  // string, rejected credentials or a missing database.
  [[nodiscard]] static Result<std::unique_ptr<PgStateStore>> Connect(
      std::string_view conninfo, Duration connect_timeout = std::chrono::seconds(5));

  ~PgStateStore() override;

  // Applies the migrations the database lacks, in order. Safe when several processes migrate
  // at once: they serialise on a PostgreSQL advisory lock and the later ones find nothing to do.
  // Errors: Unsupported when the database is at a newer version than this binary knows
  // (upgrade lakesync); Corruption when an applied migration's recorded checksum differs from
  // this binary's copy; the failing migration's error otherwise (that migration is rolled back,
  // earlier ones stay).
  [[nodiscard]] Result<MigrateReport> Migrate();

  // The highest applied migration; 0 for a database lakesync never migrated. One round trip
  // for a migrated database.
  [[nodiscard]] Result<int> SchemaVersion();

  // Leases and run requests (db/coordination.h) over this store's connection, so a process
  // that needs both opens one connection (`lakesync run`). Calls of either object serialise on
  // this store's mutex; session state (job locks) is shared. REQUIRES: this store outlives the
  // result.
  [[nodiscard]] std::unique_ptr<Coordination> BorrowCoordination();

  // The newest schema version this binary knows.
  static int LatestSchemaVersion();

  // OK while the session holding this store's job locks is still connected, checked without a
  // round trip (Connection::StillConnected). Unavailable once it was lost: its job locks went
  // with it, and a reconnect does not bring them back. `lakesync run` asks before every publish.
  [[nodiscard]] Status SessionAlive();

  // Marks failed, with `error`, the runs a daemon left `running` that nobody will finish: their
  // last heartbeat (runs.heartbeat_at, which only daemon runs write) is older than `silence` by
  // the database's clock, and no live lease holds their job (a run that is still going keeps
  // its lease). The next lease holder of the job does this too; this also covers jobs nobody
  // runs any more (manual-only, removed from the configuration). Returns "job/run" for each.
  Result<std::vector<std::string>> AbandonSilentRuns(Duration silence, std::string_view error);

  // True when a round trip to PostgreSQL succeeds (reconnecting once if needed), false when it
  // cannot be reached. Other failures come back as errors.
  [[nodiscard]] Result<bool> Ping();

  // What `lakesync run` asks before a run, in two round trips (libpq pipeline mode) where the
  // calls one by one would take seven: SyncJobs (the schema version only when that fails),
  // TryLockJob, then the job's lease (read after the lock is taken, as a daemon checks the lock
  // after taking the lease); when the lock is taken and no daemon's lease is live, AbandonRuns(job,
  // abandon_error, now) and, with `start`, StartRun(*start) and TargetVersions(job). Each statement
  // runs as its own call would. Errors: those of the calls it stands for; a claim that finds the
  // job busy is not an error (see RunClaim).
  [[nodiscard]] Result<RunClaim> ClaimRun(
      const std::vector<std::pair<std::string, std::string>>& name_and_kind, std::string_view job,
      std::string_view abandon_error, TimePoint now, const RunStart* start);

  Status SyncJobs(const std::vector<std::pair<std::string, std::string>>& name_and_kind) override;
  Result<int64_t> StartRun(const RunStart& start) override;
  Status HeartbeatRun(int64_t run_id, TimePoint now) override;
  Status FinishRun(int64_t run_id, const RunFinish& finish) override;
  Result<std::optional<RunRecord>> LastRun(std::string_view job) override;
  Result<std::optional<TimePoint>> LastSuccessAt(std::string_view job) override;
  Result<std::vector<RunRecord>> ListRuns(std::string_view job, int limit) override;
  Status SetTargetVersion(const TargetVersion& version) override;
  // One round trip (libpq pipeline mode).
  Status FinishRunWithVersions(int64_t run_id, const std::vector<TargetVersion>& versions,
                               const RunFinish& finish) override;
  Result<std::vector<TargetVersion>> TargetVersions(std::string_view job) override;
  Result<bool> TryLockJob(std::string_view job) override;
  Status UnlockJob(std::string_view job) override;
  Result<int> AbandonRuns(std::string_view job, std::string_view error, TimePoint now) override;
  Status UpsertSnapshot(const SnapshotRecord& snapshot) override;
  Result<bool> MarkSnapshotDeleted(std::string_view job, std::string_view snapshot_id,
                                   TimePoint at) override;
  Result<std::vector<SnapshotRecord>> Snapshots(std::string_view job) override;

 private:
  explicit PgStateStore(std::unique_ptr<pg::Connection> conn);

  // REQUIRES: mu_ held. The connection, re-established first if it was lost.
  Result<pg::Connection*> ConnLocked();
  // REQUIRES: mu_ held. Moves the locks of a session that was replaced (by this store or by a
  // borrowed Coordination on the same connection) from held to lost.
  void ForgetLocksOfReplacedSessionLocked();
  Result<std::vector<RunRecord>> RunsLocked(std::string_view job, int limit);
  // REQUIRES: mu_ held. TryLockJob's answer, recorded in held_job_locks_.
  Result<bool> ParseTryLockLocked(Result<pg::Rows> rows, std::string_view job);

  std::mutex mu_;
  std::unique_ptr<pg::Connection> conn_;
  std::set<std::string, std::less<>> held_job_locks_;  // guarded by mu_
  // The locks a replaced session held, until each is taken again: SessionAlive fails while any
  // is here, also after a statement's reconnect made the connection itself alive again.
  std::set<std::string, std::less<>> lost_job_locks_;  // guarded by mu_
  uint64_t locks_session_ = 0;  // conn_->session() that held_job_locks_ belong to; mu_
};

}  // namespace lakesync::db
