#pragma once

// A scratch PostgreSQL database for end-to-end tests: created in the server named by
// LAKESYNC_TEST_DATABASE_URL (the throwaway one `make test` starts) with psql, dropped when
// the object dies. The same approach as tests/cli_test.cc, shared by later e2e tests.
//
// Thread-safety: none needed (one test thread).

#include <string>

#include "tests/process.h"

namespace lakesync::testing {

// LAKESYNC_TEST_DATABASE_URL, or "" when unset (tests then GTEST_SKIP, saying how to run).
std::string TestDatabaseBaseUrl();

// "exit N\nstdout:\n...\nstderr:\n..." for assertion messages.
std::string Dump(const ProcessResult& r);

class ScratchDatabase {
 public:
  // Does nothing yet; call Create().
  explicit ScratchDatabase(std::string base_url);
  ~ScratchDatabase();  // drops the database (WITH (FORCE)) if it was created
  ScratchDatabase(const ScratchDatabase&) = delete;
  ScratchDatabase& operator=(const ScratchDatabase&) = delete;

  // Creates a database with a fresh random name. Returns "" on success, else what psql said.
  std::string Create();
  // Drops the database (terminating its connections) and creates it again, empty: "losing
  // PostgreSQL". Returns "" on success, else what psql said.
  std::string Recreate();

  // Runs one SQL statement in the database (psql -qtA): trimmed output, or "ERROR: ..." text
  // when psql fails.
  std::string Query(const std::string& sql) const;

  // Makes the database refuse new connections (ALLOW_CONNECTIONS false) and ends every session in
  // it, or (`down` false) accepts connections again: "PostgreSQL is unreachable" for whatever
  // connects to this database, while the server keeps running for the others. Runs from the
  // base URL's database. Returns "" on success, else what psql said.
  std::string SetUnreachable(bool down) const;

  // The URL of the database (the base URL with the database name replaced).
  const std::string& url() const { return url_; }

 private:
  std::string base_url_;
  std::string name_;
  std::string url_;
};

}  // namespace lakesync::testing
