#include "common/duration.h"

#include <gtest/gtest.h>

namespace lakesync {
namespace {

TEST(DurationTest, ParsesEveryUnit) {
  EXPECT_EQ(*ParseDuration("500ms"), Duration(500));
  EXPECT_EQ(*ParseDuration("30s"), Duration(30'000));
  EXPECT_EQ(*ParseDuration("5m"), Duration(300'000));
  EXPECT_EQ(*ParseDuration("2h"), Duration(7'200'000));
  EXPECT_EQ(*ParseDuration("7d"), Duration(604'800'000));
  EXPECT_EQ(*ParseDuration("1h30m"), Duration(5'400'000));
  EXPECT_EQ(*ParseDuration("0s"), Duration(0));
}

TEST(DurationTest, RejectsBadInputWithAdvice) {
  for (const char* bad : {"", "5", "5x", "m", "-5s", "5 s", "1.5h", "99999999999999999999d"}) {
    auto r = ParseDuration(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find("for example 500ms, 30s, 5m, 2h, 7d"), std::string::npos)
        << r.status().message();
  }
  EXPECT_NE(ParseDuration("5x").status().message().find("unknown unit \"x\""), std::string::npos);
}

TEST(DurationTest, FormatsShortestExactForm) {
  EXPECT_EQ(FormatDuration(Duration(0)), "0s");
  EXPECT_EQ(FormatDuration(Duration(90'000)), "1m30s");
  EXPECT_EQ(FormatDuration(Duration(86'400'000 + 1)), "1d1ms");
  EXPECT_EQ(FormatDuration(Duration(500)), "500ms");
}

TEST(TimestampTest, ParsesFormsAgainstHandWorkedEpochs) {
  // 2026-11-22T02:00:00Z: 1970..2025 is 56 years with 14 leap days,
  // 56*365+14 = 20454 days to 2026-01-01, +325 days to Nov 22 = 20779 → 20779*86400+7200 s.
  EXPECT_EQ(ToUnixMillis(*ParseTimestamp("2026-11-22T02:00:00Z")), (20779LL * 86400 + 7200) * 1000);
  EXPECT_EQ(ToUnixMillis(*ParseTimestamp("1970-01-01")), 0);
  EXPECT_EQ(ToUnixMillis(*ParseTimestamp("1970-01-01T00:00:01.5Z")), 1500);
  EXPECT_EQ(ToUnixMillis(*ParseTimestamp("1970-01-01T01:00:00+01:00")), 0);
  EXPECT_EQ(ToUnixMillis(*ParseTimestamp("1970-01-01 00:00:00")), 0);
  // Leap day 2024-02-29 = 19782 days after the epoch.
  EXPECT_EQ(ToUnixMillis(*ParseTimestamp("2024-02-29T00:00:00Z")), 19782LL * 86400 * 1000);
}

TEST(TimestampTest, RejectsImpossibleDates) {
  EXPECT_FALSE(ParseTimestamp("2023-02-29").ok());
  EXPECT_FALSE(ParseTimestamp("2026-13-01").ok());
  EXPECT_FALSE(ParseTimestamp("2026-11-22T25:00:00Z").ok());
  EXPECT_FALSE(ParseTimestamp("yesterday").ok());
  EXPECT_FALSE(ParseTimestamp("2026-11-22T02:00:00Zjunk").ok());
  // Outside what a TimePoint holds (found by runner_config_fuzz: the year 1014 overflowed).
  EXPECT_NE(ParseTimestamp("1014-01-01").status().message().find("year out of range"),
            std::string::npos)
      << ParseTimestamp("1014-01-01").status().message();
  EXPECT_FALSE(ParseTimestamp("2263-01-01").ok());
  EXPECT_TRUE(ParseTimestamp("1678-01-01T00:00:00Z").ok());
}

TEST(ClockTest, FromUnixMillisSaturatesInsteadOfOverflowing) {
  EXPECT_EQ(FromUnixMillis(INT64_MAX), FromUnixMillis(INT64_MAX - 1));
  EXPECT_EQ(FromUnixMillis(INT64_MIN), FromUnixMillis(INT64_MIN + 1));
  EXPECT_LT(FromUnixMillis(INT64_MIN), FromUnixMillis(0));
  EXPECT_EQ(ToUnixMillis(FromUnixMillis(1764000000000)), 1764000000000);
}

TEST(TimestampTest, FormatRoundTrips) {
  EXPECT_EQ(FormatTimestamp(FromUnixMillis(0)), "1970-01-01T00:00:00Z");
  EXPECT_EQ(FormatTimestamp(FromUnixMillis(19782LL * 86400 * 1000 + 123)),
            "2024-02-29T00:00:00.123Z");
  for (const char* t :
       {"2026-11-22T02:00:00Z", "2000-02-29T23:59:59.999Z", "1969-12-31T23:59:59Z"}) {
    EXPECT_EQ(FormatTimestamp(*ParseTimestamp(t)), t);
  }
}

}  // namespace
}  // namespace lakesync
