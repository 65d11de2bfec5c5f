#include "storage/checksum.h"

#include <xxhash.h>

#include <cstdio>
#include <memory>

namespace lakesync::storage {

namespace {

struct StateFree {
  void operator()(XXH3_state_t* state) const { XXH3_freeState(state); }
};

}  // namespace

Result<uint64_t> Xxh3OfFile(Storage& storage, std::string_view path) {
  std::unique_ptr<XXH3_state_t, StateFree> state(XXH3_createState());
  if (state == nullptr || XXH3_64bits_reset(state.get()) == XXH_ERROR) {
    return Status::Internal("checksumming " + std::string(path) +
                            ": could not allocate an XXH3 state");
  }
  Status streamed = storage.ReadStream(path, [&](std::string_view chunk) {
    if (XXH3_64bits_update(state.get(), chunk.data(), chunk.size()) == XXH_ERROR) {
      return Status::Internal("XXH3 update failed");
    }
    return Status::OK();
  });
  if (!streamed.ok()) return streamed.WithContext("checksumming " + std::string(path));
  return static_cast<uint64_t>(XXH3_64bits_digest(state.get()));
}

uint64_t Xxh3Of(std::string_view data) {
  return static_cast<uint64_t>(XXH3_64bits(data.data(), data.size()));
}

std::string FormatXxh3(uint64_t hash) {
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(hash));
  return buf;
}

}  // namespace lakesync::storage
