// CPU impls of the MADDness ops: the encode / decode kernels (src/kernels/maddness.h) on the op's
// threads, and the learning and table quantization of src/amm.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <span>
#include <string>

#include "amm/maddness.h"
#include "kernels/maddness.h"

namespace axnn::ops {
namespace {

// x [..., D] as contiguous float rows [N, D].
at::Tensor float_rows(const at::Tensor& x, const char* op) {
  TORCH_CHECK(x.scalar_type() == at::kFloat && x.device().is_cpu() && x.dim() >= 1, "axnn: ", op,
              ": x must be a float CPU tensor [..., D], got ", x.scalar_type(), " ", x.sizes());
  return x.reshape({-1, x.size(-1)}).contiguous();
}

// The codes' shape: x's with the last dimension c.
std::vector<int64_t> codes_shape(const at::Tensor& x, int64_t c) {
  std::vector<int64_t> sizes(x.sizes().begin(), x.sizes().end());
  sizes.back() = c;
  return sizes;
}

at::Tensor maddness_encode_cpu(const at::Tensor& x, const at::Tensor& split_dims,
                               const at::Tensor& thresholds) {
  const at::Tensor rows = float_rows(x, "maddness_encode");
  TORCH_CHECK(split_dims.scalar_type() == at::kInt && split_dims.dim() == 2,
              "axnn: maddness_encode: split_dims must be int32 [C, depth], got ",
              split_dims.scalar_type(), " ", split_dims.sizes());
  TORCH_CHECK(
      thresholds.scalar_type() == at::kFloat && thresholds.dim() == 2 &&
          thresholds.size(0) == split_dims.size(0),
      "axnn: maddness_encode: thresholds must be float [C, 2^depth - 1] with split_dims' C, "
      "got ",
      thresholds.scalar_type(), " ", thresholds.sizes());
  const at::Tensor dims = split_dims.contiguous();
  const at::Tensor thr = thresholds.contiguous();
  const int64_t c = dims.size(0);
  kernels::MaddnessEncoderDesc desc;
  desc.d = rows.size(1);
  desc.c = c;
  desc.depth = static_cast<int>(dims.size(1));
  desc.split_dims = {dims.data_ptr<int32_t>(), static_cast<size_t>(dims.numel())};
  desc.thresholds = {thr.data_ptr<float>(), static_cast<size_t>(thr.numel())};
  const auto encoder = kernels::MaddnessEncoder::create(desc);
  at::Tensor codes = at::empty({rows.size(0), c}, x.options().dtype(at::kByte));
  if (rows.size(0) > 0)
    encoder.run(rows.data_ptr<float>(), rows.size(0), codes.data_ptr<uint8_t>(), 0, 0,
                at::get_num_threads());
  return codes.view(codes_shape(x, c));
}

at::Tensor maddness_encode_nearest_cpu(const at::Tensor& x, const at::Tensor& centroids) {
  const at::Tensor rows = float_rows(x, "maddness_encode_nearest");
  TORCH_CHECK(centroids.scalar_type() == at::kFloat && centroids.dim() == 3 &&
                  centroids.size(2) == rows.size(1),
              "axnn: maddness_encode_nearest: centroids must be float [C, K, D] with x's D = ",
              rows.size(1), ", got ", centroids.scalar_type(), " ", centroids.sizes());
  amm::Maddness model;
  model.encoder = amm::Encoder::kKMeans;
  model.d = rows.size(1);
  model.c = centroids.size(0);
  model.k = centroids.size(1);
  model.prototypes = centroids.contiguous();
  return amm::encode(model, rows).view(codes_shape(x, model.c));
}

at::Tensor maddness_decode_cpu(const at::Tensor& codes, const at::Tensor& lut, int64_t average) {
  TORCH_CHECK(codes.scalar_type() == at::kByte && codes.device().is_cpu() && codes.dim() >= 1,
              "axnn: maddness_decode: codes must be a uint8 CPU tensor [..., C], got ",
              codes.scalar_type(), " ", codes.sizes());
  TORCH_CHECK((lut.scalar_type() == at::kChar || lut.scalar_type() == at::kFloat) &&
                  lut.dim() == 3 && lut.size(1) >= 1 && lut.size(1) <= kernels::kMaddnessLeaves &&
                  lut.size(0) == codes.size(-1),
              "axnn: maddness_decode: lut must be int8 or float [C, K <= 16, M] with the codes' C "
              "= ",
              codes.size(-1), ", got ", lut.scalar_type(), " ", lut.sizes());
  const int64_t c = lut.size(0), k = lut.size(1), m = lut.size(2);
  const at::Tensor rows = codes.reshape({-1, c}).contiguous();
  const int64_t n = rows.size(0);
  TORCH_CHECK(n == 0 || rows.max().item<int64_t>() < k,
              "axnn: maddness_decode: a code is >= K = ", k);
  // The kernels' tables have 16 rows per codebook; rows past K are never read.
  const at::Tensor table =
      at::constant_pad_nd(lut, {0, 0, 0, kernels::kMaddnessLeaves - k}).contiguous();
  kernels::MaddnessDecoderDesc desc;
  desc.c = c;
  desc.m = m;
  desc.average_levels = static_cast<int>(average);
  const bool fp32 = lut.scalar_type() == at::kFloat;
  if (fp32)
    desc.lut_fp32 = {table.data_ptr<float>(), static_cast<size_t>(table.numel())};
  else
    desc.lut_int8 = {table.data_ptr<int8_t>(), static_cast<size_t>(table.numel())};
  const auto decoder = kernels::MaddnessDecoder::create(desc);
  at::Tensor out = at::empty({m, n}, codes.options().dtype(fp32 ? at::kFloat : at::kInt));
  if (n > 0 && m > 0) {
    const uint8_t* src = rows.data_ptr<uint8_t>();
    if (fp32)
      decoder.run(src, n, out.data_ptr<float>(), c, n, at::get_num_threads());
    else
      decoder.run(src, n, out.data_ptr<int32_t>(), c, n, at::get_num_threads());
  }
  std::vector<int64_t> sizes(codes.sizes().begin(), codes.sizes().end());
  sizes.back() = m;
  return codes.dim() == 2 ? out.t() : out.t().reshape(sizes);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> maddness_learn_cpu(const at::Tensor& a, int64_t c,
                                                                  int64_t k,
                                                                  c10::string_view encoder,
                                                                  double ridge_lambda,
                                                                  int64_t seed) {
  amm::LearnOptions options;
  options.c = c;
  options.k = k;
  options.encoder = amm::parse_encoder(std::string(encoder));
  options.ridge_lambda = ridge_lambda;
  options.seed = static_cast<uint64_t>(seed);
  const amm::Maddness model = amm::learn(a, options);
  const auto empty = [&] { return at::empty({0}, a.options()); };
  return {model.split_dims.defined() ? model.split_dims : empty(),
          model.thresholds.defined() ? model.thresholds : empty(), model.prototypes};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> maddness_quantize_lut_cpu(const at::Tensor& lut) {
  const amm::QuantizedLut q = amm::quantize_lut(lut);
  return {q.table, q.scale, q.offset};
}

}  // namespace

TORCH_LIBRARY_IMPL(axnn, CPU, m) {
  m.impl("maddness_encode", maddness_encode_cpu);
  m.impl("maddness_encode_nearest", maddness_encode_nearest_cpu);
  m.impl("maddness_decode", maddness_decode_cpu);
  m.impl("maddness_learn", maddness_learn_cpu);
  m.impl("maddness_quantize_lut", maddness_quantize_lut_cpu);
}

}  // namespace axnn::ops
