// CPU impls of the MADDness ops: the encode / decode kernels (src/kernels/maddness.h) on the op's
// threads. The nearest-centroid encoder, the learning and the table quantization of src/amm run on
// the CPU whatever the tensors' device (registered for every backend, the results on the inputs'
// device): they are the rare or offline steps, and on the CPU they give the same bits everywhere.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <span>
#include <string>

#include "amm/maddness.h"
#include "kernels/maddness.h"
#include "ops/checks.h"

namespace axnn::ops {
namespace {

at::Tensor maddness_encode_cpu(const at::Tensor& x, const at::Tensor& split_dims,
                               const at::Tensor& thresholds) {
  const at::Tensor rows = float_rows(x, "maddness_encode");
  check_maddness_encode(rows, split_dims, thresholds);
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

at::Tensor maddness_encode_nearest_host(const at::Tensor& x, const at::Tensor& centroids) {
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
  model.prototypes = centroids.cpu().contiguous();
  return amm::encode(model, rows.cpu()).view(codes_shape(x, model.c)).to(x.device());
}

at::Tensor maddness_decode_cpu(const at::Tensor& codes, const at::Tensor& lut, int64_t average) {
  const int64_t k = check_maddness_decode(codes, lut);
  const int64_t c = lut.size(0), m = lut.size(2);
  const at::Tensor rows = codes.reshape({-1, c}).contiguous();
  const int64_t n = rows.size(0);
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
  return maddness_decode_result(out, codes);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> maddness_learn_host(const at::Tensor& a, int64_t c,
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
  const amm::Maddness model = amm::learn(a.cpu(), options);
  const auto on_device = [&](const at::Tensor& t) {
    return t.defined() ? t.to(a.device()) : at::empty({0}, a.options());
  };
  return {on_device(model.split_dims), on_device(model.thresholds), on_device(model.prototypes)};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> maddness_quantize_lut_host(const at::Tensor& lut) {
  const amm::QuantizedLut q = amm::quantize_lut(lut);  // on the host, the result on lut's device
  return {q.table, q.scale, q.offset};
}

}  // namespace

TORCH_LIBRARY_IMPL(axnn, CPU, m) {
  m.impl("maddness_encode", maddness_encode_cpu);
  m.impl("maddness_decode", maddness_decode_cpu);
}

TORCH_LIBRARY_IMPL(axnn, CompositeExplicitAutograd, m) {
  m.impl("maddness_encode_nearest", maddness_encode_nearest_host);
  m.impl("maddness_learn", maddness_learn_host);
  m.impl("maddness_quantize_lut", maddness_quantize_lut_host);
}

}  // namespace axnn::ops
