#include "runner/scheduler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "common/duration.h"

namespace lakesync::runner {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

// Every test starts its ManualClock at 2026-01-01T10:00:00Z (a Thursday) unless it says so.
TimePoint T(const char* text) { return ParseTimestamp(text).value(); }
std::string Fmt(std::optional<TimePoint> t) { return t ? FormatTimestamp(*t) : "none"; }

Schedule Every(Duration d) {
  Schedule s;
  s.kind = Schedule::kEvery;
  s.every = d;
  return s;
}
Schedule Cron(const char* expr, const char* tz = "UTC") {
  Schedule s;
  s.kind = Schedule::kCron;
  s.cron = CronExpr::Parse(expr, tz).value();
  return s;
}
Schedule Continuous(Duration poll) {
  Schedule s;
  s.kind = Schedule::kContinuous;
  s.poll = poll;
  return s;
}

JobSchedule Job(const char* name, Schedule schedule, int retries = 0,
                std::optional<Duration> timeout = std::nullopt) {
  JobSchedule job;
  job.name = name;
  job.schedule = std::move(schedule);
  job.retries.max = retries;  // backoff 30s, max_backoff 10m: the defaults
  job.timeout = timeout;
  return job;
}

// "job:trigger:attempt" per order, in order.
std::string Str(const std::vector<RunOrder>& orders) {
  std::string out;
  for (const RunOrder& o : orders) {
    if (!out.empty()) out += " ";
    out += o.job + ":" + std::string(TriggerName(o.trigger)) + ":" + std::to_string(o.attempt);
  }
  return out;
}

const Outcome kOk{Outcome::kSucceeded, true};
const Outcome kFail{Outcome::kFailed, true};

class SchedulerTest : public ::testing::Test {
 protected:
  // A jitter source that always returns 0.5: BackoffDelay is then exactly base for uncapped
  // attempts (lo + (hi - lo)/2 with lo = 0.8·base, hi = 1.2·base), so retry times below are
  // exact.
  void Make(std::vector<JobSchedule> jobs, int max_concurrent = 4) {
    SchedulerOptions options;
    options.max_concurrent_runs = max_concurrent;
    options.random = [] { return 0.5; };
    auto created = Scheduler::Create(std::move(jobs), std::move(options), clock_);
    ASSERT_TRUE(created.ok()) << created.status();
    scheduler_ = std::move(created).value();
  }
  void At(const char* when) { clock_.Set(T(when)); }

  // Starts every due order, returns them as Str() does.
  std::string StartDue() {
    std::vector<RunOrder> orders = scheduler_->Due();
    for (const RunOrder& o : orders) EXPECT_TRUE(scheduler_->Started(o).ok()) << o.job;
    return Str(orders);
  }
  void Finish(const char* job, Outcome outcome) {
    EXPECT_TRUE(scheduler_->Finished(job, outcome).ok()) << job;
  }
  std::string Next(const char* job) { return Fmt(scheduler_->NextRun(job)); }
  // The cron fire TickServedBy names for the one due order (asked before Started, as the daemon
  // does), which it then starts; "no single order" when not exactly one is due.
  std::string FireThenStart() {
    std::vector<RunOrder> orders = scheduler_->Due();
    if (orders.size() != 1) return "no single order: " + Str(orders);
    std::optional<db::TickServed> tick = scheduler_->TickServedBy(orders[0]);
    EXPECT_TRUE(scheduler_->Started(orders[0]).ok());
    if (!tick || tick->kind != db::TickServed::kTakenAtOrAfterFire) return "not a fire";
    return Fmt(tick->fire);
  }

  ManualClock clock_{T("2026-01-01T10:00:00Z")};
  std::unique_ptr<Scheduler> scheduler_;
};

// ---- Backoff ----

TEST(BackoffTest, SeriesDoublesAndCaps) {
  RetryPolicy policy;  // backoff 30s, max_backoff 10m
  // 30s·2^(n-1): 30s, 60s, 120s, 240s, 480s, then 960s > 600s is capped at 600s.
  const std::vector<Duration> expected = {seconds(30),  seconds(60),  seconds(120), seconds(240),
                                          seconds(480), seconds(600), seconds(600), seconds(600)};
  for (int attempt = 1; attempt <= 8; ++attempt) {
    EXPECT_EQ(BackoffBase(policy, attempt), expected[attempt - 1]) << "attempt " << attempt;
  }
  // A huge attempt number must not overflow into a negative or tiny delay.
  EXPECT_EQ(BackoffBase(policy, 1000000), seconds(600));
  EXPECT_EQ(BackoffBase(policy, 0), seconds(30));  // treated as attempt 1

  RetryPolicy zero{3, Duration(0), minutes(10)};
  EXPECT_EQ(BackoffBase(zero, 5), Duration(0));
  RetryPolicy flat{3, minutes(10), minutes(10)};
  EXPECT_EQ(BackoffBase(flat, 1), minutes(10));
  EXPECT_EQ(BackoffBase(flat, 4), minutes(10));
}

TEST(BackoffTest, JitterIsWithinTwentyPercentAndNeverAboveTheCap) {
  RetryPolicy policy;
  UniformRandom random = SeededRandom(42);
  struct Case {
    int attempt;
    Duration lo, hi;
  };
  // lo = base - base/5; hi = min(base + base/5, 10m):
  //   attempt 1: base 30s  → [24s, 36s]
  //   attempt 5: base 480s → [384s, 576s]
  //   attempt 6: base 600s → [480s, 600s] (720s is above the cap)
  for (const Case& c : {Case{1, seconds(24), seconds(36)}, Case{5, seconds(384), seconds(576)},
                        Case{6, seconds(480), seconds(600)}}) {
    Duration min = Duration::max(), max = Duration::min();
    for (int i = 0; i < 2000; ++i) {
      Duration d = BackoffDelay(policy, c.attempt, random);
      min = std::min(min, d);
      max = std::max(max, d);
    }
    EXPECT_GE(min, c.lo) << "attempt " << c.attempt;
    EXPECT_LE(max, c.hi) << "attempt " << c.attempt;
    // 2000 uniform draws cover all but a sliver of the range: jitter really happens.
    const Duration tenth = (c.hi - c.lo) / 10;
    EXPECT_LT(min, c.lo + tenth) << "attempt " << c.attempt;
    EXPECT_GT(max, c.hi - tenth) << "attempt " << c.attempt;
  }
}

TEST(BackoffTest, ExactValuesForAFixedDraw) {
  RetryPolicy policy;
  // u = 0.5, attempt 1: 24s + 0.5·12s = 30s. Attempt 6: 480s + 0.5·120s = 540s.
  EXPECT_EQ(BackoffDelay(policy, 1, [] { return 0.5; }), seconds(30));
  EXPECT_EQ(BackoffDelay(policy, 6, [] { return 0.5; }), seconds(540));
  // u = 0 is the lower bound; no source at all means no jitter.
  EXPECT_EQ(BackoffDelay(policy, 2, [] { return 0.0; }), seconds(48));
  EXPECT_EQ(BackoffDelay(policy, 2, nullptr), seconds(60));
}

TEST(BackoffTest, SeededRandomIsDeterministicAndInRange) {
  UniformRandom a = SeededRandom(7), b = SeededRandom(7), c = SeededRandom(8);
  int differ = 0;
  for (int i = 0; i < 100; ++i) {
    double x = a(), y = b(), z = c();
    EXPECT_EQ(x, y);
    EXPECT_GE(x, 0.0);
    EXPECT_LT(x, 1.0);
    differ += x != z;
  }
  EXPECT_GT(differ, 90);
}

// ---- every / cron / continuous ----

TEST_F(SchedulerTest, EveryRunsAtStartThenStartToStart) {
  Make({Job("a", Every(minutes(5)))});
  EXPECT_EQ(Next("a"), "2026-01-01T10:00:00Z");  // due as soon as the scheduler exists
  EXPECT_EQ(StartDue(), "a:schedule:1");
  EXPECT_EQ(Next("a"), "none");  // running: decided when it ends
  At("2026-01-01T10:01:00Z");
  Finish("a", kOk);
  // Started 10:00 + 5m = 10:05, later than the finish at 10:01.
  EXPECT_EQ(Next("a"), "2026-01-01T10:05:00Z");
  EXPECT_EQ(Fmt(scheduler_->NextWakeup()), "2026-01-01T10:05:00Z");
  At("2026-01-01T10:04:59.999Z");
  EXPECT_EQ(StartDue(), "");
  At("2026-01-01T10:05:00Z");
  EXPECT_EQ(StartDue(), "a:schedule:1");
}

TEST_F(SchedulerTest, SeededLastStartDelaysTheFirstEveryRunAfterARestart) {
  Make({Job("recent", Every(minutes(5))), Job("stale", Every(minutes(5))),
        Job("never", Every(minutes(5))), Job("cron", Cron("30 10 * * *")),
        Job("future", Every(minutes(5)))});
  // The previous daemon started `recent` at 9:58 and `stale` at 9:50.
  ASSERT_TRUE(scheduler_->SeedLastStart("recent", T("2026-01-01T09:58:00Z")).ok());
  ASSERT_TRUE(scheduler_->SeedLastStart("stale", T("2026-01-01T09:50:00Z")).ok());
  ASSERT_TRUE(scheduler_->SeedLastStart("cron", T("2026-01-01T09:59:00Z")).ok());
  // A start in the future (another runner's clock is ahead) counts as now.
  ASSERT_TRUE(scheduler_->SeedLastStart("future", T("2026-01-01T11:00:00Z")).ok());
  EXPECT_TRUE(scheduler_->SeedLastStart("nope", T("2026-01-01T09:58:00Z")).IsNotFound());
  EXPECT_EQ(Next("recent"), "2026-01-01T10:03:00Z");  // 9:58 + 5m
  EXPECT_EQ(Next("stale"), "2026-01-01T10:00:00Z");   // 9:55 passed: due now, once
  EXPECT_EQ(Next("never"), "2026-01-01T10:00:00Z");   // never ran: due now
  EXPECT_EQ(Next("cron"), "2026-01-01T10:30:00Z");    // no fire since 9:59: its next one
  EXPECT_EQ(Next("future"), "2026-01-01T10:05:00Z");
  EXPECT_EQ(StartDue(), "stale:schedule:1 never:schedule:1");
  At("2026-01-01T10:02:59.999Z");
  EXPECT_EQ(StartDue(), "");
  At("2026-01-01T10:03:00Z");
  EXPECT_EQ(StartDue(), "recent:schedule:1");
  // A job that started in this scheduler ignores a later seed.
  ASSERT_TRUE(scheduler_->SeedLastStart("recent", T("2026-01-01T09:00:00Z")).ok());
  Finish("recent", kOk);
  EXPECT_EQ(Next("recent"), "2026-01-01T10:08:00Z");
}

// A cron fire that passed while no daemon ran the job (a deploy across 02:00, a crash) is
// missed, and runs once as the restarted daemon starts (the old code waited for the next fire:
// the nightly job skipped a day). A fire that the last start satisfied is not run again.
TEST_F(SchedulerTest, ACronFireMissedAcrossARestartRunsOnce) {
  Make({Job("nightly", Cron("0 2 * * *")), Job("done", Cron("0 2 * * *")),
        Job("hourly", Cron("0 * * * *"))});
  ASSERT_TRUE(scheduler_->SeedLastStart("nightly", T("2025-12-31T02:00:00Z")).ok());
  ASSERT_TRUE(scheduler_->SeedLastStart("done", T("2026-01-01T02:00:03Z")).ok());
  ASSERT_TRUE(scheduler_->SeedLastStart("hourly", T("2026-01-01T07:00:00Z")).ok());
  EXPECT_EQ(Next("nightly"), "2026-01-01T10:00:00Z");  // today's 02:00 was missed
  EXPECT_EQ(Next("done"), "2026-01-02T02:00:00Z");     // today's ran
  EXPECT_EQ(Next("hourly"), "2026-01-01T10:00:00Z");   // 08:00 and 09:00 missed, run once
  EXPECT_EQ(StartDue(), "nightly:schedule:1 hourly:schedule:1");
  At("2026-01-01T10:00:30Z");
  Finish("nightly", kOk);
  Finish("hourly", kOk);
  EXPECT_EQ(Next("nightly"), "2026-01-02T02:00:00Z");
  EXPECT_EQ(Next("hourly"), "2026-01-01T11:00:00Z");
}

TEST_F(SchedulerTest, TicksMissedWhileRunningCollapseIntoOneRun) {
  Make({Job("a", Every(minutes(1)))});
  EXPECT_EQ(StartDue(), "a:schedule:1");
  // The run spans the ticks at 10:01, 10:02 and 10:03: none of them starts a second run.
  for (const char* t : {"2026-01-01T10:01:00Z", "2026-01-01T10:02:00Z", "2026-01-01T10:03:00Z"}) {
    At(t);
    EXPECT_EQ(StartDue(), "") << t;
  }
  At("2026-01-01T10:03:30Z");
  Finish("a", kOk);
  // max(10:00 + 1m, 10:03:30) = 10:03:30: one run, now.
  EXPECT_EQ(Next("a"), "2026-01-01T10:03:30Z");
  EXPECT_EQ(StartDue(), "a:schedule:1");
  At("2026-01-01T10:03:40Z");
  Finish("a", kOk);
  // The cadence restarts from that run's start: 10:03:30 + 1m.
  EXPECT_EQ(Next("a"), "2026-01-01T10:04:30Z");
  EXPECT_EQ(StartDue(), "");
}

TEST_F(SchedulerTest, CronFiresOnItsMinutesAndRunsOnceForAFireMissedWhileRunning) {
  At("2026-01-01T10:07:00Z");
  Make({Job("c", Cron("*/15 * * * *"))});
  EXPECT_EQ(Next("c"), "2026-01-01T10:15:00Z");  // no run at creation
  At("2026-01-01T10:14:59Z");
  EXPECT_EQ(StartDue(), "");
  At("2026-01-01T10:15:00Z");
  EXPECT_EQ(StartDue(), "c:schedule:1");
  At("2026-01-01T10:20:00Z");
  Finish("c", kOk);
  EXPECT_EQ(Next("c"), "2026-01-01T10:30:00Z");  // first fire after the start at 10:15

  At("2026-01-01T10:30:00Z");
  EXPECT_EQ(StartDue(), "c:schedule:1");
  At("2026-01-01T10:47:00Z");  // ran through the 10:45 fire
  Finish("c", kOk);
  EXPECT_EQ(Next("c"), "2026-01-01T10:47:00Z");
  EXPECT_EQ(StartDue(), "c:schedule:1");
  At("2026-01-01T10:48:00Z");
  Finish("c", kOk);
  EXPECT_EQ(Next("c"), "2026-01-01T11:00:00Z");  // first fire after the 10:47 start
}

TEST_F(SchedulerTest, CronCreatedOnAFireTimeWaitsForTheNextOne) {
  Make({Job("c", Cron("*/15 * * * *"))});  // clock at 10:00:00 exactly; strictly after
  EXPECT_EQ(Next("c"), "2026-01-01T10:15:00Z");
}

TEST_F(SchedulerTest, CronInANamedTimeZone) {
  // Berlin is UTC+1 in January, UTC+2 in July: 02:00 local is 01:00Z and 00:00Z.
  Make({Job("n", Cron("0 2 * * *", "Europe/Berlin"))});
  EXPECT_EQ(Next("n"), "2026-01-02T01:00:00Z");
  At("2026-07-01T10:00:00Z");
  Make({Job("n", Cron("0 2 * * *", "Europe/Berlin"))});
  EXPECT_EQ(Next("n"), "2026-07-02T00:00:00Z");
}

TEST_F(SchedulerTest, ContinuousRunsBackToBackUntilCaughtUpThenPolls) {
  Make({Job("k", Continuous(seconds(2)))});
  EXPECT_EQ(StartDue(), "k:schedule:1");
  At("2026-01-01T10:00:10Z");
  Finish("k", Outcome{Outcome::kSucceeded, /*caught_up=*/false});
  EXPECT_EQ(Next("k"), "2026-01-01T10:00:10Z");  // more to do: again, now
  EXPECT_EQ(StartDue(), "k:schedule:1");
  At("2026-01-01T10:00:20Z");
  Finish("k", Outcome{Outcome::kSucceeded, /*caught_up=*/true});
  EXPECT_EQ(Next("k"), "2026-01-01T10:00:22Z");  // caught up: 10:00:20 + poll 2s
  At("2026-01-01T10:00:22Z");
  EXPECT_EQ(StartDue(), "k:schedule:1");
  At("2026-01-01T10:00:23Z");
  // A failure with no retries configured waits a poll too, rather than hammering the source;
  // caught_up = false is ignored for a run that did not succeed.
  Finish("k", Outcome{Outcome::kFailed, /*caught_up=*/false});
  EXPECT_EQ(Next("k"), "2026-01-01T10:00:25Z");
}

TEST_F(SchedulerTest, ManualOnlyJobRunsOnlyWhenTriggered) {
  Make({Job("m", Schedule{})});
  EXPECT_EQ(Next("m"), "none");
  EXPECT_EQ(scheduler_->NextWakeup(), std::nullopt);
  clock_.Advance(hours(48));
  EXPECT_EQ(StartDue(), "");
  At("2026-01-03T10:00:00Z");
  ASSERT_TRUE(scheduler_->RequestManual("m").value());
  std::vector<RunOrder> due = scheduler_->Due();
  ASSERT_EQ(Str(due), "m:manual:1");
  EXPECT_EQ(Fmt(due[0].due), "2026-01-03T10:00:00Z");
  ASSERT_TRUE(scheduler_->Started(due[0]).ok());
  At("2026-01-03T10:05:00Z");
  Finish("m", kOk);
  EXPECT_EQ(Next("m"), "none");
}

// ---- concurrency ----

TEST_F(SchedulerTest, MaxConcurrentRunsAndEarliestDueFirst) {
  Make({Job("j1", Every(minutes(5))), Job("j2", Every(minutes(5))), Job("j3", Every(minutes(5))),
        Job("j4", Every(minutes(5))), Job("j5", Every(minutes(5)))},
       /*max_concurrent=*/2);
  // All five are due at 10:00; two slots; ties go in list order.
  EXPECT_EQ(StartDue(), "j1:schedule:1 j2:schedule:1");
  EXPECT_EQ(scheduler_->running(), 2);
  EXPECT_EQ(StartDue(), "");
  EXPECT_EQ(scheduler_->NextWakeup(), std::nullopt);  // no slot, no deadline: wait for Finished
  EXPECT_EQ(Next("j5"), "2026-01-01T10:00:00Z");      // due, waiting for a slot

  At("2026-01-01T10:01:00Z");
  Finish("j2", kOk);  // j2 next: 10:00 + 5m = 10:05
  EXPECT_EQ(StartDue(), "j3:schedule:1");
  At("2026-01-01T10:02:00Z");
  Finish("j3", kOk);  // j3 started 10:01 → next 10:06
  EXPECT_EQ(StartDue(), "j4:schedule:1");
  // Running: j1 (since 10:00) and j4 (since 10:02). j5 has waited since 10:00.
  At("2026-01-01T10:06:00Z");
  Finish("j1", kOk);  // j1 next: max(10:05, 10:06) = 10:06
  // Due now: j5 @10:00, j2 @10:05, j1 @10:06, j3 @10:06; one slot → the earliest, j5.
  EXPECT_EQ(StartDue(), "j5:schedule:1");
  At("2026-01-01T10:07:00Z");
  Finish("j4", kOk);  // j4 next: 10:02 + 5m = 10:07
  EXPECT_EQ(StartDue(), "j2:schedule:1");
  At("2026-01-01T10:08:00Z");
  Finish("j5", kOk);
  // j1 and j3 are both due at 10:06: list order breaks the tie.
  EXPECT_EQ(StartDue(), "j1:schedule:1");
}

// ---- retries ----

TEST_F(SchedulerTest, RetriesBackOffThenTheJobReturnsToItsSchedule) {
  Make({Job("a", Every(hours(1)), /*retries=*/2)});
  EXPECT_EQ(StartDue(), "a:schedule:1");
  At("2026-01-01T10:01:00Z");
  Finish("a", kFail);
  // Attempt 1 failed: retry (attempt 2) after 30s.
  JobStatus status = scheduler_->Describe("a").value();
  EXPECT_EQ(Fmt(status.next_run), "2026-01-01T10:01:30Z");
  EXPECT_EQ(status.next_trigger, Trigger::kRetry);
  EXPECT_EQ(status.next_attempt, 2);
  EXPECT_EQ(status.last_result, Outcome::kFailed);
  At("2026-01-01T10:01:29.999Z");
  EXPECT_EQ(StartDue(), "");
  At("2026-01-01T10:01:30Z");
  EXPECT_EQ(StartDue(), "a:retry:2");
  At("2026-01-01T10:02:00Z");
  Finish("a", kFail);
  // Attempt 2 failed: attempt 3 after 30s·2 = 60s.
  EXPECT_EQ(Next("a"), "2026-01-01T10:03:00Z");
  At("2026-01-01T10:03:00Z");
  EXPECT_EQ(StartDue(), "a:retry:3");
  At("2026-01-01T10:04:00Z");
  Finish("a", kFail);
  // max = 2 retries: 3 attempts used. Back to the schedule: 10:00 + 1h, attempt 1.
  status = scheduler_->Describe("a").value();
  EXPECT_EQ(Fmt(status.next_run), "2026-01-01T11:00:00Z");
  EXPECT_EQ(status.next_trigger, Trigger::kSchedule);
  EXPECT_EQ(status.next_attempt, 1);
  At("2026-01-01T11:00:00Z");
  EXPECT_EQ(StartDue(), "a:schedule:1");
}

TEST_F(SchedulerTest, SuccessResetsTheAttemptCounter) {
  Make({Job("a", Every(hours(1)), /*retries=*/3)});
  EXPECT_EQ(StartDue(), "a:schedule:1");
  At("2026-01-01T10:01:00Z");
  Finish("a", kFail);
  At("2026-01-01T10:01:30Z");
  EXPECT_EQ(StartDue(), "a:retry:2");
  At("2026-01-01T10:02:00Z");
  Finish("a", kOk);
  EXPECT_EQ(Next("a"), "2026-01-01T11:00:00Z");
  At("2026-01-01T11:00:00Z");
  EXPECT_EQ(StartDue(), "a:schedule:1");
  At("2026-01-01T11:01:00Z");
  Finish("a", kFail);
  // A new streak: attempt 2 again, after 30s (not 60s, which attempt 3 would wait).
  EXPECT_EQ(Next("a"), "2026-01-01T11:01:30Z");
  EXPECT_EQ(scheduler_->Describe("a")->next_attempt, 2);
}

TEST_F(SchedulerTest, ARetryHoldsBackTicksAndSatisfiesThem) {
  JobSchedule job = Job("a", Every(minutes(5)));
  job.retries = RetryPolicy{1, minutes(8), minutes(10)};
  Make({job});
  EXPECT_EQ(StartDue(), "a:schedule:1");
  At("2026-01-01T10:01:00Z");
  Finish("a", kFail);
  // Retry at 10:01 + 8m = 10:09; the 10:05 tick does not start a run before it.
  EXPECT_EQ(Next("a"), "2026-01-01T10:09:00Z");
  At("2026-01-01T10:05:00Z");
  EXPECT_EQ(StartDue(), "");
  At("2026-01-01T10:09:00Z");
  EXPECT_EQ(StartDue(), "a:retry:2");
  At("2026-01-01T10:09:10Z");
  Finish("a", kOk);
  // The retry started at 10:09 satisfied the 10:05 tick: next is 10:09 + 5m, not "now".
  EXPECT_EQ(Next("a"), "2026-01-01T10:14:00Z");
}

TEST_F(SchedulerTest, CancelledRunsAreNotRetried) {
  Make({Job("a", Every(hours(1)), /*retries=*/3)});
  EXPECT_EQ(StartDue(), "a:schedule:1");
  At("2026-01-01T10:01:00Z");
  Finish("a", Outcome{Outcome::kCancelled, true});
  EXPECT_EQ(Next("a"), "2026-01-01T11:00:00Z");
}

// The store was unreachable when the run was to take its lease (a failover at 02:00): the run
// never began, and what it was started for comes back after 1 s, 2 s, 4 s, ... (at most 60 s),
// same trigger and attempt, instead of being dropped until the next tick (the old code: a
// cancelled run, so the nightly cron job skipped a day).
TEST_F(SchedulerTest, ARunThatDidNotStartIsOwedAndComesBackAfterABackoff) {
  Make({Job("c", Cron("0 11 * * *")), Job("r", Every(hours(48)), /*retries=*/2)});
  const Outcome not_started{Outcome::kNotStarted, true};
  // A retry that did not start stays that retry (attempt 2), holding the schedule back.
  EXPECT_EQ(StartDue(), "r:schedule:1");
  At("2026-01-01T10:10:00Z");
  Finish("r", kFail);
  EXPECT_EQ(Next("r"), "2026-01-01T10:10:30Z");
  At("2026-01-01T10:10:30Z");
  EXPECT_EQ(StartDue(), "r:retry:2");
  Finish("r", not_started);
  EXPECT_EQ(Next("r"), "2026-01-01T10:10:31Z");
  EXPECT_EQ(scheduler_->Describe("r")->next_trigger, Trigger::kRetry);
  EXPECT_EQ(scheduler_->Describe("r")->next_attempt, 2);
  EXPECT_EQ(scheduler_->Describe("r")->last_result, Outcome::kFailed);
  At("2026-01-01T10:10:31Z");
  EXPECT_EQ(StartDue(), "r:retry:2");
  Finish("r", kOk);

  // The 11:00 run of a daily job.
  At("2026-01-01T11:00:00Z");
  EXPECT_EQ(StartDue(), "c:schedule:1");
  Finish("c", not_started);
  EXPECT_EQ(Next("c"), "2026-01-01T11:00:01Z");
  EXPECT_EQ(scheduler_->Describe("c")->last_result, std::nullopt) << "it did not run";
  EXPECT_EQ(scheduler_->Describe("c")->next_trigger, Trigger::kSchedule);
  for (const char* at : {"2026-01-01T11:00:01Z", "2026-01-01T11:00:03Z", "2026-01-01T11:00:07Z",
                         "2026-01-01T11:00:15Z", "2026-01-01T11:00:31Z", "2026-01-01T11:01:03Z",
                         "2026-01-01T11:02:07Z", "2026-01-01T11:03:07Z"}) {
    At(at);
    EXPECT_EQ(StartDue(), "c:schedule:1") << at;
    Finish("c", not_started);
  }
  EXPECT_EQ(Next("c"), "2026-01-01T11:04:07Z") << "at most 60 s apart";
  At("2026-01-01T11:04:07Z");
  EXPECT_EQ(StartDue(), "c:schedule:1");
  At("2026-01-01T11:05:00Z");
  Finish("c", kOk);
  // The owed run satisfied 11:00; the next is tomorrow's, and the streak is over.
  EXPECT_EQ(Next("c"), "2026-01-02T11:00:00Z");
  At("2026-01-02T11:00:00Z");
  EXPECT_EQ(StartDue(), "c:schedule:1");
  Finish("c", not_started);
  EXPECT_EQ(Next("c"), "2026-01-02T11:00:01Z");
}

// ---- several daemons: when another daemon's run served an order's tick ----

TEST_F(SchedulerTest, TickServedByIsTheIntervalForEveryAndContinuousJobs) {
  Make({Job("e", Every(minutes(5))), Job("c", Continuous(seconds(30)))});
  std::vector<RunOrder> due = scheduler_->Due();
  ASSERT_EQ(Str(due), "e:schedule:1 c:schedule:1");
  // Another daemon's take within the last interval (start to start), or its release within the
  // last poll, serves the tick.
  EXPECT_EQ(scheduler_->TickServedBy(due[0]),
            (db::TickServed{db::TickServed::kTakenWithin, TimePoint(), minutes(5)}));
  EXPECT_EQ(scheduler_->TickServedBy(due[1]),
            (db::TickServed{db::TickServed::kReleasedWithin, TimePoint(), seconds(30)}));
  // Manual runs, retries and unknown jobs run whatever others did.
  EXPECT_EQ(scheduler_->TickServedBy({"e", Trigger::kManual, 1, T("2026-01-01T10:00:00Z")}),
            std::nullopt);
  EXPECT_EQ(scheduler_->TickServedBy({"e", Trigger::kRetry, 2, T("2026-01-01T10:00:00Z")}),
            std::nullopt);
  EXPECT_EQ(scheduler_->TickServedBy({"x", Trigger::kSchedule, 1, T("2026-01-01T10:00:00Z")}),
            std::nullopt);
}

TEST_F(SchedulerTest, TickServedByIsTheCronFireTheOrderIsFor) {
  Make({Job("n", Cron("0 11 * * *"))});
  At("2026-01-01T11:00:00.250Z");
  EXPECT_EQ(FireThenStart(), "2026-01-01T11:00:00Z");
  // It could not start (the store was down): the order that comes back is for the same fire.
  Finish("n", {Outcome::kNotStarted, true});
  At("2026-01-01T11:00:01.250Z");
  EXPECT_EQ(FireThenStart(), "2026-01-01T11:00:00Z");
  Finish("n", {Outcome::kNotStarted, true});
  At("2026-01-01T11:00:03.250Z");
  EXPECT_EQ(FireThenStart(), "2026-01-01T11:00:00Z");
  // Another daemon had run it (cancelled here): the next order is for tomorrow's fire.
  Finish("n", {Outcome::kCancelled, true});
  At("2026-01-02T11:00:00Z");
  EXPECT_EQ(FireThenStart(), "2026-01-02T11:00:00Z");
  Finish("n", kOk);
}

TEST_F(SchedulerTest, TickServedByForACronRunCollapsingFiresPassedWhileRunningIsTheLastOne) {
  Make({Job("h", Cron("0 * * * *"))});
  At("2026-01-01T11:00:00Z");
  EXPECT_EQ(FireThenStart(), "2026-01-01T11:00:00Z");
  At("2026-01-01T13:30:00Z");  // ran through the 12:00 and 13:00 fires
  Finish("h", kOk);
  EXPECT_EQ(Next("h"), "2026-01-01T13:30:00Z");
  // Another daemon's run that started at or after 13:00 served it.
  EXPECT_EQ(FireThenStart(), "2026-01-01T13:00:00Z");
  At("2026-01-01T13:31:00Z");
  Finish("h", kOk);
  At("2026-01-01T14:00:00Z");
  EXPECT_EQ(FireThenStart(), "2026-01-01T14:00:00Z");
}

TEST_F(SchedulerTest, TickServedByForACronFireMissedAcrossARestartIsThatFire) {
  Make({Job("n", Cron("0 2 * * *"))});
  ASSERT_TRUE(scheduler_->SeedLastStart("n", T("2025-12-31T02:00:00Z")).ok());
  // Today's 02:00 was missed: due now (10:00), for the 02:00 fire.
  EXPECT_EQ(FireThenStart(), "2026-01-01T02:00:00Z");
  Finish("n", kOk);
  At("2026-01-02T02:00:00Z");
  EXPECT_EQ(FireThenStart(), "2026-01-02T02:00:00Z");
}

// Another daemon held the lease: the daemon says when to ask again (no outage backoff), and any
// run that starts here meanwhile serves the owed tick; one that does not start serves nothing.
TEST_F(SchedulerTest, AnOwedTickIsAskedAgainWhenToldAndServedByAnyRunThatStarts) {
  Make({Job("h", Cron("0 * * * *"))});
  const Outcome held{Outcome::kNotStarted, true, seconds(30)};
  At("2026-01-01T11:00:00Z");
  EXPECT_EQ(StartDue(), "h:schedule:1");
  Finish("h", held);
  EXPECT_EQ(Next("h"), "2026-01-01T11:00:30Z");
  At("2026-01-01T11:00:30Z");
  EXPECT_EQ(StartDue(), "h:schedule:1");
  Finish("h", held);
  EXPECT_EQ(Next("h"), "2026-01-01T11:01:00Z") << "30 s again, not a growing backoff";
  // A manual run starts while the tick is owed, and runs past the next ask.
  At("2026-01-01T11:00:40Z");
  ASSERT_TRUE(scheduler_->RequestManual("h").ok());
  EXPECT_EQ(StartDue(), "h:manual:1");
  At("2026-01-01T11:05:00Z");
  Finish("h", kOk);
  EXPECT_EQ(Next("h"), "2026-01-01T12:00:00Z") << "the manual run served the owed 11:00 tick";

  At("2026-01-01T12:00:00Z");
  EXPECT_EQ(StartDue(), "h:schedule:1");
  Finish("h", held);
  // A manual run that could not start either (the lease is still held) serves nothing.
  At("2026-01-01T12:00:05Z");
  ASSERT_TRUE(scheduler_->RequestManual("h").ok());
  EXPECT_EQ(StartDue(), "h:manual:1");
  Finish("h", {Outcome::kNotStarted, true});
  EXPECT_EQ(Next("h"), "2026-01-01T12:00:30Z");
  At("2026-01-01T12:00:30Z");
  std::vector<RunOrder> due = scheduler_->Due();
  ASSERT_EQ(Str(due), "h:schedule:1");
  EXPECT_EQ(scheduler_->TickServedBy(due[0])->fire, T("2026-01-01T12:00:00Z"));
}

// ---- timeout ----

TEST_F(SchedulerTest, TimeoutIsReportedOnceAtExactlyTheDeadlineAndRetried) {
  Make({Job("a", Every(hours(1)), /*retries=*/1, /*timeout=*/minutes(10))});
  EXPECT_EQ(StartDue(), "a:schedule:1");
  EXPECT_EQ(Fmt(scheduler_->Describe("a")->deadline), "2026-01-01T10:10:00Z");
  EXPECT_EQ(Fmt(scheduler_->NextWakeup()), "2026-01-01T10:10:00Z");
  At("2026-01-01T10:09:59.999Z");
  EXPECT_TRUE(scheduler_->TimedOut().empty());
  At("2026-01-01T10:10:00Z");
  EXPECT_EQ(scheduler_->TimedOut(), std::vector<std::string>{"a"});
  EXPECT_TRUE(scheduler_->TimedOut().empty());        // reported once
  EXPECT_EQ(scheduler_->NextWakeup(), std::nullopt);  // nothing else to wake up for
  At("2026-01-01T10:10:05Z");                         // the run reaches a safe point
  Finish("a", Outcome{Outcome::kTimedOut, true});
  JobStatus status = scheduler_->Describe("a").value();
  EXPECT_EQ(status.last_result, Outcome::kTimedOut);
  EXPECT_EQ(Fmt(status.next_run), "2026-01-01T10:10:35Z");  // retried after 30s
  EXPECT_EQ(status.next_trigger, Trigger::kRetry);
  At("2026-01-01T10:10:35Z");
  EXPECT_EQ(StartDue(), "a:retry:2");
  // The new run has its own deadline, 10:10:35 + 10m.
  EXPECT_EQ(Fmt(scheduler_->Describe("a")->deadline), "2026-01-01T10:20:35Z");
}

TEST_F(SchedulerTest, NextWakeupIsTheEarliestDueOrDeadline) {
  Make({Job("a", Every(hours(1)), 0, minutes(20)), Job("b", Every(minutes(15)))});
  EXPECT_EQ(StartDue(), "a:schedule:1 b:schedule:1");
  At("2026-01-01T10:01:00Z");
  Finish("b", kOk);
  // b due 10:15, a's deadline 10:20.
  EXPECT_EQ(Fmt(scheduler_->NextWakeup()), "2026-01-01T10:15:00Z");
  At("2026-01-01T10:15:00Z");
  EXPECT_EQ(StartDue(), "b:schedule:1");
  At("2026-01-01T10:16:00Z");
  Finish("b", kOk);
  EXPECT_EQ(Fmt(scheduler_->NextWakeup()), "2026-01-01T10:20:00Z");
}

// ---- manual ----

TEST_F(SchedulerTest, ManualTriggerWhileRunningRunsOnceRightAfter) {
  Make({Job("a", Every(hours(1)))});
  EXPECT_EQ(StartDue(), "a:schedule:1");
  At("2026-01-01T10:05:00Z");
  EXPECT_TRUE(scheduler_->RequestManual("a").value());
  At("2026-01-01T10:06:00Z");
  EXPECT_FALSE(scheduler_->RequestManual("a").value());  // collapses with the pending one
  EXPECT_EQ(StartDue(), "");                             // no overlap
  At("2026-01-01T10:10:00Z");
  Finish("a", kOk);
  std::vector<RunOrder> due = scheduler_->Due();
  EXPECT_EQ(Str(due), "a:manual:1");
  EXPECT_EQ(Fmt(due.at(0).due), "2026-01-01T10:05:00Z");  // the first request's time
  ASSERT_TRUE(scheduler_->Started(due.at(0)).ok());
  At("2026-01-01T10:11:00Z");
  Finish("a", kOk);
  EXPECT_EQ(StartDue(), "");                     // once
  EXPECT_EQ(Next("a"), "2026-01-01T11:00:00Z");  // the schedule is untouched
}

TEST_F(SchedulerTest, ManualTriggerReplacesAPendingRetry) {
  Make({Job("a", Every(hours(1)), /*retries=*/2)});
  EXPECT_EQ(StartDue(), "a:schedule:1");
  At("2026-01-01T10:01:00Z");
  Finish("a", kFail);  // retry pending at 10:01:30
  ASSERT_TRUE(scheduler_->RequestManual("a").value());
  EXPECT_EQ(StartDue(), "a:manual:1");
  At("2026-01-01T10:02:00Z");
  Finish("a", kOk);
  EXPECT_EQ(Next("a"), "2026-01-01T11:00:00Z");  // the retry was consumed
}

TEST_F(SchedulerTest, FailedManualRunIsRetriedUnderTheJobsPolicy) {
  Make({Job("with", Schedule{}, /*retries=*/1), Job("without", Schedule{})});
  ASSERT_TRUE(scheduler_->RequestManual("with").ok());
  ASSERT_TRUE(scheduler_->RequestManual("without").ok());
  EXPECT_EQ(StartDue(), "with:manual:1 without:manual:1");
  At("2026-01-01T10:01:00Z");
  Finish("with", kFail);
  Finish("without", kFail);
  EXPECT_EQ(Next("with"), "2026-01-01T10:01:30Z");
  EXPECT_EQ(Next("without"), "none");
}

// ---- reconfigure ----

TEST_F(SchedulerTest, ReconfigureKeepsTheStateOfKeptJobs) {
  Make({Job("a", Every(hours(1)), /*retries=*/1), Job("b", Every(hours(1)))});
  EXPECT_EQ(StartDue(), "a:schedule:1 b:schedule:1");
  At("2026-01-01T10:01:00Z");
  Finish("a", kFail);  // retry at 10:01:30
  At("2026-01-01T10:01:10Z");
  // b gets a timeout (applies from its next run), c is new.
  ASSERT_TRUE(
      scheduler_
          ->Reconfigure({Job("a", Every(hours(1)), 1), Job("b", Every(hours(1)), 0, minutes(5)),
                         Job("c", Every(minutes(10)))})
          .ok());
  JobStatus a = scheduler_->Describe("a").value();
  EXPECT_EQ(Fmt(a.next_run), "2026-01-01T10:01:30Z");
  EXPECT_EQ(a.next_trigger, Trigger::kRetry);
  EXPECT_EQ(a.next_attempt, 2);
  JobStatus b = scheduler_->Describe("b").value();
  EXPECT_TRUE(b.running);
  EXPECT_EQ(Fmt(b.started), "2026-01-01T10:00:00Z");
  EXPECT_EQ(b.deadline, std::nullopt);
  EXPECT_EQ(scheduler_->running(), 1);
  EXPECT_EQ(StartDue(), "c:schedule:1");  // new: due now
  At("2026-01-01T10:02:00Z");
  Finish("b", kOk);
  EXPECT_EQ(Next("b"), "2026-01-01T11:00:00Z");
}

TEST_F(SchedulerTest, ReconfigureWithANewScheduleRecomputesTheNextRun) {
  Make({Job("a", Every(hours(1)))});
  EXPECT_EQ(StartDue(), "a:schedule:1");
  At("2026-01-01T10:01:00Z");
  Finish("a", kOk);
  EXPECT_EQ(Next("a"), "2026-01-01T11:00:00Z");
  At("2026-01-01T10:02:00Z");
  ASSERT_TRUE(scheduler_->Reconfigure({Job("a", Every(minutes(30)))}).ok());
  EXPECT_EQ(Next("a"), "2026-01-01T10:30:00Z");  // last start 10:00 + 30m
  ASSERT_TRUE(scheduler_->Reconfigure({Job("a", Cron("0 * * * *"))}).ok());
  EXPECT_EQ(Next("a"), "2026-01-01T11:00:00Z");  // first fire after 10:02
}

TEST_F(SchedulerTest, RemovedRunningJobHoldsItsSlotUntilItFinishes) {
  Make({Job("a", Every(hours(1)))}, /*max_concurrent=*/1);
  std::vector<RunOrder> first = scheduler_->Due();
  ASSERT_EQ(Str(first), "a:schedule:1");
  ASSERT_TRUE(scheduler_->Started(first[0]).ok());
  ASSERT_TRUE(scheduler_->Reconfigure({Job("b", Every(hours(1)))}).ok());
  EXPECT_EQ(StartDue(), "");  // a still holds the only slot
  EXPECT_EQ(scheduler_->Describe().size(), 1u);
  EXPECT_TRUE(scheduler_->Describe("a").status().IsNotFound());
  EXPECT_TRUE(scheduler_->RequestManual("a").status().IsNotFound());
  At("2026-01-01T10:03:00Z");
  Finish("a", kOk);
  EXPECT_EQ(StartDue(), "b:schedule:1");
  EXPECT_TRUE(scheduler_->Finished("a", kOk).IsNotFound());  // gone for good
}

TEST_F(SchedulerTest, InvalidReconfigureKeepsThePreviousList) {
  Make({Job("a", Every(hours(1)))});
  Status s = scheduler_->Reconfigure({Job("x", Every(hours(1))), Job("x", Every(hours(2)))});
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s;
  EXPECT_NE(s.message().find("\"x\" appears twice"), std::string::npos) << s;
  EXPECT_EQ(StartDue(), "a:schedule:1");
}

// ---- misuse ----

TEST_F(SchedulerTest, CreateRejectsBadInput) {
  SchedulerOptions options;
  options.max_concurrent_runs = 0;
  auto zero = Scheduler::Create({}, options, clock_);
  ASSERT_FALSE(zero.ok());
  EXPECT_NE(zero.status().message().find("at least 1"), std::string::npos) << zero.status();

  auto every_zero = Scheduler::Create({Job("a", Every(Duration(0)))}, {}, clock_);
  ASSERT_FALSE(every_zero.ok());
  EXPECT_EQ(every_zero.status().code(), StatusCode::kInvalidArgument);

  auto empty_cron = Scheduler::Create({Job("a",
                                           [] {
                                             Schedule s;
                                             s.kind = Schedule::kCron;
                                             return s;
                                           }())},
                                      {}, clock_);
  ASSERT_FALSE(empty_cron.ok());
  EXPECT_NE(empty_cron.status().message().find("no expression"), std::string::npos);
}

TEST_F(SchedulerTest, StartedAndFinishedOutOfOrderAreRefused) {
  Make({Job("a", Every(hours(1)))});
  std::vector<RunOrder> due = scheduler_->Due();
  ASSERT_EQ(due.size(), 1u);
  EXPECT_TRUE(scheduler_->Finished("a", kOk).IsConflict());  // not running yet
  ASSERT_TRUE(scheduler_->Started(due[0]).ok());
  EXPECT_TRUE(scheduler_->Started(due[0]).IsConflict());  // never overlaps itself
  RunOrder unknown = due[0];
  unknown.job = "nope";
  EXPECT_TRUE(scheduler_->Started(unknown).IsNotFound());
  EXPECT_TRUE(scheduler_->Finished("nope", kOk).IsNotFound());
  EXPECT_EQ(scheduler_->NextRun("nope"), std::nullopt);
}

}  // namespace
}  // namespace lakesync::runner
