#include <gtest/gtest.h>

#include "bench/lut_gemm_bench.h"
#include "core/error.h"

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
