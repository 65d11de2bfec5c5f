#include "storage/storage.h"

#include <string>

#include "storage/local_storage.h"

namespace lakesync::storage {

namespace {

std::string Quoted(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '\0') {
      out += "\\0";
    } else {
      out += c;
    }
  }
  out += '"';
  return out;
}

// Checks the '/'-separated segments of `dir_part`, which is either empty or ends in '/'
// (so every segment in it is complete).
Status ValidateSegments(std::string_view dir_part, std::string_view whole, std::string_view what) {
  size_t start = 0;
  while (start < dir_part.size()) {
    size_t slash = dir_part.find('/', start);
    if (slash == std::string_view::npos) slash = dir_part.size();
    std::string_view segment = dir_part.substr(start, slash - start);
    if (segment.empty()) {
      return Status::InvalidArgument(std::string(what) + " " + Quoted(whole) +
                                     " has an empty path segment (\"//\"); write a/b, not a//b");
    }
    if (segment == "." || segment == "..") {
      return Status::InvalidArgument(
          std::string(what) + " " + Quoted(whole) + " contains a \"" + std::string(segment) +
          "\" segment; storage keys are plain paths below the root and never climb");
    }
    start = slash + 1;
  }
  return Status::OK();
}

Status ValidateCommon(std::string_view key, std::string_view what) {
  if (key.find('\0') != std::string_view::npos) {
    return Status::InvalidArgument(std::string(what) + " " + Quoted(key) +
                                   " contains a NUL byte; remove it");
  }
  if (!key.empty() && key[0] == '/') {
    return Status::InvalidArgument(std::string(what) + " " + Quoted(key) +
                                   " starts with '/'; keys are relative to the storage root "
                                   "(write a/b, not /a/b)");
  }
  return Status::OK();
}

}  // namespace

Status ValidateKey(std::string_view key) {
  if (key.empty()) {
    return Status::InvalidArgument("empty storage key; name a file below the storage root");
  }
  LAKESYNC_RETURN_IF_ERROR(ValidateCommon(key, "storage key"));
  if (key.back() == '/') {
    return Status::InvalidArgument("storage key " + Quoted(key) +
                                   " ends with '/'; keys name files, not directories");
  }
  // Validate the whole key as complete segments: append the virtual '/' after the last one.
  std::string with_slash(key);
  with_slash += '/';
  return ValidateSegments(with_slash, key, "storage key");
}

Status ValidateListOptions(const ListOptions& options) {
  const std::string& prefix = options.prefix;
  LAKESYNC_RETURN_IF_ERROR(ValidateCommon(prefix, "list prefix"));
  size_t last_slash = prefix.rfind('/');
  std::string_view dir_part = last_slash == std::string::npos
                                  ? std::string_view()
                                  : std::string_view(prefix).substr(0, last_slash + 1);
  return ValidateSegments(dir_part, prefix, "list prefix");
}

bool ListMatches(const ListOptions& options, std::string_view key) {
  if (key.substr(0, options.prefix.size()) != options.prefix) return false;
  if (!options.start_after.empty() && key <= options.start_after) return false;
  if (!options.recursive) {
    size_t last_slash = options.prefix.rfind('/');
    size_t dir_len = last_slash == std::string::npos ? 0 : last_slash + 1;
    if (key.find('/', dir_len) != std::string_view::npos) return false;
  }
  return true;
}

Result<std::unique_ptr<Storage>> OpenStorage(const Uri& root) {
  if (root.scheme() == "file") {
    LAKESYNC_ASSIGN_OR_RETURN(std::unique_ptr<LocalStorage> local, LocalStorage::Open(root));
    return std::unique_ptr<Storage>(std::move(local));
  }
  return Status::Unsupported("storage scheme \"" + root.scheme() + "\" (in " + root.ToString() +
                             ") is not supported; only file:// locations (local or mounted "
                             "filesystems) are supported today");
}

}  // namespace lakesync::storage
