// The timing harness shared by the benchmark drivers and kernel autotuning: warm up, then repeat a
// callable until both a minimum count and a minimum total time are reached (or a maximum count),
// and keep every sample.
#pragma once

#include <chrono>
#include <cstdint>
#include <vector>

namespace axnn::bench {

// Seconds on a monotonic clock (steady_clock), for differences only.
inline double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

struct TimingOptions {
  int warmup_runs = 1;       // untimed runs first: page faults, caches, lazy library init
  int min_runs = 5;          // at least this many timed runs
  int max_runs = 1000;       // and at most this many, so tiny problems stop
  double min_seconds = 0.2;  // timed runs continue until their sum reaches this (or max_runs)
};

struct Timing {
  std::vector<double> samples;  // seconds per run, in run order
  double min = 0;
  double median = 0;  // mean of the two middle samples for an even count
};

// Statistics of a list of samples; throws axnn::Error if it is empty.
Timing summarize(std::vector<double> samples);

// Checks the options (positive counts, min_runs <= max_runs); throws axnn::Error naming the field.
void check_timing_options(const TimingOptions& options);

template <typename Fn>
Timing measure(Fn&& fn, const TimingOptions& options = {}) {
  check_timing_options(options);
  for (int i = 0; i < options.warmup_runs; ++i) fn();
  std::vector<double> samples;
  double total = 0;
  while (static_cast<int>(samples.size()) < options.max_runs &&
         (static_cast<int>(samples.size()) < options.min_runs || total < options.min_seconds)) {
    const double start = now_seconds();
    fn();
    const double elapsed = now_seconds() - start;
    samples.push_back(elapsed);
    total += elapsed;
  }
  return summarize(std::move(samples));
}

}  // namespace axnn::bench
