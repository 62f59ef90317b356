// The argument checks and shapes that every backend's impl of an op shares (cpu/, cuda/), so an
// op says the same thing about a bad argument whichever device its tensors are on.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <initializer_list>
#include <utility>
#include <vector>

namespace axnn::ops {

// The width b of a 2^b x 2^b int32 table.
int lut_bits(const at::Tensor& lut);

// uint8 or int8 codes, read as raw bit patterns.
void check_codes(const at::Tensor& t, const char* name);

// Every tensor of an op on `first`'s device, naming the one that is not.
void check_same_device(const char* op, const at::Tensor& first,
                       std::initializer_list<std::pair<const char*, const at::Tensor*>> others);

// lut_matmul's operands checked; returns the table width and the output's shape.
struct LutMatmulShape {
  int bits;
  int64_t m, k, n;
  std::vector<int64_t> out_sizes;
};
LutMatmulShape check_lut_matmul(const at::Tensor& a, const at::Tensor& b, const at::Tensor& lut);

// lut_conv2d's operands and geometry checked; returns the table width and the output's size.
struct LutConv2dShape {
  int bits;
  int64_t out_height, out_width;
};
LutConv2dShape check_lut_conv2d(const at::Tensor& x, const at::Tensor& w, const at::Tensor& lut,
                                at::IntArrayRef stride, at::IntArrayRef padding,
                                at::IntArrayRef dilation, int64_t groups, int64_t pad_code);

// lut_conv2d_dequantized's divisors: float [O], O the output channels of w, on w's device.
void check_divisors(const at::Tensor& divisors, const at::Tensor& w);

// x [..., D] as contiguous float rows [N, D].
at::Tensor float_rows(const at::Tensor& x, const char* op);
// The codes' shape: x's with the last dimension c.
std::vector<int64_t> codes_shape(const at::Tensor& x, int64_t c);
void check_maddness_encode(const at::Tensor& rows, const at::Tensor& split_dims,
                           const at::Tensor& thresholds);
// codes [..., C] and lut [C, K <= 16, M]; returns K.
int64_t check_maddness_decode(const at::Tensor& codes, const at::Tensor& lut);
// The decoded [M, N] as the op returns it: [..., M] with the codes' leading dimensions.
at::Tensor maddness_decode_result(const at::Tensor& out, const at::Tensor& codes);

}  // namespace axnn::ops
