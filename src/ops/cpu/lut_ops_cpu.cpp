// CPU impls of the axnn ops on codes, over the LUT-GEMM kernels (src/kernels).
//
// lut_matmul is one LUT-GEMM with a as the kernel's stationary operand (one per slice when b is
// batched too). lut_conv2d is the LutConv2d kernel (src/kernels/lut_conv.h: per group an im2col
// GEMM with the weights stationary, the im2col columns built 2 MiB at a time) on the op's threads.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <vector>

#include "kernels/lut_conv.h"
#include "kernels/lut_gemm.h"

namespace axnn::ops {
namespace {

// The width b of a 2^b x 2^b int32 table.
int lut_bits(const at::Tensor& lut) {
  TORCH_CHECK(lut.scalar_type() == at::kInt, "axnn: lut must be int32, got ", lut.scalar_type());
  TORCH_CHECK(lut.dim() == 2 && lut.size(0) == lut.size(1),
              "axnn: lut must be a square [2^bits, 2^bits] table, got shape ", lut.sizes());
  for (int bits = 2; bits <= 8; ++bits)
    if (lut.size(0) == (int64_t{1} << bits)) return bits;
  TORCH_CHECK(false, "axnn: lut side ", lut.size(0), " is not 2^bits for bits in 2..8");
}

void check_codes(const at::Tensor& t, const char* name) {
  TORCH_CHECK(t.scalar_type() == at::kByte || t.scalar_type() == at::kChar, "axnn: ", name,
              " must hold uint8 or int8 codes, got ", t.scalar_type());
  TORCH_CHECK(t.device().is_cpu(), "axnn: ", name, " must be a CPU tensor here");
}

// Codes of either byte type as raw bit patterns.
const uint8_t* code_data(const at::Tensor& t) { return static_cast<const uint8_t*>(t.data_ptr()); }

// The table [a][b] of the kernel: the lut itself, or its transpose when the lut's second operand
// is the kernel's stationary one.
std::vector<int32_t> kernel_table(const at::Tensor& lut, bool transpose) {
  const at::Tensor t = (transpose ? lut.t() : lut).contiguous();
  const int32_t* p = t.data_ptr<int32_t>();
  return std::vector<int32_t>(p, p + t.numel());
}

at::Tensor lut_matmul_cpu(const at::Tensor& a, const at::Tensor& b, const at::Tensor& lut) {
  check_codes(a, "lut_matmul: a");
  check_codes(b, "lut_matmul: b");
  const int bits = lut_bits(lut);
  TORCH_CHECK(a.dim() >= 2, "axnn: lut_matmul: a must be [..., M, K], got shape ", a.sizes());
  TORCH_CHECK(b.dim() == 2 || (b.dim() == a.dim() &&
                               b.sizes().slice(0, b.dim() - 2) == a.sizes().slice(0, a.dim() - 2)),
              "axnn: lut_matmul: b must be [K, N] or [..., K, N] with a's leading dimensions; a ",
              a.sizes(), ", b ", b.sizes());
  TORCH_CHECK(a.size(-1) == b.size(-2), "axnn: lut_matmul: a ", a.sizes(), " and b ", b.sizes(),
              " disagree on K");
  std::vector<int64_t> out_sizes(a.sizes().begin(), a.sizes().end());
  out_sizes.back() = b.size(-1);
  at::Tensor out = at::zeros(out_sizes, a.options().dtype(at::kInt));
  const int64_t m = a.size(-2), k = a.size(-1), n = b.size(-1);
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
  check_codes(x, "lut_conv2d: x");
  check_codes(w, "lut_conv2d: w");
  const int bits = lut_bits(lut);
  TORCH_CHECK(x.dim() == 4, "axnn: lut_conv2d: x must be [N, C, H, W], got shape ", x.sizes());
  TORCH_CHECK(w.dim() == 4, "axnn: lut_conv2d: w must be [O, C / groups, KH, KW], got shape ",
              w.sizes());
  TORCH_CHECK(stride.size() == 2 && padding.size() == 2 && dilation.size() == 2,
              "axnn: lut_conv2d: stride, padding and dilation need two values each");
  TORCH_CHECK(stride[0] >= 1 && stride[1] >= 1, "axnn: lut_conv2d: stride ", stride,
              " must be >= 1");
  TORCH_CHECK(dilation[0] >= 1 && dilation[1] >= 1, "axnn: lut_conv2d: dilation ", dilation,
              " must be >= 1");
  TORCH_CHECK(padding[0] >= 0 && padding[1] >= 0, "axnn: lut_conv2d: padding ", padding,
              " must be >= 0");
  TORCH_CHECK(groups >= 1 && x.size(1) % groups == 0 && w.size(0) % groups == 0,
              "axnn: lut_conv2d: groups = ", groups, " must divide the ", x.size(1), " input and ",
              w.size(0), " output channels");
  TORCH_CHECK(w.size(1) == x.size(1) / groups, "axnn: lut_conv2d: w ", w.sizes(), " needs ",
              x.size(1) / groups, " channels per group for x ", x.sizes(),
              " and groups = ", groups);
  TORCH_CHECK(pad_code >= 0 && pad_code < (int64_t{1} << bits), "axnn: lut_conv2d: pad_code ",
              pad_code, " is not a ", bits, "-bit code");

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
  desc.bits = bits;
  desc.weights = code_data(w_c);
  desc.pad_code = static_cast<int>(pad_code);
  const int64_t oh =
      (desc.height + 2 * desc.pad_h - desc.dilation_h * (desc.kh - 1) - 1) / desc.stride_h + 1;
  const int64_t ow =
      (desc.width + 2 * desc.pad_w - desc.dilation_w * (desc.kw - 1) - 1) / desc.stride_w + 1;
  TORCH_CHECK(oh >= 1 && ow >= 1, "axnn: lut_conv2d: the ", desc.kh, "x", desc.kw,
              " window (dilation ", dilation, ") does not fit the padded ", desc.height, "x",
              desc.width, " input");
  at::Tensor out = at::zeros({desc.batch, desc.out_channels, oh, ow}, x.options().dtype(at::kInt));
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
