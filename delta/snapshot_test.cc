#include "delta/snapshot.h"

#include <gtest/gtest.h>

#include <fmt/format.h>

namespace lakesync::delta {
namespace {

const char* kProtocol = R"({"protocol":{"minReaderVersion":1,"minWriterVersion":2}})";
const char* kMetadata =
    R"({"metaData":{"id":"t1","format":{"provider":"parquet","options":{}},)"
    R"("schemaString":"{\"type\":\"struct\",\"fields\":[]}","partitionColumns":[],"configuration":{}}})";

std::string AddLine(std::string_view path, int64_t size, int64_t rows, std::string_view dv = "") {
  std::string dv_json =
      dv.empty() ? ""
                 : fmt::format(R"(,"deletionVector":{{"storageType":"u","pathOrInlineDv":"{}",)"
                               R"("offset":1,"sizeInBytes":36,"cardinality":{}}})",
                               dv, 2);
  return fmt::format(
      R"({{"add":{{"path":"{}","partitionValues":{{}},"size":{},"modificationTime":1,)"
      R"("dataChange":true,"stats":"{{\"numRecords\":{}}}"{}}}}})",
      path, size, rows, dv_json);
}

std::string RemoveLine(std::string_view path, std::string_view dv = "") {
  std::string dv_json =
      dv.empty() ? ""
                 : fmt::format(R"(,"deletionVector":{{"storageType":"u","pathOrInlineDv":"{}",)"
                               R"("offset":1,"sizeInBytes":36,"cardinality":2}})",
                               dv);
  return fmt::format(R"({{"remove":{{"path":"{}","deletionTimestamp":5,"dataChange":true{}}}}})",
                     path, dv_json);
}

Commit Parse(int64_t v, const std::vector<std::string>& lines) {
  std::string bytes;
  for (const auto& l : lines) bytes += l + "\n";
  auto c = ParseCommit(v, bytes);
  EXPECT_TRUE(c.ok()) << c.status();
  return std::move(c).value();
}

constexpr const char* kDvA = "vBn[lx{q8@P<9BNH/isA";
constexpr const char* kDvB = "ab^-aqEH.-t@S}K{vb[*k^";

TEST(SnapshotTest, AddsRemovesAndTotals) {
  std::vector<Commit> commits;
  commits.push_back(Parse(0, {kProtocol, kMetadata, AddLine("a", 100, 10), AddLine("b", 200, 20)}));
  commits.push_back(Parse(1, {RemoveLine("a"), AddLine("c", 300, 30)}));
  auto s = ReplayCommits(std::move(commits));
  ASSERT_TRUE(s.ok()) << s.status();
  // Live after v1: b (200 B, 20 rows) and c (300 B, 30 rows), worked out by hand.
  EXPECT_EQ(s->version(), 1);
  EXPECT_EQ(s->num_files(), 2);
  EXPECT_EQ(s->bytes(), 500);
  EXPECT_EQ(s->rows(), 50);
  EXPECT_TRUE(s->rows_exact());
  EXPECT_EQ(s->files()[0].add.decoded_path, "b");
  EXPECT_EQ(s->files()[1].add.decoded_path, "c");
  EXPECT_EQ(s->files()[1].added_version, 1);
  EXPECT_EQ(s->commit_versions(), (std::vector<int64_t>{0, 1}));
}

TEST(SnapshotTest, DvUpdateIsRemoveOfOldKeyPlusAddOfNewKey) {
  std::vector<Commit> commits;
  commits.push_back(Parse(0, {kProtocol, kMetadata, AddLine("a", 100, 10)}));
  // DV added: remove(a, no dv) + add(a, dvA).
  commits.push_back(Parse(1, {RemoveLine("a"), AddLine("a", 100, 10, kDvA)}));
  // A remove naming a DV that is not the live one changes nothing.
  commits.push_back(Parse(2, {RemoveLine("a", kDvB)}));
  auto s = ReplayCommits(std::move(commits));
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_EQ(s->num_files(), 1);
  ASSERT_TRUE(s->files()[0].add.deletion_vector.has_value());
  EXPECT_EQ(s->files()[0].add.deletion_vector->path_or_inline_dv, kDvA);
  EXPECT_EQ(s->rows(), 8);  // 10 records − cardinality 2

  // Without the remove of the old key, both (a, none) and (a, dvA) would be live: the key
  // really is (path, dvId).
  std::vector<Commit> both;
  both.push_back(Parse(0, {kProtocol, kMetadata, AddLine("a", 100, 10)}));
  both.push_back(Parse(1, {AddLine("a", 100, 10, kDvA)}));
  auto s2 = ReplayCommits(std::move(both));
  ASSERT_TRUE(s2.ok());
  EXPECT_EQ(s2->num_files(), 2);

  // Removing (a, dvA) leaves nothing.
  std::vector<Commit> gone;
  gone.push_back(Parse(0, {kProtocol, kMetadata, AddLine("a", 100, 10, kDvA)}));
  gone.push_back(Parse(1, {RemoveLine("a", kDvA)}));
  auto s3 = ReplayCommits(std::move(gone));
  ASSERT_TRUE(s3.ok());
  EXPECT_EQ(s3->num_files(), 0);
}

TEST(SnapshotTest, LatestTxnDomainMetadataProtocolAndMetadataWin) {
  std::vector<Commit> commits;
  commits.push_back(
      Parse(0, {kProtocol, kMetadata, R"({"txn":{"appId":"job","version":3,"lastUpdated":1}})",
                R"({"domainMetadata":{"domain":"d1","configuration":"{\"a\":1}","removed":false}})",
                R"({"domainMetadata":{"domain":"d2","configuration":"x","removed":false}})"}));
  commits.push_back(Parse(
      1,
      {R"({"txn":{"appId":"job","version":7}})", R"({"txn":{"appId":"other","version":1}})",
       R"({"domainMetadata":{"domain":"d1","configuration":"{\"a\":2}","removed":false}})",
       R"({"domainMetadata":{"domain":"d2","configuration":"","removed":true}})",
       R"({"protocol":{"minReaderVersion":3,"minWriterVersion":7,"readerFeatures":[],"writerFeatures":["domainMetadata"]}})"}));
  auto s = ReplayCommits(std::move(commits));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->TxnVersion("job"), 7);
  EXPECT_EQ(s->TxnVersion("other"), 1);
  EXPECT_FALSE(s->TxnVersion("nobody").has_value());
  ASSERT_EQ(s->domains().size(), 1u);  // d2 tombstoned
  EXPECT_EQ(s->domains().at("d1").configuration, "{\"a\":2}");
  EXPECT_EQ(s->protocol().min_writer_version, 7);
  EXPECT_EQ(s->metadata().id, "t1");
}

TEST(SnapshotTest, MissingStatsMakeRowsInexact) {
  std::vector<Commit> commits;
  commits.push_back(Parse(
      0,
      {kProtocol, kMetadata, AddLine("a", 1, 5),
       R"({"add":{"path":"b","partitionValues":{},"size":2,"modificationTime":1,"dataChange":true}})"}));
  auto s = ReplayCommits(std::move(commits));
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->rows(), 5);
  EXPECT_FALSE(s->rows_exact());
  EXPECT_EQ(s->files_without_stats(), 1);
}

TEST(SnapshotTest, GapsAndMissingProtocolAreErrors) {
  SnapshotBuilder b;
  ASSERT_TRUE(b.Apply(Parse(0, {kProtocol, kMetadata})).ok());
  Status gap = b.Apply(Parse(2, {AddLine("a", 1, 1)}));
  EXPECT_EQ(gap.code(), StatusCode::kCorruption);
  EXPECT_NE(gap.message().find("commit 1 missing between 0 and 2"), std::string::npos) << gap;

  std::vector<Commit> no_protocol;
  no_protocol.push_back(Parse(0, {kMetadata}));
  auto s = ReplayCommits(std::move(no_protocol));
  EXPECT_EQ(s.status().code(), StatusCode::kCorruption);
  EXPECT_NE(s.status().message().find("no protocol action"), std::string::npos);

  std::vector<Commit> not_zero;
  not_zero.push_back(Parse(1, {kProtocol, kMetadata}));
  EXPECT_EQ(ReplayCommits(std::move(not_zero)).status().code(), StatusCode::kCorruption);
}

TEST(SnapshotTest, UnknownActionsAndCdcDoNotChangeState) {
  std::vector<Commit> commits;
  commits.push_back(Parse(
      0,
      {kProtocol, kMetadata, AddLine("a", 10, 1), R"({"futureAction":{"path":"z"}})",
       R"({"cdc":{"path":"_change_data/c.parquet","partitionValues":{},"size":5,"dataChange":false}})"}));
  auto s = ReplayCommits(std::move(commits));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->num_files(), 1);
  EXPECT_EQ(s->bytes(), 10);
}

}  // namespace
}  // namespace lakesync::delta
