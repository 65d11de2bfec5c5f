#pragma once

// Helpers for the jobs tests (not part of the library): temp tables on disk, a recording
// observer, and an independent replica check that reads files with std::filesystem and a
// regex — none of the engine's code — so it can catch the engine's mistakes.

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "common/uri.h"
#include "jobs/incremental.h"
#include "jobs/run_observer.h"
#include "storage/local_storage.h"
#include "storage/test_util.h"

namespace lakesync::jobs::testing {

namespace fs = std::filesystem;

// Normalised: storage keys and Uri::LocalPath refuse "..".
inline std::string FixturesDir() {
  std::error_code ec;
  fs::path p = fs::weakly_canonical(LAKESYNC_FIXTURES_DIR, ec);
  return ec ? std::string(LAKESYNC_FIXTURES_DIR) : p.string();
}

inline std::string ReadFileBytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void WriteFileBytes(const fs::path& p, const std::string& bytes) {
  fs::create_directories(p.parent_path());
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << bytes;
}

inline std::string CommitName(int64_t v) {
  std::string digits = std::to_string(v);
  return std::string(20 - digits.size(), '0') + digits + ".json";
}

// A LocalStorage rooted at `dir`.
inline std::unique_ptr<storage::LocalStorage> OpenLocal(const std::string& dir) {
  auto uri = Uri::LocalPath(dir);
  if (!uri.ok()) {
    ADD_FAILURE() << uri.status();
    return nullptr;
  }
  auto opened = storage::LocalStorage::Open(*uri);
  if (!opened.ok()) {
    ADD_FAILURE() << opened.status();
    return nullptr;
  }
  return std::move(opened).value();
}

// Copies a directory tree (files are made writable: fixtures are read-only).
inline void CopyTree(const fs::path& from, const fs::path& to) {
  fs::create_directories(to);
  fs::copy(from, to, fs::copy_options::recursive | fs::copy_options::overwrite_existing);
  for (auto& e : fs::recursive_directory_iterator(to)) {
    fs::permissions(e.path(), fs::perms::owner_write, fs::perm_options::add);
  }
  fs::permissions(to, fs::perms::owner_write, fs::perm_options::add);
}

// Percent-decodes once (the test's own, independent of delta/).
inline std::string Unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

// Paths of add and cdc actions in one commit file, found with a regex (Delta writers put
// "path" first in add and cdc actions, which holds for every fixture).
inline std::vector<std::string> ReferencedPaths(const std::string& commit_bytes) {
  static const std::regex re(R"re("(add|cdc)":\{"path":"([^"]*)")re");
  std::vector<std::string> out;
  for (auto it = std::sregex_iterator(commit_bytes.begin(), commit_bytes.end(), re);
       it != std::sregex_iterator(); ++it) {
    out.push_back(Unescape((*it)[2].str()));
  }
  return out;
}

// The versions of the commit files in `table/_delta_log`.
inline std::set<int64_t> CommitVersions(const fs::path& table) {
  std::set<int64_t> out;
  static const std::regex re(R"(^(\d{20})\.json$)");
  if (!fs::exists(table / "_delta_log")) return out;
  for (auto& e : fs::directory_iterator(table / "_delta_log")) {
    std::smatch m;
    std::string name = e.path().filename().string();
    if (std::regex_match(name, m, re)) out.insert(std::stoll(m[1].str()));
  }
  return out;
}

// Gives commit file k of the table at `table` the modification time first + k × step, as a
// writer committing at those times leaves them (a copied fixture's are all the same instant).
inline void SetCommitTimes(const fs::path& table, TimePoint first, std::chrono::seconds step) {
  for (int64_t v : CommitVersions(table)) {
    fs::last_write_time(table / "_delta_log" / CommitName(v),
                        fs::file_time_type::clock::from_sys(first + v * step));
  }
}

// Independent replica check up to `version`: the target's commits are exactly the source's
// 0..version, byte for byte, and every add/cdc file of those commits that exists in the
// source exists in the target with the same bytes. Returns the problems found.
inline std::vector<std::string> IndependentCheck(const fs::path& src, const fs::path& tgt,
                                                 int64_t version) {
  std::vector<std::string> problems;
  std::set<int64_t> target_versions = CommitVersions(tgt);
  for (int64_t v : target_versions) {
    if (v > version) problems.push_back("target has commit " + std::to_string(v));
  }
  for (int64_t v = 0; v <= version; ++v) {
    fs::path s = src / "_delta_log" / CommitName(v);
    fs::path t = tgt / "_delta_log" / CommitName(v);
    if (!fs::exists(s)) continue;
    if (!fs::exists(t)) {
      problems.push_back("missing commit " + std::to_string(v));
      continue;
    }
    std::string bytes = ReadFileBytes(s);
    if (bytes != ReadFileBytes(t)) problems.push_back("commit differs " + std::to_string(v));
    for (const auto& path : ReferencedPaths(bytes)) {
      if (!fs::exists(src / path)) continue;
      if (!fs::exists(tgt / path)) {
        problems.push_back("missing file " + path);
      } else if (ReadFileBytes(src / path) != ReadFileBytes(tgt / path)) {
        problems.push_back("file differs " + path);
      }
    }
  }
  return problems;
}

// Records every callback; thread-safe. Optional hooks make CheckContinue/BeforePublish fail.
class RecordingObserver : public RunObserver {
 public:
  void OnTargetPlanned(const std::string& target, int64_t from, int64_t to, int64_t files,
                       int64_t bytes) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      planned.push_back({target, from, to, files, bytes});
    }
    if (on_planned) on_planned();
  }
  void OnFileCopied(const std::string& target, const std::string& path, int64_t bytes) override {
    std::lock_guard<std::mutex> lock(mu_);
    copied.push_back(target + ":" + path);
  }
  void OnCommitPublished(const std::string& target, int64_t version) override {
    std::lock_guard<std::mutex> lock(mu_);
    published.push_back({target, version});
  }
  Status CheckContinue() override {
    int n = ++continue_calls;
    if (cancel_after_checks >= 0 && n > cancel_after_checks) {
      return Status::Cancelled("timeout (test)");
    }
    return Status::OK();
  }
  Status BeforePublish(const std::string& target, int64_t version) override {
    if (refuse_publish_at >= 0 && version == refuse_publish_at) {
      return Status::Conflict("lease lost (test)");
    }
    return Status::OK();
  }

  struct Planned {
    std::string target;
    int64_t from, to, files, bytes;
  };
  std::mutex mu_;
  std::vector<Planned> planned;
  std::vector<std::string> copied;
  std::vector<std::pair<std::string, int64_t>> published;
  std::atomic<int> continue_calls{0};
  int cancel_after_checks = -1;
  int64_t refuse_publish_at = -1;
  // Called after a target's plan (its listing done) and before its first copy.
  std::function<void()> on_planned;
};

}  // namespace lakesync::jobs::testing
