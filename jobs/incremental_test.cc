#include "jobs/incremental.h"

#include <gtest/gtest.h>

#include <sys/stat.h>

#include <cstdlib>
#include <map>

#include "common/failpoint.h"
#include "delta/actions.h"
#include "delta/commit_writer.h"
#include "delta/log_reader.h"
#include "jobs/jobs_test_util.h"
#include "storage/fault_storage.h"
#include "storage/memory_storage.h"

namespace lakesync::jobs {
namespace {

using namespace ::lakesync::jobs::testing;  // NOLINT(build/namespaces)
using storage::FaultInjectingStorage;
using storage::LocalStorage;

#define SKIP_WITHOUT_FIXTURES()                                                     \
  do {                                                                              \
    if (!fs::exists(FixturesDir())) {                                               \
      GTEST_SKIP() << "FIXTURES MISSING: " << FixturesDir()                         \
                   << " does not exist; the fixture replication tests did not run"; \
    }                                                                               \
  } while (0)

class IncrementalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(tmp_.path().empty());
    target_dir_ = tmp_.path() + "/target";
    target_storage_ = OpenLocal(target_dir_);
  }

  // Replicates the table at `src_dir` into target_dir_.
  IncrementalOutcome Run(const std::string& src_dir, IncrementalOptions options = {}) {
    auto source_storage = OpenLocal(src_dir);
    TableLocation source{"source", source_storage.get(), ""};
    TableLocation target{"target", target_storage_.get(), ""};
    auto outcome = RunIncremental(source, {target}, options, observer_);
    EXPECT_TRUE(outcome.ok()) << outcome.status();
    EXPECT_EQ(outcome->targets.size(), 1u);
    return std::move(outcome).value();
  }

  // A writable copy of a fixture.
  std::string CopyFixture(const std::string& name) {
    std::string dir = tmp_.path() + "/src-" + name;
    CopyTree(fs::path(FixturesDir()) / name, dir);
    return dir;
  }

  storage::testing::TempDir tmp_;
  std::string target_dir_;
  std::unique_ptr<LocalStorage> target_storage_;
  RecordingObserver observer_;
};

// Every fixture whose files are all present replicates completely; the two with missing live
// files fail naming one.
TEST_F(IncrementalTest, ReplicatesEveryFixture) {
  SKIP_WITHOUT_FIXTURES();
  int replicated = 0;
  for (auto& entry : fs::directory_iterator(FixturesDir())) {
    if (!fs::is_directory(entry.path() / "_delta_log")) continue;
    const std::string name = entry.path().filename().string();
    SCOPED_TRACE(name);
    storage::testing::TempDir dir;
    auto target = OpenLocal(dir.path());
    auto source = OpenLocal(entry.path().string());
    RecordingObserver observer;
    auto outcome = RunIncremental({"s", source.get(), ""}, {{"t", target.get(), ""}}, {}, observer);
    ASSERT_TRUE(outcome.ok()) << outcome.status();
    const TargetOutcome& t = outcome->targets[0];
    std::set<int64_t> source_versions = CommitVersions(entry.path());
    const int64_t head = *source_versions.rbegin();
    EXPECT_EQ(outcome->source_head, head);
    if (name == "checkpoints" || name == "with_checkpoint_no_last_checkpoint") {
      EXPECT_FALSE(t.status.ok());
      EXPECT_NE(t.status.message().find("missing from the source"), std::string::npos) << t.status;
      continue;
    }
    ASSERT_TRUE(t.status.ok()) << t.status;
    EXPECT_EQ(t.end_version, head);
    EXPECT_EQ(t.commits, static_cast<int64_t>(source_versions.size()));
    EXPECT_EQ(IndependentCheck(entry.path(), dir.path(), head), std::vector<std::string>{});
    // Commit files keep the source's modification times.
    for (int64_t v : source_versions) {
      auto rel = fs::path("_delta_log") / CommitName(v);
      EXPECT_EQ(fs::last_write_time(entry.path() / rel), fs::last_write_time(dir.path() / rel));
    }
    ++replicated;
  }
  EXPECT_GE(replicated, 10);
}

// The checker in tests/tools (a second implementation of R1–R3) agrees.
TEST_F(IncrementalTest, PythonCheckerAcceptsReplicas) {
  SKIP_WITHOUT_FIXTURES();
  const std::string tool = std::string(LAKESYNC_SOURCE_DIR) + "/tests/tools/delta_facts.py";
  if (std::system("python3 --version >/dev/null 2>&1") != 0 || !fs::exists(tool)) {
    GTEST_SKIP() << "python3 or delta_facts.py unavailable";
  }
  for (const char* name : {"simple_table", "table-with-dv-small", "cdf-table",
                           "simple_table_with_checkpoint", "delta-0.8.0-null-partition"}) {
    SCOPED_TRACE(name);
    storage::testing::TempDir dir;
    auto target = OpenLocal(dir.path());
    auto source = OpenLocal(FixturesDir() + "/" + name);
    RecordingObserver observer;
    auto outcome = RunIncremental({"s", source.get(), ""}, {{"t", target.get(), ""}}, {}, observer);
    ASSERT_TRUE(outcome.ok() && outcome->ok());
    std::string cmd = "python3 " + tool + " check " + FixturesDir() + "/" + name + " " +
                      dir.path() + " >" + dir.path() + "/../check.out 2>&1";
    EXPECT_EQ(std::system(cmd.c_str()), 0) << ReadFileBytes(dir.path() + "/../check.out");
  }
}

// table-with-dv-small by hand: version 0 adds part-00000-fae5… (635 bytes, numRecords 10);
// version 1 removes it and re-adds it with DV "vBn[lx{q8@P<9BNH/isA" (the file
// deletion_vector_61d16c75-6994-46b7-a15b-8b538852e50e.bin, 45 bytes = offset 1 + 4 + 36 + 4),
// numRecords 10 again. So: 2 commits, 2 files, 680 bytes, 20 rows.
TEST_F(IncrementalTest, DeletionVectorTableCounts) {
  SKIP_WITHOUT_FIXTURES();
  auto out = Run(FixturesDir() + "/table-with-dv-small");
  const auto& t = out.targets[0];
  ASSERT_TRUE(t.status.ok()) << t.status;
  EXPECT_EQ(t.start_version, -1);
  EXPECT_EQ(t.end_version, 1);
  EXPECT_EQ(t.commits, 2);
  EXPECT_EQ(t.files, 2);
  EXPECT_EQ(t.bytes, 680);
  EXPECT_EQ(t.rows, 20);
  EXPECT_EQ(
      ReadFileBytes(target_dir_ + "/deletion_vector_61d16c75-6994-46b7-a15b-8b538852e50e.bin"),
      ReadFileBytes(FixturesDir() + "/table-with-dv-small/"
                                    "deletion_vector_61d16c75-6994-46b7-a15b-8b538852e50e.bin"));
  ASSERT_EQ(observer_.planned.size(), 1u);
  EXPECT_EQ(observer_.planned[0].from, -1);
  EXPECT_EQ(observer_.planned[0].to, 1);
  EXPECT_EQ(observer_.planned[0].files, 2);
  ASSERT_EQ(observer_.published.size(), 2u);
  EXPECT_EQ(observer_.published[0].second, 0);
  EXPECT_EQ(observer_.published[1].second, 1);
}

// `checkpoints`: every add is live at version 12 and no data file exists, so version 1 (the
// first with an add) fails and only version 0 is published.
TEST_F(IncrementalTest, MissingLiveFileFailsAtItsVersion) {
  SKIP_WITHOUT_FIXTURES();
  auto out = Run(FixturesDir() + "/checkpoints");
  const auto& t = out.targets[0];
  EXPECT_EQ(t.status.code(), StatusCode::kNotFound);
  // The first add of version 1.
  EXPECT_NE(
      t.status.message().find(
          "date=2020-06-01/part-00000-b207ef5f-4458-4969-bd34-46439cdeb6a6.c000.snappy.parquet"),
      std::string::npos)
      << t.status;
  EXPECT_NE(t.status.message().find("version 1"), std::string::npos);
  EXPECT_EQ(t.end_version, 0);
  EXPECT_EQ(CommitVersions(target_dir_), (std::set<int64_t>{0}));
  EXPECT_FALSE(out.ok());
}

// with_checkpoint_no_last_checkpoint: versions 1 and 2 add files that versions 2 and 3 remove,
// version 3 adds part-00000-70b1dcdf… which is live at 3; all three are missing. 3 cannot be
// reached, and a replica ending at 1 or 2 would lack the file live there (R2), so only 0 is
// published.
TEST_F(IncrementalTest, HistoryFilesSkippedLiveFileFails) {
  SKIP_WITHOUT_FIXTURES();
  auto out = Run(FixturesDir() + "/with_checkpoint_no_last_checkpoint");
  const auto& t = out.targets[0];
  EXPECT_FALSE(t.status.ok());
  EXPECT_NE(t.status.message().find("part-00000-70b1dcdf-0236-4f63-a072-124cdbafd8a0"),
            std::string::npos)
      << t.status;
  EXPECT_NE(t.status.message().find("nothing past version 0 was published"), std::string::npos)
      << t.status;
  EXPECT_EQ(t.end_version, 0);
  EXPECT_EQ(t.commits, 1);
  EXPECT_EQ(CommitVersions(target_dir_), (std::set<int64_t>{0}));
  EXPECT_FALSE(fs::exists(target_dir_ + "/_delta_log/00000000000000000002.checkpoint.parquet"));
}

// Lines of hand-written tables: an add of a `size`-byte file, its remove, and version 0's
// protocol and metadata (no columns, unpartitioned).
std::string HandAdd(const std::string& path, int size) {
  return R"({"add":{"path":")" + path + R"(","partitionValues":{},"size":)" + std::to_string(size) +
         R"(,"modificationTime":1,"dataChange":true}})" + "\n";
}
std::string HandRemove(const std::string& path) {
  return R"({"remove":{"path":")" + path + R"(","deletionTimestamp":2,"dataChange":true}})" + "\n";
}
const std::string kHandHeader =
    std::string(R"({"protocol":{"minReaderVersion":1,"minWriterVersion":2}})") + "\n" +
    R"({"metaData":{"id":"t","format":{"provider":"parquet","options":{}},)"
    R"("schemaString":"{\"type\":\"struct\",\"fields\":[]}",)"
    R"("partitionColumns":[],"configuration":{}}})" +
    "\n";

// A hand-written table: f1 (added at 1, removed at 2) and f3 (added at 3, live at the end) are
// missing. 3 is unreachable; 1 has a missing live file; 2 does not (f1 was removed, f0 exists),
// so the run publishes 0..2 and stops, naming f3.
TEST_F(IncrementalTest, StopsAtTheNewestVersionWhoseLiveFilesExist) {
  const std::string src = tmp_.path() + "/handmade";
  WriteFileBytes(src + "/_delta_log/" + CommitName(0), kHandHeader + HandAdd("f0.parquet", 3));
  WriteFileBytes(src + "/f0.parquet", "abc");
  WriteFileBytes(src + "/_delta_log/" + CommitName(1), HandAdd("f1.parquet", 5));
  WriteFileBytes(src + "/_delta_log/" + CommitName(2), HandRemove("f1.parquet"));
  WriteFileBytes(src + "/_delta_log/" + CommitName(3), HandAdd("f3.parquet", 7));
  auto out = Run(src);
  const auto& t = out.targets[0];
  EXPECT_EQ(t.status.code(), StatusCode::kNotFound) << t.status;
  EXPECT_NE(t.status.message().find("f3.parquet (referenced by version 3)"), std::string::npos)
      << t.status;
  EXPECT_NE(t.status.message().find("nothing past version 2 was published"), std::string::npos)
      << t.status;
  EXPECT_EQ(t.end_version, 2);
  EXPECT_EQ(t.skipped_vacuumed, 1);  // f1: history by version 2
  EXPECT_EQ(CommitVersions(target_dir_), (std::set<int64_t>{0, 1, 2}));
  EXPECT_EQ(ReadFileBytes(target_dir_ + "/f0.parquet"), "abc");
}

// max_versions_per_run would end a run where a file the source removed later and vacuumed is
// still live: F is added at 1, removed at 6 and gone from the source; versions 2..5 and 7..9
// add files that exist. Cut at 2 (3 versions a run), every run would stop at 0 forever. The
// run goes on by 3 versions at a time until it can publish a version at or past its cut: at 8
// F is no longer live, so 0..8 are published; the next run, cut at 9, publishes 9.
TEST_F(IncrementalTest, MaxVersionsPerRunGoesOnPastAVacuumedFileInsteadOfStoppingForever) {
  const std::string src = tmp_.path() + "/vacuumed";
  WriteFileBytes(src + "/_delta_log/" + CommitName(0), kHandHeader);
  WriteFileBytes(src + "/_delta_log/" + CommitName(1), HandAdd("F.parquet", 5));
  for (int v = 2; v <= 9; ++v) {
    if (v == 6) {
      WriteFileBytes(src + "/_delta_log/" + CommitName(6), HandRemove("F.parquet"));
      continue;
    }
    const std::string g = "g" + std::to_string(v) + ".parquet";
    WriteFileBytes(src + "/" + g, "abc");
    WriteFileBytes(src + "/_delta_log/" + CommitName(v), HandAdd(g, 3));
  }
  IncrementalOptions three;
  three.max_versions_per_run = 3;
  auto first = Run(src, three);
  ASSERT_TRUE(first.targets[0].status.ok()) << first.targets[0].status;
  EXPECT_EQ(first.targets[0].end_version, 8);
  EXPECT_EQ(first.targets[0].skipped_vacuumed, 1);  // F: history by version 6
  auto second = Run(src, three);
  ASSERT_TRUE(second.targets[0].status.ok()) << second.targets[0].status;
  EXPECT_EQ(second.targets[0].end_version, 9);
  EXPECT_EQ(CommitVersions(target_dir_), (std::set<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  EXPECT_FALSE(fs::exists(target_dir_ + "/F.parquet"));

  // A file missing and live at the source's head still fails the run at the newest version
  // that can be published, however far the run went looking.
  WriteFileBytes(src + "/_delta_log/" + CommitName(10), HandAdd("H.parquet", 5));
  WriteFileBytes(src + "/_delta_log/" + CommitName(11), HandAdd("g11.parquet", 3));
  WriteFileBytes(src + "/g11.parquet", "abc");
  auto third = Run(src, three);
  EXPECT_EQ(third.targets[0].status.code(), StatusCode::kNotFound) << third.targets[0].status;
  EXPECT_EQ(third.targets[0].end_version, 9);
}

TEST_F(IncrementalTest, IdempotentRerunCopiesNothing) {
  SKIP_WITHOUT_FIXTURES();
  auto first = Run(FixturesDir() + "/simple_table");
  ASSERT_TRUE(first.ok());
  // 5 commits; 36 distinct add paths across them, all present (37 parquet files on disk,
  // one of which no commit references).
  EXPECT_EQ(first.targets[0].commits, 5);
  EXPECT_EQ(first.targets[0].files, 36);
  EXPECT_FALSE(fs::exists(target_dir_ +
                          "/part-00000-c1777d7d-89d9-4790-b38a-6ee7e24456b1-c001.snappy.parquet"));
  observer_.published.clear();
  auto second = Run(FixturesDir() + "/simple_table");
  const auto& t = second.targets[0];
  ASSERT_TRUE(t.status.ok()) << t.status;
  EXPECT_EQ(t.start_version, 4);
  EXPECT_EQ(t.end_version, 4);
  EXPECT_EQ(t.commits, 0);
  EXPECT_EQ(t.files, 0);
  EXPECT_EQ(t.bytes, 0);
  EXPECT_TRUE(observer_.published.empty());
}

TEST_F(IncrementalTest, ProgressiveSourceMatchesAfterEveryRun) {
  SKIP_WITHOUT_FIXTURES();
  for (const char* name : {"simple_table", "cdf-table", "simple_table_with_checkpoint"}) {
    SCOPED_TRACE(name);
    storage::testing::TempDir live_dir;
    storage::testing::TempDir tgt_dir;
    fs::path fixture = fs::path(FixturesDir()) / name;
    // Data files first (unreferenced until their commit appears), then commits one by one.
    for (auto& e : fs::recursive_directory_iterator(fixture)) {
      auto rel = fs::relative(e.path(), fixture);
      if (e.is_directory() || rel.begin()->string() == "_delta_log") continue;
      WriteFileBytes(fs::path(live_dir.path()) / rel, ReadFileBytes(e.path()));
    }
    auto source = OpenLocal(live_dir.path());
    auto target = OpenLocal(tgt_dir.path());
    int64_t total_commits = 0;
    for (int64_t v : CommitVersions(fixture)) {
      fs::path log = fixture / "_delta_log";
      std::string prefix = CommitName(v).substr(0, 20);
      WriteFileBytes(fs::path(live_dir.path()) / "_delta_log" / CommitName(v),
                     ReadFileBytes(log / CommitName(v)));
      // Then the version's .crc and checkpoint, as a writer would.
      for (auto& e : fs::directory_iterator(log)) {
        std::string n = e.path().filename().string();
        if (n.rfind(prefix, 0) == 0 && n != CommitName(v)) {
          WriteFileBytes(fs::path(live_dir.path()) / "_delta_log" / n, ReadFileBytes(e.path()));
          // `_last_checkpoint` follows its checkpoint.
          if (n.find(".checkpoint.") != std::string::npos && fs::exists(log / "_last_checkpoint")) {
            WriteFileBytes(fs::path(live_dir.path()) / "_delta_log/_last_checkpoint",
                           ReadFileBytes(log / "_last_checkpoint"));
          }
        }
      }
      RecordingObserver observer;
      auto out = RunIncremental({"s", source.get(), ""}, {{"t", target.get(), ""}}, {}, observer);
      ASSERT_TRUE(out.ok()) << out.status();
      ASSERT_TRUE(out->targets[0].status.ok()) << out->targets[0].status;
      EXPECT_EQ(out->targets[0].end_version, v);
      EXPECT_EQ(out->targets[0].commits, 1);
      total_commits += out->targets[0].commits;
      EXPECT_EQ(IndependentCheck(live_dir.path(), tgt_dir.path(), v), std::vector<std::string>{});
    }
    EXPECT_EQ(total_commits, static_cast<int64_t>(CommitVersions(fixture).size()));
    if (std::string(name) == "simple_table_with_checkpoint") {
      EXPECT_EQ(ReadFileBytes(fs::path(tgt_dir.path()) / "_delta_log/_last_checkpoint"),
                ReadFileBytes(fixture / "_delta_log/_last_checkpoint"));
      EXPECT_TRUE(fs::exists(fs::path(tgt_dir.path()) /
                             "_delta_log/00000000000000000010.checkpoint.parquet"));
    }
  }
}

TEST_F(IncrementalTest, DivergedTargetStops) {
  SKIP_WITHOUT_FIXTURES();
  IncrementalOptions options;
  options.to_version = 2;
  auto first = Run(FixturesDir() + "/simple_table", options);
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first.targets[0].end_version, 2);
  // Someone else rewrites the target's version 2.
  fs::path v2 = fs::path(target_dir_) / "_delta_log" / CommitName(2);
  fs::permissions(v2, fs::perms::owner_write, fs::perm_options::add);
  WriteFileBytes(v2, ReadFileBytes(v2) + "{\"commitInfo\":{}}\n");
  auto second = Run(FixturesDir() + "/simple_table");
  const auto& t = second.targets[0];
  EXPECT_EQ(t.status.code(), StatusCode::kCorruption);
  EXPECT_NE(t.status.message().find("target diverged at version 2"), std::string::npos) << t.status;
  EXPECT_EQ(t.commits, 0);
  EXPECT_EQ(CommitVersions(target_dir_), (std::set<int64_t>{0, 1, 2}));
}

// Vacuum removed a file only history references: it is skipped and counted, the run succeeds.
TEST_F(IncrementalTest, VacuumedHistoryFileIsSkipped) {
  SKIP_WITHOUT_FIXTURES();
  std::string src = CopyFixture("with_checkpoint_no_last_checkpoint");
  // Give the source its live file (version 3's add, 1010 bytes per the log); the two files
  // versions 1 and 2 added stay missing, as if vacuumed.
  WriteFileBytes(src + "/part-00000-70b1dcdf-0236-4f63-a072-124cdbafd8a0-c000.snappy.parquet",
                 std::string(1010, 'x'));
  auto out = Run(src);
  const auto& t = out.targets[0];
  ASSERT_TRUE(t.status.ok()) << t.status;
  EXPECT_EQ(t.end_version, 3);
  EXPECT_EQ(t.skipped_vacuumed, 2);
  EXPECT_EQ(t.files, 1);
  EXPECT_EQ(t.bytes, 1010);
}

TEST_F(IncrementalTest, SizeDisagreeingWithTheLogFails) {
  SKIP_WITHOUT_FIXTURES();
  std::string src = CopyFixture("with_checkpoint_no_last_checkpoint");
  WriteFileBytes(src + "/part-00000-70b1dcdf-0236-4f63-a072-124cdbafd8a0-c000.snappy.parquet",
                 std::string(1009, 'x'));  // the log says 1010
  auto out = Run(src);
  const auto& t = out.targets[0];
  EXPECT_EQ(t.status.code(), StatusCode::kCorruption);
  EXPECT_NE(t.status.message().find("1009 bytes"), std::string::npos) << t.status;
  // Versions 1 and 2 each have a (vacuumed) file live at them, so 0 is the newest valid end.
  EXPECT_EQ(t.end_version, 0);
  EXPECT_EQ(CommitVersions(target_dir_), (std::set<int64_t>{0}));
}

TEST_F(IncrementalTest, BoundsToVersionAndMaxVersionsPerRun) {
  SKIP_WITHOUT_FIXTURES();
  const std::string src = FixturesDir() + "/simple_table";  // versions 0..4
  IncrementalOptions bounded;
  bounded.to_version = 2;
  auto a = Run(src, bounded);
  EXPECT_EQ(a.end_version, 2);
  EXPECT_EQ(a.source_head, 4);
  EXPECT_EQ(a.targets[0].end_version, 2);
  EXPECT_EQ(a.targets[0].commits, 3);
  EXPECT_EQ(IndependentCheck(src, target_dir_, 2), std::vector<std::string>{});

  IncrementalOptions one;
  one.max_versions_per_run = 1;
  auto b = Run(src, one);
  EXPECT_EQ(b.targets[0].start_version, 2);
  EXPECT_EQ(b.targets[0].end_version, 3);
  EXPECT_EQ(b.targets[0].commits, 1);
  auto c = Run(src, one);
  EXPECT_EQ(c.targets[0].end_version, 4);
  auto d = Run(src, one);
  EXPECT_EQ(d.targets[0].commits, 0);
  EXPECT_EQ(d.targets[0].end_version, 4);
  EXPECT_EQ(IndependentCheck(src, target_dir_, 4), std::vector<std::string>{});
}

TEST_F(IncrementalTest, OneBrokenTargetDoesNotStopTheOthers) {
  SKIP_WITHOUT_FIXTURES();
  storage::testing::TempDir broken_dir;
  auto broken_base = OpenLocal(broken_dir.path());
  FaultInjectingStorage broken(*broken_base);
  broken.FailAll(FaultInjectingStorage::Op::kCopy, Status::IOError("disk on fire (test)"));
  auto source = OpenLocal(FixturesDir() + "/simple_table");
  auto out =
      RunIncremental({"s", source.get(), ""},
                     {{"broken", &broken, ""}, {"good", target_storage_.get(), ""}}, {}, observer_);
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->targets.size(), 2u);
  EXPECT_EQ(out->targets[0].target, "broken");
  EXPECT_EQ(out->targets[0].status.code(), StatusCode::kIOError);
  EXPECT_NE(out->targets[0].status.message().find("disk on fire"), std::string::npos);
  EXPECT_EQ(out->targets[0].end_version, -1);
  EXPECT_TRUE(CommitVersions(broken_dir.path()).empty());
  EXPECT_TRUE(out->targets[1].status.ok()) << out->targets[1].status;
  EXPECT_EQ(out->targets[1].end_version, 4);
  EXPECT_FALSE(out->ok());
}

// A copy fails mid-batch; the rerun copies only what the first run did not.
TEST_F(IncrementalTest, ResumeAfterFailureRecopiesNothing) {
  SKIP_WITHOUT_FIXTURES();
  FaultInjectingStorage faulty(*target_storage_);
  faulty.FailNth(FaultInjectingStorage::Op::kCopy, 10, Status::IOError("flaky (test)"));
  auto source = OpenLocal(FixturesDir() + "/simple_table");
  IncrementalOptions options;
  options.copy_parallelism = 3;
  auto first = RunIncremental({"s", source.get(), ""}, {{"t", &faulty, ""}}, options, observer_);
  ASSERT_TRUE(first.ok());
  const auto& t1 = first->targets[0];
  EXPECT_EQ(t1.status.code(), StatusCode::kIOError);
  EXPECT_LT(t1.end_version, 4);
  EXPECT_GE(t1.files, 9);  // the 9 copies before the failing 10th succeeded at least
  // What is published is consistent: every file of every published commit is there.
  EXPECT_EQ(IndependentCheck(FixturesDir() + "/simple_table", target_dir_, t1.end_version),
            std::vector<std::string>{});

  faulty.Clear();
  const int copies_before = faulty.Calls(FaultInjectingStorage::Op::kCopy);
  auto second = RunIncremental({"s", source.get(), ""}, {{"t", &faulty, ""}}, options, observer_);
  ASSERT_TRUE(second.ok());
  const auto& t2 = second->targets[0];
  ASSERT_TRUE(t2.status.ok()) << t2.status;
  EXPECT_EQ(t2.end_version, 4);
  // 36 files in all (see IdempotentRerunCopiesNothing); none copied twice.
  EXPECT_EQ(t1.files + t2.files, 36);
  EXPECT_EQ(faulty.Calls(FaultInjectingStorage::Op::kCopy) - copies_before, t2.files);
  EXPECT_EQ(IndependentCheck(FixturesDir() + "/simple_table", target_dir_, 4),
            std::vector<std::string>{});
}

TEST_F(IncrementalTest, CancelStopsPublishing) {
  SKIP_WITHOUT_FIXTURES();
  observer_.cancel_after_checks = 3;
  auto out = Run(FixturesDir() + "/simple_table");
  const auto& t = out.targets[0];
  EXPECT_EQ(t.status.code(), StatusCode::kCancelled);
  // All 36 files are in the first batch (one batch holds up to 512 files), so the
  // cancellation comes before the first publish.
  EXPECT_EQ(t.end_version, -1);
  EXPECT_TRUE(CommitVersions(target_dir_).empty());
}

TEST_F(IncrementalTest, BeforePublishRefusalStopsBeforeThatVersion) {
  SKIP_WITHOUT_FIXTURES();
  observer_.refuse_publish_at = 2;
  auto out = Run(FixturesDir() + "/simple_table");
  const auto& t = out.targets[0];
  EXPECT_EQ(t.status.code(), StatusCode::kConflict);
  EXPECT_EQ(t.end_version, 1);
  EXPECT_EQ(CommitVersions(target_dir_), (std::set<int64_t>{0, 1}));
}

// --- Tables built in the test with delta/commit_writer ---

delta::Protocol MakeProtocol(int reader, int writer, std::vector<std::string> features = {}) {
  delta::Protocol p;
  p.min_reader_version = reader;
  p.min_writer_version = writer;
  if (reader == 3) p.reader_features = features;
  if (writer == 7) p.writer_features = features;
  return p;
}

delta::Metadata MakeMetadata() {
  delta::Metadata m;
  m.id = "5d3f7c2e-0000-4000-8000-000000000001";
  m.schema_string =
      R"({"type":"struct","fields":[{"name":"v","type":"long","nullable":true,"metadata":{}}]})";
  return m;
}

delta::Add MakeAdd(const std::string& path, int64_t size, int64_t rows) {
  delta::Add a;
  a.path = path;
  a.size = size;
  a.modification_time = 1700000000000;
  a.stats = "{\"numRecords\":" + std::to_string(rows) + "}";
  return a;
}

delta::Remove MakeRemove(const std::string& path) {
  delta::Remove r;
  r.path = path;
  r.deletion_timestamp = 1700000000000;
  return r;
}

TEST_F(IncrementalTest, AbsolutePathsRefusedUnlessAllowed) {
  std::string src = tmp_.path() + "/abs";
  auto source = OpenLocal(src);
  std::vector<delta::Action> v0 = {MakeProtocol(1, 2), MakeMetadata(),
                                   MakeAdd("s3://bucket/other/part-0.parquet", 10, 1)};
  ASSERT_TRUE(delta::WriteCommit(*source, "", 0, v0).ok());
  auto refused =
      RunIncremental({"s", source.get(), ""}, {{"t", target_storage_.get(), ""}}, {}, observer_);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(refused.status().message().find("s3://bucket/other/part-0.parquet"), std::string::npos)
      << refused.status();
  // What to do instead, and no option the configuration does not have (allow_absolute_paths
  // is the engine's, for tests, not a job key).
  EXPECT_NE(refused.status().message().find("DEEP CLONE"), std::string::npos);
  EXPECT_EQ(refused.status().message().find("allow_absolute_paths"), std::string::npos);
  EXPECT_TRUE(CommitVersions(target_dir_).empty());

  IncrementalOptions allow;
  allow.allow_absolute_paths = true;
  auto allowed =
      RunIncremental({"s", source.get(), ""}, {{"t", target_storage_.get(), ""}}, allow, observer_);
  ASSERT_TRUE(allowed.ok()) << allowed.status();
  EXPECT_TRUE(allowed->targets[0].status.ok()) << allowed->targets[0].status;
  EXPECT_EQ(allowed->targets[0].commits, 1);
  EXPECT_EQ(allowed->targets[0].files, 0);
}

TEST_F(IncrementalTest, CatalogManagedTableRefused) {
  std::string src = tmp_.path() + "/catalog";
  auto source = OpenLocal(src);
  std::vector<delta::Action> v0 = {MakeProtocol(3, 7, {"catalogManaged"}), MakeMetadata()};
  ASSERT_TRUE(delta::WriteCommit(*source, "", 0, v0).ok());
  auto out =
      RunIncremental({"s", source.get(), ""}, {{"t", target_storage_.get(), ""}}, {}, observer_);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(out.status().message().find("catalogManaged"), std::string::npos) << out.status();
  EXPECT_TRUE(CommitVersions(target_dir_).empty());
}

// A table whose commits 0 and 1 were removed by log cleanup, with a (fake) checkpoint at 2:
//   v0: add a (removed in v2)   v1: add b   v2: remove a, add c   v3: add d
// plus "orphan" on disk, referenced by nothing. The live files at 2 (b, c) are not known
// without reading the Parquet checkpoint, so every listed file no copied commit (2, 3)
// references is copied: b and orphan → 2 unattributed; c and d come with their commits.
TEST_F(IncrementalTest, LatestCheckpointFirstSync) {
  std::string src = tmp_.path() + "/cp";
  auto source = OpenLocal(src);
  std::vector<delta::Action> v0 = {MakeProtocol(1, 2), MakeMetadata(), MakeAdd("a", 1, 1)};
  std::vector<delta::Action> v1 = {MakeAdd("b", 2, 2)};
  std::vector<delta::Action> v2 = {MakeRemove("a"), MakeAdd("c", 3, 3)};
  std::vector<delta::Action> v3 = {MakeAdd("d", 4, 4)};
  ASSERT_TRUE(delta::WriteCommit(*source, "", 0, v0).ok());
  ASSERT_TRUE(delta::WriteCommit(*source, "", 1, v1).ok());
  ASSERT_TRUE(delta::WriteCommit(*source, "", 2, v2).ok());
  ASSERT_TRUE(delta::WriteCommit(*source, "", 3, v3).ok());
  WriteFileBytes(src + "/b", "bb");
  WriteFileBytes(src + "/c", "ccc");
  WriteFileBytes(src + "/d", "dddd");
  WriteFileBytes(src + "/orphan", "o");
  WriteFileBytes(src + "/_delta_log/00000000000000000002.checkpoint.parquet", "PAR1fakePAR1");
  const std::string hint = R"({"version":2,"size":3})";
  WriteFileBytes(src + "/_delta_log/_last_checkpoint", hint);
  fs::remove(src + "/_delta_log/" + CommitName(0));
  fs::remove(src + "/_delta_log/" + CommitName(1));

  // Earliest is impossible now.
  IncrementalOptions earliest;
  earliest.start = StartMode::kEarliest;
  auto refused = Run(src, earliest);
  EXPECT_EQ(refused.targets[0].status.code(), StatusCode::kNotFound);
  EXPECT_NE(refused.targets[0].status.message().find("latest_checkpoint"), std::string::npos);
  EXPECT_TRUE(CommitVersions(target_dir_).empty());

  auto out = Run(src);  // kAuto picks the checkpoint
  const auto& t = out.targets[0];
  ASSERT_TRUE(t.status.ok()) << t.status;
  EXPECT_EQ(t.end_version, 3);
  EXPECT_EQ(t.commits, 2);
  EXPECT_EQ(t.unattributed, 2);
  EXPECT_EQ(t.files, 4);  // b, orphan, c, d
  EXPECT_EQ(t.bytes, 2 + 1 + 3 + 4);
  EXPECT_EQ(t.rows, 3 + 4);  // the adds of versions 2 and 3
  EXPECT_EQ(CommitVersions(target_dir_), (std::set<int64_t>{2, 3}));
  EXPECT_EQ(ReadFileBytes(target_dir_ + "/_delta_log/00000000000000000002.checkpoint.parquet"),
            "PAR1fakePAR1");
  EXPECT_EQ(ReadFileBytes(target_dir_ + "/_delta_log/_last_checkpoint"), hint);
  EXPECT_EQ(ReadFileBytes(target_dir_ + "/b"), "bb");

  // The next run reads the tail only: a new commit, and the data directories are not listed
  // again (a new orphan is not copied).
  std::vector<delta::Action> v4 = {MakeAdd("e", 5, 5)};
  ASSERT_TRUE(delta::WriteCommit(*source, "", 4, v4).ok());
  WriteFileBytes(src + "/e", "eeeee");
  WriteFileBytes(src + "/orphan2", "o");
  auto next = Run(src);
  ASSERT_TRUE(next.targets[0].status.ok()) << next.targets[0].status;
  EXPECT_EQ(next.targets[0].files, 1);
  EXPECT_EQ(next.targets[0].unattributed, 0);
  EXPECT_FALSE(fs::exists(target_dir_ + "/orphan2"));
}

// A run killed after publishing its last commit but before giving it the source's
// modification time leaves the time of the copy, which timestamp time travel on the replica
// reads; the next run starts after that commit, so it repairs the head first (the old code
// never did: the replica's version 1 kept the wrong time for good).
TEST_F(IncrementalTest, TheHeadsModificationTimeIsRepairedByTheNextRun) {
  std::string src = tmp_.path() + "/mtime";
  auto source = OpenLocal(src);
  std::vector<delta::Action> v0 = {MakeProtocol(1, 2), MakeMetadata()};
  std::vector<delta::Action> v1 = {MakeAdd("a", 1, 1)};
  ASSERT_TRUE(delta::WriteCommit(*source, "", 0, v0).ok());
  ASSERT_TRUE(delta::WriteCommit(*source, "", 1, v1).ok());
  WriteFileBytes(src + "/a", "a");
  const auto then = fs::file_time_type::clock::now() - std::chrono::hours(24 * 30);
  fs::last_write_time(src + "/_delta_log/" + CommitName(1), then);
  auto first = Run(src);
  ASSERT_TRUE(first.targets[0].status.ok()) << first.targets[0].status;
  const std::string head = target_dir_ + "/_delta_log/" + CommitName(1);
  EXPECT_EQ(fs::last_write_time(head), then);

  fs::last_write_time(head, fs::file_time_type::clock::now());  // as a kill there leaves it
  auto next = Run(src);
  ASSERT_TRUE(next.targets[0].status.ok()) << next.targets[0].status;
  EXPECT_EQ(next.targets[0].commits, 0);
  EXPECT_EQ(fs::last_write_time(head), then);
}

// The source of the latest-checkpoint tests: commits 0 and 1 cleaned up, a (fake) checkpoint
// at 2, the table's files b, c, d (and a, removed at 2, gone):
//   v0: add a   v1: add b   v2: remove a, add c   v3: add d
void WriteCleanedUpTable(storage::Storage& source, const std::string& src) {
  std::vector<delta::Action> v0 = {MakeProtocol(1, 2), MakeMetadata(), MakeAdd("a", 1, 1)};
  std::vector<delta::Action> v1 = {MakeAdd("b", 2, 2)};
  std::vector<delta::Action> v2 = {MakeRemove("a"), MakeAdd("c", 3, 3)};
  std::vector<delta::Action> v3 = {MakeAdd("d", 4, 4)};
  for (int v = 0; v <= 3; ++v) {
    const auto& actions = v == 0 ? v0 : v == 1 ? v1 : v == 2 ? v2 : v3;
    ASSERT_TRUE(delta::WriteCommit(source, "", v, actions).ok());
  }
  WriteFileBytes(src + "/b", "bb");
  WriteFileBytes(src + "/c", "ccc");
  WriteFileBytes(src + "/d", "dddd");
  WriteFileBytes(src + "/_delta_log/00000000000000000002.checkpoint.parquet", "PAR1fakePAR1");
  WriteFileBytes(src + "/_delta_log/_last_checkpoint", R"({"version":2,"size":3})");
  fs::remove(src + "/_delta_log/" + CommitName(0));
  fs::remove(src + "/_delta_log/" + CommitName(1));
}

// `_last_checkpoint` only moves forward: a run that read the source before another one wrote a
// newer hint to the target (a `lakesync run` beside a daemon) leaves it (the old code put the
// older hint back, pointing readers at an older checkpoint).
TEST_F(IncrementalTest, LastCheckpointHintNeverGoesBack) {
  std::string src = tmp_.path() + "/hint";
  auto source = OpenLocal(src);
  WriteCleanedUpTable(*source, src);
  auto first = Run(src);
  ASSERT_TRUE(first.targets[0].status.ok()) << first.targets[0].status;
  const std::string hint = target_dir_ + "/_delta_log/_last_checkpoint";
  EXPECT_EQ(ReadFileBytes(hint), R"({"version":2,"size":3})");
  const std::string newer = R"({"version":9,"size":1})";  // as a later run left it
  WriteFileBytes(hint, newer);
  std::vector<delta::Action> v4 = {MakeAdd("e", 5, 5)};
  ASSERT_TRUE(delta::WriteCommit(*source, "", 4, v4).ok());
  WriteFileBytes(src + "/e", "eeeee");
  auto next = Run(src);
  ASSERT_TRUE(next.targets[0].status.ok()) << next.targets[0].status;
  EXPECT_EQ(next.targets[0].end_version, 4);
  EXPECT_EQ(ReadFileBytes(hint), newer);
}

// A first sync from a checkpoint lists the table to find the files live there. A writer at
// work leaves files that change or vanish between that listing and their copy (a data file
// still being written, an aborted task's output): newer than the checkpoint, they cannot be
// live at it, so they are skipped and counted instead of failing the run as a "damaged
// source" (the old code: Corruption, every run, on any busy table). An older file that
// vanishes may be live at the checkpoint: still an error. Paths no table file lives under
// (hidden files, _temporary, _SUCCESS) are not copied; _change_data and '_x=' partitions are.
TEST_F(IncrementalTest, LatestCheckpointFirstSyncSkipsWhatAWriterIsStillWriting) {
  std::string src = tmp_.path() + "/busy";
  auto source = OpenLocal(src);
  WriteCleanedUpTable(*source, src);
  const auto checkpoint_time =
      fs::last_write_time(src + "/_delta_log/00000000000000000002.checkpoint.parquet");
  auto write = [&](const std::string& rel, const std::string& bytes, int seconds_after_cp) {
    WriteFileBytes(src + "/" + rel, bytes);
    fs::last_write_time(src + "/" + rel, checkpoint_time + std::chrono::seconds(seconds_after_cp));
  };
  write("part-inflight", "half", 10);
  write("part-aborted", "x", 10);
  write("part-old", "old", -100);
  for (const std::string rel : {"_temporary/0/_temporary/part-t", ".part-old.crc", "_SUCCESS",
                                "p=1/.hidden", "_spark_metadata/0"}) {
    fs::create_directories(fs::path(src + "/" + rel).parent_path());
    write(rel, "junk", 10);
  }
  fs::create_directories(src + "/_change_data");
  fs::create_directories(src + "/_p=1");
  write("_change_data/cdc-0", "cdc", -100);
  write("_p=1/part-u", "u", -100);

  observer_.on_planned = [&] {
    WriteFileBytes(src + "/part-inflight", "half and the rest");
    fs::remove(src + "/part-aborted");
  };
  auto out = Run(src);
  const auto& t = out.targets[0];
  ASSERT_TRUE(t.status.ok()) << t.status;
  EXPECT_EQ(t.end_version, 3);
  EXPECT_EQ(t.skipped_in_flight, 2);
  EXPECT_EQ(t.files, 6);  // b, c, d, part-old, _change_data/cdc-0, _p=1/part-u
  for (const std::string rel : {"b", "c", "d", "part-old", "_change_data/cdc-0", "_p=1/part-u"}) {
    EXPECT_TRUE(fs::exists(target_dir_ + "/" + rel)) << rel;
  }
  for (const std::string rel : {"part-inflight", "part-aborted", "_temporary", ".part-old.crc",
                                "_SUCCESS", "p=1/.hidden", "_spark_metadata"}) {
    EXPECT_FALSE(fs::exists(target_dir_ + "/" + rel)) << rel;
  }

  // An older file (perhaps live at the checkpoint) vanishing is reported, nothing published.
  fs::remove_all(target_dir_);
  target_storage_ = OpenLocal(target_dir_);
  observer_.on_planned = [&] { fs::remove(src + "/part-old"); };
  auto lost = Run(src);
  EXPECT_EQ(lost.targets[0].status.code(), StatusCode::kNotFound) << lost.targets[0].status;
  EXPECT_NE(lost.targets[0].status.message().find(
                "part-old (found by listing the source file://" + src +
                ", older than checkpoint 2) disappeared from the source while being copied: "
                "VACUUM (or another cleaner) removed it"),
            std::string::npos)
      << lost.targets[0].status;
  EXPECT_TRUE(CommitVersions(target_dir_).empty());
  // The rerun lists the table again: part-old is no longer there, and the sync completes.
  observer_.on_planned = nullptr;
  auto again = Run(src);
  ASSERT_TRUE(again.targets[0].status.ok()) << again.targets[0].status;
  EXPECT_EQ(again.targets[0].end_version, 3);
  fs::remove_all(target_dir_);
  target_storage_ = OpenLocal(target_dir_);

  // Newer than the checkpoint but not recent (a replica's copies carry the time of the copy,
  // its commits the original's): not a file in progress, so reported too.
  const auto hours_ago = [](int h) {
    return fs::file_time_type::clock::now() - std::chrono::hours(h);
  };
  fs::last_write_time(src + "/_delta_log/" + CommitName(2), hours_ago(3));
  fs::last_write_time(src + "/_delta_log/00000000000000000002.checkpoint.parquet", hours_ago(3));
  WriteFileBytes(src + "/part-old", "old");
  fs::last_write_time(src + "/part-old", hours_ago(2));
  fs::remove_all(target_dir_);
  target_storage_ = OpenLocal(target_dir_);
  observer_.on_planned = [&] { fs::remove(src + "/part-old"); };
  auto chained = Run(src);
  EXPECT_EQ(chained.targets[0].status.code(), StatusCode::kNotFound) << chained.targets[0].status;
  EXPECT_NE(chained.targets[0].status.message().find("part-old"), std::string::npos);
}

// A first sync killed between publishing the checkpoint and its commit leaves a target whose
// head is the checkpoint alone; the next run publishes the commit under it (the old code went
// on after it: the replica never got version 2's commit, and time travel by timestamp or change
// data at 2 differed from the source's).
TEST_F(IncrementalTest, ACheckpointLeftWithoutItsCommitGetsIt) {
  std::string src = tmp_.path() + "/cpalone";
  auto source = OpenLocal(src);
  WriteCleanedUpTable(*source, src);
  auto first = Run(src);
  ASSERT_TRUE(first.targets[0].status.ok()) << first.targets[0].status;
  for (int v : {2, 3}) fs::remove(target_dir_ + "/_delta_log/" + CommitName(v));
  fs::remove(target_dir_ + "/_delta_log/_last_checkpoint");
  auto next = Run(src);
  ASSERT_TRUE(next.targets[0].status.ok()) << next.targets[0].status;
  EXPECT_EQ(next.targets[0].end_version, 3);
  EXPECT_EQ(next.targets[0].commits, 2);
  for (int v : {2, 3}) {
    const std::string name = "/_delta_log/" + CommitName(v);
    ASSERT_TRUE(fs::exists(target_dir_ + name)) << v;
    EXPECT_EQ(ReadFileBytes(target_dir_ + name), ReadFileBytes(src + name)) << v;
    EXPECT_EQ(fs::last_write_time(target_dir_ + name), fs::last_write_time(src + name)) << v;
  }
}

// A first sync from a checkpoint whose commit the pre-flight holds back (a file it adds is
// missing from the source, live at the end): neither the commit nor the checkpoint is
// published (before, the checkpoint was, and the target then started from a version naming a
// file it lacks — for good, as the next run went on after it).
TEST_F(IncrementalTest, ACheckpointWhoseCommitCannotBePublishedIsNotPublishedEither) {
  std::string src = tmp_.path() + "/heldback";
  auto source = OpenLocal(src);
  WriteCleanedUpTable(*source, src);
  fs::remove(src + "/c");  // added by version 2, live at 3
  auto out = Run(src);
  EXPECT_EQ(out.targets[0].status.code(), StatusCode::kNotFound) << out.targets[0].status;
  EXPECT_NE(out.targets[0].status.message().find("nothing was published"), std::string::npos)
      << out.targets[0].status;
  EXPECT_TRUE(CommitVersions(target_dir_).empty());
  EXPECT_FALSE(fs::exists(target_dir_ + "/_delta_log/00000000000000000002.checkpoint.parquet"));
}

// A first sync from a checkpoint cannot read the protocol at its start (it is in the Parquet
// checkpoint): it reads the newest version checksum file instead, and without one refuses a
// table whose commits a catalog keeps. The old code checked only protocol actions in the
// copied commits, so it replicated a catalogManaged table (missing the catalog's commits).
TEST_F(IncrementalTest, LatestCheckpointFirstSyncChecksTheProtocolItCannotSee) {
  std::string src = tmp_.path() + "/proto";
  auto source = OpenLocal(src);
  WriteCleanedUpTable(*source, src);
  const std::string crc = src + "/_delta_log/00000000000000000002.crc";
  WriteFileBytes(crc,
                 R"({"tableSizeBytes":9,"numFiles":2,"numMetadata":1,"numProtocol":1,)"
                 R"("protocol":{"minReaderVersion":3,"minWriterVersion":7,)"
                 R"("readerFeatures":["catalogManaged"],"writerFeatures":["catalogManaged"]}})");
  auto refused = Run(src);
  EXPECT_EQ(refused.targets[0].status.code(), StatusCode::kUnsupported)
      << refused.targets[0].status;
  EXPECT_NE(refused.targets[0].status.message().find("catalogManaged"), std::string::npos)
      << refused.targets[0].status;
  EXPECT_TRUE(CommitVersions(target_dir_).empty());
  EXPECT_FALSE(fs::exists(target_dir_ + "/b"));

  // No checksum, but the catalog's staged commits: refused too.
  fs::remove(crc);
  fs::create_directories(src + "/_delta_log/_staged_commits");
  WriteFileBytes(src + "/_delta_log/_staged_commits/00000000000000000004.1f2e.json", "{}");
  auto staged = Run(src);
  EXPECT_EQ(staged.targets[0].status.code(), StatusCode::kUnsupported) << staged.targets[0].status;
  EXPECT_NE(staged.targets[0].status.message().find("_staged_commits"), std::string::npos);
  EXPECT_TRUE(CommitVersions(target_dir_).empty());

  // A readable protocol in the checksum: replicated.
  fs::remove_all(src + "/_delta_log/_staged_commits");
  WriteFileBytes(crc, R"({"protocol":{"minReaderVersion":1,"minWriterVersion":2},"numFiles":2})");
  auto ok = Run(src);
  ASSERT_TRUE(ok.targets[0].status.ok()) << ok.targets[0].status;
  EXPECT_EQ(ok.targets[0].end_version, 3);
}

// A file live at the checkpoint that a later commit names again (a deletion-vector update
// removes and re-adds its path) must be on the target before the checkpoint is. With commits
// 0-2 cleaned up, the checkpoint at 2 is published right after the seed copies, before the
// batch of commit 3:
//   v0: add a   v1: add b   v2: add c   (checkpoint at 2)   v3: remove b, add b, add d
// Cancelled at every point of the run, the target never holds the checkpoint without a, b
// and c (the files live at 2).
TEST_F(IncrementalTest, LatestCheckpointSeedIncludesFilesALaterCommitNamesAgain) {
  std::string src = tmp_.path() + "/readd";
  auto source = OpenLocal(src);
  std::vector<delta::Action> v0 = {MakeProtocol(1, 2), MakeMetadata(), MakeAdd("a", 1, 1)};
  std::vector<delta::Action> v1 = {MakeAdd("b", 2, 2)};
  std::vector<delta::Action> v2 = {MakeAdd("c", 3, 3)};
  std::vector<delta::Action> v3 = {MakeRemove("b"), MakeAdd("b", 2, 1), MakeAdd("d", 4, 4)};
  for (int v = 0; v <= 3; ++v) {
    const auto& actions = v == 0 ? v0 : v == 1 ? v1 : v == 2 ? v2 : v3;
    ASSERT_TRUE(delta::WriteCommit(*source, "", v, actions).ok());
  }
  for (const auto& [name, bytes] : std::vector<std::pair<std::string, std::string>>{
           {"a", "a"}, {"b", "bb"}, {"c", "ccc"}, {"d", "dddd"}}) {
    WriteFileBytes(src + "/" + name, bytes);
  }
  WriteFileBytes(src + "/_delta_log/00000000000000000002.checkpoint.parquet", "PAR1fakePAR1");
  WriteFileBytes(src + "/_delta_log/_last_checkpoint", R"({"version":2,"size":3})");
  for (int v = 0; v <= 2; ++v) fs::remove(src + "/_delta_log/" + CommitName(v));

  const std::string checkpoint =
      target_dir_ + "/_delta_log/00000000000000000002.checkpoint.parquet";
  bool saw_checkpoint_before_commit_3 = false;
  for (int k = 0; k <= 8; ++k) {
    SCOPED_TRACE("cancelled after " + std::to_string(k) + " checks");
    fs::remove_all(target_dir_);
    target_storage_ = OpenLocal(target_dir_);
    observer_.continue_calls = 0;
    observer_.cancel_after_checks = k;
    auto out = Run(src);
    if (!fs::exists(checkpoint)) continue;
    if (!fs::exists(target_dir_ + "/_delta_log/" + CommitName(3))) {
      saw_checkpoint_before_commit_3 = true;
    }
    EXPECT_EQ(ReadFileBytes(target_dir_ + "/a"), "a");
    EXPECT_EQ(ReadFileBytes(target_dir_ + "/b"), "bb");
    EXPECT_EQ(ReadFileBytes(target_dir_ + "/c"), "ccc");
  }
  EXPECT_TRUE(saw_checkpoint_before_commit_3);  // the cancellations did reach that window

  // Uncancelled: everything, and only the files no copied commit names are unattributed.
  fs::remove_all(target_dir_);
  target_storage_ = OpenLocal(target_dir_);
  observer_.cancel_after_checks = -1;
  auto out = Run(src);
  ASSERT_TRUE(out.targets[0].status.ok()) << out.targets[0].status;
  EXPECT_EQ(out.targets[0].end_version, 3);
  EXPECT_EQ(out.targets[0].unattributed, 2);  // a and c
  EXPECT_EQ(out.targets[0].files, 4);
  EXPECT_EQ(ReadFileBytes(target_dir_ + "/d"), "dddd");
}

// Targets in a MemoryStorage work as well as local ones (nothing assumes a filesystem).
TEST_F(IncrementalTest, MemoryStorageSourceAndTarget) {
  ManualClock clock(FromUnixMillis(1700000000000));
  storage::MemoryStorage source(clock, "memory://src");
  storage::MemoryStorage target(clock, "memory://tgt");
  std::vector<delta::Action> v0 = {MakeProtocol(1, 2), MakeMetadata(), MakeAdd("x/a", 3, 7)};
  ASSERT_TRUE(delta::WriteCommit(source, "t", 0, v0).ok());
  ASSERT_TRUE(source.WriteAtomic("t/x/a", "aaa").ok());
  auto out = RunIncremental({"s", &source, "t"}, {{"m", &target, "replica/t"}}, {}, observer_);
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_TRUE(out->targets[0].status.ok()) << out->targets[0].status;
  EXPECT_EQ(out->targets[0].rows, 7);
  auto copied = target.Read("replica/t/x/a");
  ASSERT_TRUE(copied.ok());
  EXPECT_EQ(*copied, "aaa");
}

// --- Enormous commits: limits and streaming ---

// A hand-written table in memory: version 0 (protocol, metadata, one add) and version 1 with
// `adds` adds of one-byte files, all in `source`.
class IncrementalBigCommitTest : public ::testing::Test {
 protected:
  static std::string Add(int i, const std::string& dv = "") {
    return R"({"add":{"path":"d/f)" + std::to_string(i) +
           R"(.parquet","partitionValues":{},"size":1,"modificationTime":1,"dataChange":true)" +
           dv + "}}\n";
  }
  void WriteVersion0() {
    std::string v0 = std::string(R"({"protocol":{"minReaderVersion":1,"minWriterVersion":2}})") +
                     "\n" +
                     R"({"metaData":{"id":"t","format":{"provider":"parquet","options":{}},)"
                     R"("schemaString":"{\"type\":\"struct\",\"fields\":[]}",)"
                     R"("partitionColumns":[],"configuration":{}}})" +
                     "\n" + Add(0);
    ASSERT_TRUE(source_.WriteAtomic("t/_delta_log/" + CommitName(0), v0).ok());
    ASSERT_TRUE(source_.WriteAtomic("t/d/f0.parquet", "x").ok());
  }
  // Version 1: adds 1..n (blank lines between some, which are not actions).
  std::string WriteVersion1(int n) {
    std::string v1;
    for (int i = 1; i <= n; ++i) {
      v1 += Add(i);
      if (i % 1000 == 0) v1 += "\n";
      EXPECT_TRUE(source_.WriteAtomic("t/d/f" + std::to_string(i) + ".parquet", "x").ok());
    }
    EXPECT_TRUE(source_.WriteAtomic("t/_delta_log/" + CommitName(1), v1).ok());
    return v1;
  }
  Result<IncrementalOutcome> Run(const delta::CommitLimits& limits) {
    IncrementalOptions options;
    options.commit_limits = limits;
    return RunIncremental({"s", &source_, "t"}, {{"r", &target_, "r"}}, options, observer_);
  }
  std::set<std::string> TargetLog() {
    std::set<std::string> names;
    storage::ListOptions opts;
    opts.prefix = "r/_delta_log/";
    auto listed = target_.List(opts);
    EXPECT_TRUE(listed.ok());
    for (const auto& f : *listed) names.insert(f.path.substr(opts.prefix.size()));
    return names;
  }
  size_t TargetDataFiles() {
    storage::ListOptions opts;
    opts.prefix = "r/d/";
    opts.recursive = true;
    auto listed = target_.List(opts);
    return listed.ok() ? listed->size() : 0;
  }

  ManualClock clock_{FromUnixMillis(1700000000000)};
  storage::MemoryStorage source_{clock_, "memory://src"};
  storage::MemoryStorage target_{clock_, "memory://tgt"};
  RecordingObserver observer_;
};

TEST_F(IncrementalBigCommitTest, CommitOverTheActionLimitFailsNamingItAndPublishesNothingOfIt) {
  WriteVersion0();
  auto first = Run({});
  ASSERT_TRUE(first.ok() && first->ok());
  ASSERT_EQ(TargetLog(), (std::set<std::string>{CommitName(0)}));
  WriteVersion1(9000);  // 9000 actions (and 9 blank lines)

  delta::CommitLimits limits;
  limits.max_actions = 8999;
  auto over = Run(limits);
  ASSERT_TRUE(over.ok()) << over.status();
  const TargetOutcome& t = over->targets[0];
  EXPECT_EQ(t.status.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(t.status.message(),
            "commit 1 of source memory://src/t has 9000 actions, more than "
            "runner.max_commit_actions (8999); lakesync refuses commits this large to keep its "
            "memory bounded — raise runner.max_commit_actions in the configuration if this "
            "machine has the memory for it; nothing past version 0 was published");
  EXPECT_EQ(t.end_version, 0);
  EXPECT_EQ(t.commits, 0);
  EXPECT_EQ(TargetLog(), (std::set<std::string>{CommitName(0)}));
  EXPECT_EQ(TargetDataFiles(), 1u);  // f0 only: nothing of version 1 was copied

  limits.max_actions = 9000;  // exactly at the limit: allowed
  auto at = Run(limits);
  ASSERT_TRUE(at.ok()) << at.status();
  ASSERT_TRUE(at->ok()) << at->targets[0].status;
  EXPECT_EQ(at->targets[0].end_version, 1);
  EXPECT_EQ(at->targets[0].files, 9000);
  EXPECT_EQ(TargetDataFiles(), 9001u);
}

TEST_F(IncrementalBigCommitTest, CommitOverTheByteLimitIsNotEvenRead) {
  WriteVersion0();
  const std::string v1 = WriteVersion1(50);
  delta::CommitLimits limits;
  limits.max_bytes = static_cast<int64_t>(v1.size()) - 1;
  auto over = Run(limits);
  ASSERT_TRUE(over.ok()) << over.status();
  EXPECT_EQ(over->targets[0].status.message(),
            "commit 1 of source memory://src/t is " + std::to_string(v1.size()) +
                " bytes, more than runner.max_commit_bytes (" + std::to_string(v1.size() - 1) +
                "); lakesync refuses commits this large to keep its memory bounded — raise "
                "runner.max_commit_bytes in the configuration if this machine has the memory "
                "for it; nothing past version 0 was published");
  // The first sync publishes the versions before the refused one.
  EXPECT_EQ(TargetLog(), (std::set<std::string>{CommitName(0)}));
  EXPECT_EQ(TargetDataFiles(), 1u);
  limits.max_bytes = static_cast<int64_t>(v1.size());
  auto at = Run(limits);
  ASSERT_TRUE(at.ok() && at->ok()) << (at.ok() ? at->targets[0].status : at.status());
  EXPECT_EQ(at->targets[0].end_version, 1);
}

// A commit parsed in several chunks: 10,000 adds share one deletion-vector file; each needs a
// different length of it, the largest (the last add's) decides the size the file must have.
TEST_F(IncrementalBigCommitTest, ChunkedCommitMergesTheSharedDeletionVectorFile) {
  WriteVersion0();
  constexpr int kAdds = 10000;
  std::string v1;
  for (int i = 1; i <= kAdds; ++i) {
    v1 += Add(i, R"(,"deletionVector":{"storageType":"u","pathOrInlineDv":"vBn[lx{q8@P<9BNH/isA",)"
                 R"("offset":)" +
                     std::to_string(1 + 10 * i) + R"(,"sizeInBytes":2,"cardinality":1})");
    ASSERT_TRUE(source_.WriteAtomic("t/d/f" + std::to_string(i) + ".parquet", "x").ok());
  }
  ASSERT_TRUE(source_.WriteAtomic("t/_delta_log/" + CommitName(1), v1).ok());
  const std::string dv = "t/deletion_vector_61d16c75-6994-46b7-a15b-8b538852e50e.bin";
  const size_t needed = 1 + 10 * kAdds + 4 + 2 + 4;  // the last add's offset + 4 + size + 4

  ASSERT_TRUE(source_.WriteAtomic(dv, std::string(needed - 1, 'v')).ok());
  auto short_dv = Run({});
  ASSERT_TRUE(short_dv.ok()) << short_dv.status();
  EXPECT_EQ(short_dv->targets[0].status.code(), StatusCode::kCorruption);
  EXPECT_NE(short_dv->targets[0].status.message().find(
                "deletion-vector file deletion_vector_61d16c75-6994-46b7-a15b-8b538852e50e.bin "
                "in the source has " +
                std::to_string(needed - 1) + " bytes but version 1 of the log says at least " +
                std::to_string(needed) + " bytes"),
            std::string::npos)
      << short_dv->targets[0].status;
  EXPECT_EQ(short_dv->targets[0].end_version, 0);

  ASSERT_TRUE(source_.WriteAtomic(dv, std::string(needed, 'v')).ok());
  auto ok = Run({});
  ASSERT_TRUE(ok.ok() && ok->ok()) << (ok.ok() ? ok->targets[0].status : ok.status());
  EXPECT_EQ(ok->targets[0].end_version, 1);
  EXPECT_EQ(ok->targets[0].files, kAdds + 1);  // every data file once, the DV file once
}

// --- Failpoints inside the engine (handler instead of a real kill) ---

class IncrementalFailpointTest : public IncrementalTest {
 protected:
  void TearDown() override { failpoint_testing::Reset(); }
};

TEST_F(IncrementalFailpointTest, BeforePublishSeesFilesButNotTheCommit) {
  SKIP_WITHOUT_FIXTURES();
  const std::string src = FixturesDir() + "/table-with-dv-small";
  bool checked = false;
  ASSERT_TRUE(failpoint_testing::Enable("incremental.before_commit_publish@2").ok());
  failpoint_testing::SetHandler([&](std::string_view) {
    // The second publish is version 1: its DV file is already there, 1.json is not.
    checked = true;
    EXPECT_TRUE(fs::exists(target_dir_ + "/_delta_log/" + CommitName(0)));
    EXPECT_FALSE(fs::exists(target_dir_ + "/_delta_log/" + CommitName(1)));
    EXPECT_TRUE(
        fs::exists(target_dir_ + "/deletion_vector_61d16c75-6994-46b7-a15b-8b538852e50e.bin"));
  });
  auto out = Run(src);
  EXPECT_TRUE(checked);
  EXPECT_TRUE(out.ok());
}

// A first sync from a checkpoint whose commit the source still has: the checkpoint is on the
// target before that commit is published, so a run killed between the two leaves a table
// readers can load (the old code published 2.json first: a log with commit 2 and nothing
// before it, unreadable until the next run).
TEST_F(IncrementalFailpointTest, LatestCheckpointIsPublishedBeforeItsCommit) {
  std::string src = tmp_.path() + "/cpfirst";
  auto source = OpenLocal(src);
  WriteCleanedUpTable(*source, src);
  int hits = 0;
  ASSERT_TRUE(failpoint_testing::Enable("incremental.after_commit_publish").ok());
  failpoint_testing::SetHandler([&](std::string_view) {
    ++hits;  // the first publish: version 2
    EXPECT_TRUE(fs::exists(target_dir_ + "/_delta_log/" + CommitName(2)));
    EXPECT_TRUE(fs::exists(target_dir_ + "/_delta_log/00000000000000000002.checkpoint.parquet"));
  });
  auto out = Run(src);
  EXPECT_EQ(hits, 1);
  ASSERT_TRUE(out.targets[0].status.ok()) << out.targets[0].status;
  EXPECT_EQ(out.targets[0].end_version, 3);
  EXPECT_EQ(CommitVersions(target_dir_), (std::set<int64_t>{2, 3}));
}

TEST_F(IncrementalFailpointTest, AfterPublishAndStorageFailpointsAreReached) {
  SKIP_WITHOUT_FIXTURES();
  std::vector<std::string> fired;
  ASSERT_TRUE(
      failpoint_testing::Enable("incremental.after_commit_publish,copy.mid_file,commit.before_link")
          .ok());
  failpoint_testing::SetHandler([&](std::string_view name) {
    fired.emplace_back(name);
    if (name == "incremental.after_commit_publish") {
      EXPECT_TRUE(fs::exists(target_dir_ + "/_delta_log/" + CommitName(0)));
    }
    if (name == "commit.before_link") {
      // The commit is not visible yet: only its temp file exists.
      EXPECT_FALSE(fs::exists(target_dir_ + "/_delta_log/" + CommitName(0)));
    }
  });
  auto out = Run(FixturesDir() + "/table-with-dv-small");
  EXPECT_TRUE(out.ok());
  std::sort(fired.begin(), fired.end());
  EXPECT_EQ(fired, (std::vector<std::string>{"commit.before_link", "copy.mid_file",
                                             "incremental.after_commit_publish"}));
}

// Data files are copied without a flush each; one SyncAll per batch makes them durable, and it
// must come after the batch's copies and before its first publish. simple_table: 5 commits,
// 36 files, one batch (see CancelStopsPublishing).
TEST_F(IncrementalFailpointTest, SyncAllComesBetweenTheCopiesAndTheFirstPublish) {
  SKIP_WITHOUT_FIXTURES();
  FaultInjectingStorage target(*target_storage_);
  std::vector<std::pair<int, int>> at_publish;  // (copies, syncs) seen at each publish
  ASSERT_TRUE(failpoint_testing::Enable("incremental.before_commit_publish@1").ok());
  failpoint_testing::SetHandler([&](std::string_view) {
    at_publish.emplace_back(target.Calls(FaultInjectingStorage::Op::kCopy),
                            target.Calls(FaultInjectingStorage::Op::kSyncAll));
  });
  auto source = OpenLocal(FixturesDir() + "/simple_table");
  auto out = RunIncremental({"s", source.get(), ""}, {{"t", &target, ""}}, {}, observer_);
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_TRUE(out->targets[0].status.ok()) << out->targets[0].status;
  EXPECT_EQ(out->targets[0].end_version, 4);
  // The failpoint fires at its first hit only: the first publish, after all 36 copies and
  // exactly one SyncAll.
  EXPECT_EQ(at_publish, (std::vector<std::pair<int, int>>{{36, 1}}));
  EXPECT_EQ(target.Calls(FaultInjectingStorage::Op::kSyncAll), 1);
}

TEST_F(IncrementalTest, FailedSyncAllPublishesNothing) {
  SKIP_WITHOUT_FIXTURES();
  FaultInjectingStorage target(*target_storage_);
  target.FailAll(FaultInjectingStorage::Op::kSyncAll,
                 Status::IOError("fsync: Input/output error (test)"));
  auto source = OpenLocal(FixturesDir() + "/simple_table");
  auto first = RunIncremental({"s", source.get(), ""}, {{"t", &target, ""}}, {}, observer_);
  ASSERT_TRUE(first.ok()) << first.status();
  const auto& t1 = first->targets[0];
  EXPECT_EQ(t1.status.code(), StatusCode::kIOError);
  EXPECT_NE(t1.status.message().find("durable"), std::string::npos) << t1.status;
  EXPECT_EQ(t1.end_version, -1);
  EXPECT_EQ(t1.files, 36);  // copied, but not known to be durable
  EXPECT_TRUE(CommitVersions(target_dir_).empty());
  EXPECT_EQ(target.Calls(FaultInjectingStorage::Op::kPutIfAbsent), 0);

  // Once the disk recovers, a rerun in a new process (a fresh storage object, which owes
  // nothing) finds the files in place and publishes everything. The files it keeps were
  // never known to be durable: each is owed to its SyncAll.
  auto reopened = OpenLocal(target_dir_);
  FaultInjectingStorage again(*reopened);
  auto second = RunIncremental({"s", source.get(), ""}, {{"t", &again, ""}}, {}, observer_);
  ASSERT_TRUE(second.ok()) << second.status();
  ASSERT_TRUE(second->targets[0].status.ok()) << second->targets[0].status;
  EXPECT_EQ(second->targets[0].end_version, 4);
  EXPECT_EQ(second->targets[0].files, 0);
  EXPECT_EQ(again.Calls(FaultInjectingStorage::Op::kOweSync), 36);
  EXPECT_EQ(again.Calls(FaultInjectingStorage::Op::kSyncAll), 1);
  EXPECT_EQ(IndependentCheck(FixturesDir() + "/simple_table", target_dir_, 4),
            std::vector<std::string>{});
}

// A run with nothing to publish writes nothing and flushes nothing: the head's version checksum
// (.crc), already on the target, is not made durable again by every run (the old code: one
// fsync of the file and of _delta_log per run, on the hot path of a daemon polling a quiet
// table). simple_table_with_cdc: 3 commits, a .crc at its head (version 2).
TEST_F(IncrementalTest, ARunWithNothingToDoWritesAndFlushesNothing) {
  SKIP_WITHOUT_FIXTURES();
  const std::string src = FixturesDir() + "/simple_table_with_cdc";
  ASSERT_TRUE(fs::exists(src + "/_delta_log/00000000000000000002.crc"));
  ASSERT_EQ(Run(src).targets[0].end_version, 2);
  ASSERT_TRUE(fs::exists(target_dir_ + "/_delta_log/00000000000000000002.crc"));
  auto reopened = OpenLocal(target_dir_);  // a new process: it owes nothing
  FaultInjectingStorage target(*reopened);
  auto source = OpenLocal(src);
  auto out = RunIncremental({"s", source.get(), ""}, {{"t", &target, ""}}, {}, observer_);
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_TRUE(out->targets[0].status.ok()) << out->targets[0].status;
  EXPECT_EQ(out->targets[0].end_version, 2);
  EXPECT_EQ(out->targets[0].commits, 0);
  EXPECT_EQ(target.Calls(FaultInjectingStorage::Op::kSyncAll), 0);
  EXPECT_EQ(target.Calls(FaultInjectingStorage::Op::kOweSync), 0);
  EXPECT_EQ(target.Calls(FaultInjectingStorage::Op::kCopy), 0);
  EXPECT_EQ(target.Calls(FaultInjectingStorage::Op::kPutIfAbsent), 0);
  EXPECT_EQ(target.Calls(FaultInjectingStorage::Op::kWriteAtomic), 0);
  EXPECT_EQ(target.Calls(FaultInjectingStorage::Op::kSetModificationTime), 0);

  // A .crc a crash tore (here: truncated) is found by its size and copied again.
  fs::resize_file(target_dir_ + "/_delta_log/00000000000000000002.crc", 3);
  auto again = RunIncremental({"s", source.get(), ""}, {{"t", &target, ""}}, {}, observer_);
  ASSERT_TRUE(again.ok()) << again.status();
  ASSERT_TRUE(again->targets[0].status.ok()) << again->targets[0].status;
  EXPECT_EQ(ReadFileBytes(target_dir_ + "/_delta_log/00000000000000000002.crc"),
            ReadFileBytes(src + "/_delta_log/00000000000000000002.crc"));
}

// A `lakesync run` copies data files before it knows whether the job is its to run, so another
// writer may put a file in place between the engine's Stat (absent) and its copy. The file that
// is there, perhaps synced and published by that writer, must be kept, not replaced by a copy
// that is not yet on disk (the old code renamed over it: new inodes, 36 copies).
TEST_F(IncrementalTest, AFileAnotherWriterCopiesMeanwhileIsKeptNotReplaced) {
  SKIP_WITHOUT_FIXTURES();
  const std::string src = FixturesDir() + "/simple_table";
  FaultInjectingStorage target(*target_storage_);
  std::map<std::string, ino_t> inodes;
  for (const auto& e : fs::directory_iterator(src)) {
    if (e.path().extension() != ".parquet") continue;
    const std::string name = e.path().filename().string();
    fs::create_directories(target_dir_);
    fs::copy_file(e.path(), target_dir_ + "/" + name);
    struct stat st {};
    ASSERT_EQ(::stat((target_dir_ + "/" + name).c_str(), &st), 0);
    inodes[name] = st.st_ino;
    target.HideFromNextStat(name);
  }
  ASSERT_EQ(inodes.size(), 37u);
  auto source = OpenLocal(src);
  auto out = RunIncremental({"s", source.get(), ""}, {{"t", &target, ""}}, {}, observer_);
  ASSERT_TRUE(out.ok()) << out.status();
  const auto& t = out->targets[0];
  ASSERT_TRUE(t.status.ok()) << t.status;
  EXPECT_EQ(t.end_version, 4);
  EXPECT_EQ(t.files, 0) << "every file was found in place after the Stat, none copied";
  EXPECT_EQ(target.Calls(FaultInjectingStorage::Op::kOweSync), 36);
  for (const auto& [name, ino] : inodes) {
    struct stat st {};
    ASSERT_EQ(::stat((target_dir_ + "/" + name).c_str(), &st), 0) << name;
    EXPECT_EQ(st.st_ino, ino) << name << " was replaced";
  }
  EXPECT_EQ(IndependentCheck(src, target_dir_, 4), std::vector<std::string>{});
}

// The same race with a different file: the run stops with Conflict naming it, leaves the other
// writer's file alone, and publishes nothing that needs it.
TEST_F(IncrementalTest, ADifferentFileAppearingMeanwhileStopsTheRun) {
  SKIP_WITHOUT_FIXTURES();
  const std::string src = FixturesDir() + "/simple_table";
  // Added by version 0 (read from 00000000000000000000.json by hand).
  const std::string name = "part-00000-a72b1fb3-f2df-41fe-a8f0-e65b746382dd-c000.snappy.parquet";
  ASSERT_TRUE(fs::exists(src + "/" + name));
  fs::create_directories(target_dir_);
  WriteFileBytes(target_dir_ + "/" + name, "not the source's bytes");
  FaultInjectingStorage target(*target_storage_);
  target.HideFromNextStat(name);
  auto source = OpenLocal(src);
  auto out = RunIncremental({"s", source.get(), ""}, {{"t", &target, ""}}, {}, observer_);
  ASSERT_TRUE(out.ok()) << out.status();
  const auto& t = out->targets[0];
  EXPECT_EQ(t.status.code(), StatusCode::kConflict) << t.status;
  EXPECT_NE(t.status.message().find(name), std::string::npos) << t.status;
  EXPECT_NE(t.status.message().find("appeared on the target"), std::string::npos) << t.status;
  EXPECT_EQ(ReadFileBytes(target_dir_ + "/" + name), "not the source's bytes");
  EXPECT_TRUE(CommitVersions(target_dir_).empty());
}

}  // namespace
}  // namespace lakesync::jobs

namespace lakesync::jobs {
namespace {

// Manual timing (not run by default): a 2,000-commit table with 10 small files per commit,
// replicated once; then one more commit of 10 files. The incremental run reads only the log
// tail, so it should take a few milliseconds. Run with
//   jobs_test --gtest_also_run_disabled_tests --gtest_filter='*IncrementalTiming*'
TEST(IncrementalTiming, DISABLED_OneCommitOnALongTable) {
  storage::testing::TempDir tmp;
  const std::string src = tmp.path() + "/src";
  auto source = testing::OpenLocal(src);
  auto target = testing::OpenLocal(tmp.path() + "/tgt");
  auto write_commit = [&](int64_t v) {
    std::string bytes;
    if (v == 0) {
      bytes += R"({"protocol":{"minReaderVersion":1,"minWriterVersion":2}})"
               "\n";
      bytes +=
          R"({"metaData":{"id":"x","format":{"provider":"parquet","options":{}},"schemaString":"{}","partitionColumns":[],"configuration":{}}})"
          "\n";
    }
    for (int f = 0; f < 10; ++f) {
      std::string path = "d" + std::to_string(v % 100) + "/f" + std::to_string(v) + "_" +
                         std::to_string(f) + ".parquet";
      testing::WriteFileBytes(src + "/" + path, "abc");
      bytes += R"({"add":{"path":")" + path +
               R"(","partitionValues":{},"size":3,"modificationTime":1,"dataChange":true}})"
               "\n";
    }
    testing::WriteFileBytes(src + "/_delta_log/" + testing::CommitName(v), bytes);
  };
  for (int64_t v = 0; v < 2000; ++v) write_commit(v);
  RunObserver observer;
  auto first = RunIncremental({"s", source.get(), ""}, {{"t", target.get(), ""}}, {}, observer);
  ASSERT_TRUE(first.ok() && first->ok());
  write_commit(2000);
  auto start = std::chrono::steady_clock::now();
  auto second = RunIncremental({"s", source.get(), ""}, {{"t", target.get(), ""}}, {}, observer);
  auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start);
  ASSERT_TRUE(second.ok() && second->ok());
  EXPECT_EQ(second->targets[0].files, 10);
  std::printf("incremental run after one commit of 10 files: %.2f ms\n", ms.count());
  // Where the time goes: the target's head (a listing of its whole log when there is no
  // checkpoint hint), and a caught-up run (no copies, no fsyncs).
  start = std::chrono::steady_clock::now();
  delta::DeltaLog target_log(*target, "");
  ASSERT_TRUE(target_log.HeadVersion().ok());
  ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start);
  std::printf("target HeadVersion: %.2f ms\n", ms.count());
  start = std::chrono::steady_clock::now();
  auto third = RunIncremental({"s", source.get(), ""}, {{"t", target.get(), ""}}, {}, observer);
  ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start);
  ASSERT_TRUE(third.ok() && third->ok());
  std::printf("caught-up run: %.2f ms\n", ms.count());
}

}  // namespace
}  // namespace lakesync::jobs
