// Restores: a snapshot copied to a new location, and in-place restores (Delta RESTORE) judged
// by the independent checker tests/tools/delta_facts.py.

#include "jobs/restore.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "jobs/jobs_test_util.h"
#include "jobs/snapshot.h"
#include "jobs/snapshot_files.h"
#include "jobs/snapshot_test_util.h"
#include "jobs/table_verify.h"
#include "storage/fault_storage.h"
#include "storage/test_util.h"

namespace lakesync::jobs {
namespace {

namespace fs = std::filesystem;
using storage::testing::TempDir;
using testing::CommitName;
using testing::CopyTree;
using testing::FixturesDir;
using testing::OpenLocal;
using testing::RecordingObserver;
using testing::SetCommitTimes;
using testing::Sh;

const std::string kTools = testing::ToolsDir();

// The live files (path, size, DV descriptor) of `table` at version a and b, per the
// independent checker: "same" when equal, else both lists.
std::string CompareLive(const std::string& table, int64_t a, int64_t b) {
  auto [rc, out] = Sh(
      "python3 -c 'import sys, json; sys.path.insert(0, \"" + kTools +
      "\"); import delta_facts as d\n"
      "def live(v):\n"
      "  f = d.table_facts(\"" +
      table +
      "\", v)[\"at\"][\"live_files\"]\n"
      "  return sorted((x[\"path\"], x[\"size\"], json.dumps(x.get(\"dv\", {}).get(\"descriptor\"),"
      " sort_keys=True)) for x in f)\n"
      "x, y = live(" +
      std::to_string(a) + "), live(" + std::to_string(b) +
      ")\n"
      "print(\"same\" if x == y else \"%s\\n!=\\n%s\" % (x, y))'");
  if (rc != 0) return "exit " + std::to_string(rc) + ": " + out;
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

TEST(RestoreSnapshotCopyTest, CopiesASnapshotAsATableAndRefusesNonEmptyTargets) {
  LAKESYNC_SKIP_WITHOUT_FIXTURES();
  TempDir dir;
  auto fixtures = OpenLocal(FixturesDir());
  auto st = OpenLocal(dir.path());
  RecordingObserver obs;
  SnapshotOptions opts;
  opts.version = 2;
  TableLocation snaps{"snaps", st.get(), "snaps"};
  auto snap = RunSnapshot({"src", fixtures.get(), "simple_table"}, snaps, opts, obs);
  ASSERT_TRUE(snap.ok()) << snap.status();
  const std::string id = snap->created->id;

  auto out = RestoreSnapshotCopy(snaps, id, {"new", st.get(), "restored/t"}, 4, obs);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->source_version, 2);
  EXPECT_EQ(out->files, 6);  // simple_table at version 2: 6 live files (delta_facts)
  EXPECT_EQ(out->bytes, 2407);
  auto [rc, text] = Sh("python3 " + kTools + "/delta_facts.py snapshot-check " + FixturesDir() +
                       "/simple_table " + dir.path() + "/restored/t --version 2");
  EXPECT_EQ(rc, 0) << text;
  // The copy's commit is the snapshot's, byte for byte.
  EXPECT_EQ(testing::ReadFileBytes(dir.path() + "/restored/t/_delta_log/" + CommitName(0)),
            testing::ReadFileBytes(dir.path() + "/snaps/" + id + "/_delta_log/" + CommitName(0)));

  auto again = RestoreSnapshotCopy(snaps, id, {"new", st.get(), "restored/t"}, 4, obs);
  EXPECT_TRUE(again.status().IsAlreadyExists()) << again.status();
  EXPECT_EQ(again.status().message().find("holds no Delta table"), std::string::npos);
  // What a restore stopped before its commit leaves: files, no table. The refusal says so.
  testing::WriteFileBytes(dir.path() + "/stopped/part-0.parquet", "12345");
  auto stopped = RestoreSnapshotCopy(snaps, id, {"stopped", st.get(), "stopped"}, 4, obs);
  EXPECT_TRUE(stopped.status().IsAlreadyExists()) << stopped.status();
  EXPECT_NE(stopped.status().message().find("but holds no Delta table: a restore stopped before "
                                            "its commit leaves such files"),
            std::string::npos)
      << stopped.status();
  auto unknown = RestoreSnapshotCopy(snaps, "20200101T000000Z-v1", {"x", st.get(), "x"}, 4, obs);
  EXPECT_TRUE(unknown.status().IsNotFound()) << unknown.status();
  EXPECT_NE(unknown.status().message().find(id), std::string::npos) << unknown.status();
}

// The restored table's commit and its new folders are made durable (SyncAll after the
// publish, which fsyncs the commit and every folder up to the root); a failure there is
// reported, not taken for success.
TEST(RestoreSnapshotCopyTest, TheCopysCommitAndFoldersAreMadeDurable) {
  LAKESYNC_SKIP_WITHOUT_FIXTURES();
  TempDir dir;
  auto fixtures = OpenLocal(FixturesDir());
  auto st = OpenLocal(dir.path());
  RecordingObserver obs;
  TableLocation snaps{"snaps", st.get(), "snaps"};
  auto snap = RunSnapshot({"src", fixtures.get(), "simple_table"}, snaps, {}, obs);
  ASSERT_TRUE(snap.ok()) << snap.status();
  using Op = storage::FaultInjectingStorage::Op;
  storage::FaultInjectingStorage faulty(*st);
  auto out = RestoreSnapshotCopy(snaps, snap->created->id, {"new", &faulty, "restored/a"}, 4, obs);
  ASSERT_TRUE(out.ok()) << out.status();
  const int syncs = faulty.Calls(Op::kSyncAll);
  EXPECT_GE(syncs, 2);  // the files, then the commit and its folders
  storage::FaultInjectingStorage failing(*st);
  failing.FailNth(Op::kSyncAll, syncs, Status::IOError("fsync failed (test)"));
  auto failed =
      RestoreSnapshotCopy(snaps, snap->created->id, {"new", &failing, "restored/b"}, 4, obs);
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.status().message().find("making it durable failed"), std::string::npos)
      << failed.status();
}

// The first absolute add path in a commit file's text (the restore's own output is only used
// to pick a file; what is asserted is the refusal).
std::string FirstAbsoluteAdd(const std::string& commit_file) {
  const std::string text = testing::ReadFileBytes(commit_file);
  const std::string key = "\"add\":{\"path\":\"file:";
  size_t at = text.find(key);
  if (at == std::string::npos) return "";
  at += key.size() - 5;
  return text.substr(at, text.find('"', at) - at);
}

// A shallow snapshot's files live in its source: restoring it after the source lost one (a
// VACUUM) is refused naming the file, and the location stays empty (the old code published a
// table that cannot be read). Also: an in-place restore that would re-add an absolute file
// that is gone changes nothing.
TEST(RestoreSnapshotCopyTest, ShallowSnapshotWhoseSourceLostAFileIsRefused) {
  LAKESYNC_SKIP_WITHOUT_FIXTURES();
  TempDir dir;
  CopyTree(FixturesDir() + "/simple_table", dir.path() + "/src");
  auto st = OpenLocal(dir.path());
  RecordingObserver obs;
  SnapshotOptions opts;
  opts.mode = SnapshotMode::kShallow;
  TableLocation snaps{"snaps", st.get(), "snaps"};
  auto snap = RunSnapshot({"src", st.get(), "src"}, snaps, opts, obs);
  ASSERT_TRUE(snap.ok()) << snap.status();
  const std::string id = snap->created->id;

  auto whole = RestoreSnapshotCopy(snaps, id, {"t", st.get(), "t"}, 4, obs);
  ASSERT_TRUE(whole.ok()) << whole.status();
  EXPECT_TRUE(whole->shallow);
  const std::string uri = FirstAbsoluteAdd(dir.path() + "/t/_delta_log/" + CommitName(0));
  ASSERT_EQ(uri.rfind("file://" + dir.path() + "/src/", 0), 0u) << uri;
  const std::string local = uri.substr(7);
  ASSERT_TRUE(fs::exists(local)) << local;

  // In-place: version 1 removes the file, then the source loses it; restoring version 0
  // would re-add it.
  testing::WriteFileBytes(dir.path() + "/t/_delta_log/" + CommitName(1),
                          "{\"remove\":{\"path\":\"" + uri +
                              "\",\"deletionTimestamp\":1700000000000,\"dataChange\":true}}\n");
  fs::remove(local);
  auto copy = RestoreSnapshotCopy(snaps, id, {"u", st.get(), "u"}, 4, obs);
  ASSERT_TRUE(copy.status().IsNotFound()) << copy.status();
  EXPECT_NE(copy.status().message().find(uri), std::string::npos) << copy.status();
  EXPECT_FALSE(fs::exists(dir.path() + "/u/_delta_log/" + CommitName(0)));

  RestoreInPlaceOptions o;
  o.version = 0;
  auto in_place = RestoreInPlace({"t", st.get(), "t"}, o, obs);
  ASSERT_TRUE(in_place.status().IsNotFound()) << in_place.status();
  EXPECT_NE(in_place.status().message().find(uri), std::string::npos) << in_place.status();
  EXPECT_NE(in_place.status().message().find("nothing was changed"), std::string::npos);
  EXPECT_FALSE(fs::exists(dir.path() + "/t/_delta_log/" + CommitName(2)));
}

// Every path of a commit file that a shallow snapshot names by absolute URI ("path" of adds,
// "pathOrInlineDv" of 'p' DVs), read from its text.
std::vector<std::string> AbsolutePaths(const std::string& commit_file) {
  const std::string text = testing::ReadFileBytes(commit_file);
  std::vector<std::string> out;
  for (const std::string key : {"\"path\":\"file:", "\"pathOrInlineDv\":\"file:"}) {
    for (size_t at = text.find(key); at != std::string::npos; at = text.find(key, at + 1)) {
      const size_t begin = at + key.size() - 5;
      out.push_back(text.substr(begin, text.find('"', begin) - begin));
    }
  }
  return out;
}

// A source folder whose name a URI cannot hold as is ('%', ' ', '#', non-ASCII): the shallow
// snapshot names its files by percent-encoded URIs (Spark parses them with java.net.URI), its
// restore reads them back, and verify finds them in the source. An older snapshot that wrote
// the folder literally is reported, once, as unreadable by other Delta readers where the
// literal folder breaks the URI, and not where it holds only non-ASCII (as Spark writes it).
// The code before 91bacdc wrote the literal folder, so its restore refused a malformed escape
// ("% o"); 91bacdc reported every non-ASCII path, even a fresh snapshot's, as not a URI.
// A shallow snapshot of table-with-dv-small copied to `folder` (encoded by hand as `encoded`):
// its absolute paths, a restore, verify clean and after losing a file, and the same snapshot as
// an earlier lakesync wrote it (the folder literal) — reported once when that breaks the URI.
// `file_prefix`, when set, is put before the data file's name in the source (its log names it
// so, unencoded, as Spark writes non-ASCII partition values).
void CheckShallowSnapshotOfFolder(const std::string& folder, const std::string& encoded,
                                  bool literal_is_broken, const std::string& file_prefix = "") {
  SCOPED_TRACE(folder);
  TempDir dir;
  CopyTree(FixturesDir() + "/table-with-dv-small", dir.path() + "/" + folder);
  if (!file_prefix.empty()) {
    const std::string name = "part-00000-fae5310a-a37d-4e51-827b-c3d5516560ca-c000.snappy.parquet";
    const fs::path table = fs::path(dir.path()) / folder;
    fs::rename(table / name, table / (file_prefix + name));
    for (int v : {0, 1}) {
      const fs::path log = table / "_delta_log" / CommitName(v);
      std::string text = testing::ReadFileBytes(log);
      const std::string from = "\"path\":\"" + name;
      const std::string to = "\"path\":\"" + file_prefix + name;
      for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + 1)) {
        text.replace(at, from.size(), to);
      }
      testing::WriteFileBytes(log, text);
    }
  }
  auto st = OpenLocal(dir.path());
  RecordingObserver obs;
  SnapshotOptions opts;
  opts.mode = SnapshotMode::kShallow;
  TableLocation source{"src", st.get(), folder};
  TableLocation snaps{"snaps", st.get(), "snaps"};
  auto snap = RunSnapshot(source, snaps, opts, obs);
  ASSERT_TRUE(snap.ok()) << snap.status();
  const std::string id = snap->created->id;
  const std::string commit = dir.path() + "/snaps/" + id + "/_delta_log/" + CommitName(0);

  // table-with-dv-small at its head: 1 data file with 1 DV (fixtures README, delta_facts).
  std::vector<std::string> paths = AbsolutePaths(commit);
  ASSERT_EQ(paths.size(), 2u) << testing::ReadFileBytes(commit);
  const std::string root = "file://" + dir.path() + "/" + encoded + "/";
  for (const auto& p : paths) {
    ASSERT_EQ(p.rfind(root, 0), 0u) << p;
    // What follows the folder is the fixture's own file name (no escapes in it).
    const std::string rest = p.substr(root.size());
    EXPECT_EQ(rest.find('%'), std::string::npos) << p;
    EXPECT_TRUE(fs::is_regular_file(fs::path(dir.path()) / folder / rest)) << p;
  }

  auto copy = RestoreSnapshotCopy(snaps, id, {"t", st.get(), "t"}, 4, obs);
  ASSERT_TRUE(copy.ok()) << copy.status();
  auto clean = VerifySnapshots(source, snaps, /*checksum=*/false);
  ASSERT_TRUE(clean.ok()) << clean.status();
  ASSERT_EQ(clean->snapshots.size(), 1u);
  EXPECT_TRUE(clean->snapshots[0].problems.empty()) << clean->snapshots[0].problems.front();

  // The source loses the data file: verify finds it under the encoded folder and says so.
  const std::string data = paths[0].substr(root.size());
  auto lose_data_file = [&] {
    fs::rename(fs::path(dir.path()) / folder / data, dir.path() + "/aside");
    auto lost = VerifySnapshots(source, snaps, false);
    fs::rename(dir.path() + "/aside", fs::path(dir.path()) / folder / data);
    EXPECT_TRUE(lost.ok()) << lost.status();
    std::vector<std::string> problems;
    if (lost.ok()) problems = lost->snapshots.at(0).problems;
    return problems;
  };
  std::vector<std::string> lost = lose_data_file();
  ASSERT_EQ(lost.size(), 1u);
  EXPECT_NE(lost[0].find(data), std::string::npos) << lost[0];

  // An earlier lakesync's snapshot: the folder written literally.
  std::string text = testing::ReadFileBytes(commit);
  for (size_t at = text.find(encoded); at != std::string::npos; at = text.find(encoded, at)) {
    text.replace(at, encoded.size(), folder);
  }
  testing::WriteFileBytes(commit, text);
  auto old = VerifySnapshots(source, snaps, false);
  ASSERT_TRUE(old.ok()) << old.status();
  const std::vector<std::string>& problems = old->snapshots[0].problems;
  if (!literal_is_broken) {
    EXPECT_TRUE(problems.empty()) << problems.front();
  } else {
    ASSERT_EQ(problems.size(), 1u) << (problems.empty() ? "none" : problems.back());
    EXPECT_NE(problems[0].find("2 file(s) are named under the source's folder"), std::string::npos)
        << problems[0];
    EXPECT_NE(problems[0].find("written without percent-encoding"), std::string::npos)
        << problems[0];
  }
  // The literal folder is still the source's: a lost file is found there too.
  lost = lose_data_file();
  ASSERT_EQ(lost.size(), literal_is_broken ? 2u : 1u);
  EXPECT_NE(lost[0].find(data), std::string::npos) << lost[0];
}

TEST(RestoreSnapshotCopyTest, ShallowSnapshotOfAFolderWithPercentAndSpacesIsReadable) {
  LAKESYNC_SKIP_WITHOUT_FIXTURES();
  // Encodings by hand, per RFC 3986.
  CheckShallowSnapshotOfFolder("50% off #1 \xc3\xa9", "50%25%20off%20%231%20%C3%A9", true);
  // Written literally each of these reads as another folder ("a b", "x") though it has no
  // character a URI cannot hold.
  CheckShallowSnapshotOfFolder("a%20b", "a%2520b", true);
  CheckShallowSnapshotOfFolder("x#1", "x%231", true);
  // Non-ASCII only: Spark names such a folder literally too; it is readable, not reported.
  CheckShallowSnapshotOfFolder("M\xc3\xbcnchen", "M%C3%BCnchen", false, "\xc3\xbc-");
}

// The forms a log names a local file by absolute path in (file:///, Spark's file:/, a host of
// localhost, a bare path; percent-encoded), each read as the file it names; other locations
// are not checked.
TEST(CheckAbsoluteFilesTest, ReadsEveryFormOfALocalFileUriAndSkipsOtherLocations) {
  TempDir dir;
  const std::string d = dir.path();
  ASSERT_EQ(d.find_first_of("% #?"), std::string::npos) << d;
  testing::WriteFileBytes(d + "/a b%.bin", "12345");
  auto ref = [](std::string path, int64_t size) {
    FileRef r;
    r.path = std::move(path);
    r.absolute = true;
    r.size = size;
    return r;
  };
  const std::string enc = d + "/a%20b%25.bin";
  for (const std::string& uri : {"file://" + enc, "file:" + enc, "FILE://localhost" + enc, enc}) {
    Status right = CheckAbsoluteFiles({ref(uri, 5)}, "test");
    EXPECT_TRUE(right.ok()) << uri << ": " << right;
    Status wrong = CheckAbsoluteFiles({ref(uri, 6)}, "test");
    EXPECT_EQ(wrong.code(), StatusCode::kCorruption) << uri << ": " << wrong;
  }
  Status gone = CheckAbsoluteFiles({ref("file://" + d + "/gone.bin", 5)}, "version 3");
  EXPECT_TRUE(gone.IsNotFound()) << gone;
  EXPECT_NE(gone.message().find("version 3"), std::string::npos) << gone;
  // Not decoded twice, and not read undecoded: the literal name does not exist.
  EXPECT_TRUE(CheckAbsoluteFiles({ref("file://" + d + "/a%2520b.bin", 5)}, "t").IsNotFound());
  for (const std::string& uri :
       {std::string("s3://bucket/x.parquet"),
        std::string("abfss://c@acct.dfs.core.windows.net/x.parquet"),
        std::string("dbfs:/mnt/x.parquet"), std::string("file://otherhost/x.parquet")}) {
    Status skipped = CheckAbsoluteFiles({ref(uri, 5)}, "test");
    EXPECT_TRUE(skipped.ok()) << uri << ": " << skipped;
  }
  EXPECT_EQ(CheckAbsoluteFiles({ref("file://" + d + "/%zz", 5)}, "t").code(),
            StatusCode::kCorruption);
}

// A hand-written table whose version 1 replaced version 0's schema and partitioning.
class RestoreMetadataTest : public ::testing::Test {
 protected:
  static constexpr const char* kSchemaV0 =
      R"({\"type\":\"struct\",\"fields\":[{\"name\":\"x\",\"type\":\"integer\",\"nullable\":true,)"
      R"(\"metadata\":{}},{\"name\":\"v\",\"type\":\"string\",\"nullable\":true,\"metadata\":{}}]})";
  static constexpr const char* kSchemaV1 =
      R"({\"type\":\"struct\",\"fields\":[{\"name\":\"y\",\"type\":\"long\",\"nullable\":true,)"
      R"(\"metadata\":{}}]})";

  void SetUp() override { st_ = OpenLocal(dir_.path()); }
  void Write(const std::string& rel, const std::string& bytes) {
    fs::create_directories(fs::path(Path(rel)).parent_path());
    std::ofstream(Path(rel), std::ios::binary) << bytes;
  }
  std::string Read(const std::string& rel) {
    std::ifstream in(Path(rel), std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  static std::string Metadata(const char* schema, const std::string& partitions,
                              const std::string& configuration) {
    return std::string(R"({"metaData":{"id":"t-1","format":{"provider":"parquet","options":{}},)") +
           R"("schemaString":")" + schema + R"(","partitionColumns":[)" + partitions +
           R"(],"configuration":{)" + configuration + R"(},"createdTime":1700000000000}})";
  }
  // v0: partitioned by x, one file; v1: `protocol1` (if any) and a new schema, unpartitioned,
  // the file replaced.
  void WriteTable(const std::string& protocol0, const std::string& protocol1,
                  const char* schema0 = kSchemaV0) {
    Write("t/x=1/a.parquet", "AAAAA");
    Write("t/b.parquet", "BBB");
    Write("t/_delta_log/" + CommitName(0),
          R"({"commitInfo":{"timestamp":1700000000000,"operation":"CREATE TABLE"}})"
          "\n" +
              protocol0 + "\n" + Metadata(schema0, R"("x")", R"("delta.appendOnly":"false")") +
              "\n" +
              R"({"add":{"path":"x=1/a.parquet","partitionValues":{"x":"1"},"size":5,)"
              R"("modificationTime":1700000000000,"dataChange":true}})"
              "\n");
    Write("t/_delta_log/" + CommitName(1),
          R"({"commitInfo":{"timestamp":1700000001000,"operation":"CREATE OR REPLACE TABLE"}})"
          "\n" +
              (protocol1.empty() ? "" : protocol1 + "\n") + Metadata(kSchemaV1, "", "") + "\n" +
              R"({"remove":{"path":"x=1/a.parquet","deletionTimestamp":1700000001000,)"
              R"("dataChange":true}})"
              "\n"
              R"({"add":{"path":"b.parquet","partitionValues":{},"size":3,)"
              R"("modificationTime":1700000001000,"dataChange":true}})"
              "\n");
  }
  std::string Path(const std::string& rel) const { return dir_.path() + "/" + rel; }

  TempDir dir_;
  std::unique_ptr<storage::LocalStorage> st_;
};

// Delta's RESTORE brings back the restored version's metadata: the files it re-adds were written
// under that schema and partitioning. Before, the commit kept the head's (a table whose
// partition values and columns no longer matched its files).
TEST_F(RestoreMetadataTest, TheRestoredVersionsSchemaAndPartitionColumnsComeBack) {
  WriteTable(R"({"protocol":{"minReaderVersion":1,"minWriterVersion":2}})", "");
  TableLocation t{"t", st_.get(), "t"};
  RecordingObserver obs;
  RestoreInPlaceOptions o;
  o.version = 0;
  auto out = RestoreInPlace(t, o, obs);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->new_version, 2);
  EXPECT_TRUE(out->metadata_restored);
  const std::string commit = Read("t/_delta_log/" + CommitName(2));
  EXPECT_NE(commit.find(std::string(R"("schemaString":")") + kSchemaV0 + "\""), std::string::npos)
      << commit;
  EXPECT_NE(commit.find(R"("partitionColumns":["x"])"), std::string::npos) << commit;
  EXPECT_NE(commit.find(R"("delta.appendOnly":"false")"), std::string::npos) << commit;
  EXPECT_EQ(CompareLive(Path("t"), 2, 0), "same");
  auto [rc, facts] = Sh("python3 -c 'import sys; sys.path.insert(0, \"" + kTools +
                        "\"); import delta_facts as d\n"
                        "print(d.table_facts(\"" +
                        Path("t") + "\", 2)[\"at\"][\"partition_columns\"])'");
  ASSERT_EQ(rc, 0) << facts;
  EXPECT_EQ(facts, "['x']\n");

  // And forward again: version 1's metadata (unpartitioned, column y) with its file.
  o.version = 1;
  auto back = RestoreInPlace(t, o, obs);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->new_version, 3);
  const std::string again = Read("t/_delta_log/" + CommitName(3));
  EXPECT_NE(again.find(std::string(R"("schemaString":")") + kSchemaV1 + "\""), std::string::npos)
      << again;
  EXPECT_NE(again.find(R"("partitionColumns":[])"), std::string::npos) << again;
  EXPECT_EQ(CompareLive(Path("t"), 3, 1), "same");
  // Equal files and metadata: nothing to write.
  auto same = RestoreInPlace(t, o, obs);
  ASSERT_TRUE(same.ok()) << same.status();
  EXPECT_EQ(same->new_version, -1);
}

// A version needing a feature the head dropped, and a schema change on a table with identity
// columns, are refused with the table unchanged.
TEST_F(RestoreMetadataTest, AFeatureTheHeadDroppedOrIdentityColumnsAreRefused) {
  WriteTable(R"({"protocol":{"minReaderVersion":3,"minWriterVersion":7,)"
             R"("readerFeatures":["deletionVectors"],"writerFeatures":["deletionVectors"]}})",
             R"({"protocol":{"minReaderVersion":1,"minWriterVersion":2}})");
  TableLocation t{"t", st_.get(), "t"};
  RecordingObserver obs;
  RestoreInPlaceOptions o;
  o.version = 0;
  auto out = RestoreInPlace(t, o, obs);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), StatusCode::kUnsupported) << out.status();
  EXPECT_NE(out.status().message().find("deletionVectors"), std::string::npos) << out.status();
  EXPECT_NE(out.status().message().find("nothing was changed"), std::string::npos);
  EXPECT_FALSE(fs::exists(Path("t/_delta_log/" + CommitName(2))));

  // The same with the metadata unchanged (version 1 only dropped the feature and replaced the
  // file): the files version 0 would bring back still need it.
  Write("t/_delta_log/" + CommitName(1),
        R"({"protocol":{"minReaderVersion":1,"minWriterVersion":2}})"
        "\n"
        R"({"remove":{"path":"x=1/a.parquet","deletionTimestamp":1700000001000,)"
        R"("dataChange":true}})"
        "\n");
  out = RestoreInPlace(t, o, obs);
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.status().message().find("deletionVectors"), std::string::npos) << out.status();
  EXPECT_FALSE(fs::exists(Path("t/_delta_log/" + CommitName(2))));

  fs::remove_all(Path("t"));
  static constexpr const char* kIdentity =
      R"({\"type\":\"struct\",\"fields\":[{\"name\":\"x\",\"type\":\"long\",\"nullable\":true,)"
      R"(\"metadata\":{\"delta.identity.start\":1,\"delta.identity.step\":1,)"
      R"(\"delta.identity.highWaterMark\":4}}]})";
  WriteTable(R"({"protocol":{"minReaderVersion":1,"minWriterVersion":6}})", "", kIdentity);
  out = RestoreInPlace(t, o, obs);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), StatusCode::kUnsupported) << out.status();
  EXPECT_NE(out.status().message().find("identity columns"), std::string::npos) << out.status();
  EXPECT_FALSE(fs::exists(Path("t/_delta_log/" + CommitName(2))));
}

class RestoreInPlaceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::is_directory(FixturesDir())) {
      GTEST_SKIP() << "SKIPPED: fixtures directory " << FixturesDir() << " is absent";
    }
    st_ = OpenLocal(dir_.path());
  }
  TableLocation Copy(const std::string& fixture) {
    CopyTree(FixturesDir() + "/" + fixture, dir_.path() + "/" + fixture);
    return {fixture, st_.get(), fixture};
  }
  std::string Path(const std::string& rel) { return dir_.path() + "/" + rel; }

  TempDir dir_;
  std::unique_ptr<storage::LocalStorage> st_;
};

TEST_F(RestoreInPlaceTest, OneCommitRemovesAndReAddsFiles) {
  auto t = Copy("simple_table");
  RecordingObserver obs;
  RestoreInPlaceOptions o;
  o.version = 1;  // 22 live files at v1, 5 at v4 (delta_facts --all-versions)
  auto out = RestoreInPlace(t, o, obs);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->head, 4);
  EXPECT_EQ(out->new_version, 5);
  EXPECT_EQ(out->files, 22);
  EXPECT_EQ(out->bytes, 9104);
  EXPECT_EQ(CompareLive(Path("simple_table"), 5, 1), "same");
  EXPECT_FALSE(fs::exists(Path("simple_table/_delta_log/" + CommitName(6))));
  // Back to the head's files in a second restore.
  o.version = 4;
  auto back = RestoreInPlace(t, o, obs);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->new_version, 6);
  EXPECT_EQ(CompareLive(Path("simple_table"), 6, 4), "same");
  // To the files it already has: nothing written.
  auto same = RestoreInPlace(t, o, obs);
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(same->new_version, -1);
  EXPECT_FALSE(fs::exists(Path("simple_table/_delta_log/" + CommitName(7))));
}

TEST_F(RestoreInPlaceTest, UndoesADeletionVector) {
  auto t = Copy("table-with-dv-small");
  RecordingObserver obs;
  RestoreInPlaceOptions o;
  o.version = 0;  // version 1 added a DV to the only file
  auto out = RestoreInPlace(t, o, obs);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->removed, 1);
  EXPECT_EQ(out->added, 1);
  EXPECT_EQ(CompareLive(Path("table-with-dv-small"), 2, 0), "same");
}

TEST_F(RestoreInPlaceTest, VacuumedFileRefusedChangingNothing) {
  auto t = Copy("simple_table");
  // Live at version 1, removed since (delta_facts facts --version 1 lists it).
  const std::string gone = "part-00000-a72b1fb3-f2df-41fe-a8f0-e65b746382dd-c000.snappy.parquet";
  fs::remove(Path("simple_table/" + gone));
  RecordingObserver obs;
  RestoreInPlaceOptions o;
  o.version = 1;
  auto out = RestoreInPlace(t, o, obs);
  ASSERT_FALSE(out.ok());
  EXPECT_TRUE(out.status().IsNotFound()) << out.status();
  EXPECT_NE(out.status().message().find(gone), std::string::npos) << out.status();
  EXPECT_NE(out.status().message().find("nothing was changed"), std::string::npos);
  EXPECT_FALSE(fs::exists(Path("simple_table/_delta_log/" + CommitName(5))));
}

TEST_F(RestoreInPlaceTest, AsOfAndBadVersions) {
  auto t = Copy("simple_table");
  // Commit k written at T + k min: by default (the files' times, as Delta readers) T + 90 s is
  // between v1 and v2.
  const TimePoint at = FromUnixMillis(1'800'000'000'000);
  SetCommitTimes(Path("simple_table"), at, std::chrono::seconds(60));
  RecordingObserver obs;
  RestoreInPlaceOptions o;
  o.as_of = at + std::chrono::seconds(90);
  auto out = RestoreInPlace(t, o, obs);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->head, 4);
  EXPECT_EQ(out->restored_version, 1);
  // commitInfo.timestamp (2020) when chosen: between v2 (…604143) and v3 (…614187).
  RestoreInPlaceOptions by_commit_info;
  by_commit_info.as_of = FromUnixMillis(1587968610000);
  by_commit_info.timestamps = delta::NonIctTimestampPolicy::kCommitInfoThenFile;
  auto out2 = RestoreInPlace(t, by_commit_info, obs);
  ASSERT_TRUE(out2.ok()) << out2.status();
  EXPECT_EQ(out2->head, 5);
  EXPECT_EQ(out2->restored_version, 2);
  // The same instant by the files' times is before the first commit.
  RestoreInPlaceOptions by_files;
  by_files.as_of = by_commit_info.as_of;
  EXPECT_TRUE(RestoreInPlace(t, by_files, obs).status().IsNotFound());
  RestoreInPlaceOptions bad;
  bad.version = 99;
  EXPECT_TRUE(RestoreInPlace(t, bad, obs).status().IsNotFound());
  RestoreInPlaceOptions fenced;
  fenced.version = 0;
  obs.refuse_publish_at = 7;
  EXPECT_TRUE(RestoreInPlace(t, fenced, obs).status().IsConflict());
  EXPECT_FALSE(fs::exists(Path("simple_table/_delta_log/" + CommitName(7))));
}

}  // namespace
}  // namespace lakesync::jobs
