#pragma once

// ProgressObserver: the RunObserver of `lakesync run`. Counts what a run copies and shows it:
// on a terminal, a progress line redrawn a few times a second (versions, files, bytes, rate,
// ETA); otherwise a log line every few seconds and one per target at the end.
//
// Thread-safety: callbacks may come from copy worker threads concurrently.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "common/clock.h"
#include "jobs/run_observer.h"

namespace lakesync::runner {

class ProgressObserver final : public jobs::RunObserver {
 public:
  // `interactive`: draw a progress bar on stderr (a terminal); else periodic log lines.
  ProgressObserver(std::string job, bool interactive);
  ~ProgressObserver() override;

  void OnTargetPlanned(const std::string& target, int64_t from_version, int64_t to_version,
                       int64_t files, int64_t bytes) override;
  void OnFileCopied(const std::string& target, const std::string& path, int64_t bytes) override;
  void OnCommitPublished(const std::string& target, int64_t version) override;

  // Stops the redraw thread and clears the progress line.
  void Finish();

 private:
  struct TargetProgress {
    int64_t from_version = -1;
    int64_t to_version = -1;
    int64_t version = -1;
    int64_t planned_files = 0;
    int64_t planned_bytes = 0;
    int64_t files = 0;
    int64_t bytes = 0;
  };

  void Loop();
  std::string Line(std::chrono::steady_clock::time_point now) const;  // REQUIRES: mu_ held

  const std::string job_;
  const bool interactive_;
  const std::chrono::steady_clock::time_point start_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::map<std::string, TargetProgress> targets_;
  std::thread thread_;
};

// "1.5 MiB", "12 B".
std::string FormatBytes(double bytes);

}  // namespace lakesync::runner
