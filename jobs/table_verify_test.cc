// verify for snapshot and consolidation targets: a fresh snapshot / global table checks clean,
// and each kind of damage done by hand (a file deleted, resized, rewritten; a vacuumed
// source under a shallow snapshot; a region's source rolled back) is reported. Expected
// counts come from the fixture (simple_table: 5 live files, 1811 bytes at version 4, per
// tests/tools/delta_facts.py facts).

#include "jobs/table_verify.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "jobs/jobs_test_util.h"
#include "jobs/snapshot.h"

namespace lakesync::jobs {
namespace {

namespace fs = std::filesystem;
using storage::testing::TempDir;
using testing::CommitName;
using testing::CopyTree;
using testing::FixturesDir;
using ::testing::HasSubstr;
using testing::OpenLocal;
using testing::RecordingObserver;

#define SKIP_WITHOUT_FIXTURES()                                            \
  if (!fs::is_directory(FixturesDir()))                                    \
  GTEST_SKIP() << "SKIPPED: fixtures directory " << FixturesDir()          \
               << " is absent; these tests read the real Delta tables of " \
                  "../shared/fixtures"

// The data files directly in `dir` (readdir, independent of lakesync), sorted.
std::vector<std::string> ParquetFiles(const fs::path& dir) {
  std::vector<std::string> out;
  for (auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == ".parquet") out.push_back(e.path().filename().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string Joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

class TableVerifyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::is_directory(FixturesDir())) return;
    src_dir_ = fs::path(tmp_.path()) / "src";
    CopyTree(fs::path(FixturesDir()) / "simple_table", src_dir_);
    src_ = OpenLocal(src_dir_.string());
    dst_ = OpenLocal(tmp_.path() + "/dst");
  }
  TableLocation Source() { return {"src", src_.get(), ""}; }
  TableLocation Target() { return {"snaps", dst_.get(), ""}; }

  SnapshotOutcome Snap(SnapshotMode mode) {
    SnapshotOptions opts;
    opts.mode = mode;
    auto out = RunSnapshot(Source(), Target(), opts, observer_);
    EXPECT_TRUE(out.ok()) << out.status();
    EXPECT_TRUE(out->created.has_value());
    return *out;
  }
  SnapshotsVerifyReport Verify(bool checksum) {
    auto report = VerifySnapshots(Source(), Target(), checksum);
    EXPECT_TRUE(report.ok()) << report.status();
    return report.ok() ? *report : SnapshotsVerifyReport{};
  }

  TempDir tmp_;
  fs::path src_dir_;
  std::unique_ptr<storage::LocalStorage> src_, dst_;
  RecordingObserver observer_;
};

TEST_F(TableVerifyTest, DeepSnapshotChecksCleanThenReportsEachDamage) {
  SKIP_WITHOUT_FIXTURES();
  SnapshotOutcome snap = Snap(SnapshotMode::kDeep);
  const std::string id = snap.created->id;
  const fs::path dir = fs::path(tmp_.path()) / "dst" / id;

  SnapshotsVerifyReport clean = Verify(/*checksum=*/true);
  ASSERT_EQ(clean.snapshots.size(), 1u);
  EXPECT_EQ(clean.snapshots[0].target, id);
  EXPECT_EQ(clean.snapshots[0].target_version, 4);
  EXPECT_EQ(clean.snapshots[0].source_version, 4);
  EXPECT_EQ(clean.snapshots[0].commits_checked, 1);
  EXPECT_EQ(clean.snapshots[0].files_checked, 5);
  EXPECT_THAT(clean.snapshots[0].problems, ::testing::IsEmpty());
  EXPECT_THAT(clean.incomplete, ::testing::IsEmpty());

  std::vector<std::string> files = ParquetFiles(dir);
  ASSERT_EQ(files.size(), 5u);
  fs::remove(dir / files[0]);
  { std::ofstream(dir / files[1], std::ios::app) << "x"; }  // one byte longer
  const auto size = fs::file_size(dir / files[2]);
  { std::ofstream(dir / files[2], std::ios::trunc) << std::string(size, 'z'); }  // same size
  testing::WriteFileBytes(
      fs::path(tmp_.path()) / "dst" / "_snapshots" / "20990101T000000Z-v1.writing", "");

  SnapshotsVerifyReport sizes = Verify(/*checksum=*/false);
  ASSERT_EQ(sizes.snapshots.size(), 1u);
  const std::string text = Joined(sizes.snapshots[0].problems);
  EXPECT_EQ(sizes.snapshots[0].problems.size(), 2u) << text;
  EXPECT_THAT(text, HasSubstr("deep: data file " + files[0] + " is missing from file://" +
                              tmp_.path() + "/dst/" + id));
  EXPECT_THAT(
      text,
      HasSubstr("data file " + files[1] + " has " + std::to_string(fs::file_size(dir / files[1])) +
                " bytes but the log says " + std::to_string(fs::file_size(dir / files[1]) - 1)));
  EXPECT_THAT(sizes.incomplete, ::testing::ElementsAre("20990101T000000Z-v1 (writing)"));

  SnapshotsVerifyReport sums = Verify(/*checksum=*/true);
  ASSERT_EQ(sums.snapshots.size(), 1u);
  EXPECT_EQ(sums.snapshots[0].problems.size(), 3u) << Joined(sums.snapshots[0].problems);
  EXPECT_THAT(Joined(sums.snapshots[0].problems),
              HasSubstr("data file " + files[2] + " differs from the source's"));
}

// A source dropped and recreated under the same URL since the snapshot: verify says the
// version the snapshot names is another table now (before: "ok").
TEST_F(TableVerifyTest, ASourceRecreatedSinceTheSnapshotIsReported) {
  SKIP_WITHOUT_FIXTURES();
  Snap(SnapshotMode::kDeep);
  EXPECT_THAT(Verify(false).snapshots.at(0).problems, ::testing::IsEmpty());
  fs::remove_all(src_dir_);
  CopyTree(fs::path(FixturesDir()) / "simple_table_with_checkpoint", src_dir_);
  SnapshotsVerifyReport report = Verify(false);
  ASSERT_EQ(report.snapshots.size(), 1u);
  EXPECT_THAT(Joined(report.snapshots[0].problems),
              HasSubstr("the source at version 4 is another table"));
}

TEST_F(TableVerifyTest, ShallowSnapshotReportsFilesTheSourceNoLongerHas) {
  SKIP_WITHOUT_FIXTURES();
  Snap(SnapshotMode::kShallow);
  SnapshotsVerifyReport clean = Verify(/*checksum=*/false);
  ASSERT_EQ(clean.snapshots.size(), 1u);
  EXPECT_EQ(clean.snapshots[0].files_checked, 5);
  EXPECT_THAT(clean.snapshots[0].problems, ::testing::IsEmpty());

  std::vector<std::string> files = ParquetFiles(src_dir_);
  // History files (removed before version 4) may go without harm; find a live one by
  // deleting each in turn until verify complains, then check it was exactly one problem.
  std::string vacuumed;
  for (const auto& f : files) {
    fs::rename(src_dir_ / f, src_dir_ / (f + ".aside"));
    SnapshotsVerifyReport r = Verify(false);
    if (!r.snapshots.empty() && !r.snapshots[0].problems.empty()) {
      vacuumed = f;
      ASSERT_EQ(r.snapshots[0].problems.size(), 1u) << Joined(r.snapshots[0].problems);
      EXPECT_THAT(r.snapshots[0].problems[0], HasSubstr(f));
      EXPECT_THAT(r.snapshots[0].problems[0], HasSubstr("this shallow snapshot cannot be read"));
      break;
    }
    fs::rename(src_dir_ / (f + ".aside"), src_dir_ / f);
  }
  EXPECT_FALSE(vacuumed.empty()) << "no source file was needed by the shallow snapshot";
}

TEST_F(TableVerifyTest, ConsolidatedTableChecksCleanThenReportsDamage) {
  SKIP_WITHOUT_FIXTURES();
  fs::path east = fs::path(tmp_.path()) / "east", west = fs::path(tmp_.path()) / "west";
  CopyTree(fs::path(FixturesDir()) / "simple_table", east);
  CopyTree(fs::path(FixturesDir()) / "simple_table", west);
  auto east_s = OpenLocal(east.string()), west_s = OpenLocal(west.string());
  auto global_s = OpenLocal(tmp_.path() + "/global");
  std::vector<ConsolidationSource> sources(2);
  sources[0].region = "eastus";
  sources[0].table = {"east", east_s.get(), ""};
  sources[1].region = "westus";
  sources[1].table = {"west", west_s.get(), ""};
  TableLocation global{"global", global_s.get(), ""};
  ConsolidationOptions opts;
  opts.job = "g";
  auto run = RunConsolidation(sources, global, opts, observer_);
  ASSERT_TRUE(run.ok()) << run.status();

  auto clean = VerifyConsolidation(sources, global, "g");
  ASSERT_TRUE(clean.ok()) << clean.status();
  EXPECT_EQ(clean->global.target_version, 0);
  EXPECT_EQ(clean->global.files_checked, 10);
  EXPECT_THAT(clean->global.problems, ::testing::IsEmpty());
  ASSERT_EQ(clean->regions.size(), 2u);
  EXPECT_EQ(clean->regions[0].consolidated_version, 4);
  EXPECT_EQ(clean->regions[0].source_version, 4);

  const fs::path west_dir = fs::path(tmp_.path()) / "global" / "source_region=westus";
  std::vector<std::string> files = ParquetFiles(west_dir);
  ASSERT_EQ(files.size(), 5u);
  fs::remove(west_dir / files[3]);
  // The east source rolled back (restored from an older backup): its head is 3 now.
  fs::rename(east / "_delta_log" / CommitName(4), east / "held.json");

  auto damaged = VerifyConsolidation(sources, global, "g");
  ASSERT_TRUE(damaged.ok()) << damaged.status();
  const std::string text = Joined(damaged->global.problems);
  EXPECT_EQ(damaged->global.problems.size(), 2u) << text;
  EXPECT_THAT(text, HasSubstr("C2: data file source_region=westus/" + files[3] +
                              " is missing from file://" + tmp_.path() + "/global"));
  EXPECT_THAT(text, HasSubstr("region eastus: the global table's txn says source version 4 is "
                              "consolidated but the source's head is 3"));
}

TEST_F(TableVerifyTest, NoGlobalTableYetIsNotAProblem) {
  auto global_s = OpenLocal(tmp_.path() + "/global");
  TableLocation global{"global", global_s.get(), ""};
  auto report = VerifyConsolidation({}, global, "g");
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->global.target_version, -1);
  EXPECT_THAT(report->global.problems, ::testing::IsEmpty());
}

}  // namespace
}  // namespace lakesync::jobs
