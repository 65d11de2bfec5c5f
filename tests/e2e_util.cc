#include "tests/e2e_util.h"

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

namespace lakesync::testing {

namespace fs = std::filesystem;

std::string Python() {
  for (const char* p : {"/usr/bin/python3", "/usr/local/bin/python3", "/bin/python3"}) {
    if (fs::exists(p)) return p;
  }
  return "/usr/bin/python3";
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string CommitName(int64_t version) {
  std::string digits = std::to_string(version);
  return std::string(20 - digits.size(), '0') + digits + ".json";
}

std::set<int64_t> CommitVersions(const std::string& table) {
  static const std::regex kCommit("^([0-9]{20})\\.json$");
  std::set<int64_t> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(table + "/_delta_log", ec)) {
    std::smatch m;
    std::string name = e.path().filename().string();
    if (e.is_regular_file(ec) && std::regex_match(name, m, kCommit)) {
      out.insert(std::stoll(m[1].str()));
    }
  }
  return out;
}

int64_t ContiguousHead(const std::string& table) {
  std::set<int64_t> versions = CommitVersions(table);
  int64_t head = -1;
  while (versions.count(head + 1)) ++head;
  return head;
}

void CopyFixture(const std::string& fixtures_dir, const std::string& name, const std::string& to) {
  fs::create_directories(to);
  fs::copy(fixtures_dir + "/" + name, to, fs::copy_options::recursive);
  for (auto& e : fs::recursive_directory_iterator(to)) {
    fs::permissions(e.path(), fs::perms::owner_write, fs::perm_options::add);
  }
}

}  // namespace lakesync::testing
