// The axnn torch ops on integer codes, callable from C++ (these functions go through the
// dispatcher, so they reach whichever backend the tensors live on) and, once libaxnn_ops.so is
// loaded, from Python as torch.ops.axnn.*. Schemas: schema.cpp; docs/ops.md documents them.
#pragma once

#include <ATen/core/Tensor.h>

#include <array>
#include <cstdint>

namespace axnn::ops {

// C[..., m, n] = sum_k lut[a[..., m, k]][b[k, n]]: a uint8/int8 codes [..., M, K], b codes
// [K, N] (or [..., K, N] with a's leading dimensions: one product per slice), lut int32
// [2^bits, 2^bits] indexed [a code][b code]; codes are raw bit patterns of which the low `bits`
// bits count. Returns int32 [..., M, N].
at::Tensor lut_matmul(const at::Tensor& a, const at::Tensor& b, const at::Tensor& lut);

// out[n, o, oh, ow] = sum over c, kh, kw of lut[x code][w code] (the activation first): x codes
// [N, C, H, W], w codes [O, C / groups, KH, KW], lut int32 [2^bits, 2^bits]. A padded input
// position reads `pad_code`, as hardware streaming the padded feature map would. Returns int32
// [N, O, OH, OW].
at::Tensor lut_conv2d(const at::Tensor& x, const at::Tensor& w, const at::Tensor& lut,
                      std::array<int64_t, 2> stride, std::array<int64_t, 2> padding,
                      std::array<int64_t, 2> dilation, int64_t groups, int64_t pad_code);

// lut_conv2d dequantized as the layers do (DESIGN.md section 2, y = acc / (sx sw)): fp32
// out[n][o][..] = acc[n][o][..] / divisors[o], 0 where divisors[o] is not > 0; divisors float
// [O]. On a CPU the sums are dequantized as the kernel scatters them, never stored as int32.
at::Tensor lut_conv2d_dequantized(const at::Tensor& x, const at::Tensor& w, const at::Tensor& lut,
                                  const at::Tensor& divisors, std::array<int64_t, 2> stride,
                                  std::array<int64_t, 2> padding, std::array<int64_t, 2> dilation,
                                  int64_t groups, int64_t pad_code);

}  // namespace axnn::ops
