// Integration tests of PgStateStore against a real PostgreSQL.
//
// The server is named by LAKESYNC_TEST_DATABASE_URL (a user allowed to CREATE DATABASE). Each
// test creates its own database (lakesync_test_<pid>_<n>) and drops it afterwards, so tests see
// neither each other nor anything else on the server. Run them with
//   eval "$(scripts/pg.sh start /tmp/pg)"
//   LAKESYNC_TEST_DATABASE_URL=$LAKESYNC_DATABASE_URL build/db/db_pg_test

#include "db/pg_state_store.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <latch>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "db/coordination.h"
#include "db/migrations.h"
#include "db/pg.h"
#include "db/state_store_contract_test.h"

namespace lakesync::db {
namespace {

using namespace std::chrono_literals;

constexpr char kSkipMessage[] =
    "\n*** PostgreSQL integration test SKIPPED: LAKESYNC_TEST_DATABASE_URL is not set. ***\n"
    "Run `make test`, or: eval \"$(scripts/pg.sh start /tmp/pg)\" && "
    "LAKESYNC_TEST_DATABASE_URL=$LAKESYNC_DATABASE_URL ./db_pg_test\n";

std::string AdminUrl() {
  const char* url = std::getenv("LAKESYNC_TEST_DATABASE_URL");
  return url != nullptr ? url : "";
}

// `url` pointing at database `db` instead: the URI path is replaced, or (keyword form) a later
// dbname= keyword overrides the first.
std::string UrlForDatabase(const std::string& url, const std::string& db) {
  size_t scheme = url.find("://");
  if (scheme == std::string::npos) return url + " dbname=" + db;
  size_t path = url.find_first_of("/?", scheme + 3);
  if (path == std::string::npos) return url + "/" + db;
  size_t query = url.find('?', path);
  std::string rest = query == std::string::npos ? "" : url.substr(query);
  return url.substr(0, path) + "/" + db + rest;
}

std::string WithParam(const std::string& url, const std::string& param) {
  if (url.find("://") == std::string::npos) return url + " " + param;
  return url + (url.find('?') == std::string::npos ? "?" : "&") + param;
}

std::string PasswordOf(const std::string& url) {
  // postgresql://user:PASSWORD@host...
  size_t scheme = url.find("://");
  size_t at = url.find('@', scheme);
  size_t colon = url.find(':', scheme + 3);
  if (scheme == std::string::npos || at == std::string::npos || colon > at) return "";
  return url.substr(colon + 1, at - colon - 1);
}

// A database created for one test and dropped when it goes out of scope.
class TestDatabase {
 public:
  TestDatabase() {
    static std::atomic<int> counter{0};
    name_ = "lakesync_test_" + std::to_string(getpid()) + "_" + std::to_string(counter++);
    Result<std::unique_ptr<pg::Connection>> admin =
        pg::Connection::Open(AdminUrl(), std::chrono::seconds(10));
    if (!admin.ok()) {
      ADD_FAILURE() << "cannot open the maintenance connection: " << admin.status();
      return;
    }
    admin_ = std::move(*admin);
    // Identifiers cannot be bound as parameters; the name is built above from digits only.
    Status s = admin_->ExecScript("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
    if (s.ok()) s = admin_->ExecScript("CREATE DATABASE " + name_);
    if (!s.ok()) ADD_FAILURE() << "cannot create database " << name_ << ": " << s;
    ok_ = s.ok();
  }
  ~TestDatabase() {
    if (admin_ != nullptr) {
      Status s = admin_->ExecScript("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
      if (!s.ok()) ADD_FAILURE() << "cannot drop database " << name_ << ": " << s;
    }
  }
  bool ok() const { return ok_; }
  std::string url() const { return UrlForDatabase(AdminUrl(), name_); }
  // Whether the database accepts new connections (ALLOW_CONNECTIONS, which holds for
  // superusers too): false is "PostgreSQL is unreachable" for this database.
  Status AllowConnections(bool allow) {
    return admin_->ExecScript("ALTER DATABASE " + name_ + " ALLOW_CONNECTIONS " +
                              (allow ? "true" : "false"));
  }

  // A store connected to this database.
  std::unique_ptr<PgStateStore> Store() const {
    Result<std::unique_ptr<PgStateStore>> store = PgStateStore::Connect(url());
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? std::move(*store) : nullptr;
  }
  // A plain connection for checking what the store wrote.
  std::unique_ptr<pg::Connection> Sql() const {
    Result<std::unique_ptr<pg::Connection>> conn =
        pg::Connection::Open(url(), std::chrono::seconds(10));
    EXPECT_TRUE(conn.ok()) << conn.status();
    return conn.ok() ? std::move(*conn) : nullptr;
  }

 private:
  std::string name_;
  std::unique_ptr<pg::Connection> admin_;
  bool ok_ = false;
};

// The migration files in the source tree, counted independently of the embedded copy.
std::vector<std::filesystem::path> MigrationFiles() {
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(
           std::filesystem::path(LAKESYNC_SOURCE_DIR) / "db" / "migrations")) {
    if (e.path().extension() == ".sql") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// ---- The shared StateStore contract, on a freshly migrated database -----------------------

// Owns the store together with its database, so the database outlives the store.
class OwningPgStore final : public StateStore {
 public:
  OwningPgStore(std::unique_ptr<TestDatabase> db, std::unique_ptr<PgStateStore> store)
      : db_(std::move(db)), store_(std::move(store)) {}
  ~OwningPgStore() override { store_.reset(); }

  Status SyncJobs(const std::vector<std::pair<std::string, std::string>>& j) override {
    return store_->SyncJobs(j);
  }
  Result<int64_t> StartRun(const RunStart& s) override { return store_->StartRun(s); }
  Status HeartbeatRun(int64_t id, TimePoint now) override { return store_->HeartbeatRun(id, now); }
  Status FinishRun(int64_t id, const RunFinish& f) override { return store_->FinishRun(id, f); }
  Result<std::optional<RunRecord>> LastRun(std::string_view job) override {
    return store_->LastRun(job);
  }
  Result<std::optional<TimePoint>> LastSuccessAt(std::string_view job) override {
    return store_->LastSuccessAt(job);
  }
  Result<std::vector<RunRecord>> ListRuns(std::string_view job, int limit) override {
    return store_->ListRuns(job, limit);
  }
  Status SetTargetVersion(const TargetVersion& v) override { return store_->SetTargetVersion(v); }
  Status FinishRunWithVersions(int64_t run_id, const std::vector<TargetVersion>& versions,
                               const RunFinish& finish) override {
    return store_->FinishRunWithVersions(run_id, versions, finish);
  }
  Result<std::vector<TargetVersion>> TargetVersions(std::string_view job) override {
    return store_->TargetVersions(job);
  }
  Result<bool> TryLockJob(std::string_view job) override { return store_->TryLockJob(job); }
  Status UnlockJob(std::string_view job) override { return store_->UnlockJob(job); }
  Result<int> AbandonRuns(std::string_view job, std::string_view error, TimePoint now) override {
    return store_->AbandonRuns(job, error, now);
  }
  Status UpsertSnapshot(const SnapshotRecord& s) override { return store_->UpsertSnapshot(s); }
  Result<bool> MarkSnapshotDeleted(std::string_view job, std::string_view id,
                                   TimePoint at) override {
    return store_->MarkSnapshotDeleted(job, id, at);
  }
  Result<std::vector<SnapshotRecord>> Snapshots(std::string_view job) override {
    return store_->Snapshots(job);
  }

 private:
  std::unique_ptr<TestDatabase> db_;
  std::unique_ptr<PgStateStore> store_;
};

struct PgFactory {
  std::unique_ptr<StateStore> Make() {
    if (AdminUrl().empty()) return nullptr;
    auto db = std::make_unique<TestDatabase>();
    if (!db->ok()) return nullptr;
    std::unique_ptr<PgStateStore> store = db->Store();
    if (store == nullptr) return nullptr;
    Result<MigrateReport> report = store->Migrate();
    EXPECT_TRUE(report.ok()) << report.status();
    if (!report.ok()) return nullptr;
    return std::make_unique<OwningPgStore>(std::move(db), std::move(store));
  }
  std::string SkipReason() {
    return AdminUrl().empty() ? kSkipMessage : "could not set up a test database (see failures)";
  }
};

INSTANTIATE_TYPED_TEST_SUITE_P(Postgres, StateStoreContractTest, PgFactory);

// ---- Migrations and PostgreSQL-specific behaviour -----------------------------------------

class PgStateStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (AdminUrl().empty()) GTEST_SKIP() << kSkipMessage;
    db_ = std::make_unique<TestDatabase>();
    ASSERT_TRUE(db_->ok());
  }
  // A migrated store whose session is named "lakesync_test_<pid>_<name>" (its
  // application_name, returned in `app`), so that the test can end it. Null on failure.
  std::unique_ptr<PgStateStore> NamedStore(const std::string& name, std::string& app) {
    app = "lakesync_test_" + std::to_string(getpid()) + "_" + name;
    Result<std::unique_ptr<PgStateStore>> connected =
        PgStateStore::Connect(WithParam(db_->url(), "application_name=" + app));
    EXPECT_TRUE(connected.ok()) << connected.status();
    if (!connected.ok()) return nullptr;
    EXPECT_TRUE((*connected)->Migrate().ok());
    return std::move(connected).value();
  }
  // Ends the session named `app` from another one, waiting for its backend to exit; how many
  // sessions it ended ("1"), or the error.
  std::string EndSession(const std::string& app) {
    // From the maintenance database: the test's own may be refusing connections.
    Result<std::unique_ptr<pg::Connection>> sql =
        pg::Connection::Open(AdminUrl(), std::chrono::seconds(10));
    if (!sql.ok()) return sql.status().ToString();
    Result<pg::Rows> killed = (*sql)->Query(
        "SELECT count(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity "
        "WHERE application_name = $1",
        app);
    if (!killed.ok()) return killed.status().ToString();
    return std::string(killed->Text(0, 0));
  }
  std::unique_ptr<TestDatabase> db_;
};

TEST_F(PgStateStoreTest, FreshMigrateCreatesEveryTable) {
  std::unique_ptr<PgStateStore> store = db_->Store();
  ASSERT_NE(store, nullptr);
  Result<int> before = store->SchemaVersion();
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_EQ(*before, 0);

  const int latest = static_cast<int>(MigrationFiles().size());
  Result<MigrateReport> report = store->Migrate();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->from_version, 0);
  EXPECT_EQ(report->to_version, latest);
  std::vector<int> all;
  for (int v = 1; v <= latest; ++v) all.push_back(v);
  EXPECT_EQ(report->applied, all);

  Result<int> after = store->SchemaVersion();
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(*after, latest);

  std::unique_ptr<pg::Connection> sql = db_->Sql();
  ASSERT_NE(sql, nullptr);
  Result<pg::Rows> tables = sql->Query(
      "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() "
      "ORDER BY table_name");
  ASSERT_TRUE(tables.ok()) << tables.status();
  std::set<std::string> names;
  for (int r = 0; r < tables->size(); ++r) names.insert(std::string(tables->Text(r, 0)));
  for (const char* want : {"jobs", "runs", "run_targets", "target_versions", "snapshots",
                           "run_requests", "leases", "lakesync_schema_migrations"}) {
    EXPECT_EQ(names.count(want), 1u) << "missing table " << want;
  }

  // Each migration is recorded once, with the checksum of the file in the source tree.
  Result<pg::Rows> recorded =
      sql->Query("SELECT version, name, checksum FROM lakesync_schema_migrations ORDER BY version");
  ASSERT_TRUE(recorded.ok()) << recorded.status();
  std::vector<std::filesystem::path> files = MigrationFiles();
  ASSERT_EQ(recorded->size(), static_cast<int>(files.size()));
  for (int r = 0; r < recorded->size(); ++r) {
    EXPECT_EQ(recorded->Text(r, 0), std::to_string(r + 1));
    // "0001_init.sql" → "init"
    std::string stem = files[r].stem().string();
    EXPECT_EQ(recorded->Text(r, 1), stem.substr(5));
    EXPECT_EQ(recorded->Text(r, 2), MigrationChecksum(ReadFile(files[r])));
  }
}

TEST_F(PgStateStoreTest, RemigrateIsANoOp) {
  std::unique_ptr<PgStateStore> store = db_->Store();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->Migrate().ok());
  const int latest = static_cast<int>(MigrationFiles().size());
  Result<MigrateReport> again = store->Migrate();
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->from_version, latest);
  EXPECT_EQ(again->to_version, latest);
  EXPECT_TRUE(again->applied.empty());
  // And from a second connection (another process's view).
  std::unique_ptr<PgStateStore> other = db_->Store();
  ASSERT_NE(other, nullptr);
  Result<MigrateReport> third = other->Migrate();
  ASSERT_TRUE(third.ok()) << third.status();
  EXPECT_TRUE(third->applied.empty());
}

void ExpectEachMigrationRecordedOnce(const TestDatabase& db) {
  std::unique_ptr<pg::Connection> sql = db.Sql();
  ASSERT_NE(sql, nullptr);
  Result<pg::Rows> rows = sql->Query(
      "SELECT version, count(*) FROM lakesync_schema_migrations GROUP BY version "
      "ORDER BY version");
  ASSERT_TRUE(rows.ok()) << rows.status();
  const int latest = static_cast<int>(MigrationFiles().size());
  ASSERT_EQ(rows->size(), latest);
  for (int r = 0; r < latest; ++r) {
    EXPECT_EQ(rows->Text(r, 0), std::to_string(r + 1));
    EXPECT_EQ(rows->Text(r, 1), "1");
  }
}

TEST_F(PgStateStoreTest, ConcurrentMigratorsInThreadsEachSucceed) {
  constexpr int kMigrators = 4;
  std::vector<std::unique_ptr<PgStateStore>> stores;
  for (int i = 0; i < kMigrators; ++i) {
    stores.push_back(db_->Store());
    ASSERT_NE(stores.back(), nullptr);
  }
  std::latch start(kMigrators);
  std::vector<Result<MigrateReport>> reports(kMigrators, Status::Internal("not run"));
  std::vector<std::thread> threads;
  for (int i = 0; i < kMigrators; ++i) {
    threads.emplace_back([&, i] {
      start.arrive_and_wait();  // all connected; migrate at the same moment
      reports[i] = stores[i]->Migrate();
    });
  }
  for (std::thread& t : threads) t.join();
  size_t applied_total = 0;
  for (const Result<MigrateReport>& r : reports) {
    ASSERT_TRUE(r.ok()) << r.status();
    applied_total += r->applied.size();
    EXPECT_EQ(r->to_version, static_cast<int>(MigrationFiles().size()));
  }
  // Every migration was applied by exactly one of them.
  EXPECT_EQ(applied_total, MigrationFiles().size());
  ExpectEachMigrationRecordedOnce(*db_);
}

TEST_F(PgStateStoreTest, ConcurrentMigratorsInProcessesEachSucceed) {
  constexpr int kChildren = 3;
  const std::string url = db_->url();
  std::unique_ptr<PgStateStore> store = db_->Store();
  ASSERT_NE(store, nullptr);
  // Each child connects, reports on `ready`, then blocks reading `gun` until the parent closes
  // it: all migrators start together, without sleeps.
  int ready[2], gun[2];
  ASSERT_EQ(pipe(ready), 0);
  ASSERT_EQ(pipe(gun), 0);
  std::vector<pid_t> children;
  for (int i = 0; i < kChildren; ++i) {
    pid_t pid = fork();
    if (pid < 0) {
      ADD_FAILURE() << "fork failed";
      break;
    }
    if (pid == 0) {
      close(gun[1]);
      close(ready[0]);
      Result<std::unique_ptr<PgStateStore>> child_store = PgStateStore::Connect(url);
      char c = 'r';
      if (write(ready[1], &c, 1) != 1) _exit(2);
      while (read(gun[0], &c, 1) > 0) {
      }
      int code = child_store.ok() && (*child_store)->Migrate().ok() ? 0 : 1;
      _exit(code);  // no destructors: the parent's objects are not ours to tear down
    }
    children.push_back(pid);
  }
  close(ready[1]);
  close(gun[0]);
  char c;
  for (size_t n = 0; n < children.size() && read(ready[0], &c, 1) == 1; ++n) {
  }
  close(ready[0]);
  close(gun[1]);
  Result<MigrateReport> mine = store->Migrate();
  for (pid_t pid : children) {
    int wstatus = 0;
    EXPECT_EQ(waitpid(pid, &wstatus, 0), pid);
    EXPECT_TRUE(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0) << "migrator process failed";
  }
  ASSERT_TRUE(mine.ok()) << mine.status();
  ExpectEachMigrationRecordedOnce(*db_);
}

TEST_F(PgStateStoreTest, NewerSchemaIsRefusedWithAClearMessage) {
  std::unique_ptr<PgStateStore> store = db_->Store();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->Migrate().ok());
  const int latest = static_cast<int>(MigrationFiles().size());
  // A later lakesync applied two more migrations.
  std::unique_ptr<pg::Connection> sql = db_->Sql();
  ASSERT_NE(sql, nullptr);
  ASSERT_TRUE(sql->Query("INSERT INTO lakesync_schema_migrations (version, name, checksum) "
                         "VALUES ($1, 'future', 'x'), ($2, 'future2', 'y')",
                         latest + 1, latest + 2)
                  .ok());
  Result<int> version = store->SchemaVersion();
  ASSERT_TRUE(version.ok());
  EXPECT_EQ(*version, latest + 2);
  Result<MigrateReport> report = store->Migrate();
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.status().code(), StatusCode::kUnsupported) << report.status();
  std::string expected = "database schema is at version " + std::to_string(latest + 2) +
                         " but this lakesync knows only up to " + std::to_string(latest) +
                         "; upgrade lakesync";
  EXPECT_NE(report.status().message().find(expected), std::string::npos) << report.status();
}

TEST_F(PgStateStoreTest, EditedMigrationIsCorruption) {
  std::unique_ptr<PgStateStore> store = db_->Store();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->Migrate().ok());
  std::unique_ptr<pg::Connection> sql = db_->Sql();
  ASSERT_NE(sql, nullptr);
  ASSERT_TRUE(sql->Query("UPDATE lakesync_schema_migrations SET checksum = $1 WHERE version = 1",
                         "xxh3-64:0000000000000000")
                  .ok());
  Result<MigrateReport> report = store->Migrate();
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.status().code(), StatusCode::kCorruption) << report.status();
  EXPECT_NE(report.status().message().find("0001_init.sql"), std::string::npos);
}

TEST_F(PgStateStoreTest, UnmigratedDatabaseSaysToMigrate) {
  std::unique_ptr<PgStateStore> store = db_->Store();
  ASSERT_NE(store, nullptr);
  Result<int64_t> id = store->StartRun(RunStart{"j", "incremental", Trigger::kManual, 1, "r", {}});
  ASSERT_FALSE(id.ok());
  EXPECT_EQ(id.status().code(), StatusCode::kInvalidArgument) << id.status();
  EXPECT_NE(id.status().message().find("lakesync db migrate"), std::string::npos) << id.status();
}

// Runs a dead daemon left `running` on a job nobody runs any more were never closed (only the
// next lease holder of the same job abandoned them). A daemon's sweep closes those whose last
// heartbeat is old and whose job no live lease holds; a run still going (its lease live), a
// `lakesync run` (which writes no heartbeat) and a recent heartbeat are left alone.
TEST_F(PgStateStoreTest, SilentDaemonRunsAreAbandonedUnlessTheirJobIsLeased) {
  std::unique_ptr<PgStateStore> store = db_->Store();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->Migrate().ok());
  ASSERT_TRUE(store
                  ->SyncJobs({{"dead", "incremental"},
                              {"leased", "incremental"},
                              {"cli", "incremental"},
                              {"fresh", "incremental"}})
                  .ok());
  const TimePoint now = std::chrono::system_clock::now();
  std::map<std::string, int64_t> ids;
  for (const std::string job : {"dead", "leased", "cli", "fresh"}) {
    Result<int64_t> id =
        store->StartRun(RunStart{job, "incremental", Trigger::kSchedule, 1, "r", now - 10min});
    ASSERT_TRUE(id.ok()) << id.status();
    ids[job] = *id;
  }
  ASSERT_TRUE(store->HeartbeatRun(ids["dead"], now - 5min).ok());
  ASSERT_TRUE(store->HeartbeatRun(ids["leased"], now - 5min).ok());
  ASSERT_TRUE(store->HeartbeatRun(ids["fresh"], now).ok());
  std::unique_ptr<Coordination> coord = store->BorrowCoordination();
  ASSERT_TRUE(coord->AcquireLease("leased", "r", 1h).value().has_value());

  Result<std::vector<std::string>> swept = store->AbandonSilentRuns(1min, "abandoned: test");
  ASSERT_TRUE(swept.ok()) << swept.status();
  EXPECT_EQ(*swept, std::vector<std::string>{"dead/" + std::to_string(ids["dead"])});
  for (const auto& [job, id] : ids) {
    Result<std::optional<RunRecord>> last = store->LastRun(job);
    ASSERT_TRUE(last.ok() && last->has_value()) << job;
    EXPECT_EQ((*last)->status, job == "dead" ? RunStatus::kFailed : RunStatus::kRunning) << job;
    if (job == "dead") {
      EXPECT_EQ((*last)->error, "abandoned: test");
    }
  }
  EXPECT_TRUE(store->AbandonSilentRuns(1min, "again").value().empty());
}

TEST_F(PgStateStoreTest, SyncJobsUpsertsRows) {
  std::unique_ptr<PgStateStore> store = db_->Store();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->Migrate().ok());
  ASSERT_TRUE(store->SyncJobs({{"a", "incremental"}, {"b", "snapshot"}}).ok());
  ASSERT_TRUE(store->SyncJobs({{"a", "consolidation"}}).ok());
  std::unique_ptr<pg::Connection> sql = db_->Sql();
  ASSERT_NE(sql, nullptr);
  Result<pg::Rows> rows =
      sql->Query("SELECT name, kind, last_seen >= first_seen FROM jobs ORDER BY name");
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->size(), 2);
  EXPECT_EQ(rows->Text(0, 0), "a");
  EXPECT_EQ(rows->Text(0, 1), "consolidation");
  EXPECT_EQ(rows->Text(0, 2), "t");
  EXPECT_EQ(rows->Text(1, 0), "b");
  EXPECT_EQ(rows->Text(1, 1), "snapshot");
}

TEST_F(PgStateStoreTest, SyncJobsOfAListNamingAJobTwiceKeepsItsLastKind) {
  // One statement upserts the whole list; a name listed twice must not make it fail.
  std::unique_ptr<PgStateStore> store = db_->Store();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->Migrate().ok());
  const std::string odd = "o'brien\"; -- \\ \n ünïcode";
  Status s = store->SyncJobs({{"z", "snapshot"}, {odd, "incremental"}, {"z", "consolidation"}});
  ASSERT_TRUE(s.ok()) << s;
  std::unique_ptr<pg::Connection> sql = db_->Sql();
  ASSERT_NE(sql, nullptr);
  Result<pg::Rows> rows = sql->Query("SELECT name, kind FROM jobs ORDER BY kind");
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->size(), 2);
  EXPECT_EQ(rows->Text(0, 0), "z");
  EXPECT_EQ(rows->Text(0, 1), "consolidation");
  EXPECT_EQ(rows->Text(1, 0), odd);
  EXPECT_EQ(rows->Text(1, 1), "incremental");
}

TEST_F(PgStateStoreTest, FinishRunKeepsOddTargetNamesAndNullVersions) {
  std::unique_ptr<PgStateStore> store = db_->Store();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->Migrate().ok());
  Result<int64_t> id = store->StartRun(
      RunStart{"j", "incremental", Trigger::kManual, 1, "r", FromUnixMillis(1795399200000)});
  ASSERT_TRUE(id.ok()) << id.status();
  RunFinish finish;
  finish.status = RunStatus::kPartial;
  finish.finished_at = FromUnixMillis(1795399201000);
  TargetResult a;
  a.target = "b \"quoted\" \\ target\t";
  a.status = RunStatus::kFailed;
  a.error = "line 1\nline 2 'x'";
  TargetResult b;
  b.target = "a";
  b.start_version = 3;
  b.end_version = 5;
  b.commits = 2;
  b.bytes = int64_t{1} << 40;
  b.status = RunStatus::kSucceeded;
  finish.targets = {a, b};
  Status s = store->FinishRun(*id, finish);
  ASSERT_TRUE(s.ok()) << s;
  std::unique_ptr<pg::Connection> sql = db_->Sql();
  ASSERT_NE(sql, nullptr);
  Result<pg::Rows> rows = sql->Query(
      "SELECT target, position, start_version IS NULL, end_version, bytes, status, error "
      "FROM run_targets WHERE run_id = $1 ORDER BY position",
      *id);
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->size(), 2);
  EXPECT_EQ(rows->Text(0, 0), a.target);
  EXPECT_EQ(rows->Text(0, 1), "0");
  EXPECT_EQ(rows->Text(0, 2), "t");
  EXPECT_TRUE(rows->IsNull(0, 3));
  EXPECT_EQ(rows->Text(0, 5), "failed");
  EXPECT_EQ(rows->Text(0, 6), a.error);
  EXPECT_EQ(rows->Text(1, 0), "a");
  EXPECT_EQ(rows->Text(1, 1), "1");
  EXPECT_EQ(rows->Text(1, 3), "5");
  EXPECT_EQ(rows->Text(1, 4), "1099511627776");
  // A second finish changes nothing and says why.
  EXPECT_EQ(store->FinishRun(*id, finish).code(), StatusCode::kConflict);
  Result<pg::Rows> count = sql->Query("SELECT count(*) FROM run_targets");
  ASSERT_TRUE(count.ok()) << count.status();
  EXPECT_EQ(count->Text(0, 0), "2");
}

TEST_F(PgStateStoreTest, BorrowedCoordinationUsesTheStoresOneConnection) {
  // `lakesync run` opens one connection: the lease calls go over the store's session.
  std::unique_ptr<PgStateStore> store = db_->Store();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->Migrate().ok());
  std::unique_ptr<Coordination> coord = store->BorrowCoordination();
  Result<std::optional<int64_t>> token =
      coord->AcquireLease("j", "runner-1", std::chrono::seconds(30));
  ASSERT_TRUE(token.ok()) << token.status();
  ASSERT_TRUE(token->has_value());
  Result<std::optional<LeaseInfo>> lease = coord->GetLease("j");
  ASSERT_TRUE(lease.ok() && lease->has_value()) << lease.status();
  EXPECT_EQ((*lease)->holder, "runner-1");
  EXPECT_TRUE((*lease)->live);
  ASSERT_TRUE(store->TryLockJob("j").ok());
  std::unique_ptr<pg::Connection> sql = db_->Sql();
  ASSERT_NE(sql, nullptr);
  // Every session on this database but the checker's own: the store's alone.
  Result<pg::Rows> sessions = sql->Query(
      "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> "
      "pg_backend_pid()");
  ASSERT_TRUE(sessions.ok()) << sessions.status();
  EXPECT_EQ(sessions->Text(0, 0), "1");
}

TEST_F(PgStateStoreTest, JobLockExcludesOtherSessionsAndDiesWithTheSession) {
  std::unique_ptr<PgStateStore> a = db_->Store();
  std::unique_ptr<PgStateStore> b = db_->Store();
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  ASSERT_TRUE(a->Migrate().ok());
  EXPECT_TRUE(*a->TryLockJob("sales_dr"));
  EXPECT_FALSE(*b->TryLockJob("sales_dr"));  // another session holds it
  EXPECT_TRUE(*b->TryLockJob("other_job"));  // locks are per job
  a.reset();                                 // the holder's session ends (as when killed)
  // The server releases the lock when the backend notices the disconnect: wait for that,
  // bounded.
  bool taken = false;
  for (auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
       !taken && std::chrono::steady_clock::now() < deadline;) {
    taken = *b->TryLockJob("sales_dr");
    if (!taken) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(taken);
  EXPECT_TRUE(b->UnlockJob("sales_dr").ok());
}

// Several statements in one round trip, each in its own implicit transaction: one that fails
// neither rolls back the one before it nor stops the one after it.
TEST_F(PgStateStoreTest, PipelineRunsEachStatementAsExecWould) {
  std::unique_ptr<pg::Connection> sql = db_->Sql();
  ASSERT_NE(sql, nullptr);
  ASSERT_TRUE(sql->ExecScript("CREATE TABLE p (v int)").ok());
  std::vector<Result<pg::Rows>> got = sql->ExecPipeline(
      {pg::MakeStatement("INSERT INTO p VALUES ($1)", 1), pg::MakeStatement("SELECT 1 / 0"),
       pg::MakeStatement("INSERT INTO p VALUES ($1) RETURNING v * 10", 2),
       pg::MakeStatement("SELECT count(*) FROM p")});
  ASSERT_EQ(got.size(), 4u);
  EXPECT_TRUE(got[0].ok()) << got[0].status();
  ASSERT_FALSE(got[1].ok());
  EXPECT_NE(got[1].status().message().find("22012"), std::string::npos) << got[1].status();
  ASSERT_TRUE(got[2].ok()) << got[2].status();
  EXPECT_EQ(got[2]->Text(0, 0), "20");
  ASSERT_TRUE(got[3].ok()) << got[3].status();
  EXPECT_EQ(got[3]->Text(0, 0), "2");
  // The connection is back out of pipeline mode: a plain call works.
  Result<pg::Rows> after = sql->Query("SELECT sum(v) FROM p");
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->Text(0, 0), "3");
  EXPECT_TRUE(sql->ExecPipeline({}).empty());
}

// `lakesync run`'s claim: what each of the seven calls it stands for would have done.
TEST_F(PgStateStoreTest, ClaimRunLocksAbandonsStartsAndReadsTheRecordedVersions) {
  std::unique_ptr<PgStateStore> a = db_->Store();
  std::unique_ptr<PgStateStore> b = db_->Store();
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  const std::vector<std::pair<std::string, std::string>> jobs = {{"j", "incremental"},
                                                                 {"k", "snapshot"}};
  const TimePoint now = FromUnixMillis(1795399200000);
  RunStart start{"j", "incremental", Trigger::kManual, 1, "r", now};

  // Never migrated: said so, nothing else.
  Result<RunClaim> bare = a->ClaimRun(jobs, "j", "gone", now, &start);
  ASSERT_TRUE(bare.ok()) << bare.status();
  EXPECT_FALSE(bare->migrated);
  a = db_->Store();  // a fresh session, as `lakesync run` after `db migrate` would be
  ASSERT_NE(a, nullptr);
  ASSERT_TRUE(a->Migrate().ok());

  Result<int64_t> dead = b->StartRun(start);  // a run a killed process left `running`
  ASSERT_TRUE(dead.ok()) << dead.status();
  ASSERT_TRUE(b->SetTargetVersion({"j", "t", 7, 7, now, *dead}).ok());
  Result<RunClaim> claim = a->ClaimRun(jobs, "j", "gone", now, &start);
  ASSERT_TRUE(claim.ok()) << claim.status();
  EXPECT_TRUE(claim->migrated);
  EXPECT_TRUE(claim->locked);
  EXPECT_FALSE(claim->live_lease.has_value());
  EXPECT_EQ(claim->abandoned, 1);
  EXPECT_GT(claim->run_id, *dead);
  ASSERT_TRUE(claim->recorded.ok()) << claim->recorded.status();
  ASSERT_EQ(claim->recorded->size(), 1u);
  EXPECT_EQ((*claim->recorded)[0].replicated_version, 7);
  std::unique_ptr<pg::Connection> sql = db_->Sql();
  ASSERT_NE(sql, nullptr);
  Result<pg::Rows> rows = sql->Query(
      "SELECT string_agg(id || ':' || status || ':' || coalesce(error, ''), ',' ORDER BY id) "
      "FROM runs");
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_EQ(rows->Text(0, 0),
            std::to_string(*dead) + ":failed:gone," + std::to_string(claim->run_id) + ":running:");
  rows = sql->Query("SELECT string_agg(name || '=' || kind, ',' ORDER BY name) FROM jobs");
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_EQ(rows->Text(0, 0), "j=incremental,k=snapshot");

  // Another session finds the job locked: nothing abandoned, nothing started.
  Result<RunClaim> other = b->ClaimRun(jobs, "j", "gone", now, &start);
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_FALSE(other->locked);
  EXPECT_EQ(other->run_id, 0);
  rows = sql->Query("SELECT count(*) FROM runs WHERE status = 'running'");
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(rows->Text(0, 0), "1");

  // Claiming again in the holding session does not stack the lock: one unlock frees it.
  Result<RunClaim> again = a->ClaimRun(jobs, "j", "gone", now, nullptr);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->locked);
  EXPECT_EQ(again->abandoned, 1);  // the run the first claim started, no longer protected
  EXPECT_TRUE(a->UnlockJob("j").ok());
  EXPECT_TRUE(*b->TryLockJob("j"));
}

// A daemon's live lease: the claim reports its holder and lets the lock go again.
TEST_F(PgStateStoreTest, ClaimRunOfALeasedJobReleasesTheLock) {
  std::unique_ptr<PgStateStore> daemon = db_->Store();
  std::unique_ptr<PgStateStore> cli = db_->Store();
  std::unique_ptr<PgStateStore> third = db_->Store();
  ASSERT_NE(daemon, nullptr);
  ASSERT_NE(cli, nullptr);
  ASSERT_NE(third, nullptr);
  ASSERT_TRUE(daemon->Migrate().ok());
  std::unique_ptr<Coordination> coord = daemon->BorrowCoordination();
  Result<std::optional<int64_t>> token =
      coord->AcquireLease("j", "daemon-1", std::chrono::seconds(30));
  ASSERT_TRUE(token.ok() && token->has_value()) << token.status();
  RunStart start{"j", "incremental", Trigger::kManual, 1, "r", FromUnixMillis(1795399200000)};
  Result<RunClaim> claim =
      cli->ClaimRun({{"j", "incremental"}}, "j", "gone", start.started_at, &start);
  ASSERT_TRUE(claim.ok()) << claim.status();
  EXPECT_FALSE(claim->locked);
  ASSERT_TRUE(claim->live_lease.has_value());
  EXPECT_EQ(claim->live_lease->holder, "daemon-1");
  EXPECT_EQ(claim->run_id, 0);
  EXPECT_TRUE(*third->TryLockJob("j")) << "the claim kept the job's lock";
}

TEST_F(PgStateStoreTest, RunIsStoredInTheDocumentedColumns) {
  // Other tools (Grafana, psql) read these tables directly: check the raw row.
  std::unique_ptr<PgStateStore> store = db_->Store();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->Migrate().ok());
  // 2026-11-23T02:00:00.250Z
  Result<int64_t> id = store->StartRun(
      RunStart{"j", "snapshot", Trigger::kManual, 3, "host-1", FromUnixMillis(1795399200250)});
  ASSERT_TRUE(id.ok()) << id.status();
  std::unique_ptr<pg::Connection> sql = db_->Sql();
  ASSERT_NE(sql, nullptr);
  Result<pg::Rows> rows = sql->Query(
      "SELECT trigger, status, attempt, "
      "to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS') "
      "FROM runs WHERE id = $1",
      *id);
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->size(), 1);
  EXPECT_EQ(rows->Text(0, 0), "manual");
  EXPECT_EQ(rows->Text(0, 1), "running");
  EXPECT_EQ(rows->Text(0, 2), "3");
  EXPECT_EQ(rows->Text(0, 3), "2026-11-23T02:00:00.250");
}

TEST_F(PgStateStoreTest, LostConnectionIsUnavailableThenReconnects) {
  std::string app;
  std::unique_ptr<PgStateStore> named = NamedStore("reconnect", app);
  ASSERT_NE(named, nullptr);
  PgStateStore& store = *named;
  ASSERT_TRUE(db_->AllowConnections(false).ok());
  ASSERT_EQ(EndSession(app), "1");

  Result<std::optional<RunRecord>> lost = store.LastRun("j");
  ASSERT_FALSE(lost.ok());
  EXPECT_EQ(lost.status().code(), StatusCode::kUnavailable) << lost.status();
  EXPECT_TRUE(lost.status().retryable());
  std::string password = PasswordOf(AdminUrl());
  if (!password.empty()) {
    EXPECT_EQ(lost.status().message().find(password), std::string::npos) << lost.status();
  }

  ASSERT_TRUE(db_->AllowConnections(true).ok());
  Result<std::optional<RunRecord>> again = store.LastRun("j");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE(again->has_value());
  Result<bool> ping = store.Ping();
  ASSERT_TRUE(ping.ok());
  EXPECT_TRUE(*ping);
}

// A PostgreSQL restart or failover ends every idle session. The next statement finds that
// without a round trip and runs on a new session instead of failing (the old code failed it:
// a daemon's scheduled run found the store "unavailable" and was dropped). The job lock the old
// session held stays lost, whoever reconnected the shared connection.
TEST_F(PgStateStoreTest, AnIdleSessionTheServerEndedIsReplacedBeforeTheNextStatement) {
  std::string app;
  std::unique_ptr<PgStateStore> named = NamedStore("idle", app);
  ASSERT_NE(named, nullptr);
  PgStateStore& store = *named;
  std::unique_ptr<Coordination> coord = store.BorrowCoordination();
  auto end_session = [&] {
    ASSERT_EQ(EndSession(app), "1");
    // The backend has exited; let its close reach this process's socket.
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  };

  end_session();
  Result<bool> locked = store.TryLockJob("j");
  ASSERT_TRUE(locked.ok()) << locked.status();
  EXPECT_TRUE(*locked);
  EXPECT_TRUE(store.SessionAlive().ok());

  // The borrowed coordination reconnects the shared connection: the lock went with the session.
  end_session();
  Result<std::optional<int64_t>> lease = coord->AcquireLease("k", "me", std::chrono::seconds(30));
  ASSERT_TRUE(lease.ok()) << lease.status();
  EXPECT_TRUE(lease->has_value());
  Status alive = store.SessionAlive();
  EXPECT_EQ(alive.code(), StatusCode::kUnavailable) << "the replaced session's lock counted";
  locked = store.TryLockJob("j");  // asks the server again: nobody holds it
  ASSERT_TRUE(locked.ok()) << locked.status();
  EXPECT_TRUE(*locked);
  EXPECT_TRUE(store.SessionAlive().ok()) << "the lock was taken again";
}

// The job lock lives in the session: once the server ends it, SessionAlive says so without a
// round trip, and after the reconnect the store no longer believes it holds the lock (the old
// code answered TryLockJob from its memory: true, while another session held the lock).
TEST_F(PgStateStoreTest, LostSessionLosesTheJobLockAndSaysSo) {
  std::string app;
  std::unique_ptr<PgStateStore> named = NamedStore("session", app);
  ASSERT_NE(named, nullptr);
  PgStateStore& store = *named;
  ASSERT_TRUE(*store.TryLockJob("j"));
  EXPECT_TRUE(store.SessionAlive().ok());

  ASSERT_EQ(EndSession(app), "1");
  Status alive = store.SessionAlive();
  for (int i = 0; i < 100 && alive.ok(); ++i) {  // the close reaches the client's socket
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    alive = store.SessionAlive();
  }
  EXPECT_EQ(alive.code(), StatusCode::kUnavailable) << alive;
  EXPECT_NE(alive.message().find("job's lock"), std::string::npos) << alive;

  std::unique_ptr<PgStateStore> other = db_->Store();
  ASSERT_NE(other, nullptr);
  ASSERT_TRUE(*other->TryLockJob("j")) << "the lock died with the session";
  Result<bool> mine = store.TryLockJob("j");  // reconnects, then asks the server
  ASSERT_TRUE(mine.ok()) << mine.status();
  EXPECT_FALSE(*mine) << "the reconnected store believed it still held the lock";
}

TEST_F(PgStateStoreTest, WrongPasswordIsRejectedWithoutEchoingIt) {
  std::string url = db_->url();
  std::string password = PasswordOf(url);
  if (password.empty()) GTEST_SKIP() << "the test URL has no password";
  std::string wrong = url;
  wrong.replace(wrong.find(":" + password + "@") + 1, password.size(), "WrongPw123456");
  Result<std::unique_ptr<PgStateStore>> store = PgStateStore::Connect(wrong);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kInvalidArgument) << store.status();
  EXPECT_EQ(store.status().message().find("WrongPw123456"), std::string::npos) << store.status();
  EXPECT_EQ(store.status().message().find(password), std::string::npos) << store.status();
  EXPECT_NE(store.status().message().find("***"), std::string::npos) << store.status();
}

// A loopback socket that listens but never answers (the kernel completes the TCP handshake,
// then nobody replies: a frozen PostgreSQL). Returns its descriptor; `port` gets its port.
int SilentListener(int* port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  EXPECT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  EXPECT_EQ(listen(fd, 8), 0);
  socklen_t len = sizeof addr;
  EXPECT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  *port = ntohs(addr.sin_port);
  return fd;
}

// The readiness probe's ping gives up on a silent server at its timeout (libpq's blocking calls
// would wait for ever once connected; before, /readyz hung on a frozen PostgreSQL and four such
// requests took every HTTP thread, /healthz and /metrics included).
TEST(PgConnectTimeoutTest, AnswersWithinGivesUpOnASilentServer) {
  int port = 0;
  int fd = SilentListener(&port);
  const auto started = std::chrono::steady_clock::now();
  EXPECT_FALSE(pg::AnswersWithin("postgresql://u:pw@127.0.0.1:" + std::to_string(port) + "/db",
                                 std::chrono::milliseconds(700)));
  const auto took = std::chrono::steady_clock::now() - started;
  EXPECT_GE(took, std::chrono::milliseconds(650));
  EXPECT_LT(took, std::chrono::seconds(2));
  close(fd);
}

// No server needed, but it waits for the connect timeout, so it lives with the slow tests.
TEST(PgConnectTimeoutTest, SilentServerIsUnavailableWithinTheTimeout) {
  // libpq waits for the silent server's reply until connect_timeout.
  int port = 0;
  int fd = SilentListener(&port);
  std::string url =
      "postgresql://lakesync:TimeoutS3cret@127.0.0.1:" + std::to_string(port) + "/lakesync";

  auto begin = std::chrono::steady_clock::now();
  Result<std::unique_ptr<PgStateStore>> store = PgStateStore::Connect(url, std::chrono::seconds(2));
  auto elapsed = std::chrono::steady_clock::now() - begin;
  close(fd);

  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kUnavailable) << store.status();
  EXPECT_EQ(store.status().message().find("TimeoutS3cret"), std::string::npos) << store.status();
  EXPECT_NE(store.status().message().find("***"), std::string::npos) << store.status();
  // 2 s timeout; generous slack for a loaded machine, far below "hangs forever".
  EXPECT_GE(elapsed, std::chrono::milliseconds(1500));
  EXPECT_LT(elapsed, std::chrono::seconds(8));
}

}  // namespace
}  // namespace lakesync::db
