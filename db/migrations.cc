#include "db/migrations.h"

#include <fmt/format.h>
#include <xxhash.h>

namespace lakesync::db {

std::string MigrationChecksum(std::string_view sql) {
  // A content hash, not a security measure: it catches an edited migration file.
  return fmt::format("xxh3-64:{:016x}", XXH3_64bits(sql.data(), sql.size()));
}

}  // namespace lakesync::db
