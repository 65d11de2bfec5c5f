#include "runner/config.h"

#include <gtest/gtest.h>

#include <map>

namespace lakesync::runner {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

// Line and column numbers in the expectations below were counted by hand in the YAML text of
// each test: line 1 is the first line after `R"(` (the leading newline is dropped), and columns
// count from 1 at the left margin.

EnvLookup MapEnv(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(std::string(name));
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

Result<Config> Load(std::string_view yaml, std::map<std::string, std::string> env = {}) {
  if (!yaml.empty() && yaml.front() == '\n') yaml.remove_prefix(1);
  return LoadConfigString(yaml, "jobs.yaml", MapEnv(std::move(env)));
}

// The error message, or "OK".
std::string Errors(std::string_view yaml, std::map<std::string, std::string> env = {}) {
  auto config = Load(yaml, std::move(env));
  if (config.ok()) return "OK";
  EXPECT_EQ(config.status().code(), StatusCode::kInvalidArgument);
  return config.status().message();
}

bool StartsWith(const std::string& s, std::string_view prefix) { return s.rfind(prefix, 0) == 0; }

// ---------------------------------------------------------------------------------------------
// Good shapes.

TEST(ConfigTest, LoadsTheCompleteExampleFromDisk) {
  std::string path = std::string(LAKESYNC_SOURCE_DIR) + "/runner/testdata/good.yaml";
  auto config = LoadConfigFile(
      path, MapEnv({{"LAKESYNC_DATABASE_URL", "postgresql://u:pw@db/lakesync"},
                    {"SLACK_WEBHOOK_URL", "https://hooks.slack.com/services/T0/B0/secret"}}));
  ASSERT_TRUE(config.ok()) << config.status();
  const Config& c = *config;
  EXPECT_EQ(c.file, path);
  EXPECT_EQ(c.state.postgres, "postgresql://u:pw@db/lakesync");

  EXPECT_EQ(c.runner.listen, "127.0.0.1:9464");
  EXPECT_EQ(c.runner.max_concurrent_runs, 4);
  EXPECT_EQ(c.runner.copy_parallelism, 8);
  EXPECT_EQ(c.runner.lag_probe_interval, seconds(15));
  EXPECT_EQ(c.runner.lease_ttl, seconds(45));
  EXPECT_EQ(c.runner.heartbeat_interval, seconds(15));
  EXPECT_EQ(c.runner.shutdown_grace, minutes(1));
  EXPECT_EQ(c.runner.runner_id, "runner-a");

  ASSERT_EQ(c.locations.size(), 4u);
  EXPECT_EQ(c.locations.at("eastus").ToString(), "file:///data/eastus");
  EXPECT_EQ(c.locations.at("westeu").ToString(), "file:///data/westeu");  // written /data/westeu

  ASSERT_EQ(c.notifications.size(), 2u);
  EXPECT_EQ(c.notifications[0].kind, NotificationConfig::kWebhook);
  EXPECT_EQ(c.notifications[0].webhook_url, "https://hooks.slack.com/services/T0/B0/secret");
  EXPECT_EQ(c.notifications[0].on,
            (std::set<NotificationConfig::Event>{NotificationConfig::kFailure,
                                                 NotificationConfig::kRecovery}));
  EXPECT_TRUE(c.notifications[0].jobs.empty());
  EXPECT_EQ(c.notifications[1].kind, NotificationConfig::kEmail);
  EXPECT_EQ(c.notifications[1].smtp, "mail.example.com:25");
  EXPECT_EQ(c.notifications[1].from, "lakesync@example.com");
  EXPECT_EQ(c.notifications[1].to,
            (std::vector<std::string>{"oncall@example.com", "data@example.com"}));
  EXPECT_EQ(c.notifications[1].on,
            (std::set<NotificationConfig::Event>{NotificationConfig::kFailure,
                                                 NotificationConfig::kSuccess}));
  EXPECT_EQ(c.notifications[1].jobs, std::vector<std::string>{"sales_nightly"});

  ASSERT_EQ(c.jobs.size(), 4u);
  const JobConfig* dr = c.FindJob("sales_dr");
  ASSERT_NE(dr, nullptr);
  EXPECT_EQ(dr->kind, JobKind::kIncremental);
  EXPECT_EQ(dr->line, 28);
  EXPECT_EQ(dr->incremental.source.text, "eastus:/delta/sales");
  EXPECT_EQ(dr->incremental.source.location, "eastus");
  EXPECT_EQ(dr->incremental.source.uri.ToString(), "file:///data/eastus/delta/sales");
  ASSERT_EQ(dr->incremental.targets.size(), 2u);
  EXPECT_EQ(dr->incremental.targets[0].uri.ToString(), "file:///data/westus/delta/sales");
  EXPECT_EQ(dr->incremental.targets[1].location, "");
  EXPECT_EQ(dr->incremental.targets[1].uri.ToString(), "file:///mnt/backup/sales");
  EXPECT_EQ(dr->TargetNames(),
            (std::vector<std::string>{"westus:/delta/sales", "file:///mnt/backup/sales"}));
  EXPECT_EQ(dr->SourceUris().size(), 1u);
  EXPECT_EQ(dr->TargetUris().size(), 2u);
  EXPECT_EQ(dr->incremental.start, IncrementalSpec::kEarliest);
  EXPECT_EQ(dr->incremental.max_versions_per_run, 100);
  EXPECT_EQ(dr->incremental.verify, IncrementalSpec::kChecksum);
  EXPECT_EQ(dr->schedule.kind, Schedule::kEvery);
  EXPECT_EQ(dr->schedule.every, minutes(5));
  EXPECT_EQ(dr->schedule.Describe(), "every 5m");
  EXPECT_EQ(dr->retries.max, 3);
  EXPECT_EQ(dr->retries.backoff, seconds(30));
  EXPECT_EQ(dr->retries.max_backoff, minutes(10));
  EXPECT_EQ(dr->timeout, hours(1));
  EXPECT_EQ(dr->lag_alert, minutes(10));

  const JobConfig* nightly = c.FindJob("sales_nightly");
  ASSERT_NE(nightly, nullptr);
  EXPECT_EQ(nightly->kind, JobKind::kSnapshot);
  EXPECT_EQ(nightly->snapshot.target.uri.ToString(), "file:///data/westus/snapshots/sales");
  EXPECT_FALSE(nightly->snapshot.version.has_value());  // latest
  EXPECT_FALSE(nightly->snapshot.as_of.has_value());
  EXPECT_EQ(nightly->snapshot.keep_last, 7);
  EXPECT_EQ(nightly->snapshot.keep_within, hours(24 * 30));
  EXPECT_EQ(nightly->snapshot.mode, SnapshotSpec::kShallow);
  EXPECT_FALSE(nightly->snapshot.skip_unchanged);
  EXPECT_EQ(nightly->schedule.kind, Schedule::kCron);
  EXPECT_EQ(nightly->schedule.cron.text(), "0 2 * * *");
  EXPECT_EQ(nightly->schedule.cron.timezone(), "Europe/Berlin");
  EXPECT_EQ(nightly->schedule.Describe(), "cron 0 2 * * * (Europe/Berlin)");
  // 02:00 in Berlin in January (UTC+1) is 01:00 UTC.
  EXPECT_EQ(FormatTimestamp(
                nightly->schedule.cron.NextAfter(ParseTimestamp("2026-01-10T00:00:00Z").value())),
            "2026-01-10T01:00:00Z");

  const JobConfig* as_of = c.FindJob("sales_as_of");
  ASSERT_NE(as_of, nullptr);
  ASSERT_TRUE(as_of->snapshot.as_of.has_value());
  EXPECT_EQ(FormatTimestamp(*as_of->snapshot.as_of), "2026-11-22T02:00:00Z");
  EXPECT_EQ(as_of->snapshot.timestamps, SnapshotSpec::kCommitInfo);
  EXPECT_EQ(nightly->snapshot.timestamps, SnapshotSpec::kModificationTime);  // the default
  EXPECT_EQ(as_of->schedule.kind, Schedule::kManual);

  const JobConfig* global = c.FindJob("global_sales");
  ASSERT_NE(global, nullptr);
  EXPECT_EQ(global->kind, JobKind::kConsolidation);
  ASSERT_EQ(global->consolidation.sources.size(), 2u);
  EXPECT_EQ(global->consolidation.sources[0].first, "eastus");  // file order
  EXPECT_EQ(global->consolidation.sources[1].first, "westeu");
  EXPECT_EQ(global->consolidation.sources[1].second.uri.ToString(),
            "file:///data/westeu/delta/regional_sales");
  EXPECT_EQ(global->consolidation.target.uri.ToString(), "file:///data/global/delta/global_sales");
  EXPECT_EQ(global->consolidation.region_column, "region");
  EXPECT_EQ(global->consolidation.schema, ConsolidationSpec::kUnion);
  EXPECT_EQ(global->schedule.kind, Schedule::kContinuous);
  EXPECT_EQ(global->schedule.poll, seconds(2));
  EXPECT_EQ(global->SourceUris().size(), 2u);

  EXPECT_EQ(c.FindJob("nope"), nullptr);
}

TEST(ConfigTest, MissingFileIsNotFound) {
  auto config = LoadConfigFile("/nonexistent/lakesync/jobs.yaml", MapEnv({}));
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), StatusCode::kNotFound);
  EXPECT_NE(config.status().message().find("/nonexistent/lakesync/jobs.yaml"), std::string::npos);
}

// The sketch from DESIGN.md refers to locations westeu and global without defining them; with
// those two added it loads.
constexpr std::string_view kDesignSketch = R"(
state:
  postgres: ${LAKESYNC_DATABASE_URL}
runner:
  listen: 127.0.0.1:9464          # /metrics, /healthz, /readyz
  max_concurrent_runs: 4
  copy_parallelism: 8
  lag_probe_interval: 15s
locations:
  eastus: file:///data/eastus
  westus: file:///data/westus
notifications:
  - webhook: ${SLACK_WEBHOOK_URL}
    on: [failure, recovery]
jobs:
  - name: sales_dr
    kind: incremental
    source: eastus:/delta/sales
    targets: [westus:/delta/sales]
    schedule: { every: 5m }          # or { cron: "*/15 * * * *" } or { continuous: { poll: 2s } }
    retries: { max: 3, backoff: 30s, max_backoff: 10m }
    timeout: 1h
    lag_alert: 10m
  - name: sales_nightly
    kind: snapshot
    source: eastus:/delta/sales
    target: westus:/snapshots/sales
    schedule: { cron: "0 2 * * *" }
    retention: { keep_last: 7 }
  - name: global_sales
    kind: consolidation
    sources: { eastus: "eastus:/delta/regional_sales", westeu: "westeu:/delta/regional_sales" }
    target: global:/delta/global_sales
    region_column: source_region
    schedule: { every: 1h }
)";

const std::map<std::string, std::string> kSketchEnv = {
    {"LAKESYNC_DATABASE_URL", "postgresql://localhost/lakesync"},
    {"SLACK_WEBHOOK_URL", "https://hooks.slack.com/services/T/B/x"}};

TEST(ConfigTest, DesignSketchNamesItsUndefinedLocations) {
  // Line 31 is the sources line; the eastus value's quote is at column 24 and the quoted text
  // runs 30 characters (to 53), then ", westeu: " puts the westeu value's quote at 64.
  EXPECT_EQ(Errors(kDesignSketch, kSketchEnv),
            "jobs.yaml:31:64: westeu \"westeu:/delta/regional_sales\": location \"westeu\" is not "
            "defined; use one of: eastus, westus (or define it under locations:)\n"
            "jobs.yaml:32:13: target \"global:/delta/global_sales\": location \"global\" is not "
            "defined; use one of: eastus, westus (or define it under locations:)");
}

TEST(ConfigTest, DesignSketchLoadsWithItsLocationsDefined) {
  std::string yaml(kDesignSketch);
  yaml.replace(yaml.find("locations:\n"), 11,
               "locations:\n  westeu: file:///data/westeu\n  global: file:///data/global\n");
  auto config = Load(yaml, kSketchEnv);
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_EQ(config->jobs.size(), 3u);
  EXPECT_EQ(config->jobs[1].schedule.cron.timezone(), "UTC");  // default
  EXPECT_EQ(config->jobs[1].snapshot.keep_last, 7);
  EXPECT_FALSE(config->jobs[1].snapshot.keep_within.has_value());
  EXPECT_EQ(config->jobs[2].consolidation.region_column, "source_region");
}

TEST(ConfigTest, MinimalJobsGetTheDefaults) {
  auto config = Load(R"(
jobs:
  - name: inc
    kind: incremental
    source: /data/a/t
    targets: [/data/b/t]
  - name: snap
    kind: snapshot
    source: /data/a/t
    target: /data/snap/t
  - name: con
    kind: consolidation
    sources: { a: /data/a/t }
    target: /data/global/t
)");
  ASSERT_TRUE(config.ok()) << config.status();
  const Config& c = *config;
  EXPECT_FALSE(c.state.postgres.has_value());
  // RunnerConfig defaults.
  EXPECT_EQ(c.runner.listen, "127.0.0.1:9464");
  EXPECT_EQ(c.runner.max_concurrent_runs, 4);
  EXPECT_EQ(c.runner.copy_parallelism, 8);
  EXPECT_EQ(c.runner.lag_probe_interval, seconds(15));
  EXPECT_EQ(c.runner.lease_ttl, seconds(30));
  EXPECT_EQ(c.runner.heartbeat_interval, seconds(10));
  EXPECT_EQ(c.runner.shutdown_grace, seconds(30));
  EXPECT_EQ(c.runner.runner_id, "");
  EXPECT_EQ(c.runner.max_commit_actions, 1000000);
  EXPECT_EQ(c.runner.max_commit_bytes, 1073741824);
  EXPECT_TRUE(c.locations.empty());
  EXPECT_TRUE(c.notifications.empty());
  ASSERT_EQ(c.jobs.size(), 3u);
  for (const auto& job : c.jobs) {
    EXPECT_EQ(job.schedule.kind, Schedule::kManual) << job.name;
    EXPECT_EQ(job.schedule.Describe(), "manual");
    EXPECT_EQ(job.retries.max, 0);
    EXPECT_EQ(job.retries.backoff, seconds(30));
    EXPECT_EQ(job.retries.max_backoff, minutes(10));
    EXPECT_FALSE(job.timeout.has_value());
    EXPECT_FALSE(job.lag_alert.has_value());
  }
  EXPECT_EQ(c.jobs[0].incremental.start, IncrementalSpec::kAuto);
  EXPECT_FALSE(c.jobs[0].incremental.max_versions_per_run.has_value());
  EXPECT_EQ(c.jobs[0].incremental.verify, IncrementalSpec::kSize);
  EXPECT_EQ(c.jobs[0].incremental.source.location, "");
  EXPECT_EQ(c.jobs[1].snapshot.mode, SnapshotSpec::kDeep);
  EXPECT_TRUE(c.jobs[1].snapshot.skip_unchanged);
  EXPECT_FALSE(c.jobs[1].snapshot.version.has_value());
  EXPECT_FALSE(c.jobs[1].snapshot.keep_last.has_value());
  EXPECT_EQ(c.jobs[2].consolidation.region_column, "source_region");
  EXPECT_EQ(c.jobs[2].consolidation.schema, ConsolidationSpec::kStrict);
}

TEST(ConfigTest, ScheduleShapesAndSnapshotVersion) {
  auto config = Load(R"(
jobs:
  - name: a
    kind: snapshot
    source: /s
    target: /t
    version: 42
    schedule: { continuous: }
  - name: b
    kind: snapshot
    source: /s
    target: /u
    schedule: { cron: "@daily" }
)");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->jobs[0].snapshot.version, 42);
  EXPECT_EQ(config->jobs[0].schedule.kind, Schedule::kContinuous);
  EXPECT_EQ(config->jobs[0].schedule.poll, seconds(5));  // default poll
  EXPECT_EQ(config->jobs[0].schedule.Describe(), "continuous (poll 5s)");
  EXPECT_EQ(config->jobs[1].schedule.kind, Schedule::kCron);
  EXPECT_EQ(JobKindName(JobKind::kConsolidation), "consolidation");
}

// ---------------------------------------------------------------------------------------------
// Environment interpolation.

TEST(ConfigTest, InterpolatesEnvironmentVariablesInValues) {
  auto config = Load(R"(
state:
  postgres: host=${PGHOST} dbname=lakesync
runner:
  max_concurrent_runs: ${RUNS}
jobs: []
)",
                     {{"PGHOST", "db.internal"}, {"RUNS", "12"}});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->state.postgres, "host=db.internal dbname=lakesync");
  EXPECT_EQ(config->runner.max_concurrent_runs, 12);
}

TEST(ConfigTest, DollarDollarBraceIsALiteral) {
  auto config = Load(R"(
state:
  postgres: "password=$${NOT_A_VAR} x=$HOME"
jobs: []
)");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->state.postgres, "password=${NOT_A_VAR} x=$HOME");
}

TEST(ConfigTest, UnsetVariableIsNamed) {
  EXPECT_EQ(Errors(R"(
state:
  postgres: ${LAKESYNC_DATABASE_URL}
jobs: []
)"),
            "jobs.yaml:2:13: environment variable LAKESYNC_DATABASE_URL is not set; export it or "
            "write the value");
  EXPECT_EQ(Errors(R"(
state:
  postgres: ${UNCLOSED
jobs: []
)"),
            "jobs.yaml:2:13: \"${\" is not closed; write ${NAME} to read the environment variable "
            "NAME, or $${ for a literal ${");
}

TEST(ConfigTest, KeysAreNotInterpolated) {
  // "${X}" as a key is just an unknown key.
  EXPECT_EQ(Errors(R"(
jobs: []
${X}: 1
)",
                   {{"X", "jobs"}}),
            "jobs.yaml:2:1: unknown key \"${X}\"; the keys allowed here are: state, runner, "
            "locations, notifications, jobs");
}

// ---------------------------------------------------------------------------------------------
// Secrets never reach an error message.

TEST(ConfigTest, SecretsFromTheEnvironmentAreNotEchoed) {
  std::string err =
      Errors(R"(
notifications:
  - webhook: ${HOOK}
jobs:
  - name: a
    kind: incremental
    source: /s
    targets: [/t]
    timeout: ${TIMEOUT}
)",
             {{"HOOK", "ftp://hooks.example.com/T0/B0/topsecret"}, {"TIMEOUT", "hunter2"}});
  EXPECT_EQ(err.find("topsecret"), std::string::npos) << err;
  EXPECT_EQ(err.find("hunter2"), std::string::npos) << err;
  EXPECT_TRUE(StartsWith(err,
                         "jobs.yaml:2:14: webhook \"${HOOK}\" is not an http:// or https:// "
                         "URL"))
      << err;
  EXPECT_NE(err.find("\njobs.yaml:8:14: timeout: invalid duration \"***\""), std::string::npos)
      << err;
}

// Found by runner_config_fuzz: a parser quoting the rest of an interpolated value ("expected a
// number at ...") leaked the part of it that came from the environment.
TEST(ConfigTest, PartOfAnInterpolatedValueIsNotEchoedEither) {
  std::string err = Errors("runner:\n  heartbeat_interval: 'x ${HOOK} \"q\" tail'\njobs: []\n",
                           {{"HOOK", "https://hooks.example.com/T0/B0/topsecret"}});
  EXPECT_EQ(err.find("topsecret"), std::string::npos) << err;
  EXPECT_NE(err.find("jobs.yaml:2:23: heartbeat_interval: invalid duration \"***\"; write a "
                     "number followed by a unit"),
            std::string::npos)
      << err;
}

TEST(ConfigTest, LiteralWebhookIsRedactedInErrors) {
  std::string err = Errors(R"(
notifications:
  - webhook: hooks.example.com/services/T0/B0/topsecret
jobs: []
)");
  EXPECT_EQ(err.find("topsecret"), std::string::npos) << err;
  EXPECT_TRUE(StartsWith(err, "jobs.yaml:2:14: webhook ")) << err;
}

// ---------------------------------------------------------------------------------------------
// Each class of bad input, with its position.

TEST(ConfigTest, UnknownKeySuggestsTheClosestKnownOne) {
  EXPECT_EQ(Errors(R"(
locations:
  eastus: file:///data/eastus
  westus: file:///data/westus
jobs:
  - name: sales_dr
    kind: incremental
    source: eastus:/delta/sales
    targets: [westus:/delta/sales]
    schedul: { every: 5m }
)"),
            "jobs.yaml:9:5: unknown key \"schedul\"; did you mean \"schedule\"?");
  EXPECT_EQ(Errors(R"(
runner:
  max_concurent_runs: 3
jobs: []
)"),
            "jobs.yaml:2:3: unknown key \"max_concurent_runs\"; did you mean "
            "\"max_concurrent_runs\"?");
}

TEST(ConfigTest, UnknownKeyWithNothingCloseListsTheKeys) {
  EXPECT_EQ(Errors(R"(
jobs: []
statestore: {}
)"),
            "jobs.yaml:2:1: unknown key \"statestore\"; the keys allowed here are: state, runner, "
            "locations, notifications, jobs");
}

TEST(ConfigTest, KeyOfAnotherKindSaysSo) {
  // "targets" belongs to incremental jobs; a snapshot has a single "target".
  EXPECT_EQ(Errors(R"(
jobs:
  - name: nightly
    kind: snapshot
    source: /data/t
    targets: [/backup/t]
)"),
            "jobs.yaml:2:5: job \"nightly\" has no target; add target: "
            "location:/path/to/snapshots\n"
            "jobs.yaml:5:5: key \"targets\" does not apply to snapshot jobs; did you mean "
            "\"target\"?");
}

TEST(ConfigTest, CommitLimits) {
  auto config = Load(R"(
runner:
  max_commit_actions: 40000
  max_commit_bytes: 2048
jobs: []
)");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->runner.max_commit_actions, 40000);
  EXPECT_EQ(config->runner.max_commit_bytes, 2048);
  EXPECT_EQ(Errors(R"(
runner:
  max_commit_actions: 0
  max_commit_bytes: 1000
jobs: []
)"),
            "jobs.yaml:2:23: max_commit_actions is \"0\" but must be from 1 to 1000000000\n"
            "jobs.yaml:3:21: max_commit_bytes is \"1000\" but must be from 1024 to "
            "1099511627776");
}

TEST(ConfigTest, WrongTypes) {
  EXPECT_EQ(Errors(R"(
runner: [1, 2]
jobs: []
)"),
            "jobs.yaml:1:9: runner must be a map, not a list; write for example runner: { listen: "
            "127.0.0.1:9464 }");
  EXPECT_EQ(Errors(R"(
runner:
  max_concurrent_runs: many
jobs: []
)"),
            "jobs.yaml:2:24: max_concurrent_runs must be a whole number from 1 to 1024, not "
            "\"many\"");
  EXPECT_EQ(Errors(R"(
jobs:
  name: a
)"),
            "jobs.yaml:2:3: jobs must be a list, not a map; write for example - name: sales_dr "
            "(one list item per job)");
  EXPECT_EQ(Errors(R"(
jobs:
  - name: [a, b]
    kind: incremental
    source: /s
    targets: /t
)"),
            "jobs.yaml:2:11: name must be a single value, not a list; write for example sales_dr\n"
            "jobs.yaml:5:14: targets must be a list, not a single value; write for example "
            "targets: [westus:/delta/sales]");
}

TEST(ConfigTest, RangesAreChecked) {
  EXPECT_EQ(Errors(R"(
runner:
  copy_parallelism: 0
  listen: localhost
  lease_ttl: 10s
  heartbeat_interval: 10s
jobs: []
)"),
            "jobs.yaml:2:21: copy_parallelism is \"0\" but must be from 1 to 256\n"
            "jobs.yaml:3:11: listen \"localhost\" is not host:port; write for example "
            "127.0.0.1:9464 or 0.0.0.0:9464\n"
            "jobs.yaml:5:23: heartbeat_interval (10s) must be shorter than lease_ttl (10s) or "
            "leases expire while their runner is alive; lower heartbeat_interval to a third of "
            "lease_ttl");
}

TEST(ConfigTest, MissingRequiredFields) {
  EXPECT_EQ(Errors(R"(
locations:
  eastus: file:///data/eastus
jobs:
  - name: sales_dr
    kind: incremental
    source: eastus:/delta/sales
  - kind: snapshot
    source: eastus:/delta/sales
    target: /backup
)"),
            "jobs.yaml:4:5: job \"sales_dr\" has no targets; add targets: "
            "[location:/path/to/replica]\n"
            "jobs.yaml:7:5: a job has no name; add name: followed by a unique name");
  EXPECT_EQ(Errors("state: {}\n"), "jobs.yaml:1:1: the file has no jobs; add a jobs: list");
  EXPECT_EQ(Errors(""), "jobs.yaml:1:1: the file is empty; write at least a jobs: list");
}

TEST(ConfigTest, DuplicateJobNamePointsAtTheSecond) {
  EXPECT_EQ(Errors(R"(
locations:
  eastus: file:///data/eastus
  westus: file:///data/westus
jobs:
  - name: a
    kind: incremental
    source: eastus:/t
    targets: [westus:/t]
  - name: a
    kind: incremental
    source: eastus:/u
    targets: [westus:/u]
)"),
            "jobs.yaml:9:11: duplicate job name \"a\" (the first is at line 5); give each job a "
            "unique name");
}

// Job b's snapshots would land inside job a's replica: two writers on one table. The error
// points at job b's list item (line 9, column 5: its first key).
TEST(ConfigTest, TwoJobsWritingOneTableAreRefused) {
  EXPECT_EQ(Errors(R"(
locations:
  eastus: file:///data/eastus
  westus: file:///data/westus
jobs:
  - name: a
    kind: incremental
    source: eastus:/t
    targets: [westus:/t]
  - name: b
    kind: snapshot
    source: eastus:/u
    target: westus:/t/snaps
)"),
            "jobs.yaml:9:5: job \"b\" writes to file:///data/westus/t/snaps, which job \"a\" "
            "(line 5) also writes to or contains; give each job its own target");
}

TEST(ConfigTest, DuplicateKey) {
  EXPECT_EQ(Errors(R"(
jobs: []
runner:
  listen: 127.0.0.1:1
  listen: 127.0.0.1:2
)"),
            "jobs.yaml:4:3: duplicate key \"listen\" (first written at line 3); remove one of "
            "them");
}

TEST(ConfigTest, BadJobName) {
  EXPECT_EQ(Errors(R"(
jobs:
  - name: sales dr
    kind: incremental
    source: /s
    targets: [/t]
)"),
            "jobs.yaml:2:11: job name \"sales dr\" may contain only letters, digits, '_', '.' "
            "and '-'; rename it");
}

TEST(ConfigTest, BadDurationUsesParseDurationsMessage) {
  std::string err = Errors(R"(
jobs:
  - name: a
    kind: incremental
    source: /s
    targets: [/t]
    timeout: 5 minutes
)");
  EXPECT_TRUE(StartsWith(err, "jobs.yaml:6:14: timeout: invalid duration \"5 minutes\": ")) << err;
  EXPECT_NE(err.find("5m"), std::string::npos) << err;  // says what to write
  EXPECT_EQ(err.find('\n'), std::string::npos) << err;  // one error only
}

TEST(ConfigTest, BadCronUsesTheCronParsersMessage) {
  EXPECT_EQ(Errors(R"(
jobs:
  - name: a
    kind: incremental
    source: /s
    targets: [/t]
    schedule: { cron: "*/0 * * * *" }
)"),
            "jobs.yaml:6:23: cron \"*/0 * * * *\": minute field: step must be at least 1; write "
            "five fields (minute hour day-of-month month day-of-week)");
}

TEST(ConfigTest, UnknownTimeZone) {
  std::string err = Errors(R"(
jobs:
  - name: a
    kind: incremental
    source: /s
    targets: [/t]
    schedule: { cron: "0 2 * * *", timezone: Mars/Base }
)");
  EXPECT_TRUE(StartsWith(err, "jobs.yaml:6:46: unknown time zone \"Mars/Base\"")) << err;
}

TEST(ConfigTest, ScheduleWithTwoKinds) {
  EXPECT_EQ(Errors(R"(
jobs:
  - name: a
    kind: incremental
    source: /s
    targets: [/t]
    schedule: { every: 5m, cron: "* * * * *" }
)"),
            "jobs.yaml:6:28: a schedule has one kind but both every and cron are written; keep "
            "one");
}

TEST(ConfigTest, TargetOverlappingTheSource) {
  EXPECT_EQ(Errors(R"(
locations:
  eastus: file:///data/eastus
jobs:
  - name: inside
    kind: incremental
    source: eastus:/delta/sales
    targets: [eastus:/delta/sales/replica]
  - name: same
    kind: snapshot
    source: eastus:/delta/sales
    target: file:///data/eastus/delta/sales
  - name: contains
    kind: consolidation
    sources: { east: "eastus:/delta/sales" }
    target: eastus:/delta
)"),
            "jobs.yaml:7:15: target \"eastus:/delta/sales/replica\" lies inside the source "
            "\"eastus:/delta/sales\"; choose a path outside the source table\n"
            "jobs.yaml:11:13: target \"file:///data/eastus/delta/sales\" is the same table as the "
            "source \"eastus:/delta/sales\"; write a different location\n"
            "jobs.yaml:15:13: target \"eastus:/delta\" contains the source "
            "\"eastus:/delta/sales\"; choose a path that does not contain the source table");
}

TEST(ConfigTest, ConsolidationRegionAndColumnNames) {
  EXPECT_EQ(Errors(R"(
locations:
  eastus: file:///data/eastus
  global: file:///data/global
jobs:
  - name: g
    kind: consolidation
    sources: { east-us: "eastus:/r" }
    target: global:/g
    region_column: 1region
)"),
            "jobs.yaml:7:16: region name \"east-us\" is not an identifier; use letters, digits "
            "and '_' and do not start with a digit\n"
            "jobs.yaml:9:20: region_column \"1region\" is not a valid column name; use letters, "
            "digits and '_' and do not start with a digit");
}

TEST(ConfigTest, UndefinedLocationListsTheDefinedOnes) {
  EXPECT_EQ(Errors(R"(
locations:
  westus: file:///data/westus
  eastus: file:///data/eastus
jobs:
  - name: a
    kind: incremental
    source: eastus:/delta/sales
    targets: [westeu:/delta/sales]
)"),
            "jobs.yaml:8:15: targets \"westeu:/delta/sales\": location \"westeu\" is not defined; "
            "use one of: eastus, westus (or define it under locations:)");
}

// Only file:// is readable today (storage::OpenStorage): a cloud URL is refused by validate, not
// by the first run.
TEST(ConfigTest, LocationsOtherThanLocalFilesAreRefused) {
  EXPECT_EQ(Errors(R"(
locations:
  eastus: s3://bucket/data
jobs:
  - name: a
    kind: incremental
    source: abfss://c@acct.dfs.core.windows.net/sales
    targets: [file://localhost/data/westus]
)"),
            "jobs.yaml:2:11: location eastus: \"s3://\" locations are not supported; lakesync "
            "reads and writes local or mounted filesystems only: mount the storage and write "
            "file:///mount/path or /mount/path\n"
            "jobs.yaml:6:13: source \"abfss://c@acct.dfs.core.windows.net/sales\": \"abfss://\" "
            "locations are not supported; lakesync reads and writes local or mounted filesystems "
            "only: mount the storage and write file:///mount/path or /mount/path");
}

TEST(ConfigTest, UnknownKindListsTheThree) {
  EXPECT_EQ(Errors(R"(
jobs:
  - name: a
    kind: replicate
    source: /s
)"),
            "jobs.yaml:3:11: kind \"replicate\" is not valid; write one of: incremental, "
            "snapshot, consolidation");
}

TEST(ConfigTest, UnknownTimestampSourceListsTheTwo) {
  EXPECT_EQ(Errors(R"(
jobs:
  - name: a
    kind: snapshot
    source: /s
    target: /t
    timestamps: commitInfo
)"),
            "jobs.yaml:6:17: timestamps \"commitInfo\" is not valid; write one of: "
            "modification_time, commit_info");
}

TEST(ConfigTest, NotificationForAnUnknownJob) {
  EXPECT_EQ(Errors(R"(
notifications:
  - webhook: https://hooks.example.com/x
    on: [failure, sometimes]
    jobs: [nightly]
jobs: []
)"),
            "jobs.yaml:3:19: on \"sometimes\" is not valid; write one of: failure, recovery, "
            "success\n"
            "jobs.yaml:4:12: notification names job \"nightly\", which is not defined; define it "
            "under jobs: or remove it here");
}

TEST(ConfigTest, YamlSyntaxErrorHasAPosition) {
  std::string err = Errors(R"(
jobs:
  - name: a
    kind: [incremental
)");
  EXPECT_TRUE(StartsWith(err, "jobs.yaml:4:1: YAML syntax error: ")) << err;
}

TEST(ConfigTest, EveryErrorIsReportedOnePerLine) {
  std::string err = Errors(R"(
runner:
  copy_parallelism: 1000
jobs:
  - name: a
    kind: incremental
    source: /s
    targets: [/s/inner]
    timeout: soon
  - name: a
    kind: snapshot
)");
  EXPECT_EQ(err,
            "jobs.yaml:2:21: copy_parallelism is \"1000\" but must be from 1 to 256\n"
            "jobs.yaml:7:15: target \"/s/inner\" lies inside the source \"/s\"; choose a path "
            "outside the source table\n"
            "jobs.yaml:8:14: timeout: invalid duration \"soon\": expected a number at \"soon\"; "
            "write a number followed by a unit: ms, s, m, h or d (for example 500ms, 30s, 5m, 2h, "
            "7d, 1h30m)\n"
            "jobs.yaml:9:5: job \"a\" has no source; add source: location:/path/to/table\n"
            "jobs.yaml:9:5: job \"a\" has no target; add target: location:/path/to/snapshots\n"
            "jobs.yaml:9:11: duplicate job name \"a\" (the first is at line 4); give each job a "
            "unique name");
}

}  // namespace
}  // namespace lakesync::runner
