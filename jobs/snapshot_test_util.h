#pragma once

// Helpers shared by the snapshot and restore unit tests (not part of the library): running a
// command (the independent checker tests/tools/delta_facts.py) and skipping loudly without the
// fixtures.

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <utility>

#include "jobs/jobs_test_util.h"

namespace lakesync::jobs::testing {

// Runs `cmd` with /bin/sh; returns its exit code and its stdout and stderr together.
inline std::pair<int, std::string> Sh(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (p == nullptr) return {-1, "popen failed"};
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int rc = ::pclose(p);
  return {WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, out};
}

inline const std::string& ToolsDir() {
  static const std::string dir = std::string(LAKESYNC_SOURCE_DIR) + "/tests/tools";
  return dir;
}

}  // namespace lakesync::jobs::testing

#define LAKESYNC_SKIP_WITHOUT_FIXTURES()                                                     \
  if (!std::filesystem::is_directory(::lakesync::jobs::testing::FixturesDir()))              \
  GTEST_SKIP() << "SKIPPED: fixtures directory " << ::lakesync::jobs::testing::FixturesDir() \
               << " is absent; these tests read the real Delta tables of ../shared/fixtures"
