#pragma once

// Cron expressions evaluated in an IANA time zone.
//
// Syntax: five fields, "minute hour day-of-month month day-of-week", each `*`, a number, a
// range `1-5`, a list `1,5,10-12`, or a step `*/15`, `10-50/20`, `5/10` (from 5 to the field's
// maximum). Months may be written jan..dec and days sun..sat (case-insensitive); day-of-week
// accepts 0-7 with both 0 and 7 meaning Sunday. The macros @hourly, @daily (= @midnight),
// @weekly, @monthly, @yearly (= @annually) are accepted.
//
// Day matching follows Vixie cron: when both day-of-month and day-of-week are restricted (their
// text does not start with `*`), a day matches if EITHER matches; otherwise both must match.
//
// Time zones: times are evaluated on the wall clock of the named zone, read from the system
// time zone database (TZDIR or /usr/share/zoneinfo) when the expression is parsed. A wall time
// that does not exist (skipped by a DST change) fires when the clocks jump past it (once, however
// many skipped times match); a wall time that occurs twice (clocks turned back) fires once, at
// its first occurrence.
//
// Thread-safety: CronExpr is an immutable value; NextAfter may be called from any thread.

#include <memory>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/duration.h"
#include "common/status.h"

namespace lakesync::runner {

namespace cron_detail {
struct Fields;
class TimeZone;
}  // namespace cron_detail

class CronExpr {
 public:
  // An empty expression that never fires: NextAfter returns TimePoint::max(). Exists so that
  // configuration structs can hold a CronExpr by value; real ones come from Parse.
  CronExpr();

  // Errors (InvalidArgument) name the expression and the field and say why, e.g.
  //   cron "*/0 * * * *": minute field: step must be at least 1
  // An unknown time zone, and an expression that can never fire ("0 0 30 2 *"), are errors too.
  [[nodiscard]] static Result<CronExpr> Parse(std::string_view expr,
                                              std::string_view timezone = "UTC");

  // The first fire time strictly after `after` (fire times are whole minutes). A pure function
  // of the expression and the argument. Returns TimePoint::max() only for an empty expression.
  TimePoint NextAfter(TimePoint after) const;

  // The longest wait between two consecutive fires from `after` on, over at least 8 days (a
  // week's pattern: `0 2 * * 1-5` waits 3 days over a weekend) and until three fires were
  // seen, within 400 days and 20,000 fires. Duration::zero() for an empty expression.
  Duration LongestGapAfter(TimePoint after) const;

  // The expression as written (trimmed) and the zone name ("UTC" by default).
  const std::string& text() const { return text_; }
  const std::string& timezone() const { return timezone_; }
  bool empty() const { return fields_ == nullptr; }

 private:
  std::string text_;
  std::string timezone_ = "UTC";
  std::shared_ptr<const cron_detail::Fields> fields_;
  std::shared_ptr<const cron_detail::TimeZone> zone_;  // null = UTC
};

// Whether `name` is a time zone the system database knows ("UTC" always is). For config
// validation messages; CronExpr::Parse performs the same check.
[[nodiscard]] Status CheckTimeZone(std::string_view name);

}  // namespace lakesync::runner
