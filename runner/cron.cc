#include "runner/cron.h"

#include <algorithm>
#include <bitset>
#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <optional>
#include <sstream>
#include <vector>

namespace lakesync::runner {
namespace {

// ---- Civil-date arithmetic (proleptic Gregorian; Howard Hinnant's algorithms). ----

int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

int64_t DaysFromCivil(int64_t y, int m, int d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

struct Civil {
  int64_t y;
  int m;
  int d;
};

Civil CivilFromDays(int64_t z) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int d = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  const int m = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  return {yoe + era * 400 + (m <= 2), m, d};
}

bool IsLeap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int DaysInMonth(int64_t y, int m) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeap(y) ? 29 : kDays[m - 1];
}

// 0 = Sunday. 1970-01-01 was a Thursday.
int Weekday(int64_t days) { return static_cast<int>(((days % 7) + 11) % 7); }

}  // namespace

namespace cron_detail {

// ---- Time zones: TZif files (RFC 8536) plus the POSIX TZ footer for times past the table. ----

// A POSIX TZ rule such as "EST5EDT,M3.2.0,M11.1.0". Offsets are seconds east of UTC.
struct PosixRule {
  struct Date {
    enum Kind { kJulian1, kJulian0, kMonthWeek } kind = kMonthWeek;
    int n = 0, month = 0, week = 0, day = 0;
  };
  int64_t std_off = 0;
  bool has_dst = false;
  int64_t dst_off = 0;
  Date start, end;
  int64_t start_time = 7200, end_time = 7200;  // local wall time of the change

  // Day of year (0-based) of `date` in year y.
  static int64_t DayOfYear(const Date& date, int64_t y) {
    switch (date.kind) {
      case Date::kJulian1:
        return date.n - 1 + (IsLeap(y) && date.n >= 60 ? 1 : 0);
      case Date::kJulian0:
        return date.n;
      case Date::kMonthWeek: {
        int64_t first = DaysFromCivil(y, date.month, 1);
        int day = 1 + (date.day - Weekday(first) + 7) % 7 + (date.week - 1) * 7;
        while (day > DaysInMonth(y, date.month)) day -= 7;
        return first + day - 1 - DaysFromCivil(y, 1, 1);
      }
    }
    return 0;
  }

  int64_t OffsetAt(int64_t utc) const {
    if (!has_dst) return std_off;
    int64_t y = CivilFromDays(FloorDiv(utc + std_off, 86400)).y;
    int64_t jan1 = DaysFromCivil(y, 1, 1);
    int64_t s = (jan1 + DayOfYear(start, y)) * 86400 + start_time - std_off;
    int64_t e = (jan1 + DayOfYear(end, y)) * 86400 + end_time - dst_off;
    bool dst = s < e ? (utc >= s && utc < e) : !(utc >= e && utc < s);
    return dst ? dst_off : std_off;
  }
};

class PosixParser {
 public:
  explicit PosixParser(std::string_view s) : s_(s) {}

  std::optional<PosixRule> Parse() {
    PosixRule r;
    if (!Name()) return std::nullopt;
    auto off = Offset();
    if (!off) return std::nullopt;
    r.std_off = -*off;
    if (Done()) return r;
    if (!Name()) return std::nullopt;
    r.has_dst = true;
    r.dst_off = r.std_off + 3600;
    if (!Done() && s_[i_] != ',') {
      auto d = Offset();
      if (!d) return std::nullopt;
      r.dst_off = -*d;
    }
    if (Done()) {
      // No rule given: POSIX says implementation-defined; use the current US rule as glibc does.
      r.start = {PosixRule::Date::kMonthWeek, 0, 3, 2, 0};
      r.end = {PosixRule::Date::kMonthWeek, 0, 11, 1, 0};
      return r;
    }
    if (s_[i_++] != ',' || !DateTime(r.start, r.start_time)) return std::nullopt;
    if (Done() || s_[i_++] != ',' || !DateTime(r.end, r.end_time)) return std::nullopt;
    if (!Done()) return std::nullopt;
    return r;
  }

 private:
  bool Done() const { return i_ >= s_.size(); }

  bool Name() {
    if (Done()) return false;
    if (s_[i_] == '<') {
      size_t close = s_.find('>', i_);
      if (close == std::string_view::npos) return false;
      i_ = close + 1;
      return true;
    }
    size_t start = i_;
    while (!Done() && std::isalpha(static_cast<unsigned char>(s_[i_]))) ++i_;
    return i_ - start >= 3;
  }

  std::optional<int64_t> Number() {
    size_t start = i_;
    int64_t v = 0;
    while (!Done() && std::isdigit(static_cast<unsigned char>(s_[i_])))
      v = v * 10 + (s_[i_++] - '0');
    if (i_ == start) return std::nullopt;
    return v;
  }

  // [+-]hh[:mm[:ss]] in seconds (sign as written).
  std::optional<int64_t> Offset() {
    int64_t sign = 1;
    if (!Done() && (s_[i_] == '+' || s_[i_] == '-')) sign = s_[i_++] == '-' ? -1 : 1;
    auto h = Number();
    if (!h) return std::nullopt;
    int64_t total = *h * 3600;
    for (int64_t scale : {60, 1}) {
      if (Done() || s_[i_] != ':') break;
      ++i_;
      auto part = Number();
      if (!part) return std::nullopt;
      total += *part * scale;
    }
    return sign * total;
  }

  bool DateTime(PosixRule::Date& date, int64_t& time) {
    if (Done()) return false;
    if (s_[i_] == 'M') {
      ++i_;
      auto m = Number();
      if (!m || Done() || s_[i_++] != '.') return false;
      auto w = Number();
      if (!w || Done() || s_[i_++] != '.') return false;
      auto d = Number();
      if (!d || *m < 1 || *m > 12 || *w < 1 || *w > 5 || *d > 6) return false;
      date = {PosixRule::Date::kMonthWeek, 0, static_cast<int>(*m), static_cast<int>(*w),
              static_cast<int>(*d)};
    } else {
      bool julian1 = s_[i_] == 'J';
      if (julian1) ++i_;
      auto n = Number();
      if (!n || *n > 365) return false;
      date.kind = julian1 ? PosixRule::Date::kJulian1 : PosixRule::Date::kJulian0;
      date.n = static_cast<int>(*n);
    }
    if (!Done() && s_[i_] == '/') {
      ++i_;
      auto t = Offset();
      if (!t) return false;
      time = *t;
    }
    return true;
  }

  std::string_view s_;
  size_t i_ = 0;
};

class TimeZone {
 public:
  static Result<std::shared_ptr<const TimeZone>> Load(std::string_view name);

  // Seconds east of UTC in effect at the UTC instant `utc` (seconds since the epoch).
  int64_t OffsetAt(int64_t utc) const {
    if (transitions_.empty() || utc >= transitions_.back()) {
      if (footer_) return footer_->OffsetAt(utc);
      if (transitions_.empty()) return initial_offset_;
    }
    if (utc < transitions_.front()) return initial_offset_;
    auto it = std::upper_bound(transitions_.begin(), transitions_.end(), utc);
    return offsets_[static_cast<size_t>(it - transitions_.begin()) - 1];
  }

 private:
  std::vector<int64_t> transitions_;  // ascending UTC seconds
  std::vector<int64_t> offsets_;      // offset in effect from the matching transition on
  int64_t initial_offset_ = 0;
  std::optional<PosixRule> footer_;
};

namespace {

uint32_t ReadU32(const std::string& b, size_t at) {
  return (static_cast<uint32_t>(static_cast<unsigned char>(b[at])) << 24) |
         (static_cast<uint32_t>(static_cast<unsigned char>(b[at + 1])) << 16) |
         (static_cast<uint32_t>(static_cast<unsigned char>(b[at + 2])) << 8) |
         static_cast<uint32_t>(static_cast<unsigned char>(b[at + 3]));
}

int64_t ReadI64(const std::string& b, size_t at) {
  return static_cast<int64_t>((static_cast<uint64_t>(ReadU32(b, at)) << 32) | ReadU32(b, at + 4));
}

bool ValidZoneName(std::string_view name) {
  if (name.empty() || name.front() == '/' || name.find("..") != std::string_view::npos) {
    return false;
  }
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '/' || c == '_' || c == '-' ||
           c == '+';
  });
}

Status UnknownZone(std::string_view name, std::string_view why) {
  return Status::InvalidArgument("unknown time zone \"" + std::string(name) + "\" (" +
                                 std::string(why) +
                                 "); write an IANA zone name such as UTC, Europe/Berlin or "
                                 "America/New_York");
}

}  // namespace

Result<std::shared_ptr<const TimeZone>> TimeZone::Load(std::string_view name) {
  if (!ValidZoneName(name)) return UnknownZone(name, "not a zone name");
  // getenv is read at parse time only; evaluation never touches the environment.
  const char* dir = std::getenv("TZDIR");
  std::string path = std::string(dir != nullptr && *dir != '\0' ? dir : "/usr/share/zoneinfo") +
                     "/" + std::string(name);
  std::ifstream in(path, std::ios::binary);
  if (!in) return UnknownZone(name, "not in the time zone database");
  std::string b((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (b.size() < 44 || b.compare(0, 4, "TZif") != 0) {
    return UnknownZone(name, "not a TZif file");
  }
  auto corrupt = [&] { return UnknownZone(name, "its TZif file is truncated"); };
  auto counts = [&](size_t at, uint32_t c[6]) {
    for (int k = 0; k < 6; ++k) c[k] = ReadU32(b, at + 20 + 4 * static_cast<size_t>(k));
  };
  // Counts: isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt.
  uint32_t c[6];
  counts(0, c);
  size_t at = 44;
  int time_size = 4;
  if (b[4] >= '2') {
    // Skip the 32-bit block; the 64-bit one that follows covers all times.
    at += c[3] * 5ull + c[4] * 6ull + c[5] + c[2] * 8ull + c[1] + c[0];
    if (b.size() < at + 44) return corrupt();
    counts(at, c);
    at += 44;
    time_size = 8;
  }
  const size_t timecnt = c[3], typecnt = c[4];
  size_t need =
      timecnt * (time_size + 1) + typecnt * 6 + c[5] + c[2] * (time_size + 4ull) + c[1] + c[0];
  if (typecnt == 0 || b.size() < at + need) return corrupt();
  auto zone = std::make_shared<TimeZone>();
  std::vector<int64_t> type_offsets(typecnt);
  size_t types_at = at + timecnt * (time_size + 1);
  for (size_t k = 0; k < typecnt; ++k) {
    type_offsets[k] = static_cast<int32_t>(ReadU32(b, types_at + 6 * k));
  }
  zone->initial_offset_ = type_offsets[0];
  for (size_t k = 0; k < timecnt; ++k) {
    int64_t t =
        time_size == 8 ? ReadI64(b, at + 8 * k) : static_cast<int32_t>(ReadU32(b, at + 4 * k));
    size_t type = static_cast<unsigned char>(b[at + timecnt * time_size + k]);
    if (type >= typecnt) return corrupt();
    zone->transitions_.push_back(t);
    zone->offsets_.push_back(type_offsets[type]);
  }
  if (time_size == 8) {
    size_t footer = at + need;
    if (footer < b.size() && b[footer] == '\n') {
      size_t end = b.find('\n', footer + 1);
      if (end != std::string::npos && end > footer + 1) {
        zone->footer_ =
            PosixParser(std::string_view(b).substr(footer + 1, end - footer - 1)).Parse();
      }
    }
  }
  return std::shared_ptr<const TimeZone>(std::move(zone));
}

// ---- Parsed fields. ----

struct Fields {
  std::bitset<60> minutes;
  std::bitset<24> hours;
  std::bitset<32> days;     // 1..31
  std::bitset<13> months;   // 1..12
  std::bitset<7> weekdays;  // 0..6, Sunday = 0
  bool dom_star = false;    // text starts with '*' (Vixie's DOM_STAR)
  bool dow_star = false;

  bool DayMatches(int64_t y, int m, int d) const {
    bool dom = days[static_cast<size_t>(d)];
    bool dow = weekdays[static_cast<size_t>(Weekday(DaysFromCivil(y, m, d)))];
    if (!dom_star && !dow_star) return dom || dow;
    return dom && dow;
  }
};

}  // namespace cron_detail

namespace {

using cron_detail::Fields;
using cron_detail::TimeZone;

struct FieldSpec {
  const char* name;
  int min;
  int max;
  const char* const* names;  // optional three-letter names
  int name_base;             // the value of names[0]
  int name_count;
};

constexpr const char* kMonthNames[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                       "jul", "aug", "sep", "oct", "nov", "dec"};
constexpr const char* kDayNames[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

constexpr FieldSpec kSpecs[5] = {
    {"minute", 0, 59, nullptr, 0, 0},       {"hour", 0, 23, nullptr, 0, 0},
    {"day-of-month", 1, 31, nullptr, 0, 0}, {"month", 1, 12, kMonthNames, 1, 12},
    {"day-of-week", 0, 7, kDayNames, 0, 7},
};

// A value: a number within range or (month / day-of-week) a three-letter name.
std::optional<std::string> ParseValue(const FieldSpec& spec, std::string_view text, int& out) {
  if (text.empty()) return std::string("a value is missing");
  if (std::isdigit(static_cast<unsigned char>(text[0]))) {
    int v = 0;
    for (char ch : text) {
      if (!std::isdigit(static_cast<unsigned char>(ch))) {
        return "\"" + std::string(text) + "\" is not a number";
      }
      v = v * 10 + (ch - '0');
      if (v > 1000) break;
    }
    if (v < spec.min || v > spec.max) {
      return "value " + std::string(text) + " is out of range; write " + std::to_string(spec.min) +
             "-" + std::to_string(spec.max);
    }
    out = v;
    return std::nullopt;
  }
  for (int k = 0; k < spec.name_count; ++k) {
    std::string_view name = spec.names[k];
    if (text.size() == name.size() &&
        std::equal(text.begin(), text.end(), name.begin(), [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) == b;
        })) {
      out = spec.name_base + k;
      return std::nullopt;
    }
  }
  std::string msg = "\"" + std::string(text) + "\" is not a number";
  if (spec.names != nullptr) {
    msg += " or a name (" + std::string(spec.names[0]) + ".." +
           std::string(spec.names[spec.name_count - 1]) + ")";
  }
  msg += "; write " + std::to_string(spec.min) + "-" + std::to_string(spec.max);
  return msg;
}

// Returns the set bits (indices are values) or an error sentence.
std::optional<std::string> ParseField(const FieldSpec& spec, std::string_view text,
                                      std::bitset<64>& bits) {
  size_t i = 0;
  while (i <= text.size()) {
    size_t comma = text.find(',', i);
    if (comma == std::string_view::npos) comma = text.size();
    std::string_view elem = text.substr(i, comma - i);
    i = comma + 1;
    if (elem.empty()) return std::string("empty list element; write values separated by commas");
    std::string_view base = elem;
    int step = 1;
    bool has_step = false;
    if (size_t slash = elem.find('/'); slash != std::string_view::npos) {
      base = elem.substr(0, slash);
      std::string_view step_text = elem.substr(slash + 1);
      if (step_text.empty() || !std::all_of(step_text.begin(), step_text.end(), [](char ch) {
            return std::isdigit(static_cast<unsigned char>(ch));
          })) {
        return "step \"" + std::string(step_text) + "\" is not a number";
      }
      step = step_text.size() > 4 ? 10000 : std::atoi(std::string(step_text).c_str());
      if (step < 1) return std::string("step must be at least 1");
      if (step > spec.max) {
        return "step " + std::string(step_text) + " is larger than the field's maximum " +
               std::to_string(spec.max);
      }
      has_step = true;
    }
    int lo, hi;
    if (base == "*") {
      lo = spec.min;
      hi = spec.max;
    } else if (size_t dash = base.find('-'); dash != std::string_view::npos) {
      if (auto err = ParseValue(spec, base.substr(0, dash), lo)) return err;
      if (auto err = ParseValue(spec, base.substr(dash + 1), hi)) return err;
      if (lo > hi) {
        return "range " + std::string(base) + " runs backwards; write the smaller value first";
      }
    } else {
      if (auto err = ParseValue(spec, base, lo)) return err;
      hi = has_step ? spec.max : lo;
    }
    for (int v = lo; v <= hi; v += step) bits.set(static_cast<size_t>(v));
  }
  return std::nullopt;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::string ExpandMacro(std::string_view text) {
  std::string lower;
  for (char ch : text) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (lower == "@hourly") return "0 * * * *";
  if (lower == "@daily" || lower == "@midnight") return "0 0 * * *";
  if (lower == "@weekly") return "0 0 * * 0";
  if (lower == "@monthly") return "0 0 1 * *";
  if (lower == "@yearly" || lower == "@annually") return "0 0 1 1 *";
  return "";
}

}  // namespace

Status CheckTimeZone(std::string_view name) {
  if (name == "UTC") return Status::OK();
  LAKESYNC_ASSIGN_OR_RETURN(auto zone, TimeZone::Load(name));
  (void)zone;
  return Status::OK();
}

CronExpr::CronExpr() = default;

Result<CronExpr> CronExpr::Parse(std::string_view expr, std::string_view timezone) {
  std::string_view text = Trim(expr);
  auto fail = [&](const std::string& why) {
    return Status::InvalidArgument("cron \"" + std::string(text) + "\": " + why);
  };
  std::string expanded(text);
  if (!text.empty() && text[0] == '@') {
    expanded = ExpandMacro(text);
    if (expanded.empty()) {
      return fail(
          "unknown macro; write @hourly, @daily, @weekly, @monthly or @yearly, or five "
          "fields");
    }
  }
  std::vector<std::string> parts;
  {
    std::istringstream in(expanded);
    std::string part;
    while (in >> part) parts.push_back(part);
  }
  if (parts.size() != 5) {
    return fail("expected 5 fields (minute hour day-of-month month day-of-week) but found " +
                std::to_string(parts.size()) + "; write for example \"*/15 * * * *\" or @daily");
  }
  auto fields = std::make_shared<Fields>();
  std::bitset<64> bits[5];
  for (int k = 0; k < 5; ++k) {
    if (auto err = ParseField(kSpecs[k], parts[static_cast<size_t>(k)], bits[k])) {
      return fail(std::string(kSpecs[k].name) + " field: " + *err);
    }
  }
  for (size_t v = 0; v < 60; ++v) fields->minutes[v] = bits[0][v];
  for (size_t v = 0; v < 24; ++v) fields->hours[v] = bits[1][v];
  for (size_t v = 1; v <= 31; ++v) fields->days[v] = bits[2][v];
  for (size_t v = 1; v <= 12; ++v) fields->months[v] = bits[3][v];
  for (size_t v = 0; v < 7; ++v) fields->weekdays[v] = bits[4][v];
  if (bits[4][7]) fields->weekdays[0] = true;  // 7 is Sunday too
  fields->dom_star = parts[2][0] == '*';
  fields->dow_star = parts[4][0] == '*';

  // When days are matched by day-of-month alone (AND with an all-inclusive or star day-of-week),
  // a month/day combination that no calendar has would make NextAfter search forever.
  if (fields->dom_star || fields->dow_star) {
    bool possible = false;
    for (int m = 1; m <= 12 && !possible; ++m) {
      if (!fields->months[static_cast<size_t>(m)]) continue;
      int max_day = m == 2 ? 29 : DaysInMonth(2001, m);
      for (int d = 1; d <= max_day && !possible; ++d)
        possible = fields->days[static_cast<size_t>(d)];
    }
    if (!possible) {
      return fail(
          "can never fire: no selected month has the selected day of the month; check the "
          "day-of-month and month fields");
    }
  }

  CronExpr out;
  out.text_ = std::string(text);
  out.timezone_ = std::string(timezone);
  out.fields_ = std::move(fields);
  if (timezone != "UTC") {
    auto zone = TimeZone::Load(timezone);
    if (!zone.ok()) return zone.status().WithContext("cron \"" + std::string(text) + "\"");
    out.zone_ = std::move(zone).value();
  }
  return out;
}

TimePoint CronExpr::NextAfter(TimePoint after) const {
  if (fields_ == nullptr) return TimePoint::max();
  const Fields& f = *fields_;
  const int64_t after_s = FloorDiv(
      std::chrono::duration_cast<std::chrono::milliseconds>(after.time_since_epoch()).count(),
      1000);
  // TimePoint counts nanoseconds in 64 bits: it ends in the year 2262.
  static const int64_t kMaxSeconds =
      std::chrono::duration_cast<std::chrono::seconds>(TimePoint::max().time_since_epoch()).count();
  auto offset_at = [&](int64_t utc) { return zone_ ? zone_->OffsetAt(utc) : int64_t{0}; };

  // The earliest UTC instant showing wall time `local`, or nullopt in a DST gap. Every instant
  // that can show `local` lies within ±25h of it; sampling the offsets at both ends and the middle
  // finds the offsets on either side of any transition in that window.
  auto first_utc_for = [&](int64_t local) -> std::optional<int64_t> {
    if (!zone_) return local;
    std::optional<int64_t> best;
    for (int64_t probe : {local - 90000, local, local + 90000}) {
      int64_t off = offset_at(probe);
      int64_t u = local - off;
      if (offset_at(u) == off && (!best || u < *best)) best = u;
    }
    return best;
  };

  // For a wall time inside a DST gap: the instant the clocks jump (the gap's end), when the
  // job fires instead — a nightly job at 02:30 is not skipped on the night 02:00 becomes 03:00.
  // Several skipped times (every 15 minutes) all fire there, once.
  auto gap_end_for = [&](int64_t local) -> std::optional<int64_t> {
    if (!zone_) return std::nullopt;
    const int64_t before = offset_at(local - 90000), after_gap = offset_at(local + 90000);
    if (after_gap <= before) return std::nullopt;
    int64_t lo = local - after_gap, hi = local - before;  // before and after the jump
    if (offset_at(lo) != before || offset_at(hi) != after_gap) return std::nullopt;
    while (lo + 1 < hi) {
      const int64_t mid = lo + (hi - lo) / 2;
      (offset_at(mid) == after_gap ? hi : lo) = mid;
    }
    return hi;
  };

  // Search wall-clock times from the minute after `after` (on the zone's clock). A candidate
  // whose first occurrence is not after `after` (inside a repeated hour) is skipped, so a
  // repeated wall time fires once.
  int64_t start = (FloorDiv(after_s + offset_at(after_s), 60) + 1) * 60;
  Civil c = CivilFromDays(FloorDiv(start, 86400));
  int64_t y = c.y;
  int mo = c.m, d = c.d;
  int64_t sod = start - FloorDiv(start, 86400) * 86400;
  int h = static_cast<int>(sod / 3600), mi = static_cast<int>(sod % 3600 / 60);
  const int64_t last_year = y + 401;  // Feb 29 on a given weekday recurs well within this

  auto next_day = [&] {
    ++d;
    h = 0;
    mi = 0;
  };
  while (y <= last_year) {
    if (!f.months[static_cast<size_t>(mo)] || d > DaysInMonth(y, mo)) {
      if (++mo > 12) {
        mo = 1;
        ++y;
      }
      d = 1;
      h = 0;
      mi = 0;
      continue;
    }
    if (!f.DayMatches(y, mo, d)) {
      next_day();
      continue;
    }
    if (!f.hours[static_cast<size_t>(h)]) {
      while (h < 24 && !f.hours[static_cast<size_t>(h)]) ++h;
      mi = 0;
      if (h == 24) next_day();
      continue;
    }
    if (!f.minutes[static_cast<size_t>(mi)]) {
      while (mi < 60 && !f.minutes[static_cast<size_t>(mi)]) ++mi;
      if (mi == 60) {
        mi = 0;
        if (++h == 24) next_day();
      }
      continue;
    }
    int64_t local = DaysFromCivil(y, mo, d) * 86400 + h * 3600 + mi * 60;
    std::optional<int64_t> u = first_utc_for(local);
    if (!u) u = gap_end_for(local);
    if (u && *u > after_s) {
      if (*u > kMaxSeconds) return TimePoint::max();
      return TimePoint(std::chrono::seconds(*u));
    }
    if (++mi == 60) {
      mi = 0;
      if (++h == 24) next_day();
    }
  }
  return TimePoint::max();
}

Duration CronExpr::LongestGapAfter(TimePoint after) const {
  if (empty()) return Duration::zero();
  const TimePoint short_horizon = after + std::chrono::hours(24 * 8);
  const TimePoint long_horizon = after + std::chrono::hours(24 * 400);
  Duration longest = Duration::zero();
  TimePoint prev = NextAfter(after);
  for (int fires = 1; fires < 20000 && prev < long_horizon; ++fires) {
    if (prev >= short_horizon && fires >= 3) break;
    const TimePoint next = NextAfter(prev);
    if (next == TimePoint::max()) break;
    longest = std::max(longest, std::chrono::duration_cast<Duration>(next - prev));
    prev = next;
  }
  return longest;
}

}  // namespace lakesync::runner
