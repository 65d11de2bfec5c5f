#include "common/status.h"

#include <gtest/gtest.h>

namespace lakesync {
namespace {

Result<int> Half(int x) {
  if (x % 2 != 0) return Status::InvalidArgument(std::to_string(x) + " is odd");
  return x / 2;
}

Result<int> Quarter(int x) {
  LAKESYNC_ASSIGN_OR_RETURN(int h, Half(x));
  LAKESYNC_ASSIGN_OR_RETURN(int q, Half(h));
  return q;
}

TEST(StatusTest, ContextChainsOutsideIn) {
  Status s = Status::IOError("No space left on device")
                 .WithContext("writing target")
                 .WithContext("copying part-0001.parquet");
  EXPECT_EQ(s.message(), "copying part-0001.parquet: writing target: No space left on device");
  EXPECT_EQ(s.ToString(),
            "IOError: copying part-0001.parquet: writing target: No space left on device");
  EXPECT_TRUE(s.retryable());
  EXPECT_TRUE(Status::OK().WithContext("ignored").ok());
}

TEST(StatusTest, FromErrnoMapsCodes) {
  EXPECT_TRUE(Status::FromErrno(ENOENT, "open x").IsNotFound());
  EXPECT_TRUE(Status::FromErrno(EEXIST, "link x").IsAlreadyExists());
  Status s = Status::FromErrno(ENOSPC, "write x");
  EXPECT_EQ(s.code(), StatusCode::kIOError);
  EXPECT_EQ(s.message(), "write x: No space left on device");
  EXPECT_FALSE(Status::FromErrno(EACCES, "open").retryable());
}

TEST(ResultTest, AssignOrReturnPropagates) {
  EXPECT_EQ(*Quarter(8), 2);
  Result<int> r = Quarter(6);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "3 is odd");
  EXPECT_EQ(r.value_or(-1), -1);
}

TEST(ResultTest, OkStatusWithoutValueIsAnError) {
  Result<int> r = Status::OK();
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInternal);
}

}  // namespace
}  // namespace lakesync
