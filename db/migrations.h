#pragma once

// The schema migrations compiled into this binary. The SQL lives in db/migrations/NNNN_name.sql
// (the source of truth); db/embed_migrations.cmake turns those files into a generated .cc at
// build time.

#include <span>
#include <string>
#include <string_view>

namespace lakesync::db {

struct Migration {
  int version;            // 1, 2, 3, ... without gaps
  std::string_view name;  // "init" for 0001_init.sql
  std::string_view sql;   // one or more statements; applied in one transaction
};

// In version order. Never empty. The views point at static storage.
std::span<const Migration> EmbeddedMigrations();

// "xxh3-64:<16 hex digits>" of the SQL text: recorded with each applied migration so an edited
// migration file is noticed instead of silently diverging from the databases it created.
std::string MigrationChecksum(std::string_view sql);

}  // namespace lakesync::db
