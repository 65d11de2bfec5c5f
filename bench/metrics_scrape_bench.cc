// metrics_scrape_bench: the cost of one `/metrics` scrape (Metrics::Serialize) of a runner with
// many configured jobs, every series populated.
//
// Configures N jobs (default 1,000): a third each incremental (2 targets), consolidation (3
// regions) and snapshot (1 target plus snapshot gauges); every job has finished runs of every
// result (so every histogram bucket and counter carries a value), a lag_alert and an interval.
// Then times R scrapes (default 50) and prints the median, p90 and max, the exposition size and
// the series count. Goal: ≤ 20 ms per scrape with 1,000 jobs on a 2-core machine.
//
// Usage: metrics_scrape_bench [num_jobs] [scrapes]
// Output (one line, parsed by bench/run.sh):
//   jobs=1000 series=NNNN bytes=NNNN median_ms=X p90_ms=X max_ms=X

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "bench/bench_args.h"
#include "metrics/metrics.h"

using lakesync::bench::ParseInt;
using lakesync::metrics::kRunResults;
using lakesync::metrics::Metrics;

int main(int argc, char** argv) {
  auto jobs = argc > 1 ? ParseInt(argv[1]) : std::optional<int64_t>(1000);
  auto scrapes = argc > 2 ? ParseInt(argv[2]) : std::optional<int64_t>(50);
  if (!jobs || !scrapes || *jobs < 1 || *scrapes < 1 || argc > 3) {
    std::fprintf(stderr, "usage: metrics_scrape_bench [num_jobs >= 1] [scrapes >= 1]\n");
    return 2;
  }
  Metrics m("runner-bench-0", "0.1.0");
  std::vector<std::pair<std::string, std::string>> configured;
  const char* kinds[] = {"incremental", "consolidation", "snapshot"};
  for (int64_t j = 0; j < *jobs; ++j) {
    configured.emplace_back(fmt::format("job_{:05d}", j), kinds[j % 3]);
  }
  m.ConfigureJobs(configured);
  for (int64_t j = 0; j < *jobs; ++j) {
    const auto& [job, kind] = configured[j];
    m.SetJobConfig(job, kind, 600.0, 60.0);
    m.SetLastSuccess(job, kind, 1.7e9 + static_cast<double>(j));
    int r = 0;
    for (std::string_view result : kRunResults) {
      // Durations spread over the buckets.
      m.RunStarted(job, kind);
      m.RunFinished(job, kind, result, 0.003 * static_cast<double>((j + 1) * (++r) * 97 % 5000), 3,
                    30, 30 << 20, 30000, std::nullopt);
    }
    if (kind == "incremental") {
      for (int t = 0; t < 2; ++t) {
        m.SetLag(job, kind, fmt::format("/data/replica-{}/{}", t, job), 1000 + j, 990 + j, 10, 12.5,
                 true);
      }
    } else if (kind == "consolidation") {
      for (const char* region : {"eu", "us", "ap"}) {
        m.SetLag(job, kind, region, 500 + j, 500 + j, 0, 0, true);
      }
    } else {
      m.SetLag(job, kind, fmt::format("/snapshots/{}", job), 77, 70, 7, 3600, true);
      m.SetSnapshots(job, 14, 70);
    }
  }

  std::vector<double> ms;
  size_t bytes = 0;
  size_t series = 0;
  for (int64_t i = 0; i < *scrapes; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    std::string text = m.Serialize();
    auto t1 = std::chrono::steady_clock::now();
    ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    bytes = text.size();
    // Every line but the HELP and TYPE comments is one series.
    series = static_cast<size_t>(std::count(text.begin(), text.end(), '\n') -
                                 std::count(text.begin(), text.end(), '#'));
  }
  std::sort(ms.begin(), ms.end());
  auto at = [&](double q) {
    return ms[std::min(ms.size() - 1, static_cast<size_t>(q * static_cast<double>(ms.size())))];
  };
  std::printf("jobs=%lld series=%zu bytes=%zu median_ms=%.2f p90_ms=%.2f max_ms=%.2f\n",
              static_cast<long long>(*jobs), series, bytes, at(0.5), at(0.9), ms.back());
  return 0;
}
