#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "bench/maddness_bench.h"
#include "core/cpu.h"
#include "core/error.h"

namespace axnn::bench {
namespace {

MaddnessBenchOptions quick_options() {
  MaddnessBenchOptions options;
  options.n = 100;
  options.d = 24;
  options.m = 19;
  options.c = 12;
  options.timing.min_runs = 2;
  options.timing.min_seconds = 0;
  return options;
}

double min_of(const std::vector<double>& samples) {
  return *std::min_element(samples.begin(), samples.end());
}

TEST(MaddnessBench, SmallShapeIsExactWithConsistentRates) {
  const MaddnessBenchResult r = run_maddness_bench(quick_options());
  EXPECT_EQ(r.checked_rows, 100);
  EXPECT_EQ(r.average_levels, 2);  // 12 = 3 * 2^2
  EXPECT_EQ(r.encode_impl, isa_name(active_isa()));
  EXPECT_EQ(r.decode_impl, isa_name(active_isa()));
  for (const Timing* t : {&r.encode, &r.decode_int8, &r.decode_average, &r.decode_fp32,
                          &r.encode_decode, &r.torch, &r.lut_gemm}) {
    ASSERT_GE(t->samples.size(), 2u);
    EXPECT_DOUBLE_EQ(t->min, min_of(t->samples));
  }
  // Rates are N M over a kernel's own time, ratios the baseline's time over the kernel's.
  EXPECT_DOUBLE_EQ(r.gdots(r.decode_int8), 100.0 * 19 / min_of(r.decode_int8.samples) * 1e-9);
  EXPECT_DOUBLE_EQ(r.encode_g_row_codebooks(), 100.0 * 12 / min_of(r.encode.samples) * 1e-9);
  EXPECT_DOUBLE_EQ(r.ratio_torch(r.decode_int8), r.torch.min / r.decode_int8.min);
  EXPECT_DOUBLE_EQ(r.ratio_lut_gemm(r.decode_fp32, true), r.lut_gemm.median / r.decode_fp32.median);

  const nlohmann::ordered_json j = to_json(r);
  EXPECT_EQ(j.at("n"), 100);
  EXPECT_EQ(j.at("average_levels"), 2);
  EXPECT_EQ(j.at("decode_int8").at("gdots_min").get<double>(), r.gdots(r.decode_int8));
  EXPECT_EQ(j.at("torch_fp32_gemm").at("ratio_torch").get<double>(), 1.0);
  EXPECT_TRUE(j.at("lut_gemm").contains("glookups_min"));
  EXPECT_TRUE(j.at("machine").contains("cpu_model"));
  const std::string table = format_maddness_bench(r);
  EXPECT_NE(table.find("decode int8 average L=2"), std::string::npos) << table;
  EXPECT_NE(table.find("exact against the refs on 100 rows"), std::string::npos) << table;
}

TEST(MaddnessBench, EveryIsaTheCpuHas) {
  for (Isa isa : {Isa::kRef, Isa::kAvx2, Isa::kAvx512}) {
    if (isa > detected_isa()) continue;
    MaddnessBenchOptions options = quick_options();
    options.isa = isa;
    options.c = 5;  // no averaging: levels 0
    const MaddnessBenchResult r = run_maddness_bench(options);
    EXPECT_EQ(r.decode_impl, isa_name(isa));
    EXPECT_EQ(r.average_levels, 0);
    EXPECT_EQ(r.checked_rows, 100);
  }
}

TEST(MaddnessBench, AverageLevelsAreTheLargestCAllows) {
  EXPECT_EQ(max_average_levels(1), 0);
  EXPECT_EQ(max_average_levels(6), 1);
  EXPECT_EQ(max_average_levels(16), 4);
  EXPECT_EQ(max_average_levels(96), 4);
}

TEST(MaddnessBench, BadOptionsNameTheFlag) {
  for (auto [field, flag] :
       {std::pair{&MaddnessBenchOptions::n, "--n"}, std::pair{&MaddnessBenchOptions::d, "--d"},
        std::pair{&MaddnessBenchOptions::m, "--m"}, std::pair{&MaddnessBenchOptions::c, "--c"}}) {
    MaddnessBenchOptions options = quick_options();
    options.*field = 0;
    try {
      run_maddness_bench(options);
      FAIL() << "expected axnn::Error for " << flag;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(flag), std::string::npos) << e.what();
    }
  }
  MaddnessBenchOptions huge = quick_options();
  huge.n = int64_t{1} << 30;
  huge.d = 1024;
  EXPECT_THROW(check_options(huge), Error);
}

}  // namespace
}  // namespace axnn::bench
