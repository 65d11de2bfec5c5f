// Connection errors of the PostgreSQL store that need no server: a port nobody listens on.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>

#include "db/pg.h"
#include "db/pg_state_store.h"

namespace lakesync::db {
namespace {

// A loopback port that refuses connections: bound by us to get a free number, then closed.
int ClosedPort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  EXPECT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  socklen_t len = sizeof addr;
  EXPECT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  close(fd);
  return ntohs(addr.sin_port);
}

void ExpectRedacted(const Status& s, std::string_view secret) {
  EXPECT_EQ(s.message().find(secret), std::string::npos) << s;
  EXPECT_EQ(s.ToString().find(secret), std::string::npos) << s;
}

TEST(PgConnectTest, RefusedConnectionIsUnavailableWithoutThePassword) {
  int port = ClosedPort();
  std::string url =
      "postgresql://lakesync:Sup3rS3cretPw@127.0.0.1:" + std::to_string(port) + "/lakesync";
  Result<std::unique_ptr<PgStateStore>> store = PgStateStore::Connect(url);
  ASSERT_FALSE(store.ok());
  const Status& s = store.status();
  EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s;
  EXPECT_TRUE(s.retryable());
  ExpectRedacted(s, "Sup3rS3cretPw");
  // The address is shown with the password masked, and the message says what to check.
  std::string shown = "postgresql://lakesync:***@127.0.0.1:" + std::to_string(port) + "/lakesync";
  EXPECT_NE(s.message().find("cannot reach the state store at " + shown), std::string::npos) << s;
  EXPECT_NE(s.message().find("LAKESYNC_DATABASE_URL"), std::string::npos) << s;
  EXPECT_NE(s.message().find("refused"), std::string::npos) << s;
  EXPECT_EQ(s.message().find('\n'), std::string::npos) << s;
}

// The readiness probe's ping: false at once for a closed port (a silent server: see
// PgConnectTimeoutTest).
TEST(PgConnectTest, AnswersWithinIsFalseForAClosedPort) {
  auto started = std::chrono::steady_clock::now();
  EXPECT_FALSE(
      pg::AnswersWithin("postgresql://u:pw@127.0.0.1:" + std::to_string(ClosedPort()) + "/db",
                        std::chrono::seconds(5)));
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(2));
}

TEST(PgConnectTest, AnswersWithinIsTrueForARunningServer) {
  const char* url = std::getenv("LAKESYNC_TEST_DATABASE_URL");
  if (url == nullptr || url[0] == '\0') {
    GTEST_SKIP() << "\n*** SKIPPED: LAKESYNC_TEST_DATABASE_URL is not set (make test starts a "
                    "throwaway PostgreSQL) ***";
  }
  EXPECT_TRUE(pg::AnswersWithin(url, std::chrono::seconds(5)));
}

TEST(PgConnectTest, KeywordFormWithQuotedPasswordIsRedacted) {
  int port = ClosedPort();
  std::string conninfo = "host=127.0.0.1 port=" + std::to_string(port) +
                         " user=lakesync dbname=lakesync password='pa ss\\'Xq9zK'";
  Result<std::unique_ptr<PgStateStore>> store = PgStateStore::Connect(conninfo);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kUnavailable) << store.status();
  ExpectRedacted(store.status(), "pa ss");
  ExpectRedacted(store.status(), "Xq9zK");
  EXPECT_NE(store.status().message().find("password=***"), std::string::npos) << store.status();
}

TEST(PgConnectTest, PercentEncodedPasswordIsRedactedInBothForms) {
  int port = ClosedPort();
  // %40 is '@': libpq decodes it to "p@ssW0rdX"; neither spelling may appear.
  std::string url =
      "postgresql://lakesync:p%40ssW0rdX@127.0.0.1:" + std::to_string(port) + "/lakesync";
  Result<std::unique_ptr<PgStateStore>> store = PgStateStore::Connect(url);
  ASSERT_FALSE(store.ok());
  ExpectRedacted(store.status(), "p%40ssW0rdX");
  ExpectRedacted(store.status(), "p@ssW0rdX");
  ExpectRedacted(store.status(), "ssW0rdX");
}

TEST(PgConnectTest, MalformedConnectionStringIsInvalidArgumentWithoutThePassword) {
  Result<std::unique_ptr<PgStateStore>> store =
      PgStateStore::Connect("postgresql://lakesync:Hunter2Hunter2@127.0.0.1:5432/db?nosuchparam=1");
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kInvalidArgument) << store.status();
  ExpectRedacted(store.status(), "Hunter2Hunter2");
  EXPECT_NE(store.status().message().find("postgresql://user:password@host:port/database"),
            std::string::npos)
      << store.status();
}

TEST(PgConnectTest, EmptyConnectionStringSaysWhatToSet) {
  Result<std::unique_ptr<PgStateStore>> store = PgStateStore::Connect("");
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(store.status().message().find("LAKESYNC_DATABASE_URL"), std::string::npos);
}

TEST(SqlStateTest, MapsClassesToCodes) {
  EXPECT_EQ(pg::StatusFromSqlState("23505", "dup").code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(pg::StatusFromSqlState("23514", "check").code(), StatusCode::kInvalidArgument);
  for (std::string_view retry : {"40001", "40P01"}) {
    Status s = pg::StatusFromSqlState(retry, "x");
    EXPECT_EQ(s.code(), StatusCode::kConflict) << retry;
    EXPECT_TRUE(s.retryable()) << retry;
  }
  for (std::string_view gone : {"08006", "08001", "57P01", "53300"}) {
    Status s = pg::StatusFromSqlState(gone, "x");
    EXPECT_EQ(s.code(), StatusCode::kUnavailable) << gone;
    EXPECT_TRUE(s.retryable()) << gone;
  }
  Status missing = pg::StatusFromSqlState("42P01", "relation \"runs\" does not exist");
  EXPECT_EQ(missing.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(missing.message().find("lakesync db migrate"), std::string::npos);
  EXPECT_EQ(pg::StatusFromSqlState("XX000", "x").code(), StatusCode::kInternal);
}

}  // namespace
}  // namespace lakesync::db
