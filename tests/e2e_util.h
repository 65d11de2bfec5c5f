#pragma once

// Small helpers shared by the end-to-end tests: the Python interpreter that runs the
// independent checkers, whole-file reads, and Delta log facts read straight from the directory
// (readdir and file names only: independent of lakesync's code).
//
// Thread-safety: all functions are safe to call from any thread (no shared state).

#include <cstdint>
#include <set>
#include <string>

namespace lakesync::testing {

// The python3 that runs tests/tools/*.py.
std::string Python();

// The bytes of `path`, or "" when it cannot be read.
std::string ReadFile(const std::string& path);

// "00000000000000000042.json" for 42.
std::string CommitName(int64_t version);

// The versions of the commit files (`<20 digits>.json`) directly in `table`/_delta_log; empty
// when the directory does not exist.
std::set<int64_t> CommitVersions(const std::string& table);

// The highest version v such that commits 0..v are all present; -1 when there is no commit 0.
int64_t ContiguousHead(const std::string& table);

// Copies the fixture table `fixtures_dir`/`name` to `to` (created), made writable so that a
// test can damage its copy and nothing can damage the shared one.
void CopyFixture(const std::string& fixtures_dir, const std::string& name, const std::string& to);

}  // namespace lakesync::testing
