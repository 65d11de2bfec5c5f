#include "common/uri.h"

#include <gtest/gtest.h>

namespace lakesync {
namespace {

TEST(UriTest, ParsesLocalForms) {
  auto a = Uri::Parse("file:///data/eastus/");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->scheme(), "file");
  EXPECT_EQ(a->path(), "/data/eastus");
  EXPECT_EQ(a->ToString(), "file:///data/eastus");
  EXPECT_EQ(*Uri::Parse("/data//eastus/./x"), *Uri::Parse("file:///data/eastus/x"));
  EXPECT_EQ(Uri::Parse("file://localhost/tmp")->path(), "/tmp");
}

TEST(UriTest, ParsesObjectStoreForms) {
  auto s3 = Uri::Parse("s3://bucket/pre/fix");
  ASSERT_TRUE(s3.ok());
  EXPECT_EQ(s3->authority(), "bucket");
  EXPECT_EQ(s3->path(), "/pre/fix");
  EXPECT_FALSE(s3->is_local());
}

TEST(UriTest, RejectsBadForms) {
  EXPECT_FALSE(Uri::Parse("relative/path").ok());
  EXPECT_FALSE(Uri::Parse("file://host/x").ok());
  EXPECT_FALSE(Uri::Parse("/a/../b").ok());
  EXPECT_FALSE(Uri::Parse("s3:///nobucket").ok());
}

TEST(UriTest, JoinAndContains) {
  Uri root = *Uri::Parse("/data");
  EXPECT_EQ(root.Join("delta/sales")->path(), "/data/delta/sales");
  EXPECT_FALSE(root.Join("../etc").ok());
  EXPECT_TRUE(root.Contains(*Uri::Parse("/data/x")));
  EXPECT_TRUE(root.Contains(root));
  EXPECT_FALSE(root.Contains(*Uri::Parse("/database")));
  EXPECT_TRUE(Uri::Parse("/")->Contains(root));
}

}  // namespace
}  // namespace lakesync
