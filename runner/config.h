#pragma once

// The lakesync configuration file, parsed once into typed values.
//
// LoadConfigFile / LoadConfigString read YAML (see docs and runner/testdata/good.yaml for the
// full shape), interpolate `${NAME}` environment references in every scalar value (`$${` is a
// literal `${`), apply the defaults documented below and check every range. Job code never
// looks at a YAML key: everything it needs is a field here.
//
// Errors: InvalidArgument whose message lists EVERY problem found, one per line, each
//   FILE:LINE:COL: what is wrong; what to write instead
// with 1-based line and column pointing at the offending key or value. A missing or
// unreadable file is NotFound / IOError naming the path. Secrets (the postgres connection
// string, webhook URLs, anything that came from `${...}`) never appear in a message: values
// are quoted as written in the file.
//
// Thread-safety: a Config is an immutable value once loaded; share it freely.

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/duration.h"
#include "common/status.h"
#include "common/uri.h"
#include "runner/cron.h"

namespace lakesync::runner {

// Looks up an environment variable; nullopt when it is not set.
using EnvLookup = std::function<std::optional<std::string>(std::string_view)>;

// The process environment (getenv). Call only while no other thread changes the environment.
EnvLookup ProcessEnv();

// `state:`
struct StateConfig {
  // `postgres:` the libpq connection string after interpolation. Absent → the CLI uses
  // LAKESYNC_DATABASE_URL. A secret: print only through RedactConnectionString.
  std::optional<std::string> postgres;
};

// `runner:` — every key optional.
struct RunnerConfig {
  std::string listen = "127.0.0.1:9464";  // host:port (port 0-65535) for /metrics, /healthz
  int max_concurrent_runs = 4;            // 1..1024
  int copy_parallelism = 8;               // 1..256 file copies in flight per run
  Duration lag_probe_interval = std::chrono::seconds(15);  // >= 1s
  Duration lease_ttl = std::chrono::seconds(30);           // >= 1s
  Duration heartbeat_interval = std::chrono::seconds(10);  // > 0 and < lease_ttl
  Duration shutdown_grace = std::chrono::seconds(30);      // >= 0
  std::string runner_id;  // [A-Za-z0-9_.:-]{1,128}; empty = hostname-pid chosen by the daemon
  // A source commit with more actions (lines) or bytes fails the run, naming the key to raise,
  // before it is parsed: what one commit may cost in memory is bounded.
  int64_t max_commit_actions = 1'000'000;       // 1..1e9
  int64_t max_commit_bytes = int64_t{1} << 30;  // 1 KiB..1 TiB (bytes)
};

// One entry of `notifications:`: exactly one of `webhook:` or `email:`.
struct NotificationConfig {
  enum Kind { kWebhook, kEmail };
  enum Event { kFailure, kRecovery, kSuccess };

  Kind kind = kWebhook;
  std::string webhook_url;  // http(s) URL; a secret (print through RedactUrl)
  // email: { smtp: host:port, from: addr, to: [addr, ...] }
  std::string smtp;  // host:port
  std::string from;
  std::vector<std::string> to;
  // `on:` events to notify about; default {failure, recovery}.
  std::set<Event> on = {kFailure, kRecovery};
  // `jobs:` names of the jobs this notification covers; empty = every job.
  std::vector<std::string> jobs;
};

std::string_view NotificationEventName(NotificationConfig::Event event);

// A table location as written in a job: `location:/path` (a named location joined with the
// path), `file:///abs/path`, or `/abs/path`.
struct TableRef {
  std::string text;      // as written, for messages
  std::string location;  // the named location; empty for a URL or absolute path
  Uri uri = Uri::LocalPath("/").value();
};

enum class JobKind { kIncremental, kSnapshot, kConsolidation };
// "incremental", "snapshot", "consolidation".
std::string_view JobKindName(JobKind kind);

// `schedule:` — absent means manual runs only.
struct Schedule {
  enum Kind { kManual, kEvery, kCron, kContinuous };
  Kind kind = kManual;
  Duration every{0};  // kEvery: { every: 5m }, >= 1s
  CronExpr cron;      // kCron: { cron: "*/15 * * * *", timezone: Europe/Berlin } (default UTC)
  Duration poll{0};   // kContinuous: { continuous: { poll: 2s } }, >= 100ms, default 5s

  // "manual", "every 5m", "cron */15 * * * * (UTC)", "continuous (poll 2s)".
  std::string Describe() const;
};

// `retries:` — a failed run is retried up to `max` times, waiting backoff, 2×backoff, ...
// capped at max_backoff.
struct RetryPolicy {
  int max = 0;                                      // 0..100
  Duration backoff = std::chrono::seconds(30);      // >= 0
  Duration max_backoff = std::chrono::minutes(10);  // >= backoff
};

struct IncrementalSpec {
  TableRef source;
  std::vector<TableRef> targets;  // at least one
  // `start:` where a target with no replicated version starts. kAuto: from version 0 when the
  // source log is complete, else from the latest checkpoint.
  enum Start { kAuto, kEarliest, kLatestCheckpoint } start = kAuto;
  std::optional<int64_t> max_versions_per_run;  // >= 1
  enum Verify { kSize, kChecksum } verify = kSize;
};

struct SnapshotSpec {
  TableRef source;
  TableRef target;
  // `version: latest` (both unset), `version: N`, or `as_of: timestamp` — at most one.
  std::optional<int64_t> version;
  std::optional<TimePoint> as_of;
  // `retention: { keep_last: N, keep_within: 30d }`; both unset = keep everything.
  std::optional<int> keep_last;         // >= 1
  std::optional<Duration> keep_within;  // > 0
  enum Mode { kDeep, kShallow } mode = kDeep;
  bool skip_unchanged = true;  // no new snapshot when the source version did not change
  // `timestamps: modification_time | commit_info`: how as_of and the manifests read the commit
  // times of commits before in-commit timestamps (delta/timestamps.h).
  enum Timestamps { kModificationTime, kCommitInfo } timestamps = kModificationTime;
};

struct ConsolidationSpec {
  // `sources: { region: table, ... }` in file order; region names are identifiers.
  std::vector<std::pair<std::string, TableRef>> sources;
  TableRef target;
  std::string region_column = "source_region";
  enum SchemaMode { kStrict, kUnion } schema = kStrict;
};

struct JobConfig {
  std::string name;  // [A-Za-z0-9_.-]+, unique in the file
  JobKind kind = JobKind::kIncremental;
  Schedule schedule;
  RetryPolicy retries;
  std::optional<Duration> timeout;    // > 0
  std::optional<Duration> lag_alert;  // > 0
  // Only the spec matching `kind` is meaningful.
  IncrementalSpec incremental;
  SnapshotSpec snapshot;
  ConsolidationSpec consolidation;
  int line = 0;  // 1-based line of the job in the file, for messages

  std::vector<Uri> SourceUris() const;
  std::vector<Uri> TargetUris() const;
  std::vector<std::string> TargetNames() const;  // target texts as written
};

struct Config {
  std::string file;  // the file name given to the loader
  StateConfig state;
  RunnerConfig runner;
  std::map<std::string, Uri> locations;
  std::vector<NotificationConfig> notifications;
  std::vector<JobConfig> jobs;  // in file order

  // nullptr when no job has that name.
  const JobConfig* FindJob(std::string_view name) const;
};

// Reads and parses `path`. NotFound when the file does not exist.
[[nodiscard]] Result<Config> LoadConfigFile(const std::string& path,
                                            const EnvLookup& env = ProcessEnv());

// Parses `yaml`; `file_name` prefixes every error message.
[[nodiscard]] Result<Config> LoadConfigString(std::string_view yaml, std::string_view file_name,
                                              const EnvLookup& env = ProcessEnv());

}  // namespace lakesync::runner
