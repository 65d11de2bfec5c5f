// Snapshot jobs: every fixture at several versions (judged by the independent checker
// tests/tools/delta_facts.py snapshot-check), retention boundaries on a manual clock, crashes
// (failpoint handlers that abort the run where SIGKILL would) and table-feature handling.

#include "jobs/snapshot.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <stdexcept>

#include <fmt/format.h>

#include "common/failpoint.h"
#include "jobs/commit_files.h"
#include "jobs/jobs_test_util.h"
#include "jobs/snapshot_test_util.h"
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
using testing::ReadFileBytes;
using testing::RecordingObserver;
using testing::SetCommitTimes;
using testing::Sh;
using testing::WriteFileBytes;

std::string DeltaFacts() {
  return std::string(LAKESYNC_SOURCE_DIR) + "/tests/tools/delta_facts.py";
}

// The fixture `name` as a read-only source, and a target directory.
struct Env {
  Env() : src_storage(OpenLocal(FixturesDir())), dst_storage(OpenLocal(dir.path())) {}
  TableLocation Source(const std::string& name) { return {name, src_storage.get(), name}; }
  TableLocation Target() { return {"snaps", dst_storage.get(), "snaps"}; }
  std::string TargetDir() const { return dir.path() + "/snaps"; }
  // A private copy of fixture `name` whose commit k was written at `first` + k min.
  TableLocation TimedCopy(const std::string& name, TimePoint first) {
    CopyTree(fs::path(FixturesDir()) / name, dir.path() + "/src/" + name);
    SetCommitTimes(dir.path() + "/src/" + name, first, std::chrono::seconds(60));
    copy_storage = OpenLocal(dir.path() + "/src");
    return {name, copy_storage.get(), name};
  }

  TempDir dir;
  std::unique_ptr<storage::LocalStorage> copy_storage;
  std::unique_ptr<storage::LocalStorage> src_storage;
  std::unique_ptr<storage::LocalStorage> dst_storage;
};

// Every file key below the target (sorted), read independently with readdir.
std::vector<std::string> FilesUnder(const std::string& dir) {
  std::vector<std::string> out;
  if (!fs::exists(dir)) return out;
  for (auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) out.push_back(fs::relative(e.path(), dir).string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string CheckSnapshot(const std::string& source_dir, const std::string& snap_dir,
                          int64_t version, bool shallow, const std::string& manifest) {
  auto [rc, out] = Sh("python3 " + DeltaFacts() + " snapshot-check " + source_dir + " " + snap_dir +
                      " --version " + std::to_string(version) + (shallow ? " --shallow" : "") +
                      " --manifest " + manifest);
  if (rc != 0) return "exit " + std::to_string(rc) + ":\n" + out;
  return "";
}

const TimePoint kT0 = FromUnixMillis(1795312800000);  // 2026-11-22T02:00:00Z

TEST(SnapshotIdTest, SortsByTimeAndNamesTheVersion) {
  EXPECT_EQ(SnapshotId(kT0, 42), "20261122T020000Z-v42");
  EXPECT_EQ(SnapshotId(kT0 + std::chrono::milliseconds(999), 7), "20261122T020000Z-v7");
  EXPECT_EQ(SnapshotId(kT0 + std::chrono::hours(24 * 40), 0), "20270101T020000Z-v0");
}

TEST(SnapshotManifestTest, RoundTrips) {
  SnapshotManifest m;
  m.id = "20261122T020000Z-v42";
  m.source = "file:///data/eastus/sales";
  m.version = 42;
  m.commit_timestamp = kT0 - std::chrono::milliseconds(1234);
  m.files = 3;
  m.bytes = 12345;
  m.rows = 99;
  m.rows_exact = false;
  m.created_at = kT0;
  m.mode = SnapshotMode::kShallow;
  m.table_id = "abc";
  m.notes = {"rowTracking: kept", "a \"quoted\" note"};
  auto parsed = ParseManifest(ManifestToJson(m));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(*parsed, m);
  EXPECT_TRUE(ParseManifest("{}").status().code() == StatusCode::kCorruption);
  EXPECT_TRUE(ParseManifest("{\"format\":\"other/9\"}").status().code() == StatusCode::kCorruption);
  EXPECT_TRUE(ParseManifest("not json").status().code() == StatusCode::kCorruption);
}

SnapshotManifest At(const std::string& id, TimePoint created) {
  SnapshotManifest m;
  m.id = id;
  m.created_at = created;
  return m;
}

TEST(RetentionVictimsTest, KeepLastBoundaries) {
  std::vector<SnapshotManifest> s = {At("d", kT0 + std::chrono::hours(3)),
                                     At("c", kT0 + std::chrono::hours(2)),
                                     At("b", kT0 + std::chrono::hours(1)), At("a", kT0)};
  const TimePoint now = kT0 + std::chrono::hours(100);
  EXPECT_EQ(RetentionVictims(s, 4, std::nullopt, now), std::vector<std::string>{});
  EXPECT_EQ(RetentionVictims(s, 3, std::nullopt, now), std::vector<std::string>{"a"});
  EXPECT_EQ(RetentionVictims(s, 1, std::nullopt, now), (std::vector<std::string>{"c", "b", "a"}));
  EXPECT_EQ(RetentionVictims(s, std::nullopt, std::nullopt, now), std::vector<std::string>{});
}

TEST(RetentionVictimsTest, KeepWithinBoundaryAndNewestAlwaysKept) {
  std::vector<SnapshotManifest> s = {At("c", kT0 + std::chrono::hours(2)),
                                     At("b", kT0 + std::chrono::hours(1)), At("a", kT0)};
  // Exactly keep_within old: kept; one millisecond older: deleted.
  EXPECT_EQ(RetentionVictims(s, std::nullopt, std::chrono::hours(3), kT0 + std::chrono::hours(3)),
            std::vector<std::string>{});
  EXPECT_EQ(RetentionVictims(s, std::nullopt, std::chrono::hours(3),
                             kT0 + std::chrono::hours(3) + std::chrono::milliseconds(1)),
            std::vector<std::string>{"a"});
  // Everything is old: the newest stays anyway.
  EXPECT_EQ(RetentionVictims(s, std::nullopt, std::chrono::hours(1), kT0 + std::chrono::hours(50)),
            (std::vector<std::string>{"b", "a"}));
  // Either rule keeps a snapshot.
  EXPECT_EQ(RetentionVictims(s, 2, std::chrono::hours(1), kT0 + std::chrono::hours(50)),
            std::vector<std::string>{"a"});
}

// Every fixture, at version 0, the middle and the head: the snapshot equals the source there.
TEST(SnapshotFixturesTest, EveryFixtureAtSeveralVersions) {
  LAKESYNC_SKIP_WITHOUT_FIXTURES();
  int checked = 0;
  for (const auto& entry : fs::directory_iterator(FixturesDir())) {
    if (!fs::is_directory(entry.path() / "_delta_log")) continue;
    const std::string name = entry.path().filename().string();
    if (name == "checkpoints" || name == "with_checkpoint_no_last_checkpoint") continue;
    Env env;
    auto head = TableHead(*env.src_storage, name);
    ASSERT_TRUE(head.ok()) << name << ": " << head.status();
    std::set<int64_t> versions = {0, *head / 2, *head};
    ManualClock clock(kT0);
    for (int64_t v : versions) {
      SCOPED_TRACE(name + " at version " + std::to_string(v));
      SnapshotOptions opts;
      opts.version = v;
      opts.clock = &clock;
      clock.Advance(std::chrono::hours(1));
      RecordingObserver obs;
      auto out = RunSnapshot(env.Source(name), env.Target(), opts, obs);
      ASSERT_TRUE(out.ok()) << out.status();
      ASSERT_TRUE(out->created.has_value());
      EXPECT_EQ(out->created->version, v);
      const std::string id = out->created->id;
      EXPECT_EQ(id, SnapshotId(clock.Now(), v));
      EXPECT_EQ(CheckSnapshot(entry.path().string(), env.TargetDir() + "/" + id, v, false,
                              env.TargetDir() + "/_snapshots/" + id + ".json"),
                "");
      ++checked;
    }
    // Shallow at the head: nothing copied, absolute paths to the source's files.
    SnapshotOptions opts;
    opts.mode = SnapshotMode::kShallow;
    opts.skip_unchanged = false;
    opts.clock = &clock;
    clock.Advance(std::chrono::hours(1));
    RecordingObserver obs;
    auto out = RunSnapshot(env.Source(name), env.Target(), opts, obs);
    ASSERT_TRUE(out.ok()) << name << ": " << out.status();
    EXPECT_EQ(out->files_copied, 0);
    const std::string id = out->created->id;
    EXPECT_EQ(FilesUnder(env.TargetDir() + "/" + id),
              std::vector<std::string>{"_delta_log/" + CommitName(0)});
    EXPECT_EQ(CheckSnapshot(entry.path().string(), env.TargetDir() + "/" + id, *head, true,
                            env.TargetDir() + "/_snapshots/" + id + ".json"),
              "")
        << name;
  }
  // 13 fixtures; distinct versions {0, head/2, head} counted by hand from their heads.
  EXPECT_EQ(checked, 25) << "a fixture was not snapshotted";
}

// Fixtures missing data files on purpose: the run fails naming the file; nothing is left.
TEST(SnapshotFixturesTest, MissingDataFileFailsNamingItAndLeavesNothing) {
  LAKESYNC_SKIP_WITHOUT_FIXTURES();
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"with_checkpoint_no_last_checkpoint",
       "part-00000-70b1dcdf-0236-4f63-a072-124cdbafd8a0-c000.snappy.parquet"},
      {"checkpoints", "part-00000-"}};
  for (const auto& [name, file] : cases) {
    Env env;
    RecordingObserver obs;
    SnapshotOptions opts;
    auto out = RunSnapshot(env.Source(name), env.Target(), opts, obs);
    ASSERT_FALSE(out.ok()) << name;
    EXPECT_TRUE(out.status().IsNotFound()) << out.status();
    EXPECT_NE(out.status().message().find(file), std::string::npos) << out.status();
    EXPECT_NE(out.status().message().find("missing from"), std::string::npos) << out.status();
    EXPECT_EQ(FilesUnder(env.TargetDir()), std::vector<std::string>{}) << name;
    auto listed = ListSnapshots(env.Target());
    ASSERT_TRUE(listed.ok());
    EXPECT_TRUE(listed->empty());
  }
}

TEST(SnapshotRunTest, KeepLastAtNAndNPlusOne) {
  LAKESYNC_SKIP_WITHOUT_FIXTURES();
  Env env;
  ManualClock clock(kT0);
  SnapshotOptions opts;
  opts.keep_last = 3;
  opts.skip_unchanged = false;
  opts.clock = &clock;
  std::vector<std::string> ids;
  for (int run = 1; run <= 5; ++run) {
    RecordingObserver obs;
    auto out = RunSnapshot(env.Source("simple_table"), env.Target(), opts, obs);
    ASSERT_TRUE(out.ok()) << out.status();
    ids.push_back(out->created->id);
    // Hand-written: runs one hour apart from 02:00.
    EXPECT_EQ(out->created->id, fmt::format("20261122T{:02d}0000Z-v4", 1 + run));
    const size_t want_deleted = run <= 3 ? 0 : 1;
    EXPECT_EQ(out->deleted.size(), want_deleted) << "run " << run;
    if (run > 3) {
      EXPECT_EQ(out->deleted[0], ids[run - 4]);
    }
    ASSERT_EQ(out->snapshots.size(), static_cast<size_t>(std::min(run, 3)));
    EXPECT_EQ(out->snapshots.front().id, ids.back());
    clock.Advance(std::chrono::hours(1));
  }
  // Deleted snapshots leave no files, nor their folders (before: `<id>/` and
  // `<id>/_delta_log/` stayed, one pair per deleted snapshot, for good).
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(FilesUnder(env.TargetDir() + "/" + ids[i]), std::vector<std::string>{});
    EXPECT_FALSE(std::filesystem::exists(env.TargetDir() + "/" + ids[i])) << ids[i];
  }
  EXPECT_TRUE(std::filesystem::exists(env.TargetDir() + "/" + ids.back() + "/_delta_log"));
}

// Runners whose clocks disagree: a snapshot of version 3 written by a runner an hour ahead
// must not count as newer than a later one of version 4. Before, it stayed "newest": every run
// wrote version 4 again (skip_unchanged compared with it), retention deleted the previous
// copy of version 4, and the lag never reached 0.
TEST(SnapshotRunTest, ARunnerWithAFastClockDoesNotMakeAnOldSnapshotTheNewest) {
  LAKESYNC_SKIP_WITHOUT_FIXTURES();
  Env env;
  SnapshotOptions opts;
  opts.keep_last = 1;
  RecordingObserver obs;
  ManualClock ahead(kT0 + std::chrono::hours(10));
  opts.clock = &ahead;
  opts.version = 3;
  auto a = RunSnapshot(env.Source("simple_table"), env.Target(), opts, obs);
  ASSERT_TRUE(a.ok() && a->created) << a.status();
  ManualClock right(kT0);
  opts.clock = &right;
  opts.version.reset();  // the head, 4
  auto b = RunSnapshot(env.Source("simple_table"), env.Target(), opts, obs);
  ASSERT_TRUE(b.ok() && b->created) << b.status();
  EXPECT_EQ(b->created->version, 4);
  // keep_last 1 keeps the snapshot of the highest version, whatever the clocks said.
  EXPECT_EQ(b->deleted, std::vector<std::string>{a->created->id});
  auto lag = ComputeSnapshotLag(env.Source("simple_table"), env.Target(), kT0);
  ASSERT_TRUE(lag.ok()) << lag.status();
  EXPECT_EQ(lag->newest_version, std::optional<int64_t>(4));
  EXPECT_EQ(lag->versions, 0);
  right.Advance(std::chrono::hours(1));
  auto c = RunSnapshot(env.Source("simple_table"), env.Target(), opts, obs);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(c->created.has_value());
  EXPECT_EQ(c->unchanged_since, b->created->id);
  EXPECT_TRUE(c->deleted.empty());
  ASSERT_EQ(c->snapshots.size(), 1u);
  EXPECT_EQ(c->snapshots[0].id, b->created->id);
}

// skip_unchanged compares the table, not only the version: a source dropped and recreated under
// the same URL (here: another table copied in its place), at the same version, gets a new
// snapshot. Before, the run said "unchanged" and the snapshot held the old table's data.
TEST(SnapshotRunTest, ARecreatedSourceAtTheSameVersionIsSnapshottedAgain) {
  LAKESYNC_SKIP_WITHOUT_FIXTURES();
  Env env;
  TempDir src_dir;
  auto src = OpenLocal(src_dir.path());
  CopyTree(FixturesDir() + "/table-without-dv-small", src_dir.path() + "/t");
  TableLocation source{"t", src.get(), "t"};
  SnapshotOptions opts;
  opts.version = 0;
  ManualClock clock(kT0);
  opts.clock = &clock;
  RecordingObserver obs;
  auto first = RunSnapshot(source, env.Target(), opts, obs);
  ASSERT_TRUE(first.ok() && first->created) << first.status();
  clock.Advance(std::chrono::hours(1));
  auto same = RunSnapshot(source, env.Target(), opts, obs);
  ASSERT_TRUE(same.ok()) << same.status();
  EXPECT_EQ(same->unchanged_since, first->created->id);
  fs::remove_all(src_dir.path() + "/t");
  CopyTree(FixturesDir() + "/table-with-dv-small", src_dir.path() + "/t");
  clock.Advance(std::chrono::hours(1));
  auto recreated = RunSnapshot(source, env.Target(), opts, obs);
  ASSERT_TRUE(recreated.ok()) << recreated.status();
  ASSERT_TRUE(recreated->created.has_value());
  EXPECT_NE(recreated->created->source_table_id, first->created->source_table_id);
  EXPECT_FALSE(recreated->created->source_table_id.empty());
}

// Forwards every call to `base`; `on_delete(path)` runs before each Delete.
class HookedStorage final : public storage::Storage {
 public:
  explicit HookedStorage(storage::Storage& base) : base_(base) {}
  std::function<void(std::string_view)> on_delete;

  Result<std::vector<storage::FileInfo>> List(const storage::ListOptions& o) override {
    return base_.List(o);
  }
  Result<storage::FileInfo> Stat(std::string_view p) override { return base_.Stat(p); }
  Result<std::string> Read(std::string_view p) override { return base_.Read(p); }
  Result<std::string> ReadRange(std::string_view p, uint64_t off, uint64_t n) override {
    return base_.ReadRange(p, off, n);
  }
  Status ReadStream(std::string_view p, const storage::ChunkSink& sink) override {
    return base_.ReadStream(p, sink);
  }
  Status WriteAtomic(std::string_view p, std::string_view d) override {
    return base_.WriteAtomic(p, d);
  }
  Status PutIfAbsent(std::string_view p, std::string_view d) override {
    return base_.PutIfAbsent(p, d);
  }
  Status Delete(std::string_view p) override {
    if (on_delete) on_delete(p);
    return base_.Delete(p);
  }
  Result<uint64_t> CopyFrom(Storage& src, std::string_view from, std::string_view to) override {
    return base_.CopyFrom(src, from, to);
  }
  Result<uint64_t> CopyFromIfAbsent(Storage& src, std::string_view from,
                                    std::string_view to) override {
    return base_.CopyFromIfAbsent(src, from, to);
  }
  Status SetModificationTime(std::string_view p, TimePoint t) override {
    return base_.SetModificationTime(p, t);
  }
  std::string Describe() const override { return base_.Describe(); }
  std::optional<std::string> LocalPath(std::string_view p) const override {
    return base_.LocalPath(p);
  }

 private:
  storage::Storage& base_;
};

// A runner that lost the job publishes its snapshot's manifest while another runner deletes
// that snapshot as a leftover, and removes its `.writing` marker before the deleter does: the
// manifest published after the deleter's first manifest delete must not survive (before: a
// snapshot listed as complete whose files were deleted).
TEST(SnapshotRunTest, AManifestPublishedWhileTheSnapshotIsDeletedDoesNotSurvive) {
  LAKESYNC_SKIP_WITHOUT_FIXTURES();
  Env env;
  RecordingObserver obs;
  auto made = RunSnapshot(env.Source("simple_table"), env.Target(), {}, obs);
  ASSERT_TRUE(made.ok() && made->created) << made.status();
  const std::string id = made->created->id;
  const std::string manifest = "snaps/_snapshots/" + id + ".json";
  auto text = env.dst_storage->Read(manifest);
  ASSERT_TRUE(text.ok()) << text.status();
  // The leftover state the deleter finds: a `.writing` marker, files, no manifest yet.
  ASSERT_TRUE(env.dst_storage->Delete(manifest).ok());
  ASSERT_TRUE(env.dst_storage->WriteAtomic("snaps/_snapshots/" + id + ".writing", id).ok());
  HookedStorage hooked(*env.dst_storage);
  bool raced = false;
  hooked.on_delete = [&](std::string_view path) {
    // Right after the deleter removed the (absent) manifest and goes for the commit: the other
    // writer publishes and unmarks.
    if (raced || path.find("/_delta_log/") == std::string_view::npos) return;
    raced = true;
    ASSERT_TRUE(env.dst_storage->PutIfAbsent(manifest, *text).ok());
    ASSERT_TRUE(env.dst_storage->Delete("snaps/_snapshots/" + id + ".writing").ok());
  };
  ASSERT_TRUE(DeleteSnapshot({"snaps", &hooked, "snaps"}, id).ok());
  EXPECT_TRUE(raced);
  EXPECT_FALSE(fs::exists(env.TargetDir() + "/_snapshots/" + id + ".json"));
  auto listed = ListSnapshots(env.Target());
  ASSERT_TRUE(listed.ok()) << listed.status();
  EXPECT_TRUE(listed->empty());
}

TEST(SnapshotRunTest, KeepWithinOnTheClock) {
  LAKESYNC_SKIP_WITHOUT_FIXTURES();
  Env env;
  ManualClock clock(kT0);
  SnapshotOptions opts;
  opts.keep_within = std::chrono::hours(2);
  opts.skip_unchanged = false;
  opts.clock = &clock;
  RecordingObserver obs;
  auto first = RunSnapshot(env.Source("simple_table"), env.Target(), opts, obs);
  ASSERT_TRUE(first.ok()) << first.status();
  clock.Advance(std::chrono::hours(2));  // exactly keep_within later: kept
  auto second = RunSnapshot(env.Source("simple_table"), env.Target(), opts, obs);
  ASSERT_TRUE(second.ok());
  EXPECT_TRUE(second->deleted.empty());
  EXPECT_EQ(second->snapshots.size(), 2u);
  // A skipped run (unchanged source) still applies retention once time has passed.
  opts.skip_unchanged = true;
  clock.Advance(std::chrono::seconds(1));
  auto third = RunSnapshot(env.Source("simple_table"), env.Target(), opts, obs);
  ASSERT_TRUE(third.ok());
  EXPECT_FALSE(third->created.has_value());
  EXPECT_EQ(third->unchanged_since, second->created->id);
  EXPECT_EQ(third->deleted, std::vector<std::string>{first->created->id});
  // Far in the future the newest survives alone.
  clock.Advance(std::chrono::hours(1000));
  auto fourth = RunSnapshot(env.Source("simple_table"), env.Target(), opts, obs);
  ASSERT_TRUE(fourth.ok());
  ASSERT_EQ(fourth->snapshots.size(), 1u);
  EXPECT_EQ(fourth->snapshots[0].id, second->created->id);
}

TEST(SnapshotRunTest, AsOfPicksTheVersionByTheCommitFilesTimes) {
  LAKESYNC_SKIP_WITHOUT_FIXTURES();
  // Delta's rule: a commit's time is its file's modification time. Commit k of a copy of
  // simple_table is given T + k min, far from its commitInfo timestamps (2020).
  Env env;
  const TimePoint t = FromUnixMillis(1'800'000'000'000);
  TableLocation source = env.TimedCopy("simple_table", t);
  SnapshotOptions opts;
  opts.as_of = t + std::chrono::seconds(150);  // between v2 (T + 120 s) and v3 (T + 180 s)
  RecordingObserver obs;
  auto out = RunSnapshot(source, env.Target(), opts, obs);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->version, 2);
  ASSERT_TRUE(out->created.has_value());
  EXPECT_EQ(out->created->commit_timestamp, t + std::chrono::seconds(120));
  opts.as_of = FromUnixMillis(1587968620000);  // v3's commitInfo time: before every commit here
  auto early = RunSnapshot(source, env.Target(), opts, obs);
  EXPECT_TRUE(early.status().IsNotFound()) << early.status();
}

TEST(SnapshotRunTest, AsOfPicksTheVersionByCommitInfoWhenChosen) {
  LAKESYNC_SKIP_WITHOUT_FIXTURES();
  // simple_table's commitInfo timestamps (read by hand from its log): v3 1587968614187,
  // v4 1587968626537.
  Env env;
  SnapshotOptions opts;
  opts.timestamps = delta::NonIctTimestampPolicy::kCommitInfoThenFile;
  opts.as_of = FromUnixMillis(1587968620000);
  RecordingObserver obs;
  auto out = RunSnapshot(env.Source("simple_table"), env.Target(), opts, obs);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->version, 3);
  EXPECT_EQ(ToUnixMillis(out->created->commit_timestamp), 1587968614187);
  opts.as_of = FromUnixMillis(1000);
  auto early = RunSnapshot(env.Source("simple_table"), env.Target(), opts, obs);
  EXPECT_TRUE(early.status().IsNotFound()) << early.status();
}

// A failpoint handler that throws stands in for SIGKILL: the run stops right there and none
// of its later steps (cleanup included) happen. (The e2e test kills the real binary.)
struct Crash : std::runtime_error {
  Crash() : std::runtime_error("crash") {}
};

class FailpointGuard {
 public:
  explicit FailpointGuard(const std::string& spec) {
    EXPECT_TRUE(failpoint_testing::Enable(spec).ok());
    failpoint_testing::SetHandler([](std::string_view) { throw Crash(); });
  }
  ~FailpointGuard() { failpoint_testing::Reset(); }
};

TEST(SnapshotCrashTest, KilledBeforeManifestIsInvisibleAndCleanedNextRun) {
  LAKESYNC_SKIP_WITHOUT_FIXTURES();
  Env env;
  ManualClock clock(kT0);
  SnapshotOptions opts;
  opts.clock = &clock;
  RecordingObserver obs;
  std::string half;
  {
    FailpointGuard fp("snapshot.before_manifest");
    EXPECT_THROW((void)RunSnapshot(env.Source("table-with-dv-small"), env.Target(), opts, obs),
                 Crash);
  }
  auto listed = ListSnapshots(env.Target());
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].status, SnapshotStatus::kWriting);
  half = (*listed)[0].id;
  EXPECT_FALSE(FilesUnder(env.TargetDir() + "/" + half).empty());  // files and commit written
  auto complete = CompleteSnapshots(env.Target());
  ASSERT_TRUE(complete.ok());
  EXPECT_TRUE(complete->empty());

  clock.Advance(std::chrono::hours(1));
  auto next = RunSnapshot(env.Source("table-with-dv-small"), env.Target(), opts, obs);
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->cleaned, std::vector<std::string>{half});
  ASSERT_TRUE(next->created.has_value());  // the half one never counted: not "unchanged"
  EXPECT_EQ(FilesUnder(env.TargetDir() + "/" + half), std::vector<std::string>{});
  EXPECT_EQ(CheckSnapshot(FixturesDir() + "/table-with-dv-small",
                          env.TargetDir() + "/" + next->created->id, 1, false,
                          env.TargetDir() + "/_snapshots/" + next->created->id + ".json"),
            "");
}

TEST(SnapshotCrashTest, KilledMidRetentionNeverListsTheHalfDeletedOne) {
  LAKESYNC_SKIP_WITHOUT_FIXTURES();
  Env env;
  ManualClock clock(kT0);
  SnapshotOptions opts;
  opts.clock = &clock;
  opts.skip_unchanged = false;
  RecordingObserver obs;
  auto first = RunSnapshot(env.Source("simple_table"), env.Target(), opts, obs);
  ASSERT_TRUE(first.ok());
  clock.Advance(std::chrono::hours(1));
  opts.keep_last = 1;
  {
    FailpointGuard fp("snapshot.mid_retention");
    EXPECT_THROW((void)RunSnapshot(env.Source("simple_table"), env.Target(), opts, obs), Crash);
  }
  auto listed = ListSnapshots(env.Target());
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ((*listed)[0].status, SnapshotStatus::kComplete);
  EXPECT_NE((*listed)[0].id, first->created->id);
  EXPECT_EQ((*listed)[1].id, first->created->id);
  EXPECT_EQ((*listed)[1].status, SnapshotStatus::kDeleting);
  // Its commit is gone before its data files: no reader sees a torn table.
  EXPECT_FALSE(
      fs::exists(env.TargetDir() + "/" + first->created->id + "/_delta_log/" + CommitName(0)));

  clock.Advance(std::chrono::hours(1));
  opts.skip_unchanged = true;
  auto next = RunSnapshot(env.Source("simple_table"), env.Target(), opts, obs);
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->cleaned, std::vector<std::string>{first->created->id});
  EXPECT_EQ(FilesUnder(env.TargetDir() + "/" + first->created->id), std::vector<std::string>{});
  EXPECT_EQ(next->snapshots.size(), 1u);
}

TEST(SnapshotRunTest, CancelledOrFencedRunLeavesNothing) {
  LAKESYNC_SKIP_WITHOUT_FIXTURES();
  Env env;
  SnapshotOptions opts;
  RecordingObserver cancel;
  cancel.cancel_after_checks = 3;
  auto out = RunSnapshot(env.Source("simple_table_with_checkpoint"), env.Target(), opts, cancel);
  EXPECT_TRUE(out.status().code() == StatusCode::kCancelled) << out.status();
  EXPECT_EQ(FilesUnder(env.TargetDir()), std::vector<std::string>{});

  RecordingObserver fenced;
  fenced.refuse_publish_at = 0;
  out = RunSnapshot(env.Source("simple_table_with_checkpoint"), env.Target(), opts, fenced);
  EXPECT_TRUE(out.status().IsConflict()) << out.status();
  EXPECT_EQ(FilesUnder(env.TargetDir()), std::vector<std::string>{});
}

// A run that lost its lock while writing: another run took the job over and cleaned the
// half-written snapshot up (marker and files) before this one reached its manifest. It must
// fail, and the snapshot must not count.
TEST(SnapshotRunTest, SnapshotRemovedByATakeOverIsAbandonedNotPublished) {
  LAKESYNC_SKIP_WITHOUT_FIXTURES();
  Env env;
  SnapshotOptions opts;
  RecordingObserver obs;
  ASSERT_TRUE(failpoint_testing::Enable("snapshot.before_manifest").ok());
  failpoint_testing::SetHandler([&](std::string_view) {
    for (const auto& e : fs::directory_iterator(env.TargetDir() + "/_snapshots")) {
      const std::string name = e.path().filename().string();
      if (name.size() > 8 && name.substr(name.size() - 8) == ".writing") {
        fs::remove_all(env.TargetDir() + "/" + name.substr(0, name.size() - 8));
        fs::remove(e.path());
      }
    }
  });
  auto out = RunSnapshot(env.Source("simple_table"), env.Target(), opts, obs);
  failpoint_testing::Reset();
  EXPECT_TRUE(out.status().IsConflict()) << out.status();
  EXPECT_NE(out.status().message().find("removed by another run"), std::string::npos)
      << out.status();
  auto complete = CompleteSnapshots(env.Target());
  ASSERT_TRUE(complete.ok()) << complete.status();
  EXPECT_TRUE(complete->empty());
  for (const auto& f : FilesUnder(env.TargetDir() + "/_snapshots")) {
    EXPECT_EQ(f.find(".json"), std::string::npos) << f;  // no manifest left behind
  }
}

// A clock that stepped back sorts the new snapshot below an older one; with keep_last: 1 the
// run must still keep the snapshot it just wrote.
TEST(SnapshotRunTest, ClockSteppedBackNeverDeletesTheSnapshotJustWritten) {
  LAKESYNC_SKIP_WITHOUT_FIXTURES();
  Env env;
  ManualClock clock(kT0 + std::chrono::hours(5));
  SnapshotOptions opts;
  opts.keep_last = 1;
  opts.skip_unchanged = false;
  opts.clock = &clock;
  RecordingObserver obs;
  auto first = RunSnapshot(env.Source("simple_table"), env.Target(), opts, obs);
  ASSERT_TRUE(first.ok()) << first.status();
  clock.Advance(-std::chrono::hours(2));
  auto second = RunSnapshot(env.Source("simple_table"), env.Target(), opts, obs);
  ASSERT_TRUE(second.ok()) << second.status();
  ASSERT_TRUE(second->created.has_value());
  EXPECT_TRUE(second->deleted.empty());
  auto complete = CompleteSnapshots(env.Target());
  ASSERT_TRUE(complete.ok()) << complete.status();
  std::vector<std::string> ids;
  for (const auto& m : *complete) ids.push_back(m.id);
  EXPECT_NE(std::find(ids.begin(), ids.end(), second->created->id), ids.end());
}

// The listing after retention fails: the run still reports the snapshots it knows of (the
// listing before, less what it deleted) and says the retention step failed (the old code
// reported no snapshot at all, and success).
TEST(SnapshotRunTest, FailedListingAfterRetentionIsReportedNotIgnored) {
  LAKESYNC_SKIP_WITHOUT_FIXTURES();
  SnapshotOptions opts;
  opts.keep_last = 1;
  opts.skip_unchanged = false;
  using Op = storage::FaultInjectingStorage::Op;
  // Two runs an hour apart on a fresh target; `fail_list` > 0 fails that listing of the
  // second run. Returns the second run's outcome, the first one's id and its listing count.
  struct Runs {
    Result<SnapshotOutcome> second;
    std::string first_id;
    int lists = 0;
  };
  auto two_runs = [&](int fail_list) {
    Env env;
    ManualClock clock(kT0);
    opts.clock = &clock;
    storage::FaultInjectingStorage faulty(*env.dst_storage);
    TableLocation target{"snaps", &faulty, "snaps"};
    RecordingObserver obs;
    auto first = RunSnapshot(env.Source("simple_table"), target, opts, obs);
    EXPECT_TRUE(first.ok() && first->created.has_value()) << first.status();
    clock.Advance(std::chrono::hours(1));
    const int before = faulty.Calls(Op::kList);
    if (fail_list > 0)
      faulty.FailNth(Op::kList, fail_list, Status::IOError("listing failed (test)"));
    Runs r{RunSnapshot(env.Source("simple_table"), target, opts, obs),
           first.ok() && first->created ? first->created->id : "", 0};
    r.lists = faulty.Calls(Op::kList) - before;
    return r;
  };
  // How many listings the second run makes (the last is the one after retention).
  const int lists = two_runs(0).lists;
  ASSERT_GT(lists, 1);
  auto runs = two_runs(lists);
  auto& second = runs.second;
  ASSERT_TRUE(second.ok()) << second.status();
  ASSERT_TRUE(second->created.has_value());
  ASSERT_EQ(second->deleted, std::vector<std::string>{runs.first_id});
  EXPECT_EQ(second->retention.code(), StatusCode::kIOError) << second->retention;
  EXPECT_NE(second->retention.message().find("after retention"), std::string::npos)
      << second->retention;
  ASSERT_EQ(second->snapshots.size(), 1u);
  EXPECT_EQ(second->snapshots[0].id, second->created->id);
}

// A tiny table written by hand (protocol and properties chosen per test).
void WriteTable(const std::string& dir, const std::string& protocol,
                const std::string& configuration, const std::string& extra_v1 = "") {
  WriteFileBytes(dir + "/a.parquet", std::string(10, 'a'));
  WriteFileBytes(dir + "/b.parquet", std::string(7, 'b'));
  WriteFileBytes(
      dir + "/_delta_log/" + CommitName(0),
      "{\"commitInfo\":{\"timestamp\":1000,\"inCommitTimestamp\":1000}}\n" + protocol + "\n" +
          "{\"metaData\":{\"id\":\"src-id\",\"format\":{\"provider\":\"parquet\",\"options\":{}},"
          "\"schemaString\":\"{\\\"type\\\":\\\"struct\\\",\\\"fields\\\":[]}\","
          "\"partitionColumns\":[],\"configuration\":" +
          configuration +
          "}}\n"
          "{\"add\":{\"path\":\"a.parquet\",\"partitionValues\":{},\"size\":10,"
          "\"modificationTime\":1,\"dataChange\":true,\"stats\":\"{\\\"numRecords\\\":2}\"}}\n");
  WriteFileBytes(
      dir + "/_delta_log/" + CommitName(1),
      "{\"commitInfo\":{\"timestamp\":2000,\"inCommitTimestamp\":2000}}\n"
      "{\"add\":{\"path\":\"b.parquet\",\"partitionValues\":{},\"size\":7,"
      "\"modificationTime\":1,\"dataChange\":true,\"stats\":\"{\\\"numRecords\\\":3}\"}}\n" +
          extra_v1);
}

TEST(SnapshotFeaturesTest, UnknownWriterFeatureIsRefusedNamingIt) {
  TempDir dir;
  WriteTable(dir.path() + "/src",
             "{\"protocol\":{\"minReaderVersion\":1,\"minWriterVersion\":7,"
             "\"writerFeatures\":[\"appendOnly\",\"fancyNewThing\"]}}",
             "{}");
  auto st = OpenLocal(dir.path());
  RecordingObserver obs;
  auto out = RunSnapshot({"src", st.get(), "src"}, {"t", st.get(), "t"}, SnapshotOptions{}, obs);
  ASSERT_FALSE(out.ok());
  EXPECT_TRUE(out.status().code() == StatusCode::kUnsupported) << out.status();
  EXPECT_NE(out.status().message().find("fancyNewThing"), std::string::npos) << out.status();
  EXPECT_EQ(FilesUnder(dir.path() + "/t"), std::vector<std::string>{});
}

TEST(SnapshotFeaturesTest, InCommitTimestampsStartAtVersionZero) {
  TempDir dir;
  WriteTable(dir.path() + "/src",
             "{\"protocol\":{\"minReaderVersion\":1,\"minWriterVersion\":7,"
             "\"writerFeatures\":[\"inCommitTimestamp\"]}}",
             "{\"delta.enableInCommitTimestamps\":\"true\","
             "\"delta.inCommitTimestampEnablementVersion\":\"0\","
             "\"delta.inCommitTimestampEnablementTimestamp\":\"1000\"}");
  auto st = OpenLocal(dir.path());
  ManualClock clock(kT0);
  SnapshotOptions opts;
  opts.clock = &clock;
  RecordingObserver obs;
  auto out = RunSnapshot({"src", st.get(), "src"}, {"t", st.get(), "t"}, opts, obs);
  ASSERT_TRUE(out.ok()) << out.status();
  const std::string commit =
      ReadFileBytes(dir.path() + "/t/" + out->created->id + "/_delta_log/" + CommitName(0));
  EXPECT_EQ(commit.rfind("{\"commitInfo\":{\"inCommitTimestamp\":1795312800000,", 0), 0u) << commit;
  EXPECT_EQ(commit.find("EnablementVersion"), std::string::npos) << commit;
  EXPECT_EQ(commit.find("EnablementTimestamp"), std::string::npos) << commit;
  EXPECT_EQ(CheckSnapshot(dir.path() + "/src", dir.path() + "/t/" + out->created->id, 1, false,
                          dir.path() + "/t/_snapshots/" + out->created->id + ".json"),
            "");
  EXPECT_FALSE(out->created->notes.empty());
}

TEST(SnapshotFeaturesTest, RowTrackingWithoutHighWaterMarkFailsNamingIt) {
  TempDir dir;
  // Adds carry baseRowIds but no delta.rowTracking domain records the high-water mark.
  WriteTable(dir.path() + "/src",
             "{\"protocol\":{\"minReaderVersion\":1,\"minWriterVersion\":7,"
             "\"writerFeatures\":[\"rowTracking\",\"domainMetadata\"]}}",
             "{\"delta.enableRowTracking\":\"true\"}");
  auto st = OpenLocal(dir.path());
  RecordingObserver obs;
  auto out = RunSnapshot({"src", st.get(), "src"}, {"t", st.get(), "t"}, SnapshotOptions{}, obs);
  ASSERT_FALSE(out.ok());
  EXPECT_TRUE(out.status().code() == StatusCode::kUnsupported) << out.status();
  EXPECT_NE(out.status().message().find("rowTracking"), std::string::npos) << out.status();
  EXPECT_NE(out.status().message().find("a.parquet"), std::string::npos) << out.status();
}

TEST(SnapshotLagTest, NewestSnapshotAgainstTheSourceHead) {
  LAKESYNC_SKIP_WITHOUT_FIXTURES();
  Env env;
  const TimePoint t = FromUnixMillis(1'800'000'000'000);
  TableLocation source = env.TimedCopy("simple_table", t);  // commit k at T + k min
  const TimePoint now = t + std::chrono::seconds(3 * 60 + 10);
  auto none = ComputeSnapshotLag(source, env.Target(), now);
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_EQ(none->snapshots, 0);
  EXPECT_FALSE(none->newest_version.has_value());
  EXPECT_EQ(none->versions, 5);  // versions 0..4 held by no snapshot
  SnapshotOptions opts;
  opts.version = 2;
  RecordingObserver obs;
  ASSERT_TRUE(RunSnapshot(source, env.Target(), opts, obs).ok());
  auto lag = ComputeSnapshotLag(source, env.Target(), now);
  ASSERT_TRUE(lag.ok()) << lag.status();
  EXPECT_EQ(lag->source_version, 4);
  EXPECT_EQ(lag->newest_version, 2);
  EXPECT_EQ(lag->snapshots, 1);
  EXPECT_EQ(lag->versions, 2);
  EXPECT_DOUBLE_EQ(lag->seconds, 10.0);  // from version 3, the oldest no snapshot holds
}

}  // namespace
}  // namespace lakesync::jobs
