// End-to-end test that secrets never leak (issue 10): the real `lakesync` binary runs with a
// database URL whose password is distinctive, through every path that could print it — every
// command's stdout and stderr (success and failure), the daemon's log, the notifications it
// sends (webhook and email, received by local receivers), its HTTP endpoints, and the error
// paths where PostgreSQL is unreachable, rejects the password or lacks the database — and every
// output is searched for the password (and for the webhook URL's secret path). Each output is
// also checked to say something meaningful, so that a command printing nothing cannot pass.
//
// The password belongs to a role this test creates in the server named by
// LAKESYNC_TEST_DATABASE_URL (skipped loudly when unset); the source table comes from
// bench/delta_gen (DELTA_GEN_BINARY).

#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/ServerSocket.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <map>
#include <memory>
#include <random>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/e2e_util.h"
#include "tests/pg_fixture.h"
#include "tests/process.h"
#include "tests/tools/notify_receivers.h"

namespace lakesync::testing {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

const std::string kBinary = LAKESYNC_BINARY;
const std::string kDeltaGen = DELTA_GEN_BINARY;

std::string RandomHex(int n) {
  std::random_device rd;
  std::mt19937_64 gen(rd());
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < n; ++i) out += kHex[gen() % 16];
  return out;
}

// "postgresql://user:password@host:port/db" split into its parts (the test's own parsing).
struct PgUrl {
  std::string user, password, host, port, db;
  std::string Url() const {
    return "postgresql://" + user + ":" + password + "@" + host + ":" + port + "/" + db;
  }
};

std::optional<PgUrl> ParsePgUrl(const std::string& url) {
  static const std::regex kUrl(
      R"(postgres(?:ql)?://([^:@/]+)(?::([^@/]*))?@([^:/]+):([0-9]+)/([^?]+))");
  std::smatch m;
  if (!std::regex_match(url, m, kUrl)) return std::nullopt;
  return PgUrl{m[1].str(), m[2].str(), m[3].str(), m[4].str(), m[5].str()};
}

// A loopback port nothing listens on (bound, then released).
int ClosedPort() {
  Poco::Net::ServerSocket s(Poco::Net::SocketAddress("127.0.0.1", 0));
  int port = s.address().port();
  s.close();
  return port;
}

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

// The HTTP port from the daemon's start-up line ("... on http://127.0.0.1:PORT ..."); 0 if not
// seen within `timeout`.
int DaemonPort(const BackgroundProcess& d, std::chrono::milliseconds timeout) {
  static const std::regex kPort("on http://[^ ]*:([0-9]+) ");
  auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    std::smatch m;
    std::string log = d.Log();
    if (std::regex_search(log, m, kPort)) return std::stoi(m[1].str());
    std::this_thread::sleep_for(20ms);
  }
  return 0;
}

class SecretsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string base = TestDatabaseBaseUrl();
    if (base.empty()) {
      GTEST_SKIP() << "\n*** secrets e2e test SKIPPED: LAKESYNC_TEST_DATABASE_URL is not set. ***\n"
                      "Run scripts/test.sh, or start a server with scripts/pg.sh and export it.\n";
    }
    db_ = std::make_unique<ScratchDatabase>(base);
    ASSERT_EQ(db_->Create(), "");
    auto scratch = ParsePgUrl(db_->url());
    ASSERT_TRUE(scratch.has_value()) << "cannot parse the scratch URL";
    // A role of our own whose password is unmistakable in any output.
    const std::string tag = RandomHex(12);
    role_ = "lakesync_leak_" + tag;
    password_ = "PwCanary" + tag + "Zq";
    wrong_password_ = "PwWrongCanary" + tag + "Zq";
    std::string created = db_->Query("CREATE ROLE " + role_ + " LOGIN PASSWORD '" + password_ +
                                     "'; ALTER DATABASE \"" + scratch->db + "\" OWNER TO " + role_);
    if (created.rfind("ERROR", 0) == 0) {
      GTEST_SKIP() << "\n*** secrets e2e test SKIPPED: cannot create a role (" << created
                   << "); the role of LAKESYNC_TEST_DATABASE_URL needs CREATEROLE. ***\n";
    }
    role_created_ = true;
    db_->Query("ALTER SCHEMA public OWNER TO " + role_);
    PgUrl good = *scratch;
    good.user = role_;
    good.password = password_;
    url_ = good.Url();
    PgUrl wrong_pw = good;
    wrong_pw.password = wrong_password_;
    wrong_password_url_ = wrong_pw.Url();
    PgUrl no_server = good;
    no_server.port = std::to_string(ClosedPort());
    unreachable_url_ = no_server.Url();
    PgUrl no_db = good;
    no_db.db = "lakesync_missing_" + tag;
    missing_db_url_ = no_db.Url();
    hook_path_ = "/hooks/T000/B000/HookCanary" + tag;
    secrets_ = {password_, wrong_password_, hook_path_, "HookCanary" + tag};
  }

  void TearDown() override {
    if (role_created_) {
      db_.reset();  // drops the database the role owns
      ScratchDatabase admin(TestDatabaseBaseUrl());
      // The role owns nothing any more; drop it through any database on the server.
      if (admin.Create().empty()) admin.Query("DROP ROLE IF EXISTS " + role_);
    }
  }

  // Fails the test when `text` holds any secret; checks it is not empty either.
  void ExpectClean(const std::string& what, const std::string& text) {
    ++checked_;
    EXPECT_FALSE(text.empty()) << what << ": no output at all — nothing to check";
    for (const auto& s : secrets_) {
      EXPECT_THAT(text, ::testing::Not(HasSubstr(s))) << what << " leaks a secret";
    }
  }
  // Checks both streams of a command, which must exit with one of `codes` and say `expect` (in
  // stdout or stderr).
  void ExpectCommand(const std::string& what, const ProcessResult& r, std::set<int> codes,
                     const std::string& expect) {
    EXPECT_THAT(codes, ::testing::Contains(r.exit_code)) << what << "\n" << Dump(r);
    EXPECT_THAT(r.out + r.err, HasSubstr(expect)) << what << "\n" << Dump(r);
    ExpectClean(what + " (stdout+stderr)", r.out + r.err);
  }
  void ExpectCommand(const std::string& what, const ProcessResult& r, int code,
                     const std::string& expect) {
    ExpectCommand(what, r, std::set<int>{code}, expect);
  }

  ProcessResult Cli(const std::string& url, const std::vector<std::string>& args) {
    std::vector<std::string> argv = {kBinary, "--log-level", "debug"};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunProcess(argv, {{"LAKESYNC_DATABASE_URL", url}});
  }

  std::string WriteConfig(const std::string& name, const std::string& extra_jobs = "",
                          const std::string& notifications = "") {
    std::string y =
        "state:\n  postgres: ${LAKESYNC_DATABASE_URL}\nrunner:\n  listen: "
        "127.0.0.1:0\n  lease_ttl: 3s\n  heartbeat_interval: 1s\nlocations:\n  src: "
        "file://" +
        dir_.path() + "/src\n  dst: file://" + dir_.path() + "/dst\n" + notifications +
        "jobs:\n  - name: good\n    kind: incremental\n    source: src:/table\n    "
        "targets: [dst:/good]\n    schedule: { every: 1h }\n  - name: broken\n    "
        "kind: incremental\n    source: src:/no_such_table\n    targets: "
        "[dst:/broken]\n    schedule: { every: 1s }\n" +
        extra_jobs;
    return dir_.WriteFile(name, y);
  }

  TempDir dir_;
  std::unique_ptr<ScratchDatabase> db_;
  bool role_created_ = false;
  std::string role_, password_, wrong_password_, hook_path_;
  std::string url_, wrong_password_url_, unreachable_url_, missing_db_url_;
  std::vector<std::string> secrets_;
  int checked_ = 0;
};

TEST_F(SecretsTest, PasswordAndWebhookSecretNeverAppearInAnyOutput) {
  ProcessResult gen = RunProcess({kDeltaGen, "--table", dir_.path() + "/src/table", "--commits",
                                  "3", "--files-per-commit", "2", "--file-size", "256"});
  ASSERT_EQ(gen.exit_code, 0) << Dump(gen);
  WebhookReceiver hook;
  SmtpReceiver smtp;
  const std::string notifications =
      "notifications:\n  - webhook: http://127.0.0.1:" + std::to_string(hook.port()) + hook_path_ +
      "\n    on: [failure]\n    jobs: [broken]\n  - email:\n      smtp: " + smtp.address() +
      "\n      from: lakesync@example.com\n      to: [ops@example.com]\n    on: [failure]\n"
      "    jobs: [broken]\n";
  const std::string config = WriteConfig("jobs.yaml", "", notifications);

  // Configuration: valid, and invalid in ways that quote values (interpolated, or literal).
  ExpectCommand("validate", Cli(url_, {"-c", config, "validate"}), 0, "jobs.yaml");
  const std::string interpolated_bad =
      dir_.WriteFile("bad1.yaml",
                     "runner:\n  max_concurrent_runs: ${LAKESYNC_DATABASE_URL}\n  listen: "
                     "${LAKESYNC_DATABASE_URL}\njobs: []\n");
  ExpectCommand("validate (secret interpolated into wrong keys)",
                Cli(url_, {"-c", interpolated_bad, "validate"}), 2, "max_concurrent_runs");
  const std::string literal_bad = dir_.WriteFile(
      "bad2.yaml", "state:\n  postgres: " + url_ + "\n  pasword: x\nnotifications:\n  - webhook: " +
                       "http://127.0.0.1:1" + hook_path_ + "\n    on: [sometimes]\njobs: []\n");
  ExpectCommand("validate (literal secrets beside bad keys)",
                Cli(url_, {"-c", literal_bad, "validate"}), 2, "pasword");
  const std::string broken_yaml =
      dir_.WriteFile("bad3.yaml", "state:\n  postgres: " + url_ + "\n  x: [\nbroken\n");
  ExpectCommand("validate (YAML syntax error after a literal URL)",
                Cli(url_, {"-c", broken_yaml, "validate"}), 2, "YAML syntax error");
  const std::string bad_hook = dir_.WriteFile(
      "bad4.yaml", "notifications:\n  - webhook: ftp://127.0.0.1" + hook_path_ + "\njobs: []\n");
  ExpectCommand("validate (webhook that is not http)", Cli(url_, {"-c", bad_hook, "validate"}), 2,
                "ftp://127.0.0.1/***");

  // Every command that talks to PostgreSQL, succeeding and failing.
  ExpectCommand("db migrate", Cli(url_, {"-c", config, "db", "migrate"}), 0, "");
  ExpectCommand("run good", Cli(url_, {"-c", config, "run", "good"}), 0, "good");
  ExpectCommand("run broken (bad source)", Cli(url_, {"-c", config, "run", "broken"}), 1,
                "no_such_table");
  ExpectCommand("run broken --log-format json",
                Cli(url_, {"--log-format", "json", "-c", config, "run", "broken"}), 1, "\"level\"");
  ExpectCommand("status", Cli(url_, {"-c", config, "status"}), 0, "good");
  ExpectCommand("status --json", Cli(url_, {"-c", config, "status", "--json"}), 0,
                "\"job\":\"good\"");
  ExpectCommand("history good", Cli(url_, {"-c", config, "history", "good"}), 0, "succeeded");
  ExpectCommand("history broken --json", Cli(url_, {"-c", config, "history", "broken", "--json"}),
                0, "failed");
  ExpectCommand("trigger without a daemon", Cli(url_, {"-c", config, "trigger", "good"}), 1,
                "daemon");

  // The daemon: its log, its endpoints, the failing job's notifications, a trigger it serves.
  {
    BackgroundProcess d({kBinary, "--log-level", "debug", "-c", config, "daemon"},
                        {{"LAKESYNC_DATABASE_URL", url_}}, dir_.path() + "/daemon.log");
    const int port = DaemonPort(d, 30s);
    ASSERT_GT(port, 0) << d.Log();
    HttpAnswer healthz = HttpGet(port, "/healthz");
    EXPECT_EQ(healthz.status, 200);
    ExpectClean("/healthz", healthz.body);
    HttpAnswer readyz = HttpGet(port, "/readyz");
    EXPECT_EQ(readyz.status, 200) << readyz.body;
    ExpectClean("/readyz", readyz.body);
    ASSERT_TRUE(hook.WaitFor(1, 20s)) << d.Log();
    ASSERT_TRUE(smtp.WaitFor(1, 20s)) << d.Log();
    ExpectCommand("trigger --wait (daemon)", Cli(url_, {"-c", config, "trigger", "good", "--wait"}),
                  0, "good");
    HttpAnswer metrics = HttpGet(port, "/metrics");
    EXPECT_EQ(metrics.status, 200);
    EXPECT_THAT(metrics.body, HasSubstr("lakesync_runs_total{"));
    ExpectClean("/metrics", metrics.body);
    for (const auto& body : hook.received()) {
      EXPECT_THAT(body, HasSubstr("broken"));
      ExpectClean("webhook notification", body);
    }
    for (const auto& mail : smtp.received()) {
      EXPECT_THAT(mail, HasSubstr("broken"));
      ExpectClean("email notification", mail);
    }
    // PostgreSQL goes away under the running daemon: /readyz and the log say so, secretly.
    db_->Query("ALTER ROLE " + role_ + " NOLOGIN");
    db_->Query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '" + role_ +
               "'");
    HttpAnswer not_ready;
    for (int i = 0; i < 100 && not_ready.status != 503; ++i) {
      std::this_thread::sleep_for(100ms);
      not_ready = HttpGet(port, "/readyz");
    }
    EXPECT_EQ(not_ready.status, 503) << not_ready.body;
    ExpectClean("/readyz (database gone)", not_ready.body);
    HttpAnswer metrics_down = HttpGet(port, "/metrics");
    ExpectClean("/metrics (database gone)", metrics_down.body);
    db_->Query("ALTER ROLE " + role_ + " LOGIN");
    EXPECT_TRUE(d.Stop(SIGTERM, 20s));
    const std::string log = d.Log();
    EXPECT_THAT(log, HasSubstr("broken"));
    ExpectClean("daemon log", log);
  }

  // PostgreSQL unreachable: every command fails with exit 3; rejecting the password or
  // without the database: a configuration error, exit 2. Either way a message that names the
  // redacted URL, never the password.
  struct Case {
    std::string name, url, expect;
    std::set<int> codes;
  };
  const std::vector<Case> cases = {
      {"unreachable",
       unreachable_url_,
       "cannot reach the state store at postgresql://" + role_ + ":***@",
       {3}},
      {"wrong password", wrong_password_url_, "password authentication failed", {2}},
      {"missing database", missing_db_url_, "does not exist", {2}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    ExpectCommand(c.name + ": db migrate", Cli(c.url, {"-c", config, "db", "migrate"}), c.codes,
                  c.expect);
    ExpectCommand(c.name + ": run", Cli(c.url, {"-c", config, "run", "good"}), c.codes, c.expect);
    ExpectCommand(c.name + ": status", Cli(c.url, {"-c", config, "status"}), c.codes, c.expect);
    ExpectCommand(c.name + ": status --json", Cli(c.url, {"-c", config, "status", "--json"}),
                  c.codes, c.expect);
    ExpectCommand(c.name + ": history", Cli(c.url, {"-c", config, "history", "good"}), c.codes,
                  c.expect);
    ExpectCommand(c.name + ": trigger", Cli(c.url, {"-c", config, "trigger", "good"}), c.codes,
                  c.expect);
    BackgroundProcess d({kBinary, "--log-level", "debug", "-c", config, "daemon"},
                        {{"LAKESYNC_DATABASE_URL", c.url}}, dir_.path() + "/daemon-bad.log");
    std::optional<int> code = d.Wait(15s);
    if (!code) d.Stop(SIGTERM, 10s);
    EXPECT_THAT(d.Log(), HasSubstr(c.expect));
    ExpectClean(c.name + ": daemon log", d.Log());
  }
  EXPECT_GT(checked_, 40);
}

// libpq splits user:password@host at the FIRST '@'; redaction hides up to the last one. A
// password with an unencoded '@' must not reach libpq's messages (which echo the host): such a
// URL is refused before libpq sees it, with a message saying to percent-encode the '@'.
TEST_F(SecretsTest, UnencodedAtInThePasswordIsNeverEchoed) {
  const std::string config = WriteConfig("jobs.yaml");
  const std::string tail = "AtTail" + RandomHex(8);
  secrets_.push_back(tail);
  const std::string url = "postgresql://" + role_ + ":" + password_ + "@" + tail +
                          "@127.0.0.1:" + std::to_string(ClosedPort()) + "/db";
  for (const auto& args : std::vector<std::vector<std::string>>{{"-c", config, "status"},
                                                                {"-c", config, "run", "good"},
                                                                {"-c", config, "history", "good"},
                                                                {"-c", config, "trigger", "good"},
                                                                {"-c", config, "db", "migrate"}}) {
    ExpectCommand(args[2], Cli(url, args), 2, "percent-encode each '@'");
  }
}

}  // namespace
}  // namespace lakesync::testing
