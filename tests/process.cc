#include "tests/process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace lakesync::testing {
namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

BackgroundProcess::BackgroundProcess(const std::vector<std::string>& argv,
                                     const std::map<std::string, std::string>& env, std::string log)
    : log_(std::move(log)) {
  // Everything the child needs is prepared before fork: only exec-safe calls after it.
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_ = fork();
  if (pid_ == 0) {
    int fd = open(log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    for (const auto& [k, v] : env) {
      if (v.empty()) {
        unsetenv(k.c_str());
      } else {
        setenv(k.c_str(), v.c_str(), 1);
      }
    }
    execv(args[0], args.data());
    _exit(127);
  }
  if (pid_ < 0) exited_ = true;
}

BackgroundProcess::~BackgroundProcess() {
  if (pid_ > 0 && !exited_) {
    kill(pid_, SIGCONT);  // a stopped child could not die
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

void BackgroundProcess::Signal(int sig) const {
  if (pid_ > 0 && !exited_) kill(pid_, sig);
}

std::string BackgroundProcess::Log() const { return ReadAll(log_); }

bool BackgroundProcess::WaitForLog(const std::string& text,
                                   std::chrono::milliseconds timeout) const {
  auto end = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (Log().find(text) != std::string::npos) return true;
    if (std::chrono::steady_clock::now() >= end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

bool BackgroundProcess::Running() { return !Wait(std::chrono::milliseconds(0)).has_value(); }

std::optional<int> BackgroundProcess::Wait(std::chrono::milliseconds timeout) {
  if (exited_) return code_;
  auto end = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      exited_ = true;
      code_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      return code_;
    }
    if (std::chrono::steady_clock::now() >= end) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

bool BackgroundProcess::Stop(int sig, std::chrono::milliseconds timeout) {
  if (exited_) return true;
  kill(pid_, sig);
  if (Wait(timeout).has_value()) return true;
  kill(pid_, SIGCONT);
  kill(pid_, SIGKILL);
  (void)Wait(std::chrono::seconds(30));
  return false;
}

TempDir::TempDir() {
  char tmpl[] = "/tmp/lakesync-test-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string TempDir::WriteFile(const std::string& name, const std::string& content) const {
  std::string full = path_ + "/" + name;
  std::filesystem::create_directories(std::filesystem::path(full).parent_path());
  std::ofstream out(full, std::ios::binary);
  out << content;
  return full;
}

namespace {

// A started child whose stdout and stderr go to files in `io`.
struct Spawned {
  pid_t pid = -1;
  std::string error;  // set when the spawn failed
};

Spawned Spawn(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
              const std::string& out_path, const std::string& err_path) {
  std::map<std::string, std::string> merged;
  for (char** e = environ; *e != nullptr; ++e) {
    const char* eq = std::strchr(*e, '=');
    if (eq != nullptr) merged[std::string(*e, static_cast<size_t>(eq - *e))] = eq + 1;
  }
  for (const auto& [k, v] : env) {
    if (v.empty())
      merged.erase(k);
    else
      merged[k] = v;
  }
  std::vector<std::string> env_strings;
  for (const auto& [k, v] : merged) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = argv;
  std::vector<char*> argp;
  for (auto& a : args) argp.push_back(a.data());
  argp.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0644);
  posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0644);
  Spawned child;
  int rc = posix_spawn(&child.pid, argp[0], &actions, nullptr, argp.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) child.error = std::string("posix_spawn failed: ") + std::strerror(rc);
  return child;
}

ProcessResult Collect(int status, const std::string& out_path, const std::string& err_path) {
  ProcessResult result;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  result.out = ReadAll(out_path);
  result.err = ReadAll(err_path);
  return result;
}

}  // namespace

ProcessResult RunProcess(const std::vector<std::string>& argv,
                         const std::map<std::string, std::string>& env) {
  TempDir io;
  const std::string out_path = io.path() + "/out", err_path = io.path() + "/err";
  Spawned child = Spawn(argv, env, out_path, err_path);
  if (!child.error.empty()) return ProcessResult{-1, "", child.error};
  int status = 0;
  while (waitpid(child.pid, &status, 0) < 0 && errno == EINTR) {
  }
  return Collect(status, out_path, err_path);
}

ProcessResult RunProcessKilledAfter(const std::vector<std::string>& argv,
                                    const std::map<std::string, std::string>& env,
                                    std::chrono::milliseconds kill_after, bool* killed,
                                    const std::function<bool()>& start_clock_when) {
  if (killed != nullptr) *killed = false;
  TempDir io;
  const std::string out_path = io.path() + "/out", err_path = io.path() + "/err";
  Spawned child = Spawn(argv, env, out_path, err_path);
  if (!child.error.empty()) return ProcessResult{-1, "", child.error};
  std::optional<std::chrono::steady_clock::time_point> deadline;
  if (!start_clock_when) deadline = std::chrono::steady_clock::now() + kill_after;
  int status = 0;
  for (;;) {
    pid_t done = waitpid(child.pid, &status, WNOHANG);
    if (done == child.pid) break;
    if (done < 0 && errno != EINTR) break;
    if (!deadline && start_clock_when()) deadline = std::chrono::steady_clock::now() + kill_after;
    if (deadline && std::chrono::steady_clock::now() >= *deadline) {
      kill(child.pid, SIGKILL);
      while (waitpid(child.pid, &status, 0) < 0 && errno == EINTR) {
      }
      // Killed only if the signal ended it: a process that exited between the last poll and
      // the kill (a zombie takes the signal without effect) finished on its own.
      if (killed != nullptr) *killed = WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return Collect(status, out_path, err_path);
}

}  // namespace lakesync::testing
