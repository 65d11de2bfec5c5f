#include "runner/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>

#include "common/redact.h"

namespace lakesync::runner {
namespace {

// ---- Small value helpers. ----

struct Pos {
  int line = 1;
  int col = 1;
};

bool Before(const Pos& a, const Pos& b) {
  return a.line != b.line ? a.line < b.line : a.col < b.col;
}

// A scalar after `${}` interpolation. `raw` is the text as written in the file: messages quote
// it, never `value`, so a secret read from the environment cannot leak into an error.
struct Scalar {
  std::string value;
  std::string raw;
  Pos pos;
  bool interpolated = false;

  std::string Quoted() const { return "\"" + raw + "\""; }
  // A message produced by another parser that may echo the value, or a part of it, back. The
  // parsers quote what they echo, so for an interpolated value everything from the first quote
  // to the last is hidden (the value itself may contain quotes).
  std::string Clean(const std::string& msg) const {
    if (!interpolated) return msg;
    std::string redacted = RedactSecret(msg, value);
    size_t first = redacted.find('"');
    if (first == std::string::npos) return redacted;
    size_t last = redacted.rfind('"');
    return redacted.substr(0, first) + "\"***\"" + redacted.substr(last + 1);
  }
};

// One key of a YAML map. `pos` points at the value, or at the key when the value is empty.
struct Entry {
  std::string key;
  Pos key_pos;
  YAML::Node value;
  Pos pos;
};

size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1])});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string Join(const std::vector<std::string_view>& items) {
  std::string out;
  for (auto item : items) {
    if (!out.empty()) out += ", ";
    out += item;
  }
  return out;
}

bool IsIdentifier(std::string_view s) {
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0]))) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

bool AllOf(std::string_view s, std::string_view extra) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [&](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || extra.find(c) != std::string_view::npos;
  });
}

// Why a location that is not file:// is refused here rather than when a run opens it.
std::string NotLocalMessage(const Uri& uri) {
  return "\"" + uri.scheme() +
         "://\" locations are not supported; lakesync reads and writes local or mounted "
         "filesystems only: mount the storage and write file:///mount/path or /mount/path";
}

std::string_view TypeName(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Scalar:
      return "a single value";
    default:
      return "nothing";
  }
}

// host:port, host may be [v6]; port 0-65535.
bool ValidHostPort(std::string_view s) {
  size_t colon = s.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  std::string_view host = s.substr(0, colon), port = s.substr(colon + 1);
  if (host.front() == '[' ? host.back() != ']' : host.find(':') != std::string_view::npos) {
    return false;
  }
  int p = 0;
  auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  return !port.empty() && ec == std::errc() && ptr == port.data() + port.size() && p >= 0 &&
         p <= 65535;
}

constexpr std::string_view kTopKeys[] = {"state", "runner", "locations", "notifications", "jobs"};
constexpr std::string_view kStateKeys[] = {"postgres"};
constexpr std::string_view kRunnerKeys[] = {"listen",
                                            "max_concurrent_runs",
                                            "copy_parallelism",
                                            "lag_probe_interval",
                                            "lease_ttl",
                                            "heartbeat_interval",
                                            "shutdown_grace",
                                            "runner_id",
                                            "max_commit_actions",
                                            "max_commit_bytes"};
constexpr std::string_view kNotificationKeys[] = {"webhook", "email", "on", "jobs"};
constexpr std::string_view kEmailKeys[] = {"smtp", "from", "to"};
constexpr std::string_view kScheduleKeys[] = {"every", "cron", "timezone", "continuous"};
constexpr std::string_view kContinuousKeys[] = {"poll"};
constexpr std::string_view kRetryKeys[] = {"max", "backoff", "max_backoff"};
constexpr std::string_view kRetentionKeys[] = {"keep_last", "keep_within"};
constexpr std::string_view kJobCommonKeys[] = {"name",    "kind",    "schedule",
                                               "retries", "timeout", "lag_alert"};
constexpr std::string_view kIncrementalKeys[] = {"source", "targets", "start",
                                                 "max_versions_per_run", "verify"};
constexpr std::string_view kSnapshotKeys[] = {
    "source", "target", "version", "as_of", "retention", "mode", "skip_unchanged", "timestamps"};
constexpr std::string_view kConsolidationKeys[] = {"sources", "target", "region_column", "schema"};

template <size_t N>
std::vector<std::string_view> Keys(const std::string_view (&keys)[N]) {
  return std::vector<std::string_view>(keys, keys + N);
}

// ---- The loader: walks the YAML tree once, collecting every error. ----

class Loader {
 public:
  Loader(std::string_view file, const EnvLookup& env) : file_(file), env_(env) {}

  Result<Config> Load(std::string_view yaml);

 private:
  void Error(Pos p, std::string msg) { errors_.push_back({p, std::move(msg)}); }

  static Pos PosOf(const YAML::Node& n, Pos fallback) {
    if (!n.IsDefined() || n.IsNull()) return fallback;
    YAML::Mark m = n.Mark();
    if (m.line < 0 || m.column < 0) return fallback;
    return {m.line + 1, m.column + 1};
  }

  // The entries of a map node (reporting a wrong type and duplicate keys), checking each key
  // against `known` (reporting unknown keys, with a suggestion when one is close). An empty
  // `known` accepts any key (maps of user-chosen names: locations, consolidation sources).
  std::optional<std::vector<Entry>> MapOf(const YAML::Node& n, Pos pos, std::string_view what,
                                          const std::vector<std::string_view>& known,
                                          std::string_view example);
  void UnknownKey(const Entry& e, const std::vector<std::string_view>& known);
  std::optional<std::vector<Entry>> ListOf(const Entry& e, std::string_view example);

  std::optional<Scalar> GetScalar(const Entry& e, std::string_view example);
  std::optional<std::string> Interpolate(std::string_view raw, Pos pos);
  std::optional<int64_t> GetInt(const Entry& e, int64_t min, int64_t max);
  std::optional<Duration> GetDuration(const Entry& e, Duration min);
  std::optional<bool> GetBool(const Entry& e);
  std::optional<size_t> GetChoice(const Entry& e, const std::vector<std::string_view>& choices);
  std::optional<TableRef> GetTable(const Entry& e);

  void LoadState(const Entry& e, StateConfig& out);
  void LoadRunner(const Entry& e, RunnerConfig& out);
  void LoadLocations(const Entry& e);
  void LoadNotifications(const Entry& e, std::vector<NotificationConfig>& out);
  void LoadJobs(const Entry& e, std::vector<JobConfig>& out);
  std::optional<JobConfig> LoadJob(const Entry& item);
  void LoadSchedule(const Entry& e, Schedule& out);
  void LoadRetries(const Entry& e, RetryPolicy& out);
  void CheckOverlap(const TableRef& source, const TableRef& target, Pos pos,
                    std::string_view target_role);

  std::string file_;
  const EnvLookup& env_;
  std::vector<std::pair<Pos, std::string>> errors_;
  std::map<std::string, Uri> locations_;
  // notifications[].jobs names, checked once all jobs are known.
  std::vector<std::pair<std::string, Pos>> notification_jobs_;
};

std::optional<std::vector<Entry>> Loader::MapOf(const YAML::Node& n, Pos pos, std::string_view what,
                                                const std::vector<std::string_view>& known,
                                                std::string_view example) {
  if (!n.IsMap()) {
    Error(pos, std::string(what) + " must be a map, not " + std::string(TypeName(n)) +
                   "; write for example " + std::string(example));
    return std::nullopt;
  }
  std::vector<Entry> out;
  std::map<std::string, int> seen;  // key → line
  for (auto it = n.begin(); it != n.end(); ++it) {
    Entry e;
    e.key_pos = PosOf(it->first, pos);
    if (!it->first.IsScalar()) {
      Error(e.key_pos, "a key must be a plain word, not " + std::string(TypeName(it->first)) +
                           "; write key: value");
      continue;
    }
    e.key = it->first.Scalar();
    e.value = it->second;
    e.pos = PosOf(it->second, e.key_pos);
    if (auto [at, inserted] = seen.emplace(e.key, e.key_pos.line); !inserted) {
      Error(e.key_pos, "duplicate key \"" + e.key + "\" (first written at line " +
                           std::to_string(at->second) + "); remove one of them");
      continue;
    }
    if (!known.empty() && std::find(known.begin(), known.end(), e.key) == known.end()) {
      UnknownKey(e, known);
      continue;
    }
    out.push_back(std::move(e));
  }
  return out;
}

void Loader::UnknownKey(const Entry& e, const std::vector<std::string_view>& known) {
  std::string_view best;
  size_t best_distance = 3;
  for (auto k : known) {
    size_t d = EditDistance(e.key, k);
    if (d < best_distance) {
      best_distance = d;
      best = k;
    }
  }
  if (!best.empty()) {
    Error(e.key_pos, "unknown key \"" + e.key + "\"; did you mean \"" + std::string(best) + "\"?");
  } else {
    Error(e.key_pos, "unknown key \"" + e.key + "\"; the keys allowed here are: " + Join(known));
  }
}

std::optional<std::vector<Entry>> Loader::ListOf(const Entry& e, std::string_view example) {
  if (!e.value.IsSequence()) {
    Error(e.pos, e.key + " must be a list, not " + std::string(TypeName(e.value)) +
                     "; write for example " + std::string(example));
    return std::nullopt;
  }
  std::vector<Entry> out;
  for (const auto& item : e.value) out.push_back({e.key, e.pos, item, PosOf(item, e.pos)});
  return out;
}

std::optional<std::string> Loader::Interpolate(std::string_view raw, Pos pos) {
  std::string out;
  bool ok = true;
  for (size_t i = 0; i < raw.size();) {
    if (raw.compare(i, 3, "$${") == 0) {
      out += "${";
      i += 3;
      continue;
    }
    if (raw.compare(i, 2, "${") != 0) {
      out += raw[i++];
      continue;
    }
    size_t close = raw.find('}', i + 2);
    if (close == std::string_view::npos) {
      Error(pos,
            "\"${\" is not closed; write ${NAME} to read the environment variable NAME, or "
            "$${ for a literal ${");
      return std::nullopt;
    }
    std::string_view name = raw.substr(i + 2, close - i - 2);
    if (!IsIdentifier(name)) {
      Error(pos, "\"${" + std::string(name) +
                     "}\" does not name an environment variable; write ${NAME} with letters, "
                     "digits and '_', or $${ for a literal ${");
      ok = false;
    } else if (auto v = env_(name)) {
      out += *v;
    } else {
      Error(pos, "environment variable " + std::string(name) +
                     " is not set; export it or write the value");
      ok = false;
    }
    i = close + 1;
  }
  if (!ok) return std::nullopt;
  return out;
}

std::optional<Scalar> Loader::GetScalar(const Entry& e, std::string_view example) {
  if (!e.value.IsScalar()) {
    Error(e.pos, e.key + " must be a single value, not " + std::string(TypeName(e.value)) +
                     "; write for example " + std::string(example));
    return std::nullopt;
  }
  Scalar s;
  s.raw = e.value.Scalar();
  s.pos = e.pos;
  auto value = Interpolate(s.raw, s.pos);
  if (!value) return std::nullopt;
  s.interpolated = *value != s.raw;
  s.value = std::move(*value);
  return s;
}

std::optional<int64_t> Loader::GetInt(const Entry& e, int64_t min, int64_t max) {
  std::string range = max == INT64_MAX
                          ? "at least " + std::to_string(min)
                          : "from " + std::to_string(min) + " to " + std::to_string(max);
  auto s = GetScalar(e, "a whole number " + range);
  if (!s) return std::nullopt;
  int64_t v = 0;
  const std::string& t = s->value;
  auto [ptr, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  if (t.empty() || ec != std::errc() || ptr != t.data() + t.size()) {
    Error(e.pos, e.key + " must be a whole number " + range + ", not " + s->Quoted());
    return std::nullopt;
  }
  if (v < min || v > max) {
    Error(e.pos, e.key + " is " + s->Quoted() + " but must be " + range);
    return std::nullopt;
  }
  return v;
}

std::optional<Duration> Loader::GetDuration(const Entry& e, Duration min) {
  auto s = GetScalar(e, "30s, 5m or 2h");
  if (!s) return std::nullopt;
  auto d = ParseDuration(s->value);
  if (!d.ok()) {
    Error(e.pos, e.key + ": " + s->Clean(d.status().message()));
    return std::nullopt;
  }
  if (*d < min) {
    Error(e.pos, e.key + " is " + s->Quoted() + " but must be at least " + FormatDuration(min));
    return std::nullopt;
  }
  return *d;
}

std::optional<bool> Loader::GetBool(const Entry& e) {
  auto s = GetScalar(e, "true or false");
  if (!s) return std::nullopt;
  if (s->value == "true") return true;
  if (s->value == "false") return false;
  Error(e.pos, e.key + " must be true or false, not " + s->Quoted());
  return std::nullopt;
}

std::optional<size_t> Loader::GetChoice(const Entry& e,
                                        const std::vector<std::string_view>& choices) {
  auto s = GetScalar(e, choices.front());
  if (!s) return std::nullopt;
  for (size_t i = 0; i < choices.size(); ++i) {
    if (s->value == choices[i]) return i;
  }
  Error(e.pos, e.key + " " + s->Quoted() + " is not valid; write one of: " + Join(choices));
  return std::nullopt;
}

std::optional<TableRef> Loader::GetTable(const Entry& e) {
  auto s = GetScalar(e, "location:/path/to/table");
  if (!s) return std::nullopt;
  TableRef ref;
  ref.text = s->value;
  const std::string& t = s->value;
  auto fail = [&](const std::string& why) {
    Error(e.pos, e.key + " " + s->Quoted() + ": " + s->Clean(why));
    return std::nullopt;
  };
  if (!t.empty() && t[0] == '/') {
    auto uri = Uri::LocalPath(t);
    if (!uri.ok()) return fail(uri.status().message());
    ref.uri = *uri;
    return ref;
  }
  if (t.find("://") != std::string::npos) {
    auto uri = Uri::Parse(t);
    if (!uri.ok()) return fail(uri.status().message());
    if (!uri->is_local()) return fail(NotLocalMessage(*uri));
    ref.uri = *uri;
    return ref;
  }
  size_t colon = t.find(':');
  if (colon == std::string::npos || colon == 0) {
    return fail(
        "a table is written location:/path (a location defined under locations:), "
        "file:///absolute/path or /absolute/path");
  }
  ref.location = t.substr(0, colon);
  std::string path = t.substr(colon + 1);
  auto loc = locations_.find(ref.location);
  if (loc == locations_.end()) {
    if (locations_.empty()) {
      return fail("location \"" + ref.location +
                  "\" is not defined and no locations are; define it under locations: or write "
                  "file:///absolute/path");
    }
    std::vector<std::string_view> names;
    for (const auto& [name, uri] : locations_) names.push_back(name);
    return fail("location \"" + ref.location + "\" is not defined; use one of: " + Join(names) +
                " (or define it under locations:)");
  }
  if (path.empty() || path == "/") {
    return fail("names no path inside location \"" + ref.location + "\"; write " + ref.location +
                ":/path/to/table");
  }
  auto uri = loc->second.Join(path);
  if (!uri.ok()) return fail(uri.status().message());
  ref.uri = *uri;
  return ref;
}

void Loader::LoadState(const Entry& e, StateConfig& out) {
  auto entries = MapOf(e.value, e.pos, "state", Keys(kStateKeys),
                       "state: { postgres: ${LAKESYNC_DATABASE_URL} }");
  if (!entries) return;
  for (const auto& k : *entries) {
    if (auto s = GetScalar(k, "${LAKESYNC_DATABASE_URL}")) out.postgres = s->value;
  }
}

void Loader::LoadRunner(const Entry& e, RunnerConfig& out) {
  auto entries =
      MapOf(e.value, e.pos, "runner", Keys(kRunnerKeys), "runner: { listen: 127.0.0.1:9464 }");
  if (!entries) return;
  std::optional<Pos> heartbeat_pos, lease_pos;
  for (const auto& k : *entries) {
    if (k.key == "listen") {
      if (auto s = GetScalar(k, "127.0.0.1:9464")) {
        if (ValidHostPort(s->value)) {
          out.listen = s->value;
        } else {
          Error(k.pos, "listen " + s->Quoted() +
                           " is not host:port; write for example 127.0.0.1:9464 or 0.0.0.0:9464");
        }
      }
    } else if (k.key == "max_concurrent_runs") {
      if (auto v = GetInt(k, 1, 1024)) out.max_concurrent_runs = static_cast<int>(*v);
    } else if (k.key == "copy_parallelism") {
      if (auto v = GetInt(k, 1, 256)) out.copy_parallelism = static_cast<int>(*v);
    } else if (k.key == "lag_probe_interval") {
      if (auto d = GetDuration(k, std::chrono::seconds(1))) out.lag_probe_interval = *d;
    } else if (k.key == "lease_ttl") {
      if (auto d = GetDuration(k, std::chrono::seconds(1))) out.lease_ttl = *d;
      lease_pos = k.pos;
    } else if (k.key == "heartbeat_interval") {
      if (auto d = GetDuration(k, std::chrono::milliseconds(1))) out.heartbeat_interval = *d;
      heartbeat_pos = k.pos;
    } else if (k.key == "shutdown_grace") {
      if (auto d = GetDuration(k, Duration(0))) out.shutdown_grace = *d;
    } else if (k.key == "max_commit_actions") {
      if (auto v = GetInt(k, 1, 1'000'000'000)) out.max_commit_actions = *v;
    } else if (k.key == "max_commit_bytes") {
      if (auto v = GetInt(k, 1024, int64_t{1} << 40)) out.max_commit_bytes = *v;
    } else if (k.key == "runner_id") {
      if (auto s = GetScalar(k, "runner-1")) {
        if (AllOf(s->value, "_.:-") && s->value.size() <= 128) {
          out.runner_id = s->value;
        } else {
          Error(k.pos, "runner_id " + s->Quoted() +
                           " may contain only letters, digits, '_', '.', ':' and '-' (at most "
                           "128); rename it or remove it to use hostname-pid");
        }
      }
    }
  }
  if (out.heartbeat_interval >= out.lease_ttl) {
    Error(heartbeat_pos ? *heartbeat_pos
          : lease_pos   ? *lease_pos
                        : e.pos,
          "heartbeat_interval (" + FormatDuration(out.heartbeat_interval) +
              ") must be shorter than lease_ttl (" + FormatDuration(out.lease_ttl) +
              ") or leases expire while their runner is alive; lower heartbeat_interval to a "
              "third of lease_ttl");
  }
}

void Loader::LoadLocations(const Entry& e) {
  auto entries =
      MapOf(e.value, e.pos, "locations", {}, "locations: { eastus: file:///data/eastus }");
  if (!entries) return;
  for (const auto& loc : *entries) {
    if (!AllOf(loc.key, "_-")) {
      Error(loc.key_pos, "location name \"" + loc.key +
                             "\" may contain only letters, digits, '_' and '-'; rename it");
      continue;
    }
    auto s = GetScalar(loc, "file:///data/eastus");
    if (!s) continue;
    auto uri = Uri::Parse(s->value);
    if (!uri.ok() || !uri->is_local()) {
      Error(loc.pos, "location " + loc.key + ": " +
                         s->Clean(uri.ok() ? NotLocalMessage(*uri) : uri.status().message()));
      continue;
    }
    locations_.emplace(loc.key, *uri);
  }
}

void Loader::LoadNotifications(const Entry& e, std::vector<NotificationConfig>& out) {
  auto items = ListOf(e, "notifications: [ { webhook: ${SLACK_WEBHOOK_URL}, on: [failure] } ]");
  if (!items) return;
  for (const auto& item : *items) {
    auto entries = MapOf(item.value, item.pos, "a notification", Keys(kNotificationKeys),
                         "{ webhook: ${SLACK_WEBHOOK_URL}, on: [failure, recovery] }");
    if (!entries) continue;
    NotificationConfig n;
    int channels = 0;
    for (const auto& k : *entries) {
      if (k.key == "webhook") {
        ++channels;
        n.kind = NotificationConfig::kWebhook;
        if (auto s = GetScalar(k, "${SLACK_WEBHOOK_URL}")) {
          std::string_view v = s->value;
          bool http = v.rfind("https://", 0) == 0 || v.rfind("http://", 0) == 0;
          if (!http || v.find("://") + 3 >= v.size()) {
            std::string shown = s->interpolated ? s->Quoted() : "\"" + RedactUrl(v) + "\"";
            Error(k.pos, "webhook " + shown +
                             " is not an http:// or https:// URL; write the URL, "
                             "preferably as ${VARIABLE} so the secret stays out of the file");
          } else {
            n.webhook_url = s->value;
          }
        }
      } else if (k.key == "email") {
        ++channels;
        n.kind = NotificationConfig::kEmail;
        auto email =
            MapOf(k.value, k.pos, "email", Keys(kEmailKeys),
                  "email: { smtp: mail.example.com:25, from: a@example.com, to: [b@example.com] }");
        if (!email) continue;
        bool has_smtp = false, has_from = false, has_to = false;
        for (const auto& f : *email) {
          if (f.key == "smtp") {
            has_smtp = true;
            if (auto s = GetScalar(f, "mail.example.com:25")) {
              if (ValidHostPort(s->value)) {
                n.smtp = s->value;
              } else {
                Error(f.pos, "smtp " + s->Quoted() +
                                 " is not host:port; write for example "
                                 "mail.example.com:25");
              }
            }
          } else if (f.key == "from") {
            has_from = true;
            if (auto s = GetScalar(f, "lakesync@example.com")) n.from = s->value;
          } else if (f.key == "to") {
            has_to = true;
            auto list = ListOf(f, "[oncall@example.com]");
            if (!list) continue;
            for (const auto& addr : *list) {
              auto s = GetScalar(addr, "oncall@example.com");
              if (!s) continue;
              if (s->value.find('@') == std::string::npos) {
                Error(addr.pos, "to " + s->Quoted() +
                                    " is not an email address; write "
                                    "name@example.com");
              } else {
                n.to.push_back(s->value);
              }
            }
            if (list->empty()) Error(f.pos, "to is empty; list at least one address");
          }
        }
        if (!has_smtp) Error(k.pos, "email has no smtp; add smtp: host:port");
        if (!has_from) Error(k.pos, "email has no from; add from: sender@example.com");
        if (!has_to) Error(k.pos, "email has no to; add to: [recipient@example.com]");
      } else if (k.key == "on") {
        auto list = ListOf(k, "on: [failure, recovery]");
        if (!list) continue;
        n.on.clear();
        for (const auto& ev : *list) {
          if (auto c = GetChoice(ev, {"failure", "recovery", "success"})) {
            n.on.insert(static_cast<NotificationConfig::Event>(*c));
          }
        }
        if (list->empty()) Error(k.pos, "on is empty; list failure, recovery and/or success");
      } else if (k.key == "jobs") {
        auto list = ListOf(k, "jobs: [sales_dr]");
        if (!list) continue;
        for (const auto& j : *list) {
          if (auto s = GetScalar(j, "a job name")) {
            n.jobs.push_back(s->value);
            notification_jobs_.emplace_back(s->value, j.pos);
          }
        }
      }
    }
    if (channels != 1) {
      Error(item.pos, channels == 0
                          ? "a notification needs a channel; add webhook: ${VARIABLE} or email: "
                            "{ smtp: ..., from: ..., to: [...] }"
                          : "a notification has both webhook and email; write them as two "
                            "separate notifications");
    }
    out.push_back(std::move(n));
  }
}

void Loader::LoadSchedule(const Entry& e, Schedule& out) {
  auto entries = MapOf(e.value, e.pos, "schedule", Keys(kScheduleKeys),
                       "{ every: 5m }, { cron: \"*/15 * * * *\" } or { continuous: { poll: 2s } }");
  if (!entries) return;
  const Entry* kind_entry = nullptr;
  const Entry* tz_entry = nullptr;
  for (const auto& k : *entries) {
    if (k.key == "timezone") {
      tz_entry = &k;
      continue;
    }
    if (kind_entry != nullptr) {
      Error(k.key_pos, "a schedule has one kind but both " + kind_entry->key + " and " + k.key +
                           " are written; keep one");
      continue;
    }
    kind_entry = &k;
  }
  if (kind_entry == nullptr) {
    Error(e.pos,
          "schedule names no kind; write { every: 5m }, { cron: \"*/15 * * * *\" } or "
          "{ continuous: { poll: 2s } }, or remove schedule for manual runs only");
    return;
  }
  std::string tz = "UTC";
  if (tz_entry != nullptr) {
    if (kind_entry->key != "cron") {
      Error(tz_entry->key_pos, "timezone applies only to cron schedules; remove it");
    } else if (auto s = GetScalar(*tz_entry, "Europe/Berlin")) {
      if (Status st = CheckTimeZone(s->value); !st.ok()) {
        Error(tz_entry->pos, s->Clean(st.message()));
        return;
      }
      tz = s->value;
    } else {
      return;
    }
  }
  const Entry& k = *kind_entry;
  if (k.key == "every") {
    if (auto d = GetDuration(k, std::chrono::seconds(1))) {
      out.kind = Schedule::kEvery;
      out.every = *d;
    }
  } else if (k.key == "cron") {
    if (auto s = GetScalar(k, "\"*/15 * * * *\"")) {
      auto cron = CronExpr::Parse(s->value, tz);
      if (!cron.ok()) {
        // The cron parser's sentences mostly say what to write; add the shape where they don't.
        std::string msg = s->Clean(cron.status().message());
        if (msg.find("write") == std::string::npos) {
          msg += "; write five fields (minute hour day-of-month month day-of-week)";
        }
        Error(k.pos, msg);
      } else {
        out.kind = Schedule::kCron;
        out.cron = *cron;
      }
    }
  } else if (k.key == "continuous") {
    out.kind = Schedule::kContinuous;
    out.poll = std::chrono::seconds(5);
    if (k.value.IsNull()) return;
    auto c =
        MapOf(k.value, k.pos, "continuous", Keys(kContinuousKeys), "{ continuous: { poll: 2s } }");
    if (!c) return;
    for (const auto& p : *c) {
      if (auto d = GetDuration(p, std::chrono::milliseconds(100))) out.poll = *d;
    }
  }
}

void Loader::LoadRetries(const Entry& e, RetryPolicy& out) {
  auto entries = MapOf(e.value, e.pos, "retries", Keys(kRetryKeys),
                       "{ max: 3, backoff: 30s, max_backoff: 10m }");
  if (!entries) return;
  std::optional<Pos> max_backoff_pos;
  for (const auto& k : *entries) {
    if (k.key == "max") {
      if (auto v = GetInt(k, 0, 100)) out.max = static_cast<int>(*v);
    } else if (k.key == "backoff") {
      if (auto d = GetDuration(k, Duration(0))) out.backoff = *d;
    } else if (k.key == "max_backoff") {
      if (auto d = GetDuration(k, Duration(0))) out.max_backoff = *d;
      max_backoff_pos = k.pos;
    }
  }
  if (out.max_backoff < out.backoff) {
    Error(max_backoff_pos ? *max_backoff_pos : e.pos,
          "max_backoff (" + FormatDuration(out.max_backoff) + ") is shorter than backoff (" +
              FormatDuration(out.backoff) + "); make max_backoff at least backoff");
  }
}

void Loader::CheckOverlap(const TableRef& source, const TableRef& target, Pos pos,
                          std::string_view role) {
  std::string t = "\"" + target.text + "\"", s = "\"" + source.text + "\"";
  if (source.uri == target.uri) {
    Error(pos, std::string(role) + " " + t + " is the same table as the source " + s +
                   "; write a different location");
  } else if (source.uri.Contains(target.uri)) {
    Error(pos, std::string(role) + " " + t + " lies inside the source " + s +
                   "; choose a path outside the source table");
  } else if (target.uri.Contains(source.uri)) {
    Error(pos, std::string(role) + " " + t + " contains the source " + s +
                   "; choose a path that does not contain the source table");
  }
}

std::optional<JobConfig> Loader::LoadJob(const Entry& item) {
  // Keys are checked per kind below, so accept every job key here.
  std::vector<std::string_view> all = Keys(kJobCommonKeys);
  for (auto keys : {Keys(kIncrementalKeys), Keys(kSnapshotKeys), Keys(kConsolidationKeys)}) {
    for (auto k : keys) {
      if (std::find(all.begin(), all.end(), k) == all.end()) all.push_back(k);
    }
  }
  auto entries = MapOf(item.value, item.pos, "a job", all,
                       "{ name: sales_dr, kind: incremental, source: ..., targets: [...] }");
  if (!entries) return std::nullopt;
  JobConfig job;
  job.line = item.pos.line;
  std::string label = "this job";
  std::optional<JobKind> kind;
  bool has_name = false;
  for (const auto& k : *entries) {
    if (k.key == "name") {
      has_name = true;
      if (auto s = GetScalar(k, "sales_dr")) {
        if (AllOf(s->value, "_.-")) {
          job.name = s->value;
          label = "job \"" + job.name + "\"";
        } else {
          Error(k.pos, "job name " + s->Quoted() +
                           " may contain only letters, digits, '_', '.' and '-'; rename it");
        }
      }
    } else if (k.key == "kind") {
      if (auto c = GetChoice(k, {"incremental", "snapshot", "consolidation"})) {
        kind = static_cast<JobKind>(*c);
      }  // else reported; only the common keys can be checked
    }
  }
  if (!has_name) Error(item.pos, "a job has no name; add name: followed by a unique name");
  bool has_kind =
      std::any_of(entries->begin(), entries->end(), [](const Entry& k) { return k.key == "kind"; });
  if (!has_kind) {
    Error(item.pos, label + " has no kind; add kind: incremental, snapshot or consolidation");
  }
  std::vector<std::string_view> kind_keys;
  if (kind) {
    job.kind = *kind;
    kind_keys = *kind == JobKind::kIncremental ? Keys(kIncrementalKeys)
                : *kind == JobKind::kSnapshot  ? Keys(kSnapshotKeys)
                                               : Keys(kConsolidationKeys);
  }
  std::vector<std::string_view> valid = Keys(kJobCommonKeys);
  valid.insert(valid.end(), kind_keys.begin(), kind_keys.end());

  std::map<std::string, Pos> present;
  IncrementalSpec& inc = job.incremental;
  SnapshotSpec& snap = job.snapshot;
  ConsolidationSpec& con = job.consolidation;
  std::vector<Pos> target_pos;  // parallel to inc.targets
  std::vector<Pos> source_pos;  // parallel to con.sources
  std::optional<Pos> version_pos;
  bool has_as_of = false;
  for (const auto& k : *entries) {
    if (k.key == "name" || k.key == "kind") continue;
    bool common = std::find(std::begin(kJobCommonKeys), std::end(kJobCommonKeys), k.key) !=
                  std::end(kJobCommonKeys);
    if (!common && !kind) continue;  // kind unknown: its keys cannot be checked
    if (std::find(valid.begin(), valid.end(), k.key) == valid.end()) {
      std::string kind_name(JobKindName(*kind));
      std::string_view best;
      size_t best_distance = 3;
      for (auto v : valid) {
        if (size_t d = EditDistance(k.key, v); d < best_distance) {
          best_distance = d;
          best = v;
        }
      }
      Error(k.key_pos, "key \"" + k.key + "\" does not apply to " + kind_name + " jobs; " +
                           (best.empty() ? "the keys allowed are: " + Join(valid)
                                         : "did you mean \"" + std::string(best) + "\"?"));
      continue;
    }
    present[k.key] = k.pos;
    if (k.key == "schedule") {
      LoadSchedule(k, job.schedule);
    } else if (k.key == "retries") {
      LoadRetries(k, job.retries);
    } else if (k.key == "timeout") {
      if (auto d = GetDuration(k, std::chrono::seconds(1))) job.timeout = *d;
    } else if (k.key == "lag_alert") {
      if (auto d = GetDuration(k, std::chrono::seconds(1))) job.lag_alert = *d;
    } else if (k.key == "source") {
      if (auto t = GetTable(k)) {
        (job.kind == JobKind::kIncremental ? inc.source : snap.source) = *t;
      } else {
        present.erase(k.key);  // reported; skip the overlap checks
      }
    } else if (k.key == "target") {
      if (auto t = GetTable(k)) {
        (job.kind == JobKind::kSnapshot ? snap.target : con.target) = *t;
      } else {
        present.erase(k.key);
      }
    } else if (k.key == "targets") {
      auto list = ListOf(k, "targets: [westus:/delta/sales]");
      if (!list) continue;
      if (list->empty()) Error(k.pos, "targets is empty; list at least one target table");
      for (const auto& t : *list) {
        auto ref = GetTable(t);
        if (!ref) continue;
        for (size_t i = 0; i < inc.targets.size(); ++i) {
          if (inc.targets[i].uri.Contains(ref->uri) || ref->uri.Contains(inc.targets[i].uri)) {
            Error(t.pos, "target \"" + ref->text + "\" overlaps target \"" + inc.targets[i].text +
                             "\" of the same job; give each target its own location");
          }
        }
        inc.targets.push_back(*ref);
        target_pos.push_back(t.pos);
      }
    } else if (k.key == "start") {
      if (auto c = GetChoice(k, {"auto", "earliest", "latest_checkpoint"})) {
        inc.start = static_cast<IncrementalSpec::Start>(*c);
      }
    } else if (k.key == "max_versions_per_run") {
      if (auto v = GetInt(k, 1, INT64_MAX)) inc.max_versions_per_run = *v;
    } else if (k.key == "verify") {
      if (auto c = GetChoice(k, {"size", "checksum"}))
        inc.verify = static_cast<IncrementalSpec::Verify>(*c);
    } else if (k.key == "version") {
      version_pos = k.pos;
      auto s = GetScalar(k, "latest or a version number");
      if (!s || s->value == "latest") continue;
      int64_t v = 0;
      auto [ptr, ec] = std::from_chars(s->value.data(), s->value.data() + s->value.size(), v);
      if (s->value.empty() || ec != std::errc() || ptr != s->value.data() + s->value.size() ||
          v < 0) {
        Error(k.pos, "version " + s->Quoted() +
                         " is not valid; write latest or a table version number (0 or more)");
      } else {
        snap.version = v;
      }
    } else if (k.key == "as_of") {
      has_as_of = true;
      if (auto s = GetScalar(k, "\"2026-11-22T02:00:00Z\"")) {
        auto t = ParseTimestamp(s->value);
        if (!t.ok()) {
          Error(k.pos, "as_of: " + s->Clean(t.status().message()));
        } else {
          snap.as_of = *t;
        }
      }
    } else if (k.key == "retention") {
      auto r = MapOf(k.value, k.pos, "retention", Keys(kRetentionKeys),
                     "{ keep_last: 7, keep_within: 30d }");
      if (!r) continue;
      for (const auto& f : *r) {
        if (f.key == "keep_last") {
          if (auto v = GetInt(f, 1, 1000000)) snap.keep_last = static_cast<int>(*v);
        } else if (auto d = GetDuration(f, std::chrono::seconds(1))) {
          snap.keep_within = *d;
        }
      }
    } else if (k.key == "mode") {
      if (auto c = GetChoice(k, {"deep", "shallow"}))
        snap.mode = static_cast<SnapshotSpec::Mode>(*c);
    } else if (k.key == "skip_unchanged") {
      if (auto b = GetBool(k)) snap.skip_unchanged = *b;
    } else if (k.key == "timestamps") {
      if (auto c = GetChoice(k, {"modification_time", "commit_info"}))
        snap.timestamps = static_cast<SnapshotSpec::Timestamps>(*c);
    } else if (k.key == "sources") {
      auto regions = MapOf(k.value, k.pos, "sources", {}, "{ eastus: \"eastus:/delta/sales\" }");
      if (!regions) continue;
      if (regions->empty()) Error(k.pos, "sources is empty; map at least one region to a table");
      for (const auto& r : *regions) {
        if (!IsIdentifier(r.key)) {
          Error(r.key_pos, "region name \"" + r.key +
                               "\" is not an identifier; use letters, digits and '_' and do not "
                               "start with a digit");
          continue;
        }
        if (auto ref = GetTable(r)) {
          con.sources.emplace_back(r.key, *ref);
          source_pos.push_back(r.pos);
        }
      }
    } else if (k.key == "region_column") {
      if (auto s = GetScalar(k, "source_region")) {
        if (IsIdentifier(s->value)) {
          con.region_column = s->value;
        } else {
          Error(k.pos, "region_column " + s->Quoted() +
                           " is not a valid column name; use letters, digits and '_' and do not "
                           "start with a digit");
        }
      }
    } else if (k.key == "schema") {
      if (auto c = GetChoice(k, {"strict", "union"}))
        con.schema = static_cast<ConsolidationSpec::SchemaMode>(*c);
    }
  }
  if (version_pos && has_as_of && (snap.version || snap.as_of)) {
    Error(*version_pos, "version and as_of are both written; keep one of them");
  }
  if (!kind) return job;

  auto require = [&](std::string_view key, std::string_view example) {
    if (present.count(std::string(key)) == 0 &&
        std::none_of(entries->begin(), entries->end(),
                     [&](const Entry& k) { return k.key == key; })) {
      Error(item.pos, label + " has no " + std::string(key) + "; add " + std::string(key) + ": " +
                          std::string(example));
    }
  };
  switch (job.kind) {
    case JobKind::kIncremental:
      require("source", "location:/path/to/table");
      require("targets", "[location:/path/to/replica]");
      if (present.count("source")) {
        for (size_t i = 0; i < inc.targets.size(); ++i) {
          CheckOverlap(inc.source, inc.targets[i], target_pos[i], "target");
        }
      }
      break;
    case JobKind::kSnapshot:
      require("source", "location:/path/to/table");
      require("target", "location:/path/to/snapshots");
      if (present.count("source") && present.count("target")) {
        CheckOverlap(snap.source, snap.target, present["target"], "target");
      }
      break;
    case JobKind::kConsolidation:
      require("sources", "{ region: location:/path/to/table }");
      require("target", "location:/path/to/global_table");
      if (present.count("target")) {
        for (const auto& [region, src] : con.sources) {
          CheckOverlap(src, con.target, present["target"], "target");
        }
      }
      break;
  }
  return job;
}

void Loader::LoadJobs(const Entry& e, std::vector<JobConfig>& out) {
  auto items = ListOf(e, "- name: sales_dr (one list item per job)");
  if (!items) return;
  std::map<std::string, int> names;  // name → line
  const size_t first = out.size();
  std::vector<bool> job_valid;  // per job loaded here: no errors of its own
  for (const auto& item : *items) {
    const size_t errors_before = errors_.size();
    auto job = LoadJob(item);
    if (!job) continue;
    const bool tables_ok = errors_.size() == errors_before;
    if (!job->name.empty()) {
      auto [it, inserted] = names.emplace(job->name, job->line);
      if (!inserted) {
        Pos name_pos = item.pos;
        for (auto kv = item.value.begin(); kv != item.value.end(); ++kv) {
          if (kv->first.IsScalar() && kv->first.Scalar() == "name") {
            name_pos = PosOf(kv->second, name_pos);
          }
        }
        Error(name_pos, "duplicate job name \"" + job->name + "\" (the first is at line " +
                            std::to_string(it->second) + "); give each job a unique name");
      }
    }
    // Two jobs writing one table would race each other's commits: refuse it. (Only between
    // jobs without errors of their own: an unresolved table has no meaningful location.)
    for (size_t k = first; tables_ok && k < out.size(); ++k) {
      if (!job_valid[k - first]) continue;
      const JobConfig& earlier = out[k];
      for (const auto& mine : job->TargetUris()) {
        for (const auto& theirs : earlier.TargetUris()) {
          if (mine.Contains(theirs) || theirs.Contains(mine)) {
            Error(item.pos, "job \"" + job->name + "\" writes to " + mine.ToString() +
                                ", which job \"" + earlier.name + "\" (line " +
                                std::to_string(earlier.line) +
                                ") also writes to or contains; give each job its own target");
          }
        }
      }
    }
    out.push_back(std::move(*job));
    job_valid.push_back(tables_ok);
  }
}

Result<Config> Loader::Load(std::string_view yaml) {
  Config config;
  config.file = file_;
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& ex) {
    Pos p{ex.mark.line >= 0 ? ex.mark.line + 1 : 1, ex.mark.column >= 0 ? ex.mark.column + 1 : 1};
    return Status::InvalidArgument(file_ + ":" + std::to_string(p.line) + ":" +
                                   std::to_string(p.col) + ": YAML syntax error: " + ex.msg +
                                   "; check the indentation, colons and brackets around here");
  }
  try {
    if (root.IsNull()) {
      Error({1, 1}, "the file is empty; write at least a jobs: list");
    } else if (auto entries =
                   MapOf(root, PosOf(root, {1, 1}), "the file", Keys(kTopKeys), "jobs: [...]")) {
      // Locations first: jobs refer to them wherever they are written.
      for (const auto& k : *entries) {
        if (k.key == "locations") LoadLocations(k);
      }
      config.locations = locations_;
      bool has_jobs = false;
      for (const auto& k : *entries) {
        if (k.key == "state") LoadState(k, config.state);
        if (k.key == "runner") LoadRunner(k, config.runner);
        if (k.key == "notifications") LoadNotifications(k, config.notifications);
        if (k.key == "jobs") {
          has_jobs = true;
          LoadJobs(k, config.jobs);
        }
      }
      if (!has_jobs) Error(PosOf(root, {1, 1}), "the file has no jobs; add a jobs: list");
      for (const auto& [name, pos] : notification_jobs_) {
        if (config.FindJob(name) == nullptr) {
          std::vector<std::string_view> names;
          for (const auto& j : config.jobs) names.push_back(j.name);
          Error(pos, "notification names job \"" + name + "\", which is not defined; " +
                         (names.empty() ? "define it under jobs: or remove it here"
                                        : "write one of: " + Join(names)));
        }
      }
    }
  } catch (const std::exception& ex) {
    // yaml-cpp may throw on malformed trees; never let it escape.
    Error({1, 1}, std::string("cannot read the configuration: ") + ex.what());
  }
  if (errors_.empty()) return config;
  std::stable_sort(errors_.begin(), errors_.end(),
                   [](const auto& a, const auto& b) { return Before(a.first, b.first); });
  std::string msg;
  for (const auto& [pos, text] : errors_) {
    if (!msg.empty()) msg += '\n';
    msg += file_ + ":" + std::to_string(pos.line) + ":" + std::to_string(pos.col) + ": " + text;
  }
  return Status::InvalidArgument(std::move(msg));
}

}  // namespace

EnvLookup ProcessEnv() {
  return [](std::string_view name) -> std::optional<std::string> {
    const char* v = std::getenv(std::string(name).c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
}

std::string_view NotificationEventName(NotificationConfig::Event event) {
  switch (event) {
    case NotificationConfig::kFailure:
      return "failure";
    case NotificationConfig::kRecovery:
      return "recovery";
    case NotificationConfig::kSuccess:
      return "success";
  }
  return "unknown";
}

std::string_view JobKindName(JobKind kind) {
  switch (kind) {
    case JobKind::kIncremental:
      return "incremental";
    case JobKind::kSnapshot:
      return "snapshot";
    case JobKind::kConsolidation:
      return "consolidation";
  }
  return "unknown";
}

std::string Schedule::Describe() const {
  switch (kind) {
    case kManual:
      return "manual";
    case kEvery:
      return "every " + FormatDuration(every);
    case kCron:
      return "cron " + cron.text() + " (" + cron.timezone() + ")";
    case kContinuous:
      return "continuous (poll " + FormatDuration(poll) + ")";
  }
  return "manual";
}

std::vector<Uri> JobConfig::SourceUris() const {
  switch (kind) {
    case JobKind::kIncremental:
      return {incremental.source.uri};
    case JobKind::kSnapshot:
      return {snapshot.source.uri};
    case JobKind::kConsolidation: {
      std::vector<Uri> out;
      for (const auto& [region, ref] : consolidation.sources) out.push_back(ref.uri);
      return out;
    }
  }
  return {};
}

std::vector<Uri> JobConfig::TargetUris() const {
  switch (kind) {
    case JobKind::kIncremental: {
      std::vector<Uri> out;
      for (const auto& t : incremental.targets) out.push_back(t.uri);
      return out;
    }
    case JobKind::kSnapshot:
      return {snapshot.target.uri};
    case JobKind::kConsolidation:
      return {consolidation.target.uri};
  }
  return {};
}

std::vector<std::string> JobConfig::TargetNames() const {
  switch (kind) {
    case JobKind::kIncremental: {
      std::vector<std::string> out;
      for (const auto& t : incremental.targets) out.push_back(t.text);
      return out;
    }
    case JobKind::kSnapshot:
      return {snapshot.target.text};
    case JobKind::kConsolidation:
      return {consolidation.target.text};
  }
  return {};
}

const JobConfig* Config::FindJob(std::string_view name) const {
  for (const auto& job : jobs) {
    if (job.name == name) return &job;
  }
  return nullptr;
}

Result<Config> LoadConfigString(std::string_view yaml, std::string_view file_name,
                                const EnvLookup& env) {
  return Loader(file_name, env).Load(yaml);
}

Result<Config> LoadConfigFile(const std::string& path, const EnvLookup& env) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    int err = errno;
    if (err == ENOENT) {
      return Status::NotFound("configuration file \"" + path +
                              "\" does not exist; pass the path of your jobs YAML file");
    }
    return Status::FromErrno(err, "reading configuration file \"" + path + "\"");
  }
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return Status::IOError("reading configuration file \"" + path + "\" failed");
  return LoadConfigString(text, path, env);
}

}  // namespace lakesync::runner
