// Behavioural tests of the Storage contract, run against every implementation (LocalStorage
// in a fresh temp directory, MemoryStorage), plus the shared helpers in storage.h.

#include "storage/storage.h"

#include <gtest/gtest.h>

#include <chrono>
#include <latch>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "storage/checksum.h"
#include "storage/local_storage.h"
#include "storage/memory_storage.h"
#include "storage/test_util.h"

namespace lakesync::storage {
namespace {

using testing::PatternBytes;
using testing::TempDir;

std::vector<std::string> Keys(const std::vector<FileInfo>& files) {
  std::vector<std::string> keys;
  for (const FileInfo& f : files) keys.push_back(f.path);
  return keys;
}

class StorageTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "local") {
      ASSERT_FALSE(dir_.path().empty()) << "mkdtemp failed";
      storage_ = OpenLocal(dir_.path() + "/root");
      other_ = OpenLocal(dir_.path() + "/other");
    } else {
      storage_ = std::make_unique<MemoryStorage>(clock_, "memory://root");
      other_ = std::make_unique<MemoryStorage>(clock_, "memory://other");
    }
    ASSERT_NE(storage_, nullptr);
    ASSERT_NE(other_, nullptr);
  }

  static std::unique_ptr<Storage> OpenLocal(const std::string& path) {
    Result<Uri> uri = Uri::LocalPath(path);
    if (!uri.ok()) return nullptr;
    Result<std::unique_ptr<Storage>> s = OpenStorage(*uri);
    return s.ok() ? std::move(s).value() : nullptr;
  }

  void Put(Storage& s, const std::string& key, const std::string& data) {
    ASSERT_TRUE(s.WriteAtomic(key, data).ok()) << key;
  }

  std::string ReadOrDie(Storage& s, const std::string& key) {
    Result<std::string> r = s.Read(key);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : std::string();
  }

  ManualClock clock_{FromUnixMillis(1'700'000'000'000)};
  TempDir dir_;
  std::unique_ptr<Storage> storage_;
  std::unique_ptr<Storage> other_;
};

INSTANTIATE_TEST_SUITE_P(Backends, StorageTest, ::testing::Values("local", "memory"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

class ListTest : public StorageTest {
 protected:
  void SetUp() override {
    StorageTest::SetUp();
    // Written out of order on purpose.
    for (const char* key :
         {"u/x", "t/part-1.parquet", "t/_delta_log/00000000000000000002.json", "t/a/part-2.parquet",
          "t/_delta_log/00000000000000000000.json", "t/a/b/part-3.parquet",
          "t/_delta_log/_last_checkpoint", "t/_delta_log/00000000000000000001.json"}) {
      Put(*storage_, key, std::string("data of ") + key);
    }
  }

  std::vector<std::string> ListKeys(std::string prefix, std::string start_after, bool recursive) {
    ListOptions options;
    options.prefix = std::move(prefix);
    options.start_after = std::move(start_after);
    options.recursive = recursive;
    Result<std::vector<FileInfo>> r = storage_->List(options);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? Keys(*r) : std::vector<std::string>{"<error>"};
  }
};

INSTANTIATE_TEST_SUITE_P(Backends, ListTest, ::testing::Values("local", "memory"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

TEST_P(ListTest, DirectChildrenSortedByKey) {
  // Byte order: '0' (0x30) < '_' (0x5f), so the commits come before _last_checkpoint.
  EXPECT_EQ(ListKeys("t/_delta_log/", "", false),
            (std::vector<std::string>{
                "t/_delta_log/00000000000000000000.json", "t/_delta_log/00000000000000000001.json",
                "t/_delta_log/00000000000000000002.json", "t/_delta_log/_last_checkpoint"}));
}

TEST_P(ListTest, NonRecursiveSkipsDirectories) {
  EXPECT_EQ(ListKeys("t/", "", false), (std::vector<std::string>{"t/part-1.parquet"}));
}

TEST_P(ListTest, StartAfterIsExclusive) {
  EXPECT_EQ(ListKeys("t/_delta_log/", "t/_delta_log/00000000000000000000.json", false),
            (std::vector<std::string>{"t/_delta_log/00000000000000000001.json",
                                      "t/_delta_log/00000000000000000002.json",
                                      "t/_delta_log/_last_checkpoint"}));
  // A start_after that is not itself a key: everything greater.
  EXPECT_EQ(ListKeys("t/_delta_log/", "t/_delta_log/00000000000000000001.jsoo", false),
            (std::vector<std::string>{"t/_delta_log/00000000000000000002.json",
                                      "t/_delta_log/_last_checkpoint"}));
}

TEST_P(ListTest, PartialLastSegmentPrefix) {
  EXPECT_EQ(ListKeys("t/_delta_log/0000", "", false),
            (std::vector<std::string>{"t/_delta_log/00000000000000000000.json",
                                      "t/_delta_log/00000000000000000001.json",
                                      "t/_delta_log/00000000000000000002.json"}));
}

TEST_P(ListTest, RecursiveListsEveryDepthInKeyOrder) {
  // "t/_" < "t/a" < "t/p" (0x5f < 0x61 < 0x70); inside t/a/, "b/" < "part" ('b' < 'p').
  EXPECT_EQ(ListKeys("t/", "", true),
            (std::vector<std::string>{
                "t/_delta_log/00000000000000000000.json", "t/_delta_log/00000000000000000001.json",
                "t/_delta_log/00000000000000000002.json", "t/_delta_log/_last_checkpoint",
                "t/a/b/part-3.parquet", "t/a/part-2.parquet", "t/part-1.parquet"}));
  EXPECT_EQ(ListKeys("", "", true).size(), 8u);
  EXPECT_EQ(ListKeys("", "", true).back(), "u/x");
  EXPECT_EQ(ListKeys("t/a", "", true),
            (std::vector<std::string>{"t/a/b/part-3.parquet", "t/a/part-2.parquet"}));
}

TEST_P(ListTest, RecursiveWithStartAfter) {
  EXPECT_EQ(ListKeys("t/", "t/a/b/part-3.parquet", true),
            (std::vector<std::string>{"t/a/part-2.parquet", "t/part-1.parquet"}));
}

TEST_P(ListTest, MissingPrefixIsEmptyNotError) {
  EXPECT_TRUE(ListKeys("nope/", "", false).empty());
  EXPECT_TRUE(ListKeys("nope/deeper/", "", true).empty());
}

TEST_P(ListTest, ReportsSizes) {
  ListOptions options;
  options.prefix = "u/";
  Result<std::vector<FileInfo>> r = storage_->List(options);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].size, 11u);  // "data of u/x"
}

TEST_P(StorageTest, StatMissingIsNotFound) {
  Result<FileInfo> r = storage_->Stat("no/such/file");
  EXPECT_TRUE(r.status().IsNotFound()) << r.status();
  Put(*storage_, "a/file", "12345");
  r = storage_->Stat("a/file");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->path, "a/file");
  EXPECT_EQ(r->size, 5u);
}

TEST_P(StorageTest, ReadAndReadRange) {
  Put(*storage_, "f", "hello world");
  EXPECT_EQ(ReadOrDie(*storage_, "f"), "hello world");
  Result<std::string> r = storage_->ReadRange("f", 6, 5);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, "world");
  r = storage_->ReadRange("f", 0, 5);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, "hello");
  // Past the end: fewer bytes, then none.
  r = storage_->ReadRange("f", 6, 100);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, "world");
  r = storage_->ReadRange("f", 11, 1);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, "");
  r = storage_->ReadRange("f", 1000, 1);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, "");
  EXPECT_TRUE(storage_->Read("missing").status().IsNotFound());
  EXPECT_TRUE(storage_->ReadRange("missing", 0, 1).status().IsNotFound());
}

TEST_P(StorageTest, ReadStreamUsesBoundedChunks) {
  // 2.5 chunks: at least three calls, none above the bound.
  std::string data = PatternBytes(kReadChunkSize * 5 / 2);
  Put(*storage_, "big", data);
  std::string got;
  size_t calls = 0;
  Status s = storage_->ReadStream("big", [&](std::string_view chunk) {
    EXPECT_LE(chunk.size(), kReadChunkSize);
    ++calls;
    got.append(chunk);
    return Status::OK();
  });
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_GE(calls, 3u);
  EXPECT_TRUE(got == data);
}

TEST_P(StorageTest, ReadStreamStopsOnSinkError) {
  Put(*storage_, "big", PatternBytes(kReadChunkSize * 3));
  int calls = 0;
  Status s = storage_->ReadStream("big", [&](std::string_view) {
    ++calls;
    return Status::Cancelled("stop here");
  });
  EXPECT_EQ(s.code(), StatusCode::kCancelled);
  EXPECT_EQ(calls, 1);
}

TEST_P(StorageTest, WriteAtomicReplaces) {
  Put(*storage_, "d/f", "first version");
  Put(*storage_, "d/f", "second");
  EXPECT_EQ(ReadOrDie(*storage_, "d/f"), "second");
  Put(*storage_, "empty", "");
  EXPECT_EQ(ReadOrDie(*storage_, "empty"), "");
}

TEST_P(StorageTest, PutIfAbsentNeverOverwrites) {
  ASSERT_TRUE(storage_->PutIfAbsent("t/_delta_log/0.json", "winner").ok());
  Status second = storage_->PutIfAbsent("t/_delta_log/0.json", "loser");
  EXPECT_TRUE(second.IsAlreadyExists()) << second;
  EXPECT_EQ(ReadOrDie(*storage_, "t/_delta_log/0.json"), "winner");
}

TEST_P(StorageTest, ConcurrentPutIfAbsentHasExactlyOneWinner) {
  constexpr int kThreads = 8;
  std::latch start(kThreads);
  std::vector<Status> results(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      start.arrive_and_wait();  // Release all writers together.
      results[i] = storage_->PutIfAbsent("race/commit.json", "writer " + std::to_string(i));
    });
  }
  for (std::thread& t : threads) t.join();
  int winners = 0;
  int winner = -1;
  for (int i = 0; i < kThreads; ++i) {
    if (results[i].ok()) {
      ++winners;
      winner = i;
    } else {
      EXPECT_TRUE(results[i].IsAlreadyExists()) << results[i];
    }
  }
  ASSERT_EQ(winners, 1);
  EXPECT_EQ(ReadOrDie(*storage_, "race/commit.json"), "writer " + std::to_string(winner));
}

TEST_P(StorageTest, Delete) {
  Put(*storage_, "x/y", "z");
  ASSERT_TRUE(storage_->Delete("x/y").ok());
  EXPECT_TRUE(storage_->Stat("x/y").status().IsNotFound());
  EXPECT_TRUE(storage_->Delete("x/y").IsNotFound());
}

TEST_P(StorageTest, CopyFromAnotherStorage) {
  Put(*other_, "src/part-0.parquet", "parquet bytes");
  Result<uint64_t> n = storage_->CopyFrom(*other_, "src/part-0.parquet", "dst/part-0.parquet");
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 13u);  // strlen("parquet bytes")
  EXPECT_EQ(ReadOrDie(*storage_, "dst/part-0.parquet"), "parquet bytes");
  // CopyFrom replaces.
  Put(*other_, "src/part-0.parquet", "new");
  n = storage_->CopyFrom(*other_, "src/part-0.parquet", "dst/part-0.parquet");
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 3u);
  EXPECT_EQ(ReadOrDie(*storage_, "dst/part-0.parquet"), "new");
}

TEST_P(StorageTest, CopyWithinOneStorage) {
  Put(*storage_, "a", "same storage");
  Result<uint64_t> n = storage_->CopyFrom(*storage_, "a", "b/c");
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 12u);
  EXPECT_EQ(ReadOrDie(*storage_, "b/c"), "same storage");
  EXPECT_EQ(ReadOrDie(*storage_, "a"), "same storage");
}

TEST_P(StorageTest, CopyFromIfAbsentRefusesExistingTarget) {
  Put(*other_, "src", "incoming");
  Put(*storage_, "dst", "existing");
  Result<uint64_t> n = storage_->CopyFromIfAbsent(*other_, "src", "dst");
  EXPECT_TRUE(n.status().IsAlreadyExists()) << n.status();
  EXPECT_EQ(ReadOrDie(*storage_, "dst"), "existing");
  n = storage_->CopyFromIfAbsent(*other_, "src", "dst2");
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(ReadOrDie(*storage_, "dst2"), "incoming");
}

TEST_P(StorageTest, CopyOfMissingSourceIsNotFoundAndPublishesNothing) {
  Result<uint64_t> n = storage_->CopyFrom(*other_, "missing", "dst/x");
  EXPECT_TRUE(n.status().IsNotFound()) << n.status();
  EXPECT_TRUE(storage_->Stat("dst/x").status().IsNotFound());
}

TEST_P(StorageTest, InvalidKeysAreRejected) {
  for (std::string key :
       {std::string("../x"), std::string("/abs"), std::string("a//b"), std::string("a/./b"),
        std::string("a/.."), std::string(""), std::string("dir/"), std::string("nul\0byte", 8)}) {
    SCOPED_TRACE(key);
    EXPECT_EQ(storage_->WriteAtomic(key, "x").code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(storage_->PutIfAbsent(key, "x").code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(storage_->Read(key).status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(storage_->Stat(key).status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(storage_->Delete(key).code(), StatusCode::kInvalidArgument);
  }
  Put(*other_, "ok", "x");
  EXPECT_EQ(storage_->CopyFrom(*other_, "ok", "../escape").status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(storage_->CopyFrom(*other_, "../escape", "ok").status().code(),
            StatusCode::kInvalidArgument);
  ListOptions options;
  options.prefix = "../";
  EXPECT_EQ(storage_->List(options).status().code(), StatusCode::kInvalidArgument);
}

TEST_P(StorageTest, ModificationTimeRoundTrips) {
  Put(*storage_, "f", "x");
  // 2023-11-14T22:13:20.123456789Z, with nanoseconds (ext4 and tmpfs keep them).
  TimePoint t = TimePoint(std::chrono::duration_cast<TimePoint::duration>(
      std::chrono::nanoseconds(1'700'000'000'123'456'789LL)));
  ASSERT_TRUE(storage_->SetModificationTime("f", t).ok());
  Result<FileInfo> info = storage_->Stat("f");
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->modification_time, t);
  ListOptions options;
  Result<std::vector<FileInfo>> listed = storage_->List(options);
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].modification_time, t);
  EXPECT_TRUE(storage_->SetModificationTime("missing", t).IsNotFound());
}

TEST_P(StorageTest, Xxh3OfFileMatchesInMemoryHash) {
  std::string data = PatternBytes(kReadChunkSize + 17);  // crosses a chunk boundary
  Put(*storage_, "h", data);
  Result<uint64_t> h = Xxh3OfFile(*storage_, "h");
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(*h, Xxh3Of(data));
  EXPECT_TRUE(Xxh3OfFile(*storage_, "missing").status().IsNotFound());
}

// --- MemoryStorage specifics ---

TEST(MemoryStorageTest, ModificationTimeComesFromTheClock) {
  ManualClock clock(FromUnixMillis(1'000));
  MemoryStorage storage(clock);
  ASSERT_TRUE(storage.WriteAtomic("f", "x").ok());
  clock.Advance(std::chrono::seconds(5));
  ASSERT_TRUE(storage.WriteAtomic("g", "x").ok());
  EXPECT_EQ(storage.Stat("f")->modification_time, FromUnixMillis(1'000));
  EXPECT_EQ(storage.Stat("g")->modification_time, FromUnixMillis(6'000));
}

// --- Helpers ---

TEST(KeyTest, ValidateKey) {
  EXPECT_TRUE(ValidateKey("t/_delta_log/00000000000000000000.json").ok());
  EXPECT_TRUE(ValidateKey(".hidden/..x/x..").ok());  // dots inside names are fine
  EXPECT_FALSE(ValidateKey("..").ok());
  EXPECT_FALSE(ValidateKey("a/../b").ok());
  Status s = ValidateKey("/abs");
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("/abs"), std::string::npos) << s;
}

TEST(KeyTest, ListMatches) {
  ListOptions options;
  options.prefix = "t/_delta_log/";
  EXPECT_TRUE(ListMatches(options, "t/_delta_log/1.json"));
  EXPECT_FALSE(ListMatches(options, "t/_delta_log/sub/1.json"));
  EXPECT_FALSE(ListMatches(options, "t/other"));
  options.recursive = true;
  EXPECT_TRUE(ListMatches(options, "t/_delta_log/sub/1.json"));
  options.start_after = "t/_delta_log/1.json";
  EXPECT_FALSE(ListMatches(options, "t/_delta_log/1.json"));
  EXPECT_TRUE(ListMatches(options, "t/_delta_log/2.json"));
}

TEST(OpenStorageTest, OtherSchemesAreUnsupported) {
  Result<Uri> uri = Uri::Parse("s3://bucket/prefix");
  ASSERT_TRUE(uri.ok());
  Result<std::unique_ptr<Storage>> s = OpenStorage(*uri);
  ASSERT_EQ(s.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(s.status().message().find("\"s3\""), std::string::npos) << s.status();
  EXPECT_NE(s.status().message().find("file://"), std::string::npos) << s.status();
}

TEST(OpenStorageTest, FileSchemeOpensLocalStorage) {
  TempDir dir;
  Result<Uri> uri = Uri::Parse("file://" + dir.path());
  ASSERT_TRUE(uri.ok());
  Result<std::unique_ptr<Storage>> s = OpenStorage(*uri);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ((*s)->Describe(), "file://" + dir.path());
  EXPECT_EQ((*s)->LocalPath("a/b"), dir.path() + "/a/b");
}

}  // namespace
}  // namespace lakesync::storage
