// End-to-end tests of `lakesync daemon`, `trigger` and `run` against a real PostgreSQL
// (LAKESYNC_TEST_DATABASE_URL, a fresh database per test): several daemons sharing one
// database, leases and fencing, manual triggers, signals, HTTP health endpoints and
// notifications to local receivers. Judged from the runs / leases / run_requests tables and the
// target tables' logs (tests/tools/delta_facts.py check), never from the daemon's own reports.
//
// Source tables come from bench/delta_gen (DELTA_GEN_BINARY).

#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/e2e_util.h"
#include "tests/pg_fixture.h"
#include "tests/process.h"
#include "tests/tools/notify_receivers.h"

namespace lakesync::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::Not;
using SteadyClock = std::chrono::steady_clock;

const std::string kBinary = LAKESYNC_BINARY;
const std::string kDeltaGen = DELTA_GEN_BINARY;
const std::string kChecker = std::string(LAKESYNC_SOURCE_DIR) + "/tests/tools/delta_facts.py";

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

// Files under `dir` (recursively) modified at or after `since`.
std::vector<std::string> ModifiedSince(const std::string& dir, fs::file_time_type since) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::recursive_directory_iterator(dir, ec)) {
    if (e.is_regular_file() && e.last_write_time() >= since) out.push_back(e.path().string());
  }
  return out;
}

// One `lakesync daemon` child process; its stdout and stderr go to a log file.
class DaemonProcess : public BackgroundProcess {
 public:
  DaemonProcess(const std::string& config, const std::string& log,
                const std::map<std::string, std::string>& env)
      : BackgroundProcess({kBinary, "daemon", "-c", config}, env, log) {}

  std::string runner_id() const {
    char host[256] = {0};
    gethostname(host, sizeof(host) - 1);
    return std::string(host) + "-" + std::to_string(pid());
  }

  // The HTTP port from the start-up line ("... on http://127.0.0.1:PORT ..."); 0 if not seen.
  int HttpPort(std::chrono::milliseconds timeout) const {
    static const std::regex kPort("on http://[^ ]*:([0-9]+) ");
    auto end = SteadyClock::now() + timeout;
    while (SteadyClock::now() < end) {
      std::smatch m;
      std::string log = Log();
      if (std::regex_search(log, m, kPort)) return std::stoi(m[1].str());
      std::this_thread::sleep_for(20ms);
    }
    return 0;
  }
};

struct HttpAnswer {
  int status = 0;
  std::string body;
};

HttpAnswer HttpGet(int port, const std::string& path) {
  try {
    Poco::Net::HTTPClientSession session("127.0.0.1", static_cast<Poco::UInt16>(port));
    session.setTimeout(Poco::Timespan(5, 0));
    Poco::Net::HTTPRequest request(Poco::Net::HTTPRequest::HTTP_GET, path,
                                   Poco::Net::HTTPMessage::HTTP_1_1);
    session.sendRequest(request);
    Poco::Net::HTTPResponse response;
    std::istream& in = session.receiveResponse(response);
    HttpAnswer a;
    a.status = static_cast<int>(response.getStatus());
    a.body.assign(std::istreambuf_iterator<char>(in), {});
    return a;
  } catch (const std::exception& e) {
    return {0, e.what()};
  }
}

struct JobSpec {
  std::string name;
  std::string schedule;  // YAML flow mapping, e.g. "{ every: 1s }"; "" = manual only
  std::string source;    // table name under src/
  std::string extra;     // more job keys, each "    key: value\n"
};

class DaemonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string base = TestDatabaseBaseUrl();
    if (base.empty()) {
      GTEST_SKIP() << "\n*** daemon e2e test SKIPPED: LAKESYNC_TEST_DATABASE_URL is not set. ***\n"
                      "Run scripts/test.sh, or start a server with scripts/pg.sh and export it.\n";
    }
    db_ = std::make_unique<ScratchDatabase>(base);
    ASSERT_EQ(db_->Create(), "");
    env_ = {{"LAKESYNC_DATABASE_URL", db_->url()}};
  }

  std::string Src(const std::string& t) const { return dir_.path() + "/src/" + t; }
  std::string Dst(const std::string& t) const { return dir_.path() + "/dst/" + t; }

  int64_t Generate(const std::string& table, int commits, int files, int size, int seed = 1) {
    ProcessResult r =
        RunProcess({kDeltaGen, "--table", Src(table), "--commits", std::to_string(commits),
                    "--files-per-commit", std::to_string(files), "--file-size",
                    std::to_string(size), "--seed", std::to_string(seed)});
    EXPECT_EQ(r.exit_code, 0) << Dump(r);
    return r.exit_code == 0 ? std::stoll(r.out) : -1;
  }

  // Writes a configuration (name: file name in the temp dir) and returns its path.
  std::string WriteConfig(const std::string& name, const std::string& runner,
                          const std::vector<JobSpec>& jobs, const std::string& notifications = "") {
    std::string y = "runner:\n  listen: 127.0.0.1:0\n" + runner + "locations:\n  src: file://" +
                    dir_.path() + "/src\n  dst: file://" + dir_.path() + "/dst\n" + notifications +
                    "jobs:\n";
    for (const auto& j : jobs) {
      y += "  - name: " + j.name + "\n    kind: incremental\n    source: src:/" + j.source +
           "\n    targets: [dst:/" + j.name + "]\n";
      if (!j.schedule.empty()) y += "    schedule: " + j.schedule + "\n";
      y += j.extra;
    }
    return dir_.WriteFile(name, y);
  }

  std::unique_ptr<DaemonProcess> StartDaemon(const std::string& config, const std::string& log) {
    return std::make_unique<DaemonProcess>(config, dir_.path() + "/" + log, env_);
  }

  // A daemon running job `job` (every 1h; lease_ttl 2s, heartbeat 500ms) over table "big",
  // whose 250 commits (head 249) of 8 files make one run take a while (one copy at a time);
  // returned as soon as the run has published its first commit. Null (with a failure) when it
  // did not within a minute.
  std::unique_ptr<DaemonProcess> StartLongRun(const std::string& job, int slots = 1) {
    if (!fs::exists(Src("big"))) {
      EXPECT_EQ(Generate("big", 250, 8, 256), 249);
    }
    const std::string config =
        WriteConfig(job + ".yaml",
                    "  max_concurrent_runs: " + std::to_string(slots) +
                        "\n  copy_parallelism: 1\n  lease_ttl: 2s\n  heartbeat_interval: 500ms\n",
                    {{job, "{ every: 1h }", "big", ""}});
    auto d = StartDaemon(config, job + ".log");
    const std::string target = Dst(job);
    for (auto until = SteadyClock::now() + 60s;
         ContiguousHead(target) < 0 && SteadyClock::now() < until;) {
      std::this_thread::sleep_for(1ms);
    }
    if (ContiguousHead(target) < 0) {
      ADD_FAILURE() << "no commit published within 60 s:\n" << d->Log();
      return nullptr;
    }
    return d;
  }

  ProcessResult Cli(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {kBinary};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunProcess(argv, env_);
  }

  std::string Q(const std::string& sql) const { return db_->Query(sql); }

  // Whether `n` runs succeeded within 30 s.
  bool WaitForSucceededRuns(int n) const {
    const std::string want = std::to_string(n);
    for (auto until = SteadyClock::now() + 30s; SteadyClock::now() < until;) {
      if (Q("SELECT count(*) FROM runs WHERE status = 'succeeded'") == want) return true;
      std::this_thread::sleep_for(50ms);
    }
    return false;
  }

  // SIGTERM, then the exit within `limit` (nullopt: none; the daemon is then SIGKILLed) and the
  // seconds it took.
  static std::pair<std::optional<int>, double> TerminateAndTime(DaemonProcess& d,
                                                                std::chrono::seconds limit) {
    const auto signalled = SteadyClock::now();
    d.Signal(SIGTERM);
    const std::optional<int> code = d.Wait(limit);
    const double took = std::chrono::duration<double>(SteadyClock::now() - signalled).count();
    if (!code) d.Signal(SIGKILL);
    return {code, took};
  }

  // The state store frozen: every backend of the test database but the asking query's own is
  // SIGSTOPped (queries on them hang; their connections stay up) until the value is destroyed.
  struct Frozen {
    bool ok = false;
    std::string error;
    std::vector<pid_t> pids;
    Frozen() = default;
    Frozen(Frozen&& o) noexcept : ok(o.ok), error(std::move(o.error)), pids(std::move(o.pids)) {
      o.pids.clear();
    }
    ~Frozen() {
      for (pid_t pid : pids) kill(pid, SIGCONT);
    }
  };
  Frozen FreezeStateStore() const {
    Frozen f;
    std::istringstream pids(
        Q("SELECT string_agg(pid::text, ' ') FROM pg_stat_activity WHERE "
          "datname = current_database() AND pid <> pg_backend_pid()"));
    for (pid_t pid = 0; pids >> pid;) {
      if (kill(pid, SIGSTOP) != 0) {
        f.error = "SIGSTOP of backend " + std::to_string(pid) + ": " + strerror(errno);
        return f;
      }
      f.pids.push_back(pid);
    }
    f.ok = !f.pids.empty();
    if (!f.ok) f.error = "no backend of the daemon's to freeze";
    return f;
  }

  // Runs of one job that overlap in time: pairs (a, b), a started first, b started before a
  // finished. Runs still `running` count as never finishing.
  std::string Overlaps() const {
    return Q(
        "SELECT string_agg(a.job || ':' || a.id || '/' || b.id, ' ') FROM runs a JOIN runs b ON "
        "a.job = b.job AND a.id <> b.id AND (a.started_at, a.id) < (b.started_at, b.id) AND "
        "b.started_at < coalesce(a.finished_at, 'infinity')");
  }

  // Two daemons on one hourly job over a table whose run takes a while; the holder of the first
  // run gets `sig` (SIGKILL: dies; SIGTERM with shutdown_grace 0: cancels its run and stops). The
  // other daemon, which found the lease held, must run the tick once the holder is gone.
  void ExpectTheOtherDaemonRunsTheTickAfter(int sig) {
    ASSERT_EQ(Generate("big", 400, 8, 256), 399);
    const std::string config =
        WriteConfig("takeover.yaml",
                    "  copy_parallelism: 1\n  lease_ttl: 2s\n  heartbeat_interval: 500ms\n"
                    "  lag_probe_interval: 1h\n  shutdown_grace: 0s\n",
                    {{"hourly", "{ every: 1h }", "big", ""}});
    // Both daemons' first tick is at their start: one takes the lease, the other finds it held
    // and asks again until that run ends.
    std::vector<std::unique_ptr<DaemonProcess>> daemons;
    daemons.push_back(StartDaemon(config, "takeover-a.log"));
    daemons.push_back(StartDaemon(config, "takeover-b.log"));
    std::string holder;
    for (auto until = SteadyClock::now() + 60s; SteadyClock::now() < until;) {
      holder = Q("SELECT runner_id FROM runs WHERE status = 'running'");
      if (!holder.empty() && ContiguousHead(Dst("hourly")) >= 0) break;
      std::this_thread::sleep_for(1ms);
    }
    ASSERT_FALSE(holder.empty()) << daemons[0]->Log() << daemons[1]->Log();
    const int victim = daemons[0]->runner_id() == holder ? 0 : 1;
    DaemonProcess& other = *daemons[1 - victim];
    ASSERT_EQ(ContiguousHead(Src("big")), 399);
    daemons[victim]->Signal(sig);
    ASSERT_EQ(daemons[victim]->Wait(10s), std::optional<int>(sig == SIGKILL ? -1 : 0))
        << daemons[victim]->Log();
    const auto killed = SteadyClock::now();
    ASSERT_LT(ContiguousHead(Dst("hourly")), 399)
        << "the run ended before the signal; make the table bigger\n"
        << daemons[victim]->Log();
    const std::string by_other =
        "SELECT count(*) FROM runs WHERE status = 'succeeded' AND runner_id = '" +
        other.runner_id() + "'";
    bool done = false;
    while (!done && SteadyClock::now() < killed + 40s) {
      done = Q(by_other) == "1";
      if (!done) std::this_thread::sleep_for(50ms);
    }
    const double took = std::chrono::duration<double>(SteadyClock::now() - killed).count();
    std::cout << "[ measured ] the tick of a holder that got " << strsignal(sig)
              << " was run by the other daemon, done " << took << " s later (lease_ttl 2s)\n";
    ASSERT_TRUE(done) << other.Log();
    EXPECT_EQ(Q("SELECT trigger || ' ' || attempt FROM runs WHERE runner_id = '" +
                other.runner_id() + "'"),
              "schedule 1");
    EXPECT_THAT(Q("SELECT status || ' ' || error FROM runs WHERE runner_id = '" + holder + "'"),
                HasSubstr(sig == SIGKILL ? "failed abandoned" : "cancelled"));
    ProcessResult check =
        RunProcess({Python(), kChecker, "check", Src("big"), Dst("hourly"), "--version", "399"});
    EXPECT_EQ(check.exit_code, 0) << Dump(check);
    other.Signal(SIGTERM);
    EXPECT_EQ(other.Wait(30s), std::optional<int>(0)) << other.Log();
  }

  TempDir dir_;
  std::unique_ptr<ScratchDatabase> db_;
  std::map<std::string, std::string> env_;
};

// ---------------------------------------------------------------------------------------------
// Three daemons × 20 jobs on one database; one is SIGKILLed; the others drain on SIGTERM.
// ---------------------------------------------------------------------------------------------

TEST_F(DaemonTest, ThreeDaemonsShareTwentyJobsWithoutOverlapAndSurviveAKill) {
  constexpr int kJobs = 20;
  std::vector<JobSpec> jobs;
  for (int i = 0; i < kJobs; ++i) {
    std::string name = "job" + std::to_string(i);
    ASSERT_EQ(Generate(name, 3, 2, 512, i + 1), 2);
    jobs.push_back({name, "{ every: 1s }", name, ""});
  }
  // job0's first run copies 3,000 files: long enough to kill its holder in the middle of it.
  ASSERT_EQ(Generate("job0", 300, 10, 256, 99), 302);
  const std::string runner =
      "  max_concurrent_runs: 4\n  copy_parallelism: 2\n  lease_ttl: 3s\n"
      "  heartbeat_interval: 1s\n  shutdown_grace: 20s\n  lag_probe_interval: 2s\n";
  const std::string config = WriteConfig("three.yaml", runner, jobs);

  std::vector<std::unique_ptr<DaemonProcess>> daemons;
  for (int i = 0; i < 3; ++i) daemons.push_back(StartDaemon(config, "d" + std::to_string(i)));
  for (auto& d : daemons) ASSERT_GT(d->HttpPort(30s), 0) << d->Log();

  // Writers keep appending to the sources while the daemons run.
  std::atomic<bool> stop_writers{false};
  std::thread writer([&] {
    std::mt19937 rng(7);
    int seed = 100;
    while (!stop_writers) {
      std::string name = "job" + std::to_string(1 + rng() % (kJobs - 1));
      RunProcess({kDeltaGen, "--table", Src(name), "--commits", "2", "--files-per-commit", "2",
                  "--file-size", "512", "--seed", std::to_string(++seed)});
      std::this_thread::sleep_for(150ms);
    }
  });

  // Kill the daemon running job0, in the middle of its run.
  std::string holder;
  auto deadline = SteadyClock::now() + 30s;
  while (holder.empty() && SteadyClock::now() < deadline) {
    holder = Q("SELECT runner_id FROM runs WHERE job = 'job0' AND status = 'running'");
    if (holder.empty()) std::this_thread::sleep_for(10ms);
  }
  ASSERT_FALSE(holder.empty()) << "job0 never ran";
  DaemonProcess* victim = nullptr;
  for (auto& d : daemons) {
    if (d->runner_id() == holder) victim = d.get();
  }
  ASSERT_NE(victim, nullptr) << holder;
  victim->Signal(SIGKILL);
  ASSERT_EQ(victim->Wait(5s), std::optional<int>(-1));
  const std::string killed_at = Q("SELECT (extract(epoch from clock_timestamp()) * 1000)::bigint");
  ASSERT_EQ(Q("SELECT count(*) FROM runs WHERE job = 'job0' AND status = 'running'"), "1")
      << "the kill came after job0's run finished; make its table bigger";

  std::this_thread::sleep_for(20s);
  stop_writers = true;
  writer.join();
  std::this_thread::sleep_for(5s);  // the last appends get replicated

  for (auto& d : daemons) {
    if (d.get() != victim) d->Signal(SIGTERM);
  }
  for (auto& d : daemons) {
    if (d.get() != victim) {
      EXPECT_EQ(d->Wait(30s), std::optional<int>(0)) << d->Log();
    }
  }

  // Every job ran, many times, on more than one runner.
  const std::string per_job =
      Q("SELECT count(DISTINCT job) || ',' || min(n) FROM (SELECT job, count(*) AS n FROM runs "
        "WHERE status = 'succeeded' GROUP BY job) s");
  EXPECT_EQ(per_job.substr(0, per_job.find(',')), std::to_string(kJobs)) << per_job;
  EXPECT_GE(std::stoi(per_job.substr(per_job.find(',') + 1)), 5) << per_job;
  EXPECT_EQ(Q("SELECT count(DISTINCT runner_id) FROM runs"), "3");
  // No two runs of one job overlapped in time.
  EXPECT_EQ(Overlaps(), "");
  // The killed run was taken over within lease_ttl + one heartbeat (+ the job's 1s interval
  // and scheduling slack) and marked abandoned by the runner that took over.
  const std::string restart_ms =
      Q("SELECT min((extract(epoch from started_at) * 1000)::bigint) - " + killed_at +
        " FROM runs WHERE job = 'job0' AND runner_id <> '" + holder + "'");
  ASSERT_FALSE(restart_ms.empty());
  EXPECT_LE(std::stoll(restart_ms), 3000 + 1000 + 2500);
  std::cout << "[ measured ] job0 restarted " << restart_ms
            << " ms after its holder was SIGKILLed (lease_ttl 3s, heartbeat 1s)\n";
  EXPECT_THAT(Q("SELECT status || ' ' || error FROM runs WHERE job = 'job0' AND runner_id = '" +
                holder + "'"),
              HasSubstr("failed abandoned"));
  EXPECT_EQ(Q("SELECT count(*) FROM runs WHERE status = 'running'"), "0");
  // Drained: no live lease.
  EXPECT_EQ(Q("SELECT count(*) FROM leases WHERE expires_at > clock_timestamp()"), "0");
  // Every target is a valid replica that caught up with its source.
  for (const auto& j : jobs) {
    ProcessResult check = RunProcess({Python(), kChecker, "check", Src(j.source), Dst(j.name),
                                      "--version", std::to_string(ContiguousHead(Src(j.source)))});
    EXPECT_EQ(check.exit_code, 0) << j.name << ": " << Dump(check);
  }
}

// ---------------------------------------------------------------------------------------------
// Two daemons keep the same schedules: a tick runs once, not once per daemon, even when its run
// ends before the other daemon asks for the lease; a failing run is retried by one of them only.
// ---------------------------------------------------------------------------------------------

TEST_F(DaemonTest, TwoDaemonsRunEachScheduleTickOnceAndRetryAFailureOnce) {
  ASSERT_EQ(Generate("q", 2, 2, 256), 1);
  // A source whose first commit is not JSON: every run of it fails.
  fs::create_directories(Src("bad") + "/_delta_log");
  { std::ofstream(Src("bad") + "/_delta_log/00000000000000000000.json") << "not json\n"; }
  const std::string config = WriteConfig(
      "pair.yaml", "  lag_probe_interval: 1h\n",
      {{"quick", "{ every: 2s }", "q", ""},
       {"broken", "{ every: 3s }", "bad", "    retries: { max: 1, backoff: 200ms }\n"}});
  // The second daemon's ticks come ~0.7 s after the first's: long after a run of `quick` ended,
  // well within the interval.
  auto a = StartDaemon(config, "pair-a.log");
  ASSERT_GT(a->HttpPort(30s), 0) << a->Log();
  std::this_thread::sleep_for(700ms);
  auto b = StartDaemon(config, "pair-b.log");
  ASSERT_GT(b->HttpPort(30s), 0) << b->Log();
  std::this_thread::sleep_for(14s);
  a->Signal(SIGTERM);
  b->Signal(SIGTERM);
  EXPECT_EQ(a->Wait(30s), std::optional<int>(0)) << a->Log();
  EXPECT_EQ(b->Wait(30s), std::optional<int>(0)) << b->Log();

  // Scheduled starts of one job, in order, and the shortest gap between two of them (ms).
  auto starts = [&](const std::string& job) {
    return Q(
        "SELECT count(*) || ' ' || coalesce(min(gap), 0) FROM (SELECT (extract(epoch from "
        "started_at - lag(started_at) OVER (ORDER BY started_at)) * 1000)::bigint AS gap "
        "FROM runs WHERE job = '" +
        job + "' AND trigger = 'schedule') s");
  };
  const std::string quick = starts("quick");
  const std::string broken = starts("broken");
  std::cout << "[ measured ] scheduled runs (count, shortest gap ms): quick every 2s: " << quick
            << "; broken every 3s: " << broken << "\n";
  const int quick_runs = std::stoi(quick);
  const int broken_runs = std::stoi(broken);
  // ~15 s: 7 or 8 ticks of 2 s and 5 or 6 of 3 s (a daemon's first run is at its start).
  EXPECT_GE(quick_runs, 5) << quick;
  EXPECT_LE(quick_runs, 9) << quick;
  EXPECT_GE(broken_runs, 3) << broken;
  EXPECT_LE(broken_runs, 6) << broken;
  // The interval holds start to start across both daemons. (A run's recorded start comes a
  // little after the lease it was compared by: 200 ms of slack. Without the condition on the
  // lease the other daemon runs the same tick a few milliseconds later.)
  EXPECT_GE(std::stoll(quick.substr(quick.find(' ') + 1)), 1800) << quick;
  EXPECT_GE(std::stoll(broken.substr(broken.find(' ') + 1)), 2800) << broken;
  // Each failed scheduled run was retried once, by one daemon: retries <= scheduled runs.
  const int retries =
      std::stoi(Q("SELECT count(*) FROM runs WHERE job = 'broken' AND trigger "
                  "= 'retry'"));
  EXPECT_GE(retries, broken_runs - 1);
  EXPECT_LE(retries, broken_runs);
  EXPECT_EQ(Q("SELECT count(*) FROM runs WHERE job = 'broken' AND status <> 'failed'"), "0");
  EXPECT_EQ(Overlaps(), "");
}

// ---------------------------------------------------------------------------------------------
// A scheduled run whose holder dies mid-run is run again by another daemon that had the same
// tick, once the lease expires, not at the job's next tick (an hour later here).
// ---------------------------------------------------------------------------------------------

TEST_F(DaemonTest, ATickWhoseHolderWasKilledMidRunIsRunByAnotherDaemon) {
  ExpectTheOtherDaemonRunsTheTickAfter(SIGKILL);
}

TEST_F(DaemonTest, ATickWhoseHolderStoppedAndCancelledItsRunIsRunByAnotherDaemon) {
  ExpectTheOtherDaemonRunsTheTickAfter(SIGTERM);
}

// ---------------------------------------------------------------------------------------------
// A state store that freezes (its backends stopped: queries hang, connections stay up) does not
// hold up a SIGTERM for ever: the daemon leaves after its bounded stop, exit 1, saying why.
// ---------------------------------------------------------------------------------------------

TEST_F(DaemonTest, AFrozenStateStoreDoesNotHoldUpTheStop) {
  ASSERT_EQ(Generate("f", 2, 2, 256), 1);
  const std::string config =
      WriteConfig("frozen.yaml", "  lag_probe_interval: 1s\n  shutdown_grace: 1s\n",
                  {{"once", "{ every: 1h }", "f", ""}});
  auto d = StartDaemon(config, "frozen.log");
  ASSERT_TRUE(WaitForSucceededRuns(1)) << d->Log();
  Frozen frozen = FreezeStateStore();
  ASSERT_TRUE(frozen.ok) << frozen.error;
  // The lag probe's sweep (every second) is now stuck in a query.
  std::this_thread::sleep_for(2500ms);
  const auto [code, took] = TerminateAndTime(*d, 60s);
  std::cout << "[ measured ] stopped " << took << " s after SIGTERM with the state store frozen\n";
  ASSERT_EQ(code, std::optional<int>(1)) << d->Log();
  // The helpers' bound (5 s) after an idle drain, well before the last resort (1 s of grace +
  // 30 s of drain + 5 s + 10 s).
  EXPECT_LT(took, 15.0);
  EXPECT_THAT(d->Log(), HasSubstr("did not stop within 5s (stuck in a query to a state store"));
}

// The last resort: a reload stuck in a query to a frozen state store holds the daemon's main
// loop (and its lock); SIGTERM is still taken, and the process ends shutdown_grace + 45 s later.
TEST_F(DaemonTest, ASigtermDuringAReloadStuckOnAFrozenStateStoreEndsTheDaemon) {
  ASSERT_EQ(Generate("f", 2, 2, 256), 1);
  const std::string config =
      WriteConfig("stuck.yaml", "  lag_probe_interval: 1h\n  shutdown_grace: 0s\n",
                  {{"once", "{ every: 1h }", "f", ""}});
  auto d = StartDaemon(config, "stuck.log");
  ASSERT_TRUE(WaitForSucceededRuns(1)) << d->Log();
  Frozen frozen = FreezeStateStore();
  ASSERT_TRUE(frozen.ok) << frozen.error;
  d->Signal(SIGHUP);  // the reload records the job list: stuck, holding the main loop
  std::this_thread::sleep_for(1s);
  d->Signal(SIGHUP);  // a second one must not hold up the signal thread either
  std::this_thread::sleep_for(500ms);
  const auto [code, took] = TerminateAndTime(*d, 70s);
  std::cout << "[ measured ] ended " << took
            << " s after SIGTERM (reload stuck on a frozen store)\n";
  ASSERT_EQ(code, std::optional<int>(1)) << d->Log();
  EXPECT_GE(took, 44.0);
  EXPECT_LT(took, 50.0);
  EXPECT_THAT(d->Log(), HasSubstr("SIGTERM: stopping"));
  EXPECT_THAT(d->Log(), HasSubstr("still running 45s after the signal; exiting now"));
}

// ---------------------------------------------------------------------------------------------
// A holder frozen (SIGSTOP) past its lease TTL publishes nothing after it resumes.
// ---------------------------------------------------------------------------------------------

TEST_F(DaemonTest, FrozenHolderPublishesNothingAfterItsLeaseWasTakenOver) {
  const int64_t head = 249;
  auto d = StartLongRun("fence");
  ASSERT_NE(d, nullptr);
  // Freeze it as soon as its run has published its first commit.
  const std::string target = Dst("fence");
  d->Signal(SIGSTOP);
  const int64_t frozen_head = ContiguousHead(target);
  ASSERT_GE(frozen_head, 0) << d->Log();
  if (frozen_head >= head) {
    GTEST_SKIP() << "the run finished before it could be frozen; make the table bigger";
  }
  std::this_thread::sleep_for(200ms);  // a write in flight at the SIGSTOP lands
  const int64_t head_at_freeze = ContiguousHead(target);

  // Another runner takes the job over once the lease expired (the token grows) and publishes
  // nothing itself, so anything new on the target would come from the frozen holder.
  std::this_thread::sleep_for(2500ms);
  EXPECT_EQ(Q("UPDATE leases SET holder = 'thief', token = token + 1, acquired_at = "
              "clock_timestamp(), heartbeat_at = clock_timestamp(), expires_at = "
              "clock_timestamp() + interval '1 hour' WHERE job = 'fence' AND expires_at < "
              "clock_timestamp() RETURNING token"),
            "2");
  const auto resumed = fs::file_time_type::clock::now();
  d->Signal(SIGCONT);
  ASSERT_TRUE(d->WaitForLog("lease lost", 15s)) << d->Log();
  std::this_thread::sleep_for(1s);
  // A publish the SIGSTOP interrupted between its (passed) lease check and its completion
  // finishes on resume: at most that one commit; nothing after it (without fencing the run
  // would go on to publish the remaining ~240 versions).
  const int64_t head_after = ContiguousHead(target);
  EXPECT_LE(head_after, head_at_freeze + 1) << d->Log();
  EXPECT_LE(ModifiedSince(target + "/_delta_log", resumed).size(), 1u) << d->Log();
  std::cout << "[ measured ] frozen holder: head " << head_at_freeze << " at the freeze, "
            << head_after << " after resuming (source head " << head << ")\n";
  // Nothing was recorded either: the run stays `running` for the next holder to abandon.
  EXPECT_EQ(Q("SELECT status FROM runs WHERE job = 'fence'"), "running");
  // Found out from the database (the token changed) or from a lease check whose answer was
  // older than the validity it reported (the freeze hit while it travelled).
  EXPECT_THAT(d->Log(), ::testing::ContainsRegex("taken over by thief|took longer than"));
  // The replica is still valid (a prefix of the source).
  ProcessResult check = RunProcess({Python(), kChecker, "check", Src("big"), target});
  EXPECT_EQ(check.exit_code, 0) << Dump(check);
  d->Signal(SIGTERM);
  EXPECT_EQ(d->Wait(20s), std::optional<int>(0)) << d->Log();
}

// Leases are per job name: a job renamed while its run goes on (the new name is due at once)
// would write the same table beside it. The new name waits for the old name's run to end
// (before: both ran at once).
TEST_F(DaemonTest, ARenamedJobWaitsForTheOldNamesRunOnTheSameTable) {
  auto d = StartLongRun("before", /*slots=*/4);  // only the shared table keeps "after" waiting
  ASSERT_NE(d, nullptr);
  const std::string config = dir_.path() + "/before.yaml";
  std::ifstream in(config);
  std::string yaml((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string old_name = "  - name: before\n";
  ASSERT_NE(yaml.find(old_name), std::string::npos) << yaml;
  yaml.replace(yaml.find(old_name), old_name.size(), "  - name: after\n");
  dir_.WriteFile("before.yaml", yaml);  // the same target (dst:/before), another name
  d->Signal(SIGHUP);
  ASSERT_TRUE(
      d->WaitForLog("after: waits for the running job before, which writes the same "
                    "table",
                    15s))
      << d->Log();
  for (auto until = SteadyClock::now() + 120s;
       Q("SELECT count(*) FROM runs WHERE job = 'after' AND status <> 'running'") != "1" &&
       SteadyClock::now() < until;) {
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(Q("SELECT status FROM runs WHERE job = 'after'"), "succeeded") << d->Log();
  EXPECT_EQ(Q("SELECT bool_and(a.started_at >= b.finished_at) FROM runs a, runs b "
              "WHERE a.job = 'after' AND b.job = 'before'"),
            "t")
      << Q("SELECT job, status, started_at, finished_at FROM runs") << d->Log();
  d->Signal(SIGTERM);
  EXPECT_EQ(d->Wait(20s), std::optional<int>(0)) << d->Log();
}

// A lease that expired while nobody took the job (the database unreachable, or the process
// paused, for longer than lease_ttl): the run stops publishing, as for a takeover, but it is
// this runner's failure — recorded failed on its own row, with the reason, notified and
// retried like one. The old code left the row `running` and treated it as cancelled: no record,
// no alert, no retry.
TEST_F(DaemonTest, ALeaseThatExpiredWithoutATakeoverFailsTheRunAndRecordsIt) {
  const int64_t head = 249;
  auto d = StartLongRun("expire");
  ASSERT_NE(d, nullptr);
  const std::string target = Dst("expire");
  // The lease runs out under the holder; the token stays: nobody took the job.
  EXPECT_EQ(Q("UPDATE leases SET expires_at = clock_timestamp() - interval '1 second' "
              "WHERE job = 'expire' RETURNING token"),
            "1");
  std::string status = "running";
  for (auto until = SteadyClock::now() + 20s; status == "running" && SteadyClock::now() < until;) {
    std::this_thread::sleep_for(100ms);
    status = Q("SELECT status FROM runs WHERE job = 'expire'");
  }
  if (status == "succeeded" && ContiguousHead(target) == head) {
    GTEST_SKIP() << "the run finished before its lease ran out; make the table bigger";
  }
  EXPECT_EQ(status, "failed") << d->Log();
  EXPECT_THAT(Q("SELECT error FROM runs WHERE job = 'expire'"),
              HasSubstr("expired before it was renewed"));
  EXPECT_LT(ContiguousHead(target), head) << "it stopped publishing";
  ProcessResult check = RunProcess({Python(), kChecker, "check", Src("big"), target});
  EXPECT_EQ(check.exit_code, 0) << Dump(check);
  d->Signal(SIGTERM);
  EXPECT_EQ(d->Wait(20s), std::optional<int>(0)) << d->Log();
}

// The store unreachable when a scheduled run is due (a failover, a restart): the run did not
// start, so it is owed, and it runs within seconds of the database's return instead of being
// dropped until the next tick (the old code: the 10 s tick was lost and the next run came at
// 20 s). Every session the daemon had was ended too, and it carries on with new ones.
TEST_F(DaemonTest, AScheduledRunTheStoreMissedRunsOnceItIsBack) {
  ASSERT_EQ(Generate("s", 3, 2, 512), 2);
  const std::string config = WriteConfig("outage.yaml", "", {{"tick", "{ every: 10s }", "s", ""}});
  auto d = StartDaemon(config, "outage.log");
  auto runs = [&] { return Q("SELECT count(*) FROM runs WHERE job = 'tick'"); };
  for (auto until = SteadyClock::now() + 30s;
       Q("SELECT count(*) FROM runs WHERE job = 'tick' AND status = 'succeeded'") != "1" &&
       SteadyClock::now() < until;) {
    std::this_thread::sleep_for(50ms);
  }
  ASSERT_EQ(runs(), "1") << d->Log();
  // Unreachable from now (≈ the first run's start) until 11 s later: the 10 s tick falls in it.
  ASSERT_EQ(db_->SetUnreachable(true), "");
  std::this_thread::sleep_for(11s);
  ASSERT_EQ(db_->SetUnreachable(false), "");
  const std::string back = Q("SELECT extract(epoch from clock_timestamp())");
  for (auto until = SteadyClock::now() + 20s; runs() == "1" && SteadyClock::now() < until;) {
    std::this_thread::sleep_for(100ms);
  }
  ASSERT_EQ(runs(), "2") << d->Log();
  const double gap = std::stod(
      Q("SELECT extract(epoch from max(started_at) - min(started_at)) FROM runs WHERE job = "
        "'tick'"));
  const double after_back =
      std::stod(Q("SELECT extract(epoch from max(started_at)) FROM runs WHERE job = 'tick'")) -
      std::stod(back);
  std::cout << "[ measured ] second run " << gap << " s after the first, " << after_back
            << " s after the database was back (tick 10 s, outage from ≈0 to ≈11 s)\n";
  // Before the next tick (20 s), which is when the old code ran it; and within a backoff step
  // of the database's return (retries 1, 2, 4 s apart by then).
  EXPECT_LT(gap, 19.5) << d->Log();
  EXPECT_LT(after_back, 5.0) << d->Log();
  EXPECT_THAT(d->Log(), HasSubstr("it is tried again shortly"));
  EXPECT_EQ(Q("SELECT string_agg(status, ',') FROM runs WHERE job = 'tick'"),
            "succeeded,succeeded");
  d->Signal(SIGTERM);
  EXPECT_EQ(d->Wait(20s), std::optional<int>(0)) << d->Log();
}

// Runs a dead daemon left `running` on jobs nobody runs any more (manual-only now, or gone from
// the configuration) are closed by any daemon's sweep once they had no heartbeat for
// 3 × lease_ttl; a run whose job has a live lease is its holder's to judge, and a run with a
// recent heartbeat is alive. Judged from the runs table.
TEST_F(DaemonTest, SilentRunsOfJobsNobodyRunsAreClosedByTheSweep) {
  ASSERT_EQ(Generate("q", 2, 1, 256), 1);
  WebhookReceiver hook;
  const std::string config = WriteConfig(
      "sweep.yaml", "  lease_ttl: 1s\n  heartbeat_interval: 300ms\n  lag_probe_interval: 1s\n",
      {{"quiet", "", "q", ""}}, "notifications:\n  - webhook: " + hook.url() + "\n");
  ASSERT_EQ(Cli({"db", "migrate", "-c", config}).exit_code, 0);
  auto insert = [&](const std::string& job, const std::string& heartbeat_age) {
    return Q(
        "INSERT INTO runs (job, kind, trigger, runner_id, status, started_at, heartbeat_at) "
        "VALUES ('" +
        job +
        "', 'incremental', 'manual', 'dead-daemon', 'running', "
        "clock_timestamp() - interval '1 hour', clock_timestamp() - interval '" +
        heartbeat_age + "') RETURNING id");
  };
  const std::string quiet = insert("quiet", "1 minute");    // manual-only job: swept
  const std::string gone = insert("gone", "1 minute");      // not configured: swept
  const std::string leased = insert("leased", "1 minute");  // its job is leased: kept
  const std::string alive = insert("alive", "-1 minute");   // a recent heartbeat: kept
  ASSERT_EQ(Q("INSERT INTO leases (job, holder, token, acquired_at, heartbeat_at, expires_at) "
              "VALUES ('leased', 'other-daemon', 1, clock_timestamp(), clock_timestamp(), "
              "clock_timestamp() + interval '1 hour') RETURNING job"),
            "leased");
  auto d = StartDaemon(config, "sweep.log");
  const std::string closed =
      "SELECT count(*) FROM runs WHERE status = 'failed' AND id IN (" + quiet + ", " + gone + ")";
  for (auto until = SteadyClock::now() + 15s; Q(closed) != "2" && SteadyClock::now() < until;) {
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(Q(closed), "2") << d->Log();
  EXPECT_THAT(Q("SELECT error FROM runs WHERE id = " + quiet), HasSubstr("abandoned"));
  EXPECT_THAT(Q("SELECT error FROM runs WHERE id = " + quiet),
              HasSubstr("no heartbeat for over 3s"));
  EXPECT_EQ(Q("SELECT status FROM runs WHERE id = " + leased), "running") << d->Log();
  EXPECT_EQ(Q("SELECT status FROM runs WHERE id = " + alive), "running") << d->Log();
  EXPECT_THAT(d->Log(), HasSubstr("marked 2 run(s) left `running` by a daemon that stopped"));
  // The configured job's abandoned run is notified as a failure (before: silently closed); the
  // unconfigured one's is not.
  ASSERT_TRUE(hook.WaitFor(1, 10s)) << d->Log();
  std::this_thread::sleep_for(500ms);
  ASSERT_EQ(hook.received().size(), 1u);
  EXPECT_THAT(hook.received()[0], HasSubstr("\"job\":\"quiet\""));
  EXPECT_THAT(hook.received()[0], HasSubstr("\"event\":\"failure\""));
  EXPECT_THAT(hook.received()[0], HasSubstr("\"run_id\":" + quiet));
  EXPECT_THAT(hook.received()[0], HasSubstr("abandoned"));
  d->Signal(SIGTERM);
  EXPECT_EQ(d->Wait(20s), std::optional<int>(0)) << d->Log();
}

// The store unreachable when a triggered run ends: neither the run's failure nor its request
// can be written then. Both are written once the database is back, and the request, whose claim
// expired meanwhile, is not run a second time (the old code: the daemon claimed it again as soon
// as it could, and ran the job again; the first run stayed `running`).
TEST_F(DaemonTest, ATriggeredRunIsNotRunAgainWhenItsRequestCouldNotBeMarkedDone) {
  ASSERT_EQ(Generate("big", 250, 8, 256), 249);
  const std::string config =
      WriteConfig("settle.yaml",
                  "  max_concurrent_runs: 1\n  copy_parallelism: 1\n  lease_ttl: 2s\n"
                  "  heartbeat_interval: 500ms\n",
                  {{"once", "", "big", ""}});
  auto d = StartDaemon(config, "settle.log");
  ASSERT_GT(d->HttpPort(30s), 0) << d->Log();
  ProcessResult t = Cli({"trigger", "once", "-c", config});
  ASSERT_EQ(t.exit_code, 0) << Dump(t) << d->Log();
  const std::string request = Q("SELECT id FROM run_requests");
  for (auto until = SteadyClock::now() + 60s;
       ContiguousHead(Dst("once")) < 0 && SteadyClock::now() < until;) {
    std::this_thread::sleep_for(1ms);
  }
  ASSERT_GE(ContiguousHead(Dst("once")), 0) << d->Log();
  ASSERT_EQ(db_->SetUnreachable(true), "");
  // The run stops at its next lease check (the store is gone) and can record nothing.
  for (auto until = SteadyClock::now() + 30s;
       d->Log().find("once: run failed") == std::string::npos && SteadyClock::now() < until;) {
    std::this_thread::sleep_for(50ms);
  }
  if (ContiguousHead(Dst("once")) == 249 &&
      d->Log().find("once: run failed") == std::string::npos) {
    ASSERT_EQ(db_->SetUnreachable(false), "");
    GTEST_SKIP() << "the run ended before the database went away; make the table bigger";
  }
  ASSERT_THAT(d->Log(), HasSubstr("once: run failed"));
  std::this_thread::sleep_for(3s);  // the request's claim (lease_ttl, 2 s) expires
  ASSERT_EQ(db_->SetUnreachable(false), "");
  for (auto until = SteadyClock::now() + 15s;
       Q("SELECT status FROM run_requests") != "done" && SteadyClock::now() < until;) {
    std::this_thread::sleep_for(50ms);
  }
  // Time for a second run to start, had the request been claimed again (polled every second).
  std::this_thread::sleep_for(3s);
  EXPECT_EQ(Q("SELECT count(*) FROM runs WHERE job = 'once'"), "1") << d->Log();
  const std::string run = Q("SELECT id FROM runs WHERE job = 'once'");
  EXPECT_EQ(Q("SELECT status || ' ' || run_id FROM run_requests"), "done " + run) << d->Log();
  EXPECT_EQ(Q("SELECT status FROM runs WHERE job = 'once'"), "failed") << d->Log();
  EXPECT_THAT(Q("SELECT error FROM runs WHERE job = 'once'"), Not(HasSubstr("abandoned")));
  EXPECT_THAT(d->Log(), HasSubstr("tried again until it works"));
  EXPECT_THAT(d->Log(), HasSubstr("run request(s) " + request + " marked done"));
  ProcessResult check = RunProcess({Python(), kChecker, "check", Src("big"), Dst("once")});
  EXPECT_EQ(check.exit_code, 0) << Dump(check);
  d->Signal(SIGTERM);
  EXPECT_EQ(d->Wait(20s), std::optional<int>(0)) << d->Log();
}

// ---------------------------------------------------------------------------------------------
// trigger (with and without a daemon), its latency, and `run` honouring a daemon's lease.
// ---------------------------------------------------------------------------------------------

TEST_F(DaemonTest, TriggerStartsRunsQuicklyAndRunHonoursTheLease) {
  ASSERT_EQ(Generate("m", 3, 2, 512), 2);
  const std::string config = WriteConfig(
      "trigger.yaml", "  lease_ttl: 3s\n  heartbeat_interval: 1s\n", {{"manual", "", "m", ""}});
  ASSERT_EQ(Cli({"db", "migrate", "-c", config}).exit_code, 0);

  // No daemon: the request is not picked up; trigger says so after a bounded wait.
  auto start = SteadyClock::now();
  ProcessResult lonely = Cli({"trigger", "manual", "-c", config});
  EXPECT_EQ(lonely.exit_code, 1) << Dump(lonely);
  EXPECT_THAT(lonely.err, HasSubstr("no daemon picked up the request"));
  EXPECT_THAT(lonely.err, HasSubstr("lakesync run manual"));
  EXPECT_LT(SteadyClock::now() - start, 15s);
  EXPECT_EQ(Q("SELECT status FROM run_requests"), "cancelled");

  auto d = StartDaemon(config, "trigger.log");
  ASSERT_GT(d->HttpPort(30s), 0) << d->Log();
  // Triggers, each followed to its result.
  constexpr int kTriggers = 15;
  for (int i = 0; i < kTriggers; ++i) {
    ProcessResult t = Cli({"trigger", "manual", "--wait", "-c", config});
    ASSERT_EQ(t.exit_code, 0) << Dump(t) << d->Log();
    EXPECT_THAT(t.out, HasSubstr("succeeded"));
  }
  // Trigger-to-start latency: request time to the run's start, from the database's records.
  std::vector<double> ms;
  for (const std::string& line :
       Lines(Q("SELECT extract(epoch from (r.started_at - q.requested_at)) * 1000 FROM "
               "run_requests q JOIN runs r ON r.id = q.run_id WHERE q.status = 'done' ORDER BY "
               "q.id"))) {
    ms.push_back(std::stod(line));
  }
  ASSERT_EQ(ms.size(), static_cast<size_t>(kTriggers));
  std::sort(ms.begin(), ms.end());
  const double p50 = ms[ms.size() / 2];
  const double p99 = ms[std::min(ms.size() - 1, (ms.size() * 99) / 100)];
  std::cout << "[ measured ] trigger-to-start latency over " << ms.size() << " triggers: p50 "
            << p50 << " ms, p99 " << p99 << " ms, max " << ms.back() << " ms\n";
  RecordProperty("trigger_latency_p50_ms", std::to_string(p50));
  RecordProperty("trigger_latency_p99_ms", std::to_string(p99));
  EXPECT_LT(p50, 250.0);
  EXPECT_EQ(Q("SELECT count(*) FROM runs WHERE trigger = 'manual' AND status = 'succeeded'"),
            std::to_string(kTriggers));

  // `lakesync run` while a daemon holds the job's lease: refused, or waits with --wait.
  ASSERT_EQ(Q("UPDATE leases SET holder = 'other-daemon', expires_at = clock_timestamp() + "
              "interval '1 hour' WHERE job = 'manual' RETURNING holder"),
            "other-daemon");
  ProcessResult refused = Cli({"run", "manual", "-c", config});
  EXPECT_EQ(refused.exit_code, 1) << Dump(refused);
  EXPECT_THAT(refused.err, HasSubstr("is being run by daemon other-daemon"));
  ProcessResult waited;
  std::thread waiter([&] { waited = Cli({"run", "manual", "--wait", "-c", config}); });
  std::this_thread::sleep_for(1500ms);
  const std::string runs_before = Q("SELECT count(*) FROM runs");
  Q("UPDATE leases SET expires_at = clock_timestamp() WHERE job = 'manual'");
  waiter.join();
  EXPECT_EQ(waited.exit_code, 0) << Dump(waited);
  EXPECT_THAT(waited.err, HasSubstr("waiting for it to finish"));
  EXPECT_EQ(std::stoi(Q("SELECT count(*) FROM runs")), std::stoi(runs_before) + 1);

  d->Signal(SIGTERM);
  EXPECT_EQ(d->Wait(20s), std::optional<int>(0)) << d->Log();
}

// ---------------------------------------------------------------------------------------------
// A request claimed by a daemon that died is taken over once its claim expires, so
// `trigger --wait` ends; runs record heartbeats; a restarted daemon keeps an `every` job's rhythm.
// ---------------------------------------------------------------------------------------------

TEST_F(DaemonTest, OrphanedRequestIsTakenOverAndARestartKeepsTheSchedule) {
  // The manual job copies 1,200 files one at a time: it runs for a few heartbeats.
  ASSERT_EQ(Generate("m", 120, 10, 256), 119);
  ASSERT_EQ(Generate("h", 2, 1, 256), 1);
  const std::string config =
      WriteConfig("orphan.yaml",
                  "  lease_ttl: 2s\n  heartbeat_interval: 300ms\n  copy_parallelism: 1\n"
                  "  lag_probe_interval: 1h\n",
                  {{"manual", "", "m", ""}, {"hourly", "{ every: 1h }", "h", ""}});
  ASSERT_EQ(Cli({"db", "migrate", "-c", config}).exit_code, 0);

  // No daemon yet: `trigger --wait` inserts its request, which a daemon that then dies claims
  // (here, by hand: claimed and never renewed).
  ProcessResult waited;
  std::thread trigger([&] { waited = Cli({"trigger", "manual", "--wait", "-c", config}); });
  auto deadline = SteadyClock::now() + 4s;
  std::string claimed;
  while (claimed.empty() && SteadyClock::now() < deadline) {
    claimed =
        Q("UPDATE run_requests SET status = 'claimed', claimed_by = 'dead-daemon', claimed_at = "
          "clock_timestamp() WHERE status = 'pending' RETURNING id");
    if (claimed.empty()) std::this_thread::sleep_for(20ms);
  }
  ASSERT_FALSE(claimed.empty()) << "trigger inserted no request";
  const std::string claimed_ms = Q("SELECT (extract(epoch from clock_timestamp()) * 1000)::bigint");

  auto d = StartDaemon(config, "orphan1.log");
  ASSERT_GT(d->HttpPort(30s), 0) << d->Log();
  trigger.join();
  // The daemon took the expired claim over (not before lease_ttl: the claim was fresh) and ran
  // the job; `trigger --wait` followed it to its end.
  EXPECT_EQ(waited.exit_code, 0) << Dump(waited) << d->Log();
  EXPECT_THAT(waited.out, HasSubstr("took the request over (daemon dead-daemon stopped"));
  const std::string run_id = Q("SELECT run_id FROM run_requests WHERE id = " + claimed);
  ASSERT_FALSE(run_id.empty());
  EXPECT_THAT(waited.out, HasSubstr("run " + run_id + " of manual started"));
  EXPECT_THAT(waited.out, HasSubstr("run " + run_id + " of manual succeeded"));
  EXPECT_EQ(Q("SELECT status || ' ' || claimed_by FROM run_requests WHERE id = " + claimed),
            "done " + d->runner_id());
  const std::string takeover_ms = Q("SELECT (extract(epoch from r.started_at) * 1000)::bigint - " +
                                    claimed_ms + " FROM runs r WHERE r.id = " + run_id);
  ASSERT_FALSE(takeover_ms.empty());
  EXPECT_GE(std::stoll(takeover_ms), 2000 - 100);  // the clock here is the database's
  EXPECT_LE(std::stoll(takeover_ms), 2000 + 1000 + 3000);
  std::cout << "[ measured ] orphaned request started " << takeover_ms
            << " ms after its claimer stopped renewing it (lease_ttl 2s)\n";
  // The run recorded heartbeats while it ran (every 300 ms).
  EXPECT_EQ(
      Q("SELECT status || ' ' || (heartbeat_at > started_at)::text FROM runs WHERE id = " + run_id),
      "succeeded true")
      << Q("SELECT started_at || ' ' || coalesce(heartbeat_at::text, 'none') || ' ' || "
           "finished_at FROM runs WHERE id = " +
           run_id);

  // `hourly` ran once at the first start; a restarted daemon waits for its hour.
  deadline = SteadyClock::now() + 10s;
  while (Q("SELECT count(*) FROM runs WHERE job = 'hourly' AND status = 'succeeded'") != "1" &&
         SteadyClock::now() < deadline) {
    std::this_thread::sleep_for(50ms);
  }
  ASSERT_EQ(Q("SELECT count(*) FROM runs WHERE job = 'hourly'"), "1") << d->Log();
  d->Signal(SIGTERM);
  ASSERT_EQ(d->Wait(20s), std::optional<int>(0)) << d->Log();
  auto restarted = StartDaemon(config, "orphan2.log");
  ASSERT_GT(restarted->HttpPort(30s), 0) << restarted->Log();
  EXPECT_THAT(restarted->Log(), HasSubstr("hourly: last run started at"));
  std::this_thread::sleep_for(1500ms);
  EXPECT_EQ(Q("SELECT count(*) FROM runs WHERE job = 'hourly'"), "1") << restarted->Log();
  restarted->Signal(SIGTERM);
  EXPECT_EQ(restarted->Wait(20s), std::optional<int>(0)) << restarted->Log();
}

// ---------------------------------------------------------------------------------------------
// Health endpoints, SIGHUP (broken and good files), notifications, SIGTERM drain.
// ---------------------------------------------------------------------------------------------

TEST_F(DaemonTest, ReloadsHealthNotificationsAndDrainsOnSigterm) {
  ASSERT_EQ(Generate("ok", 3, 2, 512), 2);
  ASSERT_EQ(Generate("big", 800, 10, 256), 799);
  WebhookReceiver hook;
  SmtpReceiver smtp;
  const std::string notifications =
      "notifications:\n  - webhook: " + hook.url() +
      "\n    on: [failure, recovery]\n    jobs: [broken]\n  - email:\n      smtp: " +
      smtp.address() +
      "\n      from: lakesync@example.com\n      to: [ops@example.com]\n    on: [failure]\n"
      "    jobs: [broken]\n";
  const std::string runner =
      "  shutdown_grace: 10s\n  lease_ttl: 3s\n  heartbeat_interval: 1s\n  copy_parallelism: 1\n";
  // `slow` cannot copy 8,000 files one at a time within its timeout (1.7 to 7 s on a 2-core
  // machine, depending on the load): timed out, then retried once.
  const std::string slow_keys =
      "    timeout: 1s\n    retries: { max: 1, backoff: 100ms, max_backoff: 100ms }\n";
  std::vector<JobSpec> jobs = {{"good", "{ every: 1s }", "ok", ""},
                               {"broken", "{ every: 1h }", "missing_table", ""},
                               {"slow", "{ every: 1h }", "big", slow_keys}};
  const std::string config = WriteConfig("ops.yaml", runner, jobs, notifications);
  auto d = StartDaemon(config, "ops.log");
  const int port = d->HttpPort(30s);
  ASSERT_GT(port, 0) << d->Log();
  EXPECT_EQ(HttpGet(port, "/healthz").status, 200);
  HttpAnswer ready = HttpGet(port, "/readyz");
  EXPECT_EQ(ready.status, 200) << ready.body;
  HttpAnswer metrics = HttpGet(port, "/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_THAT(metrics.body, HasSubstr("lakesync_"));

  // The failing job notifies by webhook and by email.
  ASSERT_TRUE(hook.WaitFor(1, 20s)) << d->Log();
  ASSERT_TRUE(smtp.WaitFor(1, 20s)) << d->Log();
  EXPECT_THAT(hook.received()[0], HasSubstr("\"text\":\"lakesync: job broken failed"));
  EXPECT_THAT(smtp.received()[0], HasSubstr("job broken failed"));
  EXPECT_THAT(smtp.received()[0], HasSubstr("RCPT TO:<ops@example.com>"));
  // The webhook URL's secret path never reaches the log.
  EXPECT_THAT(d->Log(), ::testing::Not(HasSubstr("SECRETsecret")));
  auto deadline = SteadyClock::now();

  // The timeout cancels the run at a safe point, recorded as timed out; the retry follows.
  deadline = SteadyClock::now() + 20s;
  while (Q("SELECT count(*) FROM runs WHERE job = 'slow' AND status <> 'running'") != "2" &&
         SteadyClock::now() < deadline) {
    std::this_thread::sleep_for(100ms);
  }
  // (The retry resumes where the first attempt stopped; it may finish or time out too.)
  EXPECT_THAT(Q("SELECT string_agg(trigger || ':' || attempt || ':' || status, ' ' ORDER BY id) "
                "FROM runs WHERE job = 'slow'"),
              ::testing::MatchesRegex("schedule:1:timed_out retry:2:(timed_out|succeeded)"))
      << d->Log();
  EXPECT_THAT(Q("SELECT error FROM runs WHERE job = 'slow' ORDER BY id LIMIT 1"),
              HasSubstr("timed out"));
  // Whatever the attempts published is a consistent replica (R1-R3). On a loaded machine both
  // attempts can time out before the first commit lands; then nothing at all was published.
  if (std::filesystem::exists(Dst("slow") + "/_delta_log")) {
    ProcessResult slow_check = RunProcess({Python(), kChecker, "check", Src("big"), Dst("slow")});
    EXPECT_EQ(slow_check.exit_code, 0) << Dump(slow_check);
  } else {
    EXPECT_EQ(Q("SELECT count(*) FROM runs WHERE job = 'slow' AND status = 'succeeded'"), "0");
    EXPECT_EQ(Q("SELECT count(*) FROM target_versions WHERE job = 'slow'"), "0");
  }

  // SIGHUP with a broken file: logged, the old configuration keeps running.
  const std::string good_yaml = ReadFile(config);
  dir_.WriteFile("ops.yaml", good_yaml + "  - name: [oops\n");
  d->Signal(SIGHUP);
  ASSERT_TRUE(d->WaitForLog("keeping the running configuration", 10s)) << d->Log();
  const int before = std::stoi(Q("SELECT count(*) FROM runs WHERE job = 'good'"));
  std::this_thread::sleep_for(2500ms);
  EXPECT_GT(std::stoi(Q("SELECT count(*) FROM runs WHERE job = 'good'")), before)
      << "the old configuration stopped running";

  // SIGHUP with a good file: the new job appears, the removed one stops; the fixed source
  // brings a recovery notification.
  ASSERT_EQ(Generate("missing_table", 2, 1, 256), 1);
  std::vector<JobSpec> next = {{"good", "{ every: 1s }", "ok", ""},
                               {"broken", "{ every: 1s }", "missing_table", ""},
                               {"added", "{ every: 1s }", "ok", ""}};  // `slow` removed
  WriteConfig("ops.yaml", runner, next, notifications);
  d->Signal(SIGHUP);
  ASSERT_TRUE(d->WaitForLog("reloaded", 10s)) << d->Log();
  deadline = SteadyClock::now() + 15s;
  while (Q("SELECT count(*) FROM runs WHERE job = 'added' AND status = 'succeeded'") == "0" &&
         SteadyClock::now() < deadline) {
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_NE(Q("SELECT count(*) FROM runs WHERE job = 'added' AND status = 'succeeded'"), "0");
  ASSERT_TRUE(hook.WaitFor(2, 20s)) << d->Log();
  EXPECT_THAT(hook.received()[1], HasSubstr("\"event\":\"recovery\""));

  // SIGTERM: exit 0, nothing left running, leases released.
  d->Signal(SIGTERM);
  EXPECT_EQ(d->Wait(15s), std::optional<int>(0)) << d->Log();
  EXPECT_EQ(Q("SELECT count(*) FROM runs WHERE status = 'running'"), "0");
  EXPECT_EQ(Q("SELECT count(*) FROM leases WHERE expires_at > clock_timestamp()"), "0");
  EXPECT_THAT(d->Log(), HasSubstr("stopped"));
}

}  // namespace
}  // namespace lakesync::testing
