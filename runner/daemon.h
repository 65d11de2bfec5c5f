#pragma once

// The scheduler daemon (`lakesync daemon -c FILE`): runs every configured job on its schedule,
// starts manual runs requested with `lakesync trigger`, and coordinates with other daemons on
// the same PostgreSQL through job leases.
//
// Threads: the loop thread (Run) owns the Scheduler; one worker thread per run in progress
// (at most runner.max_concurrent_runs), each with a heartbeat thread renewing its job's lease;
// a keep-alive thread that every runner.heartbeat_interval renews the claims of the manual
// requests this daemon has not completed (a claim not renewed for runner.lease_ttl is taken
// over by another daemon, so a killed daemon's requests still run) and records a heartbeat for
// each run in progress (runs.heartbeat_at); a listener thread (LISTEN for run requests,
// claiming them); an HTTP server (/healthz, /readyz, /metrics); the notifier's delivery thread.
//
// Start-up: the scheduler is seeded with each job's newest run in the state store
// (Scheduler::SeedLastStart), so a restarted daemon runs an `every` job at its last start + the
// interval rather than at once. A manual request is linked to its run as soon as the run starts.
//
// Leases and fencing (db/coordination.h): a worker takes the job's lease before starting the
// run; a job whose lease another runner holds is not run here (a retry is dropped as cancelled
// — the holder is running the job; a manual run waits for the lease; a scheduled run is owed
// and asked again every min(lease_ttl, interval) until the holder's run ends, then runs only
// if that run did not serve its tick: docs/daemon.md). The run's
// observer checks the lease in the database before every commit publish and before the final
// record, so a runner that lost its lease (frozen past the TTL, cut off from the database)
// publishes and records nothing. A worker that takes over a job marks its `running` runs
// (left by a dead or frozen holder) abandoned.
//
// Stop (SIGTERM/SIGINT): no new runs start; runs in progress continue for up to
// runner.shutdown_grace, then are cancelled at their next safe point; claimed manual requests
// that did not start go back to pending; leases are released. Reload (SIGHUP): the file is
// re-read and validated; an invalid file is logged and the running configuration stays.
//
// Thread-safety: Stop and Reload may be called from any thread (a signal-handling thread).

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "common/status.h"
#include "runner/config.h"

namespace lakesync::runner {

struct DaemonOptions {
  std::string config_path;  // re-read on Reload
  std::string version;      // reported by /healthz and metrics
};

class Daemon {
 public:
  // Connects to the state store, migrates the schema, records the jobs and starts the HTTP
  // server. Errors: Unavailable (state store), InvalidArgument (runner.listen, configuration).
  [[nodiscard]] static Result<std::unique_ptr<Daemon>> Create(Config config, DaemonOptions options);
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Runs until Stop() and the drain finish. OK after a clean stop; Cancelled when runs did not
  // reach a safe point in time, and Unavailable when a helper thread was stuck in a query to a
  // state store that does not answer (frozen, or cut off without a reset): either way threads
  // still use the Daemon, so the caller must then exit the process without destroying it.
  [[nodiscard]] Status Run();

  void Stop();
  void Reload();

  // The longest a stop should take from Stop() to Run() returning, given runner.shutdown_grace:
  // the grace, then the cancelled runs' drain, then the helper threads' stop. Past it (the
  // state store froze while the daemon was holding its lock), the caller exits the process
  // anyway: what a stop leaves behind is what a SIGKILL would, which the state store's records
  // and the leases are made to survive.
  static Duration MaxStopTime(Duration shutdown_grace);
  // The configuration's runner.shutdown_grace in milliseconds, kept up to date by reloads;
  // readable without any lock, and after the Daemon is destroyed.
  std::shared_ptr<const std::atomic<int64_t>> shutdown_grace_ms() const;

  // The HTTP port actually bound (runner.listen may say port 0).
  int http_port() const;

 private:
  struct Impl;
  explicit Daemon(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace lakesync::runner
