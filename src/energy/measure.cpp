#include "energy/measure.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <mutex>
#include <thread>

#include "core/error.h"
#include "core/log.h"

namespace axnn::energy {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Energy from a device that only reports power: a thread samples it and integrates with the
// trapezoid rule; a read adds the time since the last sample at the last power.
class PowerIntegrator {
 public:
  PowerIntegrator(EnergyProbe& probe, double watts, double period)
      : probe_(probe), period_(period), last_watts_(watts), last_time_(Clock::now()) {
    thread_ = std::jthread([this](std::stop_token stop) { loop(stop); });
  }

  double joules() {
    std::lock_guard lock(mutex_);
    return joules_ + last_watts_ * seconds_since(last_time_);
  }

 private:
  void loop(const std::stop_token& stop) {
    while (!stop.stop_requested()) {
      std::this_thread::sleep_for(std::chrono::duration<double>(period_));
      std::optional<double> watts;
      try {
        watts = probe_.power_watts();
      } catch (const std::exception&) {
        // This thread must not throw: a failed reading counts as the last one.
      }
      std::lock_guard lock(mutex_);
      const Clock::time_point now = Clock::now();
      const double dt = std::chrono::duration<double>(now - last_time_).count();
      const double w = watts.value_or(last_watts_);
      joules_ += 0.5 * (last_watts_ + w) * dt;
      last_watts_ = w;
      last_time_ = now;
    }
  }

  EnergyProbe& probe_;
  double period_;
  std::mutex mutex_;
  double joules_ = 0;
  double last_watts_;
  Clock::time_point last_time_;
  std::jthread thread_;  // last: stopped and joined before the members it uses go away
};

}  // namespace

void check_measure_options(const MeasureOptions& options) {
  AXNN_CHECK(options.min_window_seconds > 0 && options.min_window_seconds <= 3600,
             "--min-window: expected seconds in (0, 3600], got {}", options.min_window_seconds);
  AXNN_CHECK(options.repeats >= 1 && options.repeats <= 1000,
             "--repeats: expected 1 to 1000, got {}", options.repeats);
  AXNN_CHECK(options.warmup_seconds >= 0 && options.warmup_seconds <= 3600,
             "--warmup: expected seconds in [0, 3600], got {}", options.warmup_seconds);
  AXNN_CHECK(options.sample_period_seconds > 0 && options.sample_period_seconds <= 1,
             "power sample period: expected seconds in (0, 1], got {}",
             options.sample_period_seconds);
}

Spread spread_of(std::vector<double> values) {
  AXNN_CHECK(!values.empty(), "spread of no values");
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  const double median = n % 2 == 1 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
  return {median, values.front(), values.back()};
}

std::string_view energy_source_name(EnergySource source) {
  switch (source) {
    case EnergySource::kCounter:
      return "counter";
    case EnergySource::kSampledPower:
      return "sampled power";
    case EnergySource::kNone:
      return "none";
  }
  return "none";
}

Measurement measure(const std::function<void()>& run, const std::function<void()>& sync,
                    double flops, EnergyProbe& probe, const MeasureOptions& options) {
  check_measure_options(options);
  Measurement result;
  std::optional<PowerIntegrator> integrator;
  std::function<double()> read_energy;
  if (!probe.available()) {
    result.energy_note = "not available: " + probe.unavailable_reason();
  } else if (probe.has_energy_counter()) {
    result.energy_source = EnergySource::kCounter;
    result.energy_note = fmt::format("{} energy counter", probe.name());
    read_energy = [&probe] { return probe.energy_joules(); };
  } else if (const std::optional<double> watts = probe.power_watts()) {
    result.energy_source = EnergySource::kSampledPower;
    result.energy_note = fmt::format(
        "{} has no energy counter: power sampled every {:g} ms and "
        "integrated",
        probe.name(), options.sample_period_seconds * 1e3);
    integrator.emplace(probe, *watts, options.sample_period_seconds);
    read_energy = [&integrator] { return integrator->joules(); };
  } else {
    result.energy_note =
        fmt::format("not available: {} reports neither an energy counter nor power", probe.name());
  }

  const auto timed = [&](int64_t n) {
    sync();
    const Clock::time_point start = Clock::now();
    for (int64_t i = 0; i < n; ++i) run();
    sync();
    return seconds_since(start);
  };
  // Warm-up doubles as calibration: double the batch until it lasts a tenth of a window.
  const double window = options.min_window_seconds;
  constexpr int64_t kMaxIterations = int64_t{1} << 40;
  int64_t n = 1;
  double spent = 0, seconds = 0;
  for (;;) {
    seconds = timed(n);
    spent += seconds;
    const bool long_enough = seconds >= 0.1 * window || n >= kMaxIterations;
    if (long_enough && spent >= options.warmup_seconds) break;
    if (!long_enough) n *= 2;
  }
  const auto enough_for_window = [&](int64_t count, double took) {
    const double per_iteration = std::max(took / static_cast<double>(count), 1e-12);
    return std::clamp(static_cast<int64_t>(std::ceil(1.05 * window / per_iteration)), int64_t{1},
                      kMaxIterations);
  };
  n = enough_for_window(n, seconds);

  constexpr int kMaxRetries = 5;  // a window cut short by a clock change is measured again
  for (int repeat = 0, retries = 0; repeat < options.repeats;) {
    sync();
    const double before = read_energy ? read_energy() : 0.0;
    const Clock::time_point start = Clock::now();
    for (int64_t i = 0; i < n; ++i) run();
    sync();
    const double took = seconds_since(start);
    const double after = read_energy ? read_energy() : 0.0;
    if (took < window && retries < kMaxRetries && n < kMaxIterations) {
      log().debug("window of {} iterations lasted {:.3f} s < {} s: longer", n, took, window);
      n = std::max(n + 1, enough_for_window(n, took));
      ++retries;
      continue;
    }
    Window w{n, took, std::nullopt};
    if (read_energy) w.joules = after - before;
    result.windows.push_back(w);
    ++repeat;
  }

  std::vector<double> time_ms, gflops, energy_mj, edp, watts;
  for (const Window& w : result.windows) {
    const double iterations = static_cast<double>(w.iterations);
    time_ms.push_back(w.seconds * 1e3 / iterations);
    gflops.push_back(flops * iterations / w.seconds * 1e-9);
    if (!w.joules) continue;
    energy_mj.push_back(*w.joules * 1e3 / iterations);
    edp.push_back(energy_mj.back() * time_ms.back());
    watts.push_back(*w.joules / w.seconds);
  }
  result.time_ms = spread_of(time_ms);
  result.gflops = spread_of(gflops);
  if (!energy_mj.empty()) {
    result.energy_mj = spread_of(energy_mj);
    result.edp = spread_of(edp);
    result.power_watts = spread_of(watts);
  }
  return result;
}

}  // namespace axnn::energy
