#include "metrics/metrics.h"

#include <prometheus/client_metric.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <set>
#include <vector>

namespace lakesync::metrics {

namespace {

constexpr size_t kNumResults = std::size(kRunResults);

// A label value in the text format: backslash, double quote and newline escaped.
void AppendEscaped(std::string& out, std::string_view value) {
  for (char c : value) {
    if (c == '\\' || c == '"') {
      out.push_back('\\');
      out.push_back(c);
    } else if (c == '\n') {
      out.append("\\n");
    } else {
      out.push_back(c);
    }
  }
}

// `,name="value"` appended to a label list.
void AppendLabel(std::string& out, std::string_view name, std::string_view value) {
  if (!out.empty()) out.push_back(',');
  out.append(name);
  out.append("=\"");
  AppendEscaped(out, value);
  out.push_back('"');
}

// A sample value as Prometheus parses it (Go's ParseFloat): the shortest exact decimal, or
// +Inf / -Inf / NaN.
void AppendValue(std::string& out, double v) {
  if (std::isnan(v)) {
    out.append("NaN");
  } else if (std::isinf(v)) {
    out.append(v > 0 ? "+Inf" : "-Inf");
  } else {
    char buf[32];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, end);
  }
}

// A target as configured, minus the user-info of a URL ("s3://key:secret@host/t" →
// "s3://host/t"): credentials never reach a label.
std::string TargetLabel(std::string_view target) {
  size_t scheme_end = target.find("://");
  if (scheme_end == std::string_view::npos) return std::string(target);
  size_t host_start = scheme_end + 3;
  size_t host_end = std::min(target.find_first_of("/?#", host_start), target.size());
  size_t at = target.substr(host_start, host_end - host_start).rfind('@');
  if (at == std::string_view::npos) return std::string(target);
  return std::string(target.substr(0, host_start)).append(target.substr(host_start + at + 1));
}

double NonNegative(int64_t v) { return v > 0 ? static_cast<double>(v) : 0.0; }
double Seconds(TimePoint t) { return std::chrono::duration<double>(t.time_since_epoch()).count(); }

// The series of one target of a job. A version is unset until first read.
struct TargetSeries {
  std::string labels;  // the job's labels and `target`
  std::optional<double> source_version;
  std::optional<double> replicated_version;
  double lag_versions = 0;
  double lag_seconds = 0;
  double probe_ok = 0;
  // Unix time at which the target was last known to be current: the last successful probe's time
  // minus its lag. Unset until a probe succeeds.
  std::optional<double> current_as_of;
};

}  // namespace

// Every series of one job. Guarded by Metrics::mu_ (the prometheus-cpp types are thread-safe on
// their own; the optionals and maps are not).
struct Metrics::JobSeries {
  std::string kind;
  std::string labels;  // `runner="..",job="..",kind=".."`
  prometheus::Gauge running;
  std::array<prometheus::Counter, kNumResults> runs;  // in kRunResults order
  prometheus::Histogram duration{prometheus::Histogram::BucketBoundaries(
      std::begin(kRunDurationBuckets), std::end(kRunDurationBuckets))};
  prometheus::Counter commits, files, bytes, rows;
  double configured = 0;
  std::optional<double> last_success;
  std::optional<double> lag_alert;
  std::optional<double> interval;
  std::optional<double> snapshots;
  std::optional<double> snapshot_newest;
  std::map<std::string, TargetSeries, std::less<>> targets;  // by target label
};

namespace {

using JobSeries = Metrics::JobSeries;

// Writes one exposition line: name{labels[,extra]} value.
class Writer {
 public:
  explicit Writer(std::string& out) : out_(out) {}
  void Line(std::string_view name, const std::string& labels, double value,
            std::string_view extra = {}) {
    out_.append(name);
    out_.push_back('{');
    out_.append(labels);
    if (!extra.empty()) {
      out_.push_back(',');
      out_.append(extra);
    }
    out_.append("} ");
    AppendValue(out_, value);
    out_.push_back('\n');
  }
  void Header(std::string_view name, std::string_view help, std::string_view type) {
    out_.append("# HELP ").append(name).append(" ").append(help).append("\n");
    out_.append("# TYPE ").append(name).append(" ").append(type).append("\n");
  }
  std::string& out() { return out_; }

 private:
  std::string& out_;
};

using WriteJob = void (*)(Writer&, std::string_view name, const JobSeries&);

void WriteOptional(Writer& w, std::string_view name, const std::string& labels,
                   const std::optional<double>& v) {
  if (v) w.Line(name, labels, *v);
}

// The catalogue, in exposition order. Each entry writes the family's lines for one job.
struct FamilyDef {
  std::string_view name;
  std::string_view type;
  std::string_view help;
  WriteJob write;
};

#define LAKESYNC_TARGET_GAUGE(field)                                           \
  [](Writer& w, std::string_view name, const JobSeries& j) {                   \
    for (const auto& [target, t] : j.targets) w.Line(name, t.labels, t.field); \
  }
#define LAKESYNC_TARGET_OPTIONAL(field)                                                  \
  [](Writer& w, std::string_view name, const JobSeries& j) {                             \
    for (const auto& [target, t] : j.targets) WriteOptional(w, name, t.labels, t.field); \
  }
#define LAKESYNC_JOB_OPTIONAL(field)                         \
  [](Writer& w, std::string_view name, const JobSeries& j) { \
    WriteOptional(w, name, j.labels, j.field);               \
  }
#define LAKESYNC_JOB_VALUE(field)                            \
  [](Writer& w, std::string_view name, const JobSeries& j) { \
    w.Line(name, j.labels, j.field.Value());                 \
  }

const FamilyDef kFamilies[] = {
    {"lakesync_job_running", "gauge", "Runs of the job in progress on this runner.",
     LAKESYNC_JOB_VALUE(running)},
    {"lakesync_runs_total", "counter", "Finished runs of the job, by result.",
     [](Writer& w, std::string_view name, const JobSeries& j) {
       static const std::array<std::string, kNumResults> kResult = [] {
         std::array<std::string, kNumResults> out;
         for (size_t i = 0; i < kNumResults; ++i) AppendLabel(out[i], "result", kRunResults[i]);
         return out;
       }();
       for (size_t i = 0; i < kNumResults; ++i)
         w.Line(name, j.labels, j.runs[i].Value(), kResult[i]);
     }},
    {"lakesync_run_duration_seconds", "histogram", "Wall time of finished runs of the job.",
     [](Writer& w, std::string_view, const JobSeries& j) {
       // `le="..."` of each bucket, formatted once.
       static const std::vector<std::string> kLe = [] {
         std::vector<std::string> le;
         for (double bound : kRunDurationBuckets) {
           le.emplace_back("le=\"");
           AppendValue(le.back(), bound);
           le.back().push_back('"');
         }
         le.emplace_back("le=\"+Inf\"");
         return le;
       }();
       prometheus::ClientMetric m = j.duration.Collect();
       for (size_t i = 0; i < m.histogram.bucket.size() && i < kLe.size(); ++i) {
         w.Line("lakesync_run_duration_seconds_bucket", j.labels,
                static_cast<double>(m.histogram.bucket[i].cumulative_count), kLe[i]);
       }
       w.Line("lakesync_run_duration_seconds_sum", j.labels, m.histogram.sample_sum);
       w.Line("lakesync_run_duration_seconds_count", j.labels,
              static_cast<double>(m.histogram.sample_count));
     }},
    {"lakesync_replicated_commits_total", "counter",
     "Commits the job published to its targets (summed over targets).",
     LAKESYNC_JOB_VALUE(commits)},
    {"lakesync_copied_files_total", "counter", "Data files the job copied.",
     LAKESYNC_JOB_VALUE(files)},
    {"lakesync_copied_bytes_total", "counter", "Bytes of data files the job copied.",
     LAKESYNC_JOB_VALUE(bytes)},
    {"lakesync_copied_rows_total", "counter",
     "Rows in the data files the job copied (as the Delta log states them).",
     LAKESYNC_JOB_VALUE(rows)},
    {"lakesync_last_success_timestamp_seconds", "gauge",
     "Unix time at which the job's newest successful run finished.",
     LAKESYNC_JOB_OPTIONAL(last_success)},
    {"lakesync_job_configured_timestamp_seconds", "gauge",
     "Unix time at which this runner started running the job.",
     [](Writer& w, std::string_view name, const JobSeries& j) {
       w.Line(name, j.labels, j.configured);
     }},
    {"lakesync_lag_alert_seconds", "gauge", "The job's configured lag_alert.",
     LAKESYNC_JOB_OPTIONAL(lag_alert)},
    {"lakesync_schedule_interval_seconds", "gauge",
     "The interval between the job's scheduled runs (absent for manual jobs).",
     LAKESYNC_JOB_OPTIONAL(interval)},
    {"lakesync_source_version", "gauge",
     "The source table's newest version (last known when unreadable).",
     LAKESYNC_TARGET_OPTIONAL(source_version)},
    {"lakesync_replicated_version", "gauge", "The newest source version present in the target.",
     LAKESYNC_TARGET_OPTIONAL(replicated_version)},
    {"lakesync_lag_versions", "gauge", "Source versions not yet replicated to the target.",
     LAKESYNC_TARGET_GAUGE(lag_versions)},
    {"lakesync_lag_seconds", "gauge",
     "Age of the oldest source commit not yet in the target; 0 when caught up.",
     LAKESYNC_TARGET_GAUGE(lag_seconds)},
    {"lakesync_lag_probe_ok", "gauge",
     "1 when the latest lag probe read source and target, 0 when it failed.",
     LAKESYNC_TARGET_GAUGE(probe_ok)},
    {"lakesync_snapshots", "gauge", "Complete snapshots the snapshot job's target holds.",
     LAKESYNC_JOB_OPTIONAL(snapshots)},
    {"lakesync_snapshot_newest_version", "gauge",
     "The source version of the newest complete snapshot.", LAKESYNC_JOB_OPTIONAL(snapshot_newest)},
};

#undef LAKESYNC_TARGET_GAUGE
#undef LAKESYNC_TARGET_OPTIONAL
#undef LAKESYNC_JOB_OPTIONAL
#undef LAKESYNC_JOB_VALUE

std::string RunnerLabel(std::string_view runner_id) {
  std::string out;
  AppendLabel(out, "runner", runner_id);
  return out;
}

}  // namespace

Metrics::Metrics(std::string runner_id, std::string version, const Clock* clock)
    : clock_(clock != nullptr ? *clock : SystemClock::Instance()),
      runner_label_(RunnerLabel(runner_id)),
      version_(std::move(version)) {}

Metrics::~Metrics() = default;

Metrics::JobSeries& Metrics::JobLocked(const std::string& job, const std::string& kind) {
  auto it = jobs_.find(job);
  if (it != jobs_.end() && it->second->kind == kind) return *it->second;
  if (configured_ && it == jobs_.end()) {
    // Not configured (any more): written to, never exported.
    discarded_ = std::make_unique<JobSeries>();
    discarded_->kind = kind;
    return *discarded_;
  }
  // New, or its kind changed: every series starts afresh.
  auto series = std::make_unique<JobSeries>();
  series->kind = kind;
  series->labels = runner_label_;
  AppendLabel(series->labels, "job", job);
  AppendLabel(series->labels, "kind", kind);
  series->configured = Seconds(clock_.Now());
  if (it != jobs_.end()) {
    it->second = std::move(series);
    return *it->second;
  }
  return *jobs_.emplace(job, std::move(series)).first->second;
}

void Metrics::RunStarted(const std::string& job, const std::string& kind) {
  std::lock_guard lock(mu_);
  JobLocked(job, kind).running.Increment();
}

void Metrics::RunFinished(const std::string& job, const std::string& kind, std::string_view result,
                          double duration_seconds, int64_t commits, int64_t files, int64_t bytes,
                          int64_t rows, std::optional<double> success_unix_seconds) {
  std::lock_guard lock(mu_);
  JobSeries& s = JobLocked(job, kind);
  if (s.running.Value() >= 1) s.running.Decrement();
  size_t i =
      std::find(std::begin(kRunResults), std::end(kRunResults), result) - std::begin(kRunResults);
  if (i == kNumResults) {
    spdlog::warn(
        "metrics: job {}: run result '{}' is not one of the known results; counted as "
        "failed",
        job, result);
    i = 1;
  }
  s.runs[i].Increment();
  s.duration.Observe(std::max(0.0, duration_seconds));
  s.commits.Increment(NonNegative(commits));
  s.files.Increment(NonNegative(files));
  s.bytes.Increment(NonNegative(bytes));
  s.rows.Increment(NonNegative(rows));
  if (success_unix_seconds)
    s.last_success = std::max(s.last_success.value_or(0), *success_unix_seconds);
}

void Metrics::SetLastSuccess(const std::string& job, const std::string& kind, double unix_seconds) {
  std::lock_guard lock(mu_);
  JobSeries& s = JobLocked(job, kind);
  s.last_success = std::max(s.last_success.value_or(0), unix_seconds);
}

void Metrics::SetLag(const std::string& job, const std::string& kind, const std::string& target,
                     std::optional<int64_t> source_version,
                     std::optional<int64_t> replicated_version, int64_t lag_versions,
                     double lag_seconds, bool probe_ok) {
  std::lock_guard lock(mu_);
  JobSeries& s = JobLocked(job, kind);
  std::string name = TargetLabel(target);
  auto it = s.targets.find(name);
  if (it == s.targets.end()) {
    it = s.targets.emplace(name, TargetSeries{}).first;
    it->second.labels = s.labels;
    AppendLabel(it->second.labels, "target", name);
  }
  TargetSeries& t = it->second;
  if (source_version) t.source_version = static_cast<double>(*source_version);
  if (replicated_version) t.replicated_version = static_cast<double>(*replicated_version);
  const double now = Seconds(clock_.Now());
  double lag = std::isfinite(lag_seconds) ? std::max(0.0, lag_seconds) : 0.0;
  if (probe_ok) {
    t.current_as_of = now - lag;
    t.lag_versions = NonNegative(lag_versions);
  } else {
    if (t.current_as_of) lag = std::max(lag, now - *t.current_as_of);
    t.lag_versions = std::max(t.lag_versions, NonNegative(lag_versions));
  }
  t.lag_seconds = lag;
  t.probe_ok = probe_ok ? 1 : 0;
}

void Metrics::SetSnapshots(const std::string& job, int64_t count,
                           std::optional<int64_t> newest_version) {
  std::lock_guard lock(mu_);
  auto it = jobs_.find(job);
  JobSeries& s = it != jobs_.end() ? *it->second : JobLocked(job, "snapshot");
  s.snapshots = NonNegative(count);
  s.snapshot_newest.reset();
  if (newest_version) s.snapshot_newest = static_cast<double>(*newest_version);
}

void Metrics::SetJobConfig(const std::string& job, const std::string& kind,
                           std::optional<double> lag_alert_seconds,
                           std::optional<double> schedule_interval_seconds) {
  std::lock_guard lock(mu_);
  JobSeries& s = JobLocked(job, kind);
  s.lag_alert = lag_alert_seconds;
  s.interval = schedule_interval_seconds;
}

void Metrics::ConfigureJobs(const std::vector<std::pair<std::string, std::string>>& job_and_kind) {
  std::lock_guard lock(mu_);
  std::map<std::string, std::string, std::less<>> wanted(job_and_kind.begin(), job_and_kind.end());
  for (auto it = jobs_.begin(); it != jobs_.end();) {
    auto w = wanted.find(it->first);
    it = (w == wanted.end() || w->second != it->second->kind) ? jobs_.erase(it) : std::next(it);
  }
  configured_ = false;  // so that JobLocked creates the listed ones
  for (const auto& [job, kind] : wanted) JobLocked(job, kind);
  configured_ = true;
}

void Metrics::ConfigureJobsAndTargets(const std::vector<ConfiguredJob>& jobs) {
  std::vector<std::pair<std::string, std::string>> job_and_kind;
  for (const auto& j : jobs) job_and_kind.emplace_back(j.job, j.kind);
  ConfigureJobs(job_and_kind);
  std::lock_guard lock(mu_);
  for (const auto& j : jobs) {
    auto it = jobs_.find(j.job);
    if (it == jobs_.end()) continue;
    std::set<std::string> keep;
    for (const auto& t : j.targets) keep.insert(TargetLabel(t));
    std::erase_if(it->second->targets, [&](const auto& entry) { return !keep.count(entry.first); });
  }
}

std::string Metrics::Serialize() const {
  std::string out;
  std::lock_guard lock(mu_);
  out.reserve(last_size_ + last_size_ / 8 + 4096);
  Writer w(out);
  w.Header("lakesync_build_info", "Always 1; the lakesync version of this runner.", "gauge");
  std::string version;
  AppendLabel(version, "version", version_);
  w.Line("lakesync_build_info", runner_label_, 1, version);
  for (const FamilyDef& f : kFamilies) {
    w.Header(f.name, f.help, f.type);
    for (const auto& [name, job] : jobs_) f.write(w, f.name, *job);
  }
  last_size_ = out.size();
  return out;
}

}  // namespace lakesync::metrics
