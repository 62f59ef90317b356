// The float-level approximate ops (ax_ops.h) as autograd functions, registered for
// CompositeImplicitAutograd so that every backend's LUT ops serve them and autograd records them.
//
// Forward: quantize both operands (src/quant), run the LUT op on the codes, dequantize as
// DESIGN.md section 2 writes it, y = acc / (sx * sw) + bias with s = qmax / amax (0 where an amax
// is 0, whose codes are all 0). Backward by the gradient mode:
//   ste, ste-clip  the exact fp32 op's backward on the saved inputs (clip: masked by |input| <=
//                  amax);
//   lut-grad       dy_o / dx_k = Dx[qx_k][qw_ok] / sw_o and dy_o / dw_ok = Dw[qx_k][qw_ok] / sx,
//                  with Dx, Dw the table's central differences along each operand's value. A conv
//                  is a linear on its im2col rows, a matmul one linear per batch slice.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/autograd.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "core/profile.h"
#include "ops/autograd/grad_common.h"
#include "ops/checks.h"
#include "ops/ax_ops.h"
#include "ops/lut_ops.h"
#include "quant/quantize.h"

namespace axnn::ops {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

void check_amax(const at::Tensor& amax, const char* name, int64_t channels) {
  TORCH_CHECK(at::isFloatingType(amax.scalar_type()), "axnn: ", name, " must be float");
  TORCH_CHECK(amax.numel() == 1 || amax.numel() == channels, "axnn: ", name, " must hold 1 or ",
              channels, " values, got ", amax.numel());
}

float qmax_of(int64_t bits) { return static_cast<float>((int64_t{1} << (bits - 1)) - 1); }

// s = qmax / amax in fp32, 0 where amax is 0.
at::Tensor scale_of(const at::Tensor& amax, int64_t bits) {
  const at::Tensor a = amax.to(at::kFloat);
  return at::where(a > 0, qmax_of(bits) / a, at::zeros_like(a));
}

// dequantize_acc's expression in one pass over a CPU int32 acc whose scales are one value or one
// per channel of `channel_dim` (the other dims of scales 1), written over acc's own storage: acc
// is the caller's temporary, and a new tensor would cost a page fault per 4 KB on first touch.
at::Tensor dequantize_acc_cpu(at::Tensor acc, const at::Tensor& scales, int64_t channel_dim) {
  if (!acc.is_contiguous()) acc = acc.contiguous();
  const at::Tensor s = scales.contiguous();
  const int64_t channels = s.numel();
  int64_t inner = 1;  // elements per channel block: acc[..., c, inner]
  for (int64_t d = channel_dim + 1; d < acc.dim(); ++d) inner *= acc.size(d);
  if (channels == 1) inner = acc.numel();
  const float* scale = s.data_ptr<float>();
  // Branch-free, so that it vectorizes: a scale that is not > 0 divides by +inf, and adding 0
  // turns the -0 of a negative sum into the 0 the expression gives (and changes nothing else:
  // a quotient of a nonzero int32 by a finite float is never 0).
  std::vector<float> divisor(static_cast<size_t>(channels));
  for (int64_t c = 0; c < channels; ++c) divisor[c] = scale[c] > 0 ? scale[c] : INFINITY;
  int32_t* data = acc.data_ptr<int32_t>();
  // One element in place: read as int32, written back as the float's bits.
  const auto dequantize = [](int32_t* p, float d) {
    const float f = static_cast<float>(*p) / d + 0.0f;
    std::memcpy(p, &f, sizeof f);
  };
  if (channels > 1 && inner == 1) {  // channels last: rows of `channels` elements
    at::parallel_for(0, acc.numel() / channels, 256, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r)
        for (int64_t c = 0; c < channels; ++c) dequantize(data + r * channels + c, divisor[c]);
    });
  } else {
    at::parallel_for(0, acc.numel(), 16384, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end;) {
        const int64_t block = i / inner, stop = std::min(end, (block + 1) * inner);
        const float d = divisor[block % channels];
        for (; i < stop; ++i) dequantize(data + i, d);
      }
    });
  }
  return at::from_blob(
      data, acc.sizes(), [keep = acc](void*) {}, acc.options().dtype(at::kFloat));
}

// acc / (sx sw) in fp32, 0 where the product of scales is 0. scales broadcasts against acc: one
// value, or one per channel of dim `channel_dim` of acc. Consumes acc (a CPU result may reuse its
// storage).
at::Tensor dequantize_acc(at::Tensor acc, const at::Tensor& scales, int64_t channel_dim) {
  const profile::StageScope timer("dequantize");
  if (acc.is_cpu() && acc.numel() > 0 && scales.scalar_type() == at::kFloat)
    return dequantize_acc_cpu(std::move(acc), scales, channel_dim);
  const at::Tensor f = acc.to(at::kFloat);
  return at::where(scales > 0, f / scales, at::zeros_like(f));
}

// What the three functions share: parsed arguments and the saved state of the forward.
struct Quantized {
  at::Tensor qx, qw, sx, sw;  // codes and scales
};

Quantized quantize_operands(const at::Tensor& x, const at::Tensor& x_amax, const at::Tensor& w,
                            const at::Tensor& w_amax_shaped, int64_t bits, bool narrow_range) {
  const profile::StageScope timer("quantize");
  return {quant::quantize_symmetric(x, x_amax.to(at::kFloat), static_cast<int>(bits), narrow_range),
          quant::quantize_symmetric(w, w_amax_shaped.to(at::kFloat), static_cast<int>(bits),
                                    narrow_range),
          scale_of(x_amax, bits), scale_of(w_amax_shaped, bits)};
}

at::Tensor clip_mask(const at::Tensor& v, const at::Tensor& amax) {
  return (v.abs() <= amax.to(v.scalar_type())).to(v.scalar_type());
}

// ---- linear

class AxLinearFunction : public torch::autograd::Function<AxLinearFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight,
                            const at::Tensor& lut, const at::Tensor& x_amax,
                            const at::Tensor& w_amax, int64_t bits, bool narrow_range,
                            int64_t mode) {
    const int64_t o = weight.size(0);
    const at::Tensor w_amax_col = w_amax.numel() == 1 ? w_amax.reshape({}) : w_amax.reshape({o, 1});
    const Quantized q =
        quantize_operands(x, x_amax.reshape({}), weight, w_amax_col, bits, narrow_range);
    at::Tensor acc = lut_matmul(q.qx, q.qw.t(), lut);
    ctx->save_for_backward({x, weight, lut, x_amax, w_amax_col, q.qx, q.qw, q.sx, q.sw});
    ctx->saved_data["bits"] = bits;
    ctx->saved_data["mode"] = mode;
    const int64_t last = acc.dim() - 1;
    return dequantize_acc(std::move(acc), q.sx * q.sw.reshape({-1}), last);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto s = ctx->get_saved_variables();
    const at::Tensor &x = s[0], &weight = s[1], &lut = s[2], &x_amax = s[3], &w_amax = s[4];
    const at::Tensor &qx = s[5], &qw = s[6], &sx = s[7], &sw = s[8];
    const int64_t bits = ctx->saved_data["bits"].toInt(), k = x.size(-1), o = weight.size(0);
    const auto mode = static_cast<GradMode>(ctx->saved_data["mode"].toInt());
    const at::Tensor g = grads[0].reshape({-1, o}), x2 = x.reshape({-1, k});
    at::Tensor dx, dw;
    if (mode == GradMode::kLutGrad) {
      std::tie(dx, dw) =
          lut_grad_rows(indices_of(qx.reshape({-1, k}), bits), indices_of(qw, bits), g,
                        lut_derivative(lut, bits, 0, true), lut_derivative(lut, bits, 1, true),
                        reciprocal_or_zero(sw).reshape({-1}).expand({o}), reciprocal_or_zero(sx));
    } else {
      dx = g.mm(weight);
      dw = g.t().mm(x2);
      if (mode == GradMode::kSteClip) {
        dx = dx * clip_mask(x2, x_amax);
        dw = dw * clip_mask(weight, w_amax);
      }
    }
    return {dx.reshape(x.sizes()), dw, {}, {}, {}, {}, {}, {}};
  }
};

// ---- matmul

class AxMatmulFunction : public torch::autograd::Function<AxMatmulFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& a, const at::Tensor& b,
                            const at::Tensor& lut, const at::Tensor& a_amax,
                            const at::Tensor& b_amax, int64_t bits, bool narrow_range,
                            int64_t mode) {
    const Quantized q =
        quantize_operands(a, a_amax.reshape({}), b, b_amax.reshape({}), bits, narrow_range);
    const at::Tensor y = dequantize_acc(lut_matmul(q.qx, q.qw, lut), q.sx * q.sw, 0);
    ctx->save_for_backward({a, b, lut, a_amax, b_amax, q.qx, q.qw, q.sx, q.sw});
    ctx->saved_data["bits"] = bits;
    ctx->saved_data["mode"] = mode;
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto s = ctx->get_saved_variables();
    const at::Tensor &a = s[0], &b = s[1], &lut = s[2], &a_amax = s[3], &b_amax = s[4];
    const at::Tensor &qa = s[5], &qb = s[6], &sa = s[7], &sb = s[8];
    const int64_t bits = ctx->saved_data["bits"].toInt();
    const auto mode = static_cast<GradMode>(ctx->saved_data["mode"].toInt());
    const at::Tensor& g = grads[0];
    if (mode != GradMode::kLutGrad) {
      auto [da, db] = exact_matmul_grads(g, a, b);
      if (mode == GradMode::kSteClip) {
        da = da * clip_mask(a, a_amax);
        db = db * clip_mask(b, b_amax);
      }
      return {da, db, {}, {}, {}, {}, {}, {}};
    }
    const auto [da, db] = matmul_lut_grad(
        indices_of(qa, bits), indices_of(qb, bits), g, lut_derivative(lut, bits, 0, true),
        lut_derivative(lut, bits, 1, true), reciprocal_or_zero(sb).expand({b.size(-1)}),
        reciprocal_or_zero(sa), {});
    return {da, db, {}, {}, {}, {}, {}, {}};
  }
};

// ---- conv2d

class AxConv2dFunction : public torch::autograd::Function<AxConv2dFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight,
                            const at::Tensor& lut, const at::Tensor& x_amax,
                            const at::Tensor& w_amax, at::IntArrayRef stride,
                            at::IntArrayRef padding, at::IntArrayRef dilation, int64_t groups,
                            int64_t bits, bool narrow_range, int64_t mode) {
    const int64_t o = weight.size(0);
    const at::Tensor w_amax_shaped =
        w_amax.numel() == 1 ? w_amax.reshape({}) : w_amax.reshape({o, 1, 1, 1});
    const Quantized q =
        quantize_operands(x, x_amax.reshape({}), weight, w_amax_shaped, bits, narrow_range);
    // Symmetric codes: 0.0 is code 0, the padding's code.
    const at::Tensor y = lut_conv2d_dequantized(
        q.qx, q.qw, lut, (q.sx * q.sw).reshape({-1}).expand({o}).contiguous(),
        {stride[0], stride[1]}, {padding[0], padding[1]}, {dilation[0], dilation[1]}, groups, 0);
    ctx->save_for_backward({x, weight, lut, x_amax, w_amax_shaped, q.qx, q.qw, q.sx, q.sw});
    ctx->saved_data["bits"] = bits;
    ctx->saved_data["mode"] = mode;
    ConvArgs{stride.vec(), padding.vec(), dilation.vec(), groups}.save(ctx);
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto s = ctx->get_saved_variables();
    const at::Tensor &x = s[0], &weight = s[1], &lut = s[2], &x_amax = s[3], &w_amax = s[4];
    const at::Tensor &qx = s[5], &qw = s[6], &sx = s[7], &sw = s[8];
    const int64_t bits = ctx->saved_data["bits"].toInt();
    const auto mode = static_cast<GradMode>(ctx->saved_data["mode"].toInt());
    const ConvArgs args = ConvArgs::load(ctx);
    const at::Tensor& g = grads[0];
    const int64_t o = weight.size(0);
    at::Tensor dx, dw;
    if (mode != GradMode::kLutGrad) {
      std::tie(dx, dw) = exact_conv_grads(g, x, weight, args);
      if (mode == GradMode::kSteClip) {
        dx = dx * clip_mask(x, x_amax);
        dw = dw * clip_mask(weight, w_amax);
      }
      return {dx, dw, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}};
    }
    // Padding reads index 0, the code of 0.0.
    std::tie(dx, dw) = conv_lut_grad(
        indices_of(qx, bits), indices_of(qw, bits), g, {weight.size(2), weight.size(3)},
        args.stride, args.padding, args.dilation, args.groups, lut_derivative(lut, bits, 0, true),
        lut_derivative(lut, bits, 1, true), reciprocal_or_zero(sw).reshape({-1}).expand({o}),
        reciprocal_or_zero(sx), {});
    return {dx, dw.reshape(weight.sizes()), {}, {}, {}, {}, {}, {}, {}, {}, {}, {}};
  }
};

at::Tensor ax_linear_impl(const at::Tensor& x, const at::Tensor& weight,
                          const c10::optional<at::Tensor>& bias, const at::Tensor& lut,
                          const at::Tensor& x_amax, const at::Tensor& w_amax, int64_t bits,
                          bool narrow_range, c10::string_view grad_mode) {
  TORCH_CHECK(weight.dim() == 2, "axnn: ax_linear: weight must be [O, K], got ", weight.sizes());
  TORCH_CHECK(x.dim() >= 1 && x.size(-1) == weight.size(1), "axnn: ax_linear: x ", x.sizes(),
              " does not end in K = ", weight.size(1));
  TORCH_CHECK(!bias || (bias->dim() == 1 && bias->size(0) == weight.size(0)),
              "axnn: ax_linear: bias must be [", weight.size(0), "]");
  check_lut(lut, bits);
  check_amax(x_amax, "x_amax", 1);
  check_amax(w_amax, "w_amax", weight.size(0));
  // The bias is added outside the function (exact fp32, its gradient the plain sum), since a
  // custom autograd function cannot take an undefined tensor.
  const at::Tensor y = AxLinearFunction::apply(x, weight, lut, x_amax, w_amax, bits, narrow_range,
                                               static_cast<int64_t>(parse_grad_mode(grad_mode)));
  // In place: the function's fresh output is not saved by it, and a new tensor would cost a pass
  // of page faults.
  return bias ? y.add_(*bias) : y;
}

at::Tensor ax_matmul_impl(const at::Tensor& a, const at::Tensor& b, const at::Tensor& lut,
                          const at::Tensor& a_amax, const at::Tensor& b_amax, int64_t bits,
                          bool narrow_range, c10::string_view grad_mode) {
  TORCH_CHECK(a.dim() >= 2 && b.dim() >= 2 && a.size(-1) == b.size(-2),
              "axnn: ax_matmul: a [..., M, K] ", a.sizes(), " and b [..., K, N] ", b.sizes(),
              " disagree");
  TORCH_CHECK(b.dim() == 2 || a.sizes().slice(0, a.dim() - 2) == b.sizes().slice(0, b.dim() - 2),
              "axnn: ax_matmul: a ", a.sizes(), " and b ", b.sizes(),
              " need the same leading dimensions (or b [K, N])");
  check_lut(lut, bits);
  check_amax(a_amax, "a_amax", 1);
  check_amax(b_amax, "b_amax", 1);
  return AxMatmulFunction::apply(a, b, lut, a_amax, b_amax, bits, narrow_range,
                                 static_cast<int64_t>(parse_grad_mode(grad_mode)));
}

at::Tensor ax_conv2d_impl(const at::Tensor& x, const at::Tensor& weight,
                          const c10::optional<at::Tensor>& bias, const at::Tensor& lut,
                          const at::Tensor& x_amax, const at::Tensor& w_amax,
                          at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation,
                          int64_t groups, int64_t bits, bool narrow_range,
                          c10::string_view grad_mode) {
  TORCH_CHECK(weight.dim() == 4, "axnn: ax_conv2d: weight must be [O, C / groups, KH, KW], got ",
              weight.sizes());
  TORCH_CHECK(!bias || (bias->dim() == 1 && bias->size(0) == weight.size(0)),
              "axnn: ax_conv2d: bias must be [", weight.size(0), "]");
  check_lut(lut, bits);
  check_amax(x_amax, "x_amax", 1);
  check_amax(w_amax, "w_amax", weight.size(0));
  const at::Tensor y =
      AxConv2dFunction::apply(x, weight, lut, x_amax, w_amax, stride, padding, dilation, groups,
                              bits, narrow_range, static_cast<int64_t>(parse_grad_mode(grad_mode)));
  return bias ? y.add_(bias->view({1, -1, 1, 1})) : y;  // in place, as ax_linear
}

// The int32 sums of lut_conv2d, then dequantize_acc: what backends without a fused kernel run.
at::Tensor lut_conv2d_dequantized_composite(const at::Tensor& x, const at::Tensor& w,
                                            const at::Tensor& lut, const at::Tensor& divisors,
                                            at::IntArrayRef stride, at::IntArrayRef padding,
                                            at::IntArrayRef dilation, int64_t groups,
                                            int64_t pad_code) {
  check_divisors(divisors, w);
  return dequantize_acc(lut_conv2d(x, w, lut, {stride[0], stride[1]}, {padding[0], padding[1]},
                                   {dilation[0], dilation[1]}, groups, pad_code),
                        divisors.view({1, -1, 1, 1}), 1);
}

}  // namespace

TORCH_LIBRARY_IMPL(axnn, CompositeExplicitAutograd, m) {
  m.impl("lut_conv2d_dequantized", lut_conv2d_dequantized_composite);
}

TORCH_LIBRARY_IMPL(axnn, CompositeImplicitAutograd, m) {
  m.impl("ax_linear", ax_linear_impl);
  m.impl("ax_matmul", ax_matmul_impl);
  m.impl("ax_conv2d", ax_conv2d_impl);
}

}  // namespace axnn::ops
