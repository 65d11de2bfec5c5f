#include "jobs/commit_files.h"

#include <gtest/gtest.h>

#include "delta/actions.h"

namespace lakesync::jobs {
namespace {

CommitFiles Extract(int64_t version, const std::string& json) {
  auto commit = delta::ParseCommit(version, json);
  EXPECT_TRUE(commit.ok()) << commit.status();
  auto files = ExtractCommitFiles(*commit);
  EXPECT_TRUE(files.ok()) << files.status();
  return std::move(files).value();
}

TEST(CommitFilesTest, AddsCdcAndDeletionVectors) {
  // The DV id "ab^-aqEH.-t@S}K{vb[*k^" is DELTA_NOTES §2's example: prefix "ab", file
  // ab/deletion_vector_d2c639aa-8816-431a-aaf6-d3fe2512ff61.bin. Its bytes end at
  // offset 10 + 4 + 20 + 4 = 38.
  auto files = Extract(
      3,
      R"({"add":{"path":"x=A%252FA/f1.parquet","partitionValues":{},"size":11,"modificationTime":1,"dataChange":true,"stats":"{\"numRecords\":4}"}})"
      "\n"
      R"({"add":{"path":"f2.parquet","partitionValues":{},"size":22,"modificationTime":1,"dataChange":true,"deletionVector":{"storageType":"u","pathOrInlineDv":"ab^-aqEH.-t@S}K{vb[*k^","offset":10,"sizeInBytes":20,"cardinality":1}}})"
      "\n"
      R"({"remove":{"path":"old.parquet","deletionTimestamp":1,"dataChange":true}})"
      "\n"
      R"({"cdc":{"path":"_change_data/c.parquet","partitionValues":{},"size":33,"dataChange":false}})"
      "\n");
  EXPECT_EQ(files.version, 3);
  EXPECT_EQ(files.rows, 4);  // f2 has no stats
  EXPECT_EQ(files.adds, 2);
  ASSERT_EQ(files.files.size(), 4u);
  EXPECT_EQ(files.files[0].path, "x=A%2FA/f1.parquet");  // decoded exactly once
  EXPECT_EQ(files.files[0].size, 11);
  EXPECT_EQ(files.files[1].path, "f2.parquet");
  EXPECT_EQ(files.files[2].path, "ab/deletion_vector_d2c639aa-8816-431a-aaf6-d3fe2512ff61.bin");
  EXPECT_EQ(files.files[2].role, FileRole::kDeletionVector);
  EXPECT_EQ(files.files[2].size, -1);
  EXPECT_EQ(files.files[2].min_size, 38);
  EXPECT_EQ(files.files[3].path, "_change_data/c.parquet");
  EXPECT_EQ(files.files[3].role, FileRole::kChangeData);
  ASSERT_EQ(files.actions.size(), 3u);
  EXPECT_FALSE(files.actions[2].add);
}

TEST(CommitFilesTest, AbsolutePathsAreMarked) {
  auto files = Extract(
      0,
      R"({"add":{"path":"s3://b/t/f.parquet","partitionValues":{},"size":1,"modificationTime":1,"dataChange":true}})"
      "\n");
  ASSERT_EQ(files.files.size(), 1u);
  EXPECT_TRUE(files.files[0].absolute);
  EXPECT_TRUE(files.actions[0].data_path.empty());
}

TEST(CommitFilesTest, LiveAtEndFollowsTheNewestAction) {
  const std::string add_a =
      R"({"add":{"path":"a","partitionValues":{},"size":1,"modificationTime":1,"dataChange":true}})";
  const std::string add_b =
      R"({"add":{"path":"b","partitionValues":{},"size":1,"modificationTime":1,"dataChange":true}})";
  const std::string rm_a = R"({"remove":{"path":"a","deletionTimestamp":1,"dataChange":true}})";
  const std::string add_c =
      R"({"add":{"path":"c","partitionValues":{},"size":1,"modificationTime":1,"dataChange":true}})";
  // v0: add a, add b; v1: remove a, add c; v2: add a again (re-added: live).
  CommitFiles v0 = Extract(0, add_a + "\n" + add_b + "\n");
  CommitFiles v1 = Extract(1, rm_a + "\n" + add_c + "\n");
  CommitFiles v2 = Extract(2, add_a + "\n");
  std::vector<const CommitFiles*> up_to_1 = {&v0, &v1};
  EXPECT_EQ(LiveAtEnd(up_to_1), (std::unordered_set<std::string>{"b", "c"}));
  std::vector<const CommitFiles*> up_to_2 = {&v0, &v1, &v2};
  EXPECT_EQ(LiveAtEnd(up_to_2), (std::unordered_set<std::string>{"a", "b", "c"}));
  // A range that starts after the add: a remove of a file from before the range.
  std::vector<const CommitFiles*> only_1 = {&v1};
  EXPECT_EQ(LiveAtEnd(only_1), (std::unordered_set<std::string>{"c"}));
}

TEST(CommitFilesTest, DeletionVectorUpdateKeepsTheDataFileLive) {
  // v0 adds f without DV; v1 replaces it by f with a DV (remove + add, same path).
  CommitFiles v0 = Extract(
      0,
      R"({"add":{"path":"f","partitionValues":{},"size":5,"modificationTime":1,"dataChange":true}})"
      "\n");
  CommitFiles v1 = Extract(
      1,
      R"({"remove":{"path":"f","deletionTimestamp":1,"dataChange":true}})"
      "\n"
      R"({"add":{"path":"f","partitionValues":{},"size":5,"modificationTime":1,"dataChange":true,"deletionVector":{"storageType":"u","pathOrInlineDv":"vBn[lx{q8@P<9BNH/isA","offset":1,"sizeInBytes":36,"cardinality":2}}})"
      "\n");
  std::vector<const CommitFiles*> both = {&v0, &v1};
  EXPECT_EQ(LiveAtEnd(both), (std::unordered_set<std::string>{
                                 "f", "deletion_vector_61d16c75-6994-46b7-a15b-8b538852e50e.bin"}));
}

TEST(CommitFilesTest, TableKey) {
  EXPECT_EQ(TableKey("", "a/b"), "a/b");
  EXPECT_EQ(TableKey("t", "a"), "t/a");
  EXPECT_EQ(TableKey("t/", "a"), "t/a");
}

}  // namespace
}  // namespace lakesync::jobs

#include "storage/memory_storage.h"

namespace lakesync::jobs {
namespace {

TEST(TableHeadTest, FindsTheHeadWithAndWithoutCommitZero) {
  storage::MemoryStorage s;
  auto head = TableHead(s, "t");
  ASSERT_TRUE(head.ok());
  EXPECT_EQ(*head, -1);
  auto name = [](int64_t v) {
    std::string d = std::to_string(v);
    return "t/_delta_log/" + std::string(20 - d.size(), '0') + d + ".json";
  };
  // Every head from 0 to 40 (gallop boundaries at 1, 3, 7, 15, 31 included).
  for (int64_t v = 0; v <= 40; ++v) {
    ASSERT_TRUE(s.WriteAtomic(name(v), "{}\n").ok());
    head = TableHead(s, "t");
    ASSERT_TRUE(head.ok());
    EXPECT_EQ(*head, v);
  }
  // A gap (41..44 missing, 45 present) is damage in a target. The search lands in 0..40 and
  // probing by name stops at the gap: head 40, so the next run publishes 41..44 with
  // put-if-absent and finds 45 already there (identical bytes are skipped, others diverge).
  ASSERT_TRUE(s.WriteAtomic(name(45), "{}\n").ok());
  EXPECT_EQ(*TableHead(s, "t"), 40);
  // Without commit 0 (log cleanup): HeadVersion's own way.
  ASSERT_TRUE(s.Delete(name(0)).ok());
  EXPECT_EQ(*TableHead(s, "t"), 45);
}

}  // namespace
}  // namespace lakesync::jobs
