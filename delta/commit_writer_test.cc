#include "delta/commit_writer.h"

#include <gtest/gtest.h>

#include "storage/memory_storage.h"

namespace lakesync::delta {
namespace {

TEST(CommitWriterTest, ParsedCommitReserialisesByteForByte) {
  const std::string bytes =
      "{\"commitInfo\":{\"timestamp\":1,\"z\":[1,2,{\"a\":null}],\"operation\":\"WRITE\"}}\n"
      "{\"add\":{\"size\":3,\"path\":\"a%20b\",\"partitionValues\":{},\"modificationTime\":1,"
      "\"dataChange\":true,\"unknown\":{\"x\":1}}}\n"
      "{\"somethingNew\":{\"k\":\"v\"}}\n";
  auto c = ParseCommit(0, bytes);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(SerializeCommit(c->actions), bytes);
}

TEST(CommitWriterTest, CanonicalActionsRoundTrip) {
  Add add;
  add.path = "x=A%252FA/part-0.parquet";
  add.partition_values = {{"x", "A/A"}, {"y", std::nullopt}};
  add.size = 123;
  add.modification_time = 456;
  add.data_change = false;
  add.stats = R"({"numRecords":7})";
  DeletionVectorDescriptor dv;
  dv.storage_type = 'u';
  dv.path_or_inline_dv = "vBn[lx{q8@P<9BNH/isA";
  dv.offset = 1;
  dv.size_in_bytes = 36;
  dv.cardinality = 2;
  add.deletion_vector = dv;
  Txn txn;
  txn.app_id = "job \"quoted\"";
  txn.version = 9;
  txn.last_updated = 1000;
  Protocol p;
  p.min_reader_version = 3;
  p.min_writer_version = 7;
  p.reader_features = std::vector<std::string>{"deletionVectors"};
  p.writer_features = std::vector<std::string>{"deletionVectors"};
  Metadata m;
  m.id = "id-1";
  m.schema_string = R"({"type":"struct","fields":[]})";
  m.partition_columns = {"x", "y"};
  m.configuration = {{"delta.appendOnly", "false"}};
  std::vector<Action> actions = {p, m, add, txn};

  std::string bytes = SerializeCommit(actions);
  EXPECT_EQ(bytes.back(), '\n');
  auto c = ParseCommit(0, bytes);
  ASSERT_TRUE(c.ok()) << c.status() << "\n" << bytes;
  ASSERT_EQ(c->actions.size(), 4u);
  const auto& a = std::get<Add>(c->actions[2]);
  EXPECT_EQ(a.decoded_path, "x=A%2FA/part-0.parquet");
  EXPECT_EQ(a.size, 123);
  EXPECT_FALSE(a.data_change);
  EXPECT_EQ(a.num_records, 7);
  EXPECT_EQ(a.partition_values, add.partition_values);
  EXPECT_EQ(a.deletion_vector->UniqueId(), dv.UniqueId());
  EXPECT_EQ(std::get<Txn>(c->actions[3]).app_id, "job \"quoted\"");
  EXPECT_EQ(std::get<Txn>(c->actions[3]).last_updated, 1000);
  EXPECT_EQ(std::get<Metadata>(c->actions[1]).partition_columns, m.partition_columns);
  EXPECT_EQ(std::get<Protocol>(c->actions[0]).reader_features, p.reader_features);
  // Exact canonical form of a txn, written out by hand from PROTOCOL.md's field names.
  EXPECT_EQ(SerializeAction(Action(txn)),
            R"({"txn":{"appId":"job \"quoted\"","version":9,"lastUpdated":1000}})");
}

TEST(CommitWriterTest, SecondWriterOfAVersionGetsConflict) {
  ManualClock clock(FromUnixMillis(1000));
  storage::MemoryStorage storage(clock);
  Txn t;
  t.app_id = "a";
  t.version = 1;
  std::vector<Action> first = {t};
  ASSERT_TRUE(WriteCommit(storage, "t", 0, first).ok());
  t.version = 2;
  std::vector<Action> second = {t};
  Status s = WriteCommit(storage, "t", 0, second);
  EXPECT_EQ(s.code(), StatusCode::kConflict);
  EXPECT_EQ(s.message(),
            "version 0 of memory://test/t already exists (another writer committed first)");
  // The first writer's bytes are untouched.
  auto bytes = storage.Read("t/_delta_log/00000000000000000000.json");
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(*bytes, "{\"txn\":{\"appId\":\"a\",\"version\":1}}\n");
  EXPECT_TRUE(WriteCommit(storage, "t", 1, second).ok());
  EXPECT_EQ(WriteCommit(storage, "t", 2, {}).code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace lakesync::delta
