#include "common/redact.h"

#include <gtest/gtest.h>

namespace lakesync {
namespace {

TEST(RedactTest, UriPasswordMasked) {
  EXPECT_EQ(RedactConnectionString("postgresql://app:s3cr%40t@db.example:5432/lakesync"),
            "postgresql://app:***@db.example:5432/lakesync");
  EXPECT_EQ(RedactConnectionString("postgres://app@db/x?sslmode=require&password=hunter2"),
            "postgres://app@db/x?sslmode=require&password=***");
  EXPECT_EQ(RedactConnectionString("postgresql://app@db/x"), "postgresql://app@db/x");
  EXPECT_EQ(RedactConnectionString("postgresql://u:p@ss@h/db"), "postgresql://u:***@h/db");
}

TEST(RedactTest, KeywordPasswordMasked) {
  EXPECT_EQ(RedactConnectionString("host=h user=u password=hunter2 dbname=d"),
            "host=h user=u password=*** dbname=d");
  EXPECT_EQ(RedactConnectionString("host=h password = 'a b\\' c' port=5"),
            "host=h password = *** port=5");
  EXPECT_EQ(RedactConnectionString("PASSWORD=x"), "PASSWORD=***");
  // A key that merely ends in "password" is not a password.
  EXPECT_EQ(RedactConnectionString("host=h notpassword=x"), "host=h notpassword=x");
}

TEST(RedactTest, SecretAndWebhook) {
  EXPECT_EQ(RedactSecret("auth failed for hunter2 (hunter2)", "hunter2"),
            "auth failed for *** (***)");
  EXPECT_EQ(RedactSecret("x", ""), "x");
  EXPECT_EQ(RedactUrl("https://hooks.slack.com/services/T0/B0/XYZ"), "https://hooks.slack.com/***");
  EXPECT_EQ(RedactUrl("https://user:pw@host"), "https://host");
}

}  // namespace
}  // namespace lakesync
