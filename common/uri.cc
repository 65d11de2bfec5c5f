#include "common/uri.h"

#include <cctype>
#include <vector>

namespace lakesync {

Result<std::string> NormalizePath(std::string_view path, bool absolute) {
  std::vector<std::string_view> parts;
  size_t i = 0;
  while (i <= path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    std::string_view seg = path.substr(i, j - i);
    if (seg == "..") {
      return Status::InvalidArgument("path \"" + std::string(path) +
                                     "\" contains \"..\"; write the path without climbing");
    }
    if (!seg.empty() && seg != ".") parts.push_back(seg);
    i = j + 1;
  }
  std::string out;
  for (auto seg : parts) {
    if (absolute || !out.empty()) out += '/';
    out.append(seg);
  }
  if (absolute && out.empty()) out = "/";
  return out;
}

Result<Uri> Uri::LocalPath(std::string_view absolute_path) {
  if (absolute_path.empty() || absolute_path[0] != '/') {
    return Status::InvalidArgument("\"" + std::string(absolute_path) +
                                   "\" is not an absolute path; write /path or file:///path");
  }
  LAKESYNC_ASSIGN_OR_RETURN(std::string path, NormalizePath(absolute_path, true));
  return Uri("file", "", std::move(path));
}

Result<Uri> Uri::Parse(std::string_view text) {
  if (!text.empty() && text[0] == '/') return LocalPath(text);
  size_t sep = text.find("://");
  if (sep == std::string_view::npos || sep == 0) {
    return Status::InvalidArgument(
        "\"" + std::string(text) +
        "\" is not a URL; write file:///absolute/path or /absolute/path");
  }
  std::string scheme;
  for (char c : text.substr(0, sep)) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '-' && c != '.') {
      return Status::InvalidArgument("\"" + std::string(text) + "\" has an invalid URL scheme");
    }
    scheme += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  std::string_view rest = text.substr(sep + 3);
  size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? "/" : rest.substr(slash);
  if (scheme == "file") {
    if (!authority.empty() && authority != "localhost") {
      return Status::InvalidArgument("\"" + std::string(text) +
                                     "\": file URLs name no host; write file:///absolute/path");
    }
    authority = "";
  } else if (authority.empty()) {
    return Status::InvalidArgument("\"" + std::string(text) + "\" names no bucket or host");
  }
  LAKESYNC_ASSIGN_OR_RETURN(std::string norm, NormalizePath(path, true));
  return Uri(std::move(scheme), std::string(authority), std::move(norm));
}

Result<Uri> Uri::Join(std::string_view relative) const {
  LAKESYNC_ASSIGN_OR_RETURN(std::string rel, NormalizePath(relative, false));
  if (rel.empty()) return *this;
  std::string joined = path_ == "/" ? "/" + rel : path_ + "/" + rel;
  return Uri(scheme_, authority_, std::move(joined));
}

bool Uri::Contains(const Uri& other) const {
  if (scheme_ != other.scheme_ || authority_ != other.authority_) return false;
  if (path_ == "/") return true;
  if (other.path_.size() < path_.size()) return false;
  if (other.path_.compare(0, path_.size(), path_) != 0) return false;
  return other.path_.size() == path_.size() || other.path_[path_.size()] == '/';
}

std::string Uri::ToString() const { return scheme_ + "://" + authority_ + path_; }

}  // namespace lakesync
