#include <gtest/gtest.h>

#include <random>
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

TEST(LutGemmBench, SmallShapeIsExactWithPositiveRates) {
  const LutGemmBenchResult r = run_lut_gemm_bench({37, 29, 53, "odd"}, quick_options());
  EXPECT_EQ(r.check, "exact");
  EXPECT_FALSE(r.check_sampled);
  EXPECT_EQ(r.checked_outputs, 37 * 53);
  EXPECT_FALSE(r.impl_name.empty());
  EXPECT_GT(r.glookups_min(), 0);
  EXPECT_GE(r.glookups_min(), r.glookups_median());
  EXPECT_GT(r.onednn_gmacs(), 0);
  EXPECT_GT(r.torch_gmacs(), 0);
  EXPECT_FALSE(r.onednn_impl.empty());

  const nlohmann::ordered_json j = to_json(r);
  EXPECT_EQ(j.at("name"), "odd");
  EXPECT_EQ(j.at("m"), 37);
  EXPECT_EQ(j.at("check"), "exact");
  EXPECT_GT(j.at("ratio_onednn").get<double>(), 0);
  EXPECT_GT(j.at("ratio_torch").get<double>(), 0);
  EXPECT_TRUE(j.at("machine").contains("cpu_model"));
  EXPECT_NE(format_table_row(r).find("exact"), std::string::npos);
}

TEST(LutGemmBench, EveryIsaTheCpuHasAndNarrowCodes) {
  for (Isa isa : {Isa::kRef, Isa::kAvx2, Isa::kAvx512}) {
    if (isa > detected_isa()) continue;
    LutGemmBenchOptions options = quick_options();
    options.isa = isa;
    options.bits = 4;
    const LutGemmBenchResult r = run_lut_gemm_bench({17, 40, 33, ""}, options);
    EXPECT_EQ(r.check, "exact") << isa_name(isa);
    EXPECT_EQ(r.isa, isa_name(isa));
  }
}

// Forces the sampled check, which large shapes get, on a small shape.
TEST(LutGemmBench, SampledCheck) {
  LutGemmBenchOptions options = quick_options();
  options.full_check_lookups = 0;
  const LutGemmBenchResult r = run_lut_gemm_bench({40, 300, 70, ""}, options);
  EXPECT_EQ(r.check, "exact");
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

}  // namespace
}  // namespace axnn::bench
