#include "common/duration.h"

#include <cctype>
#include <charconv>
#include <cstdint>
#include <limits>

namespace lakesync {
namespace {

constexpr std::string_view kDurationHelp =
    "write a number followed by a unit: ms, s, m, h or d (for example 500ms, 30s, 5m, 2h, 7d, "
    "1h30m)";

Status BadDuration(std::string_view text, std::string_view why) {
  return Status::InvalidArgument("invalid duration \"" + std::string(text) +
                                 "\": " + std::string(why) + "; " + std::string(kDurationHelp));
}

}  // namespace

Result<Duration> ParseDuration(std::string_view text) {
  if (text.empty()) return BadDuration(text, "it is empty");
  size_t i = 0;
  int64_t total_ms = 0;
  while (i < text.size()) {
    size_t start = i;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
    if (i == start) {
      if (text[i] == '-') return BadDuration(text, "it is negative");
      return BadDuration(text, "expected a number at \"" + std::string(text.substr(start)) + "\"");
    }
    int64_t n = 0;
    auto [ptr, ec] = std::from_chars(text.data() + start, text.data() + i, n);
    if (ec != std::errc() || ptr != text.data() + i) return BadDuration(text, "number too large");
    size_t unit_start = i;
    while (i < text.size() && std::isalpha(static_cast<unsigned char>(text[i]))) ++i;
    std::string_view unit = text.substr(unit_start, i - unit_start);
    int64_t scale;
    if (unit == "ms")
      scale = 1;
    else if (unit == "s")
      scale = 1000;
    else if (unit == "m")
      scale = 60'000;
    else if (unit == "h")
      scale = 3'600'000;
    else if (unit == "d")
      scale = 86'400'000;
    else if (unit.empty())
      return BadDuration(text, "a unit is missing after " + std::to_string(n));
    else
      return BadDuration(text, "unknown unit \"" + std::string(unit) + "\"");
    if (n > std::numeric_limits<int64_t>::max() / scale ||
        total_ms > std::numeric_limits<int64_t>::max() - n * scale) {
      return BadDuration(text, "it is too long");
    }
    total_ms += n * scale;
  }
  return Duration(total_ms);
}

std::string FormatDuration(Duration d) {
  int64_t ms = d.count();
  if (ms == 0) return "0s";
  std::string out;
  if (ms < 0) {
    out = "-";
    ms = -ms;
  }
  struct Unit {
    int64_t scale;
    const char* name;
  };
  static constexpr Unit kUnits[] = {
      {86'400'000, "d"}, {3'600'000, "h"}, {60'000, "m"}, {1000, "s"}, {1, "ms"}};
  for (const auto& u : kUnits) {
    if (ms >= u.scale) {
      out += std::to_string(ms / u.scale);
      out += u.name;
      ms %= u.scale;
    }
  }
  return out;
}

namespace {

bool ReadInt(std::string_view s, size_t& i, size_t digits, int& out) {
  if (i + digits > s.size()) return false;
  int v = 0;
  for (size_t k = 0; k < digits; ++k) {
    char c = s[i + k];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  i += digits;
  out = v;
  return true;
}

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
int64_t DaysFromCivil(int y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

}  // namespace

Result<TimePoint> ParseTimestamp(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return Status::InvalidArgument("invalid timestamp \"" + std::string(text) +
                                   "\": " + std::string(why) +
                                   "; write it as 2026-11-22T02:00:00Z (UTC) or with an offset "
                                   "such as 2026-11-22T02:00:00+01:00");
  };
  size_t i = 0;
  int y, mo, d, h = 0, mi = 0, s = 0, ms = 0;
  if (!ReadInt(text, i, 4, y) || i >= text.size() || text[i++] != '-' || !ReadInt(text, i, 2, mo) ||
      i >= text.size() || text[i++] != '-' || !ReadInt(text, i, 2, d)) {
    return bad("expected a date YYYY-MM-DD");
  }
  if (y < 1678 || y > 2262) return bad("year out of range (1678 to 2262)");
  if (mo < 1 || mo > 12) return bad("month out of range");
  static constexpr int kDays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  if (d < 1 || d > kDays[mo - 1] || (mo == 2 && d == 29 && !leap)) return bad("day out of range");
  int64_t offset_min = 0;
  if (i < text.size()) {
    if (text[i] != 'T' && text[i] != ' ') return bad("expected 'T' between date and time");
    ++i;
    if (!ReadInt(text, i, 2, h) || i >= text.size() || text[i++] != ':' ||
        !ReadInt(text, i, 2, mi)) {
      return bad("expected a time HH:MM[:SS]");
    }
    if (i < text.size() && text[i] == ':') {
      ++i;
      if (!ReadInt(text, i, 2, s)) return bad("expected seconds");
    }
    if (i < text.size() && text[i] == '.') {
      ++i;
      size_t start = i;
      int frac = 0, digits = 0;
      while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
        if (digits < 3) {
          frac = frac * 10 + (text[i] - '0');
          ++digits;
        }
        ++i;
      }
      if (i == start) return bad("expected digits after '.'");
      while (digits < 3) {
        frac *= 10;
        ++digits;
      }
      ms = frac;
    }
    if (h > 23 || mi > 59 || s > 60) return bad("time out of range");
    if (i < text.size()) {
      if (text[i] == 'Z' || text[i] == 'z') {
        ++i;
      } else if (text[i] == '+' || text[i] == '-') {
        int sign = text[i] == '-' ? -1 : 1;
        ++i;
        int oh, om = 0;
        if (!ReadInt(text, i, 2, oh)) return bad("expected an offset +HH:MM");
        if (i < text.size() && text[i] == ':') ++i;
        if (i < text.size() && !ReadInt(text, i, 2, om)) return bad("expected an offset +HH:MM");
        offset_min = sign * (oh * 60 + om);
      }
    }
  }
  if (i != text.size()) return bad("unexpected text \"" + std::string(text.substr(i)) + "\"");
  int64_t secs = DaysFromCivil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s - offset_min * 60;
  return FromUnixMillis(secs * 1000 + ms);
}

std::string FormatTimestamp(TimePoint t) {
  int64_t ms = ToUnixMillis(t);
  int64_t secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
  int millis = static_cast<int>(ms - secs * 1000);
  int64_t days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400;
  int64_t rem = secs - days * 86400;
  // civil_from_days (Howard Hinnant).
  int64_t z = days + 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t y = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  y += m <= 2;
  char buf[40];
  int n = std::snprintf(buf, sizeof(buf), "%04lld-%02u-%02uT%02d:%02d:%02d",
                        static_cast<long long>(y), m, d, static_cast<int>(rem / 3600),
                        static_cast<int>(rem % 3600 / 60), static_cast<int>(rem % 60));
  std::string out(buf, static_cast<size_t>(n));
  if (millis != 0) {
    std::snprintf(buf, sizeof(buf), ".%03d", millis);
    out += buf;
  }
  out += 'Z';
  return out;
}

}  // namespace lakesync
