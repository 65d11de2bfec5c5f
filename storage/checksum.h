#pragma once

// XXH3-64 checksums of stored files, for `verify: checksum` (comparing a replica's bytes with
// the source's without holding either file in memory).
//
// Thread-safety: free functions; safe to call concurrently.

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"
#include "storage/storage.h"

namespace lakesync::storage {

// XXH3 64-bit hash (seed 0) of the whole file, streamed through Storage::ReadStream (memory
// independent of the file size). Errors are the storage's (NotFound, IOError...) with the
// context "checksumming <path>".
[[nodiscard]] Result<uint64_t> Xxh3OfFile(Storage& storage, std::string_view path);

// XXH3 64-bit hash (seed 0) of bytes in memory; equal to Xxh3OfFile of a file holding them.
uint64_t Xxh3Of(std::string_view data);

// 16 lowercase hex digits, the form used in logs and reports.
std::string FormatXxh3(uint64_t hash);

}  // namespace lakesync::storage
