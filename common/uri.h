#pragma once

// Uri: where a table or a location lives. Parsed once at the edge (configuration, CLI);
// everything below works with this value, never with raw strings.
//
//   file:///data/eastus      → {scheme "file", authority "", path "/data/eastus"}
//   /data/eastus             → same (an absolute path means the local filesystem)
//   s3://bucket/prefix       → {scheme "s3", authority "bucket", path "/prefix"}
//
// Paths are normalised: no trailing slash (except the root), no "." segments, no empty
// segments. A ".." segment is rejected: table locations never climb.

#include <string>
#include <string_view>

#include "common/status.h"

namespace lakesync {

class Uri {
 public:
  static Result<Uri> Parse(std::string_view text);
  static Result<Uri> LocalPath(std::string_view absolute_path);

  const std::string& scheme() const { return scheme_; }
  const std::string& authority() const { return authority_; }
  const std::string& path() const { return path_; }
  bool is_local() const { return scheme_ == "file"; }

  // Appends a relative path ("a/b", "/a/b" treated the same). Rejects "..".
  Result<Uri> Join(std::string_view relative) const;

  // True when `other` is this location or lies below it.
  bool Contains(const Uri& other) const;

  // "file:///data/eastus".
  std::string ToString() const;

  friend bool operator==(const Uri& a, const Uri& b) {
    return a.scheme_ == b.scheme_ && a.authority_ == b.authority_ && a.path_ == b.path_;
  }

 private:
  Uri(std::string scheme, std::string authority, std::string path)
      : scheme_(std::move(scheme)), authority_(std::move(authority)), path_(std::move(path)) {}

  std::string scheme_;
  std::string authority_;
  std::string path_;
};

// Normalises an absolute or relative slash-separated path as described above.
Result<std::string> NormalizePath(std::string_view path, bool absolute);

}  // namespace lakesync
