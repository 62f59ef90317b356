#include <gtest/gtest.h>

#include "bench/timing.h"
#include "core/error.h"

namespace axnn::bench {
namespace {

TEST(Timing, MinAndMedianOfOddCount) {
  const Timing t = summarize({5.0, 1.0, 4.0, 2.0, 3.0});
  EXPECT_EQ(t.min, 1.0);
  EXPECT_EQ(t.median, 3.0);
  EXPECT_EQ(t.samples, (std::vector<double>{5.0, 1.0, 4.0, 2.0, 3.0}));  // run order kept
}

TEST(Timing, MedianOfEvenCountIsMeanOfMiddlePair) {
  const Timing t = summarize({4.0, 1.0, 3.0, 2.0});
  EXPECT_EQ(t.min, 1.0);
  EXPECT_EQ(t.median, 2.5);
}

TEST(Timing, SingleSample) {
  const Timing t = summarize({0.25});
  EXPECT_EQ(t.min, 0.25);
  EXPECT_EQ(t.median, 0.25);
}

TEST(Timing, EmptyIsAnError) { EXPECT_THROW(summarize({}), Error); }

TEST(Timing, MeasureHonoursWarmupAndMinRuns) {
  int calls = 0;
  TimingOptions options;
  options.warmup_runs = 2;
  options.min_runs = 7;
  options.min_seconds = 0;
  const Timing t = measure([&] { ++calls; }, options);
  EXPECT_EQ(t.samples.size(), 7u);
  EXPECT_EQ(calls, 9);
  EXPECT_LE(t.min, t.median);
}

TEST(Timing, MeasureStopsAtMaxRuns) {
  TimingOptions options;
  options.min_runs = 1;
  options.max_runs = 3;
  options.min_seconds = 1e9;  // never reached: max_runs must end the loop
  EXPECT_EQ(measure([] {}, options).samples.size(), 3u);
}

TEST(Timing, BadOptionsAreErrors) {
  TimingOptions options;
  options.min_runs = 0;
  EXPECT_THROW(measure([] {}, options), Error);
  options.min_runs = 10;
  options.max_runs = 5;
  EXPECT_THROW(measure([] {}, options), Error);
}

}  // namespace
}  // namespace axnn::bench
