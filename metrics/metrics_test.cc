#include "metrics/metrics.h"

#include <gtest/gtest.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace lakesync::metrics {
namespace {

// An independent reader of the text exposition format (version 0.0.4), written from the format's
// description: `# HELP name text`, `# TYPE name type`, and `name{l="v",...} value` lines.
struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

struct Exposition {
  std::map<std::string, std::string> help;  // by family name
  std::map<std::string, std::string> type;
  std::vector<Sample> samples;

  std::vector<Sample> Find(const std::string& name,
                           const std::map<std::string, std::string>& match = {}) const {
    std::vector<Sample> out;
    for (const Sample& s : samples) {
      if (s.name != name) continue;
      bool ok = true;
      for (const auto& [k, v] : match) {
        auto it = s.labels.find(k);
        if (it == s.labels.end() || it->second != v) ok = false;
      }
      if (ok) out.push_back(s);
    }
    return out;
  }
  // The value of the one sample that matches; fails the test otherwise.
  double Value(const std::string& name, const std::map<std::string, std::string>& match) const {
    auto found = Find(name, match);
    EXPECT_EQ(found.size(), 1u) << name;
    return found.empty() ? NAN : found[0].value;
  }
};

Exposition Parse(const std::string& text) {
  Exposition e;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    if (line.rfind("# HELP ", 0) == 0 || line.rfind("# TYPE ", 0) == 0) {
      std::string rest = line.substr(7);
      size_t sp = rest.find(' ');
      EXPECT_NE(sp, std::string::npos) << line;
      auto& map = line[2] == 'H' ? e.help : e.type;
      EXPECT_EQ(map.count(rest.substr(0, sp)), 0u) << "repeated: " << line;
      map[rest.substr(0, sp)] = rest.substr(sp + 1);
      continue;
    }
    EXPECT_NE(line[0], '#') << "unexpected comment: " << line;
    Sample s;
    size_t i = line.find_first_of("{ ");
    s.name = line.substr(0, i);
    if (line[i] == '{') {
      ++i;
      while (line[i] != '}') {
        size_t eq = line.find('=', i);
        std::string key = line.substr(i, eq - i);
        EXPECT_EQ(line[eq + 1], '"') << line;
        std::string value;
        size_t j = eq + 2;
        for (; line[j] != '"'; ++j) {
          if (line[j] == '\\') ++j;
          value += line[j];
        }
        EXPECT_EQ(s.labels.count(key), 0u) << "label twice: " << line;
        s.labels[key] = value;
        i = j + 1;
        if (line[i] == ',') ++i;
      }
      ++i;
    }
    EXPECT_EQ(line[i], ' ') << line;
    s.value = std::stod(line.substr(i + 1));
    e.samples.push_back(s);
  }
  return e;
}

// The family a sample belongs to (histograms expose _bucket, _sum and _count).
std::string FamilyOf(const Exposition& e, const std::string& name) {
  if (e.type.count(name)) return name;
  for (const char* suffix : {"_bucket", "_sum", "_count"}) {
    std::string s(suffix);
    if (name.size() > s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0) {
      std::string base = name.substr(0, name.size() - s.size());
      if (e.type.count(base) && e.type.at(base) == "histogram") return base;
    }
  }
  return "";
}

class MetricsTest : public ::testing::Test {
 protected:
  ManualClock clock_{FromUnixMillis(1'700'000'000'500)};
  Metrics m_{"runner-a", "1.2.3", &clock_};
};

TEST_F(MetricsTest, EveryFamilyHasHelpTypeAndTheRunnerLabel) {
  m_.ConfigureJobs({{"orders", "incremental"}, {"daily", "snapshot"}});
  m_.RunStarted("orders", "incremental");
  m_.RunFinished("orders", "incremental", "succeeded", 2.5, 3, 10, 4096, 100, 1.7e9);
  m_.SetLag("orders", "incremental", "/t/orders", 12, 9, 3, 40.5, true);
  m_.SetSnapshots("daily", 2, 7);
  m_.SetJobConfig("orders", "incremental", 300, 60);
  Exposition e = Parse(m_.Serialize());

  // The catalogue of docs/metrics.md, with each family's type.
  const std::map<std::string, std::string> expected = {
      {"lakesync_build_info", "gauge"},
      {"lakesync_job_running", "gauge"},
      {"lakesync_runs_total", "counter"},
      {"lakesync_run_duration_seconds", "histogram"},
      {"lakesync_replicated_commits_total", "counter"},
      {"lakesync_copied_files_total", "counter"},
      {"lakesync_copied_bytes_total", "counter"},
      {"lakesync_copied_rows_total", "counter"},
      {"lakesync_last_success_timestamp_seconds", "gauge"},
      {"lakesync_job_configured_timestamp_seconds", "gauge"},
      {"lakesync_lag_alert_seconds", "gauge"},
      {"lakesync_schedule_interval_seconds", "gauge"},
      {"lakesync_source_version", "gauge"},
      {"lakesync_replicated_version", "gauge"},
      {"lakesync_lag_versions", "gauge"},
      {"lakesync_lag_seconds", "gauge"},
      {"lakesync_lag_probe_ok", "gauge"},
      {"lakesync_snapshots", "gauge"},
      {"lakesync_snapshot_newest_version", "gauge"},
  };
  EXPECT_EQ(e.type, expected);
  for (const auto& [name, type] : expected) {
    ASSERT_TRUE(e.help.count(name)) << name;
    EXPECT_GT(e.help.at(name).size(), 10u) << name;
  }
  const std::set<std::string> allowed_labels = {"runner", "job",     "kind", "target",
                                                "result", "version", "le"};
  for (const Sample& s : e.samples) {
    EXPECT_NE(FamilyOf(e, s.name), "") << "sample of no declared family: " << s.name;
    EXPECT_EQ(s.labels.count("runner") ? s.labels.at("runner") : "", "runner-a") << s.name;
    for (const auto& [key, value] : s.labels) {
      EXPECT_TRUE(allowed_labels.count(key)) << s.name << " has label " << key;
    }
  }
  EXPECT_EQ(e.Value("lakesync_build_info", {{"version", "1.2.3"}}), 1);
}

TEST_F(MetricsTest, RunFinishedCountsResultsDurationsAndCopiedData) {
  m_.RunStarted("orders", "incremental");
  EXPECT_EQ(Parse(m_.Serialize()).Value("lakesync_job_running", {{"job", "orders"}}), 1);
  m_.RunFinished("orders", "incremental", "succeeded", 0.02, 2, 5, 1000, 50, 1'700'000'100.0);
  m_.RunStarted("orders", "incremental");
  m_.RunFinished("orders", "incremental", "failed", 7.0, 1, 3, 500, 0, std::nullopt);
  m_.RunFinished("orders", "incremental", "partial", 100.0, 0, 0, 0, 0, std::nullopt);
  Exposition e = Parse(m_.Serialize());
  const std::map<std::string, std::string> job = {{"job", "orders"}, {"kind", "incremental"}};
  // Never below zero, even for a finish without a start.
  EXPECT_EQ(e.Value("lakesync_job_running", job), 0);
  // The job's labels plus one more.
  auto with = [&](const char* key, const char* value) {
    auto labels = job;
    labels[key] = value;
    return labels;
  };
  auto runs = [&](const char* result) {
    return e.Value("lakesync_runs_total", with("result", result));
  };
  EXPECT_EQ(runs("succeeded"), 1);
  EXPECT_EQ(runs("failed"), 1);
  EXPECT_EQ(runs("partial"), 1);
  EXPECT_EQ(runs("timed_out"), 0);  // created at 0, so that rate() sees the first one
  EXPECT_EQ(runs("cancelled"), 0);
  EXPECT_EQ(e.Value("lakesync_replicated_commits_total", job), 3);
  EXPECT_EQ(e.Value("lakesync_copied_files_total", job), 8);
  EXPECT_EQ(e.Value("lakesync_copied_bytes_total", job), 1500);
  EXPECT_EQ(e.Value("lakesync_copied_rows_total", job), 50);
  EXPECT_EQ(e.Value("lakesync_last_success_timestamp_seconds", job), 1'700'000'100.0);
  // Histogram: 0.02 s in le=0.05 and up, 7 s in le=15 and up, 100 s in le=300 and up.
  EXPECT_EQ(e.Value("lakesync_run_duration_seconds_count", job), 3);
  EXPECT_DOUBLE_EQ(e.Value("lakesync_run_duration_seconds_sum", job), 107.02);
  auto bucket = [&](const char* le) {
    return e.Value("lakesync_run_duration_seconds_bucket", with("le", le));
  };
  EXPECT_EQ(bucket("0.01"), 0);
  EXPECT_EQ(bucket("0.05"), 1);
  EXPECT_EQ(bucket("5"), 1);
  EXPECT_EQ(bucket("15"), 2);
  EXPECT_EQ(bucket("60"), 2);
  EXPECT_EQ(bucket("300"), 3);
  EXPECT_EQ(bucket("+Inf"), 3);
  EXPECT_EQ(e.Find("lakesync_run_duration_seconds_bucket", job).size(),
            std::size(kRunDurationBuckets) + 1);
}

TEST_F(MetricsTest, LastSuccessNeverMovesBackwardsAndIsAbsentUntilKnown) {
  m_.ConfigureJobs({{"orders", "incremental"}});
  EXPECT_TRUE(Parse(m_.Serialize()).Find("lakesync_last_success_timestamp_seconds").empty());
  m_.SetLastSuccess("orders", "incremental", 2000);
  m_.RunFinished("orders", "incremental", "succeeded", 1, 0, 0, 0, 0, 1500);
  EXPECT_EQ(
      Parse(m_.Serialize()).Value("lakesync_last_success_timestamp_seconds", {{"job", "orders"}}),
      2000);
  // The configured timestamp comes from the clock.
  EXPECT_EQ(
      Parse(m_.Serialize()).Value("lakesync_job_configured_timestamp_seconds", {{"job", "orders"}}),
      1'700'000'000.5);
}

// A reload that removes a job or a target: their series go and stay gone. Before, a removed
// job's run finishing afterwards re-created its series for good, and a removed target's lag and
// probe gauges stayed (frozen) until a restart, so an alert on them fired for ever.
TEST_F(MetricsTest, RemovedJobsAndTargetsStayGone) {
  m_.ConfigureJobsAndTargets(
      {{"orders", "incremental", {"/a", "/b"}}, {"old", "incremental", {"/o"}}});
  m_.SetLag("orders", "incremental", "/a", 5, 5, 0, 0, true);
  m_.SetLag("orders", "incremental", "/b", 5, 4, 1, 9, false);
  m_.RunStarted("old", "incremental");
  m_.ConfigureJobsAndTargets({{"orders", "incremental", {"/a"}}});
  m_.RunFinished("old", "incremental", "succeeded", 1, 0, 0, 0, 0, 1500);  // its last run ends
  m_.SetLag("old", "incremental", "/o", 1, 1, 0, 0, true);
  Exposition e = Parse(m_.Serialize());
  EXPECT_TRUE(e.Find("lakesync_runs_total", {{"job", "old"}}).empty());
  EXPECT_TRUE(e.Find("lakesync_lag_seconds", {{"job", "old"}}).empty());
  EXPECT_TRUE(e.Find("lakesync_lag_probe_ok", {{"target", "/b"}}).empty());
  EXPECT_EQ(e.Value("lakesync_lag_probe_ok", {{"job", "orders"}, {"target", "/a"}}), 1);
  // Brought back by a reload that lists it again, counters from 0.
  m_.ConfigureJobsAndTargets({{"orders", "incremental", {"/a"}}, {"old", "incremental", {}}});
  EXPECT_EQ(
      Parse(m_.Serialize()).Value("lakesync_runs_total", {{"job", "old"}, {"result", "succeeded"}}),
      0);
}

TEST_F(MetricsTest, UnknownResultIsCountedAsFailedSoTheLabelStaysBounded) {
  m_.RunFinished("orders", "incremental", "exploded: disk on fire", 1, 0, 0, 0, 0, std::nullopt);
  Exposition e = Parse(m_.Serialize());
  EXPECT_EQ(e.Value("lakesync_runs_total", {{"result", "failed"}}), 1);
  EXPECT_EQ(e.Find("lakesync_runs_total").size(), 5u);
}

TEST_F(MetricsTest, LagKeepsLastKnownValuesAndKeepsRisingWhenTheProbeFails) {
  const std::map<std::string, std::string> t = {
      {"job", "orders"}, {"kind", "incremental"}, {"target", "/data/replica"}};
  // Behind by 30 s at T: the target was current as of T - 30.
  m_.SetLag("orders", "incremental", "/data/replica", 10, 8, 2, 30, true);
  clock_.Advance(std::chrono::seconds(60));
  // The source is unreadable now: the caller knows nothing (versions unset, lag 0).
  m_.SetLag("orders", "incremental", "/data/replica", std::nullopt, std::nullopt, 0, 0, false);
  Exposition e = Parse(m_.Serialize());
  EXPECT_EQ(e.Value("lakesync_source_version", t), 10);
  EXPECT_EQ(e.Value("lakesync_replicated_version", t), 8);
  EXPECT_EQ(e.Value("lakesync_lag_versions", t), 2);
  EXPECT_EQ(e.Value("lakesync_lag_seconds", t), 90);
  EXPECT_EQ(e.Value("lakesync_lag_probe_ok", t), 0);
  clock_.Advance(std::chrono::seconds(15));
  m_.SetLag("orders", "incremental", "/data/replica", std::nullopt, std::nullopt, 0, 0, false);
  EXPECT_EQ(Parse(m_.Serialize()).Value("lakesync_lag_seconds", t), 105);
  // A caller estimate above the floor wins.
  m_.SetLag("orders", "incremental", "/data/replica", std::nullopt, std::nullopt, 3, 500, false);
  e = Parse(m_.Serialize());
  EXPECT_EQ(e.Value("lakesync_lag_seconds", t), 500);
  EXPECT_EQ(e.Value("lakesync_lag_versions", t), 3);
  // Readable again and caught up: back to 0.
  m_.SetLag("orders", "incremental", "/data/replica", 12, 12, 0, 0, true);
  e = Parse(m_.Serialize());
  EXPECT_EQ(e.Value("lakesync_lag_seconds", t), 0);
  EXPECT_EQ(e.Value("lakesync_lag_versions", t), 0);
  EXPECT_EQ(e.Value("lakesync_replicated_version", t), 12);
}

TEST_F(MetricsTest, AProbeThatNeverSucceededReportsWhatTheCallerSays) {
  m_.SetLag("orders", "incremental", "/r", std::nullopt, std::nullopt, 0, 7, false);
  Exposition e = Parse(m_.Serialize());
  EXPECT_EQ(e.Value("lakesync_lag_seconds", {{"target", "/r"}}), 7);
  EXPECT_TRUE(e.Find("lakesync_source_version").empty());
}

TEST_F(MetricsTest, AVersionNeverReadHasNoSeries) {
  m_.SetLag("orders", "incremental", "/data/replica", 4, std::nullopt, 5, 12, true);
  Exposition e = Parse(m_.Serialize());
  EXPECT_EQ(e.Value("lakesync_source_version", {{"target", "/data/replica"}}), 4);
  EXPECT_TRUE(e.Find("lakesync_replicated_version").empty());
}

TEST_F(MetricsTest, RegionsAreTargetsAndCredentialsNeverReachALabel) {
  m_.SetLag("merged", "consolidation", "eu", 3, 3, 0, 0, true);
  m_.SetLag("merged", "consolidation", "us", 5, 4, 1, 8, true);
  m_.SetLag("remote", "incremental", "s3://AKIAKEY:hunter2@bucket.example/t/x", 1, 1, 0, 0, true);
  std::string text = m_.Serialize();
  EXPECT_EQ(text.find("hunter2"), std::string::npos) << text;
  EXPECT_EQ(text.find("AKIAKEY"), std::string::npos) << text;
  Exposition e = Parse(text);
  EXPECT_EQ(e.Value("lakesync_lag_seconds", {{"job", "merged"}, {"target", "us"}}), 8);
  EXPECT_EQ(e.Value("lakesync_lag_seconds", {{"job", "merged"}, {"target", "eu"}}), 0);
  EXPECT_EQ(e.Value("lakesync_source_version", {{"target", "s3://bucket.example/t/x"}}), 1);
}

TEST_F(MetricsTest, SeriesCountDoesNotGrowWithVersionsOrRuns) {
  m_.ConfigureJobs({{"orders", "incremental"}});
  m_.SetLag("orders", "incremental", "/r", 1, 0, 1, 1, true);
  m_.RunFinished("orders", "incremental", "succeeded", 1, 1, 1, 1, 1, 1);
  size_t before = Parse(m_.Serialize()).samples.size();
  for (int v = 2; v < 200; ++v) {
    m_.SetLag("orders", "incremental", "/r", v, v - 1, 1, v, v % 2 == 0);
    m_.RunFinished("orders", "incremental", v % 3 ? "succeeded" : "timed_out", v, v, v, v, v, v);
  }
  Exposition e = Parse(m_.Serialize());
  EXPECT_EQ(e.samples.size(), before);
  EXPECT_EQ(e.Value("lakesync_source_version", {{"target", "/r"}}), 199);
}

TEST_F(MetricsTest, ConfigureJobsDropsRemovedJobsAndKindChanges) {
  m_.ConfigureJobs({{"a", "incremental"}, {"b", "incremental"}, {"c", "snapshot"}});
  m_.SetLag("a", "incremental", "/ra", 1, 1, 0, 0, true);
  m_.SetLag("b", "incremental", "/rb", 1, 1, 0, 0, true);
  m_.SetSnapshots("c", 3, 9);
  m_.SetJobConfig("b", "incremental", 60, 30);
  m_.ConfigureJobs({{"a", "incremental"}, {"b", "consolidation"}});
  Exposition e = Parse(m_.Serialize());
  std::set<std::string> jobs_seen;
  for (const Sample& s : e.samples) {
    if (s.labels.count("job")) jobs_seen.insert(s.labels.at("job") + "/" + s.labels.at("kind"));
  }
  EXPECT_EQ(jobs_seen, (std::set<std::string>{"a/incremental", "b/consolidation"}));
  EXPECT_EQ(e.Find("lakesync_lag_seconds").size(), 1u);
  EXPECT_TRUE(e.Find("lakesync_lag_alert_seconds").empty());
  EXPECT_TRUE(e.Find("lakesync_snapshots").empty());
  // A new job's counters exist at zero right away.
  EXPECT_EQ(e.Value("lakesync_runs_total", {{"job", "b"}, {"result", "succeeded"}}), 0);
  EXPECT_EQ(e.Value("lakesync_run_duration_seconds_count", {{"job", "b"}}), 0);
}

TEST_F(MetricsTest, JobConfigAndSnapshotsAppearAndDisappear) {
  m_.SetJobConfig("orders", "incremental", 300, 60);
  m_.SetSnapshots("daily", 4, 17);
  Exposition e = Parse(m_.Serialize());
  EXPECT_EQ(e.Value("lakesync_lag_alert_seconds", {{"job", "orders"}}), 300);
  EXPECT_EQ(e.Value("lakesync_schedule_interval_seconds", {{"job", "orders"}}), 60);
  EXPECT_EQ(e.Value("lakesync_snapshots", {{"job", "daily"}, {"kind", "snapshot"}}), 4);
  EXPECT_EQ(e.Value("lakesync_snapshot_newest_version", {{"job", "daily"}}), 17);
  m_.SetJobConfig("orders", "incremental", std::nullopt, 60);
  m_.SetSnapshots("daily", 0, std::nullopt);
  e = Parse(m_.Serialize());
  EXPECT_TRUE(e.Find("lakesync_lag_alert_seconds").empty());
  EXPECT_EQ(e.Value("lakesync_schedule_interval_seconds", {{"job", "orders"}}), 60);
  EXPECT_EQ(e.Value("lakesync_snapshots", {{"job", "daily"}}), 0);
  EXPECT_TRUE(e.Find("lakesync_snapshot_newest_version").empty());
}

TEST_F(MetricsTest, LabelValuesAreEscaped) {
  m_.SetLag("j", "incremental", "/data/we\"ird\\name", 1, 1, 0, 0, true);
  Exposition e = Parse(m_.Serialize());
  EXPECT_EQ(e.Find("lakesync_lag_seconds", {{"target", "/data/we\"ird\\name"}}).size(), 1u);
}

TEST_F(MetricsTest, ConcurrentUpdatesAndScrapes) {
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([this, t] {
      for (int i = 0; i < 500; ++i) {
        std::string job = "job" + std::to_string(i % 7);
        m_.RunStarted(job, "incremental");
        m_.SetLag(job, "incremental", "/r" + std::to_string(t), i, i, 0, 0, true);
        m_.RunFinished(job, "incremental", "succeeded", 0.1, 1, 1, 1, 1, i);
        if (i % 100 == 0) m_.ConfigureJobs({{"job1", "incremental"}, {"job2", "incremental"}});
      }
    });
  }
  for (int i = 0; i < 50; ++i) Parse(m_.Serialize());
  for (auto& th : threads) th.join();
  Exposition e = Parse(m_.Serialize());
  EXPECT_FALSE(e.Find("lakesync_runs_total").empty());
}

// The exposition is written by hand for speed; prometheus-cpp's own TextSerializer, fed the same
// values through a Registry built here, must produce exactly the same samples.
TEST_F(MetricsTest, SamplesEqualThoseOfPrometheusCppTextSerializer) {
  m_.ConfigureJobs({{"orders", "incremental"}});
  m_.RunStarted("orders", "incremental");
  m_.RunFinished("orders", "incremental", "succeeded", 0.3, 2, 4, 1234, 10, 1.7e9);
  m_.RunFinished("orders", "incremental", "timed_out", 4000, 0, 1, 5, 0, std::nullopt);
  m_.SetLag("orders", "incremental", "/t", 5, 3, 2, 10.25, true);
  m_.SetJobConfig("orders", "incremental", 120, std::nullopt);

  auto registry = std::make_shared<prometheus::Registry>();
  const prometheus::Labels runner = {{"runner", "runner-a"}};
  const prometheus::Labels job = {{"job", "orders"}, {"kind", "incremental"}};
  auto gauge = [&](const char* name, const prometheus::Labels& labels, double v) {
    prometheus::BuildGauge()
        .Name(name)
        .Help("h")
        .Labels(runner)
        .Register(*registry)
        .Add(labels)
        .Set(v);
  };
  auto counter = [&](const char* name, double v) {
    prometheus::BuildCounter()
        .Name(name)
        .Help("h")
        .Labels(runner)
        .Register(*registry)
        .Add(job)
        .Increment(v);
  };
  gauge("lakesync_build_info", {{"version", "1.2.3"}}, 1);
  gauge("lakesync_job_running", job, 0);
  auto& runs = prometheus::BuildCounter()
                   .Name("lakesync_runs_total")
                   .Help("h")
                   .Labels(runner)
                   .Register(*registry);
  for (std::string_view result : kRunResults) {
    auto labels = job;
    labels["result"] = std::string(result);
    runs.Add(labels).Increment(result == "succeeded" || result == "timed_out" ? 1 : 0);
  }
  auto& duration =
      prometheus::BuildHistogram()
          .Name("lakesync_run_duration_seconds")
          .Help("h")
          .Labels(runner)
          .Register(*registry)
          .Add(job, prometheus::Histogram::BucketBoundaries(std::begin(kRunDurationBuckets),
                                                            std::end(kRunDurationBuckets)));
  duration.Observe(0.3);
  duration.Observe(4000);
  counter("lakesync_replicated_commits_total", 2);
  counter("lakesync_copied_files_total", 5);
  counter("lakesync_copied_bytes_total", 1239);
  counter("lakesync_copied_rows_total", 10);
  gauge("lakesync_last_success_timestamp_seconds", job, 1.7e9);
  gauge("lakesync_job_configured_timestamp_seconds", job, 1'700'000'000.5);
  gauge("lakesync_lag_alert_seconds", job, 120);
  auto target = job;
  target["target"] = "/t";
  gauge("lakesync_source_version", target, 5);
  gauge("lakesync_replicated_version", target, 3);
  gauge("lakesync_lag_versions", target, 2);
  gauge("lakesync_lag_seconds", target, 10.25);
  gauge("lakesync_lag_probe_ok", target, 1);
  std::ostringstream reference;
  prometheus::TextSerializer().Serialize(reference, registry->Collect());

  auto as_set = [](const Exposition& e) {
    std::set<std::string> out;
    for (const Sample& s : e.samples) {
      std::string key = s.name;
      for (const auto& [k, v] : s.labels) key += "," + k + "=" + v;
      char value[64];
      std::snprintf(value, sizeof value, " %.17g", s.value);
      out.insert(key + value);
    }
    return out;
  };
  Exposition ours = Parse(m_.Serialize());
  Exposition theirs = Parse(reference.str());
  EXPECT_EQ(as_set(ours), as_set(theirs)) << m_.Serialize() << "\n----\n" << reference.str();
  for (const auto& [name, type] : theirs.type) EXPECT_EQ(ours.type[name], type) << name;
}

// Prometheus' own linter accepts the exposition (names, suffixes, HELP, duplicate series).
TEST_F(MetricsTest, PromtoolCheckMetricsAcceptsTheExposition) {
  const char* promtool = "/usr/bin/promtool";
  if (!std::filesystem::exists(promtool)) {
    GTEST_SKIP() << "SKIPPED: " << promtool
                 << " is not installed (scripts/install-deps.sh installs the prometheus package)";
  }
  m_.ConfigureJobs({{"orders", "incremental"}, {"daily", "snapshot"}, {"merged", "consolidation"}});
  m_.RunFinished("orders", "incremental", "succeeded", 0.3, 2, 4, 1234, 10, 1.7e9);
  m_.SetLag("orders", "incremental", "/t", 5, 3, 2, 10.25, true);
  m_.SetLag("merged", "consolidation", "eu", 5, 3, 2, 10.25, false);
  m_.SetSnapshots("daily", 3, 42);
  m_.SetJobConfig("orders", "incremental", 120, 60);
  std::string path = ::testing::TempDir() + "/lakesync_metrics.txt";
  std::ofstream(path) << m_.Serialize();
  std::string out_path = path + ".out";
  int rc = std::system(
      (std::string(promtool) + " check metrics < " + path + " > " + out_path + " 2>&1").c_str());
  std::ifstream in(out_path);
  std::string output((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(rc, 0) << output;
  EXPECT_EQ(output, "") << output;
  std::filesystem::remove(path);
  std::filesystem::remove(out_path);
}

}  // namespace
}  // namespace lakesync::metrics
