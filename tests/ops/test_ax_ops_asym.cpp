// The asymmetric float-level ops (unsigned multipliers): forward against plain integer
// arithmetic on the same codes with DESIGN.md's correction terms, the correction against the
// product of the dequantized operands for the exact table, and each gradient mode.
#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <array>
#include <string>

#include "common/error_of.h"
#include "ops/ax_ops.h"
#include "quant/quantize.h"

namespace axnn::ops {
namespace {

constexpr int kBits = 8;

at::Tensor exact_unsigned_lut() {
  const at::Tensor codes = at::arange(256, at::kInt);
  return codes.view({256, 1}) * codes.view({1, 256});
}

at::Tensor random_lut() { return at::randint(0, 40000, {256, 256}, at::kInt); }

// Codes (int64) and the float scale and zero point of v for the range [min, max].
struct Quantized {
  at::Tensor codes, scale, zero;
};
Quantized quantize(const at::Tensor& v, const at::Tensor& min, const at::Tensor& max) {
  const quant::AsymmetricTensors p = quant::asymmetric_params(min, max, kBits);
  return {quant::quantize_asymmetric(v, p, kBits).to(at::kLong), p.scale, p.zero_point};
}

at::Tensor dequantized(const Quantized& q) { return (q.codes - q.zero) * q.scale; }

// s_x s_w (bracket): the scaling the ops apply to the exact int64 bracket.
at::Tensor scaled(const at::Tensor& bracket, const at::Tensor& sx, const at::Tensor& sw) {
  return (bracket.to(at::kDouble) * (sx.to(at::kDouble) * sw.to(at::kDouble))).to(at::kFloat);
}

TEST(AxLinearAsym, ForwardIsTheCorrectedIntegerSum) {
  at::manual_seed(21);
  const at::Tensor x = at::randn({3, 4, 20}) + 0.5, w = at::randn({6, 20}) * 0.3;
  const at::Tensor x_min = at::tensor(-1.0f), x_max = at::tensor(2.0f);  // clips some of x
  const at::Tensor w_min = std::get<0>(w.min(1)), w_max = std::get<0>(w.max(1));
  const Quantized qx = quantize(x, x_min, x_max);
  const Quantized qw = quantize(w, w_min.view({6, 1}), w_max.view({6, 1}));
  const at::Tensor zw = qw.zero.view({6}).to(at::kLong), zx = qx.zero.to(at::kLong);
  for (const at::Tensor& lut : {exact_unsigned_lut(), random_lut()}) {
    const at::Tensor y = ax_linear_asym(x, w, {}, lut, x_min, x_max, w_min, w_max, kBits, "ste");
    const at::Tensor sum = lut.to(at::kLong).index({qx.codes.unsqueeze(-1), qw.codes.t()}).sum(-2);
    const at::Tensor bracket = sum - zw * qx.codes.sum(-1, true) - zx * qw.codes.sum(1) +
                               20 * zx * zw;  // [3, 4, 6]
    EXPECT_TRUE(at::equal(y, scaled(bracket, qx.scale, qw.scale.view({6}))));
  }
  // With the exact table the bracket is sum (qx - zx)(qw - zw): y is the product of the
  // dequantized operands.
  const at::Tensor y =
      ax_linear_asym(x, w, {}, exact_unsigned_lut(), x_min, x_max, w_min, w_max, kBits, "ste");
  const at::Tensor want = dequantized(qx).to(at::kDouble).matmul(
      dequantized(qw).to(at::kDouble).t());
  EXPECT_TRUE(at::allclose(y.to(at::kDouble), want, 1e-5, 1e-5));
}

TEST(AxLinearAsym, GradientModes) {
  at::manual_seed(22);
  const at::Tensor x = at::randn({5, 12}), w = at::randn({4, 12}), b = at::randn({4});
  const at::Tensor g = at::randn({5, 4});
  const at::Tensor x_min = at::tensor(-0.8f), x_max = at::tensor(1.1f);
  const at::Tensor w_min = at::full({4}, -1.0f), w_max = at::full({4}, 0.9f);
  const Quantized qx = quantize(x, x_min, x_max);
  const Quantized qw = quantize(w, w_min.view({4, 1}), w_max.view({4, 1}));
  for (const std::string mode : {"ste", "ste-clip", "lut-grad"}) {
    const at::Tensor xv = x.clone().requires_grad_(), wv = w.clone().requires_grad_();
    const at::Tensor bv = b.clone().requires_grad_();
    ax_linear_asym(xv, wv, bv, exact_unsigned_lut(), x_min, x_max, w_min, w_max, kBits, mode)
        .backward(g);
    // lut-grad of the exact table: the grads through the dequantized operands.
    const at::Tensor w_ref = mode == "lut-grad" ? dequantized(qw) : w;
    const at::Tensor x_ref = mode == "lut-grad" ? dequantized(qx) : x;
    at::Tensor want_dx = g.mm(w_ref), want_dw = g.t().mm(x_ref);
    if (mode == "ste-clip") {
      // The range the quantizer represents, [-z s, (255 - z) s].
      want_dx = want_dx * ((x >= -qx.zero * qx.scale) & (x <= (255 - qx.zero) * qx.scale));
      want_dw = want_dw * ((w >= -qw.zero * qw.scale) & (w <= (255 - qw.zero) * qw.scale));
    }
    EXPECT_TRUE(at::allclose(xv.grad(), want_dx, 1e-4, 1e-4)) << mode;
    EXPECT_TRUE(at::allclose(wv.grad(), want_dw, 1e-4, 1e-4)) << mode;
    EXPECT_TRUE(at::allclose(bv.grad(), g.sum(0))) << mode;
  }
}

TEST(AxMatmulAsym, ForwardAndGradients) {
  at::manual_seed(23);
  const at::Tensor a = at::rand({2, 3, 6, 16}), b = at::randn({2, 3, 16, 5});  // a >= 0: softmax
  const at::Tensor g = at::randn({2, 3, 6, 5});
  const at::Tensor a_min = a.min(), a_max = a.max(), b_min = b.min(), b_max = b.max() * 0.8;
  const Quantized qa = quantize(a, a_min, a_max), qb = quantize(b, b_min, b_max);
  const at::Tensor lut = random_lut();
  const at::Tensor y = ax_matmul_asym(a, b, lut, a_min, a_max, b_min, b_max, kBits, "ste");
  const at::Tensor za = qa.zero.to(at::kLong), zb = qb.zero.to(at::kLong);
  const at::Tensor sum = lut.to(at::kLong)
                             .index({qa.codes.unsqueeze(-1), qb.codes.unsqueeze(-3)})
                             .sum(-2);  // [2, 3, 6, 16, 5] -> [2, 3, 6, 5]
  const at::Tensor bracket = sum - zb * qa.codes.sum(-1, true) - za * qb.codes.sum(-2, true) +
                             16 * za * zb;
  EXPECT_TRUE(at::equal(y, scaled(bracket, qa.scale, qb.scale)));
  for (const std::string mode : {"ste", "lut-grad"}) {
    const at::Tensor av = a.clone().requires_grad_(), bv = b.clone().requires_grad_();
    ax_matmul_asym(av, bv, exact_unsigned_lut(), a_min, a_max, b_min, b_max, kBits, mode)
        .backward(g);
    const at::Tensor other_b = mode == "ste" ? b : dequantized(qb);
    const at::Tensor other_a = mode == "ste" ? a : dequantized(qa);
    EXPECT_TRUE(at::allclose(av.grad(), g.matmul(other_b.transpose(-1, -2)), 1e-4, 1e-4)) << mode;
    EXPECT_TRUE(at::allclose(bv.grad(), other_a.transpose(-1, -2).matmul(g), 1e-4, 1e-4)) << mode;
  }
}

TEST(AxConv2dAsym, ForwardAndGradients) {
  at::manual_seed(24);
  const at::Tensor x = at::randn({2, 4, 9, 8}).relu(), w = at::randn({6, 2, 3, 3}) * 0.4;
  const at::Tensor b = at::randn({6});
  const at::Tensor x_min = at::zeros({}), x_max = x.max() * 0.9;
  const at::Tensor w_min = w.amin({1, 2, 3}), w_max = w.amax({1, 2, 3});
  const std::array<int64_t, 2> stride{2, 1}, padding{1, 2}, dilation{1, 2};
  const int64_t groups = 2;
  const Quantized qx = quantize(x, x_min, x_max);
  const Quantized qw = quantize(w, w_min.view({6, 1, 1, 1}), w_max.view({6, 1, 1, 1}));
  // Random table, one group at a time: naive sums over the windows of x padded with z_x.
  const at::Tensor lut = random_lut();
  const at::Tensor y = ax_conv2d_asym(x, w, {}, lut, x_min, x_max, w_min, w_max, stride, padding,
                                      dilation, groups, kBits, "ste");
  const int64_t zx = qx.zero.item<int64_t>();
  const at::Tensor padded = at::constant_pad_nd(qx.codes, {2, 2, 1, 1}, static_cast<double>(zx));
  const at::Tensor cols = at::im2col(padded.to(at::kDouble), {3, 3}, dilation, {0, 0}, stride)
                              .to(at::kLong)
                              .view({2, 2, 18, -1});  // [N, group, depth, L]
  const at::Tensor wc = qw.codes.view({2, 3, 18});    // [group, O / group, depth]
  const at::Tensor sum = lut.to(at::kLong)
                             .index({cols.unsqueeze(2), wc.view({1, 2, 3, 18, 1})})
                             .sum(3)
                             .view({2, 6, -1});  // [N, O, L]
  const at::Tensor zw = qw.zero.view({1, 6, 1}).to(at::kLong);
  const at::Tensor bracket = sum - zw * cols.sum(2).repeat_interleave(3, 1) -
                             zx * qw.codes.sum({1, 2, 3}).view({1, 6, 1}) + 18 * zx * zw;
  EXPECT_TRUE(at::equal(y.view({2, 6, -1}), scaled(bracket, qx.scale, qw.scale.view({1, 6, 1}))));

  const at::Tensor g = at::randn(y.sizes());
  for (const std::string mode : {"ste", "lut-grad"}) {
    const at::Tensor xv = x.clone().requires_grad_(), wv = w.clone().requires_grad_();
    const at::Tensor out = ax_conv2d_asym(xv, wv, b, exact_unsigned_lut(), x_min, x_max, w_min,
                                          w_max, stride, padding, dilation, groups, kBits, mode);
    if (mode == "ste") {
      // Exact table: the conv of the dequantized operands, zero padding included.
      const at::Tensor want = at::conv2d(dequantized(qx), dequantized(qw), b, stride, padding,
                                         dilation, groups);
      EXPECT_TRUE(at::allclose(out, want, 1e-4, 1e-4));
    }
    out.backward(g);
    const at::Tensor rx = x.clone().requires_grad_(), rw = w.clone().requires_grad_();
    const at::Tensor w_ref = mode == "lut-grad" ? dequantized(qw) : w;
    const at::Tensor x_ref = mode == "lut-grad" ? dequantized(qx) : x;
    at::conv2d(rx, w_ref, {}, stride, padding, dilation, groups).backward(g);
    at::conv2d(x_ref, rw, {}, stride, padding, dilation, groups).backward(g);
    EXPECT_TRUE(at::allclose(xv.grad(), rx.grad(), 1e-4, 1e-4)) << mode;
    EXPECT_TRUE(at::allclose(wv.grad(), rw.grad(), 1e-4, 1e-4)) << mode;
  }
}

TEST(AxOpsAsym, BadArgumentsNameWhatIsWrong) {
  const at::Tensor x = at::randn({3, 4}), w = at::randn({2, 4}), one = at::tensor(1.0f);
  using ::testing::HasSubstr;
  using axnn::test_util::error_of;
  EXPECT_THAT(error_of([&] {
                ax_linear_asym(x, w, {}, exact_unsigned_lut(), -one, one, -at::ones({3}),
                               at::ones({3}), kBits, "ste");
              }),
              HasSubstr("w min and max must both hold 1 or 2 values"));
  EXPECT_THAT(error_of([&] {
                ax_linear_asym(x, w, {}, exact_unsigned_lut(), one, -one, -one, one, kBits, "ste");
              }),
              HasSubstr("not a finite interval"));
}

}  // namespace
}  // namespace axnn::ops
