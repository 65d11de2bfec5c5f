#pragma once

// RunObserver: how a job reports progress to whoever runs it, and how the runner can stop it.
// jobs/ knows nothing of PostgreSQL or Prometheus; the runner implements this interface to
// feed them (and a terminal progress bar). Tests implement it in memory.
//
// Thread-safety: file callbacks arrive from the copy worker threads concurrently;
// implementations must be thread-safe. Every method has a no-op default.

#include <cstdint>
#include <string>

#include "common/status.h"

namespace lakesync::jobs {

class RunObserver {
 public:
  virtual ~RunObserver() = default;

  // A target's plan: it is at `from_version` (-1: empty) and will be brought to `to_version`,
  // copying up to `files` files / `bytes` bytes (files already present are skipped).
  virtual void OnTargetPlanned(const std::string& target, int64_t from_version, int64_t to_version,
                               int64_t files, int64_t bytes) {}
  // One data, deletion-vector or change-data file copied (or found already present).
  virtual void OnFileCopied(const std::string& target, const std::string& path, int64_t bytes) {}
  // Commit `version` published on the target.
  virtual void OnCommitPublished(const std::string& target, int64_t version) {}

  // Checked at safe points (between files, before each commit publish, never inside one).
  // Non-OK stops the run with that status (Cancelled for a timeout or shutdown).
  virtual Status CheckContinue() { return Status::OK(); }
  // Called right before each commit publish: the lease fencing check. Non-OK stops the run
  // and nothing more is published.
  virtual Status BeforePublish(const std::string& target, int64_t version) { return Status::OK(); }
};

}  // namespace lakesync::jobs
