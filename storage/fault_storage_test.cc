#include "storage/fault_storage.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "storage/local_storage.h"
#include "storage/memory_storage.h"
#include "storage/test_util.h"

namespace lakesync::storage {
namespace {

using Op = FaultInjectingStorage::Op;
using testing::ListRaw;
using testing::PatternBytes;
using testing::TempDir;
using Names = std::vector<std::string>;

class FaultStorageTest : public ::testing::Test {
 protected:
  MemoryStorage base_;
  FaultInjectingStorage storage_{base_};
};

TEST_F(FaultStorageTest, FailNthHitsExactlyTheNthCall) {
  ASSERT_TRUE(base_.WriteAtomic("f", "data").ok());
  storage_.FailNth(Op::kRead, 2, Status::IOError("injected read failure"));
  EXPECT_TRUE(storage_.Read("f").ok());             // call 1
  Result<std::string> second = storage_.Read("f");  // call 2
  EXPECT_EQ(second.status(), Status::IOError("injected read failure"));
  EXPECT_TRUE(storage_.Read("f").ok());  // call 3: a FailNth fires once
  EXPECT_EQ(storage_.Calls(Op::kRead), 3);
  // Other op kinds are untouched and counted separately.
  EXPECT_TRUE(storage_.Stat("f").ok());
  EXPECT_EQ(storage_.Calls(Op::kStat), 1);
}

TEST_F(FaultStorageTest, DeferredCopiesAndSyncAllAreCountedAndFaulted) {
  ASSERT_TRUE(base_.WriteAtomic("src", "0123456789").ok());
  // A deferred copy is a kCopy: the same faults apply. A torn one publishes nothing.
  storage_.ShortWrite(Op::kCopy, 1, 4);
  EXPECT_EQ(storage_.CopyFromDeferred(base_, "src", "dst").status().code(), StatusCode::kIOError);
  EXPECT_TRUE(base_.Stat("dst").status().IsNotFound());
  Result<uint64_t> n = storage_.CopyFromDeferred(base_, "src", "dst");
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 10u);
  EXPECT_EQ(storage_.Calls(Op::kCopy), 2);
  EXPECT_EQ(storage_.BytesWritten(), 10u);

  storage_.FailNth(Op::kSyncAll, 2, Status::IOError("injected fsync failure"));
  EXPECT_TRUE(storage_.SyncAll().ok());                                      // call 1
  EXPECT_EQ(storage_.SyncAll(), Status::IOError("injected fsync failure"));  // call 2
  EXPECT_TRUE(storage_.SyncAll().ok());                                      // call 3
  EXPECT_EQ(storage_.Calls(Op::kSyncAll), 3);
  EXPECT_EQ(FaultInjectingStorage::OpName(Op::kSyncAll), "SyncAll");
}

TEST_F(FaultStorageTest, FailNthCountsFromWhenItIsSet) {
  ASSERT_TRUE(base_.WriteAtomic("f", "data").ok());
  EXPECT_TRUE(storage_.Read("f").ok());
  EXPECT_TRUE(storage_.Read("f").ok());
  storage_.FailNth(Op::kRead, 1, Status::IOError("next one"));
  EXPECT_FALSE(storage_.Read("f").ok());
  EXPECT_TRUE(storage_.Read("f").ok());
}

TEST_F(FaultStorageTest, FailAllUntilClear) {
  storage_.FailAll(Op::kList, Status::Unavailable("region down"));
  EXPECT_EQ(storage_.List(ListOptions{}).status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(storage_.List(ListOptions{}).status().code(), StatusCode::kUnavailable);
  storage_.Clear();
  EXPECT_TRUE(storage_.List(ListOptions{}).ok());
  EXPECT_EQ(storage_.Calls(Op::kList), 3);
}

TEST_F(FaultStorageTest, FailedPutIfAbsentLeavesNothingVisible) {
  storage_.FailNth(Op::kPutIfAbsent, 1, Status::IOError("injected"));
  EXPECT_FALSE(storage_.PutIfAbsent("t/_delta_log/0.json", "{}").ok());
  EXPECT_TRUE(base_.Stat("t/_delta_log/0.json").status().IsNotFound());
  // The retry succeeds: the failed call did not claim the key.
  EXPECT_TRUE(storage_.PutIfAbsent("t/_delta_log/0.json", "{}").ok());
}

TEST_F(FaultStorageTest, ShortWritePublishesNothing) {
  storage_.ShortWrite(Op::kPutIfAbsent, 1, 3);
  Status s = storage_.PutIfAbsent("c.json", "0123456789");
  EXPECT_EQ(s.code(), StatusCode::kIOError);
  EXPECT_NE(s.message().find("3 of 10 bytes"), std::string::npos) << s;
  EXPECT_TRUE(base_.Stat("c.json").status().IsNotFound());
  EXPECT_TRUE(storage_.PutIfAbsent("c.json", "0123456789").ok());
}

TEST_F(FaultStorageTest, NoSpaceBudget) {
  // Budget 10: 6 fits (6), 5 would make 11 > 10 and fails, 4 makes exactly 10 and fits,
  // then 1 more byte fails.
  storage_.NoSpaceAfterBytes(10);
  ASSERT_TRUE(storage_.WriteAtomic("a", "666666").ok());
  Status s = storage_.WriteAtomic("b", "55555");
  EXPECT_EQ(s.code(), StatusCode::kIOError);
  EXPECT_NE(s.message().find("No space left on device"), std::string::npos) << s;
  EXPECT_TRUE(base_.Stat("b").status().IsNotFound());
  ASSERT_TRUE(storage_.PutIfAbsent("c", "4444").ok());
  EXPECT_FALSE(storage_.WriteAtomic("d", "1").ok());
  EXPECT_EQ(storage_.BytesWritten(), 10u);
  storage_.Clear();
  EXPECT_TRUE(storage_.WriteAtomic("d", "1").ok());
}

TEST_F(FaultStorageTest, FaultsOnASourceApplyToCopiesFromIt) {
  MemoryStorage target;
  ASSERT_TRUE(base_.WriteAtomic("src", "bytes").ok());
  storage_.FailNth(Op::kReadStream, 1, Status::IOError("source read failed"));
  EXPECT_FALSE(target.CopyFrom(storage_, "src", "dst").ok());
  EXPECT_TRUE(target.Stat("dst").status().IsNotFound());
  EXPECT_TRUE(target.CopyFrom(storage_, "src", "dst").ok());
  EXPECT_EQ(storage_.Calls(Op::kReadStream), 2);
}

// Over a real filesystem: copies that break off mid-stream leave no temp file and publish
// nothing.
class FaultOverLocalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    Result<Uri> uri = Uri::LocalPath(dir_.path() + "/root");
    ASSERT_TRUE(uri.ok());
    Result<std::unique_ptr<LocalStorage>> local = LocalStorage::Open(*uri);
    ASSERT_TRUE(local.ok()) << local.status();
    local_ = std::move(local).value();
    storage_ = std::make_unique<FaultInjectingStorage>(*local_);
    ASSERT_TRUE(source_.WriteAtomic("big", PatternBytes(3 * kReadChunkSize)).ok());
    ASSERT_TRUE(local_->WriteAtomic("t/existing", "x").ok());
  }

  TempDir dir_;
  std::unique_ptr<LocalStorage> local_;
  std::unique_ptr<FaultInjectingStorage> storage_;
  MemoryStorage source_;
};

TEST_F(FaultOverLocalTest, NoSpaceMidCopy) {
  storage_->NoSpaceAfterBytes(kReadChunkSize + 5);  // breaks inside the second chunk
  Result<uint64_t> n = storage_->CopyFrom(source_, "big", "t/big");
  EXPECT_EQ(n.status().code(), StatusCode::kIOError);
  EXPECT_NE(n.status().message().find("No space left on device"), std::string::npos) << n.status();
  EXPECT_EQ(ListRaw(dir_.path() + "/root"), (Names{"t/", "t/existing"}));
}

TEST_F(FaultOverLocalTest, ShortWriteMidCopyIfAbsent) {
  storage_->ShortWrite(Op::kCopy, 1, 100);
  EXPECT_EQ(storage_->CopyFromIfAbsent(source_, "big", "t/big").status().code(),
            StatusCode::kIOError);
  EXPECT_EQ(ListRaw(dir_.path() + "/root"), (Names{"t/", "t/existing"}));
  // The next copy is unaffected and complete.
  Result<uint64_t> n = storage_->CopyFromIfAbsent(source_, "big", "t/big");
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 3 * kReadChunkSize);
  EXPECT_EQ(storage_->BytesWritten(), 3 * kReadChunkSize);
}

TEST_F(FaultOverLocalTest, FailedPutIfAbsentLeavesNoTempFile) {
  storage_->ShortWrite(Op::kPutIfAbsent, 1, 1);
  EXPECT_FALSE(storage_->PutIfAbsent("t/new", "abc").ok());
  EXPECT_TRUE(storage_->PutIfAbsent("t/existing", "abc").IsAlreadyExists());
  EXPECT_EQ(ListRaw(dir_.path() + "/root"), (Names{"t/", "t/existing"}));
}

}  // namespace
}  // namespace lakesync::storage
