// LocalStorage-only behaviour: temp files, symlinks, large copies, odd paths.

#include "storage/local_storage.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "common/failpoint.h"
#include "storage/checksum.h"
#include "storage/fault_storage.h"
#include "storage/memory_storage.h"
#include "storage/test_util.h"

namespace lakesync::storage {
namespace {

using testing::ListRaw;
using testing::PatternBytes;
using testing::TempDir;

using Names = std::vector<std::string>;

void WriteRawFile(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary);
  out << data;
}

class LocalStorageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty()) << "mkdtemp failed";
    root_ = dir_.path() + "/root";
    storage_ = Open(root_);
    ASSERT_NE(storage_, nullptr);
  }

  static std::unique_ptr<LocalStorage> Open(const std::string& path) {
    Result<Uri> uri = Uri::LocalPath(path);
    if (!uri.ok()) return nullptr;
    Result<std::unique_ptr<LocalStorage>> s = LocalStorage::Open(*uri);
    return s.ok() ? std::move(s).value() : nullptr;
  }

  TempDir dir_;
  std::string root_;
  std::unique_ptr<LocalStorage> storage_;
};

// --- Deferred (not yet durable) copies and SyncAll. Durability itself needs a machine crash
// to observe; these check atomicity, cleanup and SyncAll's bookkeeping. ---

TEST_F(LocalStorageTest, DeferredCopyIsNeverVisiblePartially) {
  const std::string data = PatternBytes(3 * (size_t{1} << 20) + 17);
  ASSERT_TRUE(storage_->WriteAtomic("src/big", data).ok());
  ASSERT_TRUE(storage_->WriteAtomic("dst/big", "old").ok());
  // Mid-copy (the temp file holds the first chunk) the key still shows the old bytes.
  bool checked = false;
  ASSERT_TRUE(failpoint_testing::Enable("copy.mid_file").ok());
  failpoint_testing::SetHandler([&](std::string_view) {
    checked = true;
    Result<std::string> seen = storage_->Read("dst/big");
    ASSERT_TRUE(seen.ok()) << seen.status();
    EXPECT_EQ(*seen, "old");
  });
  Result<uint64_t> n = storage_->CopyFromDeferred(*storage_, "src/big", "dst/big");
  failpoint_testing::Reset();
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_TRUE(checked);
  EXPECT_EQ(*n, data.size());
  EXPECT_EQ(*storage_->Read("dst/big"), data);
  EXPECT_EQ(ListRaw(root_), (Names{"dst/", "dst/big", "src/", "src/big"}));
  EXPECT_TRUE(storage_->SyncAll().ok());
}

TEST_F(LocalStorageTest, FailedDeferredCopyLeavesNoTempAndKeepsTheOldFile) {
  ASSERT_TRUE(storage_->WriteAtomic("t/a", "old").ok());
  MemoryStorage memory;
  ASSERT_TRUE(memory.WriteAtomic("new", "0123456789").ok());
  // The fault wrapper hands LocalStorage a source that breaks off after 4 of the 10 bytes,
  // so LocalStorage's own cleanup of a partial temp file runs.
  FaultInjectingStorage faulty(*storage_);
  faulty.ShortWrite(FaultInjectingStorage::Op::kCopy, 1, 4);
  EXPECT_EQ(faulty.CopyFromDeferred(memory, "new", "t/a").status().code(), StatusCode::kIOError);
  // A missing source fails too, leaving nothing.
  EXPECT_TRUE(storage_->CopyFromDeferred(memory, "missing", "t/x").status().IsNotFound());
  EXPECT_EQ(ListRaw(root_), (Names{"t/", "t/a"}));
  EXPECT_EQ(*storage_->Read("t/a"), "old");
  // Nothing was published, so nothing is owed; SyncAll succeeds.
  EXPECT_TRUE(storage_->SyncAll().ok());
}

TEST_F(LocalStorageTest, SyncAllOfANeverCreatedRootIsOk) {
  EXPECT_TRUE(storage_->SyncAll().ok());
  EXPECT_FALSE(std::filesystem::exists(root_));
}

TEST_F(LocalStorageTest, SyncAllKeepsOwingDirectoriesItFailedToSync) {
  ASSERT_TRUE(storage_->WriteAtomic("src", "x").ok());
  ASSERT_TRUE(storage_->CopyFromDeferred(*storage_, "src", "a/b/c").ok());
  // The root vanishes before SyncAll: the copy cannot be made durable, and SyncAll must say
  // so — every time, until the owed directories are accounted for.
  std::filesystem::remove_all(root_);
  Status first = storage_->SyncAll();
  EXPECT_TRUE(first.IsNotFound()) << first;
  EXPECT_NE(first.message().find(root_), std::string::npos) << first;
  EXPECT_TRUE(storage_->SyncAll().IsNotFound());
  // Root back, owed directories gone: nothing left to sync (a removed directory holds no
  // copy), so SyncAll succeeds, and afterwards owes nothing.
  ASSERT_EQ(::mkdir(root_.c_str(), 0755), 0);
  EXPECT_TRUE(storage_->SyncAll().ok());
  std::filesystem::remove_all(root_);
  EXPECT_TRUE(storage_->SyncAll().ok());  // as a never-created root: nothing owed
}

TEST_F(LocalStorageTest, SyncAllAfterDeferredCopiesIntoNewDirectories) {
  ASSERT_TRUE(storage_->WriteAtomic("src", "payload").ok());
  for (const char* to : {"t/p=1/f0", "t/p=1/f1", "t/p=2/f0", "f"}) {
    Result<uint64_t> n = storage_->CopyFromDeferred(*storage_, "src", to);
    ASSERT_TRUE(n.ok()) << n.status();
    EXPECT_EQ(*n, 7u);  // strlen("payload")
  }
  ASSERT_TRUE(storage_->SyncAll().ok());
  EXPECT_EQ(ListRaw(root_),
            (Names{"f", "src", "t/", "t/p=1/", "t/p=1/f0", "t/p=1/f1", "t/p=2/", "t/p=2/f0"}));
  EXPECT_TRUE(storage_->SyncAll().ok());  // nothing owed any more
}

// SyncAll fsyncs each owed file itself (not the whole filesystem), so a file it cannot sync
// fails it, naming the file, and stays owed until it is gone. A symlink planted where an owed
// file was is such a file: SyncAll never follows links.
TEST_F(LocalStorageTest, SyncAllSyncsEachOwedFileAndKeepsOwingOneItCannotSync) {
  ASSERT_TRUE(storage_->WriteAtomic("src", "payload").ok());
  ASSERT_TRUE(storage_->CopyFromDeferred(*storage_, "src", "d/copied").ok());
  ASSERT_TRUE(storage_->WriteAtomic("d/kept", "left by an earlier run").ok());
  storage_->OweSync("d/kept");
  storage_->OweSync("../outside");  // not a key of this storage: ignored
  for (const char* name : {"copied", "kept"}) {
    const std::string path = root_ + "/d/" + name;
    ASSERT_TRUE(std::filesystem::remove(path));
    ASSERT_EQ(::symlink((root_ + "/src").c_str(), path.c_str()), 0);
    Status refused = storage_->SyncAll();
    EXPECT_EQ(refused.code(), StatusCode::kUnsupported) << refused;
    EXPECT_NE(refused.message().find(path), std::string::npos) << refused;
    EXPECT_EQ(storage_->SyncAll().code(), StatusCode::kUnsupported);  // still owed
    ASSERT_TRUE(std::filesystem::remove(path));  // gone: nothing left to make durable
  }
  EXPECT_TRUE(storage_->SyncAll().ok());
  EXPECT_TRUE(storage_->SyncAll().ok());  // nothing owed any more
}

TEST_F(LocalStorageTest, MissingRootListsNothingAndIsCreatedOnWrite) {
  Result<std::vector<FileInfo>> listed = storage_->List(ListOptions{});
  ASSERT_TRUE(listed.ok()) << listed.status();
  EXPECT_TRUE(listed->empty());
  EXPECT_TRUE(storage_->Stat("a").status().IsNotFound());
  ASSERT_TRUE(storage_->WriteAtomic("a/b/c", "x").ok());
  EXPECT_EQ(ListRaw(root_), (Names{"a/", "a/b/", "a/b/c"}));
}

TEST_F(LocalStorageTest, RootThatIsAFileIsRejected) {
  WriteRawFile(dir_.path() + "/plain", "x");
  Result<Uri> uri = Uri::LocalPath(dir_.path() + "/plain");
  ASSERT_TRUE(uri.ok());
  EXPECT_EQ(LocalStorage::Open(*uri).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(LocalStorageTest, NoTempFilesLeftAfterSuccess) {
  ASSERT_TRUE(storage_->WriteAtomic("t/a", "1").ok());
  ASSERT_TRUE(storage_->WriteAtomic("t/a", "2").ok());
  ASSERT_TRUE(storage_->PutIfAbsent("t/b", "3").ok());
  ASSERT_TRUE(storage_->CopyFrom(*storage_, "t/a", "t/c").ok());
  ASSERT_TRUE(storage_->CopyFromIfAbsent(*storage_, "t/a", "t/d").ok());
  EXPECT_EQ(ListRaw(root_), (Names{"t/", "t/a", "t/b", "t/c", "t/d"}));
}

TEST_F(LocalStorageTest, NoTempFilesLeftAfterFailures) {
  ASSERT_TRUE(storage_->PutIfAbsent("t/a", "1").ok());
  EXPECT_TRUE(storage_->PutIfAbsent("t/a", "2").IsAlreadyExists());
  EXPECT_TRUE(storage_->CopyFromIfAbsent(*storage_, "t/a", "t/a").status().IsAlreadyExists());
  // A streamed copy whose source is missing. (Copies that break off mid-stream are covered
  // in fault_storage_test.cc.)
  MemoryStorage memory;
  EXPECT_FALSE(storage_->CopyFrom(memory, "missing", "t/x").ok());
  EXPECT_EQ(ListRaw(root_), (Names{"t/", "t/a"}));
  EXPECT_EQ(*storage_->Read("t/a"), "1");
}

TEST_F(LocalStorageTest, TempFilesAreNeverListed) {
  ASSERT_TRUE(storage_->WriteAtomic("t/a", "1").ok());
  // As if a crashed writer had left one behind.
  WriteRawFile(root_ + "/t/.lakesync-1-2-00000000000000ff.tmp", "partial");
  WriteRawFile(root_ + "/t/.part-0.parquet.crc", "crc");  // other dot-files are real files
  Result<std::vector<FileInfo>> listed = storage_->List(ListOptions{"t/", "", false});
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ((*listed)[0].path, "t/.part-0.parquet.crc");
  EXPECT_EQ((*listed)[1].path, "t/a");
}

// A kill mid-copy leaves the copy's temp file behind. Those whose process is gone, or that
// nothing wrote to for longer than the limit, are removed; a live writer's are kept, as are
// real files whatever their name, and nothing outside the prefix is touched.
TEST_F(LocalStorageTest, AbandonedTempFilesAreRemovedAndLiveOnesKept) {
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) ::_exit(0);
  ASSERT_EQ(::waitpid(child, nullptr, 0), child);  // a process id that is gone now
  const std::string dead = ".lakesync-" + std::to_string(child) + "-7-00000000000000ff.tmp";
  const std::string mine = ".lakesync-" + std::to_string(::getpid()) + "-8-00000000000000aa.tmp";
  const std::string old_mine =
      ".lakesync-" + std::to_string(::getpid()) + "-9-00000000000000bb.tmp";
  ASSERT_TRUE(storage_->WriteAtomic("t/year=2024/part-0.parquet", "data").ok());
  ASSERT_TRUE(storage_->WriteAtomic("u/a", "1").ok());
  WriteRawFile(root_ + "/t/" + dead, "partial copy");                  // 12 bytes: removed
  WriteRawFile(root_ + "/t/year=2024/" + dead, "partial");             // 7 bytes: removed
  WriteRawFile(root_ + "/t/year=2024/" + mine, "in progress");         // kept: alive, fresh
  WriteRawFile(root_ + "/t/year=2024/" + old_mine, "stuck for ages");  // 14 bytes: stale
  WriteRawFile(root_ + "/t/.lakesync-notes.txt", "a real file");       // not a temp name
  WriteRawFile(root_ + "/u/" + dead, "other table");                   // outside the prefix
  const auto two_hours_ago = std::chrono::system_clock::now() - std::chrono::hours(2);
  ASSERT_TRUE(storage_->SetModificationTime("t/year=2024/part-0.parquet", two_hours_ago).ok());
  struct timespec times[2] = {};
  times[0].tv_nsec = UTIME_OMIT;
  times[1].tv_sec =
      std::chrono::duration_cast<std::chrono::seconds>(two_hours_ago.time_since_epoch()).count();
  ASSERT_EQ(::utimensat(AT_FDCWD, (root_ + "/t/year=2024/" + old_mine).c_str(), times, 0), 0);

  auto removed = storage_->RemoveAbandonedTempFiles("t", std::chrono::hours(1));
  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_EQ(removed->files, 3);
  EXPECT_EQ(removed->bytes, 12u + 7u + 14u);
  EXPECT_EQ(ListRaw(root_),
            (Names{"t/", "t/.lakesync-notes.txt", "t/year=2024/", "t/year=2024/" + mine,
                   "t/year=2024/part-0.parquet", "u/", "u/" + dead, "u/a"}));
  // A missing folder has nothing to remove.
  auto none = storage_->RemoveAbandonedTempFiles("nothing/here", std::chrono::hours(1));
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_EQ(none->files, 0);
}

TEST_F(LocalStorageTest, SymlinkOutsideRootIsRefused) {
  ASSERT_TRUE(storage_->WriteAtomic("t/real", "inside").ok());
  std::string outside = dir_.path() + "/outside";
  ASSERT_EQ(::mkdir(outside.c_str(), 0755), 0);
  WriteRawFile(outside + "/secret", "do not read");
  ASSERT_EQ(::symlink((outside + "/secret").c_str(), (root_ + "/t/link").c_str()), 0);
  ASSERT_EQ(::symlink(outside.c_str(), (root_ + "/t/dirlink").c_str()), 0);

  for (const char* key : {"t/link", "t/dirlink/secret"}) {
    SCOPED_TRACE(key);
    Result<std::string> read = storage_->Read(key);
    ASSERT_EQ(read.status().code(), StatusCode::kUnsupported) << read.status();
    EXPECT_NE(read.status().message().find("symbolic link"), std::string::npos);
    EXPECT_EQ(storage_->Stat(key).status().code(), StatusCode::kUnsupported);
    EXPECT_EQ(storage_->ReadRange(key, 0, 3).status().code(), StatusCode::kUnsupported);
    EXPECT_FALSE(storage_->CopyFrom(*storage_, key, "copy").ok());
    MemoryStorage memory;
    EXPECT_FALSE(memory.CopyFrom(*storage_, key, "copy").ok());
  }
  // Writing through a linked directory is refused too, and nothing lands outside.
  EXPECT_EQ(storage_->WriteAtomic("t/dirlink/planted", "x").code(), StatusCode::kUnsupported);
  EXPECT_EQ(ListRaw(outside), (Names{"secret"}));
  // Listing skips links.
  Result<std::vector<FileInfo>> listed = storage_->List(ListOptions{"", "", true});
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].path, "t/real");
}

TEST_F(LocalStorageTest, LargeFileCopiesByteIdentical) {
  // 5 MiB + 123 bytes: several copy buffers and read chunks, with a ragged end.
  std::string data = PatternBytes((size_t{5} << 20) + 123);
  uint64_t expected_hash = Xxh3Of(data);
  ASSERT_TRUE(storage_->WriteAtomic("src/big.parquet", data).ok());
  auto other = Open(dir_.path() + "/other");
  ASSERT_NE(other, nullptr);

  // Local → local (fast path).
  Result<uint64_t> n = other->CopyFrom(*storage_, "src/big.parquet", "dst/big.parquet");
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, data.size());
  EXPECT_EQ(*Xxh3OfFile(*other, "dst/big.parquet"), expected_hash);

  // Memory → local (streamed).
  MemoryStorage memory;
  ASSERT_TRUE(memory.WriteAtomic("m", data).ok());
  n = other->CopyFrom(memory, "m", "dst/from-memory");
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, data.size());
  Result<std::string> back = other->Read("dst/from-memory");
  ASSERT_TRUE(back.ok());
  EXPECT_TRUE(*back == data);

  // Local → memory.
  n = memory.CopyFrom(*storage_, "src/big.parquet", "back");
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(Xxh3Of(*memory.Read("back")), expected_hash);
  EXPECT_EQ(ListRaw(dir_.path() + "/other"), (Names{"dst/", "dst/big.parquet", "dst/from-memory"}));
}

TEST_F(LocalStorageTest, CopiesLongerThanAWritebackChunkAreByteIdentical) {
  // Copies go in 32 MiB pieces, starting the writeback of each (local_storage.h): a file of
  // one piece plus a ragged 4097 bytes, through every way of copying into a LocalStorage.
  std::string data = PatternBytes((size_t{32} << 20) + 4097);
  const uint64_t expected_hash = Xxh3Of(data);
  ASSERT_TRUE(storage_->WriteAtomic("src/big", data).ok());
  MemoryStorage memory;
  ASSERT_TRUE(memory.WriteAtomic("m", data).ok());
  data.clear();
  data.shrink_to_fit();

  Result<uint64_t> n = storage_->CopyFrom(*storage_, "src/big", "durable");
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, (uint64_t{32} << 20) + 4097);
  n = storage_->CopyFromDeferred(*storage_, "src/big", "deferred");
  ASSERT_TRUE(n.ok()) << n.status();
  n = storage_->CopyFromDeferred(memory, "m", "streamed");
  ASSERT_TRUE(n.ok()) << n.status();
  ASSERT_TRUE(storage_->SyncAll().ok());
  for (const char* key : {"durable", "deferred", "streamed"}) {
    EXPECT_EQ(*Xxh3OfFile(*storage_, key), expected_hash) << key;
    EXPECT_EQ(storage_->Stat(key)->size, (uint64_t{32} << 20) + 4097) << key;
  }
  EXPECT_EQ(ListRaw(root_), (Names{"deferred", "durable", "src/", "src/big", "streamed"}));
}

TEST_F(LocalStorageTest, LargeFileCopiesAcrossFilesystems) {
  // /dev/shm (tmpfs) → /tmp: copy_file_range refuses across filesystems (EXDEV), so this
  // exercises the read/write fallback.
  struct stat shm;
  struct stat tmp;
  if (::stat("/dev/shm", &shm) != 0 || ::stat(dir_.path().c_str(), &tmp) != 0 ||
      shm.st_dev == tmp.st_dev || ::access("/dev/shm", W_OK) != 0) {
    GTEST_SKIP() << "needs a writable /dev/shm on another filesystem than /tmp";
  }
  char pattern[] = "/dev/shm/lakesync-storage-XXXXXX";
  ASSERT_NE(::mkdtemp(pattern), nullptr);
  std::string shm_dir = pattern;
  auto source = Open(shm_dir);
  ASSERT_NE(source, nullptr);
  // One 32 MiB writeback piece and a ragged end.
  std::string data = PatternBytes((size_t{32} << 20) + 7);
  ASSERT_TRUE(source->WriteAtomic("big", data).ok());
  Result<uint64_t> n = storage_->CopyFrom(*source, "big", "copied");
  std::error_code ec;
  std::filesystem::remove_all(shm_dir, ec);
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, data.size());
  EXPECT_EQ(*Xxh3OfFile(*storage_, "copied"), Xxh3Of(data));
}

TEST_F(LocalStorageTest, CopyFromADirectoryFailsCleanly) {
  ASSERT_TRUE(storage_->WriteAtomic("t/sub/file", "x").ok());
  Result<uint64_t> n = storage_->CopyFrom(*storage_, "t/sub", "copy/of-dir");
  ASSERT_FALSE(n.ok());
  EXPECT_TRUE(n.status().IsNotFound()) << n.status();
  EXPECT_NE(n.status().message().find("is a directory"), std::string::npos) << n.status();
  EXPECT_EQ(ListRaw(root_), (Names{"t/", "t/sub/", "t/sub/file"}));
  EXPECT_TRUE(storage_->Read("t/sub").status().IsNotFound());
  EXPECT_TRUE(storage_->Stat("t/sub").status().IsNotFound());
}

TEST_F(LocalStorageTest, FifoIsRefusedWithoutBlocking) {
  ASSERT_TRUE(storage_->WriteAtomic("t/a", "1").ok());
  ASSERT_EQ(::mkfifo((root_ + "/t/fifo").c_str(), 0644), 0);
  EXPECT_EQ(storage_->Read("t/fifo").status().code(), StatusCode::kUnsupported);
}

TEST_F(LocalStorageTest, ErrorsNameTheFullPath) {
  Result<std::string> r = storage_->Read("t/missing");
  ASSERT_TRUE(r.status().IsNotFound());
  EXPECT_NE(r.status().message().find(root_), std::string::npos) << r.status();
  ASSERT_TRUE(storage_->WriteAtomic("t/file", "x").ok());
  // A file where a directory is needed.
  Status s = storage_->WriteAtomic("t/file/child", "x");
  EXPECT_EQ(s.code(), StatusCode::kIOError);
  EXPECT_FALSE(s.retryable());
  EXPECT_NE(s.message().find(root_ + "/t/file"), std::string::npos) << s;
}

TEST_F(LocalStorageTest, WrittenFileIsVisibleToPlainReaders) {
  ASSERT_TRUE(storage_->PutIfAbsent("t/_delta_log/00000000000000000000.json", "{}\n").ok());
  std::ifstream in(root_ + "/t/_delta_log/00000000000000000000.json", std::ios::binary);
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(content, "{}\n");
}

}  // namespace
}  // namespace lakesync::storage
