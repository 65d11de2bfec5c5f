// The log engine against the real Delta tables in ../shared/fixtures/delta.
//
// Every expected number below comes from docs/fixtures.md, which was produced by an
// independent Python replay (tests/tools/delta_facts.py, its own JSON parsing, no C++ code)
// and hand cross-checks (grep counts of add/remove lines, stat of file sizes, the writers'
// commitInfo.operationMetrics and .crc files). Cross-checked again by hand for this test:
// http_requests (grep of "size" 3780 + 5976 = 9756, numRecords 144 + 1437 = 1581) and
// table-with-dv-small (one 635-byte file, 10 records minus DV cardinality 2 = 8).

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "delta/inspect.h"
#include "delta/log_reader.h"
#include "delta/protocol.h"
#include "delta/timestamps.h"
#include "storage/local_storage.h"

namespace lakesync::delta {
namespace {

class FixturesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::is_directory(LAKESYNC_FIXTURES_DIR)) {
      GTEST_SKIP() << "\n\n*** fixtures not found at " << LAKESYNC_FIXTURES_DIR
                   << "; these tests need ../shared ***\n";
    }
    auto root = Uri::LocalPath(std::filesystem::canonical(LAKESYNC_FIXTURES_DIR).string());
    ASSERT_TRUE(root.ok()) << root.status();
    auto st = storage::LocalStorage::Open(*root);
    ASSERT_TRUE(st.ok()) << st.status();
    storage_ = std::move(st).value();
  }

  std::unique_ptr<storage::Storage> storage_;
};

struct Expected {
  const char* table;
  int64_t head;
  int64_t files;
  int64_t bytes;
  std::optional<int64_t> rows;  // nullopt: some live add has no stats
  std::vector<std::string> partition_columns;
  const char* checkpoint;  // the checkpoint a reader would use at head
};

// docs/fixtures.md, "Summary at the head version".
const std::vector<Expected>& AllTables() {
  static const std::vector<Expected> kTables = {
      {"cdf-table", 3, 9, 7282, 9, {"birthday"}, "none"},
      {"checkpoints", 12, 12, 18024, 12, {"date"}, "none"},
      {"delta-0.2.0", 3, 3, 1200, std::nullopt, {}, "00000000000000000003.checkpoint.parquet"},
      {"delta-0.8.0-null-partition", 0, 2, 920, std::nullopt, {"k"}, "none"},
      {"delta-0.8.0-partitioned", 0, 6, 2477, std::nullopt, {"year", "month", "day"}, "none"},
      {"delta-2.2.0-partitioned-types", 0, 3, 1356, 3, {"c1", "c2"}, "none"},
      {"http_requests", 1, 2, 9756, 1581, {"date"}, "none"},
      {"simple_table", 4, 5, 1811, std::nullopt, {}, "none"},
      {"simple_table_with_cdc", 2, 1, 1026, 1, {}, "none"},
      {"simple_table_with_checkpoint",
       10,
       11,
       4862,
       std::nullopt,
       {},
       "00000000000000000010.checkpoint.parquet"},
      {"table-with-dv-small", 1, 1, 635, 8, {}, "none"},
      {"table-without-dv-small", 0, 1, 548, 10, {}, "none"},
      {"table_with_column_mapping", 0, 2, 1700, 5, {"Company Very Short"}, "none"},
      {"table_with_liquid_clustering", 0, 10, 5259, 10, {}, "none"},
      {"with_checkpoint_no_last_checkpoint",
       3,
       1,
       1010,
       5,
       {},
       "00000000000000000002.checkpoint.parquet"},
  };
  return kTables;
}

TEST_F(FixturesTest, EveryTableAtHead) {
  for (const auto& e : AllTables()) {
    SCOPED_TRACE(e.table);
    DeltaLog log(*storage_, e.table);
    auto head = log.HeadVersion();
    ASSERT_TRUE(head.ok()) << head.status();
    EXPECT_EQ(*head, e.head);
    auto state = log.Load();
    ASSERT_TRUE(state.ok()) << state.status();
    const Snapshot& s = state->snapshot;
    EXPECT_EQ(s.version(), e.head);
    EXPECT_EQ(s.num_files(), e.files);
    EXPECT_EQ(s.bytes(), e.bytes);
    if (e.rows) {
      EXPECT_TRUE(s.rows_exact());
      EXPECT_EQ(s.rows(), *e.rows);
    } else {
      EXPECT_FALSE(s.rows_exact());
    }
    EXPECT_EQ(s.metadata().partition_columns, e.partition_columns);
    std::string cp = state->segment.checkpoint ? state->segment.checkpoint->Describe() : "none";
    EXPECT_EQ(cp, e.checkpoint);
    EXPECT_EQ(state->segment.commits.size(), static_cast<size_t>(e.head + 1));
    EXPECT_TRUE(CheckReadable(s.protocol()).ok()) << CheckReadable(s.protocol());
  }
}

TEST_F(FixturesTest, EarlierVersions) {
  struct V {
    const char* table;
    int64_t version;
    int64_t files;
    int64_t bytes;
  };
  // docs/fixtures.md "earlier versions".
  for (const V& v :
       {V{"simple_table", 0, 6, 2407}, V{"simple_table", 1, 22, 9104},
        V{"simple_table", 2, 6, 2407}, V{"cdf-table", 0, 10, 6897}, V{"cdf-table", 1, 10, 7548},
        V{"delta-0.2.0", 1, 4, 1592}, V{"delta-0.2.0", 2, 2, 796}, V{"checkpoints", 7, 7, 7 * 1502},
        V{"with_checkpoint_no_last_checkpoint", 2, 1, 976},
        V{"simple_table_with_checkpoint", 4, 5, 5 * 442}}) {
    SCOPED_TRACE(std::string(v.table) + "@" + std::to_string(v.version));
    auto s = DeltaLog(*storage_, v.table).LoadSnapshot(v.version);
    ASSERT_TRUE(s.ok()) << s.status();
    EXPECT_EQ(s->version(), v.version);
    EXPECT_EQ(s->num_files(), v.files);
    EXPECT_EQ(s->bytes(), v.bytes);
  }
  // The checkpoint at 2 is the one a reader of version 2 would use; none before it.
  auto seg = DeltaLog(*storage_, "with_checkpoint_no_last_checkpoint").Segment(1);
  ASSERT_TRUE(seg.ok());
  EXPECT_FALSE(seg->checkpoint.has_value());
}

TEST_F(FixturesTest, PartitionValuesTxnsDomainsAndDvs) {
  {
    auto s = DeltaLog(*storage_, "delta-0.8.0-null-partition").LoadSnapshot();
    ASSERT_TRUE(s.ok()) << s.status();
    std::vector<std::optional<std::string>> ks;
    for (const auto& f : s->files()) ks.push_back(f.add.partition_values.at("k"));
    // Sorted by path: "k=A/..." < "k=__HIVE_DEFAULT_PARTITION__/...".
    ASSERT_EQ(ks.size(), 2u);
    EXPECT_EQ(ks[0], std::optional<std::string>("A"));
    EXPECT_EQ(ks[1], std::nullopt);
  }
  {
    auto s = DeltaLog(*storage_, "table_with_column_mapping").LoadSnapshot();
    ASSERT_TRUE(s.ok()) << s.status();
    for (const auto& f : s->files()) {
      EXPECT_EQ(f.add.partition_values.count("col-173b4db9-b5ad-427f-9e75-516aae37fbbb"), 1u);
    }
  }
  {
    auto s = DeltaLog(*storage_, "delta-0.2.0").LoadSnapshot();
    ASSERT_TRUE(s.ok()) << s.status();
    EXPECT_EQ(s->TxnVersion("e4a20b59-dd0e-4c50-b074-e8ae4786df30"), 0);
  }
  {
    auto s = DeltaLog(*storage_, "table_with_liquid_clustering").LoadSnapshot();
    ASSERT_TRUE(s.ok()) << s.status();
    ASSERT_EQ(s->domains().size(), 2u);
    EXPECT_EQ(s->domains().count("delta.liquid"), 1u);
    EXPECT_EQ(s->domains().count("delta.rowTracking"), 1u);
    // Readable (deletionVectors), but "liquid" is not a writer feature lakesync knows.
    EXPECT_TRUE(CheckReadable(s->protocol()).ok());
    Status w = CheckWritable(s->protocol(), {"domainMetadata", "deletionVectors", "rowTracking"});
    EXPECT_EQ(w.code(), StatusCode::kUnsupported);
    EXPECT_NE(w.message().find("liquid"), std::string::npos) << w;
  }
  {
    auto s = DeltaLog(*storage_, "table-with-dv-small").LoadSnapshot();
    ASSERT_TRUE(s.ok()) << s.status();
    ASSERT_EQ(s->num_files(), 1);
    const auto& dv = s->files()[0].add.deletion_vector;
    ASSERT_TRUE(dv.has_value());
    EXPECT_EQ(dv->UniqueId(), "uvBn[lx{q8@P<9BNH/isA@1");
    EXPECT_EQ(*dv->RelativePath(), "deletion_vector_61d16c75-6994-46b7-a15b-8b538852e50e.bin");
    EXPECT_TRUE(std::filesystem::exists(std::string(LAKESYNC_FIXTURES_DIR) +
                                        "/table-with-dv-small/" + *dv->RelativePath()));
  }
}

// The modification time of a fixture's commit file in Unix ms, read with stat (not the engine).
int64_t CommitFileMillis(const std::string& table, int64_t version) {
  std::string digits = std::to_string(version);
  std::string path = std::string(LAKESYNC_FIXTURES_DIR) + "/" + table + "/_delta_log/" +
                     std::string(20 - digits.size(), '0') + digits + ".json";
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return int64_t{st.st_mtim.tv_sec} * 1000 + st.st_mtim.tv_nsec / 1'000'000;
}

TEST_F(FixturesTest, TimeTravelByFileModificationTimeByDefault) {
  // The fixtures' mtimes are when they were unpacked, not when Spark wrote them; by default
  // (Delta's rule) they are what counts, forced to increase by 1 ms.
  auto state = DeltaLog(*storage_, "cdf-table").Load();
  ASSERT_TRUE(state.ok()) << state.status();
  auto ts = ComputeCommitTimestamps(state->commit_times, std::nullopt);
  ASSERT_TRUE(ts.ok()) << ts.status();
  ASSERT_EQ(ts->size(), 4u);
  int64_t expected = 0;
  for (int64_t v = 0; v < 4; ++v) {
    int64_t mtime = CommitFileMillis("cdf-table", v);
    expected = v == 0 ? mtime : std::max(mtime, expected + 1);
    EXPECT_EQ(ToUnixMillis((*ts)[v].timestamp), expected) << "version " << v;
    EXPECT_EQ((*ts)[v].source, TimestampSource::kFileModificationTime);
  }
  // 2023's commitInfo times are before every commit by this rule.
  EXPECT_TRUE(VersionAsOf(*ts, FromUnixMillis(1704559499570)).status().IsNotFound());
  auto report = Inspect(*storage_, "cdf-table", std::nullopt, std::nullopt);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(ToUnixMillis(report->timestamp), expected);
  EXPECT_EQ(report->timestamp_source, TimestampSource::kFileModificationTime);
}

TEST_F(FixturesTest, TimeTravelByCommitInfoTimestampWhenChosen) {
  // cdf-table commitInfo.timestamp of v0..v3 (docs/fixtures.md): 1703265018828,
  // 1703265021675, 1703886093785, 1704559499570.
  const auto kCommitInfo = NonIctTimestampPolicy::kCommitInfoThenFile;
  DeltaLog log(*storage_, "cdf-table");
  auto state = log.Load();
  ASSERT_TRUE(state.ok()) << state.status();
  auto ts = ComputeCommitTimestamps(state->commit_times, std::nullopt, kCommitInfo);
  ASSERT_TRUE(ts.ok()) << ts.status();
  ASSERT_EQ(ts->size(), 4u);
  EXPECT_EQ(ToUnixMillis((*ts)[2].timestamp), 1703886093785);
  EXPECT_EQ(*VersionAsOf(*ts, FromUnixMillis(1703886093785)), 2);
  EXPECT_EQ(*VersionAsOf(*ts, FromUnixMillis(1703886093784)), 1);
  EXPECT_EQ(*VersionAsOf(*ts, FromUnixMillis(1804559499570)), 3);
  auto before = VersionAsOf(*ts, FromUnixMillis(1703265018827));
  EXPECT_EQ(before.status().code(), StatusCode::kNotFound);
  EXPECT_NE(before.status().message().find("2023-12-22T17:10:18.828Z"), std::string::npos)
      << before.status();

  // checkpoints: v11 and v12 share commitInfo.timestamp 1627668712228; v12 is forced 1 ms
  // later, so "as of" that instant is v11.
  auto cp = DeltaLog(*storage_, "checkpoints").Load();
  ASSERT_TRUE(cp.ok());
  auto cts = ComputeCommitTimestamps(cp->commit_times, std::nullopt, kCommitInfo);
  ASSERT_TRUE(cts.ok());
  EXPECT_EQ(ToUnixMillis((*cts)[12].timestamp), 1627668712229);
  EXPECT_EQ(*VersionAsOf(*cts, FromUnixMillis(1627668712228)), 11);
}

TEST_F(FixturesTest, InspectJsonAndText) {
  const auto kCommitInfo = NonIctTimestampPolicy::kCommitInfoThenFile;
  auto r = Inspect(*storage_, "table-with-dv-small", std::nullopt, std::nullopt, kCommitInfo);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->version, 1);
  EXPECT_EQ(r->num_files, 1);
  EXPECT_EQ(r->rows, 8);
  EXPECT_EQ(ToUnixMillis(r->timestamp), 1677811194429);  // v1 commitInfo.timestamp
  ASSERT_EQ(r->schema.size(), 1u);
  EXPECT_EQ(r->schema[0].name, "value");
  EXPECT_EQ(r->schema[0].type, "integer");
  std::string json = InspectReportToJson(*r, true);
  for (const char* needle :
       {"\"version\":1", "\"num_files\":1", "\"bytes\":635", "\"rows\":8",
        "\"partition_columns\":[]", "\"reader_features\":[\"deletionVectors\"]",
        "\"path\":\"part-00000-fae5310a-a37d-4e51-827b-c3d5516560ca-c000.snappy.parquet\"",
        "\"size\":635",
        "\"deletion_vector_path\":\"deletion_vector_61d16c75-6994-46b7-a15b-8b538852e50e.bin\"",
        "\"timestamp\":\"2023-03-03T02:39:54.429Z\""}) {
    EXPECT_NE(json.find(needle), std::string::npos) << needle << "\n" << json;
  }
  EXPECT_EQ(InspectReportToJson(*r, false).find("\"files\""), std::string::npos);
  std::string text = InspectReportToText(*r, true);
  EXPECT_NE(text.find("1 live, 635 bytes, 8 rows"), std::string::npos) << text;

  // As of v0's commit time of cdf-table → version 0; as of and version together is an error.
  auto asof =
      Inspect(*storage_, "cdf-table", std::nullopt, FromUnixMillis(1703265020000), kCommitInfo);
  ASSERT_TRUE(asof.ok()) << asof.status();
  EXPECT_EQ(asof->version, 0);
  EXPECT_EQ(asof->num_files, 10);
  EXPECT_EQ(Inspect(*storage_, "cdf-table", 1, FromUnixMillis(1)).status().code(),
            StatusCode::kInvalidArgument);
  auto v2 = Inspect(*storage_, "delta-0.8.0-partitioned", 0, std::nullopt);
  ASSERT_TRUE(v2.ok());
  EXPECT_FALSE(v2->rows_exact);
  EXPECT_NE(
      InspectReportToJson(*v2, false).find("\"partition_columns\":[\"year\",\"month\",\"day\"]"),
      std::string::npos);
}

}  // namespace
}  // namespace lakesync::delta
