#include "db/state_store.h"

#include <gtest/gtest.h>

namespace lakesync::db {
namespace {

TargetResult NamedTarget(std::string name) {
  TargetResult t;
  t.target = std::move(name);
  return t;
}

TEST(RunStatusTest, NamesRoundTrip) {
  // The names are the values stored in the database (see the CHECK in 0001_init.sql).
  const std::pair<RunStatus, std::string_view> cases[] = {
      {RunStatus::kRunning, "running"},    {RunStatus::kSucceeded, "succeeded"},
      {RunStatus::kFailed, "failed"},      {RunStatus::kPartial, "partial"},
      {RunStatus::kTimedOut, "timed_out"}, {RunStatus::kCancelled, "cancelled"},
  };
  for (const auto& [status, name] : cases) {
    EXPECT_EQ(RunStatusName(status), name);
    Result<RunStatus> parsed = ParseRunStatus(name);
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(*parsed, status);
  }
}

TEST(RunStatusTest, UnknownNameListsTheAcceptedOnes) {
  Result<RunStatus> parsed = ParseRunStatus("Succeeded");  // names are lower case
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(parsed.status().message().find("\"Succeeded\""), std::string::npos);
  EXPECT_NE(parsed.status().message().find("timed_out"), std::string::npos);
  EXPECT_FALSE(ParseRunStatus("").ok());
}

TEST(TriggerTest, NamesRoundTrip) {
  const std::pair<Trigger, std::string_view> cases[] = {
      {Trigger::kSchedule, "schedule"}, {Trigger::kRetry, "retry"}, {Trigger::kManual, "manual"}};
  for (const auto& [trigger, name] : cases) {
    EXPECT_EQ(TriggerName(trigger), name);
    Result<Trigger> parsed = ParseTrigger(name);
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(*parsed, trigger);
  }
  Result<Trigger> bad = ParseTrigger("cron");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("schedule, retry, manual"), std::string::npos);
}

TEST(ValidateTest, RunStart) {
  RunStart ok{"job", "incremental", Trigger::kManual, 1, "r", {}};
  EXPECT_TRUE(ValidateRunStart(ok).ok());
  RunStart no_job = ok;
  no_job.job.clear();
  EXPECT_EQ(ValidateRunStart(no_job).code(), StatusCode::kInvalidArgument);
  RunStart negative = ok;
  negative.attempt = -1;
  EXPECT_EQ(ValidateRunStart(negative).code(), StatusCode::kInvalidArgument);
}

TEST(ValidateTest, RunFinish) {
  RunFinish ok;
  ok.status = RunStatus::kFailed;
  ok.targets = {NamedTarget("a"), NamedTarget("b")};
  EXPECT_TRUE(ValidateRunFinish(1, ok).ok());
  RunFinish unnamed = ok;
  unnamed.targets.push_back(NamedTarget(""));
  EXPECT_EQ(ValidateRunFinish(1, unnamed).code(), StatusCode::kInvalidArgument);
  RunFinish dup = ok;
  dup.targets.push_back(NamedTarget("a"));
  Status s = ValidateRunFinish(9, dup);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "run 9 reports target a twice; report each target once");
}

TEST(TruncateToMillisTest, DropsSubMillisecondDigits) {
  // 1000.999999 ms after the epoch → 1000 ms.
  TimePoint t =
      FromUnixMillis(1000) + std::chrono::microseconds(999) + std::chrono::nanoseconds(999);
  EXPECT_EQ(ToUnixMillis(TruncateToMillis(t)), 1000);
  EXPECT_EQ(TruncateToMillis(t), FromUnixMillis(1000));
}

}  // namespace
}  // namespace lakesync::db
