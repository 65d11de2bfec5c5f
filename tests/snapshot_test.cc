// End-to-end tests of snapshot jobs and restores: the real `lakesync` binary, a real
// PostgreSQL (LAKESYNC_TEST_DATABASE_URL, a fresh database per test), tables in temporary
// directories (private copies of the real fixtures), real SIGKILLs at failpoints, and the
// independent judge tests/tools/delta_facts.py (`snapshot-check`, `facts`), which shares no
// code with lakesync.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <regex>
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
const std::string kSourceDir = LAKESYNC_SOURCE_DIR;
const std::string kFixtures = LAKESYNC_FIXTURES_DIR;
const std::string kToolsDir = kSourceDir + "/tests/tools";
const std::string kChecker = kToolsDir + "/delta_facts.py";

// Regular files below `dir`, relative and sorted (readdir, independent of lakesync).
std::vector<std::string> FilesUnder(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  if (!fs::exists(dir, ec)) return out;
  for (auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) out.push_back(fs::relative(e.path(), dir).string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// One snapshot as `lakesync snapshots --json` prints it (parsed with a regex per field: the
// output is one flat object per snapshot).
struct Listed {
  std::string id, status;
  int64_t version = -1, files = -1, bytes = -1;
};
std::vector<Listed> ParseListing(const std::string& json) {
  std::vector<Listed> out;
  static const std::regex kObject("\\{[^{}]*\\}");
  auto field = [](const std::string& obj, const std::string& key) -> std::string {
    std::smatch m;
    std::regex re("\"" + key + "\":(\"([^\"]*)\"|(-?[0-9]+))");
    if (!std::regex_search(obj, m, re)) return "";
    return m[2].matched ? m[2].str() : m[3].str();
  };
  for (auto it = std::sregex_iterator(json.begin(), json.end(), kObject);
       it != std::sregex_iterator(); ++it) {
    std::string obj = it->str();
    Listed l;
    l.id = field(obj, "id");
    l.status = field(obj, "status");
    if (auto v = field(obj, "version"); !v.empty()) l.version = std::stoll(v);
    if (auto v = field(obj, "files"); !v.empty()) l.files = std::stoll(v);
    if (auto v = field(obj, "bytes"); !v.empty()) l.bytes = std::stoll(v);
    out.push_back(l);
  }
  return out;
}

class SnapshotE2ETest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::is_directory(kFixtures)) {
      GTEST_SKIP() << "\n################################################################\n"
                   << "# SKIPPED: the Delta fixtures are missing at " << kFixtures << "\n"
                   << "################################################################";
    }
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
  std::vector<Listed> Snapshots(const std::string& job) {
    ProcessResult r = Lakesync({"snapshots", job, "-c", config_, "--json"});
    EXPECT_EQ(r.exit_code, 0) << Dump(r);
    return ParseListing(r.out);
  }
  std::vector<Listed> Complete(const std::string& job) {
    std::vector<Listed> out;
    for (auto& l : Snapshots(job)) {
      if (l.status == "complete") out.push_back(l);
    }
    return out;
  }

  // One snapshot job `name` of src/<table> into dst/<name>, with extra YAML lines.
  void WriteConfig(const std::string& name, const std::string& table,
                   const std::string& extra = "") {
    std::string y = "locations:\n  src: file://" + dir_.path() + "/src\n  dst: file://" +
                    dir_.path() + "/dst\njobs:\n  - name: " + name +
                    "\n    kind: snapshot\n    source: src:/" + table + "\n    target: dst:/" +
                    name + "\n" + extra;
    config_ = dir_.WriteFile("lakesync.yaml", y);
  }

  // delta_facts.py snapshot-check: "" when the checker accepts the snapshot.
  std::string Check(const std::string& source, const std::string& job, const std::string& id,
                    int64_t version, bool shallow = false) {
    std::vector<std::string> argv = {Python(),
                                     kChecker,
                                     "snapshot-check",
                                     source,
                                     Dst(job) + "/" + id,
                                     "--version",
                                     std::to_string(version),
                                     "--manifest",
                                     Dst(job) + "/_snapshots/" + id + ".json"};
    if (shallow) argv.push_back("--shallow");
    ProcessResult r = RunProcess(argv);
    return r.exit_code == 0 ? "" : Dump(r);
  }

  std::string Src(const std::string& t) const { return dir_.path() + "/src/" + t; }
  std::string Dst(const std::string& t) const { return dir_.path() + "/dst/" + t; }

  TempDir dir_;
  std::unique_ptr<ScratchDatabase> db_;
  std::string config_;
};

// Snapshots, skip when unchanged, retention, the PostgreSQL records and the listing.
TEST_F(SnapshotE2ETest, RunsSkipsRetainsAndRecords) {
  CopyFixture(kFixtures, "simple_table", Src("t"));
  WriteConfig("nightly", "t", "    retention: { keep_last: 2 }\n");

  ProcessResult r = Run("nightly");
  ASSERT_EQ(r.exit_code, 0) << Dump(r);
  EXPECT_THAT(r.out, HasSubstr("of version 4"));
  auto listed = Complete("nightly");
  ASSERT_EQ(listed.size(), 1u);
  const std::string first = listed[0].id;
  EXPECT_THAT(first, ::testing::MatchesRegex("[0-9]{8}T[0-9]{6}Z-v4"));
  // simple_table at version 4: 5 files, 1811 bytes (delta_facts.py facts --all-versions).
  EXPECT_EQ(listed[0].files, 5);
  EXPECT_EQ(listed[0].bytes, 1811);
  EXPECT_EQ(Check(Src("t"), "nightly", first, 4), "");

  // Unchanged source: nothing new.
  r = Run("nightly");
  ASSERT_EQ(r.exit_code, 0) << Dump(r);
  EXPECT_THAT(r.out, HasSubstr("unchanged since snapshot " + first));
  EXPECT_EQ(Complete("nightly").size(), 1u);

  // The source moves on (an in-place restore writes version 5 = the files of version 1).
  r = Lakesync({"restore", Src("t"), "--to-version", "1"});
  ASSERT_EQ(r.exit_code, 0) << Dump(r);
  r = Run("nightly");
  ASSERT_EQ(r.exit_code, 0) << Dump(r);
  listed = Complete("nightly");
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_EQ(listed[0].version, 5);
  EXPECT_EQ(listed[0].files, 22);  // the files of version 1
  EXPECT_EQ(Check(Src("t"), "nightly", listed[0].id, 5), "");
  const std::string second = listed[0].id;

  r = Lakesync({"restore", Src("t"), "--to-version", "4"});
  ASSERT_EQ(r.exit_code, 0) << Dump(r);
  r = Run("nightly");
  ASSERT_EQ(r.exit_code, 0) << Dump(r);
  EXPECT_THAT(r.out, HasSubstr("1 deleted by retention"));
  listed = Complete("nightly");
  ASSERT_EQ(listed.size(), 2u);  // keep_last: 2
  EXPECT_EQ(listed[0].version, 6);
  EXPECT_EQ(listed[1].id, second);
  EXPECT_EQ(FilesUnder(Dst("nightly") + "/" + first), std::vector<std::string>{});

  // PostgreSQL mirrors it: the deleted one marked, the others complete.
  EXPECT_EQ(db_->Query("SELECT string_agg(source_version || ':' || status, ',' ORDER BY "
                       "source_version) FROM snapshots WHERE job = 'nightly'"),
            "4:deleted,5:complete,6:complete");
  EXPECT_EQ(db_->Query("SELECT files || '/' || bytes FROM snapshots WHERE job = 'nightly' AND "
                       "source_version = 4"),
            "5/1811");
  // The run's record names the newest snapshot's version as the target version.
  EXPECT_EQ(db_->Query("SELECT replicated_version FROM target_versions WHERE job = 'nightly'"),
            "6");

  // The human listing.
  r = Lakesync({"snapshots", "nightly", "-c", config_});
  ASSERT_EQ(r.exit_code, 0) << Dump(r);
  EXPECT_THAT(r.out, HasSubstr("STATUS"));
  EXPECT_THAT(r.out, HasSubstr(second));

  // `verify` checks each complete snapshot against its manifest, log and the source; one data
  // file of the newest snapshot removed by hand is reported by name and fails the command.
  r = Lakesync({"verify", "nightly", "-c", config_, "--checksum"});
  ASSERT_EQ(r.exit_code, 0) << Dump(r);
  EXPECT_THAT(r.out, HasSubstr(listed[0].id + ": ok"));
  EXPECT_THAT(r.out, HasSubstr(second + ": ok"));
  const std::string newest = Dst("nightly") + "/" + listed[0].id;
  std::string victim;
  for (const auto& f : FilesUnder(newest)) {
    if (f.find(".parquet") != std::string::npos) victim = f;
  }
  ASSERT_FALSE(victim.empty());
  fs::remove(newest + "/" + victim);
  r = Lakesync({"verify", "nightly", "-c", config_});
  EXPECT_EQ(r.exit_code, 1) << Dump(r);
  EXPECT_THAT(r.out, HasSubstr(listed[0].id + ": DAMAGED"));
  EXPECT_THAT(r.out, HasSubstr(fs::path(victim).filename().string()));
  EXPECT_THAT(r.out, HasSubstr(second + ": ok"));
}

// `--to-version` bounds an incremental job; a snapshot job would ignore it (and snapshot the
// head), so it is refused before anything runs: no snapshot, no run record.
TEST_F(SnapshotE2ETest, ToVersionIsRefusedForASnapshotJob) {
  CopyFixture(kFixtures, "simple_table", Src("t"));
  WriteConfig("nightly", "t");
  ProcessResult r = Lakesync({"run", "nightly", "--to-version", "2", "-c", config_});
  EXPECT_EQ(r.exit_code, 2) << Dump(r);
  EXPECT_THAT(r.err, HasSubstr("--to-version bounds incremental jobs only; nightly is a snapshot "
                               "job (run it without --to-version)"));
  EXPECT_FALSE(fs::exists(Dst("nightly")));
  EXPECT_EQ(db_->Query("SELECT count(*) FROM runs"), "0");
  r = Run("nightly");
  ASSERT_EQ(r.exit_code, 0) << Dump(r);
  EXPECT_THAT(r.out, HasSubstr("of version 4"));
}

// "As of" reads a commit's time from its file's modification time, as Delta readers do, unless
// told `timestamps: commit_info` / `--timestamps commit_info`. Commit k of the copy is given
// 2027-01-15T08:00:00Z + k min; simple_table's commitInfo times are 2020-04-27 (v2 06:23:24.143,
// v3 06:23:34.187, read from its log).
TEST_F(SnapshotE2ETest, AsOfReadsTheCommitFilesTimesUnlessToldCommitInfo) {
  CopyFixture(kFixtures, "simple_table", Src("t"));
  const auto t0 = std::chrono::sys_seconds(std::chrono::seconds(1'800'000'000));
  for (int v = 0; v <= 4; ++v) {
    fs::last_write_time(Src("t") + "/_delta_log/0000000000000000000" + std::to_string(v) + ".json",
                        fs::file_time_type::clock::from_sys(t0 + std::chrono::minutes(v)));
  }
  ProcessResult r = Lakesync({"inspect", Src("t"), "--as-of", "2027-01-15T08:02:30Z", "--json"});
  ASSERT_EQ(r.exit_code, 0) << Dump(r);
  EXPECT_THAT(r.out, HasSubstr("\"version\":2,"));
  EXPECT_THAT(r.out, HasSubstr("\"timestamp\":\"2027-01-15T08:02:00Z\""));
  EXPECT_THAT(r.out, HasSubstr("\"timestamp_source\":\"file modification time\""));
  r = Lakesync({"inspect", Src("t"), "--as-of", "2020-04-27T06:23:30Z", "--timestamps",
                "commit_info", "--json"});
  ASSERT_EQ(r.exit_code, 0) << Dump(r);
  EXPECT_THAT(r.out, HasSubstr("\"version\":2,"));
  EXPECT_THAT(r.out, HasSubstr("\"timestamp\":\"2020-04-27T06:23:24.143Z\""));
  r = Lakesync({"inspect", Src("t"), "--timestamps", "commitInfo"});
  EXPECT_EQ(r.exit_code, 2) << Dump(r);
  EXPECT_THAT(r.err, HasSubstr("'commitInfo' is not a timestamp source; use modification_time"));

  // A snapshot job as of 2020 by commitInfo: version 2.
  WriteConfig("old", "t", "    as_of: \"2020-04-27T06:23:30Z\"\n    timestamps: commit_info\n");
  r = Run("old");
  ASSERT_EQ(r.exit_code, 0) << Dump(r);
  auto listed = Complete("old");
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].version, 2);
  // The same job by the files' times: 2020 is before the first commit; nothing is written.
  WriteConfig("files", "t", "    as_of: \"2020-04-27T06:23:30Z\"\n");
  r = Run("files");
  EXPECT_EQ(r.exit_code, 1) << Dump(r);
  EXPECT_THAT(r.err + r.out, HasSubstr("before the earliest available commit (version 0 at "
                                       "2027-01-15T08:00:00Z)"));
  EXPECT_TRUE(Complete("files").empty());

  // restore in place: --timestamps needs --as-of; by the files' times 2027-01-15T08:01:30Z is
  // version 1.
  r = Lakesync({"restore", Src("t"), "--to-version", "1", "--timestamps", "commit_info"});
  EXPECT_EQ(r.exit_code, 2) << Dump(r);
  r = Lakesync({"restore", Src("t"), "--as-of", "2027-01-15T08:01:30Z", "--json"});
  ASSERT_EQ(r.exit_code, 0) << Dump(r);
  EXPECT_THAT(r.out, HasSubstr("\"restored_version\":1"));
  r = Lakesync({"restore", Src("t"), "--as-of", "2020-04-27T06:23:30Z", "--timestamps",
                "commit_info", "--json"});
  ASSERT_EQ(r.exit_code, 0) << Dump(r);
  EXPECT_THAT(r.out, HasSubstr("\"restored_version\":2"));
}

// SIGKILL right before the manifest: invisible, then cleaned up by the next run.
TEST_F(SnapshotE2ETest, KilledBeforeManifestLeavesNothingThatCounts) {
  CopyFixture(kFixtures, "table-with-dv-small", Src("t"));
  WriteConfig("dv", "t");
  ProcessResult r = Run("dv", {{"LAKESYNC_FAILPOINTS", "snapshot.before_manifest"}});
  ASSERT_NE(r.exit_code, 0) << Dump(r);
  auto all = Snapshots("dv");
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].status, "writing");
  const std::string half = all[0].id;
  EXPECT_FALSE(FilesUnder(Dst("dv") + "/" + half).empty());

  r = Run("dv");
  ASSERT_EQ(r.exit_code, 0) << Dump(r);
  EXPECT_THAT(r.out, HasSubstr("1 left by interrupted runs removed"));
  auto done = Complete("dv");
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(Snapshots("dv").size(), 1u);
  EXPECT_EQ(Check(Src("t"), "dv", done[0].id, 1), "");
  EXPECT_NE(done[0].id, half);  // an id that was cleaned up is never reused
  EXPECT_EQ(FilesUnder(Dst("dv") + "/" + half), std::vector<std::string>{});
}

// SIGKILL in the middle of retention: the half-deleted snapshot is never listed as valid.
TEST_F(SnapshotE2ETest, KilledMidRetentionNeverListsAHalfDeletedSnapshot) {
  CopyFixture(kFixtures, "simple_table", Src("t"));
  WriteConfig("keep1", "t", "    retention: { keep_last: 1 }\n    skip_unchanged: false\n");
  ProcessResult r = Run("keep1");
  ASSERT_EQ(r.exit_code, 0) << Dump(r);
  const std::string first = Complete("keep1").at(0).id;
  // A second snapshot of the same version in the same second gets a suffix; either way ids
  // differ.
  r = Run("keep1", {{"LAKESYNC_FAILPOINTS", "snapshot.mid_retention"}});
  ASSERT_NE(r.exit_code, 0) << Dump(r);
  auto all = Snapshots("keep1");
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].status, "complete");
  EXPECT_NE(all[0].id, first);
  EXPECT_EQ(all[1].id, first);
  EXPECT_EQ(all[1].status, "deleting");
  EXPECT_FALSE(fs::exists(Dst("keep1") + "/" + first + "/_delta_log/" + CommitName(0)));

  r = Run("keep1");
  ASSERT_EQ(r.exit_code, 0) << Dump(r);
  EXPECT_EQ(FilesUnder(Dst("keep1") + "/" + first), std::vector<std::string>{});
  auto after = Snapshots("keep1");
  ASSERT_EQ(after.size(), 1u);
  EXPECT_EQ(after[0].status, "complete");
}

// A run killed in retention, after its snapshot's manifest was published: PostgreSQL never
// heard of that snapshot, and the next run skips (the source is unchanged). The target is the
// truth (R6): the next run records the snapshot and marks the half-deleted one deleted.
TEST_F(SnapshotE2ETest, ASnapshotAKilledRunPublishedIsRecordedByTheNextRun) {
  CopyFixture(kFixtures, "simple_table", Src("t"));
  WriteConfig("keep1", "t", "    retention: { keep_last: 1 }\n");
  ProcessResult r = Run("keep1");
  ASSERT_EQ(r.exit_code, 0) << Dump(r);
  const std::string first = Complete("keep1").at(0).id;
  r = Lakesync({"restore", Src("t"), "--to-version", "1"});  // the source moves on: version 5
  ASSERT_EQ(r.exit_code, 0) << Dump(r);
  r = Run("keep1", {{"LAKESYNC_FAILPOINTS", "snapshot.mid_retention"}});
  ASSERT_NE(r.exit_code, 0) << Dump(r);
  const std::string second = Complete("keep1").at(0).id;
  ASSERT_NE(second, first);
  EXPECT_EQ(db_->Query("SELECT count(*) FROM snapshots WHERE snapshot_id = '" + second + "'"), "0");

  r = Run("keep1");
  ASSERT_EQ(r.exit_code, 0) << Dump(r);
  EXPECT_THAT(r.out, HasSubstr("unchanged since snapshot " + second));
  EXPECT_THAT(r.err, HasSubstr("snapshot " + second + " is complete in the target"));
  EXPECT_EQ(db_->Query("SELECT string_agg(snapshot_id || ':' || status, ',' ORDER BY "
                       "source_version) FROM snapshots WHERE job = 'keep1'"),
            first + ":deleted," + second + ":complete");
}

// restore --snapshot: a copy the checker accepts; a non-empty destination is refused.
TEST_F(SnapshotE2ETest, RestoreSnapshotToANewLocation) {
  CopyFixture(kFixtures, "delta-0.8.0-partitioned", Src("t"));
  WriteConfig("parts", "t");
  ProcessResult r = Run("parts");
  ASSERT_EQ(r.exit_code, 0) << Dump(r);
  const std::string id = Complete("parts").at(0).id;
  const std::string to = dir_.path() + "/restored";
  r = Lakesync({"restore", "--snapshot", "parts/" + id, "--to", "file://" + to, "-c", config_});
  ASSERT_EQ(r.exit_code, 0) << Dump(r);
  ProcessResult check =
      RunProcess({Python(), kChecker, "snapshot-check", Src("t"), to, "--version", "0"});
  EXPECT_EQ(check.exit_code, 0) << Dump(check);
  r = Lakesync({"restore", "--snapshot", "parts/" + id, "--to", "file://" + to, "-c", config_});
  EXPECT_EQ(r.exit_code, 1) << Dump(r);
  EXPECT_THAT(r.err, HasSubstr("not empty"));
  r = Lakesync({"restore", "--snapshot", "parts/nope", "--to", to + "2", "-c", config_});
  EXPECT_EQ(r.exit_code, 1) << Dump(r);
  EXPECT_THAT(r.err, HasSubstr(id));  // names the snapshots there are
}

// In place: one commit; the live files then equal those of the version restored (per the
// independent checker); a vacuumed file refuses the restore and changes nothing.
TEST_F(SnapshotE2ETest, RestoreInPlaceAndVacuumedRefusal) {
  CopyFixture(kFixtures, "simple_table", Src("t"));
  const std::string gone = "part-00000-a72b1fb3-f2df-41fe-a8f0-e65b746382dd-c000.snappy.parquet";
  fs::remove(Src("t") + "/" + gone);  // live at version 1 only ("vacuumed")
  ProcessResult r = Lakesync({"restore", Src("t"), "--to-version", "1"});
  EXPECT_EQ(r.exit_code, 1) << Dump(r);
  EXPECT_THAT(r.err, HasSubstr(gone));
  EXPECT_THAT(r.err, HasSubstr("nothing was changed"));
  EXPECT_FALSE(fs::exists(Src("t") + "/_delta_log/" + CommitName(5)));

  r = Lakesync({"restore", Src("t"), "--to-version", "2"});
  ASSERT_EQ(r.exit_code, 0) << Dump(r);
  EXPECT_THAT(r.out, HasSubstr("to version 2: version 5 removes"));
  static const char* kSame = R"PY(
import sys, json
sys.path.insert(0, sys.argv[1])
import delta_facts as d
def live(v):
    return sorted((f["path"], f["size"]) for f in d.table_facts(sys.argv[2], v)["at"]["live_files"])
print("same" if live(5) == live(2) else "differ: %s vs %s" % (live(5), live(2)))
)PY";
  ProcessResult same = RunProcess({Python(), "-c", kSame, kToolsDir, Src("t")});
  EXPECT_EQ(same.out, "same\n") << Dump(same);
}

// Fixtures missing data files on purpose: the run fails naming the file; nothing is listed.
TEST_F(SnapshotE2ETest, MissingDataFileFailsNamingIt) {
  CopyFixture(kFixtures, "with_checkpoint_no_last_checkpoint", Src("t"));
  WriteConfig("broken", "t");
  ProcessResult r = Run("broken");
  EXPECT_EQ(r.exit_code, 1) << Dump(r);
  EXPECT_THAT(r.err,
              HasSubstr("part-00000-70b1dcdf-0236-4f63-a072-124cdbafd8a0-c000.snappy.parquet"));
  EXPECT_TRUE(Snapshots("broken").empty());
  EXPECT_EQ(FilesUnder(Dst("broken")), std::vector<std::string>{});
  EXPECT_EQ(db_->Query("SELECT status FROM runs WHERE job = 'broken'"), "failed");
}

// mode: shallow copies nothing and points at the source's files.
TEST_F(SnapshotE2ETest, ShallowSnapshotReferencesTheSource) {
  CopyFixture(kFixtures, "table-with-dv-small", Src("t"));
  WriteConfig("shallow", "t", "    mode: shallow\n");
  ProcessResult r = Run("shallow");
  ASSERT_EQ(r.exit_code, 0) << Dump(r);
  const std::string id = Complete("shallow").at(0).id;
  EXPECT_EQ(FilesUnder(Dst("shallow") + "/" + id),
            std::vector<std::string>{"_delta_log/" + CommitName(0)});
  EXPECT_EQ(Check(Src("t"), "shallow", id, 1, /*shallow=*/true), "");
}

}  // namespace
}  // namespace lakesync::testing
