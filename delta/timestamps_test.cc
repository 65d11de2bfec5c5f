#include "delta/timestamps.h"

#include <gtest/gtest.h>

namespace lakesync::delta {
namespace {

CommitTimeInput In(int64_t v, std::optional<int64_t> ict, std::optional<int64_t> ci,
                   int64_t mtime_ms) {
  return CommitTimeInput{v, ict, ci, FromUnixMillis(mtime_ms)};
}

TEST(TimestampsTest, FileModificationTimeByDefaultForcedIncreasing) {
  // Delta readers: without in-commit timestamps a commit's time is its file's modification
  // time; commitInfo.timestamp (1000, 2000, ...) is ignored.
  std::vector<CommitTimeInput> in = {In(0, std::nullopt, 1000, 50), In(1, std::nullopt, 2000, 60),
                                     In(2, std::nullopt, 3000, 60),           // same mtime as v1
                                     In(3, std::nullopt, std::nullopt, 40)};  // clock went back
  auto ts = ComputeCommitTimestamps(in, std::nullopt);
  ASSERT_TRUE(ts.ok()) << ts.status();
  // By hand: 50, 60, 60→61 (+1 ms), 40→62.
  EXPECT_EQ(ToUnixMillis((*ts)[0].timestamp), 50);
  EXPECT_EQ(ToUnixMillis((*ts)[1].timestamp), 60);
  EXPECT_EQ(ToUnixMillis((*ts)[2].timestamp), 61);
  EXPECT_EQ(ToUnixMillis((*ts)[3].timestamp), 62);
  for (const auto& t : *ts) EXPECT_EQ(t.source, TimestampSource::kFileModificationTime);
  EXPECT_EQ(*VersionAsOf(*ts, FromUnixMillis(1500)), 3);
  EXPECT_EQ(*VersionAsOf(*ts, FromUnixMillis(60)), 1);
}

TEST(TimestampsTest, CommitInfoThenFileTimeWhenChosenForcedIncreasing) {
  std::vector<CommitTimeInput> in = {In(0, std::nullopt, 1000, 50), In(1, std::nullopt, 2000, 60),
                                     In(2, std::nullopt, 2000, 70),  // same as v1
                                     In(3, std::nullopt, std::nullopt, 5000)};
  auto ts = ComputeCommitTimestamps(in, std::nullopt, NonIctTimestampPolicy::kCommitInfoThenFile);
  ASSERT_TRUE(ts.ok()) << ts.status();
  // By hand: 1000, 2000, 2000→2001 (+1 ms), then v3 has no commitInfo → mtime 5000.
  EXPECT_EQ(ToUnixMillis((*ts)[0].timestamp), 1000);
  EXPECT_EQ(ToUnixMillis((*ts)[2].timestamp), 2001);
  EXPECT_EQ(ToUnixMillis((*ts)[3].timestamp), 5000);
  EXPECT_EQ((*ts)[0].source, TimestampSource::kCommitInfo);
  EXPECT_EQ((*ts)[3].source, TimestampSource::kFileModificationTime);
}

TEST(TimestampsTest, PolicyNames) {
  EXPECT_EQ(*ParseNonIctTimestampPolicy("modification_time"),
            NonIctTimestampPolicy::kFileModificationTime);
  EXPECT_EQ(*ParseNonIctTimestampPolicy("commit_info"), NonIctTimestampPolicy::kCommitInfoThenFile);
  auto bad = ParseNonIctTimestampPolicy("commitInfo");
  ASSERT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("'commitInfo'"), std::string::npos) << bad.status();
  EXPECT_NE(bad.status().message().find("modification_time"), std::string::npos);
  EXPECT_NE(bad.status().message().find("commit_info"), std::string::npos);
}

TEST(TimestampsTest, InCommitTimestampsFromEnablementVersion) {
  Metadata m;
  m.configuration["delta.enableInCommitTimestamps"] = "true";
  m.configuration["delta.inCommitTimestampEnablementVersion"] = "2";
  auto ict = IctEnablementVersion(m);
  ASSERT_TRUE(ict.ok());
  ASSERT_EQ(*ict, std::optional<int64_t>(2));
  std::vector<CommitTimeInput> in = {In(0, std::nullopt, 1000, 1000), In(1, 999, 1100, 1100),
                                     In(2, 5000, 1, 1), In(3, 6000, 1, 1)};
  auto ts = ComputeCommitTimestamps(in, *ict);
  ASSERT_TRUE(ts.ok()) << ts.status();
  EXPECT_EQ(ToUnixMillis((*ts)[1].timestamp), 1100);  // before enablement: the file's time
  EXPECT_EQ(ToUnixMillis((*ts)[2].timestamp), 5000);  // ICT
  EXPECT_EQ((*ts)[3].source, TimestampSource::kInCommitTimestamp);
  EXPECT_EQ(*VersionAsOf(*ts, FromUnixMillis(5999)), 2);
  EXPECT_EQ(*VersionAsOf(*ts, FromUnixMillis(6000)), 3);
  EXPECT_EQ(*VersionAsOf(*ts, FromUnixMillis(1050)), 0);

  // Enabled with no enablement version: from version 0.
  Metadata m0;
  m0.configuration["delta.enableInCommitTimestamps"] = "true";
  EXPECT_EQ(*IctEnablementVersion(m0), std::optional<int64_t>(0));
  EXPECT_EQ(*IctEnablementVersion(Metadata{}), std::nullopt);
  m.configuration["delta.inCommitTimestampEnablementVersion"] = "two";
  EXPECT_EQ(IctEnablementVersion(m).status().code(), StatusCode::kInvalidArgument);

  // A commit past enablement without inCommitTimestamp is corruption.
  std::vector<CommitTimeInput> bad = {In(0, std::nullopt, 1, 1)};
  EXPECT_EQ(ComputeCommitTimestamps(bad, 0).status().code(), StatusCode::kCorruption);
}

TEST(TimestampsTest, VersionAsOfBeforeFirstCommitNamesEarliestTime) {
  std::vector<CommitTimestamp> ts = {{0, FromUnixMillis(1000), TimestampSource::kCommitInfo},
                                     {1, FromUnixMillis(2000), TimestampSource::kCommitInfo}};
  auto r = VersionAsOf(ts, FromUnixMillis(999));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find("1970-01-01T00:00:01Z"), std::string::npos) << r.status();
  EXPECT_EQ(*VersionAsOf(ts, FromUnixMillis(1000)), 0);
  EXPECT_EQ(*VersionAsOf(ts, FromUnixMillis(1999)), 0);
  EXPECT_EQ(*VersionAsOf(ts, FromUnixMillis(99999)), 1);
  EXPECT_EQ(VersionAsOf({}, FromUnixMillis(1)).status().code(), StatusCode::kNotFound);
}

TEST(TimestampsTest, InputFromCommit) {
  auto c = ParseCommit(4, R"({"commitInfo":{"timestamp":10,"inCommitTimestamp":12}})");
  ASSERT_TRUE(c.ok());
  auto in = CommitTimeInputOf(*c, FromUnixMillis(7));
  EXPECT_EQ(in.version, 4);
  EXPECT_EQ(in.commit_info_timestamp, 10);
  EXPECT_EQ(in.in_commit_timestamp, 12);
}

}  // namespace
}  // namespace lakesync::delta
