// CPU impls of the axnn ops on codes, over the LUT-GEMM kernels (src/kernels).
//
// lut_matmul is one LUT-GEMM with a as the kernel's stationary operand (one per slice when b is
// batched too). lut_conv2d is the LutConv2d kernel (src/kernels/lut_conv.h: per group an im2col
// GEMM with the weights stationary, the im2col columns built 2 MiB at a time) on the op's threads.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <vector>

#include "core/profile.h"
#include "kernels/lut_conv.h"
#include "kernels/lut_gemm.h"
#include "ops/checks.h"

namespace axnn::ops {
namespace {

// Codes of either byte type as raw bit patterns.
const uint8_t* code_data(const at::Tensor& t) { return static_cast<const uint8_t*>(t.data_ptr()); }

// The table [a][b] of the kernel: the lut itself, or its transpose when the lut's second operand
// is the kernel's stationary one.
std::vector<int32_t> kernel_table(const at::Tensor& lut, bool transpose) {
  const profile::StageScope timer("pack");
  const at::Tensor t = (transpose ? lut.t() : lut).contiguous();
  const int32_t* p = t.data_ptr<int32_t>();
  return std::vector<int32_t>(p, p + t.numel());
}

at::Tensor lut_matmul_cpu(const at::Tensor& a, const at::Tensor& b, const at::Tensor& lut) {
  const LutMatmulShape shape = check_lut_matmul(a, b, lut);
  const int bits = shape.bits;
  const int64_t m = shape.m, k = shape.k, n = shape.n;
  at::Tensor out = at::zeros(shape.out_sizes, a.options().dtype(at::kInt));
  if (out.numel() == 0 || k == 0) return out;

  const at::Tensor a_c = a.contiguous(), b_c = b.contiguous();
  const std::vector<int32_t> table = kernel_table(lut, false);
  // One product: the rows of every slice of a against b at once.
  auto product = [&](const uint8_t* a_codes, int64_t rows, const uint8_t* b_codes, int32_t* c,
                     int threads) {
    kernels::LutGemmDesc desc;
    desc.table = table;
    desc.bits = bits;
    desc.a = a_codes;
    desc.m = rows;
    desc.k = k;
    kernels::LutGemm::create(desc).run(b_codes, n, c, 0, 0, threads);
  };
  if (b.dim() == 2) {
    product(code_data(a_c), a.numel() / k, code_data(b_c), out.data_ptr<int32_t>(),
            at::get_num_threads());
    return out;
  }
  // Many small products (attention heads): one thread each; a few large ones: all threads each.
  const int64_t slices = a.numel() / (m * k);
  auto slice = [&](int64_t s, int threads) {
    product(code_data(a_c) + s * m * k, m, code_data(b_c) + s * k * n,
            out.data_ptr<int32_t>() + s * m * n, threads);
  };
  if (slices >= at::get_num_threads()) {
    at::parallel_for(0, slices, 1, [&](int64_t begin, int64_t end) {
      for (int64_t s = begin; s < end; ++s) slice(s, 1);
    });
  } else {
    for (int64_t s = 0; s < slices; ++s) slice(s, at::get_num_threads());
  }
  return out;
}

at::Tensor lut_conv2d_cpu(const at::Tensor& x, const at::Tensor& w, const at::Tensor& lut,
                          at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation,
                          int64_t groups, int64_t pad_code) {
  const LutConv2dShape shape =
      check_lut_conv2d(x, w, lut, stride, padding, dilation, groups, pad_code);
  const at::Tensor x_c = x.contiguous(), w_c = w.contiguous();
  // The kernel's stationary operand is the weight, so its table is lut[x][w] transposed.
  const std::vector<int32_t> table = kernel_table(lut, true);
  kernels::LutConv2dDesc desc;
  desc.batch = x.size(0), desc.channels = x.size(1), desc.height = x.size(2);
  desc.width = x.size(3);
  desc.out_channels = w.size(0), desc.kh = w.size(2), desc.kw = w.size(3), desc.groups = groups;
  desc.stride_h = stride[0], desc.stride_w = stride[1];
  desc.pad_h = padding[0], desc.pad_w = padding[1];
  desc.dilation_h = dilation[0], desc.dilation_w = dilation[1];
  desc.table = table;
  desc.bits = shape.bits;
  desc.weights = code_data(w_c);
  desc.pad_code = static_cast<int>(pad_code);
  at::Tensor out = at::zeros({desc.batch, desc.out_channels, shape.out_height, shape.out_width},
                             x.options().dtype(at::kInt));
  if (out.numel() == 0 || w.numel() == 0) return out;
  kernels::LutConv2d::create(desc).run(code_data(x_c), out.data_ptr<int32_t>(),
                                       at::get_num_threads());
  return out;
}

}  // namespace

TORCH_LIBRARY_IMPL(axnn, CPU, m) {
  m.impl("lut_matmul", lut_matmul_cpu);
  m.impl("lut_conv2d", lut_conv2d_cpu);
}

}  // namespace axnn::ops
