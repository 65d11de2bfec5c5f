#pragma once

// The behaviour every StateStore promises, written once and run against each implementation
// (MemoryStateStore in db_test, PgStateStore on a real PostgreSQL in db_pg_test), so the fake
// the runner's unit tests use cannot drift from the real store.
//
// Instantiate with a Factory type that has `std::unique_ptr<StateStore> Make()` (nullptr to skip
// the test; then `std::string SkipReason()` says why).

#include <chrono>
#include <memory>

#include <gtest/gtest.h>

#include "db/state_store.h"

namespace lakesync::db {

template <typename Factory>
class StateStoreContractTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = factory_.Make();
    if (store_ == nullptr) GTEST_SKIP() << factory_.SkipReason();
  }

  // 2026-11-23T02:00:00.123456Z: sub-millisecond digits that every store must drop.
  static TimePoint T0() { return FromUnixMillis(1795399200123) + std::chrono::microseconds(456); }
  static TimePoint Ms(int64_t ms) { return FromUnixMillis(ms); }
  static TargetResult NamedTarget(std::string name) {
    TargetResult t;
    t.target = std::move(name);
    return t;
  }

  static RunStart Start(std::string job, TimePoint at) {
    RunStart s;
    s.job = std::move(job);
    s.kind = "incremental";
    s.trigger = Trigger::kSchedule;
    s.attempt = 1;
    s.runner_id = "runner-a";
    s.started_at = at;
    return s;
  }

  Factory factory_;
  std::unique_ptr<StateStore> store_;
};

TYPED_TEST_SUITE_P(StateStoreContractTest);

TYPED_TEST_P(StateStoreContractTest, RunRoundTripWithTwoTargets) {
  StateStore& store = *this->store_;
  RunStart start = this->Start("sales_dr", this->T0());
  start.trigger = Trigger::kRetry;
  start.attempt = 2;
  Result<int64_t> id = store.StartRun(start);
  ASSERT_TRUE(id.ok()) << id.status();

  // Running: no heartbeat, no finish, no targets.
  Result<std::optional<RunRecord>> running = store.LastRun("sales_dr");
  ASSERT_TRUE(running.ok()) << running.status();
  ASSERT_TRUE(running->has_value());
  EXPECT_EQ((*running)->id, *id);
  EXPECT_EQ((*running)->status, RunStatus::kRunning);
  EXPECT_FALSE((*running)->heartbeat_at.has_value());
  EXPECT_FALSE((*running)->finished_at.has_value());
  EXPECT_TRUE((*running)->targets.empty());

  ASSERT_TRUE(store.HeartbeatRun(*id, this->T0() + std::chrono::seconds(30)).ok());

  RunFinish finish;
  finish.status = RunStatus::kPartial;
  finish.finished_at =
      this->T0() + std::chrono::milliseconds(61'000) + std::chrono::microseconds(999);
  finish.source_version = 42;
  finish.target_version = 40;
  finish.commits = 7;
  finish.files = 12;
  finish.bytes = 5'000'000'000;  // above 2^32: must survive as a 64-bit integer
  finish.rows = 1234;
  finish.error = "target westus: No space left on device";
  // Deliberately not in name order: the store keeps the order the runner reported.
  TargetResult west{"westus:/delta/sales", 35, 42, 7, 12, 5'000'000'000, 1234,
                    RunStatus::kSucceeded, ""};
  TargetResult east2{
      "eastus2:/delta/sales",   std::nullopt, std::nullopt, 0, 0, 0, 0, RunStatus::kFailed,
      "No space left on device"};
  finish.targets = {west, east2};
  Status finished = store.FinishRun(*id, finish);
  ASSERT_TRUE(finished.ok()) << finished;

  // Expected, worked out by hand: every time truncated to the whole millisecond.
  //   started  1795399200123ms + 456us                  -> 1795399200123
  //   heartbeat started + 30s                           -> 1795399230123
  //   finished started + 61000ms + 999us = ...261123ms + 1455us -> 1795399261124
  RunRecord expected;
  expected.id = *id;
  expected.start = start;
  expected.start.started_at = this->Ms(1795399200123);
  expected.heartbeat_at = this->Ms(1795399230123);
  expected.finished_at = this->Ms(1795399261124);
  expected.status = RunStatus::kPartial;
  expected.source_version = 42;
  expected.target_version = 40;
  expected.commits = 7;
  expected.files = 12;
  expected.bytes = 5'000'000'000;
  expected.rows = 1234;
  expected.error = "target westus: No space left on device";
  expected.targets = {west, east2};

  Result<std::optional<RunRecord>> last = store.LastRun("sales_dr");
  ASSERT_TRUE(last.ok()) << last.status();
  ASSERT_TRUE(last->has_value());
  EXPECT_EQ(**last, expected);

  Result<std::vector<RunRecord>> list = store.ListRuns("sales_dr", 10);
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ(list->front(), expected);
}

TYPED_TEST_P(StateStoreContractTest, FinishTwiceIsConflictAndKeepsTheFirstOutcome) {
  StateStore& store = *this->store_;
  Result<int64_t> id = store.StartRun(this->Start("job", this->T0()));
  ASSERT_TRUE(id.ok()) << id.status();
  RunFinish first;
  first.status = RunStatus::kSucceeded;
  first.finished_at = this->T0();
  first.targets = {TargetResult{"t1", 0, 1, 1, 1, 1, 1, RunStatus::kSucceeded, ""}};
  ASSERT_TRUE(store.FinishRun(*id, first).ok());

  RunFinish second = first;
  second.status = RunStatus::kFailed;
  second.error = "late";
  Status again = store.FinishRun(*id, second);
  EXPECT_EQ(again.code(), StatusCode::kConflict) << again;

  Status heartbeat = store.HeartbeatRun(*id, this->T0());
  EXPECT_EQ(heartbeat.code(), StatusCode::kConflict) << heartbeat;

  Result<std::optional<RunRecord>> last = store.LastRun("job");
  ASSERT_TRUE(last.ok() && last->has_value());
  EXPECT_EQ((*last)->status, RunStatus::kSucceeded);
  EXPECT_EQ((*last)->error, "");
  EXPECT_EQ((*last)->targets.size(), 1u);
}

// The end of a run in one call: the versions, then the outcome; a second end is Conflict.
TYPED_TEST_P(StateStoreContractTest, FinishRunWithVersionsRecordsBothAndKeepsTheFirstOutcome) {
  StateStore& store = *this->store_;
  Result<int64_t> id = store.StartRun(this->Start("job", this->T0()));
  ASSERT_TRUE(id.ok()) << id.status();
  std::vector<TargetVersion> versions = {{"job", "w:/a", 4, 9, this->T0(), *id},
                                         {"job", "e:/b", 2, 9, this->T0(), *id}};
  RunFinish finish;
  finish.status = RunStatus::kPartial;
  finish.finished_at = this->T0() + std::chrono::seconds(2);
  finish.error = "e:/b: failed";
  finish.targets = {TargetResult{"w:/a", 0, 4, 5, 6, 7, 8, RunStatus::kSucceeded, ""},
                    TargetResult{"e:/b", 0, 2, 3, 3, 3, 3, RunStatus::kFailed, "failed"}};
  ASSERT_TRUE(store.FinishRunWithVersions(*id, versions, finish).ok());

  Result<std::vector<TargetVersion>> got = store.TargetVersions("job");
  ASSERT_TRUE(got.ok()) << got.status();
  std::vector<TargetVersion> expected = {{"job", "e:/b", 2, 9, this->Ms(1795399200123), *id},
                                         {"job", "w:/a", 4, 9, this->Ms(1795399200123), *id}};
  EXPECT_EQ(*got, expected);
  Result<std::optional<RunRecord>> last = store.LastRun("job");
  ASSERT_TRUE(last.ok() && last->has_value());
  EXPECT_EQ((*last)->status, RunStatus::kPartial);
  EXPECT_EQ((*last)->error, "e:/b: failed");
  ASSERT_EQ((*last)->targets.size(), 2u);
  EXPECT_EQ((*last)->targets[1].target, "e:/b");
  EXPECT_EQ((*last)->targets[1].error, "failed");

  RunFinish late = finish;
  late.status = RunStatus::kSucceeded;
  Status again = store.FinishRunWithVersions(*id, {}, late);
  EXPECT_EQ(again.code(), StatusCode::kConflict) << again;
  Status unknown = store.FinishRunWithVersions(*id + 1000, {}, finish);
  EXPECT_TRUE(unknown.IsNotFound()) << unknown;
  last = store.LastRun("job");
  ASSERT_TRUE(last.ok() && last->has_value());
  EXPECT_EQ((*last)->status, RunStatus::kPartial);
}

TYPED_TEST_P(StateStoreContractTest, UnknownRunIsNotFound) {
  StateStore& store = *this->store_;
  RunFinish finish;
  finish.finished_at = this->T0();
  Status s = store.FinishRun(987654, finish);
  EXPECT_EQ(s.code(), StatusCode::kNotFound) << s;
  s = store.HeartbeatRun(987654, this->T0());
  EXPECT_EQ(s.code(), StatusCode::kNotFound) << s;
}

TYPED_TEST_P(StateStoreContractTest, ListRunsIsNewestFirstPerJobAndHonoursLimit) {
  StateStore& store = *this->store_;
  TimePoint t = this->T0();
  // Started out of id order: b is newest, then c, then a.
  Result<int64_t> a = store.StartRun(this->Start("j", t));
  Result<int64_t> b = store.StartRun(this->Start("j", t + std::chrono::seconds(2)));
  Result<int64_t> c = store.StartRun(this->Start("j", t + std::chrono::seconds(1)));
  // Same start as c: the higher id (d) counts as newer.
  Result<int64_t> d = store.StartRun(this->Start("j", t + std::chrono::seconds(1)));
  Result<int64_t> other = store.StartRun(this->Start("other", t + std::chrono::seconds(9)));
  ASSERT_TRUE(a.ok() && b.ok() && c.ok() && d.ok() && other.ok());
  EXPECT_LT(*a, *b);
  EXPECT_LT(*b, *c);
  EXPECT_LT(*c, *d);

  Result<std::vector<RunRecord>> all = store.ListRuns("j", 10);
  ASSERT_TRUE(all.ok()) << all.status();
  std::vector<int64_t> ids;
  for (const RunRecord& r : *all) ids.push_back(r.id);
  EXPECT_EQ(ids, (std::vector<int64_t>{*b, *d, *c, *a}));

  Result<std::vector<RunRecord>> two = store.ListRuns("j", 2);
  ASSERT_TRUE(two.ok());
  ASSERT_EQ(two->size(), 2u);
  EXPECT_EQ((*two)[0].id, *b);
  EXPECT_EQ((*two)[1].id, *d);

  Result<std::optional<RunRecord>> last = store.LastRun("j");
  ASSERT_TRUE(last.ok() && last->has_value());
  EXPECT_EQ((*last)->id, *b);

  Result<std::optional<RunRecord>> none = store.LastRun("never_ran");
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_FALSE(none->has_value());
  Result<std::vector<RunRecord>> empty = store.ListRuns("never_ran", 5);
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

// The newest success, however many runs failed after it (a daemon restarted during an outage
// seeds lakesync_last_success_timestamp_seconds from it).
TYPED_TEST_P(StateStoreContractTest, LastSuccessAtLooksPastAnyNumberOfFailures) {
  StateStore& store = *this->store_;
  const TimePoint t = this->T0();
  auto finish = [&](const std::string& job, int seconds, RunStatus status) {
    Result<int64_t> id = store.StartRun(this->Start(job, t + std::chrono::seconds(seconds)));
    ASSERT_TRUE(id.ok()) << id.status();
    RunFinish f;
    f.status = status;
    f.finished_at = t + std::chrono::seconds(seconds) + std::chrono::milliseconds(500);
    if (status != RunStatus::kSucceeded) f.error = "boom";
    ASSERT_TRUE(store.FinishRun(*id, f).ok());
  };
  finish("j", 1, RunStatus::kSucceeded);
  finish("j", 2, RunStatus::kSucceeded);
  for (int i = 3; i < 40; ++i) finish("j", i, RunStatus::kFailed);
  finish("only_failures", 1, RunStatus::kFailed);
  Result<std::optional<TimePoint>> last = store.LastSuccessAt("j");
  ASSERT_TRUE(last.ok()) << last.status();
  ASSERT_TRUE(last->has_value());
  EXPECT_EQ(ToUnixMillis(**last), 1795399200123 + 2'500);  // T0 + 2.5 s, to the millisecond
  Result<std::optional<TimePoint>> none = store.LastSuccessAt("only_failures");
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_FALSE(none->has_value());
  Result<std::optional<TimePoint>> never = store.LastSuccessAt("never_ran");
  ASSERT_TRUE(never.ok()) << never.status();
  EXPECT_FALSE(never->has_value());
}

TYPED_TEST_P(StateStoreContractTest, SetTargetVersionUpsertsPerJobAndTarget) {
  StateStore& store = *this->store_;
  TargetVersion a1{"job", "westus:/a", 3, 3, this->T0(), std::nullopt};
  TargetVersion b1{"job", "eastus:/b", 1, std::nullopt, this->T0(), 7};
  TargetVersion other{"job2", "westus:/a", 100, 100, this->T0(), std::nullopt};
  ASSERT_TRUE(store.SetTargetVersion(a1).ok());
  ASSERT_TRUE(store.SetTargetVersion(b1).ok());
  ASSERT_TRUE(store.SetTargetVersion(other).ok());
  TargetVersion a2{"job", "westus:/a", 5, 6, this->T0() + std::chrono::seconds(1), 8};
  ASSERT_TRUE(store.SetTargetVersion(a2).ok());

  Result<std::vector<TargetVersion>> versions = store.TargetVersions("job");
  ASSERT_TRUE(versions.ok()) << versions.status();
  // Sorted by target name ("eastus..." < "westus..."); a2 replaced a1; times in whole ms.
  std::vector<TargetVersion> expected = {
      {"job", "eastus:/b", 1, std::nullopt, this->Ms(1795399200123), 7},
      {"job", "westus:/a", 5, 6, this->Ms(1795399201123), 8},
  };
  EXPECT_EQ(*versions, expected);

  Result<std::vector<TargetVersion>> none = store.TargetVersions("nojob");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TYPED_TEST_P(StateStoreContractTest, ValuesAreNeverSqlText) {
  // A job name full of SQL metacharacters round-trips unchanged (and breaks nothing).
  StateStore& store = *this->store_;
  std::string job = "o'brien\"; DROP TABLE runs; -- \\ $1 ünïcode";
  ASSERT_TRUE(store.SyncJobs({{job, "snapshot"}}).ok());
  RunStart start = this->Start(job, this->T0());
  start.runner_id = "host'1";
  Result<int64_t> id = store.StartRun(start);
  ASSERT_TRUE(id.ok()) << id.status();
  Result<std::optional<RunRecord>> last = store.LastRun(job);
  ASSERT_TRUE(last.ok() && last->has_value()) << last.status();
  EXPECT_EQ((*last)->start.job, job);
  EXPECT_EQ((*last)->start.runner_id, "host'1");
}

TYPED_TEST_P(StateStoreContractTest, RejectsArgumentsThatBreakTheContract) {
  StateStore& store = *this->store_;
  RunStart no_job = this->Start("", this->T0());
  EXPECT_EQ(store.StartRun(no_job).status().code(), StatusCode::kInvalidArgument);
  RunStart attempt0 = this->Start("j", this->T0());
  attempt0.attempt = 0;
  EXPECT_EQ(store.StartRun(attempt0).status().code(), StatusCode::kInvalidArgument);

  Result<int64_t> id = store.StartRun(this->Start("j", this->T0()));
  ASSERT_TRUE(id.ok());
  RunFinish still_running;
  still_running.status = RunStatus::kRunning;
  EXPECT_EQ(store.FinishRun(*id, still_running).code(), StatusCode::kInvalidArgument);
  RunFinish duplicate;
  duplicate.targets = {this->NamedTarget("t"), this->NamedTarget("t")};
  EXPECT_EQ(store.FinishRun(*id, duplicate).code(), StatusCode::kInvalidArgument);
  // The rejected finishes changed nothing: the run is still running.
  Result<std::optional<RunRecord>> last = store.LastRun("j");
  ASSERT_TRUE(last.ok() && last->has_value());
  EXPECT_EQ((*last)->status, RunStatus::kRunning);

  EXPECT_EQ(store.ListRuns("j", 0).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store.SyncJobs({{"", "incremental"}}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(
      store.SetTargetVersion(TargetVersion{"j", "", 1, std::nullopt, {}, std::nullopt}).code(),
      StatusCode::kInvalidArgument);
}

TYPED_TEST_P(StateStoreContractTest, JobLockAndAbandonedRuns) {
  StateStore& store = *this->store_;
  Result<int64_t> dead = store.StartRun(this->Start("locked_job", this->T0()));
  ASSERT_TRUE(dead.ok()) << dead.status();
  Result<int64_t> other = store.StartRun(this->Start("other_job", this->T0()));
  ASSERT_TRUE(other.ok()) << other.status();
  Result<bool> taken = store.TryLockJob("locked_job");
  ASSERT_TRUE(taken.ok()) << taken.status();
  EXPECT_TRUE(*taken);
  EXPECT_TRUE(*store.TryLockJob("locked_job"));  // held by this session already
  Result<int> abandoned = store.AbandonRuns("locked_job", "the process died", this->Ms(2000));
  ASSERT_TRUE(abandoned.ok()) << abandoned.status();
  EXPECT_EQ(*abandoned, 1);
  auto last = store.LastRun("locked_job");
  ASSERT_TRUE(last.ok() && last->has_value());
  EXPECT_EQ((*last)->status, RunStatus::kFailed);
  EXPECT_EQ((*last)->error, "the process died");
  ASSERT_TRUE((*last)->finished_at.has_value());
  EXPECT_EQ(ToUnixMillis(*(*last)->finished_at), 2000);
  // Another job's running run is untouched.
  auto other_last = store.LastRun("other_job");
  ASSERT_TRUE(other_last.ok() && other_last->has_value());
  EXPECT_EQ((*other_last)->status, RunStatus::kRunning);
  EXPECT_TRUE(store.UnlockJob("locked_job").ok());
  EXPECT_TRUE(store.UnlockJob("locked_job").IsNotFound());
}

TYPED_TEST_P(StateStoreContractTest, SnapshotRecordsUpsertListAndDelete) {
  StateStore& store = *this->store_;
  SnapshotRecord a;
  a.job = "nightly";
  a.snapshot_id = "20261123T020000Z-v4";
  a.target = "westus:/snaps";
  a.source_version = 4;
  a.commit_timestamp = this->T0() - std::chrono::hours(1);
  a.files = 5;
  a.bytes = 1811;
  a.rows = 3;
  a.status = SnapshotRecordStatus::kWriting;
  a.created_at = this->T0();
  SnapshotRecord b = a;
  b.snapshot_id = "20261123T030000Z-v5";
  b.source_version = 5;
  b.commit_timestamp = std::nullopt;
  b.status = SnapshotRecordStatus::kComplete;
  b.created_at = this->T0() + std::chrono::hours(1);
  SnapshotRecord other = a;
  other.job = "other";
  ASSERT_TRUE(store.UpsertSnapshot(a).ok());
  ASSERT_TRUE(store.UpsertSnapshot(b).ok());
  ASSERT_TRUE(store.UpsertSnapshot(other).ok());
  a.status = SnapshotRecordStatus::kComplete;  // the run finished writing it
  ASSERT_TRUE(store.UpsertSnapshot(a).ok());

  auto listed = store.Snapshots("nightly");
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->size(), 2u);
  SnapshotRecord want_a = a;
  want_a.created_at = TruncateToMillis(a.created_at);
  want_a.commit_timestamp = TruncateToMillis(*a.commit_timestamp);
  SnapshotRecord want_b = b;
  want_b.created_at = TruncateToMillis(b.created_at);
  EXPECT_EQ((*listed)[0], want_b);  // newest first
  EXPECT_EQ((*listed)[1], want_a);

  auto marked = store.MarkSnapshotDeleted("nightly", a.snapshot_id, this->Ms(1795406400000));
  ASSERT_TRUE(marked.ok());
  EXPECT_TRUE(*marked);
  auto unknown = store.MarkSnapshotDeleted("nightly", "nope", this->T0());
  ASSERT_TRUE(unknown.ok());
  EXPECT_FALSE(*unknown);
  listed = store.Snapshots("nightly");
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ((*listed)[1].status, SnapshotRecordStatus::kDeleted);
  EXPECT_EQ((*listed)[1].deleted_at, this->Ms(1795406400000));
  EXPECT_EQ((*listed)[0].status, SnapshotRecordStatus::kComplete);

  SnapshotRecord bad = a;
  bad.snapshot_id.clear();
  EXPECT_EQ(store.UpsertSnapshot(bad).code(), StatusCode::kInvalidArgument);
  auto none = store.Snapshots("never");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

REGISTER_TYPED_TEST_SUITE_P(StateStoreContractTest, JobLockAndAbandonedRuns,
                            RunRoundTripWithTwoTargets,
                            FinishTwiceIsConflictAndKeepsTheFirstOutcome,
                            FinishRunWithVersionsRecordsBothAndKeepsTheFirstOutcome,
                            UnknownRunIsNotFound, ListRunsIsNewestFirstPerJobAndHonoursLimit,
                            LastSuccessAtLooksPastAnyNumberOfFailures,
                            SetTargetVersionUpsertsPerJobAndTarget, ValuesAreNeverSqlText,
                            RejectsArgumentsThatBreakTheContract,
                            SnapshotRecordsUpsertListAndDelete);

}  // namespace lakesync::db
