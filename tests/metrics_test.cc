// End-to-end test of the metrics: a real Prometheus (/usr/bin/prometheus, loopback, a free port,
// a temporary storage directory, scrape and rule evaluation every second, the shipped rules
// loaded) scrapes a real `lakesync daemon` running incremental and snapshot jobs on generated
// tables (bench/delta_gen) and a fixture read in place, against a real PostgreSQL
// (LAKESYNC_TEST_DATABASE_URL, a fresh database).
//
// Judged through Prometheus' HTTP API (/api/v1/query, /api/v1/rules, /api/v1/alerts), against
// the runs and snapshots tables and against the tables' logs as tests/tools/delta_facts.py reads
// them — never against the daemon's own reports. Then a source is made unreadable (renamed away)
// and lakesync_lag_seconds must rise; and every PromQL expression of the shipped dashboard
// (charts/dashboards/lakesync.json, variables replaced by charts/tests/check_monitoring.py) must
// return at least one series.

#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/URI.h>
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <simdjson.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/pg_fixture.h"
#include "tests/process.h"

namespace lakesync::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

const std::string kBinary = LAKESYNC_BINARY;
const std::string kDeltaGen = DELTA_GEN_BINARY;
const std::string kSourceDir = LAKESYNC_SOURCE_DIR;
// Canonical: the configuration refuses a path that climbs with "..".
const std::string kFixtures = fs::weakly_canonical(LAKESYNC_FIXTURES_DIR).string();
const std::string kPrometheus = "/usr/bin/prometheus";

// `text` with every `from` replaced by `to`.
std::string ReplaceAll(std::string text, const std::string& from, const std::string& to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

// Polls `done` every 100 ms; false after `timeout`.
bool WaitUntil(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  auto end = SteadyClock::now() + timeout;
  while (SteadyClock::now() < end) {
    if (done()) return true;
    std::this_thread::sleep_for(100ms);
  }
  return done();
}

// A free loopback TCP port (bound and released; Prometheus binds it right after).
int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

// GET http://127.0.0.1:port/path → body; "" with `*error` set on failure.
std::string HttpGetBody(int port, const std::string& path, std::string* error) {
  try {
    Poco::Net::HTTPClientSession session("127.0.0.1", static_cast<Poco::UInt16>(port));
    session.setTimeout(Poco::Timespan(10, 0));
    Poco::Net::HTTPRequest request(Poco::Net::HTTPRequest::HTTP_GET, path,
                                   Poco::Net::HTTPMessage::HTTP_1_1);
    session.sendRequest(request);
    Poco::Net::HTTPResponse response;
    std::istream& in = session.receiveResponse(response);
    std::string body((std::istreambuf_iterator<char>(in)), {});
    if (response.getStatus() != Poco::Net::HTTPResponse::HTTP_OK) {
      *error = "HTTP " + std::to_string(response.getStatus()) + ": " + body;
      return "";
    }
    return body;
  } catch (const std::exception& e) {
    *error = e.what();
    return "";
  }
}

struct PromSample {
  std::map<std::string, std::string> labels;
  double value = NAN;
};

// One instant query against Prometheus' HTTP API; nullopt (and `*error`) when it fails.
std::optional<std::vector<PromSample>> Query(int port, const std::string& expr,
                                             std::string* error) {
  std::string encoded;
  Poco::URI::encode(expr, "&+=?#%; ", encoded);
  std::string body = HttpGetBody(port, "/api/v1/query?query=" + encoded, error);
  if (body.empty()) return std::nullopt;
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(body).get(doc) != simdjson::SUCCESS) {
    *error = "not JSON: " + body;
    return std::nullopt;
  }
  std::string_view status, type;
  if (doc["status"].get(status) || status != "success" || doc["data"]["resultType"].get(type)) {
    *error = body;
    return std::nullopt;
  }
  std::vector<PromSample> out;
  if (type == "scalar") {
    std::string_view v;
    if (doc["data"]["result"].at(1).get(v)) return std::nullopt;
    out.push_back({{}, std::stod(std::string(v))});
    return out;
  }
  simdjson::dom::array result;
  if (doc["data"]["result"].get(result)) {
    *error = body;
    return std::nullopt;
  }
  for (simdjson::dom::element r : result) {
    PromSample s;
    simdjson::dom::object metric;
    if (!r["metric"].get(metric)) {
      for (auto [k, v] : metric) s.labels[std::string(k)] = std::string(v.get_string().value());
    }
    std::string_view v;
    if (!r["value"].at(1).get(v)) s.value = std::stod(std::string(v));
    out.push_back(std::move(s));
  }
  return out;
}

// The value of a query that must return exactly one series; NaN otherwise.
double QueryOne(int port, const std::string& expr, std::string* why = nullptr) {
  std::string error;
  auto r = Query(port, expr, &error);
  if (!r || r->size() != 1) {
    if (why) *why = r ? std::to_string(r->size()) + " series" : error;
    return NAN;
  }
  return (*r)[0].value;
}

// Facts about a Delta table from the independent checker (tests/tools/delta_facts.py).
struct TableFacts {
  int64_t head = -1;
  int64_t bytes = 0;
  int64_t files = 0;
  int64_t num_records = 0;
};

TableFacts Facts(const std::string& table) {
  ProcessResult r =
      RunProcess({"/usr/bin/env", "python3", kSourceDir + "/tests/tools/delta_facts.py", "facts",
                  table, "--json"});
  EXPECT_EQ(r.exit_code, 0) << Dump(r);
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  TableFacts f;
  if (parser.parse(r.out).get(doc)) {
    ADD_FAILURE() << "delta_facts output is not JSON: " << r.out;
    return f;
  }
  f.head = doc["head_version"].get_int64().value();
  f.bytes = doc["at"]["bytes"].get_int64().value();
  f.files = doc["at"]["num_live_files"].get_int64().value();
  f.num_records = doc["at"]["sum_numRecords"].get_int64().value();
  return f;
}

class MetricsE2ETest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(kPrometheus)) {
      GTEST_SKIP() << "SKIPPED: " << kPrometheus
                   << " is not installed (scripts/install-deps.sh installs the prometheus "
                      "package)";
    }
    if (TestDatabaseBaseUrl().empty()) {
      GTEST_SKIP() << "SKIPPED: LAKESYNC_TEST_DATABASE_URL is not set (scripts/test.sh starts a "
                      "throwaway PostgreSQL; or scripts/pg.sh start DIR)";
    }
    db_ = std::make_unique<ScratchDatabase>(TestDatabaseBaseUrl());
    ASSERT_EQ(db_->Create(), "");
    env_ = {{"LAKESYNC_DATABASE_URL", db_->url()}};
  }

  void TearDown() override {
    // Logs of the children, for a failure's diagnosis.
    if (HasFailure()) {
      if (daemon_) std::cerr << "--- daemon log\n" << daemon_->Log() << "\n";
      if (prometheus_) std::cerr << "--- prometheus log (tail)\n" << Tail(prometheus_->Log());
    }
    daemon_.reset();
    prometheus_.reset();
  }

  static std::string Tail(const std::string& s) {
    return s.size() > 4000 ? s.substr(s.size() - 4000) : s;
  }

  std::string Gen(const std::string& table, int commits, int files_per_commit, int size) {
    ProcessResult r = RunProcess({kDeltaGen, "--table", table, "--commits", std::to_string(commits),
                                  "--files-per-commit", std::to_string(files_per_commit),
                                  "--file-size", std::to_string(size)});
    EXPECT_EQ(r.exit_code, 0) << Dump(r);
    return r.out;
  }

  // The daemon's HTTP port from its start-up line ("... on http://HOST:PORT ..."); 0 if none.
  int DaemonPort() {
    static const std::regex kPort("on http://[^ ]*:([0-9]+)");
    int port = 0;
    WaitUntil(
        [&] {
          std::smatch m;
          std::string log = daemon_->Log();
          if (std::regex_search(log, m, kPort)) port = std::stoi(m[1].str());
          return port != 0 || !daemon_->Running();
        },
        30s);
    return port;
  }

  std::unique_ptr<ScratchDatabase> db_;
  std::map<std::string, std::string> env_;
  TempDir dir_;
  std::unique_ptr<BackgroundProcess> daemon_;
  std::unique_ptr<BackgroundProcess> prometheus_;
};

TEST_F(MetricsE2ETest, PrometheusScrapesTheDaemonAndTheDashboardAndRulesWork) {
  const std::string d = dir_.path();
  // Tables: "a" (3 commits of 2 files of 1000 bytes) replicated to two targets and snapshotted;
  // "b" (2 commits) whose job is manual, so it stays behind; the fixture simple_table in place.
  Gen(d + "/src/a", 3, 2, 1000);
  Gen(d + "/src/b", 2, 1, 500);
  const bool fixtures = fs::exists(kFixtures + "/simple_table/_delta_log");
  if (!fixtures) {
    std::cerr << "NOTE: fixtures not found at " << kFixtures
              << "; the fixture job is left out of this test\n";
  }
  // $D: the temporary directory; $F: the fixtures.
  std::string config = R"(runner:
  listen: 127.0.0.1:0
  runner_id: metrics-e2e-1
  lag_probe_interval: 1s
  shutdown_grace: 5s
jobs:
  - name: gen_a
    kind: incremental
    source: $D/src/a
    targets: [$D/dst/a1, $D/dst/a2]
    schedule: { every: 1h }
    lag_alert: 10m
  - name: stuck_b
    kind: incremental
    source: $D/src/b
    targets: [$D/dst/b]
    lag_alert: 1s
  - name: snap_a
    kind: snapshot
    source: $D/src/a
    target: $D/snap/a
    schedule: { every: 1h }
)";
  if (fixtures) {
    config += R"(  - name: fixture_simple
    kind: incremental
    source: $F/simple_table
    targets: [$D/dst/simple]
    schedule: { every: 1h }
)";
  }
  config = ReplaceAll(ReplaceAll(config, "$D", d), "$F", kFixtures);
  const std::string config_path = dir_.WriteFile("lakesync.yaml", config);

  daemon_ = std::make_unique<BackgroundProcess>(
      std::vector<std::string>{kBinary, "-c", config_path, "daemon"}, env_, d + "/daemon.log");
  const int daemon_port = DaemonPort();
  ASSERT_NE(daemon_port, 0) << "the daemon did not report its HTTP port";

  // Prometheus: scrape and evaluate every second, the shipped rules loaded.
  const int prom_port = FreePort();
  ASSERT_NE(prom_port, 0);
  // The scrape job is "lakesync" with honor_labels, as docs/metrics.md asks.
  dir_.WriteFile("prometheus.yml", ReplaceAll(ReplaceAll(R"(global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - $S/charts/rules/lakesync.rules.yml
scrape_configs:
  - job_name: lakesync
    honor_labels: true
    static_configs:
      - targets: ['127.0.0.1:$P']
)",
                                                         "$S", kSourceDir),
                                              "$P", std::to_string(daemon_port)));
  prometheus_ = std::make_unique<BackgroundProcess>(
      std::vector<std::string>{kPrometheus, "--config.file=" + d + "/prometheus.yml",
                               "--storage.tsdb.path=" + d + "/prometheus-data",
                               "--web.listen-address=127.0.0.1:" + std::to_string(prom_port),
                               "--log.level=warn"},
      std::map<std::string, std::string>{}, d + "/prometheus.log");

  // The daemon's first runs, as the runs table records them.
  const int scheduled_jobs = fixtures ? 3 : 2;
  ASSERT_TRUE(WaitUntil(
      [&] {
        return db_->Query("SELECT count(DISTINCT job) FROM runs WHERE status = 'succeeded'") ==
               std::to_string(scheduled_jobs);
      },
      90s))
      << db_->Query("SELECT job, status, error FROM runs");

  const TableFacts a = Facts(d + "/src/a");
  ASSERT_EQ(a.head, 2) << "delta_gen: version 0 holds the first commit's files";
  // Prometheus has scraped the state after those runs (and a lag probe of every target).
  std::string why;
  ASSERT_TRUE(WaitUntil(
      [&] {
        return QueryOne(prom_port, "up{job=\"lakesync\"}") == 1 &&
               QueryOne(prom_port,
                        "min(lakesync_replicated_version{job=\"gen_a\"}) and "
                        "count(lakesync_replicated_version{job=\"gen_a\"}) == 2") == a.head &&
               QueryOne(prom_port, "sum(lakesync_runs_total{result=\"succeeded\"})") ==
                   scheduled_jobs;
      },
      60s))
      << "Prometheus never saw the replicated state";

  // Versions and lag of each target against the logs.
  for (const char* t : {"a1", "a2"}) {
    const std::string target = d + "/dst/" + t;
    const std::string sel =
        "{job=\"gen_a\",kind=\"incremental\",target=\"" + target + "\",runner=\"metrics-e2e-1\"}";
    EXPECT_EQ(QueryOne(prom_port, "lakesync_source_version" + sel, &why), a.head) << why;
    EXPECT_EQ(QueryOne(prom_port, "lakesync_replicated_version" + sel, &why), Facts(target).head)
        << why;
    EXPECT_EQ(QueryOne(prom_port, "lakesync_lag_versions" + sel, &why), 0) << why;
    EXPECT_EQ(QueryOne(prom_port, "lakesync_lag_seconds" + sel, &why), 0) << why;
    EXPECT_EQ(QueryOne(prom_port, "lakesync_lag_probe_ok" + sel, &why), 1) << why;
  }

  // Counters against the runs table, and against the source log: every live file of "a" (no
  // removes) copied to each of the two targets.
  auto db_sum = [&](const std::string& column, const std::string& job) {
    return std::stod(
        db_->Query("SELECT coalesce(sum(" + column + "), 0) FROM runs WHERE job = '" + job + "'"));
  };
  auto prom = [&](const std::string& metric, const std::string& job) {
    return QueryOne(prom_port, "sum(" + metric + "{job=\"" + job + "\"})", &why);
  };
  EXPECT_EQ(prom("lakesync_copied_bytes_total", "gen_a"), db_sum("bytes", "gen_a")) << why;
  EXPECT_EQ(prom("lakesync_copied_bytes_total", "gen_a"), 2.0 * a.bytes) << why;
  EXPECT_EQ(prom("lakesync_copied_files_total", "gen_a"), db_sum("files", "gen_a")) << why;
  EXPECT_EQ(prom("lakesync_copied_files_total", "gen_a"), 2.0 * a.files) << why;
  EXPECT_EQ(prom("lakesync_copied_rows_total", "gen_a"), db_sum("rows", "gen_a")) << why;
  EXPECT_EQ(prom("lakesync_copied_rows_total", "gen_a"), 2.0 * a.num_records) << why;
  EXPECT_EQ(prom("lakesync_replicated_commits_total", "gen_a"), db_sum("commits", "gen_a")) << why;
  if (fixtures) {
    const TableFacts f = Facts(kFixtures + "/simple_table");
    EXPECT_EQ(QueryOne(prom_port, "lakesync_replicated_version{job=\"fixture_simple\"}", &why),
              f.head)
        << why;
    EXPECT_EQ(Facts(d + "/dst/simple").head, f.head);
    EXPECT_EQ(prom("lakesync_copied_bytes_total", "fixture_simple"),
              db_sum("bytes", "fixture_simple"))
        << why;
    EXPECT_GE(prom("lakesync_copied_bytes_total", "fixture_simple"), f.bytes) << why;
  }
  EXPECT_EQ(QueryOne(prom_port, "lakesync_runs_total{job=\"gen_a\",result=\"succeeded\"}", &why),
            std::stod(db_->Query(
                "SELECT count(*) FROM runs WHERE job = 'gen_a' AND status = 'succeeded'")))
      << why;
  EXPECT_EQ(QueryOne(prom_port, "lakesync_runs_total{job=\"gen_a\",result=\"failed\"}", &why), 0)
      << why;
  EXPECT_EQ(QueryOne(prom_port, "lakesync_run_duration_seconds_count{job=\"gen_a\"}", &why), 1)
      << why;
  EXPECT_NEAR(
      QueryOne(prom_port, "lakesync_last_success_timestamp_seconds{job=\"gen_a\"}", &why),
      std::stod(db_->Query("SELECT extract(epoch FROM max(finished_at)) FROM runs WHERE job = "
                           "'gen_a' AND status = 'succeeded'")),
      0.01)
      << why;
  EXPECT_EQ(QueryOne(prom_port, "lakesync_lag_alert_seconds{job=\"gen_a\"}", &why), 600) << why;
  EXPECT_EQ(QueryOne(prom_port, "lakesync_schedule_interval_seconds{job=\"gen_a\"}", &why), 3600)
      << why;
  EXPECT_EQ(QueryOne(prom_port, "lakesync_build_info{runner=\"metrics-e2e-1\"}", &why), 1) << why;

  // The snapshot job: snapshot count and newest version against the snapshots table.
  EXPECT_EQ(QueryOne(prom_port, "lakesync_snapshots{job=\"snap_a\"}", &why),
            std::stod(db_->Query(
                "SELECT count(*) FROM snapshots WHERE job = 'snap_a' AND status = 'complete'")))
      << why;
  EXPECT_EQ(QueryOne(prom_port, "lakesync_snapshot_newest_version{job=\"snap_a\"}", &why),
            std::stod(db_->Query("SELECT max(source_version) FROM snapshots WHERE job = 'snap_a' "
                                 "AND status = 'complete'")))
      << why;

  // The manual job never ran: every version of "b" is behind, and the lag is rising.
  const TableFacts b = Facts(d + "/src/b");
  EXPECT_EQ(QueryOne(prom_port, "lakesync_lag_versions{job=\"stuck_b\"}", &why), b.head + 1) << why;
  EXPECT_TRUE(std::isnan(QueryOne(prom_port, "lakesync_replicated_version{job=\"stuck_b\"}")))
      << "a target never written has no replicated version";
  const double stuck_lag = QueryOne(prom_port, "lakesync_lag_seconds{job=\"stuck_b\"}", &why);
  EXPECT_GT(stuck_lag, 0) << why;

  // The shipped rules are loaded and healthy, and the lag alert's join works in a real
  // Prometheus: stuck_b (lag_alert 1s) is pending (for: 2m), gen_a (caught up) is not.
  {
    std::string error;
    std::string rules = HttpGetBody(prom_port, "/api/v1/rules", &error);
    EXPECT_NE(rules.find("LakesyncLagAboveThreshold"), std::string::npos) << error;
    EXPECT_EQ(rules.find("\"health\":\"err"), std::string::npos) << rules;
    EXPECT_TRUE(WaitUntil(
        [&] {
          std::string alerts = HttpGetBody(prom_port, "/api/v1/alerts", &error);
          return alerts.find("\"alertname\":\"LakesyncLagAboveThreshold\"") != std::string::npos &&
                 alerts.find("\"job\":\"stuck_b\"") != std::string::npos &&
                 alerts.find("\"job\":\"gen_a\"") == std::string::npos;
        },
        20s))
        << HttpGetBody(prom_port, "/api/v1/alerts", &error);
    EXPECT_EQ(QueryOne(prom_port, "lakesync:lag_versions:max{job=\"stuck_b\"}", &why), b.head + 1)
        << why;
  }

  // A new commit of 2 files appears in "a"; the next (manual) run copies exactly those files to
  // both targets, and the counters grow by exactly that.
  const double bytes_before = prom("lakesync_copied_bytes_total", "gen_a");
  Gen(d + "/src/a", 1, 2, 700);
  const TableFacts a2 = Facts(d + "/src/a");
  ProcessResult trig = RunProcess({kBinary, "-c", config_path, "trigger", "gen_a", "--wait"}, env_);
  ASSERT_EQ(trig.exit_code, 0) << Dump(trig);
  EXPECT_TRUE(WaitUntil(
      [&] {
        return QueryOne(prom_port, "min(lakesync_replicated_version{job=\"gen_a\"})") == a2.head &&
               prom("lakesync_copied_bytes_total", "gen_a") > bytes_before;
      },
      20s))
      << "Prometheus never saw the second run";
  EXPECT_EQ(prom("lakesync_copied_bytes_total", "gen_a") - bytes_before, 2.0 * (a2.bytes - a.bytes))
      << why;
  EXPECT_EQ(prom("lakesync_copied_bytes_total", "gen_a"), db_sum("bytes", "gen_a")) << why;
  EXPECT_EQ(QueryOne(prom_port, "lakesync_runs_total{job=\"gen_a\",result=\"succeeded\"}", &why), 2)
      << why;

  // Every expression of the dashboard returns at least one series.
  {
    ProcessResult exprs =
        RunProcess({"/usr/bin/env", "python3", kSourceDir + "/charts/tests/check_monitoring.py",
                    "exprs", "--rate-interval", "1m"});
    ASSERT_EQ(exprs.exit_code, 0) << Dump(exprs);
    std::istringstream in(exprs.out);
    std::string expr;
    int n = 0;
    while (std::getline(in, expr)) {
      if (expr.empty()) continue;
      ++n;
      std::string error;
      auto r = Query(prom_port, expr, &error);
      ASSERT_TRUE(r.has_value()) << expr << ": " << error;
      EXPECT_GE(r->size(), 1u) << "dashboard expression returns no series: " << expr;
    }
    EXPECT_GE(n, 20);
  }

  // The source of gen_a becomes unreadable (renamed away): the probes fail, lag_seconds rises.
  fs::rename(d + "/src/a", d + "/src/a.gone");
  const std::string a1 = "{job=\"gen_a\",target=\"" + d + "/dst/a1\"}";
  ASSERT_TRUE(
      WaitUntil([&] { return QueryOne(prom_port, "lakesync_lag_probe_ok" + a1) == 0; }, 20s))
      << "the probe of an unreadable source never reported failure";
  const double lag1 = QueryOne(prom_port, "lakesync_lag_seconds" + a1, &why);
  ASSERT_FALSE(std::isnan(lag1)) << why;
  double lag2 = lag1;
  EXPECT_TRUE(WaitUntil(
      [&] {
        lag2 = QueryOne(prom_port, "lakesync_lag_seconds" + a1);
        return lag2 >= lag1 + 2;
      },
      20s))
      << "lag_seconds did not rise: " << lag1 << " then " << lag2;
  // The last known versions stay; the healthy jobs are unaffected.
  EXPECT_EQ(QueryOne(prom_port, "lakesync_source_version" + a1, &why), a2.head) << why;
  if (fixtures) {
    EXPECT_EQ(QueryOne(prom_port, "lakesync_lag_probe_ok{job=\"fixture_simple\"}", &why), 1) << why;
  }

  EXPECT_TRUE(daemon_->Stop(SIGTERM, 30s)) << "the daemon did not stop on SIGTERM";
  EXPECT_TRUE(prometheus_->Stop(SIGTERM, 30s));
}

}  // namespace
}  // namespace lakesync::testing
