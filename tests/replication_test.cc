// End-to-end tests of incremental replication: the real `lakesync` binary, a real PostgreSQL
// (LAKESYNC_TEST_DATABASE_URL, a fresh database per test), tables in temporary directories,
// and an independent judge: tests/tools/delta_facts.py `check` (its own Delta log reader in
// Python, sharing no code with lakesync) decides whether a target is a valid replica
// (DESIGN.md R1–R3 plus torn-copy checks). A target that holds a strict prefix of the source
// is valid for the checker; `--version N` additionally requires its head to be exactly N.
//
// Source tables come from the real Delta fixtures (LAKESYNC_FIXTURES_DIR) and from
// bench/delta_gen (DELTA_GEN_BINARY), which writes data files before the commit that
// references them, as a real writer does.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <simdjson.h>

#include <algorithm>
#include <cctype>
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
#include <thread>
#include <vector>

#include "tests/e2e_util.h"
#include "tests/pg_fixture.h"
#include "tests/process.h"

namespace lakesync::testing {
namespace {

// Temp files of interrupted copies (LocalStorage's ".lakesync-*.tmp") anywhere under `dir`.
size_t TempFilesUnder(const std::string& dir) {
  size_t n = 0;
  std::error_code ec;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind(".lakesync-", 0) == 0 && name.size() > 4 &&
        name.compare(name.size() - 4, 4, ".tmp") == 0) {
      ++n;
    }
  }
  return n;
}

namespace fs = std::filesystem;
using ::testing::HasSubstr;

const std::string kBinary = LAKESYNC_BINARY;
const std::string kDeltaGen = DELTA_GEN_BINARY;
const std::string kSourceDir = LAKESYNC_SOURCE_DIR;
const std::string kFixtures = LAKESYNC_FIXTURES_DIR;
const std::string kToolsDir = kSourceDir + "/tests/tools";
const std::string kChecker = kToolsDir + "/delta_facts.py";

void WriteFileBytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

struct CheckResult {
  int exit_code = -1;
  std::string output;
};

// delta_facts.py check SRC TGT [--version N]. A target directory that does not exist yet
// holds no commit, which is a valid (empty) replica: it is created so the checker can say so.
CheckResult RunChecker(const std::string& source, const std::string& target,
                       std::optional<int64_t> version = std::nullopt) {
  fs::create_directories(target);
  std::vector<std::string> argv = {Python(), kChecker, "check", source, target};
  if (version) {
    argv.push_back("--version");
    argv.push_back(std::to_string(*version));
  }
  ProcessResult r = RunProcess(argv);
  return {r.exit_code, r.out + r.err};
}

// Runs delta_gen; returns the head it printed, or -1 (with a test failure) when it failed.
int64_t Generate(const std::string& table, int commits, int files_per_commit, int file_size,
                 std::vector<std::string> extra = {}) {
  std::vector<std::string> argv = {kDeltaGen,
                                   "--table",
                                   table,
                                   "--commits",
                                   std::to_string(commits),
                                   "--files-per-commit",
                                   std::to_string(files_per_commit),
                                   "--file-size",
                                   std::to_string(file_size)};
  argv.insert(argv.end(), extra.begin(), extra.end());
  ProcessResult r = RunProcess(argv);
  EXPECT_EQ(r.exit_code, 0) << Dump(r);
  if (r.exit_code != 0) return -1;
  return std::stoll(r.out);
}

// For every commit of `table`: the files it references (add, remove, cdc paths and
// deletion-vector files), percent-decoded into paths below the table root, as computed by
// the independent checker's own functions (not by lakesync's parser).
std::map<int64_t, std::vector<std::string>> ReferencedFiles(const std::string& table) {
  static const char* kScript = R"PY(
import sys
sys.path.insert(0, sys.argv[1])
import delta_facts as d
listing = d.list_log(sys.argv[2])
for v in sorted(listing["commits"]):
    actions, err = d.parse_commit(listing["commits"][v])
    if err:
        raise SystemExit("commit %d: %s" % (v, err))
    for a in actions:
        for kind in ("add", "remove", "cdc"):
            if kind not in a:
                continue
            p = d.decode_path(a[kind]["path"])
            if not d.is_absolute_uri(p):
                print("%d\t%s" % (v, p))
            dv = a[kind].get("deletionVector")
            if dv:
                rel = d.dv_relative_file(dv)
                if rel is not None and not d.is_absolute_uri(rel):
                    print("%d\t%s" % (v, rel))
)PY";
  ProcessResult r = RunProcess({Python(), "-c", kScript, kToolsDir, table});
  EXPECT_EQ(r.exit_code, 0) << Dump(r);
  std::map<int64_t, std::vector<std::string>> out;
  std::istringstream lines(r.out);
  std::string line;
  while (std::getline(lines, line)) {
    size_t tab = line.find('\t');
    if (tab == std::string::npos) continue;
    out[std::stoll(line.substr(0, tab))].push_back(line.substr(tab + 1));
  }
  return out;
}

void CopyIfAbsent(const fs::path& from, const fs::path& to) {
  if (!fs::exists(from) || fs::exists(to)) return;
  fs::create_directories(to.parent_path());
  fs::copy_file(from, to);
}

// Makes version `v` of `fixture` appear in the live source table `live` the way a writer
// publishes it: first the files the commit references, then the commit JSON, then the
// checkpoint / .crc files of that version and `_last_checkpoint` when it names `v`.
void RevealVersion(const std::string& fixture, const std::string& live, int64_t v,
                   const std::vector<std::string>& referenced) {
  for (const auto& rel : referenced) CopyIfAbsent(fs::path(fixture) / rel, fs::path(live) / rel);
  const std::string log = "/_delta_log/";
  CopyIfAbsent(fixture + log + CommitName(v), live + log + CommitName(v));
  const std::string prefix = CommitName(v).substr(0, 20);
  for (const auto& e : fs::directory_iterator(fixture + log)) {
    std::string name = e.path().filename().string();
    if (e.is_regular_file() && name.rfind(prefix + ".", 0) == 0 && name != CommitName(v)) {
      CopyIfAbsent(e.path(), live + log + name);
    }
  }
  const std::string last = fixture + log + "_last_checkpoint";
  if (fs::exists(last)) {
    std::smatch m;
    std::string text = ReadFile(last);
    static const std::regex kVersion("\"version\"\\s*:\\s*([0-9]+)");
    if (std::regex_search(text, m, kVersion) && std::stoll(m[1].str()) == v) {
      fs::copy_file(last, live + log + "_last_checkpoint", fs::copy_options::overwrite_existing);
    }
  }
}

// Names of the regular files directly in `dir` that start with `prefix`.
std::vector<std::string> FilesStartingWith(const std::string& dir, const std::string& prefix) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    std::string name = e.path().filename().string();
    if (e.is_regular_file() && name.rfind(prefix, 0) == 0) out.push_back(name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

struct JobSpec {
  std::string name;
  std::string source_table;  // table directory name under <root>/src
  std::string target_table;  // table directory name under <root>/dst
};

class ReplicationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string base = TestDatabaseBaseUrl();
    if (base.empty()) {
      GTEST_SKIP() << "SKIPPED: LAKESYNC_TEST_DATABASE_URL is not set; run `make test`, which "
                      "starts a throwaway PostgreSQL (or scripts/pg.sh start and export it)";
    }
    db_ = std::make_unique<ScratchDatabase>(base);
    std::string err = db_->Create();
    ASSERT_EQ(err, "") << "creating a scratch database failed";
    ASSERT_NO_FATAL_FAILURE(Migrate());
  }

  void RequireFixtures() {
    if (!fs::is_directory(kFixtures)) {
      GTEST_SKIP() << "\n################################################################\n"
                   << "# SKIPPED: the Delta fixtures are missing at " << kFixtures << "\n"
                   << "################################################################";
    }
  }

  void Migrate() {
    ProcessResult r = Lakesync({"db", "migrate"});
    ASSERT_EQ(r.exit_code, 0) << Dump(r);
  }

  ProcessResult Lakesync(std::vector<std::string> args,
                         std::map<std::string, std::string> env = {}) {
    args.insert(args.begin(), kBinary);
    env.emplace("LAKESYNC_DATABASE_URL", db_->url());
    env.emplace("LAKESYNC_CONFIG", "");
    env.emplace("LAKESYNC_FAILPOINTS", "");
    return RunProcess(args, env);
  }

  ProcessResult Run(const std::string& job, std::map<std::string, std::string> env = {}) {
    return Lakesync({"run", job, "-c", config_}, std::move(env));
  }

  std::vector<std::string> RunArgv(const std::string& job) const {
    return {kBinary, "run", job, "-c", config_};
  }
  std::map<std::string, std::string> RunEnv() const {
    return {{"LAKESYNC_DATABASE_URL", db_->url()},
            {"LAKESYNC_CONFIG", ""},
            {"LAKESYNC_FAILPOINTS", ""}};
  }

  void WriteConfig(const std::vector<JobSpec>& jobs) {
    std::string y = "locations:\n  src: file://" + dir_.path() + "/src\n  dst: file://" +
                    dir_.path() + "/dst\njobs:\n";
    for (const auto& j : jobs) {
      y += "  - name: " + j.name + "\n    kind: incremental\n    source: src:/" + j.source_table +
           "\n    targets: [dst:/" + j.target_table + "]\n";
    }
    config_ = dir_.WriteFile("lakesync.yaml", y);
  }
  void WriteConfigOneJob(const std::string& name) { WriteConfig({{name, name, name}}); }

  std::string Src(const std::string& table) const { return dir_.path() + "/src/" + table; }
  std::string Dst(const std::string& table) const { return dir_.path() + "/dst/" + table; }

  TempDir dir_;
  std::unique_ptr<ScratchDatabase> db_;
  std::string config_;
};

// ---------------------------------------------------------------------------------------------
// 1. Every real fixture, replicated into a fresh target.
// ---------------------------------------------------------------------------------------------

TEST_F(ReplicationTest, EveryFixtureReplicatesToAReplicaTheCheckerAccepts) {
  RequireFixtures();
  // The fixtures that are partial upstream: their live files missing on disk, as listed by
  // `delta_facts.py facts <table>` ("missing on disk: live files"). A run must fail naming
  // one of them.
  const std::map<std::string, std::vector<std::string>> kPartial = {
      {"checkpoints",
       {"762e2b03-6a04-4707-b676-5d38d1ef9fca", "b207ef5f-4458-4969-bd34-46439cdeb6a6",
        "c7966c2b-09de-499d-8a90-5694ade6d659", "ca044815-1585-4e08-aa15-904c5ec961e6",
        "ce9ff441-1618-489a-8810-301d2a3fa32d", "ee6161de-c5be-4117-9ffe-e09b7475dbc7",
        "1c6c1825-ee0e-4f44-a3e8-73245adcea35", "696c78e6-3b86-4bd1-94a7-b1ec40eafe76",
        "187631a9-ef68-445e-9e78-b03451ebd63f", "2d0a97a0-62a6-415e-b598-1479e361f91f",
        "69e74256-615d-49cc-94c8-a02826bd4221", "c3f3c634-9695-4cc1-b76d-0f5feb30f278"}},
      {"with_checkpoint_no_last_checkpoint", {"70b1dcdf-0236-4f63-a072-124cdbafd8a0"}},
  };
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(kFixtures)) {
    if (e.is_directory() && fs::is_directory(e.path() / "_delta_log")) {
      names.push_back(e.path().filename().string());
    }
  }
  std::sort(names.begin(), names.end());
  ASSERT_GE(names.size(), 10u) << "expected the ~15 fixture tables under " << kFixtures;

  std::vector<JobSpec> jobs;
  for (const auto& n : names) {
    // A private copy: a replicator bug must never be able to damage the shared fixtures.
    fs::create_directories(Src(n));
    fs::copy(kFixtures + "/" + n, Src(n), fs::copy_options::recursive);
    jobs.push_back({n, n, n});
  }
  WriteConfig(jobs);

  for (const auto& n : names) {
    SCOPED_TRACE("fixture " + n);
    ProcessResult r = Run(n);
    auto partial = kPartial.find(n);
    if (partial == kPartial.end()) {
      EXPECT_EQ(r.exit_code, 0) << Dump(r);
      // R5: a successful run ends at the source head it observed.
      int64_t head = ContiguousHead(Src(n));
      CheckResult c = RunChecker(Src(n), Dst(n), head);
      EXPECT_EQ(c.exit_code, 0) << "checker violations:\n" << c.output << Dump(r);
    } else {
      EXPECT_EQ(r.exit_code, 1) << Dump(r);
      bool named = false;
      for (const auto& id : partial->second) named = named || r.err.find(id) != std::string::npos;
      EXPECT_TRUE(named) << "stderr names none of the missing live files\n" << Dump(r);
      // Whatever prefix the target holds must be a valid replica: no torn commit, no commit
      // published whose live files are missing (R4, R7).
      CheckResult c = RunChecker(Src(n), Dst(n));
      EXPECT_EQ(c.exit_code, 0) << "checker violations:\n" << c.output;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// 2. A source that grows one commit at a time.
// ---------------------------------------------------------------------------------------------

TEST_F(ReplicationTest, ProgressiveSourceIsAValidReplicaAfterEveryRunAndStatusShowsNoLag) {
  RequireFixtures();
  const std::vector<std::string> tables = {"simple_table",        "cdf-table",
                                           "table-with-dv-small", "simple_table_with_cdc",
                                           "delta-0.2.0",         "simple_table_with_checkpoint"};
  std::vector<JobSpec> jobs;
  for (const auto& t : tables) jobs.push_back({t, t, t});
  WriteConfig(jobs);

  std::map<std::string, int64_t> heads;
  for (const auto& t : tables) {
    SCOPED_TRACE("fixture " + t);
    const std::string fixture = kFixtures + "/" + t;
    ASSERT_TRUE(fs::is_directory(fixture)) << fixture;
    auto refs = ReferencedFiles(fixture);
    const int64_t head = ContiguousHead(fixture);
    ASSERT_GE(head, 0);
    heads[t] = head;
    fs::create_directories(Src(t) + "/_delta_log");
    for (int64_t v = 0; v <= head; ++v) {
      SCOPED_TRACE("after revealing version " + std::to_string(v));
      RevealVersion(fixture, Src(t), v, refs[v]);
      ProcessResult r = Run(t);
      ASSERT_EQ(r.exit_code, 0) << Dump(r);
      CheckResult c = RunChecker(Src(t), Dst(t), v);
      ASSERT_EQ(c.exit_code, 0) << "checker violations:\n" << c.output << Dump(r);
    }
  }

  ProcessResult s = Lakesync({"status", "-c", config_, "--json"});
  ASSERT_EQ(s.exit_code, 0) << Dump(s);
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(s.out).get(doc), simdjson::SUCCESS) << "status --json:\n" << s.out;
  simdjson::dom::array arr;
  ASSERT_EQ(doc.get_array().get(arr), simdjson::SUCCESS) << s.out;
  std::set<std::string> seen;
  for (simdjson::dom::element job : arr) {
    std::string_view name;
    ASSERT_EQ(job["job"].get_string().get(name), simdjson::SUCCESS) << s.out;
    auto it = heads.find(std::string(name));
    if (it == heads.end()) continue;
    SCOPED_TRACE("status of " + it->first);
    seen.insert(it->first);
    int64_t source_version = -2;
    EXPECT_EQ(job["source_version"].get_int64().get(source_version), simdjson::SUCCESS);
    EXPECT_EQ(source_version, it->second) << s.out;
    std::string_view last_status;
    EXPECT_EQ(job["last_run"]["status"].get_string().get(last_status), simdjson::SUCCESS);
    EXPECT_EQ(last_status, "succeeded") << s.out;
    simdjson::dom::array targets;
    ASSERT_EQ(job["targets"].get_array().get(targets), simdjson::SUCCESS) << s.out;
    ASSERT_EQ(targets.size(), 1u) << s.out;
    simdjson::dom::element t0 = targets.at(0);
    int64_t replicated = -2;
    int64_t lag_versions = -2;
    double lag_seconds = -2;
    EXPECT_EQ(t0["replicated_version"].get_int64().get(replicated), simdjson::SUCCESS);
    EXPECT_EQ(t0["lag_versions"].get_int64().get(lag_versions), simdjson::SUCCESS);
    EXPECT_EQ(t0["lag_seconds"].get_double().get(lag_seconds), simdjson::SUCCESS);
    EXPECT_EQ(replicated, it->second) << s.out;
    EXPECT_EQ(lag_versions, 0) << s.out;
    EXPECT_EQ(lag_seconds, 0.0) << "caught up: no unreplicated commit, so no age\n" << s.out;
  }
  EXPECT_EQ(seen.size(), tables.size()) << "status --json lacks some jobs:\n" << s.out;
}

TEST_F(ReplicationTest, VacuumedHistoryFilesAreSkippedAndTheReplicaIsComplete) {
  // 20 commits × 3 files; versions 2, 4, ..., 18 each remove one earlier file and delete it
  // from disk (VACUUM): 60 files added, 9 gone, so 51 exist and must be copied.
  WriteConfigOneJob("vac");
  ASSERT_EQ(Generate(Src("vac"), 20, 3, 512, {"--remove-every", "2", "--vacuum"}), 19);
  ProcessResult r = Run("vac");
  ASSERT_EQ(r.exit_code, 0) << Dump(r);
  CheckResult c = RunChecker(Src("vac"), Dst("vac"), 19);
  EXPECT_EQ(c.exit_code, 0) << c.output;
  EXPECT_EQ(db_->Query("SELECT commits || ',' || files || ',' || target_version FROM runs "
                       "WHERE job = 'vac'"),
            "20,51,19");
}

TEST_F(ReplicationTest, ToVersionStopsAtTheBoundAndStatusShowsTheLag) {
  WriteConfigOneJob("bound");
  ASSERT_EQ(Generate(Src("bound"), 10, 2, 512), 9);
  ProcessResult r = Lakesync({"run", "bound", "-c", config_, "--to-version", "4"});
  ASSERT_EQ(r.exit_code, 0) << Dump(r);
  CheckResult c = RunChecker(Src("bound"), Dst("bound"), 4);
  EXPECT_EQ(c.exit_code, 0) << c.output;

  ProcessResult s = Lakesync({"status", "-c", config_, "--json"});
  ASSERT_EQ(s.exit_code, 0) << Dump(s);
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(s.out).get(doc), simdjson::SUCCESS) << s.out;
  int64_t lag = -1;
  double lag_seconds = -1;
  EXPECT_EQ(doc.at(0)["targets"].at(0)["lag_versions"].get_int64().get(lag), simdjson::SUCCESS)
      << s.out;
  EXPECT_EQ(lag, 5) << "source head 9 − replicated 4\n" << s.out;
  EXPECT_EQ(doc.at(0)["targets"].at(0)["lag_seconds"].get_double().get(lag_seconds),
            simdjson::SUCCESS)
      << s.out;
  EXPECT_GT(lag_seconds, 0.0) << "version 5 is unreplicated, so the lag has an age\n" << s.out;

  ProcessResult rest = Run("bound");
  ASSERT_EQ(rest.exit_code, 0) << Dump(rest);
  EXPECT_EQ(RunChecker(Src("bound"), Dst("bound"), 9).exit_code, 0);
  EXPECT_EQ(db_->Query("SELECT commits FROM runs WHERE job = 'bound' ORDER BY id"), "5\n5");
}

// ---------------------------------------------------------------------------------------------
// 3. Crash safety: killed at every failpoint, and at random moments.
// ---------------------------------------------------------------------------------------------

TEST_F(ReplicationTest, KilledAtEachFailpointLeavesAValidPrefixAndTheRerunCompletes) {
  // 30 commits × 5 files, every 4th commit removes a file, DVs, partitions: head 29.
  const int64_t head = Generate(Src("gen"), 30, 5, 2048,
                                {"--remove-every", "4", "--dv", "--partitioned", "--seed", "3"});
  ASSERT_EQ(head, 29);

  struct Case {
    std::string failpoint;
    // The target head right after the kill; nullopt: only "behind the source".
    std::optional<int64_t> head_after_kill;
  };
  // `name@N` fires at the N-th hit. Before the 10th publish: versions 0..8 are out. After the
  // 10th publish: 0..9. Before recording: everything is published, nothing recorded.
  const std::vector<Case> cases = {
      {"copy.mid_file@20", std::nullopt},      {"incremental.before_commit_publish@10", 8},
      {"commit.before_link@10", std::nullopt}, {"incremental.after_commit_publish@10", 9},
      {"runner.before_record", head},
  };
  std::vector<JobSpec> jobs;
  for (size_t i = 0; i < cases.size(); ++i) {
    jobs.push_back({"fp" + std::to_string(i), "gen", "fp" + std::to_string(i)});
  }
  WriteConfig(jobs);

  for (size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    const std::string job = jobs[i].name;
    const std::string target = Dst(jobs[i].target_table);
    SCOPED_TRACE("LAKESYNC_FAILPOINTS=" + c.failpoint);

    ProcessResult killed = Run(job, {{"LAKESYNC_FAILPOINTS", c.failpoint}});
    EXPECT_EQ(killed.exit_code, -1) << "expected a SIGKILL at the failpoint\n" << Dump(killed);

    CheckResult after_kill = RunChecker(Src("gen"), target);
    EXPECT_EQ(after_kill.exit_code, 0) << "after the kill:\n" << after_kill.output;
    const int64_t target_head = ContiguousHead(target);
    if (c.head_after_kill) {
      EXPECT_EQ(target_head, *c.head_after_kill);
    } else {
      EXPECT_LT(target_head, head) << "the kill came before the last commit";
    }
    // A run is recorded as running before it publishes anything (`lakesync run` copies data
    // files while it connects; each publish waits for the record), and nobody finished the
    // record: it stays `running` until the next run of the job (below) marks it abandoned. A
    // kill among the first copies may come before the record exists: then there is none.
    const std::string running =
        db_->Query("SELECT count(*) FROM runs WHERE job = '" + job + "' AND status = 'running'");
    if (c.head_after_kill || c.failpoint != "copy.mid_file@20") {
      EXPECT_EQ(running, "1") << "a kill after the first publish finds the run recorded";
    } else {
      EXPECT_THAT(running, ::testing::AnyOf("0", "1"));
    }

    // A kill mid-copy leaves that copy's temp file (nothing names it).
    const size_t temps_after_kill = TempFilesUnder(target);
    if (c.failpoint == "copy.mid_file@20") {
      EXPECT_GT(temps_after_kill, 0u) << "the kill mid-copy left no partial copy";
    }

    ProcessResult rerun = Run(job);
    EXPECT_EQ(rerun.exit_code, 0) << Dump(rerun);
    CheckResult final_check = RunChecker(Src("gen"), target, head);
    EXPECT_EQ(final_check.exit_code, 0) << "after the rerun:\n" << final_check.output;
    // The rerun, holding the job's lock, knows no other process runs the job, so it marks the
    // killed run failed ("abandoned: ...") and says so: nothing is left `running`.
    if (running == "1") {
      EXPECT_EQ(db_->Query("SELECT status || ':' || count(*) FROM runs WHERE job = '" + job +
                           "' GROUP BY status ORDER BY status"),
                "failed:1\nsucceeded:1")
          << "the killed run is marked failed by the rerun; the rerun succeeded";
      EXPECT_THAT(
          db_->Query("SELECT error FROM runs WHERE job = '" + job + "' AND status = 'failed'"),
          HasSubstr("abandoned"));
      EXPECT_THAT(rerun.err, HasSubstr("marked 1 run(s) left `running`")) << Dump(rerun);
      // The rerun, knowing a run was killed, removed the partial copies it left.
      EXPECT_EQ(TempFilesUnder(target), 0u) << Dump(rerun);
      if (temps_after_kill > 0) {
        EXPECT_THAT(rerun.err, HasSubstr("a killed run left in")) << Dump(rerun);
      }
    } else {
      EXPECT_EQ(db_->Query("SELECT status || ':' || count(*) FROM runs WHERE job = '" + job +
                           "' GROUP BY status ORDER BY status"),
                "succeeded:1");
    }
    EXPECT_EQ(db_->Query("SELECT source_version || ',' || target_version FROM runs WHERE job = '" +
                         job + "' AND status = 'succeeded'"),
              "29,29");
    EXPECT_EQ(
        db_->Query("SELECT replicated_version FROM target_versions WHERE job = '" + job + "'"),
        "29");
    if (c.failpoint == "runner.before_record") {
      // Everything was published by the killed run: the rerun copies nothing, and PostgreSQL
      // (which never heard of those commits) is reconciled from the target (R6).
      EXPECT_EQ(db_->Query("SELECT commits || ',' || files FROM runs WHERE job = '" + job +
                           "' AND status = 'succeeded'"),
                "0,0");
      EXPECT_THAT(Lower(rerun.err), HasSubstr("reconcil")) << Dump(rerun);
    }
  }
}

// `lakesync run` copies data files while it connects and takes the job's lock (runner/cmd_run.cc
// ClaimGate); every publish waits for both. A run that finds the job busy, or cannot reach the
// state store, therefore publishes nothing and records nothing; the files it copied meanwhile
// are kept by the next run.
TEST_F(ReplicationTest, RunThatCannotClaimTheJobPublishesNothing) {
  const int64_t head = Generate(Src("busy"), 20, 10, 4096, {"--seed", "5"});
  ASSERT_EQ(head, 19);
  WriteConfigOneJob("busy");
  ProcessResult first = Lakesync({"run", "busy", "--to-version", "9", "-c", config_});
  ASSERT_EQ(first.exit_code, 0) << Dump(first);
  ASSERT_EQ(ContiguousHead(Dst("busy")), 9);

  // Another session holds the job's lock (the key of db/pg_state_store.cc, written out here).
  std::thread holder([&] {
    RunProcess({"/usr/bin/psql", db_->url(), "-qtA", "-c",
                "SELECT pg_advisory_lock(hashtext('lakesync.job'), hashtext('busy')); "
                "SELECT pg_sleep(60)"});
  });
  for (int i = 0; i < 200; ++i) {
    if (db_->Query("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted") ==
        "1") {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ProcessResult busy = Run("busy");
  EXPECT_EQ(busy.exit_code, 1) << Dump(busy);
  EXPECT_THAT(busy.err, HasSubstr("job busy is running in another process right now"))
      << Dump(busy);
  EXPECT_EQ(ContiguousHead(Dst("busy")), 9) << "a run without the job's lock published";
  EXPECT_EQ(db_->Query("SELECT count(*) FROM runs WHERE job = 'busy'"), "1");
  db_->Query(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(60)%' "
      "AND pid <> pg_backend_pid()");
  holder.join();

  // The state store cannot be reached (nothing listens on the port).
  ProcessResult down =
      Lakesync({"run", "busy", "-c", config_},
               {{"LAKESYNC_DATABASE_URL", "postgresql://u:secret@127.0.0.1:1/none"}});
  EXPECT_EQ(down.exit_code, 3) << Dump(down);
  EXPECT_THAT(down.err, HasSubstr("cannot reach the state store")) << Dump(down);
  EXPECT_EQ(ContiguousHead(Dst("busy")), 9) << "a run without a state store published";

  ProcessResult rest = Run("busy");
  ASSERT_EQ(rest.exit_code, 0) << Dump(rest);
  EXPECT_EQ(RunChecker(Src("busy"), Dst("busy"), head).exit_code, 0);
  EXPECT_EQ(db_->Query("SELECT status || ',' || target_version FROM runs WHERE job = 'busy' "
                       "ORDER BY id"),
            "succeeded,9\nsucceeded,19");
}

TEST_F(ReplicationTest, RandomKillsNeverLeaveAnInvalidReplica) {
  // 300 commits × 10 files of 1 KiB, a removal every 7th commit: head 299.
  const int64_t head = Generate(Src("big"), 300, 10, 1024, {"--remove-every", "7", "--seed", "11"});
  ASSERT_EQ(head, 299);
  WriteConfig({{"big", "big", "big"}});

  uint64_t seed = 20240601;
  if (const char* s = std::getenv("LAKESYNC_TEST_SEED")) seed = std::strtoull(s, nullptr, 10);
  std::cout << "[ random kills ] seed " << seed << " (set LAKESYNC_TEST_SEED to replay)\n";
  RecordProperty("seed", std::to_string(seed));
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> delay_ms(20, 300);

  // Phase 1: five kills 20–300 ms after the start (start-up, planning, first copies).
  // Phase 2: five kills 20–300 ms after the run published its first new commit, so that the
  // kills land among the publishes (a full run of this table takes seconds).
  int kills = 0;
  for (int i = 0; i < 10; ++i) {
    const bool after_publish = i >= 5;
    const int delay = delay_ms(rng);
    const int64_t head_before = ContiguousHead(Dst("big"));
    SCOPED_TRACE("seed " + std::to_string(seed) + ", kill " + std::to_string(i) + " after " +
                 std::to_string(delay) + " ms" +
                 (after_publish ? " from the first new commit" : " from the start") +
                 "; target head before: " + std::to_string(head_before));
    if (after_publish && head_before == head) break;  // nothing left to interrupt
    const std::string next_commit = Dst("big") + "/_delta_log/" + CommitName(head_before + 1);
    std::function<bool()> published = [&] { return fs::exists(next_commit); };
    bool killed = false;
    ProcessResult r =
        RunProcessKilledAfter(RunArgv("big"), RunEnv(), std::chrono::milliseconds(delay), &killed,
                              after_publish ? published : nullptr);
    if (killed) {
      ++kills;
      EXPECT_EQ(r.exit_code, -1) << Dump(r);
    } else {
      EXPECT_EQ(r.exit_code, 0) << "finished before the kill, so it must have succeeded\n"
                                << Dump(r);
    }
    const int64_t head_after = ContiguousHead(Dst("big"));
    std::cout << "[ random kills ] run " << i << ": " << (killed ? "killed" : "not killed")
              << " after " << delay << " ms" << (after_publish ? " from the first new commit" : "")
              << "; target head " << head_before << " -> " << head_after << "\n";
    CheckResult c = RunChecker(Src("big"), Dst("big"));
    EXPECT_EQ(c.exit_code, 0) << "target head " << head_after << "\n" << c.output;
    EXPECT_GE(head_after, head_before) << "a replica never moves backwards";
  }
  EXPECT_GE(kills, 5) << "too few runs were interrupted to test anything";

  ProcessResult final_run = Run("big");
  EXPECT_EQ(final_run.exit_code, 0) << Dump(final_run);
  CheckResult c = RunChecker(Src("big"), Dst("big"), head);
  EXPECT_EQ(c.exit_code, 0) << c.output;
  EXPECT_EQ(db_->Query("SELECT status || ',' || target_version FROM runs WHERE job = 'big' "
                       "ORDER BY id DESC LIMIT 1"),
            "succeeded,299");
}

// ---------------------------------------------------------------------------------------------
// 4. PostgreSQL lost between runs.
// ---------------------------------------------------------------------------------------------

TEST_F(ReplicationTest, WipedStateStoreReconcilesFromTheTargetWithoutRecopying) {
  WriteConfigOneJob("wipe");
  ASSERT_EQ(Generate(Src("wipe"), 10, 3, 4096), 9);
  ProcessResult first = Run("wipe");
  ASSERT_EQ(first.exit_code, 0) << Dump(first);
  ASSERT_EQ(RunChecker(Src("wipe"), Dst("wipe"), 9).exit_code, 0);

  // Five more commits of 3 files each (no removes): versions 10..14.
  ASSERT_EQ(Generate(Src("wipe"), 5, 3, 4096), 14);
  ASSERT_EQ(db_->Recreate(), "");
  ASSERT_NO_FATAL_FAILURE(Migrate());

  ProcessResult second = Run("wipe");
  ASSERT_EQ(second.exit_code, 0) << Dump(second);
  EXPECT_THAT(Lower(second.err), HasSubstr("reconcil"))
      << "the log must say the replicated version came from the target\n"
      << Dump(second);
  CheckResult c = RunChecker(Src("wipe"), Dst("wipe"), 14);
  EXPECT_EQ(c.exit_code, 0) << c.output;

  // Only the new commits were copied: 5 commits, 5 × 3 = 15 data files of 4096 bytes =
  // 61440 bytes (or that plus the five commit files, if bytes count the log too).
  int64_t commit_bytes = 0;
  for (int64_t v = 10; v <= 14; ++v) {
    commit_bytes +=
        static_cast<int64_t>(fs::file_size(Src("wipe") + "/_delta_log/" + CommitName(v)));
  }
  std::string row = db_->Query(
      "SELECT commits || ',' || files || ',' || bytes || ',' || source_version || ',' || "
      "target_version || ',' || status FROM runs WHERE job = 'wipe'");
  const std::string data_only = "5,15,61440,14,14,succeeded";
  const std::string with_log = "5,15," + std::to_string(61440 + commit_bytes) + ",14,14,succeeded";
  EXPECT_TRUE(row == data_only || row == with_log)
      << "run record: " << row << "\nexpected " << data_only << " or " << with_log;

  ProcessResult h = Lakesync({"history", "wipe", "-c", config_, "--json"});
  EXPECT_EQ(h.exit_code, 0) << Dump(h);
  EXPECT_THAT(h.out, HasSubstr("15")) << "history --json shows the 15 files\n" << Dump(h);
}

// ---------------------------------------------------------------------------------------------
// 5. A target that diverged from its source.
// ---------------------------------------------------------------------------------------------

TEST_F(ReplicationTest, DivergedTargetFailsTheRunAndNothingMoreIsPublished) {
  WriteConfigOneJob("div");
  ASSERT_EQ(Generate(Src("div"), 10, 2, 1024), 9);
  ProcessResult first = Run("div");
  ASSERT_EQ(first.exit_code, 0) << Dump(first);

  // Change one digit of the commitInfo timestamp in the target's head commit (version 9): the
  // file still parses, but it is no longer the source's commit 9. The head is the commit a
  // resuming run builds on, so the run must notice it without re-reading the whole log.
  const std::string commit9 = Dst("div") + "/_delta_log/" + CommitName(9);
  std::string bytes = ReadFile(commit9);
  size_t at = bytes.find("\"timestamp\":");
  ASSERT_NE(at, std::string::npos) << bytes;
  at += std::string("\"timestamp\":").size() + 5;
  bytes[at] = bytes[at] == '9' ? '8' : static_cast<char>(bytes[at] + 1);
  WriteFileBytes(commit9, bytes);

  ASSERT_EQ(Generate(Src("div"), 3, 2, 1024), 12);
  const auto before = CommitVersions(Dst("div"));
  ASSERT_EQ(before.size(), 10u);

  ProcessResult r = Run("div");
  EXPECT_EQ(r.exit_code, 1) << Dump(r);
  EXPECT_THAT(r.err, HasSubstr("target diverged at version 9")) << Dump(r);
  EXPECT_EQ(CommitVersions(Dst("div")), before) << "nothing may be published past version 9";
  EXPECT_EQ(ReadFile(commit9), bytes) << "the diverged commit must never be overwritten";
  EXPECT_EQ(db_->Query("SELECT status FROM runs WHERE job = 'div' ORDER BY id DESC LIMIT 1"),
            "failed");
}

// ---------------------------------------------------------------------------------------------
// 6. lakesync verify.
// ---------------------------------------------------------------------------------------------

TEST_F(ReplicationTest, VerifyPassesOnACleanReplicaAndNamesADeletedFile) {
  WriteConfigOneJob("ver");
  ASSERT_EQ(Generate(Src("ver"), 10, 3, 1024), 9);
  ProcessResult run = Run("ver");
  ASSERT_EQ(run.exit_code, 0) << Dump(run);

  ProcessResult ok = Lakesync({"verify", "ver", "-c", config_});
  EXPECT_EQ(ok.exit_code, 0) << Dump(ok);
  ProcessResult ok_sum = Lakesync({"verify", "ver", "-c", config_, "--checksum"});
  EXPECT_EQ(ok_sum.exit_code, 0) << Dump(ok_sum);

  // A file added by version 9 (delta_gen names it part-00009-000-<uuid>.parquet): live at the
  // head, so its absence breaks R2.
  auto victims = FilesStartingWith(Dst("ver"), "part-00009-000-");
  ASSERT_EQ(victims.size(), 1u);
  fs::remove(Dst("ver") + "/" + victims[0]);

  ProcessResult bad = Lakesync({"verify", "ver", "-c", config_});
  EXPECT_EQ(bad.exit_code, 1) << Dump(bad);
  EXPECT_THAT(bad.out + bad.err, HasSubstr(victims[0])) << Dump(bad);
  ProcessResult bad_json = Lakesync({"verify", "ver", "-c", config_, "--json"});
  EXPECT_EQ(bad_json.exit_code, 1) << Dump(bad_json);
  EXPECT_THAT(bad_json.out, HasSubstr(victims[0])) << Dump(bad_json);
  // The independent checker agrees that the replica is now broken.
  EXPECT_EQ(RunChecker(Src("ver"), Dst("ver")).exit_code, 1);
}

}  // namespace
}  // namespace lakesync::testing
