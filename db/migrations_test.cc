#include "db/migrations.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

namespace lakesync::db {
namespace {

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The .sql files are the source of truth: the binary must carry exactly their text, in order.
TEST(MigrationsTest, EmbeddedCopiesMatchTheFilesOnDisk) {
  std::filesystem::path dir = std::filesystem::path(LAKESYNC_SOURCE_DIR) / "db" / "migrations";
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() == ".sql") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  ASSERT_FALSE(files.empty());

  std::span<const Migration> embedded = EmbeddedMigrations();
  ASSERT_EQ(embedded.size(), files.size());
  for (size_t i = 0; i < files.size(); ++i) {
    // "0001_init.sql": four digits, '_', the name, ".sql".
    std::string file_name = files[i].filename().string();
    ASSERT_GT(file_name.size(), 9u) << file_name;
    ASSERT_EQ(file_name[4], '_') << file_name;
    EXPECT_EQ(embedded[i].version, static_cast<int>(i + 1));
    EXPECT_EQ(embedded[i].version, std::stoi(file_name.substr(0, 4)));
    EXPECT_EQ(embedded[i].name, file_name.substr(5, file_name.size() - 5 - 4));
    EXPECT_EQ(embedded[i].sql, ReadFile(files[i])) << file_name;
  }
}

TEST(MigrationsTest, ChecksumIsStableAndSensitive) {
  // XXH3-64 of the empty input is 0x2d06800538d394c2 (the xxHash reference test vector).
  EXPECT_EQ(MigrationChecksum(""), "xxh3-64:2d06800538d394c2");
  EXPECT_EQ(MigrationChecksum("CREATE TABLE a();"), MigrationChecksum("CREATE TABLE a();"));
  EXPECT_NE(MigrationChecksum("CREATE TABLE a();"), MigrationChecksum("CREATE TABLE a ();"));
}

}  // namespace
}  // namespace lakesync::db
