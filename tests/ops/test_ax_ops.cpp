// The float-level approximate ops: forward against plain integer arithmetic on the same codes,
// and each gradient mode against what it must equal (exact fp32 grads, their clipped version,
// and for the exact table, the grads through the dequantized operands).
#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/autograd.h>

#include <functional>
#include <string>

#include "common/error_of.h"
#include "ops/ax_ops.h"
#include "quant/quantize.h"

namespace axnn::ops {
namespace {

constexpr int kBits = 8;
constexpr float kQmax = 127;

at::Tensor exact_lut() {
  at::Tensor lut = at::empty({256, 256}, at::kInt);
  for (int a = 0; a < 256; ++a)
    for (int b = 0; b < 256; ++b) lut[a][b] = static_cast<int8_t>(a) * static_cast<int8_t>(b);
  return lut;
}

at::Tensor random_lut() { return at::randint(-20000, 20000, {256, 256}, at::kInt); }

// The value of symmetric codes times amax / qmax: the operand the exact table multiplies.
at::Tensor dequantized(const at::Tensor& v, const at::Tensor& amax) {
  return quant::dequantize_symmetric(quant::quantize_symmetric(v, amax, kBits), amax, kBits);
}

struct Grads {
  at::Tensor y, dx, dw, db;
};

Grads run_linear(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b,
                 const at::Tensor& lut, const at::Tensor& x_amax, const at::Tensor& w_amax,
                 const std::string& mode, const at::Tensor& g) {
  const at::Tensor xv = x.clone().requires_grad_(), wv = w.clone().requires_grad_();
  const at::Tensor bv = b.clone().requires_grad_();
  const at::Tensor y = ax_linear(xv, wv, bv, lut, x_amax, w_amax, kBits, true, mode);
  y.backward(g);
  return {y.detach(), xv.grad(), wv.grad(), bv.grad()};
}

class AxLinear : public ::testing::Test {
 protected:
  void SetUp() override {
    at::manual_seed(11);
    x = at::randn({2, 5, 24});
    w = at::randn({7, 24}) * 0.3;
    b = at::randn({7});
    g = at::randn({2, 5, 7});
    x_amax = at::tensor(1.5f);  // clips some of x
    w_amax = quant::amax_of(w, 0).reshape({7}) * 0.8;
  }
  at::Tensor x, w, b, g, x_amax, w_amax;
};

TEST_F(AxLinear, ForwardIsIntegerArithmeticOnTheCodes) {
  for (const at::Tensor& lut : {exact_lut(), random_lut()}) {
    const at::Tensor y = ax_linear(x, w, b, lut, x_amax, w_amax, kBits, true, "ste");
    // Naive: sum over k of lut[qx][qw] by indexing, then DESIGN.md's dequantization.
    const at::Tensor qx =
        quant::quantize_symmetric(x, x_amax, kBits).to(at::kLong).bitwise_and(255);
    const at::Tensor qw =
        quant::quantize_symmetric(w, w_amax.view({7, 1}), kBits).to(at::kLong).bitwise_and(255);
    const at::Tensor acc =
        lut.to(at::kLong).index({qx.unsqueeze(-1), qw.t()}).sum(-2);  // [2, 5, 7]
    const at::Tensor scales = (kQmax / x_amax) * (kQmax / w_amax);
    EXPECT_TRUE(at::equal(y, acc.to(at::kFloat) / scales + b));
  }
}

// A zero amax (of a weight row, or of x) gives scale 0 and so outputs of exactly +0.0, never -0.0
// or NaN; the others are the sums over their scales, bit for bit, with and without a bias.
TEST_F(AxLinear, ZeroScalesGiveZerosAndTheRestDividesExactly) {
  const at::Tensor lut = random_lut();
  at::Tensor wz = w.clone();
  wz[2].zero_();
  const at::Tensor wz_amax = quant::amax_of(wz, 0).reshape({7});
  const at::Tensor qx = quant::quantize_symmetric(x, x_amax, kBits).to(at::kLong).bitwise_and(255);
  const at::Tensor qw =
      quant::quantize_symmetric(wz, wz_amax.view({7, 1}), kBits).to(at::kLong).bitwise_and(255);
  const at::Tensor acc = lut.to(at::kLong).index({qx.unsqueeze(-1), qw.t()}).sum(-2);
  const at::Tensor scales = (kQmax / x_amax) * at::where(wz_amax > 0, kQmax / wz_amax, 0);
  const at::Tensor want = at::where(scales > 0, acc.to(at::kFloat) / scales, 0);
  const at::Tensor y = ax_linear(x, wz, {}, lut, x_amax, wz_amax, kBits, true, "ste");
  EXPECT_TRUE(at::equal(y.view(at::kInt), want.contiguous().view(at::kInt)));  // the bits
  EXPECT_TRUE(at::equal(ax_linear(x, wz, b, lut, x_amax, wz_amax, kBits, true, "ste"), want + b));
  const at::Tensor y0 = ax_linear(x, wz, {}, lut, at::tensor(0.0f), wz_amax, kBits, true, "ste");
  EXPECT_TRUE(at::equal(y0.view(at::kInt), at::zeros({2, 5, 7}, at::kInt)));
}

TEST_F(AxLinear, SteIsTheExactFp32Backward) {
  const Grads got = run_linear(x, w, b, random_lut(), x_amax, w_amax, "ste", g);
  const at::Tensor xv = x.clone().requires_grad_(), wv = w.clone().requires_grad_();
  const at::Tensor bv = b.clone().requires_grad_();
  at::linear(xv, wv, bv).backward(g);
  EXPECT_TRUE(at::allclose(got.dx, xv.grad(), 1e-5, 1e-5));
  EXPECT_TRUE(at::allclose(got.dw, wv.grad(), 1e-5, 1e-5));
  EXPECT_TRUE(at::allclose(got.db, bv.grad(), 1e-5, 1e-5));
}

TEST_F(AxLinear, SteClipMasksInputsBeyondTheirAmax) {
  const Grads ste = run_linear(x, w, b, random_lut(), x_amax, w_amax, "ste", g);
  const Grads clip = run_linear(x, w, b, random_lut(), x_amax, w_amax, "ste-clip", g);
  const at::Tensor x_in = (x.abs() <= x_amax).to(at::kFloat);
  const at::Tensor w_in = (w.abs() <= w_amax.view({7, 1})).to(at::kFloat);
  ASSERT_GT((1 - x_in).sum().item<float>(), 0);  // the test clips something
  ASSERT_GT((1 - w_in).sum().item<float>(), 0);
  EXPECT_TRUE(at::allclose(clip.dx, ste.dx * x_in));
  EXPECT_TRUE(at::allclose(clip.dw, ste.dw * w_in));
}

TEST_F(AxLinear, LutGradOfTheExactTableIsTheGradThroughDequantizedOperands) {
  // d(a*b)/da = b at every code, the ends included: lut-grad then multiplies the gradient by the
  // other operand's dequantized value.
  const Grads got = run_linear(x, w, b, exact_lut(), x_amax, w_amax, "lut-grad", g);
  const at::Tensor g2 = g.reshape({-1, 7});
  const at::Tensor want_dx = g2.mm(dequantized(w, w_amax.view({7, 1}))).reshape(x.sizes());
  const at::Tensor want_dw = g2.t().mm(dequantized(x, x_amax).reshape({-1, 24}));
  EXPECT_TRUE(at::allclose(got.dx, want_dx, 1e-4, 1e-4));
  EXPECT_TRUE(at::allclose(got.dw, want_dw, 1e-4, 1e-4));
  EXPECT_TRUE(at::allclose(got.db, g2.sum(0)));
}

TEST_F(AxLinear, LutGradFollowsTheTablesSlope) {
  // A table that ignores the activation has zero activation gradient.
  const at::Tensor lut = at::arange(256, at::kInt).repeat({256, 1});  // lut[a][b] = b
  const Grads got = run_linear(x, w, b, lut, x_amax, w_amax, "lut-grad", g);
  EXPECT_EQ(got.dx.abs().max().item<float>(), 0.0f);
  EXPECT_GT(got.dw.abs().max().item<float>(), 0.0f);
}

TEST(AxMatmul, ForwardAndGradients) {
  at::manual_seed(12);
  const at::Tensor a = at::randn({2, 3, 6, 16}), b = at::randn({2, 3, 16, 5});
  const at::Tensor g = at::randn({2, 3, 6, 5});
  const at::Tensor a_amax = quant::amax_of(a), b_amax = quant::amax_of(b) * 0.7;
  const at::Tensor lut = exact_lut();
  // Forward: the integer product of the codes, dequantized.
  const at::Tensor y = ax_matmul(a, b, lut, a_amax, b_amax, kBits, true, "ste");
  const at::Tensor qa = quant::quantize_symmetric(a, a_amax, kBits).to(at::kDouble);
  const at::Tensor qb = quant::quantize_symmetric(b, b_amax, kBits).to(at::kDouble);
  const at::Tensor scales = (kQmax / a_amax) * (kQmax / b_amax);
  EXPECT_TRUE(at::equal(y, qa.matmul(qb).to(at::kInt).to(at::kFloat) / scales));
  for (const std::string mode : {"ste", "lut-grad"}) {
    const at::Tensor av = a.clone().requires_grad_(), bv = b.clone().requires_grad_();
    ax_matmul(av, bv, lut, a_amax, b_amax, kBits, true, mode).backward(g);
    const at::Tensor other_b = mode == "ste" ? b : dequantized(b, b_amax);
    const at::Tensor other_a = mode == "ste" ? a : dequantized(a, a_amax);
    EXPECT_TRUE(at::allclose(av.grad(), g.matmul(other_b.transpose(-1, -2)), 1e-4, 1e-4)) << mode;
    EXPECT_TRUE(at::allclose(bv.grad(), other_a.transpose(-1, -2).matmul(g), 1e-4, 1e-4)) << mode;
  }
}

TEST(AxConv2d, ForwardAndGradients) {
  at::manual_seed(13);
  const at::Tensor x = at::randn({2, 4, 9, 8}), w = at::randn({6, 2, 3, 3}) * 0.4;
  const at::Tensor b = at::randn({6});
  const at::Tensor x_amax = quant::amax_of(x) * 0.9, w_amax = quant::amax_of(w, 0).reshape({6});
  const std::array<int64_t, 2> stride{2, 1}, padding{1, 1}, dilation{1, 2};
  const int64_t groups = 2;
  const at::Tensor lut = exact_lut();
  const at::Tensor y = ax_conv2d(x, w, b, lut, x_amax, w_amax, stride, padding, dilation, groups,
                                 kBits, true, "ste");
  const at::Tensor qx = quant::quantize_symmetric(x, x_amax, kBits).to(at::kDouble);
  const at::Tensor qw =
      quant::quantize_symmetric(w, w_amax.view({6, 1, 1, 1}), kBits).to(at::kDouble);
  const at::Tensor acc = at::conv2d(qx, qw, {}, stride, padding, dilation, groups).to(at::kInt);
  const at::Tensor scales = ((kQmax / x_amax) * (kQmax / w_amax)).view({1, 6, 1, 1});
  EXPECT_TRUE(at::equal(y, acc.to(at::kFloat) / scales + b.view({1, 6, 1, 1})));

  const at::Tensor g = at::randn(y.sizes());
  for (const std::string mode : {"ste", "ste-clip", "lut-grad"}) {
    const at::Tensor xv = x.clone().requires_grad_(), wv = w.clone().requires_grad_();
    ax_conv2d(xv, wv, b, lut, x_amax, w_amax, stride, padding, dilation, groups, kBits, true, mode)
        .backward(g);
    // Reference: fp32 conv grads, through dequantized operands for lut-grad.
    const at::Tensor rx = x.clone().requires_grad_(), rw = w.clone().requires_grad_();
    const at::Tensor w_ref = mode == "lut-grad" ? dequantized(w, w_amax.view({6, 1, 1, 1})) : w;
    const at::Tensor x_ref = mode == "lut-grad" ? dequantized(x, x_amax) : x;
    at::conv2d(rx, w_ref, {}, stride, padding, dilation, groups).backward(g);
    at::conv2d(x_ref, rw, {}, stride, padding, dilation, groups).backward(g);
    at::Tensor want_dx = rx.grad(), want_dw = rw.grad();
    if (mode == "ste-clip") {
      want_dx = want_dx * (x.abs() <= x_amax).to(at::kFloat);
      want_dw = want_dw * (w.abs() <= w_amax.view({6, 1, 1, 1})).to(at::kFloat);
    }
    EXPECT_TRUE(at::allclose(xv.grad(), want_dx, 1e-4, 1e-4)) << mode;
    EXPECT_TRUE(at::allclose(wv.grad(), want_dw, 1e-4, 1e-4)) << mode;
  }
}

using axnn::test_util::error_of;

TEST(AxOps, BadArgumentsNameWhatIsWrong) {
  const at::Tensor x = at::randn({3, 4}), w = at::randn({2, 4}), amax = at::tensor(1.0f);
  using ::testing::HasSubstr;
  EXPECT_THAT(error_of([&] { ax_linear(x, w, {}, exact_lut(), amax, amax, kBits, true, "sgd"); }),
              HasSubstr("unknown grad_mode 'sgd'"));
  EXPECT_THAT(error_of([&] { ax_linear(x, w, {}, exact_lut(), amax, amax, 4, true, "ste"); }),
              HasSubstr("[16, 16] for bits = 4"));
  EXPECT_THAT(
      error_of([&] { ax_linear(x, w, {}, exact_lut(), amax, at::ones({3}), kBits, true, "ste"); }),
      HasSubstr("w_amax must hold 1 or 2 values"));
  EXPECT_THAT(
      error_of([&] { ax_linear(x.t(), w, {}, exact_lut(), amax, amax, kBits, true, "ste"); }),
      HasSubstr("does not end in K = 4"));
}

}  // namespace
}  // namespace axnn::ops
