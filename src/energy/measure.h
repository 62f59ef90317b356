// The measurement method. Warm up; choose an iteration count so that one reading window lasts at
// least min_window_seconds (energy counters update every few tens of milliseconds, so short
// windows are mostly quantization); then `repeats` windows, each reading the energy before and
// after. Per iteration: energy (mJ), time (ms), EDP = energy x time (ms*mJ). Reported: the median
// over the windows with the minimum and maximum as the spread (with a handful of repeats an
// interquartile range says nothing more).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "energy/probe.h"

namespace axnn::energy {

struct MeasureOptions {
  double min_window_seconds = 2.0;
  int repeats = 3;
  double warmup_seconds = 1.0;
  // Power sampling period when the device has no energy counter.
  double sample_period_seconds = 0.005;
};

// Throws axnn::Error naming the option at fault.
void check_measure_options(const MeasureOptions& options);

struct Spread {
  double median = 0, min = 0, max = 0;
};
Spread spread_of(std::vector<double> values);  // throws on an empty list

// How the energy was obtained.
enum class EnergySource { kCounter, kSampledPower, kNone };
std::string_view energy_source_name(EnergySource source);  // "counter", "sampled power", "none"

struct Window {
  int64_t iterations = 0;
  double seconds = 0;
  std::optional<double> joules;
};

struct Measurement {
  std::vector<Window> windows;  // one per repeat
  Spread time_ms;               // per iteration
  Spread gflops;
  EnergySource energy_source = EnergySource::kNone;
  // Empty when energy_source is kNone; then energy_note says why.
  std::optional<Spread> energy_mj, edp, power_watts;
  std::string energy_note;  // "not available: <reason>", or how energy was obtained
};

// `run` launches one iteration (asynchronously on a GPU); `sync` waits for those in flight.
// `flops` per iteration gives GFLOP/s. With an unavailable probe time and GFLOP/s are still
// measured.
Measurement measure(const std::function<void()>& run, const std::function<void()>& sync,
                    double flops, EnergyProbe& probe, const MeasureOptions& options);

}  // namespace axnn::energy
