#include <gtest/gtest.h>

#include "jobs/incremental.h"
#include "jobs/jobs_test_util.h"

namespace lakesync::jobs {
namespace {

using namespace ::lakesync::jobs::testing;  // NOLINT(build/namespaces)

class ReplicaCheckTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(FixturesDir())) {
      GTEST_SKIP() << "FIXTURES MISSING: " << FixturesDir() << " does not exist";
    }
    src_dir_ = tmp_.path() + "/src";
    tgt_dir_ = tmp_.path() + "/tgt";
    CopyTree(fs::path(FixturesDir()) / "simple_table", src_dir_);
    source_ = OpenLocal(src_dir_);
    target_ = OpenLocal(tgt_dir_);
  }

  void Replicate(std::optional<int64_t> to_version = std::nullopt) {
    IncrementalOptions options;
    options.to_version = to_version;
    RunObserver observer;
    auto out = RunIncremental(Source(), {Target()}, options, observer);
    ASSERT_TRUE(out.ok()) << out.status();
    ASSERT_TRUE(out->ok()) << out->targets[0].status;
  }

  TableLocation Source() { return {"src", source_.get(), ""}; }
  TableLocation Target() { return {"tgt", target_.get(), ""}; }

  storage::testing::TempDir tmp_;
  std::string src_dir_, tgt_dir_;
  std::unique_ptr<storage::LocalStorage> source_, target_;
};

// A commit's time is its file's modification time (Delta's rule; commitInfo.timestamp, 2020 in
// simple_table, does not count). Commit k is given T + k min: with the target at 2, the oldest
// unreplicated commit is 3, so 5 s after it the lag is 5 s.
TEST_F(ReplicaCheckTest, LagFromTheOldestUnreplicatedCommit) {
  const TimePoint t = FromUnixMillis(1'800'000'000'000);
  SetCommitTimes(src_dir_, t, std::chrono::seconds(60));
  const TimePoint now = t + std::chrono::seconds(3 * 60 + 5);
  auto empty = ComputeLag(Source(), Target(), now);
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_EQ(empty->replicated_version, -1);
  EXPECT_EQ(empty->source_version, 4);
  EXPECT_EQ(empty->versions, 5);
  EXPECT_DOUBLE_EQ(empty->seconds, 3 * 60 + 5.0);  // from commit 0

  Replicate(2);
  auto lag = ComputeLag(Source(), Target(), now);
  ASSERT_TRUE(lag.ok()) << lag.status();
  EXPECT_EQ(lag->source_version, 4);
  EXPECT_EQ(lag->replicated_version, 2);
  EXPECT_EQ(lag->versions, 2);
  EXPECT_DOUBLE_EQ(lag->seconds, 5.0);

  Replicate();
  auto caught_up = ComputeLag(Source(), Target(), now);
  ASSERT_TRUE(caught_up.ok());
  EXPECT_EQ(caught_up->versions, 0);
  EXPECT_EQ(caught_up->seconds, 0);
}

// A source dropped and recreated with fewer versions than the replica holds: the lag is an error
// naming both versions (before: "0 versions, 0 s", so lag alerts stayed quiet).
TEST_F(ReplicaCheckTest, LagOfATargetPastTheSourcesHeadIsAnError) {
  Replicate();  // the target at 4
  for (int64_t v = 2; v <= 4; ++v) fs::remove(fs::path(src_dir_) / "_delta_log" / CommitName(v));
  auto lag = ComputeLag(Source(), Target(), FromUnixMillis(1'800'000'000'000));
  ASSERT_FALSE(lag.ok());
  EXPECT_EQ(lag.status().code(), StatusCode::kConflict);
  EXPECT_NE(lag.status().message().find("the target is at version 4 but the source's newest "
                                        "version is 1"),
            std::string::npos)
      << lag.status();
}

// A replica behind its source, holding a file live at its version that the source removed
// later (version 2) and then vacuumed: a correct replica, no problem (before: "missing from the
// source itself").
TEST_F(ReplicaCheckTest, ALaggingReplicaOfAVacuumedFileIsNotAProblem) {
  Replicate(1);
  // simple_table: part-00004-95c9bc2c… is added in version 1 and removed in version 2.
  fs::remove(fs::path(src_dir_) /
             "part-00004-95c9bc2c-ac85-4581-b3cc-84502b0c314f-c000.snappy.parquet");
  auto report = VerifyReplica(Source(), Target(), /*checksum=*/true);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->target_version, 1);
  EXPECT_EQ(report->problems, std::vector<std::string>{});
  // The same file missing from the replica too is still reported.
  fs::remove(fs::path(tgt_dir_) /
             "part-00004-95c9bc2c-ac85-4581-b3cc-84502b0c314f-c000.snappy.parquet");
  auto damaged = VerifyReplica(Source(), Target(), /*checksum=*/false);
  ASSERT_TRUE(damaged.ok()) << damaged.status();
  EXPECT_EQ(damaged->problems.size(), 1u);
}

TEST_F(ReplicaCheckTest, CleanReplicaHasNoProblems) {
  Replicate();
  auto report = VerifyReplica(Source(), Target(), /*checksum=*/true);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->target_version, 4);
  EXPECT_EQ(report->source_version, 4);
  EXPECT_EQ(report->commits_checked, 5);
  EXPECT_EQ(report->files_checked, 36);  // distinct add paths of simple_table
  EXPECT_EQ(report->problems, std::vector<std::string>{});
}

TEST_F(ReplicaCheckTest, ReportsMissingLiveFileAlteredCommitAndMissingHistoryFile) {
  Replicate();
  // part-00000-2befed33… is added in version 4 and live; part-00000-a72b1fb3… is added in
  // version 0 and removed in version 2 (history only; grep of the fixture's log).
  const std::string live = "part-00000-2befed33-c358-4768-a43c-3eda0d2a499d-c000.snappy.parquet";
  const std::string history = "part-00000-a72b1fb3-f2df-41fe-a8f0-e65b746382dd-c000.snappy.parquet";
  fs::remove(fs::path(tgt_dir_) / live);
  fs::remove(fs::path(tgt_dir_) / history);
  fs::path v1 = fs::path(tgt_dir_) / "_delta_log" / CommitName(1);
  WriteFileBytes(v1, ReadFileBytes(v1) + "\n");
  auto report = VerifyReplica(Source(), Target(), false);
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_EQ(report->problems.size(), 3u) << ::testing::PrintToString(report->problems);
  std::string all;
  for (const auto& p : report->problems) all += p + "\n";
  EXPECT_NE(all.find("R1: version 1"), std::string::npos) << all;
  EXPECT_NE(all.find("R2: data file " + live), std::string::npos) << all;
  EXPECT_NE(all.find("R3: data file " + history), std::string::npos) << all;
}

TEST_F(ReplicaCheckTest, ChecksumCatchesSameSizeDifferentBytes) {
  Replicate();
  const std::string live = "part-00000-2befed33-c358-4768-a43c-3eda0d2a499d-c000.snappy.parquet";
  std::string bytes = ReadFileBytes(fs::path(tgt_dir_) / live);
  bytes[bytes.size() / 2] ^= 1;
  WriteFileBytes(fs::path(tgt_dir_) / live, bytes);
  auto without = VerifyReplica(Source(), Target(), false);
  ASSERT_TRUE(without.ok());
  EXPECT_TRUE(without->problems.empty());
  auto with = VerifyReplica(Source(), Target(), true);
  ASSERT_TRUE(with.ok());
  ASSERT_EQ(with->problems.size(), 1u);
  EXPECT_NE(with->problems[0].find(live), std::string::npos);
}

// A replica whose first sync started from the source's newest checkpoint (the source's log no
// longer holds version 0): its log starts at that checkpoint, and the files live there are known
// only from the Parquet. verify checks the checkpoint against the source's, that the log has one
// to start from, `_last_checkpoint`, and every table file the source held when the checkpoint
// was written (before: such a replica with a data file deleted, a truncated checkpoint or no
// checkpoint at all was "ok").
TEST(ReplicaCheckpointTest, AReplicaStartedFromACheckpointIsChecked) {
  if (!fs::exists(FixturesDir())) GTEST_SKIP() << "FIXTURES MISSING: " << FixturesDir();
  storage::testing::TempDir tmp;
  const fs::path src = tmp.path() + "/src", tgt = tmp.path() + "/tgt";
  CopyTree(fs::path(FixturesDir()) / "simple_table_with_checkpoint", src);
  for (int64_t v = 0; v <= 9; ++v) fs::remove(src / "_delta_log" / CommitName(v));
  // As a writer leaves them: the data files before the checkpoint that names them.
  const auto now = fs::file_time_type::clock::now();
  for (auto& e : fs::directory_iterator(src)) {
    if (e.is_regular_file()) fs::last_write_time(e.path(), now - std::chrono::hours(2));
  }
  fs::last_write_time(src / "_delta_log" / "00000000000000000010.checkpoint.parquet",
                      now - std::chrono::hours(1));
  auto source_storage = OpenLocal(src.string());
  auto target_storage = OpenLocal(tgt.string());
  TableLocation source{"src", source_storage.get(), ""}, target{"tgt", target_storage.get(), ""};
  RunObserver observer;
  auto out = RunIncremental(source, {target}, IncrementalOptions{}, observer);
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_TRUE(out->ok()) << out->targets[0].status;

  auto clean = VerifyReplica(source, target, /*checksum=*/true);
  ASSERT_TRUE(clean.ok()) << clean.status();
  EXPECT_EQ(clean->problems, std::vector<std::string>{});
  // The 11 part files listed (ls of the fixture), and commit 10's one add again (grep).
  EXPECT_EQ(clean->files_checked, 12);
  ASSERT_EQ(clean->notes.size(), 1u);
  EXPECT_NE(clean->notes[0].find("the log starts at checkpoint"), std::string::npos);

  // A data file live at the checkpoint (part-00000-136c36f5…, added in version 2, never
  // removed: grep of the fixture's log) deleted from the replica.
  const std::string live = "part-00000-136c36f5-639d-4e95-bb0f-15cde3fb14eb-c000.snappy.parquet";
  fs::rename(tgt / live, tmp.path() + "/aside");
  auto lost = VerifyReplica(source, target, /*checksum=*/false);
  ASSERT_TRUE(lost.ok()) << lost.status();
  ASSERT_EQ(lost->problems.size(), 1u);
  EXPECT_EQ(lost->problems[0], "R2: file " + live +
                                   " (in the source since before checkpoint 10) is missing from "
                                   "the target");
  fs::rename(tmp.path() + "/aside", tgt / live);

  // The checkpoint truncated, then gone (and _last_checkpoint naming it).
  const fs::path cp = tgt / "_delta_log" / "00000000000000000010.checkpoint.parquet";
  const std::string bytes = ReadFileBytes(cp);
  WriteFileBytes(cp, bytes.substr(0, 100));
  auto truncated = VerifyReplica(source, target, /*checksum=*/false);
  ASSERT_TRUE(truncated.ok()) << truncated.status();
  ASSERT_EQ(truncated->problems.size(), 1u);
  EXPECT_NE(truncated->problems[0].find("R1: checkpoint 00000000000000000010.checkpoint.parquet "
                                        "has 100 bytes in the target but "),
            std::string::npos)
      << truncated->problems[0];
  fs::remove(cp);
  auto gone = VerifyReplica(source, target, /*checksum=*/false);
  ASSERT_TRUE(gone.ok()) << gone.status();
  EXPECT_EQ(gone->problems,
            (std::vector<std::string>{
                "R1: the target's log starts at version 10 and holds no checkpoint at version 9 "
                "or later to start from: no reader can load the table",
                "R1: the target's _last_checkpoint names version 10, a checkpoint the target does "
                "not hold"}));
}

}  // namespace
}  // namespace lakesync::jobs
