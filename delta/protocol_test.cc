#include "delta/protocol.h"

#include <gtest/gtest.h>

namespace lakesync::delta {
namespace {

Protocol P(int r, int w, std::optional<std::vector<std::string>> rf = std::nullopt,
           std::optional<std::vector<std::string>> wf = std::nullopt) {
  Protocol p;
  p.min_reader_version = r;
  p.min_writer_version = w;
  p.reader_features = std::move(rf);
  p.writer_features = std::move(wf);
  return p;
}

using Set = std::set<std::string>;

TEST(ProtocolTest, LegacyVersionsImplyFeatures) {
  // DELTA_NOTES §5: writer 2 = appendOnly, invariants; 3 + checkConstraints; 4 +
  // changeDataFeed, generatedColumns; 5 + columnMapping; 6 + identityColumns; reader 2 =
  // columnMapping.
  EXPECT_EQ(WriterFeatures(P(1, 1)), Set{});
  EXPECT_EQ(WriterFeatures(P(1, 2)), (Set{"appendOnly", "invariants"}));
  EXPECT_EQ(WriterFeatures(P(1, 4)), (Set{"appendOnly", "invariants", "checkConstraints",
                                          "changeDataFeed", "generatedColumns"}));
  EXPECT_EQ(WriterFeatures(P(2, 6)),
            (Set{"appendOnly", "invariants", "checkConstraints", "changeDataFeed",
                 "generatedColumns", "columnMapping", "identityColumns"}));
  EXPECT_EQ(ReaderFeatures(P(1, 2)), Set{});
  EXPECT_EQ(ReaderFeatures(P(2, 5)), Set{"columnMapping"});
  EXPECT_EQ(ReaderFeatures(P(3, 7, std::vector<std::string>{"deletionVectors"},
                             std::vector<std::string>{"deletionVectors", "rowTracking"})),
            Set{"deletionVectors"});
  EXPECT_EQ(WriterFeatures(P(3, 7, std::vector<std::string>{"deletionVectors"},
                             std::vector<std::string>{"deletionVectors", "rowTracking"})),
            (Set{"deletionVectors", "rowTracking"}));
}

TEST(ProtocolTest, CheckReadable) {
  EXPECT_TRUE(CheckReadable(P(1, 2)).ok());
  EXPECT_TRUE(CheckReadable(P(3, 7, std::vector<std::string>{"deletionVectors", "v2Checkpoint"},
                              std::vector<std::string>{"deletionVectors"}))
                  .ok());
  Status unknown = CheckReadable(
      P(3, 7, std::vector<std::string>{"deletionVectors", "quantumStorage"}, std::nullopt));
  EXPECT_EQ(unknown.code(), StatusCode::kUnsupported);
  EXPECT_NE(unknown.message().find("quantumStorage"), std::string::npos) << unknown;
  EXPECT_EQ(unknown.message().find("deletionVectors"), std::string::npos) << unknown;

  Status catalog = CheckReadable(P(3, 7, std::vector<std::string>{"catalogManaged"}, std::nullopt));
  EXPECT_EQ(catalog.code(), StatusCode::kUnsupported);
  EXPECT_NE(catalog.message().find("catalogManaged"), std::string::npos);
  EXPECT_NE(catalog.message().find("catalog"), std::string::npos);

  Status coordinated =
      CheckReadable(P(1, 7, std::nullopt, std::vector<std::string>{"coordinatedCommits-preview"}));
  EXPECT_EQ(coordinated.code(), StatusCode::kUnsupported);
  EXPECT_NE(coordinated.message().find("coordinatedCommits-preview"), std::string::npos);

  EXPECT_EQ(CheckReadable(P(4, 7)).code(), StatusCode::kUnsupported);
}

TEST(ProtocolTest, CheckWritable) {
  Protocol p = P(3, 7, std::vector<std::string>{"deletionVectors"},
                 std::vector<std::string>{"deletionVectors", "rowTracking", "appendOnly"});
  EXPECT_TRUE(CheckWritable(p, {"deletionVectors", "rowTracking", "appendOnly"}).ok());
  Status missing = CheckWritable(p, {"deletionVectors", "appendOnly"});
  EXPECT_EQ(missing.code(), StatusCode::kUnsupported);
  EXPECT_NE(missing.message().find("rowTracking"), std::string::npos) << missing;
  EXPECT_EQ(missing.message().find("appendOnly"), std::string::npos) << missing;

  Status unknown =
      CheckWritable(P(1, 7, std::nullopt, std::vector<std::string>{"teleport"}), {"teleport"});
  // Honouring a name lakesync does not know is allowed (the caller vouches for it).
  EXPECT_TRUE(unknown.ok());
  Status unknown2 = CheckWritable(P(1, 7, std::nullopt, std::vector<std::string>{"teleport"}), {});
  EXPECT_EQ(unknown2.code(), StatusCode::kUnsupported);
  EXPECT_NE(unknown2.message().find("teleport"), std::string::npos);
  EXPECT_NE(unknown2.message().find("does not know"), std::string::npos);

  // Legacy writer 4 implies changeDataFeed and generatedColumns.
  Status legacy = CheckWritable(P(1, 4), {"appendOnly", "invariants", "checkConstraints"});
  EXPECT_NE(legacy.message().find("changeDataFeed"), std::string::npos) << legacy;

  // Catalog/redirect features are refused even when "honoured".
  Status redirect =
      CheckWritable(P(1, 7, std::nullopt, std::vector<std::string>{"redirectWriterOnly-preview"}),
                    {"redirectWriterOnly-preview"});
  EXPECT_EQ(redirect.code(), StatusCode::kUnsupported);
  EXPECT_NE(redirect.message().find("redirectWriterOnly-preview"), std::string::npos);
  EXPECT_TRUE(
      CheckReadable(P(1, 7, std::nullopt, std::vector<std::string>{"redirectWriterOnly-preview"}))
          .ok());
}

// PROTOCOL.md "Version Checksum File": the protocol it records, parsed as a protocol action.
TEST(ProtocolOfChecksumTest, ReadsTheRecordedProtocol) {
  auto p = ProtocolOfChecksum(
      7, R"({"tableSizeBytes":1,"protocol":{"minReaderVersion":3,"minWriterVersion":7,)"
         R"("readerFeatures":["deletionVectors"],"writerFeatures":["deletionVectors"]},)"
         R"("metadata":{"id":"x"}})");
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_TRUE(p->has_value());
  EXPECT_EQ((*p)->min_reader_version, 3);
  EXPECT_EQ(ReaderFeatures(**p), (std::set<std::string>{"deletionVectors"}));
  auto none = ProtocolOfChecksum(7, R"({"tableSizeBytes":1})");
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_FALSE(none->has_value());
  auto bad = ProtocolOfChecksum(7, "[1,2]");
  EXPECT_EQ(bad.status().code(), StatusCode::kCorruption);
  EXPECT_NE(bad.status().message().find("00000000000000000007.crc"), std::string::npos);
  EXPECT_EQ(ProtocolOfChecksum(7, R"({"protocol":{"minReaderVersion":"x"}})").status().code(),
            StatusCode::kCorruption);
}

}  // namespace
}  // namespace lakesync::delta
