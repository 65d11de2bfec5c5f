#include "delta/actions.h"

#include <gtest/gtest.h>

#include "common/clock.h"
#include "delta/log_reader.h"
#include "storage/memory_storage.h"

namespace lakesync::delta {
namespace {

DeletionVectorDescriptor UDv(std::string id) {
  DeletionVectorDescriptor dv;
  dv.storage_type = 'u';
  dv.path_or_inline_dv = std::move(id);
  dv.offset = 1;
  dv.size_in_bytes = 36;
  dv.cardinality = 2;
  return dv;
}

TEST(DeletionVectorTest, Z85WorkedExamplesFromTheProtocol) {
  // Both examples are PROTOCOL.md's (copied into DELTA_NOTES §2), not outputs of this code.
  auto a = UDv("vBn[lx{q8@P<9BNH/isA").RelativePath();
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(*a, "deletion_vector_61d16c75-6994-46b7-a15b-8b538852e50e.bin");

  auto b = UDv("ab^-aqEH.-t@S}K{vb[*k^").RelativePath();
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(*b, "ab/deletion_vector_d2c639aa-8816-431a-aaf6-d3fe2512ff61.bin");

  auto abs = UDv("ab^-aqEH.-t@S}K{vb[*k^").AbsolutePath("s3://bucket/table/");
  ASSERT_TRUE(abs.ok());
  EXPECT_EQ(*abs, "s3://bucket/table/ab/deletion_vector_d2c639aa-8816-431a-aaf6-d3fe2512ff61.bin");
}

TEST(DeletionVectorTest, Z85DecodeKnownVector) {
  // The ZeroMQ Z85 spec (rfc.zeromq.org/spec/32) test vector: "HelloWorld" →
  // 0x86 0x4F 0xD2 0x6F 0xB5 0x59 0xF7 0x5B.
  auto d = Z85Decode("HelloWorld");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(*d, std::string("\x86\x4F\xD2\x6F\xB5\x59\xF7\x5B", 8));
  EXPECT_FALSE(Z85Decode("Hello").value_or("").empty());
  EXPECT_FALSE(Z85Decode("Hell").ok());   // not a multiple of 5
  EXPECT_FALSE(Z85Decode("Hell~").ok());  // '~' is not in the alphabet
}

TEST(DeletionVectorTest, UniqueIdAndKinds) {
  auto u = UDv("vBn[lx{q8@P<9BNH/isA");
  EXPECT_EQ(u.UniqueId(), "uvBn[lx{q8@P<9BNH/isA@1");
  DeletionVectorDescriptor p;
  p.storage_type = 'p';
  p.path_or_inline_dv = "s3://b/t/deletion_vector_x.bin";
  p.offset = 4;
  EXPECT_EQ(p.UniqueId(), "ps3://b/t/deletion_vector_x.bin@4");
  EXPECT_EQ(*p.AbsolutePath("file:///ignored"), "s3://b/t/deletion_vector_x.bin");
  EXPECT_FALSE(p.RelativePath().ok());
  DeletionVectorDescriptor i;
  i.storage_type = 'i';
  i.path_or_inline_dv = "wi5b=000010000siXQKl0rr91000f55c8Xg0@@D72lkbi5=-{L";
  EXPECT_EQ(i.UniqueId(), "iwi5b=000010000siXQKl0rr91000f55c8Xg0@@D72lkbi5=-{L");
  EXPECT_FALSE(i.HasFile());
  EXPECT_FALSE(i.AbsolutePath("file:///t").ok());
}

TEST(PercentEncodeUriPathTest, EncodesWhatAUriPathCannotHoldAndRoundTrips) {
  EXPECT_EQ(PercentEncodeUriPath("file:///t/50% off/x=a+b"), "file:///t/50%25%20off/x=a+b");
  EXPECT_EQ(PercentEncodeUriPath("/t/a%2Fb"), "/t/a%252Fb");
  EXPECT_EQ(PercentEncodeUriPath("/t/\xc3\xa9#?[]"), "/t/%C3%A9%23%3F%5B%5D");
  EXPECT_EQ(PercentEncodeUriPath("/plain-path_1.~/"), "/plain-path_1.~/");
  for (std::string s : {"/a b%c", "%%%", "\x01\xff/\x80", "x=%2F"}) {
    EXPECT_EQ(*PercentDecode(PercentEncodeUriPath(s)), s) << s;
  }
}

TEST(NeedsPercentEncodingTest, AsciiThatAUriReadsOtherwiseButNotNonAscii) {
  EXPECT_FALSE(NeedsPercentEncoding("file:///data/M\xc3\xbcnchen/t-1_x=a+b~(2)"));
  for (std::string bad : {"/t/a b", "/t/50%", "/t/a%20b", "/t/x#1", "/t/q?", "/t/\"q\"", "/t/\x01",
                          "/t/[1]", "/t/a\\b"}) {
    EXPECT_TRUE(NeedsPercentEncoding(bad)) << bad;
  }
}

TEST(PercentDecodeTest, DecodesExactlyOnce) {
  // DELTA_NOTES §2: value A/A → directory x=A%2FA → log x=A%252FA.
  EXPECT_EQ(*PercentDecode("x=A%252FA/part-0.parquet"), "x=A%2FA/part-0.parquet");
  EXPECT_EQ(*PercentDecode("a%20b"), "a b");
  EXPECT_EQ(*PercentDecode("plain"), "plain");
  EXPECT_FALSE(PercentDecode("bad%2").ok());
  EXPECT_FALSE(PercentDecode("bad%zz").ok());
}

TEST(ParseCommitTest, ParsesActionsAndKeepsRawLines) {
  const std::string line1 =
      R"({"commitInfo":{"timestamp":1677811178585,"operation":"WRITE","extra":{"x":1}}})";
  const std::string line2 =
      R"({"add":{"path":"x=A%252FA/part-0.parquet","partitionValues":{"x":"A/A","y":null},)"
      R"("size":635,"modificationTime":1677811178336,"dataChange":true,)"
      R"("stats":"{\"numRecords\":10,\"minValues\":{\"numRecords\":3}}","futureField":[1,2]}})";
  const std::string bytes = line1 + "\n" + line2 + "\n";
  auto c = ParseCommit(3, bytes);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->version, 3);
  ASSERT_EQ(c->actions.size(), 2u);
  const auto* ci = std::get_if<CommitInfo>(&c->actions[0]);
  ASSERT_NE(ci, nullptr);
  EXPECT_EQ(ci->timestamp, 1677811178585);
  EXPECT_EQ(ci->operation, "WRITE");
  EXPECT_EQ(RawJson(c->actions[0]), line1);
  const auto* add = std::get_if<Add>(&c->actions[1]);
  ASSERT_NE(add, nullptr);
  EXPECT_EQ(add->path, "x=A%252FA/part-0.parquet");
  EXPECT_EQ(add->decoded_path, "x=A%2FA/part-0.parquet");
  EXPECT_FALSE(add->absolute);
  EXPECT_EQ(add->size, 635);
  EXPECT_EQ(add->partition_values.at("x"), "A/A");
  EXPECT_FALSE(add->partition_values.at("y").has_value());
  EXPECT_EQ(add->num_records, 10);  // the top-level one, not minValues.numRecords
  EXPECT_EQ(add->raw_json, line2);  // unknown field futureField kept
}

TEST(ParseCommitTest, LastLineWithoutNewlineAndBlankLines) {
  auto c = ParseCommit(
      0,
      "\n{\"txn\":{\"appId\":\"a\",\"version\":4}}\n\n{\"txn\":{\"appId\":\"b\",\"version\":5}}");
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(c->actions.size(), 2u);
  EXPECT_EQ(std::get<Txn>(c->actions[1]).version, 5);
}

TEST(ParseCommitTest, TruncatedLineIsCorruptionNamingVersionAndLine) {
  auto c = ParseCommit(
      12, "{\"txn\":{\"appId\":\"a\",\"version\":4}}\n{\"add\":{\"path\":\"a.parquet\",\"si");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), StatusCode::kCorruption);
  EXPECT_NE(c.status().message().find("commit 12 line 2"), std::string::npos)
      << c.status().message();
}

TEST(ParseCommitTest, UnknownActionIsKeptNotAnError) {
  const std::string line = R"({"futureAction":{"anything":[1,{"deep":true}]}})";
  auto c = ParseCommit(1, line + "\n");
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(c->actions.size(), 1u);
  const auto* u = std::get_if<UnknownAction>(&c->actions[0]);
  ASSERT_NE(u, nullptr);
  EXPECT_EQ(u->type, "futureAction");
  EXPECT_EQ(u->raw_json, line);
  EXPECT_EQ(ActionTypeName(c->actions[0]), "futureAction");
}

TEST(ParseCommitTest, PathEscapingTheRootIsRefused) {
  for (const char* path : {"../outside.parquet", "a/../../outside.parquet", "%2E%2E/x.parquet",
                           "a%2F..%2F..%2Fx.parquet"}) {
    std::string line =
        std::string(R"({"add":{"path":")") + path +
        R"(","partitionValues":{},"size":1,"modificationTime":1,"dataChange":true}})";
    auto c = ParseCommit(5, line);
    ASSERT_FALSE(c.ok()) << path;
    EXPECT_EQ(c.status().code(), StatusCode::kCorruption) << path;
    EXPECT_NE(c.status().message().find("climbs out of the table root"), std::string::npos)
        << c.status().message();
    EXPECT_NE(c.status().message().find(path), std::string::npos) << c.status().message();
  }
  // Climbing back down inside the root is normalised the way Hadoop's Path does.
  auto ok = ParseCommit(
      5, R"({"remove":{"path":"a/./b/../c.parquet","deletionTimestamp":1,"dataChange":true}})");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(std::get<Remove>(ok->actions[0]).decoded_path, "a/c.parquet");
}

TEST(ParseCommitTest, AbsoluteUrisAreRecognised) {
  for (const char* path :
       {"s3://bucket/t/part-0.parquet", "file:/data/t/part-0.parquet",
        "abfss://c@acct.dfs.core.windows.net/t/p%20q.parquet", "/data/t/part-0.parquet"}) {
    std::string line =
        std::string(R"({"add":{"path":")") + path +
        R"(","partitionValues":{},"size":1,"modificationTime":1,"dataChange":true}})";
    auto c = ParseCommit(0, line);
    ASSERT_TRUE(c.ok()) << c.status();
    const auto& add = std::get<Add>(c->actions[0]);
    EXPECT_TRUE(add.absolute) << path;
    EXPECT_EQ(add.decoded_path, path);  // kept as a URI, not decoded
  }
}

TEST(ParseCommitTest, MalformedDeletionVectorsAreCorruption) {
  const std::string prefix =
      R"({"add":{"path":"a.parquet","partitionValues":{},"size":1,"modificationTime":1,)"
      R"("dataChange":true,"deletionVector":)";
  for (
      const char* dv : {
          R"({"storageType":"x","pathOrInlineDv":"vBn[lx{q8@P<9BNH/isA","offset":1,"sizeInBytes":36,"cardinality":2})",
          R"({"storageType":"u","pathOrInlineDv":"vBn[lx{q8@P<9BNH/is~","offset":1,"sizeInBytes":36,"cardinality":2})",
          R"({"storageType":"u","pathOrInlineDv":"short","offset":1,"sizeInBytes":36,"cardinality":2})",
          R"({"storageType":"u","pathOrInlineDv":"vBn[lx{q8@P<9BNH/isA","offset":1,"sizeInBytes":36})",
          R"({"storageType":"u","pathOrInlineDv":"vBn[lx{q8@P<9BNH/isA","offset":1,"sizeInBytes":-1,"cardinality":2})",
          R"("not an object")",
      }) {
    auto c = ParseCommit(9, prefix + dv + "}}");
    ASSERT_FALSE(c.ok()) << dv;
    EXPECT_EQ(c.status().code(), StatusCode::kCorruption) << dv;
    EXPECT_NE(c.status().message().find("commit 9 line 1"), std::string::npos);
  }
  auto good =
      ParseCommit(9, prefix + R"({"storageType":"u","pathOrInlineDv":"vBn[lx{q8@P<9BNH/isA",)"
                              R"("offset":1,"sizeInBytes":36,"cardinality":2}}})");
  ASSERT_TRUE(good.ok()) << good.status();
  EXPECT_EQ(std::get<Add>(good->actions[0]).deletion_vector->cardinality, 2);
}

TEST(ParseCommitTest, StructuralErrors) {
  EXPECT_EQ(ParseCommit(0, "[1,2]").status().code(), StatusCode::kCorruption);
  EXPECT_EQ(ParseCommit(0, "{}").status().code(), StatusCode::kCorruption);
  EXPECT_EQ(ParseCommit(0, R"({"txn":{"appId":"a","version":1},"add":{}})").status().code(),
            StatusCode::kCorruption);
  EXPECT_EQ(ParseCommit(0, R"({"add":{"size":1}})").status().code(), StatusCode::kCorruption);
  EXPECT_EQ(ParseCommit(0, R"({"add":"x"})").status().code(), StatusCode::kCorruption);
  EXPECT_EQ(ParseCommit(0, R"({"txn":{"appId":"a","version":"1"}})").status().code(),
            StatusCode::kCorruption);
  // Bad stats are a missing hint, not an error.
  auto c = ParseCommit(
      0,
      R"({"add":{"path":"a","partitionValues":{},"size":1,"modificationTime":1,"dataChange":true,"stats":"{not json"}})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(std::get<Add>(c->actions[0]).num_records.has_value());
}

TEST(CommitLimitsTest, CountActionsCountsNonBlankLines) {
  EXPECT_EQ(CountActions(""), 0);
  EXPECT_EQ(CountActions("\n\n \t\r\n"), 0);
  EXPECT_EQ(CountActions("{\"a\":{}}"), 1);                      // no trailing newline
  EXPECT_EQ(CountActions("{\"a\":{}}\n\n{\"b\":{}}\r\n\n"), 2);  // blank lines skipped
}

TEST(CommitLimitsTest, ChecksNameTheTableVersionCountAndKey) {
  CommitLimits limits;
  limits.max_actions = 2;
  limits.max_bytes = 100;
  EXPECT_TRUE(CheckCommitActions("t", 7, "{}\n{}\n\n", limits).ok());
  Status over = CheckCommitActions("file:///x/t", 7, "{}\n{}\n{}", limits);
  EXPECT_EQ(over.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(over.message(),
            "commit 7 of file:///x/t has 3 actions, more than runner.max_commit_actions (2); "
            "lakesync refuses commits this large to keep its memory bounded — raise "
            "runner.max_commit_actions in the configuration if this machine has the memory for "
            "it");
  EXPECT_TRUE(CheckCommitBytes("t", 7, 100, limits).ok());
  EXPECT_EQ(CheckCommitBytes("file:///x/t", 7, 101, limits).message(),
            "commit 7 of file:///x/t is 101 bytes, more than runner.max_commit_bytes (100); "
            "lakesync refuses commits this large to keep its memory bounded — raise "
            "runner.max_commit_bytes in the configuration if this machine has the memory for "
            "it");
  EXPECT_EQ(CommitLimits{}.max_actions, 1000000);
  EXPECT_EQ(CommitLimits{}.max_bytes, 1073741824);
}

TEST(ForEachActionTest, StreamsInOrderAndStopsAtTheVisitorsError) {
  const std::string bytes =
      "{\"commitInfo\":{\"timestamp\":5}}\n\n"
      "{\"add\":{\"path\":\"a\",\"partitionValues\":{},\"size\":1,\"modificationTime\":1,"
      "\"dataChange\":true}}\n"
      "{\"remove\":{\"path\":\"b\",\"dataChange\":true}}\n";
  std::vector<std::string> seen;
  ASSERT_TRUE(ForEachAction(3, bytes, [&](Action&& a) {
                seen.emplace_back(ActionTypeName(a));
                return Status::OK();
              }).ok());
  EXPECT_EQ(seen, (std::vector<std::string>{"commitInfo", "add", "remove"}));
  seen.clear();
  Status stop = ForEachAction(3, bytes, [&](Action&& a) {
    seen.emplace_back(ActionTypeName(a));
    return seen.size() == 2 ? Status::Cancelled("enough") : Status::OK();
  });
  EXPECT_EQ(stop, Status::Cancelled("enough"));
  EXPECT_EQ(seen.size(), 2u);
  // A damaged line is reported with its line number (4: blank lines count) after the actions
  // before it were visited.
  seen.clear();
  Status bad = ForEachAction(3, bytes + "{\"add\":{\"pa", [&](Action&& a) {
    seen.emplace_back(ActionTypeName(a));
    return Status::OK();
  });
  EXPECT_EQ(bad.code(), StatusCode::kCorruption);
  EXPECT_NE(bad.message().find("commit 3 line 5"), std::string::npos) << bad;
  EXPECT_EQ(seen.size(), 3u);
}

TEST(LogReaderLimitsTest, ReadCommitRefusesACommitOverTheLimits) {
  ManualClock clock(FromUnixMillis(1700000000000));
  storage::MemoryStorage storage(clock, "memory://m");
  ASSERT_TRUE(storage.WriteAtomic("t/_delta_log/00000000000000000000.json", "{}\n{}\n{}\n").ok());
  CommitLimits limits;
  limits.max_actions = 2;
  DeltaLog log(storage, "t", limits);
  auto commit = log.ReadCommit(0);
  ASSERT_FALSE(commit.ok());
  EXPECT_EQ(commit.status().message().rfind("commit 0 of memory://m/t has 3 actions", 0), 0u)
      << commit.status();
  limits = CommitLimits{};
  limits.max_bytes = 5;
  auto listing = DeltaLog(storage, "t", limits).List();
  ASSERT_TRUE(listing.ok());
  auto big = DeltaLog(storage, "t", limits).ReadCommit(listing->commits.at(0));
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.status().message().rfind("commit 0 of memory://m/t is 9 bytes", 0), 0u)
      << big.status();
}

TEST(LogReaderLimitsTest, ReadCommitInfoStreamsPastTheActionLimit) {
  ManualClock clock(FromUnixMillis(1700000000000));
  storage::MemoryStorage storage(clock, "memory://m");
  std::string bytes;
  for (int i = 0; i < 5; ++i) {
    bytes += "{\"remove\":{\"path\":\"f" + std::to_string(i) + "\",\"dataChange\":true}}\n";
  }
  bytes += "{\"commitInfo\":{\"timestamp\":42,\"operation\":\"DELETE\"}}\n";
  bytes += "{\"commitInfo\":{\"timestamp\":43}}\n";
  ASSERT_TRUE(storage.WriteAtomic("t/_delta_log/00000000000000000003.json", bytes).ok());
  CommitLimits limits;
  limits.max_actions = 2;  // the whole commit could not be read
  DeltaLog log(storage, "t", limits);
  auto listing = log.List();
  ASSERT_TRUE(listing.ok());
  ASSERT_FALSE(log.ReadCommit(listing->commits.at(0)).ok());
  auto info = log.ReadCommitInfo(listing->commits.at(0));
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->version, 3);
  ASSERT_EQ(info->actions.size(), 1u);
  ASSERT_NE(info->FindCommitInfo(), nullptr);
  EXPECT_EQ(info->FindCommitInfo()->timestamp, 42);
}

}  // namespace
}  // namespace lakesync::delta
