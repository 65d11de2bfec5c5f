#include "runner/cron.h"

#include <gtest/gtest.h>

#include "common/duration.h"

namespace lakesync::runner {
namespace {

// Calendar facts used below, worked out by hand from 2026-01-01 being a Thursday:
//   2026-01-04 Sunday; 2026-01-30 Friday; 2026-03-01 Sunday (so DST in the US starts on the
//   second Sunday, 2026-03-08); 2026-05-01 Friday (so 2026-05-11 is a Monday); 2026-07-01
//   Wednesday; 2026-11-01 Sunday (US DST ends on the first Sunday of November).

TimePoint T(const char* text) { return ParseTimestamp(text).value(); }

std::string Next(const char* expr, const char* after, const char* tz = "UTC") {
  auto cron = CronExpr::Parse(expr, tz);
  if (!cron.ok()) return "parse error: " + cron.status().message();
  return FormatTimestamp(cron->NextAfter(T(after)));
}

std::string ParseError(const char* expr, const char* tz = "UTC") {
  auto cron = CronExpr::Parse(expr, tz);
  return cron.ok() ? "parsed" : cron.status().message();
}

TEST(CronTest, EveryFifteenMinutesIsStrictlyAfter) {
  EXPECT_EQ(Next("*/15 * * * *", "2026-01-01T00:00:00Z"), "2026-01-01T00:15:00Z");
  EXPECT_EQ(Next("*/15 * * * *", "2026-01-01T00:07:30Z"), "2026-01-01T00:15:00Z");
  EXPECT_EQ(Next("*/15 * * * *", "2026-01-01T00:14:59.999Z"), "2026-01-01T00:15:00Z");
  EXPECT_EQ(Next("*/15 * * * *", "2026-01-01T00:59:00Z"), "2026-01-01T01:00:00Z");
}

// The longest wait between fires (lakesync_schedule_interval_seconds), worked out by hand:
// 02:00 and 03:00 daily wait 23 h after 03:00; weekdays at 02:00 wait Friday → Monday, 72 h
// (2026-01-04, the start, is a Sunday); the 1st of each month waits 31 days after a 31-day
// month; the next two fires alone (the old metric) gave 1 h, 24 h and 31 days.
TEST(CronTest, LongestGapCoversTheWholePattern) {
  auto gap = [](const char* expr) {
    auto cron = CronExpr::Parse(expr);
    EXPECT_TRUE(cron.ok()) << cron.status();
    return std::chrono::duration_cast<std::chrono::minutes>(
               cron->LongestGapAfter(T("2026-01-04T00:00:00Z")))
        .count();
  };
  EXPECT_EQ(gap("0 2,3 * * *"), 23 * 60);
  EXPECT_EQ(gap("0 2 * * 1-5"), 72 * 60);
  EXPECT_EQ(gap("*/15 * * * *"), 15);
  EXPECT_EQ(gap("0 0 1 * *"), 31 * 24 * 60);
  EXPECT_EQ(CronExpr().LongestGapAfter(T("2026-01-04T00:00:00Z")), Duration::zero());
}

TEST(CronTest, RangeWithStepAndLists) {
  // 10-50/20 = minutes 10, 30, 50.
  EXPECT_EQ(Next("10-50/20 * * * *", "2026-01-01T10:10:00Z"), "2026-01-01T10:30:00Z");
  EXPECT_EQ(Next("10-50/20 * * * *", "2026-01-01T10:50:00Z"), "2026-01-01T11:10:00Z");
  // 5/20 = 5, 25, 45 (from 5 to the end of the field).
  EXPECT_EQ(Next("5/20 * * * *", "2026-01-01T10:46:00Z"), "2026-01-01T11:05:00Z");
  // Hours 1,5 and 20-22 at minute 0: after 05:00 comes 20:00.
  EXPECT_EQ(Next("0 1,5,20-22 * * *", "2026-01-01T05:00:00Z"), "2026-01-01T20:00:00Z");
  EXPECT_EQ(Next("0 1,5,20-22 * * *", "2026-01-01T22:00:00Z"), "2026-01-02T01:00:00Z");
}

TEST(CronTest, ThirtyFirstSkipsShortMonths) {
  // February has no 31st, April and June have 30 days; July and August both have 31.
  EXPECT_EQ(Next("0 0 31 * *", "2026-01-31T00:00:00Z"), "2026-03-31T00:00:00Z");
  EXPECT_EQ(Next("0 0 31 * *", "2026-03-31T00:00:00Z"), "2026-05-31T00:00:00Z");
  EXPECT_EQ(Next("0 0 31 * *", "2026-07-31T00:00:00Z"), "2026-08-31T00:00:00Z");
}

TEST(CronTest, LeapDay) {
  // 2028 is the next leap year after 2025; then 2032; 2100 is not a leap year (divisible by
  // 100, not by 400), so after 2096 comes 2104.
  EXPECT_EQ(Next("0 0 29 2 *", "2025-01-01T00:00:00Z"), "2028-02-29T00:00:00Z");
  EXPECT_EQ(Next("0 0 29 2 *", "2028-02-29T00:00:00Z"), "2032-02-29T00:00:00Z");
  EXPECT_EQ(Next("0 0 29 2 *", "2096-03-01T00:00:00Z"), "2104-02-29T00:00:00Z");
}

TEST(CronTest, MonthAndDayNamesAreCaseInsensitive) {
  // Weekdays in January and July at 09:00. After Friday 2026-01-30 10:00 the next weekday in
  // January would be Monday Feb 2 — excluded — so the next is Wednesday 2026-07-01.
  EXPECT_EQ(Next("0 9 * jan,jul mon-fri", "2026-01-30T10:00:00Z"), "2026-07-01T09:00:00Z");
  EXPECT_EQ(Next("0 9 * JAN,Jul MON-Fri", "2026-01-30T10:00:00Z"), "2026-07-01T09:00:00Z");
  // Friday 2026-01-30 itself at 09:00 from just before.
  EXPECT_EQ(Next("0 9 * jan fri", "2026-01-30T08:59:00Z"), "2026-01-30T09:00:00Z");
}

TEST(CronTest, SundayIsZeroAndSeven) {
  // 2026-01-01 is a Thursday; the next Sunday is 2026-01-04.
  EXPECT_EQ(Next("0 0 * * 0", "2026-01-01T00:00:00Z"), "2026-01-04T00:00:00Z");
  EXPECT_EQ(Next("0 0 * * 7", "2026-01-01T00:00:00Z"), "2026-01-04T00:00:00Z");
  EXPECT_EQ(Next("0 0 * * sun", "2026-01-01T00:00:00Z"), "2026-01-04T00:00:00Z");
  // 5-7 = Friday, Saturday, Sunday: from Thursday Jan 1 the next is Friday Jan 2.
  EXPECT_EQ(Next("0 0 * * 5-7", "2026-01-01T00:00:00Z"), "2026-01-02T00:00:00Z");
}

TEST(CronTest, DayOfMonthOrDayOfWeekWhenBothRestricted) {
  // "13th or any Friday": from Thursday Jan 1 the first match is Friday Jan 2.
  EXPECT_EQ(Next("0 0 13 * fri", "2026-01-01T00:00:00Z"), "2026-01-02T00:00:00Z");
  // From Saturday Jan 10: Tuesday Jan 13 (day-of-month) comes before Friday Jan 16.
  EXPECT_EQ(Next("0 0 13 * fri", "2026-01-10T00:00:00Z"), "2026-01-13T00:00:00Z");
  // A day-of-month no month has is fine when day-of-week may match instead.
  EXPECT_EQ(Next("0 0 30 2 mon", "2026-01-31T00:00:00Z"), "2026-02-02T00:00:00Z");
}

TEST(CronTest, DayOfMonthAndDayOfWeekWhenOneStartsWithStar) {
  // Vixie: "*/10" starts with '*', so days 1, 11, 21, 31 that are ALSO Mondays. Working through
  // 2026: Jan 1 Thu, 11 Sun, 21 Wed, 31 Sat; Feb 1 Sun, 11 Wed, 21 Sat; Mar 1 Sun, 11 Wed,
  // 21 Sat, 31 Tue; Apr 1 Wed, 11 Sat, 21 Tue; May 1 Fri, 11 Mon.
  EXPECT_EQ(Next("0 0 */10 * mon", "2026-01-01T00:00:00Z"), "2026-05-11T00:00:00Z");
}

TEST(CronTest, Macros) {
  EXPECT_EQ(Next("@hourly", "2026-01-01T10:30:00Z"), "2026-01-01T11:00:00Z");
  EXPECT_EQ(Next("@daily", "2026-03-05T10:00:00Z"), "2026-03-06T00:00:00Z");
  EXPECT_EQ(Next("@midnight", "2026-03-05T10:00:00Z"), "2026-03-06T00:00:00Z");
  EXPECT_EQ(Next("@weekly", "2026-01-01T00:00:00Z"), "2026-01-04T00:00:00Z");  // Sunday
  EXPECT_EQ(Next("@monthly", "2026-01-15T00:00:00Z"), "2026-02-01T00:00:00Z");
  EXPECT_EQ(Next("@yearly", "2026-06-01T00:00:00Z"), "2027-01-01T00:00:00Z");
  EXPECT_EQ(Next("@ANNUALLY", "2026-06-01T00:00:00Z"), "2027-01-01T00:00:00Z");
}

TEST(CronTest, YearRollover) {
  EXPECT_EQ(Next("30 23 31 12 *", "2026-12-31T23:30:00Z"), "2027-12-31T23:30:00Z");
  EXPECT_EQ(Next("0 0 1 1 *", "2026-12-31T23:59:59Z"), "2027-01-01T00:00:00Z");
  EXPECT_EQ(Next("* * * * *", "2026-12-31T23:59:00Z"), "2027-01-01T00:00:00Z");
}

TEST(CronTest, NamedZoneWithoutDst) {
  // Berlin is UTC+1 in January: 02:00 CET = 01:00 UTC.
  EXPECT_EQ(Next("0 2 * * *", "2026-01-10T00:00:00Z", "Europe/Berlin"), "2026-01-10T01:00:00Z");
  // And UTC+2 in July: 02:00 CEST = 00:00 UTC.
  EXPECT_EQ(Next("0 2 * * *", "2026-07-10T00:00:00Z", "Europe/Berlin"), "2026-07-11T00:00:00Z");
}

TEST(CronTest, NonexistentWallTimeFiresWhenTheClocksJump) {
  // New York springs forward on 2026-03-08 from 02:00 EST to 03:00 EDT: 02:30 does not exist
  // that day. It fires at the jump, 03:00 EDT = 07:00 UTC (before, that day was skipped: a
  // nightly job missed a night). The next 02:30 is 2026-03-09 02:30 EDT = 06:30 UTC.
  EXPECT_EQ(Next("30 2 * * *", "2026-03-07T08:00:00Z", "America/New_York"), "2026-03-08T07:00:00Z");
  EXPECT_EQ(Next("30 2 * * *", "2026-03-08T07:00:00Z", "America/New_York"), "2026-03-09T06:30:00Z");
  // Berlin, 2027-03-28 (the last Sunday of March): 02:00 CET becomes 03:00 CEST at 01:00 UTC.
  EXPECT_EQ(Next("30 2 * * *", "2027-03-27T02:00:00Z", "Europe/Berlin"), "2027-03-28T01:00:00Z");
  // Every 15 minutes: 02:00..02:45 are skipped; one fire at the jump, then 03:15 EDT.
  EXPECT_EQ(Next("*/15 * * * *", "2026-03-08T06:45:00Z", "America/New_York"),
            "2026-03-08T07:00:00Z");
  EXPECT_EQ(Next("*/15 * * * *", "2026-03-08T07:00:00Z", "America/New_York"),
            "2026-03-08T07:15:00Z");
  // Every half hour: after 01:30 EST (06:30 UTC) comes 03:00 EDT (07:00 UTC).
  EXPECT_EQ(Next("*/30 * * * *", "2026-03-08T06:30:00Z", "America/New_York"),
            "2026-03-08T07:00:00Z");
}

TEST(CronTest, RepeatedWallTimeFiresOnce) {
  // New York falls back on 2026-11-01 from 02:00 EDT to 01:00 EST: 01:30 happens twice, at
  // 05:30 UTC (EDT) and 06:30 UTC (EST). It fires at the first only.
  EXPECT_EQ(Next("30 1 * * *", "2026-10-31T12:00:00Z", "America/New_York"), "2026-11-01T05:30:00Z");
  // From the first 01:30 the next is 2026-11-02 01:30 EST = 06:30 UTC.
  EXPECT_EQ(Next("30 1 * * *", "2026-11-01T05:30:00Z", "America/New_York"), "2026-11-02T06:30:00Z");
  // Every half hour: after 01:30 EDT the repeated 01:00 and 01:30 EST are skipped; the next is
  // 02:00 EST = 07:00 UTC.
  EXPECT_EQ(Next("*/30 * * * *", "2026-11-01T05:30:00Z", "America/New_York"),
            "2026-11-01T07:00:00Z");
  // Starting inside the second pass (01:10 EST = 06:10 UTC), 01:30 already fired in the first.
  EXPECT_EQ(Next("30 1 * * *", "2026-11-01T06:10:00Z", "America/New_York"), "2026-11-02T06:30:00Z");
}

TEST(CronTest, ZoneBeyondTheTransitionTableUsesTheRule) {
  // Past 2037 the TZif file's footer rule (EST5EDT,M3.2.0,M11.1.0) applies: noon EDT on
  // 2040-07-01 is 16:00 UTC, noon EST on 2040-01-15 is 17:00 UTC.
  EXPECT_EQ(Next("0 12 1 7 *", "2040-01-01T00:00:00Z", "America/New_York"), "2040-07-01T16:00:00Z");
  EXPECT_EQ(Next("0 12 15 1 *", "2040-01-01T00:00:00Z", "America/New_York"),
            "2040-01-15T17:00:00Z");
}

TEST(CronTest, AccessorsAndEmpty) {
  auto cron = CronExpr::Parse("  */5 * * * *  ", "Europe/Berlin");
  ASSERT_TRUE(cron.ok()) << cron.status();
  EXPECT_EQ(cron->text(), "*/5 * * * *");
  EXPECT_EQ(cron->timezone(), "Europe/Berlin");
  CronExpr empty;
  EXPECT_TRUE(empty.empty());
  EXPECT_EQ(empty.NextAfter(T("2026-01-01T00:00:00Z")), TimePoint::max());
}

TEST(CronTest, ParseErrorsNameTheFieldAndTheReason) {
  EXPECT_EQ(ParseError("*/0 * * * *"),
            "cron \"*/0 * * * *\": minute field: step must be at least 1");
  EXPECT_EQ(ParseError("60 * * * *"),
            "cron \"60 * * * *\": minute field: value 60 is out of range; write 0-59");
  EXPECT_EQ(ParseError("0 24 * * *"),
            "cron \"0 24 * * *\": hour field: value 24 is out of range; write 0-23");
  EXPECT_EQ(ParseError("0 0 0 * *"),
            "cron \"0 0 0 * *\": day-of-month field: value 0 is out of range; write 1-31");
  EXPECT_EQ(ParseError("0 0 * foo *"),
            "cron \"0 0 * foo *\": month field: \"foo\" is not a number or a name (jan..dec); "
            "write 1-12");
  EXPECT_EQ(ParseError("0 0 * * 8"),
            "cron \"0 0 * * 8\": day-of-week field: value 8 is out of range; write 0-7");
  EXPECT_EQ(ParseError("5-1 * * * *"),
            "cron \"5-1 * * * *\": minute field: range 5-1 runs backwards; write the smaller "
            "value first");
  EXPECT_EQ(ParseError("1,,2 * * * *"),
            "cron \"1,,2 * * * *\": minute field: empty list element; write values separated "
            "by commas");
  EXPECT_EQ(ParseError("* * * *"),
            "cron \"* * * *\": expected 5 fields (minute hour day-of-month month day-of-week) "
            "but found 4; write for example \"*/15 * * * *\" or @daily");
  EXPECT_EQ(ParseError("@fortnightly"),
            "cron \"@fortnightly\": unknown macro; write @hourly, @daily, @weekly, @monthly or "
            "@yearly, or five fields");
  EXPECT_EQ(ParseError("0 0 30 2 *"),
            "cron \"0 0 30 2 *\": can never fire: no selected month has the selected day of the "
            "month; check the day-of-month and month fields");
  EXPECT_EQ(ParseError("0 0 31 4,6,9,11 *"),
            "cron \"0 0 31 4,6,9,11 *\": can never fire: no selected month has the selected day "
            "of the month; check the day-of-month and month fields");
}

TEST(CronTest, UnknownTimeZone) {
  std::string err = ParseError("0 * * * *", "Mars/Olympus_Mons");
  EXPECT_NE(err.find("unknown time zone \"Mars/Olympus_Mons\""), std::string::npos) << err;
  EXPECT_NE(err.find("Europe/Berlin"), std::string::npos) << err;  // says what to write
  EXPECT_NE(ParseError("0 * * * *", "../etc/passwd").find("unknown time zone"), std::string::npos);
  EXPECT_TRUE(CheckTimeZone("UTC").ok());
  EXPECT_TRUE(CheckTimeZone("America/New_York").ok());
  EXPECT_FALSE(CheckTimeZone("Nowhere/Special").ok());
}

TEST(CronTest, FarSearchesAreFast) {
  // Feb 29 on a Monday AND (dom starts with '*' so AND): "*/29" = days 1 and 29 — any month's
  // 1st that is a Monday in February, i.e. found within a few years; the important part is that
  // this returns at all without scanning minute by minute. 2027-02-01 is a Monday (2026-02-01
  // Sunday + 365 days = +1 weekday).
  EXPECT_EQ(Next("0 0 */29 2 mon", "2026-03-01T00:00:00Z"), "2027-02-01T00:00:00Z");
  // Past what a TimePoint can hold (year 2262) the answer is TimePoint::max(), not garbage.
  EXPECT_EQ(CronExpr::Parse("0 0 1 1 *")->NextAfter(T("2262-01-02T00:00:00Z")), TimePoint::max());
  // 40 consecutive evaluations of a leap-day expression stay fast (each skips by month).
  auto cron = CronExpr::Parse("59 23 29 2 *").value();
  TimePoint t = T("2000-01-01T00:00:00Z");
  for (int i = 0; i < 40; ++i) t = cron.NextAfter(t);
  // 2000..2096 holds 25 leap years (every multiple of 4; 2000 is divisible by 400); 2100 is not
  // one, so the 26th is 2104 and the 40th is 2104 + 14 * 4 = 2160.
  EXPECT_EQ(FormatTimestamp(t), "2160-02-29T23:59:00Z");
}

}  // namespace
}  // namespace lakesync::runner
