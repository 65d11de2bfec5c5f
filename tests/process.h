#pragma once

// Runs a child process (the real lakesync binary) for end-to-end tests and captures its exit
// code, stdout and stderr.

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace lakesync::testing {

struct ProcessResult {
  int exit_code = -1;  // -1 when killed by a signal
  std::string out;
  std::string err;
};

// Runs `argv` with the current environment plus `env` (a value of "" unsets the variable).
ProcessResult RunProcess(const std::vector<std::string>& argv,
                         const std::map<std::string, std::string>& env = {});

// Like RunProcess, but sends SIGKILL to the child when it is still running `kill_after` after
// it started (for crash tests that kill at a random point) — or, when `start_clock_when` is
// given, `kill_after` after that predicate first returns true (polled about every
// millisecond while the child runs; e.g. "the target has a new commit"). `*killed` (when
// non-null) tells whether the kill was sent; the result then has exit_code -1.
ProcessResult RunProcessKilledAfter(const std::vector<std::string>& argv,
                                    const std::map<std::string, std::string>& env,
                                    std::chrono::milliseconds kill_after, bool* killed,
                                    const std::function<bool()>& start_clock_when = nullptr);

// A child process running in the background (a daemon, a server) with stdout and stderr
// going to the file `log` (truncated), and the current environment plus `env` (a value of ""
// unsets the variable). The destructor kills a child that still runs (SIGCONT, then SIGKILL)
// and reaps it. Not thread-safe.
class BackgroundProcess {
 public:
  BackgroundProcess(const std::vector<std::string>& argv,
                    const std::map<std::string, std::string>& env, std::string log);
  ~BackgroundProcess();
  BackgroundProcess(const BackgroundProcess&) = delete;
  BackgroundProcess& operator=(const BackgroundProcess&) = delete;

  int pid() const { return pid_; }
  void Signal(int sig) const;
  // The log so far.
  std::string Log() const;
  // Waits until the log holds `text`; false after `timeout`.
  bool WaitForLog(const std::string& text, std::chrono::milliseconds timeout) const;
  // False once the child exited (reaping it).
  bool Running();
  // The exit code (-1 when killed by a signal), or nullopt when it still runs after `timeout`.
  std::optional<int> Wait(std::chrono::milliseconds timeout);
  // Sends `sig` and waits up to `timeout` for the exit; then SIGKILLs it. True when it exited
  // (or had exited) within `timeout`.
  bool Stop(int sig, std::chrono::milliseconds timeout);

 private:
  std::string log_;
  int pid_ = -1;
  bool exited_ = false;
  int code_ = -1;
};

// A fresh temporary directory, removed (recursively) when the object dies.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  // Writes `content` to path()/name and returns the full path.
  std::string WriteFile(const std::string& name, const std::string& content) const;

 private:
  std::string path_;
};

}  // namespace lakesync::testing
