#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "bench/lut_gemm_bench.h"
#include "core/error.h"
#include "kernels/lut_gemm.h"

namespace axnn::bench {
namespace {

LutGemmBenchOptions quick_options() {
  LutGemmBenchOptions options;
  options.timing.min_runs = 2;
  options.timing.min_seconds = 0;
  return options;
}

// Min and median of `samples`, computed here independently of summarize().
double min_of(const std::vector<double>& samples) {
  return *std::min_element(samples.begin(), samples.end());
}
double median_of(std::vector<double> samples) {
  std::sort(samples.begin(), samples.end());
  const size_t h = samples.size() / 2;
  return samples.size() % 2 == 1 ? samples[h] : 0.5 * (samples[h - 1] + samples[h]);
}

TEST(LutGemmBench, SmallShapeIsExactWithPositiveRates) {
  const LutGemmBenchResult r = run_lut_gemm_bench({37, 29, 53, "odd"}, quick_options());
  EXPECT_FALSE(r.check_sampled);
  EXPECT_EQ(r.checked_outputs, 37 * 53);
  EXPECT_FALSE(r.impl_name.empty());
  EXPECT_FALSE(r.onednn_impl.empty());

  // Every rate is lookups over a time taken from that kernel's own samples, and every ratio is the
  // baseline's time over LUT-GEMM's (LUT-GEMM's rate over the baseline's).
  const double lookups = 37.0 * 29 * 53;
  EXPECT_DOUBLE_EQ(r.lookups(), lookups);
  ASSERT_GE(r.lut_gemm.samples.size(), 2u);
  ASSERT_GE(r.onednn.samples.size(), 2u);
  ASSERT_GE(r.torch.samples.size(), 2u);
  EXPECT_DOUBLE_EQ(r.glookups_min(), lookups / min_of(r.lut_gemm.samples) * 1e-9);
  EXPECT_DOUBLE_EQ(r.glookups_median(), lookups / median_of(r.lut_gemm.samples) * 1e-9);
  EXPECT_DOUBLE_EQ(r.onednn_gmacs(), lookups / min_of(r.onednn.samples) * 1e-9);
  EXPECT_DOUBLE_EQ(r.onednn_gmacs_median(), lookups / median_of(r.onednn.samples) * 1e-9);
  EXPECT_DOUBLE_EQ(r.torch_gmacs(), lookups / min_of(r.torch.samples) * 1e-9);
  EXPECT_DOUBLE_EQ(r.torch_gmacs_median(), lookups / median_of(r.torch.samples) * 1e-9);
  EXPECT_DOUBLE_EQ(r.ratio_onednn(), min_of(r.onednn.samples) / min_of(r.lut_gemm.samples));
  EXPECT_DOUBLE_EQ(r.ratio_onednn_median(),
                   median_of(r.onednn.samples) / median_of(r.lut_gemm.samples));
  EXPECT_DOUBLE_EQ(r.ratio_torch(), min_of(r.torch.samples) / min_of(r.lut_gemm.samples));
  EXPECT_DOUBLE_EQ(r.ratio_torch_median(),
                   median_of(r.torch.samples) / median_of(r.lut_gemm.samples));

  const nlohmann::ordered_json j = to_json(r);
  EXPECT_EQ(j.at("name"), "odd");
  EXPECT_EQ(j.at("m"), 37);
  EXPECT_FALSE(j.contains("check"));
  EXPECT_EQ(j.at("checked_outputs"), 37 * 53);
  EXPECT_EQ(j.at("ratio_onednn").get<double>(), r.ratio_onednn());
  EXPECT_EQ(j.at("ratio_torch_median").get<double>(), r.ratio_torch_median());
  EXPECT_TRUE(j.at("machine").contains("cpu_model"));
  EXPECT_NE(format_table_row(r).find(" exact "), std::string::npos);
}

TEST(LutGemmBench, EveryIsaTheCpuHasAndNarrowCodes) {
  for (Isa isa : {Isa::kRef, Isa::kAvx2, Isa::kAvx512}) {
    if (isa > detected_isa()) continue;
    LutGemmBenchOptions options = quick_options();
    options.isa = isa;
    options.bits = 4;
    const LutGemmBenchResult r = run_lut_gemm_bench({17, 40, 33, ""}, options);
    EXPECT_EQ(r.checked_outputs, 17 * 33) << isa_name(isa);
    EXPECT_EQ(r.isa, isa_name(isa));
    // The bench's table spans 2^(2 bits - 1), which no impl declines: the ceiling's own impl runs.
    EXPECT_EQ(r.impl_name, isa_name(isa));
    EXPECT_FALSE(r.schedule.empty()) << isa_name(isa);
  }
}

// Forcing the schedule an impl picks by itself reports that schedule (names come from the run, so
// the test does not pin the kernels' schedule names); an unknown name is an error naming the flag.
TEST(LutGemmBench, ForcedScheduleIsUsedAndABadOneNamesTheFlag) {
  LutGemmBenchOptions options = quick_options();
  for (Isa isa : {Isa::kRef, Isa::kAvx2, Isa::kAvx512}) {
    if (isa > detected_isa()) continue;
    options.isa = isa;
    options.schedule.clear();
    const std::string chosen = run_lut_gemm_bench({5, 6, 7, ""}, options).schedule;
    ASSERT_FALSE(chosen.empty()) << isa_name(isa);
    options.schedule = chosen;
    EXPECT_EQ(run_lut_gemm_bench({5, 6, 7, ""}, options).schedule, chosen) << isa_name(isa);
  }
  options.schedule = "no-such-schedule";
  try {
    check_options(options);
    FAIL() << "expected axnn::Error";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_EQ(what.rfind("--schedule: ", 0), 0u) << what;
    EXPECT_NE(what.find("no-such-schedule"), std::string::npos) << what;
  }
}

// Forces the sampled check, which large shapes get, on a small shape.
TEST(LutGemmBench, SampledCheck) {
  LutGemmBenchOptions options = quick_options();
  options.full_check_lookups = 0;
  const LutGemmBenchResult r = run_lut_gemm_bench({40, 300, 70, ""}, options);
  EXPECT_TRUE(r.check_sampled);
  EXPECT_EQ(r.checked_outputs, kSampledOutputs);
}

// The check must catch a wrong output, in full and sampled mode alike (the corners are always
// sampled).
TEST(LutGemmBench, CheckCatchesAWrongOutput) {
  const int bits = 5;
  const int64_t m = 9, k = 31, n = 14;
  std::mt19937 rng(7);
  std::vector<int32_t> table(1 << (2 * bits));
  for (int32_t& e : table) e = static_cast<int32_t>(rng() % 2001) - 1000;
  std::vector<uint8_t> a(m * k), b(k * n);
  for (uint8_t& x : a) x = static_cast<uint8_t>(rng());  // high bits must be ignored
  for (uint8_t& x : b) x = static_cast<uint8_t>(rng());
  std::vector<int32_t> c(m * n);
  kernels::lut_gemm_ref(table, bits, a.data(), b.data(), c.data(), m, k, n, k, n, n);

  for (double full_check_lookups : {1e9, 0.0}) {
    std::vector<int32_t> wrong = c;
    EXPECT_EQ(check_lut_gemm_output(table, bits, a.data(), b.data(), wrong.data(), m, k, n,
                                    full_check_lookups, 1)
                  .mismatches,
              0);
    wrong[(m - 1) * n + (n - 1)] += 1;
    const OutputCheck check = check_lut_gemm_output(table, bits, a.data(), b.data(), wrong.data(),
                                                    m, k, n, full_check_lookups, 1);
    EXPECT_EQ(check.sampled, full_check_lookups == 0.0);
    EXPECT_GE(check.mismatches, 1);
    EXPECT_EQ(check.row, m - 1);
    EXPECT_EQ(check.col, n - 1);
    EXPECT_EQ(check.got, check.want + 1);
  }
}

TEST(LutGemmBench, BadOptionsAndShapesAreErrors) {
  LutGemmBenchOptions options = quick_options();
  EXPECT_THROW(run_lut_gemm_bench({0, 4, 4, ""}, options), Error);
  options.bits = 9;
  EXPECT_THROW(run_lut_gemm_bench({4, 4, 4, ""}, options), Error);
  options = quick_options();
  options.threads = 0;
  EXPECT_THROW(run_lut_gemm_bench({4, 4, 4, ""}, options), Error);
  EXPECT_THROW(parse_isa("sse4"), Error);
}

// Shapes beyond LutGemm's dimension bound or the memory budget are refused before anything is
// allocated, with a message naming the shape.
TEST(LutGemmBench, HugeShapesAreRefusedUpFront) {
  const LutGemmBenchOptions options = quick_options();
  for (const Problem& huge : {Problem{kMaxDim + 1, 1, 1, "wide"}, Problem{1, 1, INT64_MAX, ""},
                              Problem{1 << 20, 1 << 20, 1 << 20, "cube"}}) {
    try {
      run_lut_gemm_bench(huge, options);
      FAIL() << "expected axnn::Error for " << huge.m << "x" << huge.k << "x" << huge.n;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("shape"), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace axnn::bench
