// End-to-end tests of the lakesync command line: the real binary, a real PostgreSQL (the
// throwaway one `make test` starts, via LAKESYNC_TEST_DATABASE_URL), temporary directories.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "tests/pg_fixture.h"
#include "tests/process.h"

namespace lakesync::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

const std::string kBinary = LAKESYNC_BINARY;
const std::string kSourceDir = LAKESYNC_SOURCE_DIR;

ProcessResult Lakesync(std::vector<std::string> args, std::map<std::string, std::string> env = {}) {
  args.insert(args.begin(), kBinary);
  // Tests choose the database explicitly; never inherit one.
  env.emplace("LAKESYNC_DATABASE_URL", "");
  env.emplace("LAKESYNC_CONFIG", "");
  return RunProcess(args, env);
}

// Password of a postgresql://user:password@host URL.
std::string PasswordOf(const std::string& url) {
  size_t start = url.find("://") + 3;
  size_t at = url.find('@', start);
  size_t colon = url.find(':', start);
  if (at == std::string::npos || colon == std::string::npos || colon > at) return "";
  return url.substr(colon + 1, at - colon - 1);
}

// A fresh database in the test server, dropped at the end.
class DatabaseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (TestDatabaseBaseUrl().empty()) {
      GTEST_SKIP() << "SKIPPED: LAKESYNC_TEST_DATABASE_URL is not set; run `make test`, which "
                      "starts a throwaway PostgreSQL";
    }
    db_ = std::make_unique<ScratchDatabase>(TestDatabaseBaseUrl());
    ASSERT_EQ(db_->Create(), "");
    url_ = db_->url();
  }

  std::string Psql(const std::string& sql) {
    std::string out = db_->Query(sql);
    EXPECT_EQ(out.rfind("ERROR", 0), std::string::npos) << out;
    return out;
  }

  std::unique_ptr<ScratchDatabase> db_;
  std::string url_;
};

const char* kGoodConfig = R"(runner:
  max_concurrent_runs: 2
locations:
  east: file:///tmp/lakesync-e2e/east
  west: file:///tmp/lakesync-e2e/west
jobs:
  - name: sales_dr
    kind: incremental
    source: east:/delta/sales
    targets: [west:/delta/sales, west:/delta/sales_copy2]
    schedule: { every: 5m }
  - name: nightly
    kind: snapshot
    source: east:/delta/sales
    target: west:/snapshots/sales
    schedule: { cron: "0 2 * * *" }
    retention: { keep_last: 3 }
)";

TEST(CliTest, NoCommandIsAUsageError) {
  auto r = Lakesync({});
  EXPECT_EQ(r.exit_code, 2) << Dump(r);
  EXPECT_THAT(r.err, HasSubstr("lakesync --help"));
}

TEST(CliTest, UnknownCommandIsAUsageError) {
  auto r = Lakesync({"frobnicate"});
  EXPECT_EQ(r.exit_code, 2) << Dump(r);
}

// A version that is not a whole number ≥ 0 is a usage error that says what to write (before,
// CLI11's range check printed its bound as a 300-digit number).
TEST(CliTest, ABadVersionSaysWhatAVersionIs) {
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"run", "job", "--to-version", "-1"},
        std::vector<std::string>{"run", "job", "--to-version", "1.5"},
        std::vector<std::string>{"restore", "/tmp/t", "--to-version", "abc"},
        std::vector<std::string>{"inspect", "/tmp/t", "--version", "-2"}}) {
    auto r = Lakesync(args);
    EXPECT_EQ(r.exit_code, 2) << Dump(r);
    EXPECT_THAT(r.err, HasSubstr("' is not a Delta table version; write a whole number, 0 or more"))
        << Dump(r);
    EXPECT_EQ(r.err.find("179769313486"), std::string::npos) << Dump(r);
  }
}

// `lakesync daemon` runs the lakesync-daemon installed beside lakesync; without it the command
// says so instead of failing obscurely.
TEST(CliTest, DaemonWithoutTheDaemonExecutableSaysWhatIsMissing) {
  TempDir dir;
  const std::string alone = dir.path() + "/lakesync";
  std::filesystem::copy_file(kBinary, alone);
  std::filesystem::permissions(alone, std::filesystem::perms::owner_exec,
                               std::filesystem::perm_options::add);
  ProcessResult r = RunProcess({alone, "daemon", "-c", dir.path() + "/none.yaml"});
  EXPECT_EQ(r.exit_code, 2) << Dump(r);
  EXPECT_THAT(r.err, HasSubstr("cannot start \"" + dir.path() + "/lakesync-daemon\""));
  EXPECT_THAT(r.err, HasSubstr("must be installed in the same directory"));
  // The real one, beside the real lakesync, is found and runs (here: to report the missing
  // configuration file as a usage error).
  ProcessResult real = Lakesync({"daemon", "-c", dir.path() + "/none.yaml"});
  EXPECT_EQ(real.exit_code, 2) << Dump(real);
  EXPECT_THAT(real.err, ::testing::Not(HasSubstr("cannot start"))) << Dump(real);
}

TEST(CliTest, EverySubcommandHasHelp) {
  for (std::vector<std::string> args : {std::vector<std::string>{"--help"},
                                        {"validate", "--help"},
                                        {"db", "migrate", "--help"},
                                        {"status", "--help"},
                                        {"history", "--help"},
                                        {"inspect", "--help"}}) {
    auto r = Lakesync(args);
    EXPECT_EQ(r.exit_code, 0) << Dump(r);
    EXPECT_THAT(r.out, HasSubstr("Usage")) << Dump(r);
  }
}

TEST(CliTest, ValidateAcceptsTheShippedExamples) {
  TempDir demo;
  for (const auto& entry : std::filesystem::directory_iterator(kSourceDir + "/examples")) {
    if (entry.path().extension() != ".yaml") continue;
    auto r = Lakesync({"validate", "-c", entry.path().string()},
                      {{"LAKESYNC_DEMO_ROOT", demo.path()},
                       {"LAKESYNC_DATABASE_URL", "postgresql://u:p@127.0.0.1:1/x"},
                       {"SLACK_WEBHOOK_URL", "https://hooks.example.invalid/T/B/X"}});
    EXPECT_EQ(r.exit_code, 0) << entry.path() << "\n" << Dump(r);
    EXPECT_THAT(r.out, HasSubstr(": ok (")) << Dump(r);
  }
}

// The configuration reference in the README stays true: its YAML block validates.
TEST(CliTest, ValidateAcceptsTheReadmeConfiguration) {
  std::ifstream in(kSourceDir + "/README.md");
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string readme = ss.str();
  const size_t start = readme.find("```yaml\nstate:");
  ASSERT_NE(start, std::string::npos) << "README.md has no ```yaml block starting with state:";
  const size_t body = start + 8;
  const size_t end = readme.find("```", body);
  ASSERT_NE(end, std::string::npos);
  TempDir dir;
  std::string path = dir.WriteFile("readme.yaml", readme.substr(body, end - body));
  auto r =
      Lakesync({"validate", path}, {{"LAKESYNC_DATABASE_URL", "postgresql://u:p@127.0.0.1:1/x"},
                                    {"SLACK_WEBHOOK_URL", "https://hooks.example.invalid/T/B/X"}});
  EXPECT_EQ(r.exit_code, 0) << Dump(r);
}

TEST(CliTest, ValidateReportsAPlantedErrorAtItsLineAndColumn) {
  TempDir dir;
  // Line 11, column 5: the misspelt key "schedul" inside the first job (count kGoodConfig).
  std::string bad = std::string(kGoodConfig);
  bad.replace(bad.find("    schedule: { every: 5m }"), 27, "    schedul: { every: 5m }");
  std::string path = dir.WriteFile("bad.yaml", bad);
  auto r = Lakesync({"validate", path});
  EXPECT_EQ(r.exit_code, 2) << Dump(r);
  EXPECT_THAT(r.err, HasSubstr(path + ":11:5:")) << Dump(r);
  EXPECT_THAT(r.err, HasSubstr("schedul")) << Dump(r);
  EXPECT_THAT(r.err, HasSubstr("did you mean \"schedule\"")) << Dump(r);
}

TEST(CliTest, ValidateReportsUnsetEnvironmentVariable) {
  TempDir dir;
  std::string path = dir.WriteFile("env.yaml", "state:\n  postgres: ${LAKESYNC_E2E_UNSET_VAR}\n");
  auto r = Lakesync({"validate", path}, {{"LAKESYNC_E2E_UNSET_VAR", ""}});
  EXPECT_EQ(r.exit_code, 2) << Dump(r);
  EXPECT_THAT(r.err, HasSubstr(path + ":2:13:")) << Dump(r);
  EXPECT_THAT(r.err, HasSubstr("LAKESYNC_E2E_UNSET_VAR")) << Dump(r);
}

TEST(CliTest, MissingConfigFileIsAUsageError) {
  auto r = Lakesync({"status", "-c", "/nonexistent/lakesync.yaml"});
  EXPECT_EQ(r.exit_code, 2) << Dump(r);
  EXPECT_THAT(r.err, HasSubstr("/nonexistent/lakesync.yaml")) << Dump(r);
}

TEST(CliTest, NoDatabaseConfiguredSaysWhatToSet) {
  TempDir dir;
  std::string path = dir.WriteFile("c.yaml", kGoodConfig);
  auto r = Lakesync({"status", "-c", path});
  EXPECT_EQ(r.exit_code, 2) << Dump(r);
  EXPECT_THAT(r.err, HasSubstr("LAKESYNC_DATABASE_URL")) << Dump(r);
}

TEST(CliTest, UnreachableDatabaseExitsThreeWithoutThePassword) {
  TempDir dir;
  std::string path = dir.WriteFile("c.yaml", kGoodConfig);
  // Port 1 on loopback: nothing listens there.
  const std::string url = "postgresql://lakesync:TopSecretPw42@127.0.0.1:1/lakesync";
  for (std::vector<std::string> args : {std::vector<std::string>{"status", "-c", path},
                                        {"db", "migrate"},
                                        {"history", "-c", path, "sales_dr"},
                                        {"status", "-c", path, "--json"}}) {
    auto r = Lakesync(args, {{"LAKESYNC_DATABASE_URL", url}});
    EXPECT_EQ(r.exit_code, 3) << Dump(r);
    EXPECT_THAT(r.out + r.err, Not(HasSubstr("TopSecretPw42"))) << Dump(r);
    EXPECT_THAT(r.err, HasSubstr("***")) << Dump(r);
  }
}

TEST_F(DatabaseTest, MigrateThenRemigrateIsANoOp) {
  auto r = Lakesync({"db", "migrate"}, {{"LAKESYNC_DATABASE_URL", url_}});
  ASSERT_EQ(r.exit_code, 0) << Dump(r);
  EXPECT_THAT(r.out, HasSubstr("migrated schema from version 0 to")) << Dump(r);
  auto again = Lakesync({"db", "migrate"}, {{"LAKESYNC_DATABASE_URL", url_}});
  ASSERT_EQ(again.exit_code, 0) << Dump(again);
  EXPECT_THAT(again.out, HasSubstr("schema is up to date")) << Dump(again);
  EXPECT_THAT(r.out + r.err + again.out + again.err, Not(HasSubstr(PasswordOf(url_))));
}

TEST_F(DatabaseTest, StatusBeforeMigrateSaysToMigrate) {
  TempDir dir;
  std::string path = dir.WriteFile("c.yaml", kGoodConfig);
  auto r = Lakesync({"status", "-c", path}, {{"LAKESYNC_DATABASE_URL", url_}});
  EXPECT_EQ(r.exit_code, 3) << Dump(r);
  EXPECT_THAT(r.err, HasSubstr("lakesync db migrate")) << Dump(r);
}

TEST_F(DatabaseTest, StatusListsEveryJobAndTarget) {
  TempDir dir;
  std::string path = dir.WriteFile("c.yaml", kGoodConfig);
  ASSERT_EQ(Lakesync({"db", "migrate"}, {{"LAKESYNC_DATABASE_URL", url_}}).exit_code, 0);
  auto r = Lakesync({"status", "-c", path}, {{"LAKESYNC_DATABASE_URL", url_}});
  ASSERT_EQ(r.exit_code, 0) << Dump(r);
  EXPECT_THAT(r.out, HasSubstr("sales_dr")) << Dump(r);
  EXPECT_THAT(r.out, HasSubstr("west:/delta/sales_copy2")) << Dump(r);
  EXPECT_THAT(r.out, HasSubstr("every 5m")) << Dump(r);
  EXPECT_THAT(r.out, HasSubstr("never")) << Dump(r);
  // Columns line up: each value starts under its header.
  std::istringstream lines(r.out);
  std::string header, first_row;
  std::getline(lines, header);
  std::getline(lines, first_row);
  for (const char* column : {"JOB", "KIND", "SCHEDULE", "SOURCE", "TARGET", "REPLICATED", "LAG",
                             "LAST RUN", "RESULT", "NEXT RUN"}) {
    EXPECT_THAT(header, HasSubstr(column)) << header;
  }
  EXPECT_EQ(first_row.find("sales_dr"), header.find("JOB")) << r.out;
  EXPECT_EQ(first_row.find("incremental"), header.find("KIND")) << r.out;
  EXPECT_EQ(first_row.find("west:/delta/sales"), header.find("TARGET")) << r.out;
  EXPECT_EQ(first_row.find("never"), header.find("LAST RUN")) << r.out;

  auto j = Lakesync({"status", "-c", path, "--json"}, {{"LAKESYNC_DATABASE_URL", url_}});
  ASSERT_EQ(j.exit_code, 0) << Dump(j);
  EXPECT_THAT(j.out, HasSubstr(R"({"job":"sales_dr","kind":"incremental")")) << Dump(j);
  EXPECT_THAT(j.out, HasSubstr(R"("last_run":null)")) << Dump(j);
  EXPECT_THAT(
      j.out,
      HasSubstr(
          R"({"target":"west:/delta/sales_copy2","source_version":null,"replicated_version":null)"))
      << Dump(j);
  EXPECT_THAT(j.out, HasSubstr(R"({"job":"nightly","kind":"snapshot")")) << Dump(j);
}

TEST_F(DatabaseTest, StatusAndHistoryShowRecordedRuns) {
  TempDir dir;
  std::string path = dir.WriteFile("c.yaml", kGoodConfig);
  ASSERT_EQ(Lakesync({"db", "migrate"}, {{"LAKESYNC_DATABASE_URL", url_}}).exit_code, 0);
  // A run and a replicated version written by hand, as the runner will write them.
  Psql(
      "INSERT INTO runs (job, kind, trigger, attempt, runner_id, status, started_at, "
      "finished_at, source_version, target_version, commits, files, bytes, rows, error) VALUES "
      "('sales_dr', 'incremental', 'manual', 1, 'e2e', 'succeeded', "
      "'2026-11-22T02:00:00Z', '2026-11-22T02:00:05Z', 42, 42, 3, 7, 1234, 99, '')");
  Psql(
      "INSERT INTO target_versions (job, target, replicated_version, source_version, "
      "updated_at) VALUES ('sales_dr', 'west:/delta/sales', 42, 42, now())");
  auto r = Lakesync({"status", "-c", path, "--json"}, {{"LAKESYNC_DATABASE_URL", url_}});
  ASSERT_EQ(r.exit_code, 0) << Dump(r);
  EXPECT_THAT(r.out, HasSubstr(R"("status":"succeeded","trigger":"manual",)"
                               R"("started_at":"2026-11-22T02:00:00Z",)"
                               R"("finished_at":"2026-11-22T02:00:05Z")"))
      << Dump(r);
  // No table exists at the target, so its log (the truth) gives no version; the state store's
  // record is shown beside it.
  EXPECT_THAT(
      r.out,
      HasSubstr(R"({"target":"west:/delta/sales","source_version":null,"replicated_version":null,)"
                R"("recorded_version":42)"))
      << Dump(r);

  auto h = Lakesync({"history", "-c", path, "sales_dr"}, {{"LAKESYNC_DATABASE_URL", url_}});
  ASSERT_EQ(h.exit_code, 0) << Dump(h);
  EXPECT_THAT(h.out, HasSubstr("2026-11-22T02:00:00Z")) << Dump(h);
  EXPECT_THAT(h.out, HasSubstr("1234")) << Dump(h);

  auto unknown = Lakesync({"history", "-c", path, "nope"}, {{"LAKESYNC_DATABASE_URL", url_}});
  EXPECT_EQ(unknown.exit_code, 2) << Dump(unknown);
}

TEST_F(DatabaseTest, JsonLogFormatWritesOneObjectPerLine) {
  auto r = Lakesync({"--log-format", "json", "--log-level", "debug", "db", "migrate"},
                    {{"LAKESYNC_DATABASE_URL", url_}});
  ASSERT_EQ(r.exit_code, 0) << Dump(r);
  std::istringstream lines(r.err);
  std::string line;
  int n = 0;
  while (std::getline(lines, line)) {
    ++n;
    EXPECT_EQ(line.rfind(R"({"ts":")", 0), 0u) << line;
    EXPECT_EQ(line.back(), '}') << line;
    EXPECT_THAT(line, Not(HasSubstr(PasswordOf(url_))));
  }
  EXPECT_GT(n, 0) << "migrate logged nothing at debug level:\n" << Dump(r);
}

// The state store goes away: a server that was running is stopped, and the CLI says so with
// exit code 3.
TEST(CliServerTest, StoppedServerExitsThree) {
  TempDir dir;
  // As root, pg.sh runs the server as the postgres user, which must reach the directory.
  std::filesystem::permissions(dir.path(), std::filesystem::perms(0755));
  std::string pg_dir = dir.path() + "/pg";
  auto start = RunProcess({"/bin/bash", kSourceDir + "/scripts/pg.sh", "start", pg_dir});
  ASSERT_EQ(start.exit_code, 0) << Dump(start);
  std::string url = start.out.substr(start.out.find('=') + 1);
  while (!url.empty() && (url.back() == '\n' || url.back() == ' ')) url.pop_back();
  std::string path = dir.WriteFile("c.yaml", kGoodConfig);
  auto migrate = Lakesync({"db", "migrate"}, {{"LAKESYNC_DATABASE_URL", url}});
  EXPECT_EQ(migrate.exit_code, 0) << Dump(migrate);
  auto up = Lakesync({"status", "-c", path}, {{"LAKESYNC_DATABASE_URL", url}});
  EXPECT_EQ(up.exit_code, 0) << Dump(up);
  auto stop = RunProcess({"/bin/bash", kSourceDir + "/scripts/pg.sh", "stop", pg_dir});
  ASSERT_EQ(stop.exit_code, 0) << Dump(stop);
  auto down = Lakesync({"status", "-c", path}, {{"LAKESYNC_DATABASE_URL", url}});
  EXPECT_EQ(down.exit_code, 3) << Dump(down);
  EXPECT_THAT(down.err, HasSubstr("cannot reach the state store")) << Dump(down);
  EXPECT_THAT(down.out + down.err, Not(HasSubstr(PasswordOf(url)))) << Dump(down);
  auto destroy = RunProcess({"/bin/bash", kSourceDir + "/scripts/pg.sh", "destroy", pg_dir});
  EXPECT_EQ(destroy.exit_code, 0) << Dump(destroy);
}

}  // namespace
}  // namespace lakesync::testing
