#include "bench/timing.h"

#include <algorithm>

#include "core/error.h"

namespace axnn::bench {

Timing summarize(std::vector<double> samples) {
  AXNN_CHECK(!samples.empty(), "cannot summarize an empty list of timing samples");
  std::vector<double> sorted = samples;
  std::sort(sorted.begin(), sorted.end());
  const size_t count = sorted.size();
  Timing timing;
  timing.min = sorted.front();
  timing.median =
      count % 2 == 1 ? sorted[count / 2] : 0.5 * (sorted[count / 2 - 1] + sorted[count / 2]);
  timing.samples = std::move(samples);
  return timing;
}

void check_timing_options(const TimingOptions& options) {
  AXNN_CHECK(options.warmup_runs >= 0, "timing: warmup_runs must be >= 0, got {}",
             options.warmup_runs);
  AXNN_CHECK(options.min_runs >= 1, "timing: min_runs must be >= 1, got {}", options.min_runs);
  AXNN_CHECK(options.max_runs >= options.min_runs, "timing: max_runs ({}) must be >= min_runs ({})",
             options.max_runs, options.min_runs);
  AXNN_CHECK(options.min_seconds >= 0, "timing: min_seconds must be >= 0, got {}",
             options.min_seconds);
}

}  // namespace axnn::bench
