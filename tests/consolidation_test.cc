// End-to-end tests of consolidation jobs: the real `lakesync` binary, a real PostgreSQL
// (LAKESYNC_TEST_DATABASE_URL, a fresh database per test), regional tables in temporary
// directories (copies of the real fixtures, and tables written by bench/delta_gen), and an
// independent judge: tests/tools/global_facts.py `check` (its own Delta log reading in
// Python, sharing no code with lakesync) decides whether the global table is the union of
// the regions at the versions its txn actions claim, with no file added twice or lost
// (DESIGN.md C1, C2). `lakesync inspect` must also read the global table.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <simdjson.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "tests/e2e_util.h"
#include "tests/pg_fixture.h"
#include "tests/process.h"

namespace lakesync::testing {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

const std::string kBinary = LAKESYNC_BINARY;
const std::string kDeltaGen = DELTA_GEN_BINARY;
const std::string kSourceDir = LAKESYNC_SOURCE_DIR;
const std::string kFixtures = LAKESYNC_FIXTURES_DIR;
const std::string kJudge = kSourceDir + "/tests/tools/global_facts.py";

struct Region {
  std::string name;
  std::string table;  // directory under <root>/regions
};

struct Job {
  std::string name;
  std::vector<Region> regions;
  std::string target;  // directory under <root>/global
  std::string extra;   // more YAML lines of the job ("    schema: union\n")
};

class ConsolidationE2ETest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string base = TestDatabaseBaseUrl();
    if (base.empty()) {
      GTEST_SKIP() << "SKIPPED: LAKESYNC_TEST_DATABASE_URL is not set; run `make test`, which "
                      "starts a throwaway PostgreSQL (or scripts/pg.sh start and export it)";
    }
    db_ = std::make_unique<ScratchDatabase>(base);
    ASSERT_EQ(db_->Create(), "") << "creating a scratch database failed";
    ProcessResult r = Lakesync({"db", "migrate"});
    ASSERT_EQ(r.exit_code, 0) << Dump(r);
  }

  std::map<std::string, std::string> Env(std::map<std::string, std::string> env = {}) const {
    env.emplace("LAKESYNC_DATABASE_URL", db_->url());
    env.emplace("LAKESYNC_CONFIG", "");
    env.emplace("LAKESYNC_FAILPOINTS", "");
    return env;
  }
  ProcessResult Lakesync(std::vector<std::string> args,
                         std::map<std::string, std::string> env = {}) {
    args.insert(args.begin(), kBinary);
    return RunProcess(args, Env(std::move(env)));
  }
  ProcessResult Run(const std::string& job, std::map<std::string, std::string> env = {}) {
    return Lakesync({"run", job, "-c", config_}, std::move(env));
  }

  void WriteConfig(const std::vector<Job>& jobs) {
    jobs_ = jobs;
    std::string y = "locations:\n  regions: file://" + dir_.path() + "/regions\n  global: file://" +
                    dir_.path() + "/global\njobs:\n";
    for (const auto& j : jobs) {
      y += "  - name: " + j.name + "\n    kind: consolidation\n    sources: {";
      for (size_t i = 0; i < j.regions.size(); ++i) {
        y += (i ? ", " : " ") + j.regions[i].name + ": \"regions:/" + j.regions[i].table + "\"";
      }
      y += " }\n    target: global:/" + j.target + "\n" + j.extra;
    }
    config_ = dir_.WriteFile("lakesync.yaml", y);
  }

  std::string RegionDir(const std::string& table) const {
    return dir_.path() + "/regions/" + table;
  }
  std::string GlobalDir(const std::string& target) const {
    return dir_.path() + "/global/" + target;
  }

  const Job& FindJob(const std::string& name) const {
    for (const auto& j : jobs_) {
      if (j.name == name) return j;
    }
    ADD_FAILURE() << "no job " << name;
    return jobs_.front();
  }

  // global_facts.py check; `expect_heads`: every region's txn must equal its source head.
  struct Judged {
    int exit_code = -1;
    std::string output;
  };
  Judged Judge(const std::string& job_name, bool expect_heads) {
    const Job& job = FindJob(job_name);
    std::vector<std::string> argv = {Python(), kJudge,  "check", GlobalDir(job.target),
                                     "--job",  job.name};
    for (const auto& r : job.regions) {
      argv.push_back("--source");
      argv.push_back(r.name + "=" + RegionDir(r.table));
      if (expect_heads) {
        argv.push_back("--expect");
        argv.push_back(r.name + "=" + std::to_string(ContiguousHead(RegionDir(r.table))));
      }
    }
    ProcessResult r = RunProcess(argv);
    return {r.exit_code, r.out + r.err};
  }

  // Runs delta_gen on a region; returns the new head.
  int64_t Generate(const std::string& table, int commits, int files, int size,
                   std::vector<std::string> extra = {}) {
    std::vector<std::string> argv = {kDeltaGen,
                                     "--table",
                                     RegionDir(table),
                                     "--commits",
                                     std::to_string(commits),
                                     "--files-per-commit",
                                     std::to_string(files),
                                     "--file-size",
                                     std::to_string(size)};
    argv.insert(argv.end(), extra.begin(), extra.end());
    ProcessResult r = RunProcess(argv);
    EXPECT_EQ(r.exit_code, 0) << Dump(r);
    return r.exit_code == 0 ? std::stoll(r.out) : -1;
  }

  // The per-region rows of `lakesync status --json` for `job`: region → (replicated, lag
  // versions, error).
  struct RegionStatus {
    int64_t source = -1;  // the region's source head
    int64_t replicated = -1;
    int64_t lag_versions = -1;
    double lag_seconds = -1;
    std::string error;
  };
  std::map<std::string, RegionStatus> RegionStatuses(const std::string& job) {
    std::map<std::string, RegionStatus> out;
    ProcessResult s = Lakesync({"status", "-c", config_, "--json"});
    EXPECT_EQ(s.exit_code, 0) << Dump(s);
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    if (parser.parse(s.out).get(doc) != simdjson::SUCCESS) {
      ADD_FAILURE() << "status --json does not parse:\n" << s.out;
      return out;
    }
    for (simdjson::dom::element j : doc.get_array()) {
      std::string_view name;
      if (j["job"].get_string().get(name) != simdjson::SUCCESS || name != job) continue;
      for (simdjson::dom::element t : j["targets"].get_array()) {
        RegionStatus rs;
        std::string_view target, error;
        EXPECT_EQ(t["target"].get_string().get(target), simdjson::SUCCESS);
        if (t["source_version"].get_int64().get(rs.source) != simdjson::SUCCESS) rs.source = -1;
        if (t["replicated_version"].get_int64().get(rs.replicated) != simdjson::SUCCESS) {
          rs.replicated = -1;
        }
        if (t["lag_versions"].get_int64().get(rs.lag_versions) != simdjson::SUCCESS) {
          rs.lag_versions = -1;
        }
        if (t["lag_seconds"].get_double().get(rs.lag_seconds) != simdjson::SUCCESS) {
          rs.lag_seconds = -1;
        }
        if (t["error"].get_string().get(error) == simdjson::SUCCESS) rs.error = std::string(error);
        out[std::string(target)] = rs;
      }
    }
    return out;
  }

  TempDir dir_;
  std::unique_ptr<ScratchDatabase> db_;
  std::string config_;
  std::vector<Job> jobs_;
};

#define REQUIRE_FIXTURES()                                                                   \
  do {                                                                                       \
    if (!fs::is_directory(kFixtures)) {                                                      \
      GTEST_SKIP() << "\n################################################################\n" \
                   << "# SKIPPED: the Delta fixtures are missing at " << kFixtures << "\n"   \
                   << "################################################################";    \
    }                                                                                        \
  } while (0)

// ---------------------------------------------------------------------------------------------
// 1. Fixtures: two and three regions, partitioned, deletion vectors.
// ---------------------------------------------------------------------------------------------

TEST_F(ConsolidationE2ETest, FixtureRegionsConsolidateToTheirUnionAndInspectReadsIt) {
  REQUIRE_FIXTURES();
  for (const char* r : {"east_simple", "west_simple"})
    CopyFixture(kFixtures, "simple_table", RegionDir(r));
  for (const char* r : {"a_part", "b_part", "c_part"}) {
    CopyFixture(kFixtures, "delta-0.8.0-partitioned", RegionDir(r));
  }
  for (const char* r : {"east_dv", "west_dv"})
    CopyFixture(kFixtures, "table-with-dv-small", RegionDir(r));
  WriteConfig({{"two", {{"eastus", "east_simple"}, {"westus", "west_simple"}}, "two", ""},
               {"three",
                {{"eastus", "a_part"}, {"westeu", "b_part"}, {"apac", "c_part"}},
                "three",
                "    region_column: region\n"},
               {"dv", {{"eastus", "east_dv"}, {"westus", "west_dv"}}, "dv", ""}});

  for (const char* job : {"two", "three", "dv"}) {
    SCOPED_TRACE(job);
    ProcessResult r = Run(job);
    ASSERT_EQ(r.exit_code, 0) << Dump(r);
    if (std::string(job) != "three") {
      Judged j = Judge(job, /*expect_heads=*/true);
      EXPECT_EQ(j.exit_code, 0) << j.output;
    }
    ProcessResult inspect = Lakesync({"inspect", GlobalDir(FindJob(job).target)});
    EXPECT_EQ(inspect.exit_code, 0) << Dump(inspect);
  }
  {
    // `region_column: region`: the judge is told the column.
    const Job& job = FindJob("three");
    std::vector<std::string> argv = {Python(), kJudge,  "check",           GlobalDir("three"),
                                     "--job",  "three", "--region-column", "region"};
    for (const auto& r : job.regions) {
      argv.insert(argv.end(),
                  {"--source", r.name + "=" + RegionDir(r.table), "--expect", r.name + "=0"});
    }
    ProcessResult judged = RunProcess(argv);
    EXPECT_EQ(judged.exit_code, 0) << Dump(judged);
    EXPECT_THAT(judged.out, HasSubstr(R"("apac": {"live_files": 6)")) << Dump(judged);
  }

  // PostgreSQL: per-region results of the run and per-region consolidated versions.
  EXPECT_EQ(db_->Query("SELECT target || ':' || replicated_version || ':' || source_version "
                       "FROM target_versions WHERE job = 'two' ORDER BY target"),
            "eastus:4:4\nwestus:4:4");
  EXPECT_EQ(db_->Query("SELECT rt.target || ':' || rt.status || ':' || rt.end_version || ':' || "
                       "rt.files || ':' || rt.bytes FROM run_targets rt JOIN runs r ON r.id = "
                       "rt.run_id WHERE r.job = 'two' ORDER BY rt.position"),
            "eastus:succeeded:4:5:1811\nwestus:succeeded:4:5:1811");
  EXPECT_EQ(db_->Query("SELECT rt.target || ':' || rt.rows FROM run_targets rt JOIN runs r ON "
                       "r.id = rt.run_id WHERE r.job = 'dv' ORDER BY rt.position"),
            "eastus:10\nwestus:10");  // numRecords of the one live add of table-with-dv-small

  // A rerun adds nothing (C1) and status shows no lag.
  ProcessResult again = Run("two");
  ASSERT_EQ(again.exit_code, 0) << Dump(again);
  EXPECT_EQ(ContiguousHead(GlobalDir("two")), 0);
  auto status = RegionStatuses("two");
  ASSERT_EQ(status.size(), 2u);
  for (const auto& [region, s] : status) {
    EXPECT_EQ(s.replicated, 4) << region;
    EXPECT_EQ(s.lag_versions, 0) << region;
    EXPECT_EQ(s.error, "") << region;
  }
}

// ---------------------------------------------------------------------------------------------
// 2. Sources that keep receiving commits (appends, removes, deletion vectors) between runs.
// ---------------------------------------------------------------------------------------------

TEST_F(ConsolidationE2ETest, GrowingRegionsStayConsolidatedRunAfterRun) {
  const std::vector<std::string> gen = {"--partitioned", "--dv", "--remove-every", "3"};
  auto with_seed = [&](int seed) {
    std::vector<std::string> a = gen;
    a.insert(a.end(), {"--seed", std::to_string(seed)});
    return a;
  };
  ASSERT_EQ(Generate("east", 5, 3, 512, with_seed(1)), 4);
  ASSERT_EQ(Generate("west", 3, 2, 512, with_seed(2)), 2);
  ASSERT_EQ(Generate("apac", 7, 1, 512, with_seed(3)), 6);
  WriteConfig({{"grow", {{"eastus", "east"}, {"westus", "west"}, {"apac", "apac"}}, "grow", ""}});

  ProcessResult first = Run("grow");
  ASSERT_EQ(first.exit_code, 0) << Dump(first);
  Judged j = Judge("grow", true);
  ASSERT_EQ(j.exit_code, 0) << j.output;
  // Each region's own source version (before: only the first region's, as the job's).
  auto heads = RegionStatuses("grow");
  EXPECT_EQ(heads["eastus"].source, 4);
  EXPECT_EQ(heads["westus"].source, 2);
  EXPECT_EQ(heads["apac"].source, 6);

  for (int round = 0; round < 3; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    ASSERT_GT(Generate("east", 4, 2, 512, with_seed(10 + round)), 0);
    ASSERT_GT(Generate("apac", 2, 3, 512, with_seed(20 + round)), 0);
    // Status sees the lag before the run (probe: log tails only).
    auto before = RegionStatuses("grow");
    EXPECT_EQ(before["eastus"].lag_versions, 4);
    EXPECT_GT(before["eastus"].lag_seconds, 0);
    EXPECT_EQ(before["apac"].lag_versions, 2);
    EXPECT_EQ(before["westus"].lag_versions, 0);
    const int64_t global_before = ContiguousHead(GlobalDir("grow"));
    ProcessResult r = Run("grow");
    ASSERT_EQ(r.exit_code, 0) << Dump(r);
    EXPECT_EQ(ContiguousHead(GlobalDir("grow")), global_before + 1) << "one commit per run";
    Judged after = Judge("grow", true);
    ASSERT_EQ(after.exit_code, 0) << after.output;
    for (const auto& [region, s] : RegionStatuses("grow")) EXPECT_EQ(s.lag_versions, 0) << region;
  }
  EXPECT_EQ(db_->Query("SELECT target || ':' || replicated_version FROM target_versions WHERE "
                       "job = 'grow' ORDER BY target"),
            "apac:12\neastus:16\nwestus:2");

  // `verify` replays the global table (C2) and compares each region's txn with its source.
  ProcessResult v = Lakesync({"verify", "grow", "-c", config_});
  ASSERT_EQ(v.exit_code, 0) << Dump(v);
  EXPECT_THAT(v.out, HasSubstr(": ok (version 3"));
  EXPECT_THAT(v.out, HasSubstr("region eastus: source version 16 consolidated, source head 16"));
  std::string victim;
  for (auto& e : fs::recursive_directory_iterator(GlobalDir("grow") + "/source_region=westus")) {
    if (e.is_regular_file() && e.path().extension() == ".parquet") victim = e.path().string();
  }
  ASSERT_FALSE(victim.empty());
  fs::remove(victim);
  v = Lakesync({"verify", "grow", "-c", config_, "--json"});
  EXPECT_EQ(v.exit_code, 1) << Dump(v);
  EXPECT_THAT(v.out, HasSubstr(fs::path(victim).filename().string() + " is missing"));
}

// ---------------------------------------------------------------------------------------------
// 3. Crash safety: SIGKILL at every failpoint and at random moments, then rerun.
// ---------------------------------------------------------------------------------------------

TEST_F(ConsolidationE2ETest, KilledAtEveryFailpointNeverHalfAddsAndTheRerunCompletes) {
  const std::vector<std::string> gen = {"--partitioned", "--dv", "--remove-every", "4"};
  ASSERT_EQ(Generate("east", 6, 3, 1024, gen), 5);
  ASSERT_EQ(Generate("west", 6, 3, 1024, gen), 5);
  WriteConfig({{"fp", {{"eastus", "east"}, {"westus", "west"}}, "fp", ""}});

  struct Case {
    std::string failpoint;
    bool published;  // the kill comes after the global commit is out
  };
  const std::vector<Case> cases = {
      {"copy.mid_file@3", false},
      {"consolidation.after_copy", false},
      {"consolidation.before_commit_publish", false},
      {"commit.before_link", false},
      {"consolidation.after_commit_publish", true},
      {"runner.before_record", true},
  };
  int seed = 100;
  for (const auto& c : cases) {
    SCOPED_TRACE("LAKESYNC_FAILPOINTS=" + c.failpoint);
    // New work in both regions for every case.
    ASSERT_GT(Generate("east", 2, 3, 1024,
                       {"--dv", "--remove-every", "4", "--seed", std::to_string(seed++)}),
              0);
    ASSERT_GT(Generate("west", 2, 3, 1024,
                       {"--dv", "--remove-every", "4", "--seed", std::to_string(seed++)}),
              0);
    const int64_t before = ContiguousHead(GlobalDir("fp"));
    ProcessResult killed = Run("fp", {{"LAKESYNC_FAILPOINTS", c.failpoint}});
    EXPECT_EQ(killed.exit_code, -1) << "expected a SIGKILL at the failpoint\n" << Dump(killed);
    EXPECT_EQ(ContiguousHead(GlobalDir("fp")), before + (c.published ? 1 : 0));
    Judged after_kill = Judge("fp", /*expect_heads=*/c.published);
    EXPECT_EQ(after_kill.exit_code, 0) << "after the kill:\n" << after_kill.output;

    ProcessResult rerun = Run("fp");
    EXPECT_EQ(rerun.exit_code, 0) << Dump(rerun);
    // Exactly one global commit for the new work, whether the killed run published it or not.
    EXPECT_EQ(ContiguousHead(GlobalDir("fp")), before + 1);
    Judged final_check = Judge("fp", true);
    EXPECT_EQ(final_check.exit_code, 0) << "after the rerun:\n" << final_check.output;
    if (c.failpoint == "runner.before_record") {
      // PostgreSQL never heard of the published commit: reconciled from the global table.
      EXPECT_THAT(rerun.err, HasSubstr("its log is the truth")) << Dump(rerun);
    }
  }
  EXPECT_EQ(db_->Query("SELECT target || ':' || replicated_version FROM target_versions WHERE "
                       "job = 'fp' ORDER BY target"),
            "eastus:" + std::to_string(ContiguousHead(RegionDir("east"))) +
                "\nwestus:" + std::to_string(ContiguousHead(RegionDir("west"))));
}

TEST_F(ConsolidationE2ETest, RandomKillsNeverLeaveADuplicateOrALostFile) {
  ASSERT_EQ(Generate("east", 20, 4, 1024, {"--remove-every", "5", "--seed", "7"}), 19);
  ASSERT_EQ(Generate("west", 20, 4, 1024, {"--remove-every", "6", "--seed", "8"}), 19);
  WriteConfig({{"rk", {{"eastus", "east"}, {"westus", "west"}}, "rk", ""}});

  uint64_t seed = 20261123;
  if (const char* s = std::getenv("LAKESYNC_TEST_SEED")) seed = std::strtoull(s, nullptr, 10);
  std::cout << "[ random kills ] seed " << seed << " (set LAKESYNC_TEST_SEED to replay)\n";
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> early_ms(5, 80);
  std::uniform_int_distribution<int> late_ms(0, 4);
  // Even runs: killed 5-80 ms after the start (start-up, planning, copies). Odd runs: killed
  // 0-4 ms after the run's global commit appeared (between the publish and the record).
  int kills = 0;
  for (int i = 0; i < 8; ++i) {
    const bool after_publish = i % 2 == 1;
    const int delay = after_publish ? late_ms(rng) : early_ms(rng);
    SCOPED_TRACE("seed " + std::to_string(seed) + ", kill " + std::to_string(i) + " after " +
                 std::to_string(delay) + " ms" + (after_publish ? " from the publish" : ""));
    const std::string next =
        GlobalDir("rk") + "/_delta_log/" + CommitName(ContiguousHead(GlobalDir("rk")) + 1);
    std::function<bool()> published = [&] { return fs::exists(next); };
    bool killed = false;
    ProcessResult r = RunProcessKilledAfter({kBinary, "run", "rk", "-c", config_}, Env(),
                                            std::chrono::milliseconds(delay), &killed,
                                            after_publish ? published : std::function<bool()>());
    if (killed) {
      ++kills;
    } else {
      EXPECT_EQ(r.exit_code, 0) << Dump(r);
    }
    std::cout << "[ random kills ] run " << i << ": " << (killed ? "killed" : "not killed")
              << " after " << delay << " ms" << (after_publish ? " from the publish" : "") << "\n";
    Judged j = Judge("rk", false);
    EXPECT_EQ(j.exit_code, 0) << j.output;
    // More work arrives between runs.
    ASSERT_GT(
        Generate("east", 3, 8, 1024, {"--remove-every", "5", "--seed", std::to_string(30 + i)}), 0);
  }
  std::cout << "[ random kills ] " << kills << " of 8 runs killed\n";
  EXPECT_GE(kills, 2) << "too few runs were interrupted to test anything";
  ProcessResult final_run = Run("rk");
  EXPECT_EQ(final_run.exit_code, 0) << Dump(final_run);
  Judged j = Judge("rk", true);
  EXPECT_EQ(j.exit_code, 0) << j.output;
}

// ---------------------------------------------------------------------------------------------
// 4. Refusals and partial runs.
// ---------------------------------------------------------------------------------------------

TEST_F(ConsolidationE2ETest, SchemaMismatchAndUnsupportedFeaturesAreRefusedWithExactMessages) {
  REQUIRE_FIXTURES();
  CopyFixture(kFixtures, "simple_table", RegionDir("simple"));
  CopyFixture(kFixtures, "table-with-dv-small", RegionDir("dv"));
  CopyFixture(kFixtures, "table_with_liquid_clustering", RegionDir("liquid"));
  WriteConfig(
      {{"mismatch", {{"eastus", "simple"}, {"westus", "dv"}}, "mismatch", ""},
       {"unioned", {{"eastus", "simple"}, {"westus", "dv"}}, "unioned", "    schema: union\n"},
       {"liquid", {{"eastus", "simple"}, {"westus", "liquid"}}, "liquid", ""}});

  ProcessResult mismatch = Run("mismatch");
  EXPECT_EQ(mismatch.exit_code, 1) << Dump(mismatch);
  EXPECT_THAT(mismatch.err,
              HasSubstr("lakesync: mismatch failed: the sources' schemas differ: column `value`: "
                        "in westus, not in eastus; column `id`: in eastus, not in westus. Make "
                        "the regional tables' schemas agree or write `schema: union` in the job "
                        "to add nullable columns that only some sources have"))
      << Dump(mismatch);
  EXPECT_FALSE(fs::exists(GlobalDir("mismatch") + "/_delta_log"));
  EXPECT_EQ(db_->Query("SELECT status FROM runs WHERE job = 'mismatch'"), "failed");

  ProcessResult unioned = Run("unioned");
  EXPECT_EQ(unioned.exit_code, 0) << Dump(unioned);
  Judged j = Judge("unioned", true);
  EXPECT_EQ(j.exit_code, 0) << j.output;

  ProcessResult liquid = Run("liquid");
  EXPECT_EQ(liquid.exit_code, 1) << Dump(liquid);
  EXPECT_THAT(liquid.err,
              HasSubstr("region westus: file-level consolidation cannot preserve table feature "
                        "rowTracking (row ids of different regions would collide in one table); "
                        "consolidate a copy of the table without that feature, or leave this "
                        "region out"))
      << Dump(liquid);
  EXPECT_EQ(db_->Query("SELECT status FROM runs WHERE job = 'liquid'"), "partial");
}

TEST_F(ConsolidationE2ETest, UnreadableRegionMakesThePartialRunAndItsLagKeepsGrowing) {
  REQUIRE_FIXTURES();
  CopyFixture(kFixtures, "simple_table", RegionDir("east"));
  WriteConfig({{"part", {{"eastus", "east"}, {"westus", "west_missing"}}, "part", ""}});
  ProcessResult r = Run("part");
  EXPECT_EQ(r.exit_code, 1) << Dump(r);
  EXPECT_THAT(r.err, HasSubstr("westus failed; the region stays at no version yet: region "
                               "westus: no Delta table at file://" +
                               RegionDir("west_missing")))
      << Dump(r);
  EXPECT_EQ(db_->Query("SELECT status FROM runs WHERE job = 'part'"), "partial");
  EXPECT_EQ(db_->Query("SELECT rt.target || ':' || rt.status FROM run_targets rt JOIN runs r ON "
                       "r.id = rt.run_id WHERE r.job = 'part' ORDER BY rt.position"),
            "eastus:succeeded\nwestus:failed");
  auto status = RegionStatuses("part");
  EXPECT_EQ(status["eastus"].lag_versions, 0);
  EXPECT_THAT(status["westus"].error, HasSubstr("no Delta table at"));

  // The region appears with 5 commits: status shows it 5 versions behind; the next run
  // consolidates it.
  CopyFixture(kFixtures, "simple_table", RegionDir("west_missing"));
  auto behind = RegionStatuses("part");
  EXPECT_EQ(behind["westus"].lag_versions, 5);
  EXPECT_EQ(behind["westus"].replicated, -1);
  ProcessResult second = Run("part");
  EXPECT_EQ(second.exit_code, 0) << Dump(second);
  Judged j = Judge("part", true);
  EXPECT_EQ(j.exit_code, 0) << j.output;
}

// A region that cannot be read when the global table is created, and then appears needing
// what the first region's table did not have (a column, deletion vectors): with `schema: union`
// the global table grows to take it in the commit that adds its files, and the judge (which
// checks that the global schema and protocol hold every region's) and `verify` accept it; a
// strict job refuses the region, pointing at union, and consolidates the other.
TEST_F(ConsolidationE2ETest, ARegionJoiningLateGrowsTheGlobalTableUnderUnion) {
  REQUIRE_FIXTURES();
  CopyFixture(kFixtures, "simple_table", RegionDir("east"));
  WriteConfig({{"late", {{"eastus", "east"}, {"westus", "west"}}, "late", "    schema: union\n"},
               {"strict", {{"eastus", "east"}, {"westus", "west"}}, "strict", ""}});
  for (const char* job : {"late", "strict"}) {
    ProcessResult r = Run(job);
    EXPECT_EQ(r.exit_code, 1) << Dump(r);  // westus: no table yet
  }
  CopyFixture(kFixtures, "table-with-dv-small", RegionDir("west"));

  ProcessResult late = Run("late");
  EXPECT_EQ(late.exit_code, 0) << Dump(late);
  EXPECT_THAT(late.err, HasSubstr("region westus brings column `value` (integer), table feature "
                                  "deletionVectors; the global table gains them"))
      << Dump(late);
  Judged j = Judge("late", true);
  EXPECT_EQ(j.exit_code, 0) << j.output;
  ProcessResult verify = Lakesync({"verify", "late", "-c", config_});
  EXPECT_EQ(verify.exit_code, 0) << Dump(verify);
  ProcessResult inspect = Lakesync({"inspect", GlobalDir("late"), "--json"});
  EXPECT_EQ(inspect.exit_code, 0) << Dump(inspect);
  EXPECT_THAT(inspect.out, HasSubstr("\"reader_features\":[\"deletionVectors\"]"));

  ProcessResult strict = Run("strict");
  EXPECT_EQ(strict.exit_code, 1) << Dump(strict);
  EXPECT_THAT(strict.err, HasSubstr("region westus: the source's schema does not fit the global "
                                    "table's: column `value`: in westus, not in the global table "
                                    "(write `schema: union` in the job"))
      << Dump(strict);
  Judged js = Judge("strict", false);
  EXPECT_EQ(js.exit_code, 0) << js.output;
}

}  // namespace
}  // namespace lakesync::testing
