// CUDA impls of the axnn ops on codes, over the CUDA kernels (src/kernels/cuda/lut_cuda.h), on
// the current stream of the tensors' device. lut_matmul is one batched LUT-GEMM launch (the slices
// of a against a shared b as one tall product); lut_conv2d one implicit-GEMM launch for the whole
// batch. The kernels pick the table's shared-memory storage from its extreme entries, read here.
#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include "kernels/cuda/lut_cuda.h"
#include "ops/checks.h"

namespace axnn::ops {
namespace {

const uint8_t* code_data(const at::Tensor& t) { return static_cast<const uint8_t*>(t.data_ptr()); }

// The table's smallest and largest entries (one small copy to the host).
std::pair<int32_t, int32_t> table_range(const at::Tensor& table) {
  const auto [lo, hi] = at::aminmax(table);
  const at::Tensor both = at::stack({lo, hi}).cpu();
  return {both[0].item<int32_t>(), both[1].item<int32_t>()};
}

at::Tensor lut_matmul_cuda(const at::Tensor& a, const at::Tensor& b, const at::Tensor& lut) {
  const LutMatmulShape shape = check_lut_matmul(a, b, lut);
  const c10::cuda::CUDAGuard guard(a.device());
  at::Tensor out = at::zeros(shape.out_sizes, a.options().dtype(at::kInt));
  if (out.numel() == 0 || shape.k == 0) return out;
  const at::Tensor a_c = a.contiguous(), b_c = b.contiguous(), table = lut.contiguous();
  kernels::cuda::LutGemmArgs args;
  args.table = table.data_ptr<int32_t>();
  args.bits = shape.bits;
  std::tie(args.table_min, args.table_max) = table_range(table);
  args.a = code_data(a_c);
  args.b = code_data(b_c);
  args.c = out.data_ptr<int32_t>();
  args.k = shape.k;
  args.n = shape.n;
  if (b.dim() == 2) {
    args.m = a.numel() / shape.k;  // every slice's rows against the one b
  } else {
    args.m = shape.m;
    args.batch = a.numel() / (shape.m * shape.k);
    args.batch_stride_a = shape.m * shape.k;
    args.batch_stride_b = shape.k * shape.n;
    args.batch_stride_c = shape.m * shape.n;
  }
  args.stream = at::cuda::getCurrentCUDAStream().stream();
  kernels::cuda::lut_gemm_cuda(args);
  return out;
}

at::Tensor lut_conv2d_cuda(const at::Tensor& x, const at::Tensor& w, const at::Tensor& lut,
                           at::IntArrayRef stride, at::IntArrayRef padding,
                           at::IntArrayRef dilation, int64_t groups, int64_t pad_code) {
  const LutConv2dShape shape =
      check_lut_conv2d(x, w, lut, stride, padding, dilation, groups, pad_code);
  const c10::cuda::CUDAGuard guard(x.device());
  at::Tensor out = at::zeros({x.size(0), w.size(0), shape.out_height, shape.out_width},
                             x.options().dtype(at::kInt));
  if (out.numel() == 0 || w.numel() == 0) return out;
  const at::Tensor x_c = x.contiguous(), w_c = w.contiguous();
  // The kernel reads the table by the weight code first: lut[x][w] transposed.
  const at::Tensor table = lut.t().contiguous();
  kernels::cuda::LutConv2dArgs args;
  args.batch = x.size(0), args.channels = x.size(1), args.height = x.size(2);
  args.width = x.size(3);
  args.out_channels = w.size(0), args.kh = w.size(2), args.kw = w.size(3), args.groups = groups;
  args.stride_h = stride[0], args.stride_w = stride[1];
  args.pad_h = padding[0], args.pad_w = padding[1];
  args.dilation_h = dilation[0], args.dilation_w = dilation[1];
  args.table = table.data_ptr<int32_t>();
  args.bits = shape.bits;
  std::tie(args.table_min, args.table_max) = table_range(table);
  args.pad_code = static_cast<int>(pad_code);
  args.src = code_data(x_c);
  args.weights = code_data(w_c);
  args.dst = out.data_ptr<int32_t>();
  args.stream = at::cuda::getCurrentCUDAStream().stream();
  kernels::cuda::lut_conv2d_cuda(args);
  return out;
}

}  // namespace

TORCH_LIBRARY_IMPL(axnn, CUDA, m) {
  m.impl("lut_matmul", lut_matmul_cuda);
  m.impl("lut_conv2d", lut_conv2d_cuda);
}

}  // namespace axnn::ops
