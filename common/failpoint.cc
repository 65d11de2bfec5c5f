#include "common/failpoint.h"

#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <map>
#include <mutex>

#include <spdlog/spdlog.h>

namespace lakesync {
namespace failpoint_internal {

std::atomic<int> g_state{kUninitialized};

namespace {

struct Config {
  std::mutex mu;
  std::map<std::string, int64_t, std::less<>> fire_at;  // name → hit that fires. Guarded by mu.
  std::map<std::string, int64_t, std::less<>> hits;     // Guarded by mu.
  failpoint_testing::Handler handler;                   // Guarded by mu.
};

Config& GetConfig() {
  static Config* config = new Config();  // Never destroyed: failpoints may fire at exit.
  return *config;
}

Result<std::map<std::string, int64_t, std::less<>>> ParseSpec(std::string_view spec) {
  std::map<std::string, int64_t, std::less<>> out;
  size_t pos = 0;
  while (pos <= spec.size()) {
    size_t comma = spec.find(',', pos);
    if (comma == std::string_view::npos) comma = spec.size();
    std::string_view entry = spec.substr(pos, comma - pos);
    pos = comma + 1;
    while (!entry.empty() && entry.front() == ' ') entry.remove_prefix(1);
    while (!entry.empty() && entry.back() == ' ') entry.remove_suffix(1);
    if (entry.empty()) continue;
    int64_t n = 1;
    size_t at = entry.find('@');
    std::string_view name = entry.substr(0, at);
    if (at != std::string_view::npos) {
      std::string_view count = entry.substr(at + 1);
      n = 0;
      bool valid = !count.empty() && count.size() <= 9;
      for (char c : count) {
        if (c < '0' || c > '9') valid = false;
        if (valid) n = n * 10 + (c - '0');
      }
      if (!valid || n < 1) {
        return Status::InvalidArgument("failpoint entry '" + std::string(entry) +
                                       "' has a bad hit count; write name@N with N ≥ 1");
      }
    }
    if (name.empty()) {
      return Status::InvalidArgument("failpoint entry '" + std::string(entry) +
                                     "' has no name; write name or name@N");
    }
    out[std::string(name)] = n;
  }
  return out;
}

void Install(std::map<std::string, int64_t, std::less<>> fire_at) {
  Config& config = GetConfig();
  std::lock_guard<std::mutex> lock(config.mu);
  config.hits.clear();
  const bool on = !fire_at.empty();
  config.fire_at = std::move(fire_at);
  g_state.store(on ? kOn : kOff, std::memory_order_relaxed);
}

void InitFromEnvironment() {
  static std::once_flag once;
  std::call_once(once, [] {
    const char* env = std::getenv("LAKESYNC_FAILPOINTS");
    auto parsed = ParseSpec(env == nullptr ? "" : env);
    if (!parsed.ok()) {
      spdlog::warn("ignoring LAKESYNC_FAILPOINTS: {}", parsed.status().message());
      // Only set the state if no test configured it first.
      int expected = kUninitialized;
      g_state.compare_exchange_strong(expected, kOff);
      return;
    }
    if (g_state.load() == kUninitialized) Install(std::move(parsed).value());
  });
}

}  // namespace

void Hit(std::string_view name) {
  if (g_state.load(std::memory_order_acquire) == kUninitialized) InitFromEnvironment();
  if (g_state.load(std::memory_order_acquire) != kOn) return;
  Config& config = GetConfig();
  failpoint_testing::Handler handler;
  {
    std::lock_guard<std::mutex> lock(config.mu);
    auto it = config.fire_at.find(name);
    if (it == config.fire_at.end()) return;
    auto hit = config.hits.find(name);
    if (hit == config.hits.end()) hit = config.hits.emplace(std::string(name), 0).first;
    if (++hit->second != it->second) return;
    handler = config.handler;
  }
  if (handler) {
    handler(name);
    return;
  }
  // A real crash: no cleanup of any kind. The message goes straight to stderr (unbuffered) so
  // the test harness can tell a failpoint kill from any other death.
  std::string msg = "lakesync: failpoint " + std::string(name) + " fired; killing the process\n";
  [[maybe_unused]] auto ignored = ::write(2, msg.data(), msg.size());
  ::raise(SIGKILL);
}

}  // namespace failpoint_internal

namespace failpoint_testing {

Status Enable(std::string_view spec) {
  // Make sure the environment is never read later over the test's configuration.
  failpoint_internal::InitFromEnvironment();
  LAKESYNC_ASSIGN_OR_RETURN(auto parsed, failpoint_internal::ParseSpec(spec));
  failpoint_internal::Install(std::move(parsed));
  return Status::OK();
}

void SetHandler(Handler handler) {
  auto& config = failpoint_internal::GetConfig();
  std::lock_guard<std::mutex> lock(config.mu);
  config.handler = std::move(handler);
}

int64_t Hits(std::string_view name) {
  auto& config = failpoint_internal::GetConfig();
  std::lock_guard<std::mutex> lock(config.mu);
  auto it = config.hits.find(name);
  return it == config.hits.end() ? 0 : it->second;
}

void Reset() {
  failpoint_internal::InitFromEnvironment();
  failpoint_internal::Install({});
  SetHandler(nullptr);
}

}  // namespace failpoint_testing
}  // namespace lakesync
