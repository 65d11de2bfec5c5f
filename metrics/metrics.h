#pragma once

// The daemon's Prometheus metrics: every lakesync series, updated by the runner from run outcomes
// and lag probes, rendered in the Prometheus text exposition format by Serialize() for the
// daemon's own `/metrics` handler (transport is not this module's business). The catalogue, with
// each metric's meaning, labels and how to aggregate it across runners, is docs/metrics.md.
//
// Values live in prometheus-cpp core metric types (Counter, Gauge, Histogram). The exposition is
// written by this module rather than by prometheus-cpp's Registry::Collect + TextSerializer:
// those copy every label map and format through iostreams, ~150 ms per scrape with 1,000 jobs
// (~39,000 series) on a 2-core machine, against a goal of 20 ms (bench/metrics_scrape_bench).
// metrics_test checks that the output parses to exactly the samples TextSerializer produces.
//
// Labels: every series carries the constant label `runner` (the runner id), so that several
// runners scraped by one Prometheus never collide; aggregate with `max by (job, target)` for the
// lag and version gauges and `sum` for the counters. The other labels are bounded by the
// configuration: `job` (a job name), `kind` (incremental | snapshot | consolidation), `target` (a
// target as written in the configuration, or a region name for consolidation; URLs are printed
// without credentials), `result` (one of the five finished run statuses) and `version` (the build
// only). Never a table version, a path outside the configuration, or error text.
//
// Series of a job exist from the first call that names it (ConfigureJobs creates them eagerly,
// so counters start at 0 and rate() sees the first increment). ConfigureJobs drops every series
// of a job no longer configured (and of a job whose kind changed). Gauges without a known value
// (a version never read, a success never seen) have no series rather than a made-up value.
//
// Thread-safety: every method may be called from any thread concurrently with Serialize().

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/clock.h"

namespace lakesync::metrics {

// The five results a finished run can have (db::RunStatusName of every status but running).
inline constexpr std::string_view kRunResults[] = {"succeeded", "failed", "partial", "timed_out",
                                                   "cancelled"};

// Upper bounds (seconds) of lakesync_run_duration_seconds: a 10 ms warm incremental run up to a
// multi-hour initial copy.
inline constexpr double kRunDurationBuckets[] = {0.01, 0.05, 0.25, 1,    5,    15,
                                                 60,   300,  900,  3600, 14400};

class Metrics {
 public:
  // `runner_id` becomes the constant `runner` label and `version` the `version` label of
  // lakesync_build_info. `clock` (default: the system clock) stamps
  // lakesync_job_configured_timestamp_seconds; it must outlive this object.
  explicit Metrics(std::string runner_id, std::string version, const Clock* clock = nullptr);
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // A run of `job` started: lakesync_job_running{job,kind} goes up by one.
  void RunStarted(const std::string& job, const std::string& kind);

  // A run finished (pair with RunStarted): job_running goes down by one (never below 0),
  // runs_total{result} + 1, the duration is observed, the copied-data counters grow by the
  // (non-negative) amounts, and last_success_timestamp_seconds is set when
  // `success_unix_seconds` is given. A `result` outside kRunResults is counted as "failed" (and
  // logged once), so the label stays bounded.
  void RunFinished(const std::string& job, const std::string& kind, std::string_view result,
                   double duration_seconds, int64_t commits, int64_t files, int64_t bytes,
                   int64_t rows, std::optional<double> success_unix_seconds);

  // Seeds lakesync_last_success_timestamp_seconds (e.g. from the state store at start-up). Never
  // moves it backwards.
  void SetLastSuccess(const std::string& job, const std::string& kind, double unix_seconds);

  // The latest lag probe (or run) of one target of a job. `probe_ok` = false says the probe
  // failed (source or target unreadable); then a version not given keeps its last known value,
  // lag_versions never drops below its last known value, and lag_seconds keeps rising: it is at
  // least the time since the target was last known current (the last successful probe's time
  // minus the lag it measured), so a dashboard shows an unreachable source falling behind.
  void SetLag(const std::string& job, const std::string& kind, const std::string& target,
              std::optional<int64_t> source_version, std::optional<int64_t> replicated_version,
              int64_t lag_versions, double lag_seconds, bool probe_ok);

  // Snapshot jobs: how many complete snapshots the target holds and the newest one's source
  // version (no series while there is none).
  void SetSnapshots(const std::string& job, int64_t count, std::optional<int64_t> newest_version);

  // The job's alerting and scheduling settings, exported so that the alert rules can compare
  // against them: lakesync_lag_alert_seconds{job,kind} (absent when the job has no lag_alert)
  // and lakesync_schedule_interval_seconds{job,kind} (absent for manual, continuous jobs report
  // their poll interval, cron jobs the typical gap between two firings).
  void SetJobConfig(const std::string& job, const std::string& kind,
                    std::optional<double> lag_alert_seconds,
                    std::optional<double> schedule_interval_seconds);

  // The configured jobs, in any order: series of jobs not listed (or listed with another kind)
  // are dropped; listed jobs get their series created. From the first call on, a job not listed
  // gets no series (a removed job's run that finishes afterwards does not bring them back).
  void ConfigureJobs(const std::vector<std::pair<std::string, std::string>>& job_and_kind);
  // The same, and per job its targets (as written; regions for consolidation): the per-target
  // series of a target no longer listed are dropped (its lag and probe gauges would stay frozen,
  // and an alert on them fire for ever).
  struct ConfiguredJob {
    std::string job, kind;
    std::vector<std::string> targets;
  };
  void ConfigureJobsAndTargets(const std::vector<ConfiguredJob>& jobs);

  // Every series, in the Prometheus text exposition format (version 0.0.4; serve it with
  // Content-Type "text/plain; version=0.0.4; charset=utf-8").
  std::string Serialize() const;

  struct JobSeries;  // internal (metrics.cc)

 private:
  JobSeries& JobLocked(const std::string& job, const std::string& kind);

  const Clock& clock_;
  const std::string runner_label_;  // `runner="..."`, escaped
  const std::string version_;
  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<JobSeries>, std::less<>> jobs_;  // by job name
  bool configured_ = false;               // ConfigureJobs was called: only listed jobs have series
  std::unique_ptr<JobSeries> discarded_;  // what calls about unlisted jobs write to
  mutable size_t last_size_ = 0;          // of the previous exposition, to reserve the next
};

}  // namespace lakesync::metrics
