// Quantizers against DESIGN.md section 2 computed by hand and by plain loops.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/error.h"
#include "quant/quantize.h"

namespace axnn::quant {
namespace {

std::vector<int64_t> ints(const at::Tensor& t) {
  const at::Tensor c = t.to(at::kLong).contiguous();
  return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
}

TEST(Quantize, SymmetricRanges) {
  EXPECT_EQ(symmetric_range(8, true).qmin, -127);
  EXPECT_EQ(symmetric_range(8, false).qmin, -128);
  EXPECT_EQ(symmetric_range(4, true).qmax, 7);
  EXPECT_EQ(symmetric_range(2, false).qmin, -2);
  EXPECT_THROW(symmetric_range(9, true), Error);
}

TEST(Quantize, SymmetricByHand) {
  // amax 2, 8 bits: scale 127 / 2 = 63.5. 1.0 -> 63.5 -> 64 (half to even); 0.5/63.5 -> 0.5 -> 0.
  const at::Tensor x = at::tensor({1.0f, -1.0f, 0.0f, 3.0f, -3.0f, 1.0f / 63.5f, 0.5f / 63.5f});
  EXPECT_EQ(ints(quantize_symmetric(x, at::tensor(2.0f), 8)),
            (std::vector<int64_t>{64, -64, 0, 127, -127, 1, 0}));
  EXPECT_EQ(ints(quantize_symmetric(x, at::tensor(2.0f), 8, false)).at(4), -128);
  EXPECT_EQ(ints(quantize_symmetric(x, at::tensor(0.0f), 8)),
            (std::vector<int64_t>(7, 0)));  // amax 0: code 0
  EXPECT_EQ(quantize_symmetric(x, at::tensor(2.0f), 4).scalar_type(), at::kChar);
}

TEST(Quantize, SymmetricMatchesAPlainLoopInFp32) {
  at::manual_seed(1);
  const at::Tensor x = at::randn({4, 50}) * 3;
  const at::Tensor amax = amax_of(x, 0);  // per row
  for (int bits : {2, 5, 8}) {
    const std::vector<int64_t> got = ints(quantize_symmetric(x, amax, bits));
    const float qmax = static_cast<float>((1 << (bits - 1)) - 1);
    for (int64_t r = 0; r < 4; ++r)
      for (int64_t c = 0; c < 50; ++c) {
        const float scale = qmax / amax[r][0].item<float>();
        const float v = std::nearbyint(x[r][c].item<float>() * scale);
        ASSERT_EQ(got[r * 50 + c], static_cast<int64_t>(std::clamp(v, -qmax, qmax)))
            << "bits " << bits << " at " << r << "," << c;
      }
  }
}

// The CPU one-pass loop (fp32 x, one scale or one per x[i]) against the tensor expression it
// replaces, on ties, values beyond amax, infinities, zero amax, several threads' chunks and a
// non-contiguous x (and a double x, which takes the expression).
TEST(Quantize, OnePassLoopMatchesTheTensorExpression) {
  at::manual_seed(2);
  const auto expression = [](const at::Tensor& x, const at::Tensor& amax, int bits, bool narrow) {
    const SymmetricRange r = symmetric_range(bits, narrow);
    const at::Tensor a = amax.to(at::kFloat);
    const at::Tensor scale =
        at::where(a > 0, static_cast<float>(r.qmax) / a, at::zeros_like(a));
    return at::clamp(at::round(x.to(at::kFloat) * scale), r.qmin, r.qmax).to(at::kChar);
  };
  at::Tensor x = at::randn({6, 5, 70, 71}) * 4;
  // Exact ties at scale 63.5 (amax 2, 8 bits): k + 0.5 for both parities.
  x[0][0][0].copy_(at::arange(-35, 36).to(at::kFloat).add(0.5f).div(63.5f));
  x[1][0][0][0] = INFINITY;
  x[1][0][0][1] = -INFINITY;
  const at::Tensor per_row = amax_of(x, 0) * 0.5;
  per_row[2].fill_(0);
  for (const int bits : {2, 7, 8})
    for (const bool narrow : {true, false})
      for (const at::Tensor& amax : {at::tensor(2.0f), per_row}) {
        EXPECT_TRUE(at::equal(quantize_symmetric(x, amax, bits, narrow),
                              expression(x, amax, bits, narrow)))
            << "bits " << bits << " narrow " << narrow << " amax " << amax.sizes();
        const at::Tensor t = x.transpose(0, 3);
        const at::Tensor amax_t = amax.numel() == 1 ? amax : amax.transpose(0, 3);
        EXPECT_TRUE(at::equal(quantize_symmetric(t, amax_t, bits, narrow),
                              expression(t, amax_t, bits, narrow)));
        EXPECT_TRUE(at::equal(quantize_symmetric(x.to(at::kDouble), amax, bits, narrow),
                              expression(x, amax, bits, narrow)));
      }
}

TEST(Quantize, AmaxPerChannelAndPerTensor) {
  const at::Tensor w = at::tensor({1.0f, -4.0f, 2.0f, 0.5f}).view({2, 2});
  EXPECT_EQ(amax_of(w).item<float>(), 4.0f);
  EXPECT_EQ(amax_of(w, 0).sizes(), at::IntArrayRef({2, 1}));
  EXPECT_EQ(amax_of(w, 0)[1][0].item<float>(), 2.0f);
  EXPECT_THROW(amax_of(w, 2), Error);
}

TEST(Quantize, AsymmetricByHand) {
  // [-1, 2] at 2 bits: s = 1, z = 1; x = 0.5 -> round(0.5) + 1 = 1 (half to even).
  const AsymmetricParams p = asymmetric_params(-1, 2, 2);
  EXPECT_DOUBLE_EQ(p.scale, 1.0);
  EXPECT_EQ(p.zero_point, 1);
  EXPECT_EQ(ints(quantize_asymmetric(at::tensor({-1.0f, 0.0f, 0.5f, 1.5f, 2.0f, 9.0f}), p, 2)),
            (std::vector<int64_t>{0, 1, 1, 3, 3, 3}));
  // The range always contains 0, so 0.0 has the exact code z.
  const AsymmetricParams positive = asymmetric_params(2, 6, 8);
  EXPECT_EQ(positive.zero_point, 0);
  EXPECT_DOUBLE_EQ(positive.scale, 6.0 / 255);
  EXPECT_EQ(asymmetric_params(0, 0, 8).scale, 1.0);
  EXPECT_THROW(asymmetric_params(1, 0, 8), Error);
}

TEST(Quantize, DequantizeInvertsOnCodes) {
  const at::Tensor codes = at::arange(-127, 128).to(at::kChar);
  const at::Tensor back =
      quantize_symmetric(dequantize_symmetric(codes, at::tensor(3.0f), 8), at::tensor(3.0f), 8);
  EXPECT_TRUE(at::equal(back, codes));
  const AsymmetricParams p = asymmetric_params(-0.7, 1.9, 8);
  const at::Tensor ucodes = at::arange(0, 256).to(at::kByte);
  EXPECT_TRUE(at::equal(quantize_asymmetric(dequantize_asymmetric(ucodes, p), p, 8), ucodes));
}

TEST(Quantize, BadInputsAreErrors) {
  EXPECT_THROW(quantize_symmetric(at::ones({2}, at::kInt), at::tensor(1.0f), 8), Error);
  EXPECT_THROW(quantize_symmetric(at::ones({2}), at::tensor(-1.0f), 8), Error);
}

}  // namespace
}  // namespace axnn::quant
