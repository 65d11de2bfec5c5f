// Unit tests of consolidation (jobs/consolidation.h) on writable copies of the real Delta
// fixtures in temporary directories. Expectations come from the fixtures' logs, read here
// with a tiny regex reader of the test's own (MiniLive), and from hand-written strings —
// never from the engine's code. The end-to-end tests (tests/consolidation_test.cc) judge the
// global table again with tests/tools/global_facts.py.

#include "jobs/consolidation.h"
#include "jobs/consolidation_schema.h"
#include "jobs/table_verify.h"
#include "storage/fault_storage.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <xxhash.h>

#include <filesystem>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "jobs/jobs_test_util.h"

namespace lakesync::jobs {
namespace {

using namespace ::lakesync::jobs::testing;  // NOLINT(build/namespaces)
using ::testing::HasSubstr;
using ::testing::Not;

#define SKIP_WITHOUT_FIXTURES()                                                       \
  do {                                                                                \
    if (!fs::exists(FixturesDir())) {                                                 \
      GTEST_SKIP() << "FIXTURES MISSING: " << FixturesDir()                           \
                   << " does not exist; the fixture consolidation tests did not run"; \
    }                                                                                 \
  } while (0)

// The live (path, DV) keys of a table's log up to its highest contiguous commit, read with
// regexes: add/remove lines in order, the key being the raw path plus the DV's
// pathOrInlineDv (empty without one).
std::map<std::string, std::string> MiniLive(const fs::path& table) {
  static const std::regex kLine(R"re(^\{"(add|remove)":\{"path":"([^"]*)")re");
  static const std::regex kDv(R"re("pathOrInlineDv":"([^"]*)")re");
  std::map<std::string, std::string> live;  // key → the add line
  for (int64_t v = 0; fs::exists(table / "_delta_log" / CommitName(v)); ++v) {
    std::istringstream in(ReadFileBytes(table / "_delta_log" / CommitName(v)));
    std::string line;
    while (std::getline(in, line)) {
      std::smatch m, d;
      if (!std::regex_search(line, m, kLine)) continue;
      std::string key = m[2].str() + "|";
      if (std::regex_search(line, d, kDv)) key += d[1].str();
      if (m[1] == "add") {
        live[key] = line;
      } else {
        live.erase(key);
      }
    }
  }
  return live;
}

std::set<std::string> Keys(const std::map<std::string, std::string>& m) {
  std::set<std::string> out;
  for (const auto& [k, v] : m) out.insert(k);
  return out;
}

// What the global table's live keys must be: each source key under `<column>=<region>/`,
// DV ids with the region directory as their prefix.
std::set<std::string> ExpectedGlobal(const std::vector<std::pair<std::string, fs::path>>& regions,
                                     const std::string& column = "source_region") {
  std::set<std::string> out;
  for (const auto& [region, dir] : regions) {
    for (const auto& key : Keys(MiniLive(dir))) {
      size_t bar = key.find('|');
      std::string dir_name = column + "=" + region;
      std::string dv = key.substr(bar + 1);
      // A DV's prefix (one directory name) becomes the region directory.
      if (!dv.empty()) dv = dir_name + dv.substr(dv.size() - 20);
      out.insert(dir_name + "/" + key.substr(0, bar) + "|" + dv);
    }
  }
  return out;
}

ConsolidationSource Source(const std::string& region, storage::Storage* storage) {
  ConsolidationSource s;
  s.region = region;
  s.table = TableLocation{region, storage, ""};
  return s;
}

std::string Commit(const fs::path& table, int64_t v) {
  return ReadFileBytes(table / "_delta_log" / CommitName(v));
}

// Version 0's protocol and metadata lines of a one-column, unpartitioned hand-written table.
const std::string kMiniTableHeader =
    R"({"protocol":{"minReaderVersion":1,"minWriterVersion":2}})"
    "\n"
    R"({"metaData":{"id":"t","format":{"provider":"parquet","options":{}},"schemaString":)"
    R"("{\"type\":\"struct\",\"fields\":[{\"name\":\"v\",\"type\":\"long\",\"nullable\":true,)"
    R"(\"metadata\":{}}]}","partitionColumns":[],"configuration":{}}})"
    "\n";

// An add / remove line of a hand-written table's 5-byte file (the bytes "12345").
std::string MiniAdd(const std::string& path, bool data_change = true, int mtime = 1) {
  return R"({"add":{"path":")" + path + R"(","partitionValues":{},"size":5,"modificationTime":)" +
         std::to_string(mtime) + R"(,"dataChange":)" + (data_change ? "true" : "false") + "}}\n";
}
std::string MiniRemove(const std::string& path, bool data_change = true, int deleted_at = 2) {
  return R"({"remove":{"path":")" + path + R"(","deletionTimestamp":)" +
         std::to_string(deleted_at) + R"(,"dataChange":)" + (data_change ? "true" : "false") +
         R"(,"size":5}})" + "\n";
}

// A hand-written one-column region table at src-<region> with one file per name in `files`.
fs::path MiniRegion(const std::string& root, const std::string& region,
                    const std::vector<std::string>& files) {
  fs::path src = fs::path(root) / ("src-" + region);
  std::string log0 = kMiniTableHeader;
  for (const auto& f : files) {
    WriteFileBytes(src / f, "12345");
    log0 += MiniAdd(f);
  }
  WriteFileBytes(src / "_delta_log" / CommitName(0), log0);
  return src;
}

// Version `v` of a mini table: a metaData line whose schema is `v` (long) plus `extra_field`
// (a schema field's JSON, escaped for schemaString), then an add of `file`.
std::string MiniSchemaChange(const std::string& extra_field, const std::string& file) {
  return R"({"metaData":{"id":"t","format":{"provider":"parquet","options":{}},"schemaString":)"
         R"("{\"type\":\"struct\",\"fields\":[{\"name\":\"v\",\"type\":\"long\",\"nullable\":true,)"
         R"(\"metadata\":{}},)" +
         extra_field + R"(]}","partitionColumns":[],"configuration":{}}})" + "\n" + MiniAdd(file);
}

class ConsolidationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    global_dir_ = tmp_.path() + "/global";
    global_ = OpenLocal(global_dir_);
  }

  // Fresh hand-written regions eastus and westus (one file each) and a fresh global table that
  // holds them (a first run with `union_schema`, whose options are returned).
  ConsolidationOptions StartMiniRegions(bool union_schema) {
    for (const char* r : {"eastus", "westus"}) {
      fs::remove_all(tmp_.path() + "/src-" + r);
      dirs_[r] = MiniRegion(tmp_.path(), r, {std::string(1, r[0]) + "0.parquet"});
    }
    fs::remove_all(global_dir_);
    global_ = OpenLocal(global_dir_);
    ConsolidationOptions options;
    options.union_schema = union_schema;
    auto first = Consolidate({"eastus", "westus"}, options);
    EXPECT_TRUE(first.ok() && first->ok()) << first.status();
    return options;
  }

  // Version `v` of a mini region: one add of a new 5-byte `file`.
  void AddMiniFile(const std::string& region, int64_t v, const std::string& file) {
    WriteFileBytes(dirs_[region] / file, "12345");
    WriteFileBytes(dirs_[region] / "_delta_log" / CommitName(v), MiniAdd(file));
  }

  // A writable copy of fixture `name` for `region`; commits after `keep_to` are moved aside
  // (RestoreCommits brings them back: the source "keeps receiving commits").
  fs::path Region(const std::string& region, const std::string& name, int64_t keep_to = -1) {
    fs::path dir = fs::path(tmp_.path()) / ("src-" + region);
    CopyTree(fs::path(FixturesDir()) / name, dir);
    if (keep_to >= 0) {
      fs::create_directories(dir / "held");
      for (int64_t v = keep_to + 1; fs::exists(dir / "_delta_log" / CommitName(v)); ++v) {
        fs::rename(dir / "_delta_log" / CommitName(v), dir / "held" / CommitName(v));
      }
    }
    dirs_[region] = dir;
    return dir;
  }
  void RestoreCommits(const std::string& region) {
    fs::path dir = dirs_[region];
    for (auto& e : fs::directory_iterator(dir / "held")) {
      fs::rename(e.path(), dir / "_delta_log" / e.path().filename());
    }
  }

  Result<ConsolidationOutcome> Consolidate(const std::vector<std::string>& regions,
                                           ConsolidationOptions options = {}) {
    std::vector<std::unique_ptr<storage::LocalStorage>> storages;
    std::vector<ConsolidationSource> sources;
    for (const auto& r : regions) {
      storages.push_back(
          OpenLocal(dirs_.count(r) ? dirs_[r].string() : tmp_.path() + "/none-" + r));
      sources.push_back(Source(r, storages.back().get()));
    }
    if (options.job.empty()) options.job = "global_sales";
    TableLocation target{"global", global_.get(), ""};
    return RunConsolidation(sources, target, options, observer_);
  }

  std::vector<std::pair<std::string, fs::path>> Dirs(const std::vector<std::string>& regions) {
    std::vector<std::pair<std::string, fs::path>> out;
    for (const auto& r : regions) out.emplace_back(r, dirs_[r]);
    return out;
  }

  // Every live file of the global table has the bytes of its source file.
  void ExpectSameBytes(const std::vector<std::string>& regions) {
    for (const auto& r : regions) {
      for (const auto& key : Keys(MiniLive(dirs_[r]))) {
        std::string path = Unescape(key.substr(0, key.find('|')));
        EXPECT_EQ(ReadFileBytes(fs::path(global_dir_) / ("source_region=" + r) / path),
                  ReadFileBytes(dirs_[r] / path))
            << r << " " << path;
      }
    }
  }

  storage::testing::TempDir tmp_;
  std::string global_dir_;
  std::unique_ptr<storage::LocalStorage> global_;
  std::map<std::string, fs::path> dirs_;
  RecordingObserver observer_;
};

TEST_F(ConsolidationTest, TwoRegionsCreateTheUnionAndARerunAddsNothing) {
  SKIP_WITHOUT_FIXTURES();
  Region("eastus", "simple_table");
  Region("westus", "simple_table");
  auto out = Consolidate({"eastus", "westus"});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_TRUE(out->ok());
  EXPECT_TRUE(out->created);
  EXPECT_EQ(out->end_version, 0);
  ASSERT_EQ(out->regions.size(), 2u);
  for (const auto& r : out->regions) {
    EXPECT_EQ(r.start_version, -1);
    EXPECT_EQ(r.end_version, 4);  // simple_table's head
    EXPECT_EQ(r.commits, 5);
    EXPECT_EQ(r.adds, 5);  // 5 live files at version 4 (delta_facts.py facts)
    EXPECT_EQ(r.files, 5);
    EXPECT_EQ(r.bytes, 1811);
  }
  EXPECT_EQ(Keys(MiniLive(global_dir_)), ExpectedGlobal(Dirs({"eastus", "westus"})));
  ExpectSameBytes({"eastus", "westus"});

  std::string v0 = Commit(global_dir_, 0);
  EXPECT_THAT(v0, HasSubstr(R"({"protocol":{"minReaderVersion":1,"minWriterVersion":2}})"));
  EXPECT_THAT(v0, HasSubstr(R"("partitionColumns":["source_region"])"));
  EXPECT_THAT(v0,
              HasSubstr(R"({\"name\":\"id\",\"type\":\"long\",\"nullable\":true,\"metadata\":{}},)"
                        R"({\"name\":\"source_region\",\"type\":\"string\",\"nullable\":false,)"
                        R"(\"metadata\":{}}]})"));
  EXPECT_THAT(v0, HasSubstr(R"({"txn":{"appId":"lakesync:global_sales:eastus","version":4,)"));
  EXPECT_THAT(v0, HasSubstr(R"({"txn":{"appId":"lakesync:global_sales:westus","version":4,)"));
  EXPECT_THAT(v0, HasSubstr(R"("partitionValues":{"source_region":"westus"})"));

  auto again = Consolidate({"eastus", "westus"});
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE(again->published);
  EXPECT_EQ(again->end_version, 0);
  EXPECT_FALSE(fs::exists(fs::path(global_dir_) / "_delta_log" / CommitName(1)));
  for (const auto& r : again->regions) EXPECT_EQ(r.files, 0);
}

TEST_F(ConsolidationTest, ThreeRegionsOfAPartitionedTable) {
  SKIP_WITHOUT_FIXTURES();
  for (const char* r : {"eastus", "westeu", "apac"}) Region(r, "delta-0.8.0-partitioned");
  auto out = Consolidate({"eastus", "westeu", "apac"});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_TRUE(out->ok());
  EXPECT_EQ(Keys(MiniLive(global_dir_)), ExpectedGlobal(Dirs({"eastus", "westeu", "apac"})));
  EXPECT_EQ(Keys(MiniLive(global_dir_)).size(), 18u);
  ExpectSameBytes({"eastus", "westeu", "apac"});
  std::string v0 = Commit(global_dir_, 0);
  EXPECT_THAT(v0, HasSubstr(R"("partitionColumns":["source_region","year","month","day"])"));
  EXPECT_THAT(v0,
              HasSubstr(R"({"add":{"path":"source_region=apac/year=2020/month=1/day=1/part-00000-)"
                        R"(8eafa330-3be9-4a39-ad78-fd13c2027c7e.c000.snappy.parquet",)"
                        R"("partitionValues":{"day":"1","month":"1","source_region":"apac",)"
                        R"("year":"2020"})"));
}

TEST_F(ConsolidationTest, SourcesThatKeepChangingAddAndRemoveInLaterRuns) {
  SKIP_WITHOUT_FIXTURES();
  Region("eastus", "simple_table", /*keep_to=*/1);
  Region("westus", "simple_table", /*keep_to=*/3);
  auto first = Consolidate({"eastus", "westus"});
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->regions[0].end_version, 1);
  EXPECT_EQ(first->regions[0].adds, 22);  // live at version 1
  EXPECT_EQ(first->regions[1].end_version, 3);
  EXPECT_EQ(Keys(MiniLive(global_dir_)), ExpectedGlobal(Dirs({"eastus", "westus"})));

  // Lag of each region: eastus is 3 versions behind once its commits arrive, and its oldest
  // unconsolidated commit (2) was written at T + 2 min (commit k at T + k min).
  RestoreCommits("eastus");
  RestoreCommits("westus");
  const TimePoint t = FromUnixMillis(1'800'000'000'000);
  SetCommitTimes(dirs_["eastus"], t, std::chrono::seconds(60));
  {
    auto a = OpenLocal(dirs_["eastus"].string());
    auto b = OpenLocal(dirs_["westus"].string());
    TableLocation target{"global", global_.get(), ""};
    auto lag = ConsolidationLag({Source("eastus", a.get()), Source("westus", b.get())}, target,
                                "global_sales", t + std::chrono::seconds(2 * 60 + 5));
    ASSERT_EQ(lag.size(), 2u);
    EXPECT_TRUE(lag[0].status.ok()) << lag[0].status;
    EXPECT_EQ(lag[0].consolidated_version, 1);
    EXPECT_EQ(lag[0].source_version, 4);
    EXPECT_EQ(lag[0].versions, 3);
    EXPECT_DOUBLE_EQ(lag[0].seconds, 5.0);
    EXPECT_EQ(lag[1].consolidated_version, 3);
    EXPECT_EQ(lag[1].versions, 1);
  }

  auto second = Consolidate({"eastus", "westus"});
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->end_version, 1);
  EXPECT_EQ(second->regions[0].start_version, 1);
  EXPECT_EQ(second->regions[0].end_version, 4);
  EXPECT_EQ(second->regions[0].commits, 3);
  // 22 live at 1, 5 live at 4, none in common: every one of the 22 is removed, 5 added.
  EXPECT_EQ(second->regions[0].removes, 22);
  EXPECT_EQ(second->regions[0].adds, 5);
  EXPECT_EQ(second->regions[1].removes, 2);  // version 4 removes two files, adds one
  EXPECT_EQ(second->regions[1].adds, 1);
  EXPECT_EQ(Keys(MiniLive(global_dir_)), ExpectedGlobal(Dirs({"eastus", "westus"})));
  ExpectSameBytes({"eastus", "westus"});
  std::string v1 = Commit(global_dir_, 1);
  EXPECT_THAT(
      v1, HasSubstr(R"({"remove":{"path":"source_region=westus/part-00001-bb70d2ba-c196-4df2-)"
                    R"(9c85-f34969ad3aa9-c000.snappy.parquet","deletionTimestamp":1587968626536,)"
                    R"("dataChange":true,"extendedFileMetadata":true,)"
                    R"("partitionValues":{"source_region":"westus"},"size":429)"));
}

// A region's source replaced by another table (dropped and recreated with the same schema;
// here: commit 1 rewritten) is refused instead of having the new table's commits applied on
// top of the old one's rows; the other region is unaffected, and the original source
// continues where it left off. The old code merged the new table's commits 2..4.
TEST_F(ConsolidationTest, ReplacedSourceIsRefusedNotMerged) {
  SKIP_WITHOUT_FIXTURES();
  fs::path east = Region("eastus", "simple_table", /*keep_to=*/1);
  Region("westus", "simple_table");
  auto first = Consolidate({"eastus", "westus"});
  ASSERT_TRUE(first.ok() && first->ok()) << first.status();
  // The fingerprint of each region's consolidated commit is recorded with its txn.
  EXPECT_THAT(Commit(global_dir_, 0), HasSubstr(R"("lakesyncSources":{"eastus":"1:)"));
  EXPECT_THAT(Commit(global_dir_, 0), HasSubstr(R"(,"westus":"4:)"));

  const std::string original = Commit(east, 1);
  std::string recreated = original;
  const size_t ts = recreated.find("\"timestamp\":");
  ASSERT_NE(ts, std::string::npos);
  recreated[ts + 20] = recreated[ts + 20] == '1' ? '2' : '1';  // another commit, same shape
  WriteFileBytes(east / "_delta_log" / CommitName(1), recreated);
  RestoreCommits("eastus");
  auto second = Consolidate({"eastus", "westus"});
  ASSERT_TRUE(second.ok()) << second.status();
  ASSERT_EQ(second->regions.size(), 2u);
  EXPECT_EQ(second->regions[0].status.code(), StatusCode::kCorruption) << second->regions[0].status;
  EXPECT_THAT(second->regions[0].status.message(), HasSubstr("replaced or recreated"));
  EXPECT_EQ(second->regions[0].end_version, 1);
  EXPECT_TRUE(second->regions[1].status.ok()) << second->regions[1].status;
  EXPECT_FALSE(fs::exists(fs::path(global_dir_) / "_delta_log" / CommitName(1)));

  // The original source back: consolidated from version 2 on, as if nothing happened.
  WriteFileBytes(east / "_delta_log" / CommitName(1), original);
  auto third = Consolidate({"eastus", "westus"});
  ASSERT_TRUE(third.ok() && third->ok()) << third.status();
  EXPECT_EQ(third->regions[0].start_version, 1);
  EXPECT_EQ(third->regions[0].end_version, 4);
  EXPECT_EQ(Keys(MiniLive(global_dir_)), ExpectedGlobal(Dirs({"eastus", "westus"})));
  EXPECT_THAT(Commit(global_dir_, 1), HasSubstr(R"("lakesyncSources":{"eastus":"4:)"));
  EXPECT_THAT(Commit(global_dir_, 1), HasSubstr(R"(,"westus":"4:)"));  // carried, idle
}

// A global table written before fingerprints were recorded: an idle region's source gets one
// (trusted on first use) with the next commit, and from then on its replacement is refused
// even while it does not advance.
TEST_F(ConsolidationTest, GlobalTableWithoutFingerprintsGetsThemAndThenChecks) {
  SKIP_WITHOUT_FIXTURES();
  Region("eastus", "simple_table", /*keep_to=*/1);
  fs::path west = Region("westus", "simple_table");
  auto first = Consolidate({"eastus", "westus"});
  ASSERT_TRUE(first.ok() && first->ok()) << first.status();
  // As an older lakesync wrote it: no lakesyncSources in the commitInfo.
  const fs::path v0 = fs::path(global_dir_) / "_delta_log" / CommitName(0);
  std::string text = ReadFileBytes(v0);
  const size_t at = text.find(R"(,"lakesyncSources":{)");
  ASSERT_NE(at, std::string::npos);
  text.erase(at, text.find('}', at) + 1 - at);
  WriteFileBytes(v0, text);
  ASSERT_EQ(text.find("lakesyncSources"), std::string::npos);

  RestoreCommits("eastus");
  auto second = Consolidate({"eastus", "westus"});
  ASSERT_TRUE(second.ok() && second->ok()) << second.status();
  EXPECT_EQ(second->regions[0].end_version, 4);
  EXPECT_THAT(Commit(global_dir_, 1), HasSubstr(R"(,"westus":"4:)"));

  std::string v4 = Commit(west, 4);
  const size_t ts = v4.find("\"timestamp\":");
  ASSERT_NE(ts, std::string::npos);
  v4[ts + 20] = v4[ts + 20] == '1' ? '2' : '1';
  WriteFileBytes(west / "_delta_log" / CommitName(4), v4);
  auto third = Consolidate({"eastus", "westus"});
  ASSERT_TRUE(third.ok()) << third.status();
  EXPECT_EQ(third->regions[1].status.code(), StatusCode::kCorruption) << third->regions[1].status;
  EXPECT_TRUE(third->regions[0].status.ok()) << third->regions[0].status;
}

// Sources whose log retention removed old commits after a checkpoint (Delta keeps the commits
// from the checkpoint on): a region consolidated at the version just before the checkpoint
// goes on from the checkpoint's commit (its consolidated commit is gone, so there is no
// fingerprint to compare) and records the fingerprint of its new head; a region that lags
// further lost commits it needs and is refused with what to do, the other region unaffected.
TEST_F(ConsolidationTest, SourcesWhoseOldCommitsWereCleanedUpAfterACheckpoint) {
  SKIP_WITHOUT_FIXTURES();
  // simple_table_with_checkpoint: commits 0..10 and a checkpoint at 10.
  const fs::path fixture = fs::path(FixturesDir()) / "simple_table_with_checkpoint";
  fs::path east = Region("eastus", "simple_table_with_checkpoint", /*keep_to=*/9);
  fs::path west = Region("westus", "simple_table_with_checkpoint", /*keep_to=*/7);
  for (const fs::path& dir : {east, west}) {
    for (const char* f : {"00000000000000000010.checkpoint.parquet", "_last_checkpoint"}) {
      fs::rename(dir / "_delta_log" / f, dir / "held" / f);
    }
  }
  auto first = Consolidate({"eastus", "westus"});
  ASSERT_TRUE(first.ok() && first->ok()) << first.status();
  EXPECT_EQ(first->regions[0].end_version, 9);
  EXPECT_EQ(first->regions[1].end_version, 7);

  // Both sources reach version 10 with its checkpoint; retention removes commits 0..9.
  for (const std::string region : {"eastus", "westus"}) {
    RestoreCommits(region);
    for (int64_t v = 0; v <= 9; ++v) fs::remove(dirs_[region] / "_delta_log" / CommitName(v));
  }
  auto second = Consolidate({"eastus", "westus"});
  ASSERT_TRUE(second.ok()) << second.status();
  ASSERT_EQ(second->regions.size(), 2u);
  EXPECT_TRUE(second->regions[0].status.ok()) << second->regions[0].status;
  EXPECT_EQ(second->regions[0].start_version, 9);
  EXPECT_EQ(second->regions[0].end_version, 10);
  EXPECT_EQ(second->regions[1].status.code(), StatusCode::kNotFound) << second->regions[1].status;
  EXPECT_THAT(second->regions[1].status.message(),
              HasSubstr("no longer holds version 8 (log retention removed it"));
  EXPECT_THAT(second->regions[1].status.message(), HasSubstr("consolidated version 7"));
  EXPECT_EQ(second->regions[1].end_version, 7);

  // The global table: eastus as the whole fixture at 10, westus as the fixture at 7.
  std::map<std::string, std::string> live = MiniLive(global_dir_);
  std::set<std::string> east_keys, west_keys;
  for (const auto& key : Keys(live)) {
    (key.rfind("source_region=eastus/", 0) == 0 ? east_keys : west_keys).insert(key);
  }
  EXPECT_EQ(east_keys, ExpectedGlobal({{"eastus", fixture}}));
  fs::path fixture_at_7 = fs::path(tmp_.path()) / "fixture-at-7";
  CopyTree(fixture, fixture_at_7);
  fs::remove(fixture_at_7 / "_delta_log" / CommitName(8));
  EXPECT_EQ(west_keys, ExpectedGlobal({{"westus", fixture_at_7}}));
  // eastus's new fingerprint: version 10 and the XXH3 of its commit file, computed here.
  const std::string v10 = Commit(east, 10);
  EXPECT_THAT(Commit(global_dir_, 1),
              HasSubstr(fmt::format(R"("lakesyncSources":{{"eastus":"10:{:016x}")",
                                    XXH3_64bits(v10.data(), v10.size()))));
}

TEST_F(ConsolidationTest, DeletionVectorUpdateTranslatesThePairAndCopiesTheDvFile) {
  SKIP_WITHOUT_FIXTURES();
  Region("eastus", "table-with-dv-small", /*keep_to=*/0);
  Region("westus", "table-with-dv-small");
  auto first = Consolidate({"eastus", "westus"});
  ASSERT_TRUE(first.ok()) << first.status();
  std::string v0 = Commit(global_dir_, 0);
  EXPECT_THAT(v0, HasSubstr(R"({"protocol":{"minReaderVersion":3,"minWriterVersion":7,)"
                            R"("readerFeatures":["deletionVectors"],)"
                            R"("writerFeatures":["deletionVectors"]}})"));
  EXPECT_THAT(v0, HasSubstr(R"("deletionVector":{"storageType":"u",)"
                            R"("pathOrInlineDv":"source_region=westusvBn[lx{q8@P<9BNH/isA",)"
                            R"("offset":1,"sizeInBytes":36,"cardinality":2})"));
  const std::string dv_file = "deletion_vector_61d16c75-6994-46b7-a15b-8b538852e50e.bin";
  EXPECT_EQ(ReadFileBytes(fs::path(global_dir_) / "source_region=westus" / dv_file),
            ReadFileBytes(dirs_["westus"] / dv_file));
  EXPECT_FALSE(fs::exists(fs::path(global_dir_) / "source_region=eastus" / dv_file));

  RestoreCommits("eastus");
  auto second = Consolidate({"eastus", "westus"});
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->regions[0].removes, 1);
  EXPECT_EQ(second->regions[0].adds, 1);
  std::string v1 = Commit(global_dir_, 1);
  const std::string data = "part-00000-fae5310a-a37d-4e51-827b-c3d5516560ca-c000.snappy.parquet";
  // The remove reproduces the global add it removes (no DV), the add carries the new DV.
  EXPECT_THAT(v1, HasSubstr(R"({"remove":{"path":"source_region=eastus/)" + data +
                            R"(","deletionTimestamp":1677811194426,"dataChange":true,)"
                            R"("extendedFileMetadata":true,)"
                            R"("partitionValues":{"source_region":"eastus"},"size":635,"tags")"));
  std::string remove_line = v1.substr(v1.find(R"({"remove":)"));
  remove_line = remove_line.substr(0, remove_line.find('\n'));
  EXPECT_THAT(remove_line, Not(HasSubstr("deletionVector")));
  EXPECT_THAT(v1, HasSubstr(R"("pathOrInlineDv":"source_region=eastusvBn[lx{q8@P<9BNH/isA")"));
  EXPECT_EQ(ReadFileBytes(fs::path(global_dir_) / "source_region=eastus" / dv_file),
            ReadFileBytes(dirs_["eastus"] / dv_file));
  EXPECT_EQ(Keys(MiniLive(global_dir_)), ExpectedGlobal(Dirs({"eastus", "westus"})));
}

TEST_F(ConsolidationTest, SchemaMismatchFailsNamingTheColumnsAndCreatesNothing) {
  SKIP_WITHOUT_FIXTURES();
  Region("eastus", "simple_table");
  Region("westus", "table-with-dv-small");
  auto out = Consolidate({"eastus", "westus"});
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().message(),
            "the sources' schemas differ: column `value`: in westus, not in eastus; column `id`: "
            "in eastus, not in westus. Make the regional tables' schemas agree or write "
            "`schema: union` in the job to add nullable columns that only some sources have");
  EXPECT_FALSE(fs::exists(fs::path(global_dir_) / "_delta_log"));
}

TEST_F(ConsolidationTest, UnionSchemaAddsMissingNullableColumns) {
  SKIP_WITHOUT_FIXTURES();
  Region("eastus", "simple_table");
  Region("westus", "table-with-dv-small");
  ConsolidationOptions options;
  options.union_schema = true;
  auto out = Consolidate({"eastus", "westus"}, options);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_TRUE(out->ok());
  EXPECT_THAT(Commit(global_dir_, 0),
              HasSubstr(R"({\"name\":\"id\",\"type\":\"long\",\"nullable\":true,)"
                        R"(\"metadata\":{}},{\"name\":\"value\",\"type\":\"integer\",)"
                        R"(\"nullable\":true,\"metadata\":{}},{\"name\":\"source_region\")"));
  EXPECT_EQ(Keys(MiniLive(global_dir_)), ExpectedGlobal(Dirs({"eastus", "westus"})));
}

TEST_F(ConsolidationTest, TypeMismatchNamesBothTypes) {
  SKIP_WITHOUT_FIXTURES();
  Region("eastus", "simple_table");
  fs::path west = Region("westus", "simple_table");
  std::string v0 = Commit(west, 0);
  const std::string from = R"(\"type\":\"long\")";
  v0.replace(v0.find(from), from.size(), R"(\"type\":\"string\")");
  WriteFileBytes(west / "_delta_log" / CommitName(0), v0);
  auto out = Consolidate({"eastus", "westus"});
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().message(),
            "the sources' schemas differ: column `id`: eastus has long, westus has string. Make "
            "the regional tables' schemas agree or write `schema: union` in the job to add "
            "nullable columns that only some sources have");
}

TEST_F(ConsolidationTest, PartitioningMismatchIsRefused) {
  SKIP_WITHOUT_FIXTURES();
  Region("eastus", "simple_table");
  Region("westus", "delta-0.8.0-partitioned");
  auto out = Consolidate({"eastus", "westus"});
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().message(),
            "the sources are partitioned differently: eastus by [], westus by [year, month, "
            "day]; consolidation needs the same partition columns in every source");
}

TEST_F(ConsolidationTest, ColumnMappingWithTheSamePhysicalNamesIsKept) {
  SKIP_WITHOUT_FIXTURES();
  Region("eastus", "table_with_column_mapping");
  Region("westus", "table_with_column_mapping");
  auto out = Consolidate({"eastus", "westus"});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_TRUE(out->ok()) << out->regions[0].status;
  std::string v0 = Commit(global_dir_, 0);
  EXPECT_THAT(v0, HasSubstr(R"({"protocol":{"minReaderVersion":2,"minWriterVersion":5}})"));
  EXPECT_THAT(v0, HasSubstr(R"({\"name\":\"source_region\",\"type\":\"string\",)"
                            R"(\"nullable\":false,\"metadata\":{\"delta.columnMapping.id\":3,)"
                            R"(\"delta.columnMapping.physicalName\":\"source_region\"}})"));
  EXPECT_THAT(v0, HasSubstr(R"("delta.columnMapping.maxColumnId":"3")"));
  EXPECT_THAT(v0, HasSubstr(R"("partitionColumns":["source_region","Company Very Short"])"));
  EXPECT_EQ(Keys(MiniLive(global_dir_)), ExpectedGlobal(Dirs({"eastus", "westus"})));
  ExpectSameBytes({"eastus", "westus"});
}

TEST_F(ConsolidationTest, ColumnMappingWithDifferentPhysicalNamesIsRefusedNamingTheFeature) {
  SKIP_WITHOUT_FIXTURES();
  Region("eastus", "table_with_column_mapping");
  fs::path west = Region("westus", "table_with_column_mapping");
  std::string v0 = Commit(west, 0);
  const std::string from = "col-3877fd94-0973-4941-ac6b-646849a1ff65";
  size_t at = v0.find(from);
  ASSERT_NE(at, std::string::npos);
  v0.replace(at, from.size(), "col-00000000-0000-0000-0000-000000000000");
  WriteFileBytes(west / "_delta_log" / CommitName(0), v0);
  auto out = Consolidate({"eastus", "westus"});
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), StatusCode::kUnsupported);
  EXPECT_EQ(out.status().message(),
            "feature columnMapping: column `Super Name` has physical name "
            "col-3877fd94-0973-4941-ac6b-646849a1ff65 (id 2) in eastus but "
            "col-00000000-0000-0000-0000-000000000000 (id 2) in westus; file-level consolidation "
            "cannot preserve column mapping with differing physical names (the data files use "
            "them) — consolidate tables that share their column mapping (one created as a clone "
            "of the other), or rewrite a source without column mapping");
  EXPECT_FALSE(fs::exists(fs::path(global_dir_) / "_delta_log"));
}

TEST_F(ConsolidationTest, RefusedFeatureFailsThatRegionOnlyNamingIt) {
  SKIP_WITHOUT_FIXTURES();
  Region("eastus", "simple_table");
  Region("westus", "table_with_liquid_clustering");
  auto out = Consolidate({"eastus", "westus"});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_FALSE(out->ok());
  EXPECT_TRUE(out->regions[0].status.ok());
  EXPECT_EQ(out->regions[0].end_version, 4);
  EXPECT_EQ(out->regions[1].status.code(), StatusCode::kUnsupported);
  EXPECT_EQ(out->regions[1].status.message(),
            "region westus: file-level consolidation cannot preserve table feature rowTracking "
            "(row ids of different regions would collide in one table); consolidate a copy of "
            "the table without that feature, or leave this region out");
  EXPECT_EQ(out->regions[1].end_version, -1);
  EXPECT_EQ(Keys(MiniLive(global_dir_)), ExpectedGlobal(Dirs({"eastus"})));
}

// Another writer enabled a feature on the global table that lakesync cannot write with: the run
// stops before copying anything and says what to do.
TEST_F(ConsolidationTest, GlobalTableWithAFeatureLakesyncCannotWriteIsRefused) {
  SKIP_WITHOUT_FIXTURES();
  Region("eastus", "simple_table");
  auto first = Consolidate({"eastus"});
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(first->ok());
  WriteFileBytes(fs::path(global_dir_) / "_delta_log" / CommitName(1),
                 R"({"protocol":{"minReaderVersion":1,"minWriterVersion":7,)"
                 R"("writerFeatures":["appendOnly","futureWriterFeature"]}})"
                 "\n");
  Region("westus", "simple_table");
  auto out = Consolidate({"eastus", "westus"});
  ASSERT_FALSE(out.ok()) << "the global table cannot be read: an error, nothing published";
  const Status why = out.status();
  EXPECT_EQ(why.code(), StatusCode::kUnsupported) << why;
  EXPECT_THAT(why.message(), HasSubstr("futureWriterFeature")) << why;
  EXPECT_THAT(why.message(), HasSubstr("point the job at a new global table location")) << why;
  EXPECT_FALSE(fs::exists(fs::path(global_dir_) / "_delta_log" / CommitName(2)));
  EXPECT_FALSE(fs::exists(fs::path(global_dir_) / "source_region=westus"));
}

TEST_F(ConsolidationTest, UnreadableRegionIsLeftOutAndJoinsLater) {
  SKIP_WITHOUT_FIXTURES();
  Region("eastus", "simple_table");
  auto out = Consolidate({"eastus", "westus"});  // westus: no table yet
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_TRUE(out->regions[0].status.ok());
  EXPECT_EQ(out->regions[1].status.code(), StatusCode::kNotFound);
  EXPECT_EQ(out->regions[1].status.message(),
            "region westus: no Delta table at file://" + tmp_.path() +
                "/none-westus; check the source's URL in the job");
  EXPECT_THAT(Commit(global_dir_, 0), Not(HasSubstr("lakesync:global_sales:westus")));

  Region("westus", "simple_table", /*keep_to=*/2);
  auto later = Consolidate({"eastus", "westus"});
  ASSERT_TRUE(later.ok()) << later.status();
  EXPECT_TRUE(later->ok());
  EXPECT_EQ(later->end_version, 1);
  EXPECT_EQ(later->regions[0].commits, 0);
  EXPECT_EQ(later->regions[1].end_version, 2);
  std::string v1 = Commit(global_dir_, 1);
  // Every commit carries a txn of every region consolidated so far.
  EXPECT_THAT(v1, HasSubstr(R"({"txn":{"appId":"lakesync:global_sales:eastus","version":4,)"));
  EXPECT_THAT(v1, HasSubstr(R"({"txn":{"appId":"lakesync:global_sales:westus","version":2,)"));
  EXPECT_EQ(Keys(MiniLive(global_dir_)), ExpectedGlobal(Dirs({"eastus", "westus"})));
}

TEST_F(ConsolidationTest, EscapedAndNullPartitionPathsStayCorrect) {
  // Hand-made source: value "A/A" lives in directory `x=A%2FA/`, which the log writes escaped
  // once more (`x=A%252FA/`, DELTA_NOTES §2); a null value lives in
  // `x=__HIVE_DEFAULT_PARTITION__/`.
  fs::path src = fs::path(tmp_.path()) / "src-eastus";
  WriteFileBytes(src / "x=A%2FA" / "part-0.parquet", "slash-bytes");
  WriteFileBytes(src / "x=__HIVE_DEFAULT_PARTITION__" / "part-1.parquet", "null-bytes!");
  WriteFileBytes(
      src / "_delta_log" / CommitName(0),
      R"({"protocol":{"minReaderVersion":1,"minWriterVersion":2}})"
      "\n"
      R"({"metaData":{"id":"t","format":{"provider":"parquet","options":{}},"schemaString":)"
      R"("{\"type\":\"struct\",\"fields\":[{\"name\":\"v\",\"type\":\"long\",\"nullable\":true,)"
      R"(\"metadata\":{}},{\"name\":\"x\",\"type\":\"string\",\"nullable\":true,\"metadata\":)"
      R"({}}]}","partitionColumns":["x"],"configuration":{}}})"
      "\n"
      R"({"add":{"path":"x=A%252FA/part-0.parquet","partitionValues":{"x":"A/A"},"size":11,)"
      R"("modificationTime":1,"dataChange":true}})"
      "\n"
      R"({"add":{"path":"x=__HIVE_DEFAULT_PARTITION__/part-1.parquet","partitionValues":)"
      R"({"x":null},"size":11,"modificationTime":1,"dataChange":true}})"
      "\n");
  dirs_["eastus"] = src;
  auto out = Consolidate({"eastus"});
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_TRUE(out->ok()) << out->regions[0].status;
  std::string v0 = Commit(global_dir_, 0);
  EXPECT_THAT(v0, HasSubstr(R"({"add":{"path":"source_region=eastus/x=A%252FA/part-0.parquet",)"
                            R"("partitionValues":{"source_region":"eastus","x":"A/A"})"));
  EXPECT_THAT(v0, HasSubstr(R"({"add":{"path":"source_region=eastus/x=__HIVE_DEFAULT_PARTITION__/)"
                            R"(part-1.parquet","partitionValues":{"source_region":"eastus",)"
                            R"("x":null})"));
  EXPECT_EQ(
      ReadFileBytes(fs::path(global_dir_) / "source_region=eastus" / "x=A%2FA" / "part-0.parquet"),
      "slash-bytes");
  EXPECT_EQ(ReadFileBytes(fs::path(global_dir_) / "source_region=eastus" /
                          "x=__HIVE_DEFAULT_PARTITION__" / "part-1.parquet"),
            "null-bytes!");
}

// dataChange of rearrangements (compaction: dataChange=false) when the global table does not
// see the same files the source did. Hand-made source; the second run covers two commits.
//   A: v1 inserts F, v2 compacts E+F into G: G carries F's rows, new to the global table.
//   B: v1 compacts E into G, v2 deletes G: E's rows leave the global table.
//   C: v1 compacts E into G only: rows unchanged for the global table too.
TEST_F(ConsolidationTest, RearrangementsThatChangeTheGlobalTablesRowsAreDataChanges) {
  const std::string v0 = kMiniTableHeader + MiniAdd("e.parquet", true);
  struct Case {
    std::string name;
    std::vector<std::string> later;  // v1, v2, ...
    std::string want_in_v1;          // in the global table's version 1
    std::string not_in_v1;
  };
  const std::vector<Case> cases = {
      {"A",
       {MiniAdd("f.parquet", true), MiniRemove("e.parquet", false) +
                                        MiniRemove("f.parquet", false) +
                                        MiniAdd("g.parquet", false)},
       R"(source_region=eastus/g.parquet","partitionValues":{"source_region":"eastus"},"size":5,)"
       R"("modificationTime":1,"dataChange":true)",
       R"("dataChange":false)"},
      {"B",
       {MiniRemove("e.parquet", false) + MiniAdd("g.parquet", false),
        MiniRemove("g.parquet", true)},
       R"({"remove":{"path":"source_region=eastus/e.parquet","deletionTimestamp":2,)"
       R"("dataChange":true)",
       R"("dataChange":false)"},
      {"C",
       {MiniRemove("e.parquet", false) + MiniAdd("g.parquet", false)},
       R"(source_region=eastus/g.parquet","partitionValues":{"source_region":"eastus"},"size":5,)"
       R"("modificationTime":1,"dataChange":false)",
       R"("dataChange":true)"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE("case " + c.name);
    fs::remove_all(global_dir_);
    global_ = OpenLocal(global_dir_);
    fs::path src = fs::path(tmp_.path()) / ("src-" + c.name);
    for (const char* f : {"e.parquet", "f.parquet", "g.parquet"}) WriteFileBytes(src / f, "12345");
    WriteFileBytes(src / "_delta_log" / CommitName(0), v0);
    dirs_["eastus"] = src;
    auto first = Consolidate({"eastus"});
    ASSERT_TRUE(first.ok()) << first.status();
    ASSERT_TRUE(first->ok()) << first->regions[0].status;
    for (size_t i = 0; i < c.later.size(); ++i) {
      WriteFileBytes(src / "_delta_log" / CommitName(static_cast<int64_t>(i) + 1), c.later[i]);
    }
    auto second = Consolidate({"eastus"});
    ASSERT_TRUE(second.ok()) << second.status();
    ASSERT_TRUE(second->ok()) << second->regions[0].status;
    const std::string v1 = Commit(global_dir_, 1);
    EXPECT_THAT(v1, HasSubstr(c.want_in_v1));
    // The commitInfo says nothing about dataChange; every add and remove agrees.
    EXPECT_THAT(v1, Not(HasSubstr(c.not_in_v1)));
  }
}

// A region consolidated for the first time brings all its rows into the global table, also
// those of a file a compaction wrote (dataChange=false in the source): the global table's adds
// say dataChange=true, or readers of changes (streaming, change data feed) would skip them.
TEST_F(ConsolidationTest, AFirstConsolidationAddsEveryFileAsADataChange) {
  fs::path src = fs::path(tmp_.path()) / "src-compacted";
  for (const char* f : {"b1.parquet", "b2.parquet", "c.parquet"}) {
    WriteFileBytes(src / f, "12345");
  }
  WriteFileBytes(src / "_delta_log" / CommitName(0),
                 kMiniTableHeader + MiniAdd("b1.parquet") + MiniAdd("b2.parquet"));
  WriteFileBytes(src / "_delta_log" / CommitName(1),
                 std::string(R"({"commitInfo":{"timestamp":2,"operation":"OPTIMIZE"}})") + "\n" +
                     MiniRemove("b1.parquet", false) + MiniRemove("b2.parquet", false) +
                     MiniAdd("c.parquet", false, /*mtime=*/2));
  dirs_["westus"] = src;
  auto out = Consolidate({"westus"});
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_TRUE(out->ok()) << out->regions[0].status;
  const std::string v0 = Commit(global_dir_, 0);
  EXPECT_THAT(v0, HasSubstr(R"("path":"source_region=westus/c.parquet")"));
  EXPECT_THAT(v0, HasSubstr(R"("modificationTime":2,"dataChange":true)"));
  EXPECT_THAT(v0, Not(HasSubstr(R"("dataChange":false)")));
  EXPECT_THAT(v0, Not(HasSubstr("b1.parquet")));
}

// Another writer compacted the global table: the region's file is gone from it, rewritten into
// one lakesync does not know. The region's later delete of that file cannot be applied; before,
// the remove was dropped and the deleted rows stayed in the global table. Now the region fails,
// naming the file, and publishes nothing.
TEST_F(ConsolidationTest, ADeleteOfAFileAnotherWriterCompactedInTheGlobalTableFailsTheRegion) {
  fs::path src = fs::path(tmp_.path()) / "src-east";
  WriteFileBytes(src / "a.parquet", "12345");
  WriteFileBytes(src / "_delta_log" / CommitName(0), kMiniTableHeader + MiniAdd("a.parquet"));
  dirs_["eastus"] = src;
  auto first = Consolidate({"eastus"});
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(first->ok()) << first->regions[0].status;
  // An OPTIMIZE of the global table by another writer.
  WriteFileBytes(fs::path(global_dir_) / "part-compacted.parquet", "12345");
  WriteFileBytes(fs::path(global_dir_) / "_delta_log" / CommitName(1),
                 R"({"commitInfo":{"timestamp":2,"operation":"OPTIMIZE"}})"
                 "\n"
                 R"({"remove":{"path":"source_region=eastus/a.parquet","deletionTimestamp":2,)"
                 R"("dataChange":false,"size":5}})"
                 "\n"
                 R"({"add":{"path":"part-compacted.parquet","partitionValues":{)"
                 R"("source_region":"eastus"},"size":5,"modificationTime":2,"dataChange":false}})"
                 "\n");
  // The region deletes its only file.
  WriteFileBytes(src / "_delta_log" / CommitName(1),
                 MiniRemove("a.parquet", true, /*deleted_at=*/3));
  auto second = Consolidate({"eastus"});
  ASSERT_TRUE(second.ok()) << second.status();
  ASSERT_EQ(second->regions.size(), 1u);
  EXPECT_FALSE(second->regions[0].status.ok());
  EXPECT_THAT(second->regions[0].status.message(), HasSubstr("a.parquet"));
  EXPECT_THAT(second->regions[0].status.message(), HasSubstr("another writer changed"));
  EXPECT_FALSE(fs::exists(fs::path(global_dir_) / "_delta_log" / CommitName(2)));
}

// The global table's definition from hand-made metadata: column names that differ only in
// case, a region column named like a source column but for case, a union-added column-mapped
// column whose id another column uses, and a source's append-only setting.
delta::Metadata MetadataWith(const std::string& fields, const std::string& mode = "none") {
  delta::Metadata m;
  m.id = "t";
  m.schema_string = R"({"type":"struct","fields":[)" + fields + "]}";
  if (mode != "none") {
    m.configuration["delta.columnMapping.mode"] = mode;
    m.configuration["delta.columnMapping.maxColumnId"] = "2";
  }
  return m;
}
std::string Field(const std::string& name, const std::string& type, int id = 0) {
  std::string md = id == 0 ? "{}"
                           : R"({"delta.columnMapping.id":)" + std::to_string(id) +
                                 R"(,"delta.columnMapping.physicalName":"col-)" + name + R"("})";
  return R"({"name":")" + name + R"(","type":")" + type + R"(","nullable":true,"metadata":)" + md +
         "}";
}

TEST(ConsolidationSchemaTest, NamesThatDifferOnlyInCaseAreRefused) {
  delta::Protocol p;
  delta::Metadata east = MetadataWith(Field("id", "long"));
  delta::Metadata west = MetadataWith(Field("ID", "long"));
  for (bool union_schema : {false, true}) {
    auto def = BuildGlobalDefinition({{"east", &east, &p}, {"west", &west, &p}}, "source_region",
                                     union_schema);
    ASSERT_FALSE(def.ok());
    EXPECT_EQ(def.status().code(), StatusCode::kInvalidArgument);
    EXPECT_THAT(def.status().message(),
                HasSubstr("column `id` in east and `ID` in west differ only in case"));
  }
  delta::Metadata named =
      MetadataWith(Field("id", "long") + "," + Field("Source_Region", "string"));
  auto def = BuildGlobalDefinition({{"east", &named, &p}}, "source_region", false);
  ASSERT_FALSE(def.ok());
  EXPECT_THAT(def.status().message(), HasSubstr("already has a column named source_region"));
  delta::Metadata global = MetadataWith(Field("id", "long"));
  delta::Protocol global_protocol;
  std::vector<std::string> changes;
  EXPECT_FALSE(FitGlobalToRegion("east", &named, nullptr, "source_region", true, global,
                                 global_protocol, changes)
                   .ok());
  EXPECT_TRUE(changes.empty());
}

// Growing an existing global table for one region (FitGlobalToRegion), by hand, under column
// mapping. Mode id: refused (an id the global table hands out could name another region's
// dropped column in its old files). Mode name (readers go by physical name): a new column whose
// id the global table already uses (here the region column's 3) gets a fresh one above
// maxColumnId, nested ids included; a physical name already used is refused.
TEST(ConsolidationSchemaTest, GrowingTheGlobalSchemaUnderColumnMapping) {
  auto global_with = [](const std::string& mode) {
    delta::Metadata m = MetadataWith(Field("a", "long", 1) + "," + Field("b", "long", 2) + "," +
                                         Field("source_region", "string", 3),
                                     mode);
    m.configuration["delta.columnMapping.maxColumnId"] = "3";
    m.partition_columns = {"source_region"};
    return m;
  };
  delta::Protocol protocol;
  std::vector<std::string> changes;
  const std::string ab = Field("a", "long", 1) + "," + Field("b", "long", 2) + ",";

  delta::Metadata by_id = global_with("id");
  delta::Metadata id_source = MetadataWith(ab + Field("c", "long", 3), "id");
  Status st = FitGlobalToRegion("west", &id_source, nullptr, "source_region", true, by_id, protocol,
                                changes);
  EXPECT_EQ(st.code(), StatusCode::kUnsupported);
  EXPECT_THAT(st.message(), HasSubstr("region west added column `c`, but the global table uses "
                                      "column mapping mode id"));
  EXPECT_EQ(by_id.schema_string, global_with("id").schema_string);
  EXPECT_TRUE(changes.empty());

  delta::Metadata global = global_with("name");
  delta::Metadata source = MetadataWith(ab + Field("c", "long", 3), "name");
  ASSERT_TRUE(
      FitGlobalToRegion("west", &source, nullptr, "source_region", true, global, protocol, changes)
          .ok());
  EXPECT_EQ(global.schema_string,
            MetadataWith(ab +
                         R"({"name":"c","type":"long","nullable":true,"metadata":{)"
                         R"("delta.columnMapping.id":4,"delta.columnMapping.physicalName":)"
                         R"("col-c"}},)" +
                         Field("source_region", "string", 3))
                .schema_string);
  EXPECT_EQ(global.configuration["delta.columnMapping.maxColumnId"], "4");
  EXPECT_EQ(changes, std::vector<std::string>{"column `c` (long)"});

  // The source's c keeps its id 3 (name mode compares physical names); its new struct s has
  // ids 5 and, nested, 4 and 6: 4 is taken (c, in the global table) and becomes 7.
  auto nested = [](int x_id) {
    return R"({"name":"s","type":{"type":"struct","fields":[{"name":"x","type":"long",)"
           R"("nullable":true,"metadata":{"delta.columnMapping.id":)" +
           std::to_string(x_id) +
           R"(,"delta.columnMapping.physicalName":"col-x"}},{"name":"y","type":"long",)"
           R"("nullable":true,"metadata":{"delta.columnMapping.id":6,)"
           R"("delta.columnMapping.physicalName":"col-y"}}]},"nullable":true,"metadata":{)"
           R"("delta.columnMapping.id":5,"delta.columnMapping.physicalName":"col-s"}})";
  };
  delta::Metadata with_struct = MetadataWith(ab + Field("c", "long", 3) + "," + nested(4), "name");
  changes.clear();
  ASSERT_TRUE(FitGlobalToRegion("west", &with_struct, nullptr, "source_region", true, global,
                                protocol, changes)
                  .ok());
  EXPECT_THAT(global.schema_string,
              HasSubstr(nested(7) + "," + Field("source_region", "string", 3)));
  EXPECT_EQ(global.configuration["delta.columnMapping.maxColumnId"], "7");

  // A physical name another column uses.
  delta::Metadata clash = MetadataWith(
      ab + R"({"name":"d","type":"long","nullable":true,"metadata":{"delta.columnMapping.id":9,)"
           R"("delta.columnMapping.physicalName":"col-a"}})",
      "name");
  const std::string before = global.schema_string;
  st = FitGlobalToRegion("west", &clash, nullptr, "source_region", true, global, protocol, changes);
  EXPECT_EQ(st.code(), StatusCode::kUnsupported);
  EXPECT_THAT(st.message(),
              HasSubstr("column `d` of region west has physical name col-a, which column `a`"));
  EXPECT_EQ(global.schema_string, before);
}

// The global table's protocol grows by what a region lists: legacy stays legacy (writer 4
// implies checkConstraints, changeDataFeed, generatedColumns: PROTOCOL.md), and a table-features
// protocol keeps its own features (here inCommitTimestamp, which a new global table would leave
// out).
TEST(ConsolidationSchemaTest, GrowingTheGlobalProtocol) {
  delta::Protocol global;  // 1, 2
  delta::Protocol cdf;
  cdf.min_writer_version = 4;
  delta::Metadata md = MetadataWith(Field("a", "long"));
  std::vector<std::string> changes;
  ASSERT_TRUE(
      FitGlobalToRegion("west", nullptr, &cdf, "source_region", false, md, global, changes).ok());
  EXPECT_EQ(global.min_reader_version, 1);
  EXPECT_EQ(global.min_writer_version, 4);
  EXPECT_FALSE(global.writer_features.has_value());
  EXPECT_EQ(changes, (std::vector<std::string>{"table feature changeDataFeed",
                                               "table feature checkConstraints",
                                               "table feature generatedColumns"}));

  delta::Protocol features;
  features.min_reader_version = 3;
  features.min_writer_version = 7;
  features.reader_features = std::vector<std::string>{"deletionVectors"};
  features.writer_features = std::vector<std::string>{"deletionVectors", "inCommitTimestamp"};
  delta::Protocol domain;
  domain.min_reader_version = 1;
  domain.min_writer_version = 7;
  domain.writer_features = std::vector<std::string>{"domainMetadata"};
  changes.clear();
  ASSERT_TRUE(
      FitGlobalToRegion("west", nullptr, &domain, "source_region", false, md, features, changes)
          .ok());
  EXPECT_EQ(features.min_reader_version, 3);
  EXPECT_EQ(features.reader_features, (std::vector<std::string>{"deletionVectors"}));
  EXPECT_EQ(features.writer_features,
            (std::vector<std::string>{"deletionVectors", "domainMetadata", "inCommitTimestamp"}));
  EXPECT_EQ(changes, std::vector<std::string>{"table feature domainMetadata"});

  // A legacy column-mapping table (reader 2, writer 5) meeting deletion vectors: reader 3 must
  // list columnMapping, writer 7 every feature writer 5 implies.
  delta::Protocol mapped;
  mapped.min_reader_version = 2;
  mapped.min_writer_version = 5;
  delta::Protocol dv;
  dv.min_reader_version = 3;
  dv.min_writer_version = 7;
  dv.reader_features = std::vector<std::string>{"deletionVectors"};
  dv.writer_features = std::vector<std::string>{"deletionVectors"};
  changes.clear();
  ASSERT_TRUE(
      FitGlobalToRegion("west", nullptr, &dv, "source_region", false, md, mapped, changes).ok());
  EXPECT_EQ(mapped.min_reader_version, 3);
  EXPECT_EQ(mapped.min_writer_version, 7);
  EXPECT_EQ(mapped.reader_features, (std::vector<std::string>{"columnMapping", "deletionVectors"}));
  EXPECT_EQ(
      mapped.writer_features,
      (std::vector<std::string>{"appendOnly", "changeDataFeed", "checkConstraints", "columnMapping",
                                "deletionVectors", "generatedColumns", "invariants"}));
  EXPECT_EQ(changes, std::vector<std::string>{"table feature deletionVectors"});

  // A refused feature fails the region and changes nothing.
  delta::Protocol rows = domain;
  rows.writer_features = std::vector<std::string>{"domainMetadata", "rowTracking"};
  delta::Protocol kept = features;
  changes.clear();
  Status st =
      FitGlobalToRegion("west", nullptr, &rows, "source_region", false, md, features, changes);
  EXPECT_EQ(st.code(), StatusCode::kUnsupported);
  EXPECT_THAT(st.message(), HasSubstr("region west: file-level consolidation cannot preserve "
                                      "table feature rowTracking"));
  EXPECT_EQ(features.writer_features, kept.writer_features);
  EXPECT_TRUE(changes.empty());
}

// Creating the global table under column mapping. Mode name reads by physical name: the same
// column may carry different ids in two sources, and a union-added column whose id is taken
// gets a fresh one (then the region column takes the next). Mode id refuses a union-added
// column whose id a source without it may have used for a column it dropped (its maxColumnId
// reaches that id).
TEST(ConsolidationSchemaTest, CreatingTheGlobalTableUnderColumnMapping) {
  delta::Protocol p;
  delta::Metadata east = MetadataWith(Field("a", "long", 1) + "," + Field("b", "long", 2), "name");
  delta::Metadata west =
      MetadataWith(Field("a", "long", 5) + "," + Field("c", "string", 2), "name");
  west.configuration["delta.columnMapping.maxColumnId"] = "5";
  auto def = BuildGlobalDefinition({{"east", &east, &p}, {"west", &west, &p}}, "source_region",
                                   /*union_schema=*/true);
  ASSERT_TRUE(def.ok()) << def.status();
  // By hand: ids in use a 1, b 2, c 2 (taken) and west's maxColumnId 5: c becomes 6, the region
  // column 7.
  EXPECT_THAT(
      def->schema_string,
      HasSubstr(R"({"name":"c","type":"string","nullable":true,"metadata":{)"
                R"("delta.columnMapping.id":6,"delta.columnMapping.physicalName":"col-c"}})"));
  EXPECT_THAT(def->schema_string,
              HasSubstr(R"({"name":"source_region","type":"string","nullable":false,"metadata":{)"
                        R"("delta.columnMapping.id":7,)"));
  EXPECT_EQ(def->configuration.at("delta.columnMapping.maxColumnId"), "7");

  delta::Metadata id_east = MetadataWith(Field("a", "long", 1) + "," + Field("b", "long", 2), "id");
  delta::Metadata id_west = MetadataWith(Field("a", "long", 1), "id");
  id_west.configuration["delta.columnMapping.maxColumnId"] = "3";  // it had ids 2 and 3 once
  auto refused = BuildGlobalDefinition({{"east", &id_east, &p}, {"west", &id_west, &p}},
                                       "source_region", /*union_schema=*/true);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kUnsupported);
  EXPECT_THAT(refused.status().message(),
              HasSubstr("column `b` has id 2, which west (without the column, maxColumnId 3) "
                        "may have given a column it dropped"));
  id_west.configuration["delta.columnMapping.maxColumnId"] = "1";  // never had another column
  EXPECT_TRUE(BuildGlobalDefinition({{"east", &id_east, &p}, {"west", &id_west, &p}},
                                    "source_region", /*union_schema=*/true)
                  .ok());
}

TEST(ConsolidationSchemaTest, UnionCannotAddAColumnMappedColumnWhoseIdIsTaken) {
  delta::Protocol p;
  delta::Metadata east = MetadataWith(Field("a", "long", 1) + "," + Field("b", "long", 2), "id");
  delta::Metadata west = MetadataWith(Field("a", "long", 1) + "," + Field("c", "string", 2), "id");
  auto def = BuildGlobalDefinition({{"east", &east, &p}, {"west", &west, &p}}, "source_region",
                                   /*union_schema=*/true);
  ASSERT_FALSE(def.ok());
  EXPECT_EQ(def.status().code(), StatusCode::kUnsupported);
  EXPECT_THAT(def.status().message(),
              HasSubstr("column `c` of west (physical name col-c, id 2) would share its id with "
                        "column `b` of east"));
}

TEST(ConsolidationSchemaTest, ASourcesAppendOnlySettingIsNotInherited) {
  delta::Protocol p;
  delta::Metadata east = MetadataWith(Field("id", "long"));
  east.configuration["delta.appendOnly"] = "true";
  east.configuration["delta.logRetentionDuration"] = "interval 30 days";
  auto def = BuildGlobalDefinition({{"east", &east, &p}}, "source_region", false);
  ASSERT_TRUE(def.ok()) << def.status();
  EXPECT_EQ(def->configuration.count("delta.appendOnly"), 0u);
  EXPECT_EQ(def->configuration.at("delta.logRetentionDuration"), "interval 30 days");
}

// A renamed job finds no txn of its own name: before, it consolidated every region again from
// scratch (each file added twice, deleted rows kept). Now a region another job's txn accounts
// for is refused, naming that job.
TEST_F(ConsolidationTest, ARenamedJobDoesNotConsolidateTheRegionsAgain) {
  fs::path src = fs::path(tmp_.path()) / "src-east";
  WriteFileBytes(src / "a.parquet", "12345");
  WriteFileBytes(src / "_delta_log" / CommitName(0), kMiniTableHeader + MiniAdd("a.parquet"));
  dirs_["eastus"] = src;
  ConsolidationOptions options;
  options.job = "j2";
  auto first = Consolidate({"eastus"}, options);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(first->ok()) << first->regions[0].status;
  options.job = "j2_renamed";
  auto renamed = Consolidate({"eastus"}, options);
  ASSERT_TRUE(renamed.ok()) << renamed.status();
  ASSERT_EQ(renamed->regions.size(), 1u);
  EXPECT_FALSE(renamed->regions[0].status.ok());
  EXPECT_THAT(renamed->regions[0].status.message(),
              HasSubstr("consolidated by job `j2` (txn lakesync:j2:eastus)"));
  EXPECT_FALSE(fs::exists(fs::path(global_dir_) / "_delta_log" / CommitName(1)));
  // Under its old name it goes on as before.
  options.job = "j2";
  auto again = Consolidate({"eastus"}, options);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->ok()) << again->regions[0].status;
}

// A source replaced by another table with more versions: runs refuse it (ReplacedSource…), and
// now `verify` and the lag say so too. Before, verify printed "ok" and the lag looked ordinary.
TEST_F(ConsolidationTest, VerifyAndLagNameASourceThatWasReplaced) {
  fs::path src = fs::path(tmp_.path()) / "src-east";
  auto write_v0 = [&](const std::string& file) {
    WriteFileBytes(src / file, "12345");
    WriteFileBytes(src / "_delta_log" / CommitName(0), kMiniTableHeader + MiniAdd(file));
  };
  write_v0("a.parquet");
  dirs_["eastus"] = src;
  auto first = Consolidate({"eastus"});
  ASSERT_TRUE(first.ok() && first->ok()) << first.status();
  auto storage = OpenLocal(src.string());
  std::vector<ConsolidationSource> sources = {Source("eastus", storage.get())};
  TableLocation target{"global", global_.get(), ""};
  auto ok = VerifyConsolidation(sources, target, "global_sales");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_TRUE(ok->global.problems.empty()) << ::testing::PrintToString(ok->global.problems);
  // Recreated: another version 0, and a version 1.
  fs::remove_all(src);
  write_v0("b.parquet");
  WriteFileBytes(src / "_delta_log" / CommitName(1),
                 R"({"commitInfo":{"timestamp":3,"operation":"WRITE"}})"
                 "\n");
  auto bad = VerifyConsolidation(sources, target, "global_sales");
  ASSERT_TRUE(bad.ok()) << bad.status();
  ASSERT_EQ(bad->global.problems.size(), 1u) << ::testing::PrintToString(bad->global.problems);
  EXPECT_THAT(bad->global.problems[0], HasSubstr("region eastus: the source was replaced"));
  auto lag = ConsolidationLag(sources, target, "global_sales", SystemClock::Instance().Now());
  ASSERT_EQ(lag.size(), 1u);
  EXPECT_TRUE(lag[0].replaced);
  EXPECT_FALSE(lag[0].status.ok());
}

// A region that could not be read when the global table was created, and whose table needs a
// feature the others do not (deletion vectors), joins later: the global table's protocol gains
// the feature in the commit that adds the region's files.
TEST_F(ConsolidationTest, ARegionJoiningLaterWithAFeatureTheGlobalTableLacksUpgradesItsProtocol) {
  SKIP_WITHOUT_FIXTURES();
  Region("eastus", "table-without-dv-small");
  auto out = Consolidate({"eastus", "westus"});  // westus: no table yet
  ASSERT_TRUE(out.ok()) << out.status();
  const std::string legacy = R"({"protocol":{"minReaderVersion":1,"minWriterVersion":2}})";
  ASSERT_THAT(Commit(global_dir_, 0), HasSubstr(legacy));
  fs::path west = Region("westus", "table-without-dv-small");
  std::string v0 = Commit(west, 0);
  ASSERT_NE(v0.find(legacy), std::string::npos);
  v0.replace(v0.find(legacy), legacy.size(),
             R"({"protocol":{"minReaderVersion":3,"minWriterVersion":7,"readerFeatures":)"
             R"(["deletionVectors"],"writerFeatures":["deletionVectors"]}})");
  WriteFileBytes(west / "_delta_log" / CommitName(0), v0);
  auto later = Consolidate({"eastus", "westus"});
  ASSERT_TRUE(later.ok()) << later.status();
  ASSERT_TRUE(later->ok()) << later->regions[1].status;
  EXPECT_EQ(later->end_version, 1);
  // Writer version 2 implies appendOnly and invariants (PROTOCOL.md), which a writer-7 protocol
  // must list.
  const std::string v1 = Commit(global_dir_, 1);
  EXPECT_THAT(v1, HasSubstr(R"({"protocol":{"minReaderVersion":3,"minWriterVersion":7,)"
                            R"("readerFeatures":["deletionVectors"],"writerFeatures":)"
                            R"(["appendOnly","deletionVectors","invariants"]}})"));
  EXPECT_THAT(v1, Not(HasSubstr("metaData")));
  EXPECT_EQ(Keys(MiniLive(global_dir_)), ExpectedGlobal(Dirs({"eastus", "westus"})));
  auto again = Consolidate({"eastus", "westus"});
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE(again->published);
}

// A source that gains a nullable column (ALTER TABLE ADD COLUMN): with `schema: union` the
// global table's schema gains it, before the region column, in the commit that adds the
// region's new file; the other region is untouched.
TEST_F(ConsolidationTest, UnionGrowsTheGlobalSchemaWhenASourceAddsANullableColumn) {
  ConsolidationOptions options = StartMiniRegions(/*union_schema=*/true);
  const std::string v0 = Commit(global_dir_, 0);
  std::smatch id;
  ASSERT_TRUE(std::regex_search(v0, id, std::regex(R"re("metaData":\{"id":"([^"]+)")re")));
  fs::path east = dirs_["eastus"];
  WriteFileBytes(east / "e1.parquet", "12345");
  WriteFileBytes(
      east / "_delta_log" / CommitName(1),
      MiniSchemaChange(R"({\"name\":\"w\",\"type\":\"string\",\"nullable\":true,\"metadata\":{}})",
                       "e1.parquet"));
  auto second = Consolidate({"eastus", "westus"}, options);
  ASSERT_TRUE(second.ok()) << second.status();
  ASSERT_TRUE(second->ok()) << second->regions[0].status;
  const std::string v1 = Commit(global_dir_, 1);
  EXPECT_THAT(v1, HasSubstr(R"("metaData":{"id":")" + id[1].str() + R"(")"));
  EXPECT_THAT(v1,
              HasSubstr(R"({\"name\":\"v\",\"type\":\"long\",\"nullable\":true,\"metadata\":{}},)"
                        R"({\"name\":\"w\",\"type\":\"string\",\"nullable\":true,\"metadata\":{}},)"
                        R"({\"name\":\"source_region\",\"type\":\"string\",\"nullable\":false)"));
  EXPECT_THAT(v1, HasSubstr(R"("partitionColumns":["source_region"])"));
  EXPECT_THAT(v1, Not(HasSubstr(R"("protocol")")));
  EXPECT_EQ(Keys(MiniLive(global_dir_)), ExpectedGlobal(Dirs({"eastus", "westus"})));

  // westus, without w, still fits (w is nullable) and changes nothing of the schema.
  AddMiniFile("westus", 1, "w1.parquet");
  auto third = Consolidate({"eastus", "westus"}, options);
  ASSERT_TRUE(third.ok()) << third.status();
  ASSERT_TRUE(third->ok()) << third->regions[1].status;
  EXPECT_THAT(Commit(global_dir_, 2), Not(HasSubstr("metaData")));
}

// Growth is decided from the regions that still advance once the files are copied: a region
// that brings a column and a feature but then fails (its new file is missing) leaves the
// global table's schema and protocol as they were, while the other region is consolidated.
TEST_F(ConsolidationTest, ARegionThatFailsAfterGrowingDoesNotGrowTheGlobalTable) {
  ConsolidationOptions options = StartMiniRegions(/*union_schema=*/true);
  WriteFileBytes(  // e1.parquet itself is never written
      dirs_["eastus"] / "_delta_log" / CommitName(1),
      std::string(
          R"({"protocol":{"minReaderVersion":3,"minWriterVersion":7,)"
          R"("readerFeatures":["deletionVectors"],"writerFeatures":["deletionVectors"]}})") +
          "\n" +
          MiniSchemaChange(
              R"({\"name\":\"w\",\"type\":\"string\",\"nullable\":true,\"metadata\":{}})",
              "e1.parquet"));
  AddMiniFile("westus", 1, "w1.parquet");
  auto out = Consolidate({"eastus", "westus"}, options);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_FALSE(out->regions[0].status.ok());
  EXPECT_THAT(out->regions[0].status.message(), HasSubstr("e1.parquet"));
  EXPECT_TRUE(out->regions[1].status.ok()) << out->regions[1].status;
  const std::string v1 = Commit(global_dir_, 1);
  EXPECT_THAT(v1, HasSubstr("source_region=westus/w1.parquet"));
  EXPECT_THAT(v1, Not(HasSubstr("metaData")));
  EXPECT_THAT(v1, Not(HasSubstr("protocol")));
}

// Two regions growing in one run: each brings a column, and one metaData carries both (in
// region order, before the region column). A region bringing a column another region brought
// in the same run with another type is refused; the first one's growth stands.
TEST_F(ConsolidationTest, TwoRegionsGrowingInOneRun) {
  auto with_column = [&](const std::string& type_w, const std::string& name) {
    return MiniSchemaChange(R"({\"name\":\")" + name + R"(\",\"type\":\")" + type_w +
                                R"(\",\"nullable\":true,\"metadata\":{}})",
                            name + "1.parquet");
  };
  for (bool conflict : {false, true}) {
    SCOPED_TRACE(conflict ? "conflict" : "two columns");
    ConsolidationOptions options = StartMiniRegions(/*union_schema=*/true);
    WriteFileBytes(dirs_["eastus"] / "x1.parquet", "12345");
    WriteFileBytes(dirs_["eastus"] / "_delta_log" / CommitName(1), with_column("string", "x"));
    const std::string west_column = conflict ? "x" : "z";
    WriteFileBytes(dirs_["westus"] / (west_column + "1.parquet"), "12345");
    WriteFileBytes(dirs_["westus"] / "_delta_log" / CommitName(1),
                   with_column("long", west_column));
    auto out = Consolidate({"eastus", "westus"}, options);
    ASSERT_TRUE(out.ok()) << out.status();
    EXPECT_TRUE(out->regions[0].status.ok()) << out->regions[0].status;
    const std::string v1 = Commit(global_dir_, 1);
    const std::string x =
        R"({\"name\":\"x\",\"type\":\"string\",\"nullable\":true,\"metadata\":{}},)";
    if (conflict) {
      EXPECT_THAT(out->regions[1].status.message(),
                  HasSubstr("column `x`: the global table has string, westus has long"));
      EXPECT_THAT(v1, HasSubstr(x + R"({\"name\":\"source_region\")"));
      EXPECT_THAT(v1, Not(HasSubstr("westus/")));
    } else {
      EXPECT_TRUE(out->regions[1].status.ok()) << out->regions[1].status;
      EXPECT_THAT(v1, HasSubstr(x + R"({\"name\":\"z\",\"type\":\"long\",\"nullable\":true,)"
                                    R"(\"metadata\":{}},{\"name\":\"source_region\")"));
      EXPECT_EQ(v1.find("metaData"), v1.rfind("metaData"));  // one metaData action
    }
  }
}

// What cannot grow: a strict job refuses a source's new column (pointing at schema: union),
// union refuses a non-nullable one. The region publishes nothing, the global schema is
// unchanged, and the other region is consolidated.
TEST_F(ConsolidationTest, AColumnTheGlobalTableCannotTakeFailsOnlyItsRegion) {
  for (bool union_schema : {false, true}) {
    SCOPED_TRACE(union_schema ? "union" : "strict");
    ConsolidationOptions options = StartMiniRegions(union_schema);
    WriteFileBytes(dirs_["eastus"] / "e1.parquet", "12345");
    WriteFileBytes(dirs_["eastus"] / "_delta_log" / CommitName(1),
                   MiniSchemaChange(std::string(R"({\"name\":\"w\",\"type\":\"string\",)") +
                                        R"(\"nullable\":)" + (union_schema ? "false" : "true") +
                                        R"(,\"metadata\":{}})",
                                    "e1.parquet"));
    AddMiniFile("westus", 1, "w1.parquet");
    auto out = Consolidate({"eastus", "westus"}, options);
    ASSERT_TRUE(out.ok()) << out.status();
    EXPECT_FALSE(out->regions[0].status.ok());
    EXPECT_THAT(out->regions[0].status.message(),
                HasSubstr("region eastus: the source's schema does not fit the global table's: "
                          "column `w`: in eastus, not in the global table"));
    EXPECT_THAT(out->regions[0].status.message(),
                HasSubstr(union_schema ? "(and not nullable, so union cannot add it)"
                                       : "(write `schema: union` in the job"));
    EXPECT_TRUE(out->regions[1].status.ok()) << out->regions[1].status;
    EXPECT_EQ(out->regions[0].end_version, 0);
    EXPECT_EQ(out->regions[1].end_version, 1);
    const std::string v1 = Commit(global_dir_, 1);
    EXPECT_THAT(v1, Not(HasSubstr("metaData")));
    EXPECT_THAT(v1, Not(HasSubstr("e1.parquet")));
    EXPECT_THAT(v1, HasSubstr("source_region=westus/w1.parquet"));
  }
}

// The lag of a region never consolidated (its source unreadable so far) reads the global head
// commit only: every commit lakesync publishes carries a txn of each region consolidated so
// far, so one without the region's txn settles it. Before, every probe (every 15 s by
// default) read the global log back to version 0.
TEST_F(ConsolidationTest, TheLagOfANeverConsolidatedRegionReadsOnlyTheGlobalHead) {
  fs::path src = fs::path(tmp_.path()) / "src-east";
  std::string log0 = kMiniTableHeader;
  for (int v = 0; v < 6; ++v) {
    const std::string f = "f" + std::to_string(v) + ".parquet";
    WriteFileBytes(src / f, "12345");
    const std::string add = MiniAdd(f);
    WriteFileBytes(src / "_delta_log" / CommitName(v), v == 0 ? log0 + add : add);
    dirs_["eastus"] = src;
    auto out = Consolidate({"eastus", "westus"});  // westus: no table
    ASSERT_TRUE(out.ok()) << out.status();
  }
  ASSERT_TRUE(fs::exists(fs::path(global_dir_) / "_delta_log" / CommitName(5)));
  auto east = OpenLocal(src.string());
  auto west = OpenLocal(tmp_.path() + "/none-westus");
  storage::FaultInjectingStorage counting(*global_);
  TableLocation target{"global", &counting, ""};
  auto lag = ConsolidationLag({Source("eastus", east.get()), Source("westus", west.get())}, target,
                              "global_sales", SystemClock::Instance().Now());
  ASSERT_EQ(lag.size(), 2u);
  EXPECT_EQ(lag[0].consolidated_version, 5);
  EXPECT_EQ(lag[1].consolidated_version, -1);
  EXPECT_EQ(counting.Calls(storage::FaultInjectingStorage::Op::kRead), 1);
}

// Another writer publishes the version first: the run re-reads and commits the next one.
class RacingObserver : public RecordingObserver {
 public:
  explicit RacingObserver(std::string dir) : dir_(std::move(dir)) {}
  Status BeforePublish(const std::string& target, int64_t version) override {
    if (raced_) return Status::OK();
    raced_ = true;
    WriteFileBytes(fs::path(dir_) / "_delta_log" / CommitName(version),
                   R"({"commitInfo":{"timestamp":1,"operation":"OTHER WRITER"}})"
                   "\n");
    return Status::OK();
  }

 private:
  std::string dir_;
  bool raced_ = false;
};

TEST_F(ConsolidationTest, CommitConflictRereadsAndRetries) {
  SKIP_WITHOUT_FIXTURES();
  Region("eastus", "simple_table", /*keep_to=*/2);
  ASSERT_TRUE(Consolidate({"eastus"}).ok());
  RestoreCommits("eastus");
  RacingObserver racing(global_dir_);
  auto storage = OpenLocal(dirs_["eastus"].string());
  ConsolidationOptions options;
  options.job = "global_sales";
  auto out = RunConsolidation({Source("eastus", storage.get())}, {"global", global_.get(), ""},
                              options, racing);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->attempts, 2);
  EXPECT_EQ(out->end_version, 2);
  EXPECT_THAT(Commit(global_dir_, 1), HasSubstr("OTHER WRITER"));
  EXPECT_THAT(Commit(global_dir_, 2),
              HasSubstr(R"({"txn":{"appId":"lakesync:global_sales:eastus","version":4,)"));
  EXPECT_EQ(Keys(MiniLive(global_dir_)), ExpectedGlobal(Dirs({"eastus"})));
}

TEST_F(ConsolidationTest, CancellationPublishesNothing) {
  SKIP_WITHOUT_FIXTURES();
  Region("eastus", "simple_table");
  observer_.cancel_after_checks = 2;
  auto out = Consolidate({"eastus"});
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), StatusCode::kCancelled);
  EXPECT_FALSE(fs::exists(fs::path(global_dir_) / "_delta_log" / CommitName(0)));
  observer_.cancel_after_checks = -1;
  auto rerun = Consolidate({"eastus"});
  ASSERT_TRUE(rerun.ok()) << rerun.status();
  EXPECT_EQ(Keys(MiniLive(global_dir_)), ExpectedGlobal(Dirs({"eastus"})));
}

TEST_F(ConsolidationTest, ChangeDataFilesAreCopiedWhenEveryCommitHasThem) {
  SKIP_WITHOUT_FIXTURES();
  // cdf-table: version 0 writes, versions 1-3 carry _change_data files (partitioned by
  // birthday, so the copied paths keep their `birthday=…` directories).
  Region("eastus", "cdf-table", /*keep_to=*/0);
  ASSERT_TRUE(Consolidate({"eastus"}).ok());
  RestoreCommits("eastus");
  auto out = Consolidate({"eastus"});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_TRUE(out->ok()) << out->regions[0].status;
  static const std::regex kCdc(R"re("cdc":\{"path":"([^"]*)")re");
  std::set<std::string> want, got;
  for (int64_t v = 1; v <= 3; ++v) {
    std::string c = Commit(dirs_["eastus"], v);
    for (auto it = std::sregex_iterator(c.begin(), c.end(), kCdc); it != std::sregex_iterator();
         ++it) {
      want.insert("source_region=eastus/" + (*it)[1].str());
    }
  }
  std::string v1 = Commit(global_dir_, 1);
  for (auto it = std::sregex_iterator(v1.begin(), v1.end(), kCdc); it != std::sregex_iterator();
       ++it) {
    got.insert((*it)[1].str());
  }
  EXPECT_FALSE(want.empty());
  EXPECT_EQ(got, want);
  for (const auto& p : got) {
    EXPECT_TRUE(fs::exists(fs::path(global_dir_) / Unescape(p))) << p;
  }
  EXPECT_EQ(Keys(MiniLive(global_dir_)), ExpectedGlobal(Dirs({"eastus"})));
}

}  // namespace
}  // namespace lakesync::jobs
