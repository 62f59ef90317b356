// Calibrators: exact answers where there is one, brute force over the samples where the method
// is an optimisation, and the histogram's growth across batches.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "core/error.h"
#include "quant/calibrator.h"
#include "quant/quantize.h"

namespace axnn::quant {
namespace {

Calibrator make(CalibMethod method, double percentile = 99.99) {
  CalibOptions options;
  options.method = method;
  options.percentile = percentile;
  return Calibrator(options);
}

TEST(Calibrator, MaxIsTheLargestMagnitudeOverBatches) {
  Calibrator c = make(CalibMethod::kMax);
  c.collect(at::tensor({0.5f, -2.0f}));
  c.collect(at::tensor({1.5f, 0.25f}));
  EXPECT_EQ(c.amax(), 2.0);
  EXPECT_EQ(c.min(), -2.0);
  EXPECT_EQ(c.max(), 1.5);
  EXPECT_EQ(c.batches(), 2);
}

TEST(Calibrator, PercentileOfAUniformRamp) {
  // 100000 evenly spaced magnitudes in (0, 1]: the 99 % point is 0.99, within a bin width.
  const at::Tensor x = at::arange(1, 100001, at::kDouble) / 100000;
  Calibrator c = make(CalibMethod::kPercentile, 99);
  c.collect(x);
  EXPECT_NEAR(c.amax(), 0.99, 1.0 / 2048);
  Calibrator all = make(CalibMethod::kPercentile, 100);
  all.collect(x);
  EXPECT_DOUBLE_EQ(all.amax(), 1.0);
}

TEST(Calibrator, HistogramGrowsAcrossBatches) {
  // The same data in two batches, the second with larger values, gives (nearly) the same
  // percentile as in one batch.
  at::manual_seed(3);
  const at::Tensor small = at::rand({20000}), large = at::rand({20000}) * 8;
  Calibrator split = make(CalibMethod::kPercentile, 99.9),
             whole = make(CalibMethod::kPercentile, 99.9);
  split.collect(small);
  split.collect(large);
  whole.collect(at::cat({small, large}));
  EXPECT_NEAR(split.amax(), whole.amax(), 8.0 / 2048 * 2);
  EXPECT_NEAR(split.amax(), 8 * (1 - 2 * 0.001), 0.05);
}

TEST(Calibrator, HugeGrowthKeepsTheHistogramBounded) {
  Calibrator c = make(CalibMethod::kMse);
  c.collect(at::tensor({1e-6f}));
  c.collect(at::tensor({1e3f, -5.0f}));
  EXPECT_GT(c.amax(), 0);
  EXPECT_LE(c.amax(), 1e3);
}

// The fake-quantization error of the samples at a given amax.
double sample_mse(const at::Tensor& x, double amax) {
  const at::Tensor a = at::tensor(static_cast<float>(amax));
  const at::Tensor q = dequantize_symmetric(quantize_symmetric(x, a, 8), a, 8);
  return (x - q).pow(2).mean().item<double>();
}

TEST(Calibrator, MseNearTheBruteForceOptimumOverSamples) {
  // Laplace-like data with heavy tails: clipping pays, so the optimum is below the max.
  at::manual_seed(5);
  const at::Tensor u = at::rand({200000}) - 0.5;
  const at::Tensor x = (-at::sign(u) * at::log1p(-2 * u.abs())).to(at::kFloat);
  Calibrator c = make(CalibMethod::kMse);
  c.collect(x);
  const double max_abs = x.abs().max().item<double>();
  double best = std::numeric_limits<double>::infinity();
  for (int i = 1; i <= 400; ++i) best = std::min(best, sample_mse(x, max_abs * i / 400));
  EXPECT_LT(c.amax(), 0.8 * max_abs);
  EXPECT_LE(sample_mse(x, c.amax()), best * 1.02);
}

TEST(Calibrator, EntropyClipsOutliersAndKeepsUniformData) {
  // Uniform data with a few far outliers: the cut keeps the bulk and clips the outliers (the
  // method cannot cut below 2^(b-1) bins, here 128 / 2048 of the range).
  at::manual_seed(7);
  Calibrator outliers = make(CalibMethod::kEntropy);
  outliers.collect(at::cat({at::rand({200000}) * 2 - 1, at::full({20}, 50.0f)}));
  EXPECT_LT(outliers.amax(), 0.2 * 50);
  EXPECT_GT(outliers.amax(), 1.0);
  Calibrator uniform = make(CalibMethod::kEntropy);
  uniform.collect(at::rand({200000}) * 2 - 1);
  EXPECT_GT(uniform.amax(), 0.9);
}

TEST(Calibrator, AllZeroDataGivesZeroAmax) {
  for (CalibMethod m :
       {CalibMethod::kMax, CalibMethod::kPercentile, CalibMethod::kMse, CalibMethod::kEntropy}) {
    Calibrator c = make(m);
    c.collect(at::zeros({10}));
    EXPECT_EQ(c.amax(), 0.0) << calib_method_name(m);
  }
}

TEST(Calibrator, ErrorsNameTheProblem) {
  EXPECT_THROW(make(CalibMethod::kMax).amax(), Error);
  EXPECT_THROW(make(CalibMethod::kMax).collect(at::ones({2}, at::kInt)), Error);
  EXPECT_THROW(make(CalibMethod::kMax).collect(at::tensor({std::nanf("")})), Error);
  EXPECT_THROW(make(CalibMethod::kPercentile, 0), Error);
  try {
    parse_calib_method("kl");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'kl'"), std::string::npos);
  }
  EXPECT_EQ(parse_calib_method("entropy"), CalibMethod::kEntropy);
}

}  // namespace
}  // namespace axnn::quant
