// Integration tests of db::Coordination (leases, run requests) and NotificationListener against
// a real PostgreSQL (LAKESYNC_TEST_DATABASE_URL; a fresh database per test; skipped loudly when
// unset).

#include "db/coordination.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "db/lease_keeper.h"
#include "db/pg_state_store.h"
#include "tests/pg_fixture.h"

namespace lakesync::db {
namespace {

using namespace std::chrono_literals;

class CoordinationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string base = lakesync::testing::TestDatabaseBaseUrl();
    if (base.empty()) {
      GTEST_SKIP() << "\n*** PostgreSQL integration test SKIPPED: LAKESYNC_TEST_DATABASE_URL is "
                      "not set. ***\nRun scripts/test.sh, or start one with scripts/pg.sh.\n";
    }
    db_ = std::make_unique<lakesync::testing::ScratchDatabase>(base);
    ASSERT_EQ(db_->Create(), "");
    auto store = PgStateStore::Connect(db_->url());
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    ASSERT_TRUE((*store)->Migrate().ok());
  }

  std::unique_ptr<Coordination> Open() {
    auto c = Coordination::Connect(db_->url());
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() ? std::move(*c) : nullptr;
  }

  std::unique_ptr<lakesync::testing::ScratchDatabase> db_;
};

// A scheduled run asks for the lease on condition that no other runner's run served its tick.
// cron: fire times are runner clock readings chosen here; the database's clock decides only the
// one-minute sanity bound, so the fire is put at the database's now.
TEST_F(CoordinationTest, ACronRunIsRefusedTheLeaseWhenAnotherRunnersRunServedItsFire) {
  auto a = Open();
  auto b = Open();
  ASSERT_TRUE(a && b);
  const TimePoint fire = FromUnixMillis(ToUnixMillis(SystemClock::Instance().Now()));
  const TickServed tick{TickServed::kTakenAtOrAfterFire, fire, Duration(0)};
  // No lease ever: granted.
  auto ga = a->AcquireLease("nightly", "runner-a", 30s, fire + 5ms, tick);
  ASSERT_TRUE(ga.ok()) << ga.status().ToString();
  ASSERT_EQ(ga->token, std::optional<int64_t>(1));
  // Live: refused; not "served" (the run has not ended).
  auto gb = b->AcquireLease("nightly", "runner-b", 30s, fire + 7ms, tick);
  ASSERT_TRUE(gb.ok()) << gb.status().ToString();
  EXPECT_FALSE(gb->token);
  EXPECT_FALSE(gb->served_by);
  ASSERT_TRUE(a->ReleaseLease("nightly", "runner-a", 1).ok());

  // Released, taken at or after the fire by the taker's clock: refused, saying who served it.
  gb = b->AcquireLease("nightly", "runner-b", 30s, fire + 9ms, tick);
  ASSERT_TRUE(gb.ok());
  EXPECT_FALSE(gb->token);
  EXPECT_EQ(gb->served_by, std::optional<std::string>("runner-a"));
  EXPECT_EQ(gb->served_at, std::optional<TimePoint>(fire + 5ms));
  // A take 1 ms before the fire does not serve it.
  auto later =
      b->AcquireLease("nightly", "runner-b", 30s, fire + 9ms,
                      TickServed{TickServed::kTakenAtOrAfterFire, fire + 6ms, Duration(0)});
  ASSERT_TRUE(later.ok());
  EXPECT_EQ(later->token, std::optional<int64_t>(2));
  EXPECT_FALSE(later->served_by);
  ASSERT_TRUE(b->ReleaseLease("nightly", "runner-b", 2).ok());

  // The last holder's own scheduled run is its scheduler's to count: granted.
  gb = b->AcquireLease("nightly", "runner-b", 30s, fire + 10ms, tick);
  ASSERT_TRUE(gb.ok());
  EXPECT_EQ(gb->token, std::optional<int64_t>(3));
  ASSERT_TRUE(b->ReleaseLease("nightly", "runner-b", 3).ok());
  // Runs that are not scheduled (manual, retries) ask without a tick: granted.
  ga = a->AcquireLease("nightly", "runner-a", 30s, fire + 11ms, std::nullopt);
  ASSERT_TRUE(ga.ok());
  EXPECT_EQ(ga->token, std::optional<int64_t>(4));
  // A holder that died mid-run (its lease expired, never released) served nothing.
  ASSERT_EQ(db_->Query("UPDATE leases SET expires_at = clock_timestamp() WHERE job = 'nightly'"),
            "");
  gb = b->AcquireLease("nightly", "runner-b", 30s, fire + 12ms, tick);
  ASSERT_TRUE(gb.ok());
  EXPECT_EQ(gb->token, std::optional<int64_t>(5));
  ASSERT_TRUE(b->ReleaseLease("nightly", "runner-b", 5).ok());
  // A holder that took the lease but did not run the job (a `lakesync run` held the job's lock)
  // served nothing either.
  ASSERT_TRUE(a->AcquireLease("nightly", "runner-a", 30s, fire + 15ms, std::nullopt)->token);
  ASSERT_TRUE(a->ReleaseLease("nightly", "runner-a", 6, /*ran=*/false).ok());
  gb = b->AcquireLease("nightly", "runner-b", 30s, fire + 16ms, tick);
  ASSERT_TRUE(gb.ok());
  EXPECT_EQ(gb->token, std::optional<int64_t>(7));
  EXPECT_FALSE(gb->served_by);
  ASSERT_TRUE(b->ReleaseLease("nightly", "runner-b", 7).ok());
  // A taker whose clock ran a day ahead does not serve the fires of the coming day.
  ASSERT_TRUE(a->AcquireLease("nightly", "runner-a", 30s, fire + 24h, std::nullopt)->token);
  ASSERT_TRUE(a->ReleaseLease("nightly", "runner-a", 8).ok());
  gb = b->AcquireLease("nightly", "runner-b", 30s, fire + 13ms,
                       TickServed{TickServed::kTakenAtOrAfterFire, fire + 2h, Duration(0)});
  ASSERT_TRUE(gb.ok());
  EXPECT_EQ(gb->token, std::optional<int64_t>(9));
  ASSERT_TRUE(b->ReleaseLease("nightly", "runner-b", 9).ok());

  // A take by a lakesync of schema version 1 (no runner clock, no release time: as an old
  // binary still running after the migration leaves them) serves nothing.
  ASSERT_EQ(db_->Query("UPDATE leases SET holder = 'old-runner', acquired_at = clock_timestamp(), "
                       "expires_at = clock_timestamp() WHERE job = 'nightly'"),
            "");
  gb = b->AcquireLease("nightly", "runner-b", 30s, fire + 14ms, tick);
  ASSERT_TRUE(gb.ok());
  EXPECT_EQ(gb->token, std::optional<int64_t>(10));
  EXPECT_EQ(db_->Query("SELECT (extract(epoch from runner_clock_at) * 1000)::bigint FROM leases "
                       "WHERE job = 'nightly'"),
            std::to_string(ToUnixMillis(fire + 14ms)));
}

// every: a take within the interval before the database's now; continuous: a release within the
// poll. Both by the database's clock, so a runner's skewed clock plays no part.
TEST_F(CoordinationTest, EveryAndContinuousRunsAreRefusedWithinTheIntervalOfAnotherRunnersRun) {
  auto a = Open();
  auto b = Open();
  ASSERT_TRUE(a && b);
  const TimePoint skewed = FromUnixMillis(1'900'000'000'000);  // 2030 on both runners' clocks
  const TickServed every{TickServed::kTakenWithin, TimePoint(), Duration(2000)};
  const TickServed poll{TickServed::kReleasedWithin, TimePoint(), Duration(2000)};
  ASSERT_EQ(a->AcquireLease("j", "runner-a", 30s, skewed, every)->token, std::optional<int64_t>(1));
  ASSERT_TRUE(a->ReleaseLease("j", "runner-a", 1).ok());
  auto gb = b->AcquireLease("j", "runner-b", 30s, skewed, every);
  ASSERT_TRUE(gb.ok());
  EXPECT_FALSE(gb->token);
  EXPECT_EQ(gb->served_by, std::optional<std::string>("runner-a"));
  gb = b->AcquireLease("j", "runner-b", 30s, skewed, poll);
  EXPECT_FALSE(gb->token);
  EXPECT_EQ(gb->served_by, std::optional<std::string>("runner-a"));
  // The take was 3 s ago but the release 1 s ago: `every` is due, `continuous` is not.
  ASSERT_EQ(db_->Query("UPDATE leases SET acquired_at = clock_timestamp() - interval '3 s', "
                       "expires_at = clock_timestamp() - interval '1 s', released_at = "
                       "clock_timestamp() - interval '1 s' WHERE job = 'j'"),
            "");
  gb = b->AcquireLease("j", "runner-b", 30s, skewed, poll);
  EXPECT_FALSE(gb->token);
  gb = b->AcquireLease("j", "runner-b", 30s, skewed, every);
  EXPECT_EQ(gb->token, std::optional<int64_t>(2));
  ASSERT_TRUE(b->ReleaseLease("j", "runner-b", 2).ok());
  ASSERT_EQ(db_->Query("UPDATE leases SET acquired_at = clock_timestamp() - interval '5 s', "
                       "expires_at = clock_timestamp() - interval '3 s', released_at = "
                       "clock_timestamp() - interval '3 s' WHERE job = 'j'"),
            "");
  EXPECT_EQ(a->AcquireLease("j", "runner-a", 30s, skewed, poll)->token, std::optional<int64_t>(3));
}

TEST_F(CoordinationTest, LeaseIsExclusiveAndTokensGrowAcrossAcquisitions) {
  auto a = Open();
  auto b = Open();
  ASSERT_TRUE(a && b);
  auto ta = a->AcquireLease("job1", "runner-a", 30s);
  ASSERT_TRUE(ta.ok()) << ta.status().ToString();
  ASSERT_EQ(*ta, std::optional<int64_t>(1));
  // Held: neither another runner nor the holder itself gets it again.
  auto tb = b->AcquireLease("job1", "runner-b", 30s);
  ASSERT_TRUE(tb.ok());
  EXPECT_FALSE(tb->has_value());
  EXPECT_FALSE(a->AcquireLease("job1", "runner-a", 30s)->has_value());
  // Another job is independent.
  EXPECT_EQ(*b->AcquireLease("job2", "runner-b", 30s), std::optional<int64_t>(1));

  EXPECT_TRUE(a->CheckLease("job1", "runner-a", 1).ok());
  EXPECT_EQ(a->CheckLease("job1", "runner-b", 1).code(), StatusCode::kCancelled);
  ASSERT_TRUE(a->ReleaseLease("job1", "runner-a", 1).ok());
  EXPECT_EQ(a->CheckLease("job1", "runner-a", 1).code(), StatusCode::kCancelled);

  tb = b->AcquireLease("job1", "runner-b", 30s);
  ASSERT_TRUE(tb.ok());
  EXPECT_EQ(*tb, std::optional<int64_t>(2));
  Status old = a->CheckLease("job1", "runner-a", 1);
  EXPECT_EQ(old.code(), StatusCode::kCancelled);
  EXPECT_NE(old.message().find("runner-b"), std::string::npos) << old.message();
  // Releasing a lost lease changes nothing.
  ASSERT_TRUE(a->ReleaseLease("job1", "runner-a", 1).ok());
  EXPECT_TRUE(b->CheckLease("job1", "runner-b", 2).ok());
  auto info = a->GetLease("job1");
  ASSERT_TRUE(info.ok() && info->has_value());
  EXPECT_EQ((*info)->holder, "runner-b");
  EXPECT_EQ((*info)->token, 2);
  EXPECT_TRUE((*info)->live);
  EXPECT_FALSE(a->GetLease("never")->has_value());
}

TEST_F(CoordinationTest, ExpiredLeaseIsLostEvenWhenNobodyTookItOver) {
  auto a = Open();
  ASSERT_TRUE(a);
  ASSERT_EQ(*a->AcquireLease("j", "r1", 300ms), std::optional<int64_t>(1));
  // Renewing keeps it alive well past the first TTL.
  for (int i = 0; i < 5; ++i) {
    std::this_thread::sleep_for(150ms);
    ASSERT_TRUE(a->RenewLease("j", "r1", 1, 300ms).ok()) << i;
  }
  EXPECT_TRUE(a->CheckLease("j", "r1", 1).ok());
  std::this_thread::sleep_for(450ms);  // "frozen" past the TTL
  EXPECT_EQ(a->CheckLease("j", "r1", 1).code(), StatusCode::kCancelled);
  EXPECT_EQ(a->RenewLease("j", "r1", 1, 300ms).code(), StatusCode::kCancelled);
  EXPECT_EQ(*a->AcquireLease("j", "r2", 300ms), std::optional<int64_t>(2));
}

// The keeper knows on the steady clock, without a round trip, when its lease may have run out:
// the validity of the last renewal or check it saw succeed. A run asks the database before more
// work past it, so a process resumed after a pause stops at once instead of a heartbeat later
// (meanwhile its cleanup could delete what the new holder writes).
TEST_F(CoordinationTest, LeaseKeeperKnowsWhenItsLeaseMayHaveRunOut) {
  auto a = Open();
  ASSERT_TRUE(a);
  // No renewal within the test (heartbeat 1 h): the acquisition's 400 ms is all there is.
  auto asked = std::chrono::steady_clock::now();
  ASSERT_EQ(*a->AcquireLease("quiet", "r1", 400ms), std::optional<int64_t>(1));
  LeaseKeeper quiet(*a, "quiet", "r1", 1, 400ms, 1h, asked);
  EXPECT_FALSE(quiet.PastValidity());
  EXPECT_TRUE(quiet.Check().ok());
  std::this_thread::sleep_for(500ms);
  EXPECT_TRUE(quiet.PastValidity());
  EXPECT_FALSE(quiet.lost()) << "nothing has asked the database yet";
  Status s = quiet.Check();
  EXPECT_EQ(s.code(), StatusCode::kCancelled) << s;
  EXPECT_TRUE(quiet.lost());

  // Renewed every 100 ms with a 2 s TTL (room for a slow renewal under a sanitizer): never
  // past its validity, well beyond the first 2 s.
  asked = std::chrono::steady_clock::now();
  ASSERT_EQ(*a->AcquireLease("busy", "r1", 2s), std::optional<int64_t>(1));
  LeaseKeeper busy(*a, "busy", "r1", 1, 2s, 100ms, asked);
  for (int i = 0; i < 30; ++i) {
    std::this_thread::sleep_for(100ms);
    EXPECT_FALSE(busy.PastValidity()) << i;
  }
  EXPECT_TRUE(busy.Check().ok());
  busy.Release();
  EXPECT_TRUE(a->GetLease("busy").value()->token == 1);
  EXPECT_FALSE(a->GetLease("busy").value()->live) << "released";
}

TEST_F(CoordinationTest, ConcurrentAcquirersGetExactlyOneLease) {
  constexpr int kThreads = 6;
  std::vector<std::unique_ptr<Coordination>> conns;
  for (int i = 0; i < kThreads; ++i) {
    conns.push_back(Open());
    ASSERT_TRUE(conns.back());
  }
  for (int round = 0; round < 5; ++round) {
    std::atomic<int> winners{0};
    std::atomic<int> winner{-1};
    std::atomic<int64_t> token{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < kThreads; ++i) {
      threads.emplace_back([&, i] {
        auto t = conns[i]->AcquireLease("contended", "r" + std::to_string(i), 30s);
        ASSERT_TRUE(t.ok()) << t.status().ToString();
        if (t->has_value()) {
          ++winners;
          winner = i;
          token = **t;
        }
      });
    }
    for (auto& t : threads) t.join();
    ASSERT_EQ(winners.load(), 1) << "round " << round;
    // Tokens grow by one with every acquisition.
    EXPECT_EQ(token.load(), round + 1);
    ASSERT_TRUE(
        conns[winner]->ReleaseLease("contended", "r" + std::to_string(winner.load()), token).ok());
  }
  auto info = conns[0]->GetLease("contended");
  ASSERT_TRUE(info.ok() && info->has_value());
  EXPECT_EQ((*info)->token, 5);
  EXPECT_FALSE((*info)->live);
}

TEST_F(CoordinationTest, HeldLeaseAgainstConcurrentAcquirers) {
  // While one holder keeps the lease, many concurrent attempts all fail.
  auto holder = Open();
  ASSERT_TRUE(holder);
  ASSERT_TRUE(holder->AcquireLease("held", "h", 30s)->has_value());
  std::atomic<int> won{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      auto c = Coordination::Connect(db_->url());
      ASSERT_TRUE(c.ok());
      for (int k = 0; k < 10; ++k) {
        auto t = (*c)->AcquireLease("held", "x" + std::to_string(i), 30s);
        ASSERT_TRUE(t.ok());
        if (t->has_value()) ++won;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(won.load(), 0);
}

TEST_F(CoordinationTest, RequestsNotifyAndAreClaimedOnce) {
  auto a = Open();
  auto b = Open();
  ASSERT_TRUE(a && b);
  auto listener = NotificationListener::Connect(db_->url(), kRequestChannel);
  ASSERT_TRUE(listener.ok()) << listener.status().ToString();
  auto nothing = (*listener)->Wait(50ms);
  ASSERT_TRUE(nothing.ok());
  EXPECT_TRUE(nothing->empty());

  auto id = a->InsertRequest("job1", "tester");
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  auto start = std::chrono::steady_clock::now();
  auto got = (*listener)->Wait(2s);
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0], "job1");
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);

  auto req = a->GetRequest(*id);
  ASSERT_TRUE(req.ok());
  EXPECT_EQ(req->status, "pending");
  EXPECT_EQ(req->job, "job1");

  // Only requests of the claimer's jobs; each claimed once.
  auto other = b->ClaimRequests({"job2"}, "b", 30s);
  ASSERT_TRUE(other.ok());
  EXPECT_TRUE(other->empty());
  auto claimed = b->ClaimRequests({"job1", "job2"}, "b", 30s);
  ASSERT_TRUE(claimed.ok()) << claimed.status().ToString();
  ASSERT_EQ(claimed->size(), 1u);
  EXPECT_EQ((*claimed)[0].id, *id);
  EXPECT_EQ((*claimed)[0].claimed_by, "b");
  EXPECT_TRUE(a->ClaimRequests({"job1"}, "a", 30s)->empty());
  EXPECT_FALSE(*a->CancelPendingRequest(*id));

  // Unclaiming puts it back and notifies again.
  ASSERT_TRUE(b->UnclaimRequests({*id}).ok());
  got = (*listener)->Wait(2s);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->size(), 1u);
  claimed = a->ClaimRequests({"job1"}, "a", 30s);
  ASSERT_EQ(claimed->size(), 1u);
  ASSERT_TRUE(a->CompleteRequests({*id}, std::nullopt).ok());
  req = a->GetRequest(*id);
  EXPECT_EQ(req->status, "done");
  EXPECT_EQ(req->claimed_by, "a");
  EXPECT_FALSE(req->run_id.has_value());

  auto id2 = a->InsertRequest("job1", "tester");
  ASSERT_TRUE(id2.ok());
  EXPECT_TRUE(*a->CancelPendingRequest(*id2));
  EXPECT_EQ(a->GetRequest(*id2)->status, "cancelled");
  EXPECT_TRUE(a->ClaimRequests({"job1"}, "a", 30s)->empty());
  EXPECT_EQ(a->GetRequest(999999).status().code(), StatusCode::kNotFound);
}

TEST_F(CoordinationTest, ClaimsExpireUnlessRefreshedAndRequestsLinkToTheirRun) {
  auto a = Open();
  auto b = Open();
  ASSERT_TRUE(a && b);
  auto id = a->InsertRequest("job1", "tester");
  ASSERT_TRUE(id.ok());
  ASSERT_EQ(a->ClaimRequests({"job1"}, "a", 30s)->size(), 1u);
  // A fresh claim is not taken over; a refreshed one neither.
  EXPECT_TRUE(b->ClaimRequests({"job1"}, "b", 1s)->empty());
  std::this_thread::sleep_for(600ms);
  ASSERT_TRUE(a->RefreshClaims({*id}, "a").ok());
  std::this_thread::sleep_for(600ms);  // 1.2 s since the claim, 0.6 s since the refresh
  EXPECT_TRUE(b->ClaimRequests({"job1"}, "b", 1s)->empty());
  auto req = a->GetRequest(*id);
  ASSERT_TRUE(req.ok());
  EXPECT_GE(req->claim_age, 500ms);
  EXPECT_LT(req->claim_age, 1s);
  // Not refreshed for longer than the TTL: the claimer is presumed dead and b takes it over.
  EXPECT_FALSE(*a->CancelPendingRequest(*id, 5s));  // not expired by 5 s
  std::this_thread::sleep_for(700ms);
  auto taken = b->ClaimRequests({"job1"}, "b", 1s);
  ASSERT_TRUE(taken.ok()) << taken.status().ToString();
  ASSERT_EQ(taken->size(), 1u);
  EXPECT_EQ((*taken)[0].claimed_by, "b");
  // The old claimer's refresh and link no longer touch it.
  ASSERT_TRUE(a->RefreshClaims({*id}, "a").ok());
  auto store = PgStateStore::Connect(db_->url());
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE((*store)->SyncJobs({{"job1", "incremental"}}).ok());
  RunStart start;
  start.job = "job1";
  start.kind = "incremental";
  start.trigger = Trigger::kManual;
  start.runner_id = "b";
  start.started_at = SystemClock::Instance().Now();
  auto run_a = (*store)->StartRun(start);
  auto run_b = (*store)->StartRun(start);
  ASSERT_TRUE(run_a.ok() && run_b.ok());
  ASSERT_TRUE(a->LinkRequests({*id}, "a", *run_a).ok());
  EXPECT_FALSE(a->GetRequest(*id)->run_id.has_value());
  ASSERT_TRUE(b->LinkRequests({*id}, "b", *run_b).ok());
  req = a->GetRequest(*id);
  EXPECT_EQ(req->status, "claimed");
  EXPECT_EQ(req->claimed_by, "b");
  EXPECT_EQ(req->run_id, std::optional<int64_t>(*run_b));
  EXPECT_EQ(req->run_status, "running");

  // An expired claim nobody took over can be cancelled (trigger --wait giving up).
  auto id2 = a->InsertRequest("job2", "tester");
  ASSERT_EQ(a->ClaimRequests({"job2"}, "a", 30s)->size(), 1u);
  std::this_thread::sleep_for(300ms);
  EXPECT_FALSE(*b->CancelPendingRequest(*id2));  // claimed: not pending
  EXPECT_TRUE(*b->CancelPendingRequest(*id2, 200ms));
  EXPECT_EQ(a->GetRequest(*id2)->status, "cancelled");
}

}  // namespace
}  // namespace lakesync::db
