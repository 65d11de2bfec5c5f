#include "runner/progress.h"

#include <spdlog/spdlog.h>

#include <cstdio>
#include <iostream>

#include "common/duration.h"

namespace lakesync::runner {

std::string FormatBytes(double bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int unit = 0;
  while (bytes >= 1024 && unit < 4) {
    bytes /= 1024;
    ++unit;
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), unit == 0 ? "%.0f %s" : "%.1f %s", bytes, kUnits[unit]);
  return buf;
}

ProgressObserver::ProgressObserver(std::string job, bool interactive)
    : job_(std::move(job)), interactive_(interactive), start_(std::chrono::steady_clock::now()) {
  thread_ = std::thread([this] { Loop(); });
}

ProgressObserver::~ProgressObserver() { Finish(); }

void ProgressObserver::OnTargetPlanned(const std::string& target, int64_t from_version,
                                       int64_t to_version, int64_t files, int64_t bytes) {
  std::lock_guard lock(mu_);
  TargetProgress& p = targets_[target];
  p.from_version = from_version;
  p.version = from_version;
  p.to_version = to_version;
  p.planned_files += files;
  p.planned_bytes += bytes;
}

void ProgressObserver::OnFileCopied(const std::string& target, const std::string&, int64_t bytes) {
  std::lock_guard lock(mu_);
  TargetProgress& p = targets_[target];
  ++p.files;
  p.bytes += bytes;
}

void ProgressObserver::OnCommitPublished(const std::string& target, int64_t version) {
  std::lock_guard lock(mu_);
  targets_[target].version = version;
}

std::string ProgressObserver::Line(std::chrono::steady_clock::time_point now) const {
  int64_t files = 0, planned_files = 0, bytes = 0, planned_bytes = 0, versions = 0,
          planned_versions = 0;
  for (const auto& [name, p] : targets_) {
    files += p.files;
    planned_files += p.planned_files;
    bytes += p.bytes;
    planned_bytes += p.planned_bytes;
    versions += p.version - p.from_version;
    planned_versions += p.to_version - p.from_version;
  }
  double secs = std::chrono::duration<double>(now - start_).count();
  double rate = secs > 0 ? bytes / secs : 0;
  std::string line = job_ + ": versions " + std::to_string(versions) + "/" +
                     std::to_string(planned_versions) + "  files " + std::to_string(files) + "/" +
                     std::to_string(planned_files) + "  " + FormatBytes(bytes) + "/" +
                     FormatBytes(planned_bytes) + "  " + FormatBytes(rate) + "/s";
  if (rate > 0 && planned_bytes > bytes) {
    auto eta =
        std::chrono::milliseconds(static_cast<int64_t>((planned_bytes - bytes) / rate * 1000));
    line += "  ETA " + FormatDuration(std::chrono::duration_cast<std::chrono::seconds>(eta));
  }
  return line;
}

void ProgressObserver::Loop() {
  const auto period = interactive_ ? std::chrono::milliseconds(200) : std::chrono::seconds(5);
  std::unique_lock lock(mu_);
  while (!cv_.wait_for(lock, period, [this] { return done_; })) {
    if (targets_.empty()) continue;
    std::string line = Line(std::chrono::steady_clock::now());
    if (interactive_) {
      std::cerr << "\r\033[K" << line << std::flush;
    } else {
      spdlog::info("{}", line);
    }
  }
}

void ProgressObserver::Finish() {
  {
    std::lock_guard lock(mu_);
    if (done_) return;
    done_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (interactive_) std::cerr << "\r\033[K" << std::flush;
}

}  // namespace lakesync::runner
