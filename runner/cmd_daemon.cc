#include <pthread.h>
#include <signal.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <ostream>
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
      spdlog::info("{}: stopping (a second signal cancels runs in progress now)",
                   sig == SIGTERM ? "SIGTERM" : "SIGINT");
      if (!watched) {
        watched = true;
        // The stop's last resort, started before Stop (which may wait behind a query to a
        // state store that froze while the daemon's main loop held its lock): whatever holds
        // the stop up, the process ends, as a SIGKILL would end it.
        const Duration limit = d->MaxStopTime() + std::chrono::seconds(10);
        std::thread([limit] {
          std::this_thread::sleep_for(limit);
          spdlog::error(
              "stopping: still running {} after the signal; exiting now (runs left "
              "`running` are marked abandoned by the job's next lease holder)",
              FormatDuration(limit));
          spdlog::default_logger()->flush();
          std::_Exit(kExitJobFailed);
        }).detach();
      }
      d->Stop();
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
