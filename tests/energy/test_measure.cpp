// The measurement method against the fake NVML: each "kernel" run adds a known energy to the
// counter, so energy per iteration and EDP are known exactly whatever the timing.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <string>
#include <thread>

#include "core/error.h"
#include "energy/fake_nvml.h"
#include "energy/measure.h"

namespace axnn::energy {
namespace {

using testing::FakeNvml;
using ::testing::HasSubstr;

void spin_for(std::chrono::microseconds duration) {
  const auto end = std::chrono::steady_clock::now() + duration;
  while (std::chrono::steady_clock::now() < end) {
  }
}

MeasureOptions quick() {
  MeasureOptions o;
  o.min_window_seconds = 0.05;
  o.repeats = 3;
  o.warmup_seconds = 0.01;
  return o;
}

TEST(Measure, EnergyPerIterationAndEdpFromTheCounter) {
  FakeNvml& fake = FakeNvml::get();
  auto probe = make_nvml_probe(fake.path());
  int64_t runs = 0, syncs = 0;
  const auto run = [&] {
    ++runs;
    fake.add_energy_mj(5);
    spin_for(std::chrono::microseconds(200));
  };
  const double flops = 2e6;
  const Measurement m = measure(
      run, [&] { ++syncs; }, flops, *probe, quick());

  ASSERT_EQ(m.windows.size(), 3u);
  EXPECT_EQ(m.energy_source, EnergySource::kCounter);
  EXPECT_EQ(m.energy_note, "nvml energy counter");
  int64_t measured = 0;
  for (const Window& w : m.windows) {
    EXPECT_GE(w.seconds, 0.05) << "a window shorter than the minimum";
    EXPECT_GT(w.iterations, 1);
    ASSERT_TRUE(w.joules.has_value());
    EXPECT_NEAR(*w.joules, 0.005 * static_cast<double>(w.iterations), 1e-9);
    measured += w.iterations;
  }
  EXPECT_GT(runs, measured) << "warm-up runs come first";
  EXPECT_GT(syncs, 6) << "every window syncs before and after";
  ASSERT_TRUE(m.energy_mj && m.edp && m.power_watts);
  EXPECT_NEAR(m.energy_mj->median, 5.0, 1e-9);
  EXPECT_NEAR(m.energy_mj->min, 5.0, 1e-9);
  EXPECT_NEAR(m.energy_mj->max, 5.0, 1e-9);
  // At a constant energy, EDP's median is the median time's EDP.
  EXPECT_NEAR(m.edp->median, 5.0 * m.time_ms.median, 1e-9);
  EXPECT_NEAR(m.edp->min, 5.0 * m.time_ms.min, 1e-9);
  EXPECT_GE(m.time_ms.median, 0.2);
  EXPECT_LE(m.time_ms.min, m.time_ms.median);
  EXPECT_LE(m.time_ms.median, m.time_ms.max);
  EXPECT_NEAR(m.gflops.median, flops / (m.time_ms.median * 1e-3) * 1e-9, 1e-9 * m.gflops.median);
  EXPECT_NEAR(m.power_watts->median, 5.0 / m.time_ms.median, 0.05 * m.power_watts->median);
  EXPECT_EQ(fake.set_calls(), 0) << "measuring never changes the power limit";
}

TEST(Measure, IntegratesSampledPowerWithoutACounter) {
  FakeNvml& fake = FakeNvml::get();
  fake.configure("energy_supported", 0);
  fake.configure("power_mw", 120000);
  auto probe = make_nvml_probe(fake.path());
  ASSERT_FALSE(probe->has_energy_counter());
  MeasureOptions o = quick();
  o.min_window_seconds = 0.1;
  o.sample_period_seconds = 0.002;
  const Measurement m = measure([] { std::this_thread::sleep_for(std::chrono::microseconds(500)); },
                                [] {}, 1e6, *probe, o);
  EXPECT_EQ(m.energy_source, EnergySource::kSampledPower);
  EXPECT_THAT(m.energy_note, HasSubstr("no energy counter: power sampled every 2 ms"));
  ASSERT_TRUE(m.energy_mj && m.power_watts);
  // 120 W for t ms is 120 t mJ.
  EXPECT_NEAR(m.power_watts->median, 120.0, 1.0);
  EXPECT_NEAR(m.energy_mj->median, 120.0 * m.time_ms.median, 0.01 * m.energy_mj->median);
  EXPECT_EQ(fake.set_calls(), 0);
}

TEST(Measure, NullProbeStillTimes) {
  auto probe = make_null_probe("rapl: /sys/class/powercap does not exist");
  const Measurement m =
      measure([] { spin_for(std::chrono::microseconds(100)); }, [] {}, 1e6, *probe, quick());
  EXPECT_EQ(m.energy_source, EnergySource::kNone);
  EXPECT_EQ(m.energy_note, "not available: rapl: /sys/class/powercap does not exist");
  EXPECT_FALSE(m.energy_mj.has_value());
  EXPECT_FALSE(m.edp.has_value());
  ASSERT_EQ(m.windows.size(), 3u);
  EXPECT_FALSE(m.windows[0].joules.has_value());
  EXPECT_GE(m.time_ms.median, 0.1);
  EXPECT_GT(m.gflops.median, 0);
}

TEST(Measure, SlowKernelsGetOneIterationPerWindow) {
  auto probe = make_null_probe("none");
  MeasureOptions o = quick();
  o.min_window_seconds = 0.01;
  o.repeats = 2;
  const Measurement m =
      measure([] { spin_for(std::chrono::milliseconds(15)); }, [] {}, 1e6, *probe, o);
  ASSERT_EQ(m.windows.size(), 2u);
  EXPECT_EQ(m.windows[0].iterations, 1);
  EXPECT_GE(m.time_ms.min, 15.0);
}

TEST(Spread, MedianMinMax) {
  const Spread odd = spread_of({3, 1, 2});
  EXPECT_EQ(odd.median, 2);
  EXPECT_EQ(odd.min, 1);
  EXPECT_EQ(odd.max, 3);
  const Spread even = spread_of({4, 1, 3, 10});
  EXPECT_EQ(even.median, 3.5);
  EXPECT_EQ(even.max, 10);
  EXPECT_THROW(spread_of({}), Error);
}

TEST(MeasureOptions, RejectsNonsense) {
  MeasureOptions o;
  o.min_window_seconds = 0;
  EXPECT_THROW(check_measure_options(o), Error);
  o = MeasureOptions();
  o.repeats = 0;
  try {
    check_measure_options(o);
    FAIL() << "repeats 0 accepted";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "--repeats: expected 1 to 1000, got 0");
  }
  o = MeasureOptions();
  o.warmup_seconds = -1;
  EXPECT_THROW(check_measure_options(o), Error);
  EXPECT_NO_THROW(check_measure_options(MeasureOptions()));
}

}  // namespace
}  // namespace axnn::energy
