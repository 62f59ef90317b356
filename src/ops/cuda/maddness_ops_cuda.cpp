// CUDA impls of the MADDness encode / decode ops over the CUDA kernels (src/kernels/cuda/
// lut_cuda.h), on the current stream. The nearest-centroid encoder, learning and table
// quantization are registered for every backend in cpu/maddness_ops_cpu.cpp.
#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include "kernels/cuda/lut_cuda.h"
#include "kernels/maddness.h"
#include "ops/checks.h"

namespace axnn::ops {
namespace {

at::Tensor maddness_encode_cuda(const at::Tensor& x, const at::Tensor& split_dims,
                                const at::Tensor& thresholds) {
  const at::Tensor rows = float_rows(x, "maddness_encode");
  check_maddness_encode(rows, split_dims, thresholds);
  const c10::cuda::CUDAGuard guard(x.device());
  const at::Tensor dims = split_dims.contiguous(), thr = thresholds.contiguous();
  at::Tensor codes = at::empty({rows.size(0), dims.size(0)}, x.options().dtype(at::kByte));
  kernels::cuda::MaddnessEncodeArgs args;
  args.x = rows.data_ptr<float>();
  args.n = rows.size(0);
  args.d = rows.size(1);
  args.c = dims.size(0);
  args.depth = static_cast<int>(dims.size(1));
  args.split_dims = dims.data_ptr<int32_t>();
  args.thresholds = thr.data_ptr<float>();
  args.codes = codes.data_ptr<uint8_t>();
  args.stream = at::cuda::getCurrentCUDAStream().stream();
  if (args.n > 0) kernels::cuda::maddness_encode_cuda(args);
  return codes.view(codes_shape(x, args.c));
}

at::Tensor maddness_decode_cuda(const at::Tensor& codes, const at::Tensor& lut, int64_t average) {
  const int64_t k = check_maddness_decode(codes, lut);
  const c10::cuda::CUDAGuard guard(codes.device());
  const int64_t c = lut.size(0), m = lut.size(2);
  const at::Tensor rows = codes.reshape({-1, c}).contiguous();
  const int64_t n = rows.size(0);
  // The kernels' tables have 16 rows per codebook; rows past K are never read.
  const at::Tensor table =
      at::constant_pad_nd(lut, {0, 0, 0, kernels::kMaddnessLeaves - k}).contiguous();
  const bool fp32 = lut.scalar_type() == at::kFloat;
  at::Tensor out = at::empty({m, n}, codes.options().dtype(fp32 ? at::kFloat : at::kInt));
  kernels::cuda::MaddnessDecodeArgs args;
  args.codes = rows.data_ptr<uint8_t>();
  args.n = n;
  args.c = c;
  args.m = m;
  args.average_levels = static_cast<int>(average);
  if (fp32) {
    args.lut_fp32 = table.data_ptr<float>();
    args.dst_fp32 = out.data_ptr<float>();
  } else {
    args.lut_int8 = table.data_ptr<int8_t>();
    args.dst_int32 = out.data_ptr<int32_t>();
  }
  args.stream = at::cuda::getCurrentCUDAStream().stream();
  if (n > 0 && m > 0) kernels::cuda::maddness_decode_cuda(args);
  return maddness_decode_result(out, codes);
}

}  // namespace

TORCH_LIBRARY_IMPL(axnn, CUDA, m) {
  m.impl("maddness_encode", maddness_encode_cuda);
  m.impl("maddness_decode", maddness_decode_cuda);
}

}  // namespace axnn::ops
