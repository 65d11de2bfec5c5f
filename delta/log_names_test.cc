#include "delta/log_names.h"

#include <gtest/gtest.h>

namespace lakesync::delta {
namespace {

TEST(LogNamesTest, BuildsTwentyDigitNames) {
  // Expected strings written out by hand from PROTOCOL.md's naming rules.
  EXPECT_EQ(CommitFileName(7), "00000000000000000007.json");
  EXPECT_EQ(CheckpointFileName(10), "00000000000000000010.checkpoint.parquet");
  EXPECT_EQ(MultiPartCheckpointFileName(10, 1, 3),
            "00000000000000000010.checkpoint.0000000001.0000000003.parquet");
  EXPECT_EQ(UuidCheckpointFileName(2, "3a0d65cd-4056-49b8-937b-95f9e3ee90e5", false),
            "00000000000000000002.checkpoint.3a0d65cd-4056-49b8-937b-95f9e3ee90e5.json");
  EXPECT_EQ(CompactionFileName(4, 9), "00000000000000000004.00000000000000000009.compacted.json");
  EXPECT_EQ(ChecksumFileName(7), "00000000000000000007.crc");
  EXPECT_EQ(SidecarFileName("abc.parquet"), "_sidecars/abc.parquet");
  EXPECT_EQ(LogDirKey(""), "_delta_log/");
  EXPECT_EQ(LogDirKey("delta/sales/"), "delta/sales/_delta_log/");
  EXPECT_EQ(LogFileKey("t", "_last_checkpoint"), "t/_delta_log/_last_checkpoint");
}

TEST(LogNamesTest, RoundTrips) {
  auto c = ParseLogFileName(CommitFileName(123));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->kind, LogFileKind::kCommit);
  EXPECT_EQ(c->version, 123);

  auto cp = ParseLogFileName(CheckpointFileName(10));
  ASSERT_TRUE(cp);
  EXPECT_EQ(cp->kind, LogFileKind::kClassicCheckpoint);
  EXPECT_EQ(cp->version, 10);
  EXPECT_TRUE(cp->IsCheckpoint());

  auto mp = ParseLogFileName(MultiPartCheckpointFileName(10, 2, 3));
  ASSERT_TRUE(mp);
  EXPECT_EQ(mp->kind, LogFileKind::kMultiPartCheckpoint);
  EXPECT_EQ(mp->version, 10);
  EXPECT_EQ(mp->part, 2);
  EXPECT_EQ(mp->num_parts, 3);

  for (bool parquet : {true, false}) {
    auto u = ParseLogFileName(
        UuidCheckpointFileName(2, "3a0d65cd-4056-49b8-937b-95f9e3ee90e5", parquet));
    ASSERT_TRUE(u);
    EXPECT_EQ(u->kind, LogFileKind::kUuidCheckpoint);
    EXPECT_EQ(u->version, 2);
    EXPECT_EQ(u->uuid, "3a0d65cd-4056-49b8-937b-95f9e3ee90e5");
    EXPECT_EQ(u->parquet, parquet);
  }

  auto comp = ParseLogFileName(CompactionFileName(4, 9));
  ASSERT_TRUE(comp);
  EXPECT_EQ(comp->kind, LogFileKind::kCompaction);
  EXPECT_EQ(comp->version, 4);
  EXPECT_EQ(comp->end_version, 9);

  auto crc = ParseLogFileName(ChecksumFileName(7));
  ASSERT_TRUE(crc);
  EXPECT_EQ(crc->kind, LogFileKind::kChecksum);
  EXPECT_EQ(crc->version, 7);

  auto last = ParseLogFileName("_last_checkpoint");
  ASSERT_TRUE(last);
  EXPECT_EQ(last->kind, LogFileKind::kLastCheckpoint);

  auto side = ParseLogFileName(SidecarFileName("016ae953-37a9-438e-8683-9a9a4a79a395.parquet"));
  ASSERT_TRUE(side);
  EXPECT_EQ(side->kind, LogFileKind::kSidecar);

  auto staged = ParseLogFileName(
      "_staged_commits/00000000000000000007.3a0d65cd-4056-49b8-937b-95f9e3ee90e5.json");
  ASSERT_TRUE(staged);
  EXPECT_EQ(staged->kind, LogFileKind::kStagedCommit);  // never kCommit
  EXPECT_EQ(staged->version, 7);
}

TEST(LogNamesTest, NonPaddedVersionIsReadAsItsNumber) {
  // So that a listing can see "1.json" aliases "00000000000000000001.json".
  auto c = ParseLogFileName("1.json");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->kind, LogFileKind::kCommit);
  EXPECT_EQ(c->version, 1);
}

TEST(LogNamesTest, IgnoresNonLogNames) {
  for (const char* name : {
           ".00000000000000000000.json.crc",  // Hadoop checksum dot-file
           "..00000000000000000000.json.c6b312ca-665d-46ab-93a9-9f87ad2baa92.tmp.crc",
           "00000000000000000005.json.tmp",         // temp file
           ".tmp/00000000000000000005.json",        // unknown subdirectory
           "_autostats/00000000000000000005.json",  // unknown subdirectory
           "_sidecars/nested/x.parquet",            // too deep
           "_sidecars/.x.parquet",                  // dot-file
           "abc.json",                              // non-numeric
           "1a.json",
           "-1.json",
           "+1.json",
           " 1.json",
           ".json",
           "json",
           "",
           "99999999999999999999.json",                                      // overflows int64
           "000000000000000000001.json",                                     // 21 digits
           "00000000000000000001.checkpoint.0000000004.0000000003.parquet",  // part > parts
           "00000000000000000001.checkpoint.0000000000.0000000003.parquet",  // part 0
           "00000000000000000001.checkpoint.not-a-uuid.json",
           "00000000000000000001.checkpoint.json",
           "00000000000000000009.00000000000000000004.compacted.json",  // end < start
           "00000000000000000001.parquet",
           "00000000000000000001.JSON",
           ".s3-optimization-0",
           "_staged_commits/00000000000000000007.json",  // staged commits carry a uuid
       }) {
    EXPECT_FALSE(ParseLogFileName(name).has_value()) << name;
  }
}

}  // namespace
}  // namespace lakesync::delta
