#pragma once

// Helpers for storage tests (not part of the library).

#include <dirent.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

namespace lakesync::storage::testing {

// A fresh directory under /tmp, removed (recursively) on destruction.
class TempDir {
 public:
  TempDir() {
    char pattern[] = "/tmp/lakesync-storage-XXXXXX";
    const char* made = ::mkdtemp(pattern);
    path_ = made == nullptr ? std::string() : std::string(made);
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  // Empty if mkdtemp failed.
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Every name below `dir` (relative, '/'-separated, dot-files included, directories with a
// trailing '/'), sorted; read with readdir, independently of LocalStorage.
inline void ListRawInto(const std::string& dir, const std::string& rel,
                        std::vector<std::string>* out) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return;
  while (struct dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    std::string full = dir + "/" + name;
    struct stat st;
    if (::lstat(full.c_str(), &st) != 0) continue;
    if (S_ISDIR(st.st_mode)) {
      out->push_back(rel + name + "/");
      ListRawInto(full, rel + name + "/", out);
    } else {
      out->push_back(rel + name);
    }
  }
  ::closedir(d);
}

inline std::vector<std::string> ListRaw(const std::string& dir) {
  std::vector<std::string> out;
  ListRawInto(dir, "", &out);
  std::sort(out.begin(), out.end());
  return out;
}

// `size` bytes of a pattern that does not repeat at power-of-two boundaries (so a chunk copied
// to the wrong offset would show), computed without the code under test.
inline std::string PatternBytes(size_t size) {
  std::string out(size, '\0');
  uint32_t x = 2463534242u;  // xorshift32
  for (size_t i = 0; i < size; ++i) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    out[i] = static_cast<char>(x & 0xff);
  }
  return out;
}

}  // namespace lakesync::storage::testing
