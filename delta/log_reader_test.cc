#include "delta/log_reader.h"

#include <algorithm>

#include <gtest/gtest.h>

#include <fmt/format.h>

#include "storage/fault_storage.h"
#include "storage/memory_storage.h"

namespace lakesync::delta {
namespace {

const char* kV0 =
    "{\"protocol\":{\"minReaderVersion\":1,\"minWriterVersion\":2}}\n"
    "{\"metaData\":{\"id\":\"t\",\"format\":{\"provider\":\"parquet\",\"options\":{}},"
    "\"schemaString\":\"{\\\"type\\\":\\\"struct\\\",\\\"fields\\\":[]}\","
    "\"partitionColumns\":[],\"configuration\":{}}}\n";

std::string AddCommit(int64_t v) {
  return fmt::format(
      "{{\"commitInfo\":{{\"timestamp\":{}}}}}\n"
      "{{\"add\":{{\"path\":\"f{}.parquet\",\"partitionValues\":{{}},\"size\":{},"
      "\"modificationTime\":1,\"dataChange\":true,\"stats\":\"{{\\\"numRecords\\\":1}}\"}}}}\n",
      1000 * v, v, 10 * v);
}

class LogReaderTest : public ::testing::Test {
 protected:
  LogReaderTest() : clock_(FromUnixMillis(1'700'000'000'000)), storage_(clock_) {}

  void Put(std::string_view name, std::string_view data) {
    ASSERT_TRUE(storage_.WriteAtomic("tbl/_delta_log/" + std::string(name), data).ok());
  }
  // Commits 0..n (v0 = protocol + metaData, v ≥ 1 adds f<v> of 10·v bytes).
  void Commits(int64_t from, int64_t to) {
    for (int64_t v = from; v <= to; ++v) Put(CommitFileName(v), v == 0 ? kV0 : AddCommit(v));
  }
  DeltaLog Log() { return DeltaLog(storage_, "tbl"); }

  ManualClock clock_;
  storage::MemoryStorage storage_;
};

TEST_F(LogReaderTest, LoadsHeadAndEarlierVersions) {
  Commits(0, 5);
  auto s = Log().LoadSnapshot();
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->version(), 5);
  EXPECT_EQ(s->num_files(), 5);
  EXPECT_EQ(s->bytes(), 10 + 20 + 30 + 40 + 50);
  EXPECT_EQ(s->rows(), 5);
  auto s2 = Log().LoadSnapshot(2);
  ASSERT_TRUE(s2.ok()) << s2.status();
  EXPECT_EQ(s2->num_files(), 2);
  auto beyond = Log().LoadSnapshot(6);
  EXPECT_EQ(beyond.status().code(), StatusCode::kNotFound);
  EXPECT_NE(beyond.status().message().find("newest version is 5"), std::string::npos);
  EXPECT_EQ(Log().LoadSnapshot(-1).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Log().Describe(), "memory://test/tbl");
}

TEST_F(LogReaderTest, EmptyTableIsNotFound) {
  EXPECT_EQ(Log().HeadVersion().status().code(), StatusCode::kNotFound);
  EXPECT_EQ(Log().LoadSnapshot().status().code(), StatusCode::kNotFound);
}

TEST_F(LogReaderTest, HeadWithMissingStaleAndAheadHints) {
  Commits(0, 8);
  auto head = Log().HeadVersion();
  ASSERT_TRUE(head.ok()) << head.status();
  EXPECT_EQ(*head, 8);  // no hint
  Put(CheckpointFileName(5), "PAR1-not-really");
  Put("_last_checkpoint", R"({"version":5,"size":7,"unknownKey":[1]})");
  EXPECT_EQ(*Log().HeadVersion(), 8);  // stale hint: keeps listing forward
  Put("_last_checkpoint", R"({"version":20,"size":7})");
  EXPECT_EQ(*Log().HeadVersion(), 8);  // hint beyond everything: falls back to a full listing
  Put("_last_checkpoint", "garbage{");
  EXPECT_EQ(*Log().HeadVersion(), 8);  // unparsable hint: ignored
}

TEST_F(LogReaderTest, GapIsCorruptionNamingTheMissingCommit) {
  Commits(0, 1);
  Commits(3, 4);
  auto s = Log().LoadSnapshot();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kCorruption);
  EXPECT_NE(s.status().message().find("commit 2 missing between 1 and 3"), std::string::npos)
      << s.status();
  // Version 1 is still loadable: the gap is above it.
  EXPECT_TRUE(Log().LoadSnapshot(1).ok());
  // A gap after the hinted checkpoint is seen by HeadVersion too.
  Put(CheckpointFileName(0), "x");
  Put("_last_checkpoint", R"({"version":0})");
  Put(CommitFileName(7), AddCommit(7));
  auto head = Log().HeadVersion();
  EXPECT_EQ(head.status().code(), StatusCode::kCorruption) << head.status();
}

TEST_F(LogReaderTest, MissingFirstCommitsWithoutCheckpoint) {
  Commits(3, 5);
  auto s = Log().LoadSnapshot();
  EXPECT_EQ(s.status().code(), StatusCode::kCorruption);
  EXPECT_NE(s.status().message().find("commits 0 to 2 missing"), std::string::npos) << s.status();
  EXPECT_EQ(Log().LoadSnapshot(1).status().code(), StatusCode::kNotFound);
}

TEST_F(LogReaderTest, DuplicateVersionFilesAreCorruption) {
  Commits(0, 2);
  Put("1.json", AddCommit(1));  // an alias of 00000000000000000001.json
  auto s = Log().LoadSnapshot();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kCorruption);
  EXPECT_NE(s.status().message().find("duplicate commit files for version 1"), std::string::npos)
      << s.status();
  EXPECT_NE(s.status().message().find("'1.json'"), std::string::npos);
  EXPECT_NE(s.status().message().find("'00000000000000000001.json'"), std::string::npos);
}

TEST_F(LogReaderTest, CompactionsChecksumsAndJunkAreIgnored) {
  Commits(0, 3);
  Put(CompactionFileName(1, 3), "not even json");
  Put(CompactionFileName(0, 2), "overlapping ranges are fine");
  Put(ChecksumFileName(2), "{}");
  Put("abc.json", "{not json");  // non-numeric name
  Put("latest.json", "{}");
  Put(".00000000000000000004.json.crc", "x");
  Put("00000000000000000004.json.tmp", "{broken");
  Put(".tmp/00000000000000000004.json", AddCommit(4));  // subdirectory: not a commit
  Put("_staged_commits/00000000000000000004.3a0d65cd-4056-49b8-937b-95f9e3ee90e5.json",
      AddCommit(4));
  auto s = Log().LoadSnapshot();
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->version(), 3);
  EXPECT_EQ(*Log().HeadVersion(), 3);
}

TEST_F(LogReaderTest, TruncatedCommitNamesTableVersionAndLine) {
  Commits(0, 1);
  Put(CommitFileName(2), "{\"commitInfo\":{}}\n{\"add\":{\"path\":\"x\",\"si");
  auto s = Log().LoadSnapshot();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kCorruption);
  EXPECT_NE(s.status().message().find("memory://test/tbl"), std::string::npos) << s.status();
  EXPECT_NE(s.status().message().find("commit 2 line 2"), std::string::npos) << s.status();
}

TEST_F(LogReaderTest, CleanedUpLogNeedsParquetCheckpoint) {
  Commits(6, 7);
  Put(CheckpointFileName(5), "PAR1");
  Put("_last_checkpoint", R"({"version":5,"size":3})");
  EXPECT_EQ(*Log().HeadVersion(), 7);
  auto s = Log().LoadSnapshot();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(s.status().message().find("reading Parquet checkpoints is not supported yet"),
            std::string::npos)
      << s.status();
  EXPECT_NE(s.status().message().find("00000000000000000005.checkpoint.parquet"),
            std::string::npos);
  // The checkpoint version itself, with its commit gone, also needs the checkpoint.
  EXPECT_EQ(Log().LoadSnapshot(5).status().code(), StatusCode::kUnsupported);
  // A gap after the checkpoint is still corruption.
  Put(CommitFileName(9), AddCommit(9));
  auto g = Log().LoadSnapshot(9);
  EXPECT_EQ(g.status().code(), StatusCode::kCorruption);
  EXPECT_NE(g.status().message().find("commit 8 missing between 7 and 9"), std::string::npos)
      << g.status();
}

TEST_F(LogReaderTest, CheckpointChoice) {
  Commits(0, 6);
  Put(CheckpointFileName(5), "PAR1");
  Put(MultiPartCheckpointFileName(5, 1, 2), "PAR1");
  Put(MultiPartCheckpointFileName(5, 2, 2), "PAR1");
  Put(MultiPartCheckpointFileName(5, 1, 3), "PAR1");  // incomplete 3-part set
  Put(MultiPartCheckpointFileName(5, 2, 3), "PAR1");
  auto seg = Log().Segment(std::nullopt);
  ASSERT_TRUE(seg.ok()) << seg.status();
  ASSERT_TRUE(seg->checkpoint.has_value());
  EXPECT_EQ(seg->checkpoint->kind, LogFileKind::kMultiPartCheckpoint);
  EXPECT_EQ(seg->checkpoint->parts.size(), 2u);
  EXPECT_EQ(seg->commits.size(), 7u);  // full JSON history: replayed from 0 anyway

  Put(MultiPartCheckpointFileName(5, 3, 3), "PAR1");  // now complete: more parts wins
  seg = Log().Segment(std::nullopt);
  ASSERT_TRUE(seg.ok());
  EXPECT_EQ(seg->checkpoint->parts.size(), 3u);

  Put(UuidCheckpointFileName(5, "3a0d65cd-4056-49b8-937b-95f9e3ee90e5", true), "");  // 0 bytes
  seg = Log().Segment(std::nullopt);
  ASSERT_TRUE(seg.ok());
  EXPECT_EQ(seg->checkpoint->kind, LogFileKind::kMultiPartCheckpoint);

  Put(UuidCheckpointFileName(5, "3a0d65cd-4056-49b8-937b-95f9e3ee90e5", true), "PAR1");
  seg = Log().Segment(std::nullopt);
  ASSERT_TRUE(seg.ok());
  EXPECT_EQ(seg->checkpoint->kind, LogFileKind::kUuidCheckpoint);
  EXPECT_EQ(seg->checkpoint->Describe(),
            "00000000000000000005.checkpoint.3a0d65cd-4056-49b8-937b-95f9e3ee90e5.parquet");

  // At version 4 no checkpoint applies.
  auto seg4 = Log().Segment(4);
  ASSERT_TRUE(seg4.ok());
  EXPECT_FALSE(seg4->checkpoint.has_value());

  // A 0-byte classic checkpoint is never chosen.
  Put(CheckpointFileName(6), "");
  seg = Log().Segment(6);
  ASSERT_TRUE(seg.ok());
  EXPECT_EQ(seg->checkpoint->version, 5);
}

TEST_F(LogReaderTest, CommitTimesCarryFileModificationTimes) {
  Commits(0, 2);
  ASSERT_TRUE(
      storage_.SetModificationTime("tbl/_delta_log/00000000000000000000.json", FromUnixMillis(42))
          .ok());
  auto st = Log().Load();
  ASSERT_TRUE(st.ok());
  ASSERT_EQ(st->commit_times.size(), 3u);
  EXPECT_EQ(ToUnixMillis(st->commit_times[0].file_modification_time), 42);
  EXPECT_EQ(st->commit_times[2].commit_info_timestamp, 2000);
  EXPECT_FALSE(st->commit_times[0].commit_info_timestamp.has_value());
}

// ProbeFromVersion: the storage calls are counted through a FaultInjectingStorage (no faults).
class ProbeTest : public LogReaderTest {
 protected:
  ProbeTest() : counted_(storage_) {}
  DeltaLog Counted() { return DeltaLog(counted_, "tbl"); }
  int Lists() const { return counted_.Calls(storage::FaultInjectingStorage::Op::kList); }
  int Stats() const { return counted_.Calls(storage::FaultInjectingStorage::Op::kStat); }
  static std::vector<int64_t> CommitVersions(const LogListing& l) {
    std::vector<int64_t> out;
    for (const auto& c : l.commits) out.push_back(c.file.version);
    return out;
  }
  static std::vector<int64_t> CheckpointVersions(const LogListing& l) {
    std::vector<int64_t> out;
    for (const auto& c : l.checkpoints) out.push_back(c.version);
    return out;
  }

  storage::FaultInjectingStorage counted_;
};

TEST_F(ProbeTest, FindsTheTailByNameWithoutListing) {
  Commits(0, 10);
  Put(ChecksumFileName(8), "{}");
  Put(CheckpointFileName(9), "PAR1");
  Put(CheckpointFileName(4), "PAR1");  // before the probed range: not reported
  auto probed = Counted().ProbeFromVersion(7, 64);
  ASSERT_TRUE(probed.ok()) << probed.status();
  EXPECT_EQ(Lists(), 0);
  // By hand: V.json, V.crc, V.checkpoint.parquet for V = 7..10 (12), 11.json (absent, 1),
  // _last_checkpoint (absent, 1).
  EXPECT_EQ(Stats(), 14);
  EXPECT_EQ(CommitVersions(*probed), (std::vector<int64_t>{7, 8, 9, 10}));
  EXPECT_EQ(CheckpointVersions(*probed), (std::vector<int64_t>{9}));
  ASSERT_EQ(probed->other.size(), 1u);
  EXPECT_EQ(probed->other[0].file.kind, LogFileKind::kChecksum);
  EXPECT_EQ(probed->other[0].file.version, 8);
  EXPECT_EQ(probed->other[0].info.path, "tbl/_delta_log/" + ChecksumFileName(8));
  EXPECT_EQ(probed->commits[0].info.path, "tbl/_delta_log/" + CommitFileName(7));
  EXPECT_EQ(probed->MaxVersion(), 10);
}

TEST_F(ProbeTest, ReportsTheSameAsAListingOfAHealthyTail) {
  Commits(0, 6);
  Put(CheckpointFileName(6), "PAR1");
  Put(ChecksumFileName(6), "{}");
  Put("_last_checkpoint", R"({"version":6,"size":3})");
  auto probed = Counted().ProbeFromVersion(5, 64);
  ASSERT_TRUE(probed.ok()) << probed.status();
  EXPECT_EQ(Lists(), 0);
  auto listed = Log().ListFromVersion(5);
  ASSERT_TRUE(listed.ok()) << listed.status();
  EXPECT_EQ(CommitVersions(*probed), CommitVersions(*listed));
  EXPECT_EQ(CheckpointVersions(*probed), CheckpointVersions(*listed));
  std::vector<std::string> probed_other;
  std::vector<std::string> listed_other;
  for (const auto& e : probed->other) probed_other.push_back(e.file.name);
  for (const auto& e : listed->other) listed_other.push_back(e.file.name);
  std::sort(probed_other.begin(), probed_other.end());
  std::sort(listed_other.begin(), listed_other.end());
  EXPECT_EQ(probed_other, (std::vector<std::string>{ChecksumFileName(6), "_last_checkpoint"}));
  EXPECT_EQ(probed_other, listed_other);
}

TEST_F(ProbeTest, FallsBackToAListingWhenTooManyVersionsAreNew) {
  Commits(0, 10);
  // From 2 the new versions are 3..10: 8 > 3.
  auto probed = Counted().ProbeFromVersion(2, 3);
  ASSERT_TRUE(probed.ok()) << probed.status();
  EXPECT_EQ(Lists(), 1);
  EXPECT_EQ(CommitVersions(*probed), (std::vector<int64_t>{2, 3, 4, 5, 6, 7, 8, 9, 10}));
  // Exactly max_probe new versions (9..11 from 8) stays on the fast path.
  Put(CommitFileName(11), AddCommit(11));
  auto exact = Counted().ProbeFromVersion(8, 3);
  ASSERT_TRUE(exact.ok()) << exact.status();
  EXPECT_EQ(Lists(), 1);
  EXPECT_EQ(CommitVersions(*exact), (std::vector<int64_t>{8, 9, 10, 11}));
}

TEST_F(ProbeTest, FallsBackWhenTheStartingCommitIsAbsentOrVersionIsZero) {
  Commits(5, 8);  // 0..4 removed by log cleanup
  auto probed = Counted().ProbeFromVersion(3, 64);
  ASSERT_TRUE(probed.ok()) << probed.status();
  EXPECT_EQ(Lists(), 1);
  EXPECT_EQ(CommitVersions(*probed), (std::vector<int64_t>{5, 6, 7, 8}));
  auto zero = Counted().ProbeFromVersion(0, 64);
  ASSERT_TRUE(zero.ok()) << zero.status();
  EXPECT_EQ(Lists(), 2);
  EXPECT_EQ(zero->commits.size(), 4u);
}

TEST_F(ProbeTest, ConfirmsTheMultiPartCheckpointLastCheckpointNames) {
  Commits(0, 9);
  Put(CheckpointFileName(9), "PAR1");
  Put(MultiPartCheckpointFileName(9, 1, 2), "PAR1");
  Put(MultiPartCheckpointFileName(9, 2, 2), "PAR1");
  Put("_last_checkpoint", R"({"version":9,"size":7,"parts":2})");
  auto probed = Counted().ProbeFromVersion(8, 64);
  ASSERT_TRUE(probed.ok()) << probed.status();
  EXPECT_EQ(Lists(), 0);
  ASSERT_EQ(probed->checkpoints.size(), 1u);
  // Multi-part beats classic at one version.
  EXPECT_EQ(probed->checkpoints[0].kind, LogFileKind::kMultiPartCheckpoint);
  ASSERT_EQ(probed->checkpoints[0].parts.size(), 2u);
  EXPECT_EQ(probed->checkpoints[0].parts[1].file.name, MultiPartCheckpointFileName(9, 2, 2));
}

TEST_F(ProbeTest, FallsBackWhenTheNamedCheckpointCannotBeConfirmed) {
  Commits(0, 9);
  Put(MultiPartCheckpointFileName(9, 1, 2), "PAR1");  // part 2 of 2 missing
  Put("_last_checkpoint", R"({"version":9,"size":7,"parts":2})");
  auto probed = Counted().ProbeFromVersion(8, 64);
  ASSERT_TRUE(probed.ok()) << probed.status();
  EXPECT_EQ(Lists(), 1);
  EXPECT_TRUE(probed->checkpoints.empty());  // the listing ignores the incomplete set

  // A classic checkpoint named but written as 0 bytes (a failed write).
  Put("_last_checkpoint", R"({"version":9,"size":7})");
  Put(CheckpointFileName(9), "");
  auto empty = Counted().ProbeFromVersion(8, 64);
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_EQ(Lists(), 2);
  EXPECT_TRUE(empty->checkpoints.empty());
}

TEST_F(ProbeTest, ConfirmsAUuidCheckpointAndFallsBackWhenOthersMayHide) {
  const std::string uuid = "3a0d65cd-4056-49b8-937b-95f9e3ee90e5";
  Commits(0, 9);
  Put(UuidCheckpointFileName(9, uuid, true), "PAR1");
  Put("_last_checkpoint", fmt::format(R"({{"version":9,"size":7,"v2Checkpoint":{{"path":"{}"}}}})",
                                      UuidCheckpointFileName(9, uuid, true)));
  auto probed = Counted().ProbeFromVersion(8, 64);
  ASSERT_TRUE(probed.ok()) << probed.status();
  EXPECT_EQ(Lists(), 0);
  ASSERT_EQ(probed->checkpoints.size(), 1u);
  EXPECT_EQ(probed->checkpoints[0].kind, LogFileKind::kUuidCheckpoint);
  EXPECT_EQ(probed->checkpoints[0].parts[0].info.path,
            "tbl/_delta_log/" + UuidCheckpointFileName(9, uuid, true));

  // From 6, versions 7 and 8 lie before the named checkpoint: unnamed UUID checkpoints may be
  // there, so the listing decides (and finds one at 7).
  Put(UuidCheckpointFileName(7, uuid, false), "{}");
  auto wide = Counted().ProbeFromVersion(6, 64);
  ASSERT_TRUE(wide.ok()) << wide.status();
  EXPECT_EQ(Lists(), 1);
  EXPECT_EQ(CheckpointVersions(*wide), (std::vector<int64_t>{7, 9}));

  // From 9 the named checkpoint is at the starting version: confirmed without a listing.
  auto after = Counted().ProbeFromVersion(9, 64);
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(Lists(), 1);
}

}  // namespace
}  // namespace lakesync::delta
