// Quantizers, exactly as DESIGN.md section 2 defines them.
//
// Symmetric (signed multipliers): qmax = 2^(b-1) - 1, qmin = -qmax (narrow range) or -2^(b-1);
// code = clamp(round_half_even(x * (qmax / amax)), qmin, qmax) in fp32, amax = 0 giving code 0.
// The codes are returned as int8 values: their low b bits are the b-bit two's complement code the
// LUT ops read.
//
// Asymmetric (unsigned multipliers): s = (max - min) / (2^b - 1), z = clamp(round(-min / s), 0,
// 2^b - 1), code = clamp(round(x / s) + z, 0, 2^b - 1), as uint8. The range is widened to contain
// 0, so that 0.0 (zero padding, ReLU zeros) has the exact code z.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <utility>

namespace axnn::quant {

struct SymmetricRange {
  int64_t qmin;
  int64_t qmax;
};
// The code range of a b-bit symmetric quantizer (bits 2..8).
SymmetricRange symmetric_range(int bits, bool narrow_range);

// x float; amax a float tensor broadcastable to x (a scalar, or per output channel shaped
// [C, 1, ...]), every entry >= 0. Returns int8 codes shaped like x.
at::Tensor quantize_symmetric(const at::Tensor& x, const at::Tensor& amax, int bits,
                              bool narrow_range = true);

// The float value of symmetric codes: code * amax / qmax.
at::Tensor dequantize_symmetric(const at::Tensor& codes, const at::Tensor& amax, int bits);

// max |x| per slice along `axis` (per channel), shaped to broadcast against x: [C, 1, ...] for
// axis 0. Per tensor when axis is negative: a 0-dim tensor.
at::Tensor amax_of(const at::Tensor& x, int64_t axis = -1);

struct AsymmetricParams {
  double scale;
  int64_t zero_point;
};
// From an observed [min, max] (widened to contain 0). A range of only 0 gives scale 1, code 0.
AsymmetricParams asymmetric_params(double min, double max, int bits);

// uint8 codes of x.
at::Tensor quantize_asymmetric(const at::Tensor& x, const AsymmetricParams& params, int bits);

// The same per channel: params of each range [min[i], max[i]] (as asymmetric_params computes
// them), as float tensors shaped like min on its device, to broadcast against x.
struct AsymmetricTensors {
  at::Tensor scale;       // float(s)
  at::Tensor zero_point;  // float(z)
};
AsymmetricTensors asymmetric_params(const at::Tensor& min, const at::Tensor& max, int bits);
at::Tensor quantize_asymmetric(const at::Tensor& x, const AsymmetricTensors& params, int bits);

// (min, max) per slice along `axis`, shaped as amax_of shapes its result.
std::pair<at::Tensor, at::Tensor> min_max_of(const at::Tensor& x, int64_t axis = -1);

// The float value of asymmetric codes: (code - z) * s.
at::Tensor dequantize_asymmetric(const at::Tensor& codes, const AsymmetricParams& params);

}  // namespace axnn::quant
