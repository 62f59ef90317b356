// The float-level approximate ops the modules use: for signed multipliers, symmetric quantization of both operands (as
// DESIGN.md section 2: per-tensor activations, per-channel or per-tensor weights), the LUT ops on
// the codes, dequantization, and autograd by one of three gradient modes:
//   ste       backward of the exact fp32 op on the saved fp32 inputs (TransAxx-compatible)
//   ste-clip  the same, zero where an input lies beyond its amax
//   lut-grad  the partial derivatives of the table (central differences, one-sided at the ends)
//             at the operands' codes, scaled by the quantization scales
// These go through the dispatcher, so Python reaches them as torch.ops.axnn.ax_*.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/util/Optional.h>
#include <c10/util/string_view.h>

#include <array>
#include <cstdint>

namespace axnn::ops {

// y[..., o] = sum_k lut[qx[..., k]][qw[o, k]] / ((qmax / x_amax) (qmax / w_amax[o])) + bias[o].
// x [..., K], weight [O, K], bias [O] or none, lut int32 [2^bits, 2^bits] (signed codes),
// x_amax a scalar, w_amax [O] or a scalar.
at::Tensor ax_linear(const at::Tensor& x, const at::Tensor& weight,
                     const c10::optional<at::Tensor>& bias, const at::Tensor& lut,
                     const at::Tensor& x_amax, const at::Tensor& w_amax, int64_t bits,
                     bool narrow_range, c10::string_view grad_mode);

// The product a @ b of two activations (attention's Q K^T and A V): a [..., M, K], b [..., K, N]
// with the same leading dimensions (or b [K, N]), both quantized per tensor.
at::Tensor ax_matmul(const at::Tensor& a, const at::Tensor& b, const at::Tensor& lut,
                     const at::Tensor& a_amax, const at::Tensor& b_amax, int64_t bits,
                     bool narrow_range, c10::string_view grad_mode);

// conv2d with the codes of x and weight [O, C / groups, KH, KW]; zero padding is the code of
// 0.0 and goes through the multiplier.
at::Tensor ax_conv2d(const at::Tensor& x, const at::Tensor& weight,
                     const c10::optional<at::Tensor>& bias, const at::Tensor& lut,
                     const at::Tensor& x_amax, const at::Tensor& w_amax,
                     std::array<int64_t, 2> stride, std::array<int64_t, 2> padding,
                     std::array<int64_t, 2> dilation, int64_t groups, int64_t bits,
                     bool narrow_range, c10::string_view grad_mode);

// The asymmetric twins, for unsigned multipliers (DESIGN.md section 2): each operand quantized
// from its range [min, max] (widened to contain 0) to codes 0..2^bits-1 with scale s and zero
// point z; y = s_x s_w [sum lut[qx][qw] - z_w sum qx - z_x sum qw + K z_x z_w] (+ bias), the
// bracket exact. Ranges are 0-dim (or 1-element) float tensors; w_min / w_max may hold one value
// per output channel. A conv's zero padding is z_x, the code of 0.0.
at::Tensor ax_linear_asym(const at::Tensor& x, const at::Tensor& weight,
                          const c10::optional<at::Tensor>& bias, const at::Tensor& lut,
                          const at::Tensor& x_min, const at::Tensor& x_max,
                          const at::Tensor& w_min, const at::Tensor& w_max, int64_t bits,
                          c10::string_view grad_mode);
at::Tensor ax_matmul_asym(const at::Tensor& a, const at::Tensor& b, const at::Tensor& lut,
                          const at::Tensor& a_min, const at::Tensor& a_max,
                          const at::Tensor& b_min, const at::Tensor& b_max, int64_t bits,
                          c10::string_view grad_mode);
at::Tensor ax_conv2d_asym(const at::Tensor& x, const at::Tensor& weight,
                          const c10::optional<at::Tensor>& bias, const at::Tensor& lut,
                          const at::Tensor& x_min, const at::Tensor& x_max,
                          const at::Tensor& w_min, const at::Tensor& w_max,
                          std::array<int64_t, 2> stride, std::array<int64_t, 2> padding,
                          std::array<int64_t, 2> dilation, int64_t groups, int64_t bits,
                          c10::string_view grad_mode);

}  // namespace axnn::ops
