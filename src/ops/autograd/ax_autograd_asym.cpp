// The asymmetric twins of the float-level ops (ax_ops.h: ax_linear_asym, ax_matmul_asym,
// ax_conv2d_asym), for unsigned multipliers, as DESIGN.md section 2 defines them: each operand is
// quantized from its range [min, max] (widened to contain 0) to codes 0..2^b-1 with scale s and
// zero point z, and a dot product of length K is
//   s_x s_w [sum lut[qx][qw] - z_w sum qx - z_x sum qw + K z_x z_w],
// the bracket exact in int64, scaled in double, rounded to fp32. A conv's zero padding is z_x, the
// code of 0.0. Backward by the gradient mode:
//   ste, ste-clip  the exact fp32 op's backward on the saved inputs (clip: masked where an input
//                  lies outside the range its quantizer represents);
//   lut-grad       dy/dx_k = s_w (Dx[qx_k][qw_k] - z_w) and dy/dw_k = s_x (Dw[qx_k][qw_k] - z_x),
//                  Dx, Dw the table's central differences over the unsigned codes.
#include <ATen/ATen.h>
#include <torch/autograd.h>
#include <torch/library.h>

#include <tuple>
#include <vector>

#include "ops/autograd/grad_common.h"
#include "ops/ax_ops.h"
#include "ops/lut_ops.h"
#include "core/profile.h"
#include "quant/quantize.h"

namespace axnn::ops {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// An operand's codes and quantizer; scale and zero point are float tensors shaped to broadcast
// against the operand (a scalar, or per output channel).
struct Operand {
  at::Tensor codes, scale, zero;
};

Operand quantize_operand(const at::Tensor& v, const at::Tensor& min, const at::Tensor& max,
                         int64_t bits) {
  const profile::StageScope timer("quantize");
  const quant::AsymmetricTensors p = quant::asymmetric_params(min, max, static_cast<int>(bits));
  return {quant::quantize_asymmetric(v, p, static_cast<int>(bits)), p.scale, p.zero_point};
}

// s_x s_w (acc - z_w sum_x - z_x sum_w + k z_x z_w); every argument broadcasts to acc's shape.
at::Tensor dequantize(const at::Tensor& acc, const at::Tensor& sum_x, const at::Tensor& sum_w,
                      const at::Tensor& sx, const at::Tensor& zx, const at::Tensor& sw,
                      const at::Tensor& zw, int64_t k) {
  const profile::StageScope timer("dequantize");
  const at::Tensor zx_i = zx.to(at::kLong), zw_i = zw.to(at::kLong);
  const at::Tensor exact = acc.to(at::kLong) - zw_i * sum_x - zx_i * sum_w + k * zx_i * zw_i;
  return (exact.to(at::kDouble) * (sx.to(at::kDouble) * sw.to(at::kDouble))).to(at::kFloat);
}

// 1 where v lies in the range the quantizer represents, [-z s, (2^bits - 1 - z) s].
at::Tensor clip_mask(const at::Tensor& v, const at::Tensor& scale, const at::Tensor& zero,
                     int64_t bits) {
  const double top = static_cast<double>((int64_t{1} << bits) - 1);
  return ((v >= -zero * scale) & (v <= (top - zero) * scale)).to(v.scalar_type());
}

void check_range(const at::Tensor& min, const at::Tensor& max, const char* name, int64_t channels) {
  TORCH_CHECK(at::isFloatingType(min.scalar_type()) && at::isFloatingType(max.scalar_type()),
              "axnn: ", name, " min and max must be float");
  TORCH_CHECK(min.numel() == max.numel() && (min.numel() == 1 || min.numel() == channels),
              "axnn: ", name, " min and max must both hold 1 or ", channels, " values, got ",
              min.sizes(), " and ", max.sizes());
}

// ---- linear

class AxLinearAsymFunction : public torch::autograd::Function<AxLinearAsymFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight,
                            const at::Tensor& lut, const at::Tensor& x_min, const at::Tensor& x_max,
                            const at::Tensor& w_min, const at::Tensor& w_max, int64_t bits,
                            int64_t mode) {
    const int64_t o = weight.size(0), k = weight.size(1);
    const auto channel = [&](const at::Tensor& t) {
      return t.numel() == 1 ? t.reshape({}) : t.reshape({o, 1});
    };
    const Operand qx = quantize_operand(x, x_min.reshape({}), x_max.reshape({}), bits);
    const Operand qw = quantize_operand(weight, channel(w_min), channel(w_max), bits);
    const at::Tensor acc = lut_matmul(qx.codes, qw.codes.t(), lut);  // [..., O]
    const at::Tensor sum_x = qx.codes.to(at::kLong).sum(-1, /*keepdim=*/true);
    const at::Tensor sum_w = qw.codes.to(at::kLong).sum(1);
    const at::Tensor y = dequantize(acc, sum_x, sum_w, qx.scale, qx.zero, qw.scale.reshape({-1}),
                                    qw.zero.reshape({-1}), k);
    ctx->save_for_backward(
        {x, weight, lut, qx.codes, qw.codes, qx.scale, qx.zero, qw.scale, qw.zero});
    ctx->saved_data["bits"] = bits;
    ctx->saved_data["mode"] = mode;
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto s = ctx->get_saved_variables();
    const at::Tensor &x = s[0], &weight = s[1], &lut = s[2], &qx = s[3], &qw = s[4];
    const at::Tensor &sx = s[5], &zx = s[6], &sw = s[7], &zw = s[8];
    const int64_t bits = ctx->saved_data["bits"].toInt(), k = x.size(-1), o = weight.size(0);
    const auto mode = static_cast<GradMode>(ctx->saved_data["mode"].toInt());
    const at::Tensor g = grads[0].reshape({-1, o}), x2 = x.reshape({-1, k});
    at::Tensor dx, dw;
    if (mode == GradMode::kLutGrad) {
      const at::Tensor sw_o = sw.reshape({-1}).expand({o}), zw_o = zw.reshape({-1}).expand({o});
      std::tie(dx, dw) = lut_grad_rows(indices_of(qx.reshape({-1, k}), bits), indices_of(qw, bits),
                                       g, lut_derivative(lut, bits, 0, false),
                                       lut_derivative(lut, bits, 1, false), sw_o, sx);
      dx = dx - (g * (sw_o * zw_o)).sum(1, /*keepdim=*/true);
      dw = dw - (sx * zx) * g.sum(0).unsqueeze(1);
    } else {
      dx = g.mm(weight);
      dw = g.t().mm(x2);
      if (mode == GradMode::kSteClip) {
        dx = dx * clip_mask(x2, sx, zx, bits);
        dw = dw * clip_mask(weight, sw, zw, bits);
      }
    }
    return {dx.reshape(x.sizes()), dw, {}, {}, {}, {}, {}, {}, {}};
  }
};

// ---- matmul

class AxMatmulAsymFunction : public torch::autograd::Function<AxMatmulAsymFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& a, const at::Tensor& b,
                            const at::Tensor& lut, const at::Tensor& a_min, const at::Tensor& a_max,
                            const at::Tensor& b_min, const at::Tensor& b_max, int64_t bits,
                            int64_t mode) {
    const Operand qa = quantize_operand(a, a_min.reshape({}), a_max.reshape({}), bits);
    const Operand qb = quantize_operand(b, b_min.reshape({}), b_max.reshape({}), bits);
    const at::Tensor acc = lut_matmul(qa.codes, qb.codes, lut);
    const at::Tensor sum_a = qa.codes.to(at::kLong).sum(-1, /*keepdim=*/true);  // [..., M, 1]
    const at::Tensor sum_b = qb.codes.to(at::kLong).sum(-2, /*keepdim=*/true);  // [..., 1, N]
    const at::Tensor y =
        dequantize(acc, sum_a, sum_b, qa.scale, qa.zero, qb.scale, qb.zero, a.size(-1));
    ctx->save_for_backward({a, b, lut, qa.codes, qb.codes, qa.scale, qa.zero, qb.scale, qb.zero});
    ctx->saved_data["bits"] = bits;
    ctx->saved_data["mode"] = mode;
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto s = ctx->get_saved_variables();
    const at::Tensor &a = s[0], &b = s[1], &lut = s[2], &qa = s[3], &qb = s[4];
    const at::Tensor &sa = s[5], &za = s[6], &sb = s[7], &zb = s[8];
    const int64_t bits = ctx->saved_data["bits"].toInt();
    const auto mode = static_cast<GradMode>(ctx->saved_data["mode"].toInt());
    const at::Tensor& g = grads[0];
    if (mode != GradMode::kLutGrad) {
      auto [da, db] = exact_matmul_grads(g, a, b);
      if (mode == GradMode::kSteClip) {
        da = da * clip_mask(a, sa, za, bits);
        db = db * clip_mask(b, sb, zb, bits);
      }
      return {da, db, {}, {}, {}, {}, {}, {}, {}};
    }
    const auto [da, db] = matmul_lut_grad(
        indices_of(qa, bits), indices_of(qb, bits), g, lut_derivative(lut, bits, 0, false),
        lut_derivative(lut, bits, 1, false), sb.expand({b.size(-1)}), sa,
        [&](at::Tensor& dai, at::Tensor& dbi, const at::Tensor& gi, int64_t, int64_t) {
          dai -= gi.sum(1, /*keepdim=*/true) * (sb * zb);
          dbi -= (sa * za) * gi.sum(0).unsqueeze(1);
        });
    return {da, db, {}, {}, {}, {}, {}, {}, {}};
  }
};

// ---- conv2d

class AxConv2dAsymFunction : public torch::autograd::Function<AxConv2dAsymFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight,
                            const at::Tensor& lut, const at::Tensor& x_min, const at::Tensor& x_max,
                            const at::Tensor& w_min, const at::Tensor& w_max,
                            at::IntArrayRef stride, at::IntArrayRef padding,
                            at::IntArrayRef dilation, int64_t groups, int64_t bits, int64_t mode) {
    const int64_t o = weight.size(0), kh = weight.size(2), kw = weight.size(3);
    const auto channel = [&](const at::Tensor& t) {
      return t.numel() == 1 ? t.reshape({}) : t.reshape({o, 1, 1, 1});
    };
    const Operand qx = quantize_operand(x, x_min.reshape({}), x_max.reshape({}), bits);
    const Operand qw = quantize_operand(weight, channel(w_min), channel(w_max), bits);
    const int64_t zx = qx.zero.item<int64_t>();
    const at::Tensor acc =
        lut_conv2d(qx.codes, qw.codes, lut, {stride[0], stride[1]}, {padding[0], padding[1]},
                   {dilation[0], dilation[1]}, groups, zx);
    // sum qx over each window, padding included (code z_x), per group: [N, groups, OH, OW].
    const at::Tensor padded = at::constant_pad_nd(qx.codes.to(at::kDouble),
                                                  {padding[1], padding[1], padding[0], padding[0]},
                                                  static_cast<double>(zx));
    const at::Tensor window_sums =
        at::conv2d(padded, at::ones({groups, weight.size(1), kh, kw}, padded.options()),
                   c10::nullopt, stride, at::IntArrayRef{0, 0}, dilation, groups)
            .to(at::kLong)
            .repeat_interleave(o / groups, 1);
    const at::Tensor sum_w = qw.codes.to(at::kLong).sum({1, 2, 3}).view({1, o, 1, 1});
    const at::Tensor y =
        dequantize(acc, window_sums, sum_w, qx.scale, qx.zero, qw.scale.reshape({1, -1, 1, 1}),
                   qw.zero.reshape({1, -1, 1, 1}), weight.size(1) * kh * kw);
    ctx->save_for_backward(
        {x, weight, lut, qx.codes, qw.codes, qx.scale, qx.zero, qw.scale, qw.zero});
    ctx->saved_data["bits"] = bits;
    ctx->saved_data["mode"] = mode;
    ConvArgs{stride.vec(), padding.vec(), dilation.vec(), groups}.save(ctx);
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto s = ctx->get_saved_variables();
    const at::Tensor &x = s[0], &weight = s[1], &lut = s[2], &qx = s[3], &qw = s[4];
    const at::Tensor &sx = s[5], &zx = s[6], &sw = s[7], &zw = s[8];
    const int64_t bits = ctx->saved_data["bits"].toInt();
    const auto mode = static_cast<GradMode>(ctx->saved_data["mode"].toInt());
    const ConvArgs args = ConvArgs::load(ctx);
    const at::Tensor& g = grads[0];
    const int64_t o = weight.size(0);
    at::Tensor dx, dw;
    if (mode != GradMode::kLutGrad) {
      std::tie(dx, dw) = exact_conv_grads(g, x, weight, args);
      if (mode == GradMode::kSteClip) {
        dx = dx * clip_mask(x, sx, zx, bits);
        dw = dw * clip_mask(weight, sw, zw, bits);
      }
      return {dx, dw, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}};
    }
    // Padding reads z_x: pad the indices explicitly, take the gradient of the padded input and
    // drop its border.
    const int64_t ph = args.padding[0], pw = args.padding[1];
    const at::Tensor ix = at::constant_pad_nd(indices_of(qx, bits), {pw, pw, ph, ph},
                                              static_cast<double>(zx.item<int64_t>()));
    const at::Tensor sw_o = sw.reshape({-1}).expand({o}), zw_o = zw.reshape({-1}).expand({o});
    std::tie(dx, dw) = conv_lut_grad(
        ix, indices_of(qw, bits), g, {weight.size(2), weight.size(3)}, args.stride, {0, 0},
        args.dilation, args.groups, lut_derivative(lut, bits, 0, false),
        lut_derivative(lut, bits, 1, false), sw_o, sx,
        [&](at::Tensor& drows, at::Tensor& dwg, const at::Tensor& grows, int64_t o0, int64_t o1) {
          drows -= (grows * (sw_o * zw_o).slice(0, o0, o1)).sum(1, /*keepdim=*/true);
          dwg -= (sx * zx) * grows.sum(0).unsqueeze(1);
        });
    dx = dx.slice(2, ph, ph + x.size(2)).slice(3, pw, pw + x.size(3));
    return {dx, dw.reshape(weight.sizes()), {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}};
  }
};

at::Tensor ax_linear_asym_impl(const at::Tensor& x, const at::Tensor& weight,
                               const c10::optional<at::Tensor>& bias, const at::Tensor& lut,
                               const at::Tensor& x_min, const at::Tensor& x_max,
                               const at::Tensor& w_min, const at::Tensor& w_max, int64_t bits,
                               c10::string_view grad_mode) {
  TORCH_CHECK(weight.dim() == 2, "axnn: ax_linear_asym: weight must be [O, K], got ",
              weight.sizes());
  TORCH_CHECK(x.dim() >= 1 && x.size(-1) == weight.size(1), "axnn: ax_linear_asym: x ", x.sizes(),
              " does not end in K = ", weight.size(1));
  TORCH_CHECK(!bias || (bias->dim() == 1 && bias->size(0) == weight.size(0)),
              "axnn: ax_linear_asym: bias must be [", weight.size(0), "]");
  check_lut(lut, bits);
  check_range(x_min, x_max, "x", 1);
  check_range(w_min, w_max, "w", weight.size(0));
  const at::Tensor y =
      AxLinearAsymFunction::apply(x, weight, lut, x_min, x_max, w_min, w_max, bits,
                                  static_cast<int64_t>(parse_grad_mode(grad_mode)));
  // In place: the function's fresh output is not saved by it, and a new tensor would cost a pass
  // of page faults.
  return bias ? y.add_(*bias) : y;
}

at::Tensor ax_matmul_asym_impl(const at::Tensor& a, const at::Tensor& b, const at::Tensor& lut,
                               const at::Tensor& a_min, const at::Tensor& a_max,
                               const at::Tensor& b_min, const at::Tensor& b_max, int64_t bits,
                               c10::string_view grad_mode) {
  TORCH_CHECK(a.dim() >= 2 && b.dim() >= 2 && a.size(-1) == b.size(-2),
              "axnn: ax_matmul_asym: a [..., M, K] ", a.sizes(), " and b [..., K, N] ", b.sizes(),
              " disagree");
  TORCH_CHECK(b.dim() == 2 || a.sizes().slice(0, a.dim() - 2) == b.sizes().slice(0, b.dim() - 2),
              "axnn: ax_matmul_asym: a ", a.sizes(), " and b ", b.sizes(),
              " need the same leading dimensions (or b [K, N])");
  check_lut(lut, bits);
  check_range(a_min, a_max, "a", 1);
  check_range(b_min, b_max, "b", 1);
  return AxMatmulAsymFunction::apply(a, b, lut, a_min, a_max, b_min, b_max, bits,
                                     static_cast<int64_t>(parse_grad_mode(grad_mode)));
}

at::Tensor ax_conv2d_asym_impl(const at::Tensor& x, const at::Tensor& weight,
                               const c10::optional<at::Tensor>& bias, const at::Tensor& lut,
                               const at::Tensor& x_min, const at::Tensor& x_max,
                               const at::Tensor& w_min, const at::Tensor& w_max,
                               at::IntArrayRef stride, at::IntArrayRef padding,
                               at::IntArrayRef dilation, int64_t groups, int64_t bits,
                               c10::string_view grad_mode) {
  TORCH_CHECK(weight.dim() == 4,
              "axnn: ax_conv2d_asym: weight must be [O, C / groups, KH, KW], got ", weight.sizes());
  TORCH_CHECK(!bias || (bias->dim() == 1 && bias->size(0) == weight.size(0)),
              "axnn: ax_conv2d_asym: bias must be [", weight.size(0), "]");
  check_lut(lut, bits);
  check_range(x_min, x_max, "x", 1);
  check_range(w_min, w_max, "w", weight.size(0));
  const at::Tensor y = AxConv2dAsymFunction::apply(
      x, weight, lut, x_min, x_max, w_min, w_max, stride, padding, dilation, groups, bits,
      static_cast<int64_t>(parse_grad_mode(grad_mode)));
  return bias ? y.add_(bias->view({1, -1, 1, 1})) : y;  // in place, as ax_linear
}

}  // namespace

TORCH_LIBRARY_IMPL(axnn, CompositeImplicitAutograd, m) {
  m.impl("ax_linear_asym", ax_linear_asym_impl);
  m.impl("ax_matmul_asym", ax_matmul_asym_impl);
  m.impl("ax_conv2d_asym", ax_conv2d_asym_impl);
}

}  // namespace axnn::ops
