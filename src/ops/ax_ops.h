// The float-level approximate ops the modules use: symmetric quantization of both operands (as
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

}  // namespace axnn::ops
