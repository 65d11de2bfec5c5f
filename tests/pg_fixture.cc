#include "tests/pg_fixture.h"

#include <cstdlib>
#include <random>

namespace lakesync::testing {
namespace {

const char* const kPsql = "/usr/bin/psql";

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r')) s.pop_back();
  return s;
}

}  // namespace

std::string TestDatabaseBaseUrl() {
  const char* base = std::getenv("LAKESYNC_TEST_DATABASE_URL");
  return base == nullptr ? "" : base;
}

std::string Dump(const ProcessResult& r) {
  return "exit " + std::to_string(r.exit_code) + "\nstdout:\n" + r.out + "\nstderr:\n" + r.err;
}

ScratchDatabase::ScratchDatabase(std::string base_url) : base_url_(std::move(base_url)) {}

ScratchDatabase::~ScratchDatabase() {
  if (name_.empty()) return;
  // Best effort: a leftover scratch database is harmless in a throwaway server.
  RunProcess(
      {kPsql, base_url_, "-qtA", "-c", "DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)"});
}

std::string ScratchDatabase::Create() {
  std::random_device rd;
  name_ = "e2e_repl_" + std::to_string(rd()) + std::to_string(rd());
  url_ = base_url_.substr(0, base_url_.rfind('/') + 1) + name_;
  auto r = RunProcess({kPsql, base_url_, "-qtA", "-c", "CREATE DATABASE " + name_});
  if (r.exit_code != 0) {
    std::string err = Dump(r);
    name_.clear();
    return err;
  }
  return "";
}

std::string ScratchDatabase::Recreate() {
  auto d = RunProcess(
      {kPsql, base_url_, "-qtA", "-c", "DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)"});
  if (d.exit_code != 0) return Dump(d);
  auto c = RunProcess({kPsql, base_url_, "-qtA", "-c", "CREATE DATABASE " + name_});
  if (c.exit_code != 0) return Dump(c);
  return "";
}

std::string ScratchDatabase::Query(const std::string& sql) const {
  auto r = RunProcess({kPsql, url_, "-qtA", "-c", sql});
  if (r.exit_code != 0) return "ERROR: " + Dump(r);
  return Trim(r.out);
}

std::string ScratchDatabase::SetUnreachable(bool down) const {
  // ALLOW_CONNECTIONS holds for superusers too (CONNECTION LIMIT does not).
  const std::string limit =
      "ALTER DATABASE " + name_ + " ALLOW_CONNECTIONS " + (down ? "false" : "true");
  auto a = RunProcess({kPsql, base_url_, "-qtA", "-c", limit});
  if (a.exit_code != 0) return Dump(a);
  if (!down) return "";
  auto t = RunProcess({kPsql, base_url_, "-qtA", "-c",
                       "SELECT count(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity "
                       "WHERE datname = '" +
                           name_ + "'"});
  if (t.exit_code != 0) return Dump(t);
  return "";
}

}  // namespace lakesync::testing
