#include <fcntl.h>
#include <fmt/format.h>
#include <pthread.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <ostream>
#include <string>
#include <thread>

#include "common/duration.h"
#include "runner/command_util.h"
#include "runner/commands.h"
#include "runner/daemon.h"
#include "runner/exit_codes.h"

namespace lakesync::runner {

int CmdDaemon(const GlobalOptions& g, std::ostream& out, std::ostream& err) {
  Result<Config> config = LoadGlobalConfig(g);
  if (!config.ok()) return ReportError(config.status(), err, kExitUsage);

  // Signals go to one thread that waits for them (sigwait); every other thread, including the
  // ones the daemon starts below, inherits this mask and never sees them.
  sigset_t signals;
  sigemptyset(&signals);
  for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGUSR2}) sigaddset(&signals, sig);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  DaemonOptions options;
  options.config_path = g.config_path;
  options.version = LAKESYNC_VERSION;
  auto daemon = Daemon::Create(std::move(*config), options);
  if (!daemon.ok()) {
    return ReportStoreOpenError(daemon.status(), err);
  }
  Daemon* d = daemon->get();
  std::thread waiter([d, signals] {
    bool watched = false;
    for (;;) {
      int sig = 0;
      if (sigwait(&signals, &sig) != 0) continue;
      if (sig == SIGUSR2) return;  // the daemon stopped
      if (sig == SIGHUP) {
        spdlog::info("SIGHUP: reloading the configuration");
        d->Reload();
        continue;
      }
      // The watchdog and the stop come before the log line (a stalled stderr must not hold
      // them up).
      if (!watched) {
        watched = true;
        // The stop's last resort, started before Stop: whatever holds the stop up, the process
        // ends, as a SIGKILL would end it. The limit follows a reload's new shutdown_grace.
        // It holds the grace, not the Daemon (destroyed after a clean stop while it sleeps).
        std::thread([grace = d->shutdown_grace_ms(), signalled = std::chrono::steady_clock::now()] {
          for (;;) {
            const Duration limit =
                Daemon::MaxStopTime(Duration(grace->load())) + std::chrono::seconds(10);
            const auto until = signalled + limit;
            if (std::chrono::steady_clock::now() >= until) {
              // Not through spdlog (its sink may block on a stalled stderr pipe): one write
              // that cannot block, then out.
              const std::string line = fmt::format(
                  "lakesync: daemon: still running {} after the signal; exiting now (runs left "
                  "`running` are marked abandoned by the job's next lease holder)\n",
                  FormatDuration(limit));
              ::fcntl(STDERR_FILENO, F_SETFL, ::fcntl(STDERR_FILENO, F_GETFL) | O_NONBLOCK);
              (void)!::write(STDERR_FILENO, line.data(), line.size());
              std::_Exit(kExitJobFailed);
            }
            std::this_thread::sleep_until(
                std::min(until, std::chrono::steady_clock::now() + std::chrono::seconds(1)));
          }
        }).detach();
      }
      d->Stop();
      spdlog::info("{}: stopping (a second signal cancels runs in progress now)",
                   sig == SIGTERM ? "SIGTERM" : "SIGINT");
    }
  });
  Status s = d->Run();
  pthread_kill(waiter.native_handle(), SIGUSR2);
  waiter.join();
  if (!s.ok()) {
    // Runs that did not reach a safe point still use the daemon's state: leave without
    // destroying it (their leases expire by themselves; the next holder abandons their runs).
    err << "lakesync: daemon: " << s.message() << "\n";
    err.flush();
    spdlog::default_logger()->flush();
    std::_Exit(kExitJobFailed);
  }
  daemon->reset();
  return kExitOk;
}

}  // namespace lakesync::runner
