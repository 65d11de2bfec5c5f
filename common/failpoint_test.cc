#include "common/failpoint.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace lakesync {
namespace {

class FailpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    failpoint_testing::Reset();
    failpoint_testing::SetHandler([this](std::string_view name) { fired_.emplace_back(name); });
  }
  void TearDown() override { failpoint_testing::Reset(); }

  std::vector<std::string> fired_;
};

TEST_F(FailpointTest, DisabledByDefaultDoesNothing) {
  LAKESYNC_FAILPOINT("copy.mid_file");
  Failpoint("commit.before_link");
  EXPECT_TRUE(fired_.empty());
  EXPECT_EQ(failpoint_testing::Hits("copy.mid_file"), 0);
}

TEST_F(FailpointTest, FiresAtFirstHitByDefault) {
  ASSERT_TRUE(failpoint_testing::Enable("incremental.before_commit_publish").ok());
  LAKESYNC_FAILPOINT("incremental.after_commit_publish");  // not enabled
  EXPECT_TRUE(fired_.empty());
  LAKESYNC_FAILPOINT("incremental.before_commit_publish");
  ASSERT_EQ(fired_.size(), 1u);
  EXPECT_EQ(fired_[0], "incremental.before_commit_publish");
  // Fires once only: the hit count has passed the configured one.
  LAKESYNC_FAILPOINT("incremental.before_commit_publish");
  EXPECT_EQ(fired_.size(), 1u);
  EXPECT_EQ(failpoint_testing::Hits("incremental.before_commit_publish"), 2);
}

TEST_F(FailpointTest, FiresAtTheNthHit) {
  ASSERT_TRUE(failpoint_testing::Enable("a@3, b").ok());
  LAKESYNC_FAILPOINT("a");
  LAKESYNC_FAILPOINT("a");
  EXPECT_TRUE(fired_.empty());  // hits 1 and 2 of a@3
  LAKESYNC_FAILPOINT("b");      // b@1
  LAKESYNC_FAILPOINT("a");      // hit 3
  ASSERT_EQ(fired_.size(), 2u);
  EXPECT_EQ(fired_[0], "b");
  EXPECT_EQ(fired_[1], "a");
}

TEST_F(FailpointTest, EnableResetsCounts) {
  ASSERT_TRUE(failpoint_testing::Enable("a@2").ok());
  LAKESYNC_FAILPOINT("a");
  ASSERT_TRUE(failpoint_testing::Enable("a@2").ok());
  LAKESYNC_FAILPOINT("a");
  EXPECT_TRUE(fired_.empty());  // the count restarted: this was hit 1 again
  LAKESYNC_FAILPOINT("a");
  EXPECT_EQ(fired_.size(), 1u);
}

TEST_F(FailpointTest, MalformedSpecsAreRejectedAndChangeNothing) {
  ASSERT_TRUE(failpoint_testing::Enable("a").ok());
  EXPECT_FALSE(failpoint_testing::Enable("a@0").ok());
  EXPECT_FALSE(failpoint_testing::Enable("a@x").ok());
  EXPECT_FALSE(failpoint_testing::Enable("@2").ok());
  EXPECT_FALSE(failpoint_testing::Enable("a@").ok());
  LAKESYNC_FAILPOINT("a");  // the earlier "a" is still configured
  EXPECT_EQ(fired_.size(), 1u);
}

TEST_F(FailpointTest, EmptySpecDisables) {
  ASSERT_TRUE(failpoint_testing::Enable("a").ok());
  ASSERT_TRUE(failpoint_testing::Enable("").ok());
  LAKESYNC_FAILPOINT("a");
  EXPECT_TRUE(fired_.empty());
}

}  // namespace
}  // namespace lakesync
