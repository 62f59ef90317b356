// The axnn torch ops of MADDness (kernels/maddness.h, amm/maddness.h), callable from C++ through
// the dispatcher and from Python as torch.ops.axnn.*. Schemas: schema.cpp; docs/ops.md.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <tuple>

namespace axnn::ops {

// Codes of rows x float [..., D] under hash trees split_dims int32 [C, depth] and thresholds
// float [C, 2^depth - 1] (the kernels' heap order): uint8 [..., C].
at::Tensor maddness_encode(const at::Tensor& x, const at::Tensor& split_dims,
                           const at::Tensor& thresholds);

// Codes of rows x float [..., D] as the nearest of K centroids float [C, K, D] per column group
// (amm::group_bounds; centroids are zero outside their group): uint8 [..., C].
at::Tensor maddness_encode_nearest(const at::Tensor& x, const at::Tensor& centroids);

// out[..., m] = sum_c lut[c][codes[..., c]][m] for codes uint8 [..., C] and lut [C, K, M] (K <=
// 16): int8 lut -> int32 exact sums (or with average > 0 the averaging trick's estimate), float lut
// -> float sums in codebook order. Returns [..., M].
at::Tensor maddness_decode(const at::Tensor& codes, const at::Tensor& lut, int64_t average);

// amm::learn on rows a float [N, D]: (split_dims, thresholds, prototypes); split_dims and
// thresholds are empty for encoder "pq".
std::tuple<at::Tensor, at::Tensor, at::Tensor> maddness_learn(const at::Tensor& a, int64_t c,
                                                              int64_t k, const std::string& encoder,
                                                              double ridge_lambda, int64_t seed);

// amm::quantize_lut: (table int8 [C, K, M], scale float [M], offset float [M]).
std::tuple<at::Tensor, at::Tensor, at::Tensor> maddness_quantize_lut(const at::Tensor& lut);

}  // namespace axnn::ops
