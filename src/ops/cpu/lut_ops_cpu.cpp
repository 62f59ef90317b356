// CPU impls of the axnn ops on codes, over the LUT-GEMM kernels (src/kernels).
//
// lut_matmul is one LUT-GEMM with a as the kernel's stationary operand (one per slice when b is
// batched too). lut_conv2d is, per group, an im2col GEMM with the weights stationary:
// out_g[o][q] = sum_k lut[cols[k][q]][w_g[o][k]], where the column q runs over every output
// position of every image, so the whole batch is one GEMM per group. cols is built kIm2colBytes
// at a time (a chunk the kernel streams from L2), never for the whole batch at once, and each
// chunk's results are scattered into [N, O, OH, OW].
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/lut_gemm.h"

namespace axnn::ops {
namespace {

constexpr int64_t kIm2colBytes = int64_t{2} << 20;

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
  TORCH_CHECK(b.dim() == 2 || (b.dim() == a.dim() && b.sizes().slice(0, b.dim() - 2) ==
                                                          a.sizes().slice(0, a.dim() - 2)),
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

struct ConvGeometry {
  int64_t batch, channels, height, width;  // x
  int64_t out_channels, kh, kw;            // w
  int64_t groups, group_channels, group_out;
  int64_t sh, sw, ph, pw, dh, dw;
  int64_t oh, ow;
  int64_t depth() const { return group_channels * kh * kw; }  // K of the per-group GEMM
  int64_t positions() const { return oh * ow; }
};

// ceil(a / b) for b > 0 and any sign of a.
int64_t ceil_div(int64_t a, int64_t b) { return a >= 0 ? (a + b - 1) / b : -(-a / b); }

// cols[k][q] for q in [q0, q0 + count) of group g: k = (c, i, j) over the group's channels and
// the kernel window, q = (n, y, x) over the batch's output positions.
void im2col(const uint8_t* x, const ConvGeometry& s, int64_t g, int64_t q0, int64_t count,
            uint8_t pad, uint8_t* cols) {
  at::parallel_for(0, s.depth(), 1, [&](int64_t k_begin, int64_t k_end) {
    for (int64_t k = k_begin; k < k_end; ++k) {
      const int64_t c = k / (s.kh * s.kw), i = k / s.kw % s.kh, j = k % s.kw;
      uint8_t* dst = cols + k * count;
      int64_t n = q0 / s.positions(), y = q0 % s.positions() / s.ow, xo = q0 % s.ow;
      for (int64_t q = 0; q < count;) {
        // The rest of output row y of image n: one input row, or padding.
        const int64_t len = std::min(s.ow - xo, count - q);
        const int64_t ih = y * s.sh - s.ph + i * s.dh;
        if (ih < 0 || ih >= s.height) {
          std::memset(dst + q, pad, static_cast<size_t>(len));
        } else {
          const uint8_t* row =
              x + ((n * s.channels + g * s.group_channels + c) * s.height + ih) * s.width;
          // Output columns t in [t0, t1) read inside the row, the others padding.
          const int64_t first = xo * s.sw - s.pw + j * s.dw;  // iw of t = 0
          const int64_t t0 = std::clamp(ceil_div(-first, s.sw), int64_t{0}, len);
          const int64_t t1 = std::clamp(ceil_div(s.width - first, s.sw), t0, len);
          std::memset(dst + q, pad, static_cast<size_t>(t0));
          if (s.sw == 1) {
            std::memcpy(dst + q + t0, row + first + t0, static_cast<size_t>(t1 - t0));
          } else {
            for (int64_t t = t0; t < t1; ++t) dst[q + t] = row[first + t * s.sw];
          }
          std::memset(dst + q + t1, pad, static_cast<size_t>(len - t1));
        }
        q += len;
        xo += len;
        if (xo == s.ow) {
          xo = 0;
          if (++y == s.oh) y = 0, ++n;
        }
      }
    }
  });
}

// out[n][g * group_out + o][p] = result[o][q] for the chunk's columns q = (n, p).
void scatter(const int32_t* result, const ConvGeometry& s, int64_t g, int64_t q0, int64_t count,
             int32_t* out) {
  at::parallel_for(0, s.group_out, 1, [&](int64_t o_begin, int64_t o_end) {
    for (int64_t o = o_begin; o < o_end; ++o) {
      for (int64_t q = 0; q < count;) {
        const int64_t n = (q0 + q) / s.positions(), p = (q0 + q) % s.positions();
        const int64_t len = std::min(s.positions() - p, count - q);
        std::memcpy(out + (n * s.out_channels + g * s.group_out + o) * s.positions() + p,
                    result + o * count + q, static_cast<size_t>(len) * sizeof(int32_t));
        q += len;
      }
    }
  });
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

  ConvGeometry s{};
  s.batch = x.size(0), s.channels = x.size(1), s.height = x.size(2), s.width = x.size(3);
  s.out_channels = w.size(0), s.kh = w.size(2), s.kw = w.size(3);
  s.groups = groups, s.group_channels = s.channels / groups, s.group_out = s.out_channels / groups;
  s.sh = stride[0], s.sw = stride[1], s.ph = padding[0], s.pw = padding[1];
  s.dh = dilation[0], s.dw = dilation[1];
  s.oh = (s.height + 2 * s.ph - s.dh * (s.kh - 1) - 1) / s.sh + 1;
  s.ow = (s.width + 2 * s.pw - s.dw * (s.kw - 1) - 1) / s.sw + 1;
  TORCH_CHECK(s.oh >= 1 && s.ow >= 1, "axnn: lut_conv2d: the ", s.kh, "x", s.kw,
              " window (dilation ", dilation, ") does not fit the padded ", s.height, "x", s.width,
              " input");
  at::Tensor out = at::zeros({s.batch, s.out_channels, s.oh, s.ow}, x.options().dtype(at::kInt));
  const int64_t total = s.batch * s.positions(), depth = s.depth();
  if (total == 0 || s.group_out == 0 || depth == 0) return out;

  const at::Tensor x_c = x.contiguous(), w_c = w.contiguous();
  // The kernel's stationary operand is the weight, so its table is lut[x][w] transposed.
  const std::vector<int32_t> table = kernel_table(lut, true);
  const int64_t chunk = std::clamp(kIm2colBytes / depth, int64_t{64}, total);
  std::vector<uint8_t> cols(static_cast<size_t>(depth * chunk));
  std::vector<int32_t> result(static_cast<size_t>(s.group_out * chunk));
  for (int64_t g = 0; g < groups; ++g) {
    kernels::LutGemmDesc desc;
    desc.table = table;
    desc.bits = bits;
    desc.a = code_data(w_c) + g * s.group_out * depth;
    desc.m = s.group_out;
    desc.k = depth;
    const kernels::LutGemm gemm = kernels::LutGemm::create(desc);
    for (int64_t q0 = 0; q0 < total; q0 += chunk) {
      const int64_t count = std::min(chunk, total - q0);
      im2col(code_data(x_c), s, g, q0, count, static_cast<uint8_t>(pad_code), cols.data());
      gemm.run(cols.data(), count, result.data(), count, count, at::get_num_threads());
      scatter(result.data(), s, g, q0, count, out.data_ptr<int32_t>());
    }
  }
  return out;
}

}  // namespace

TORCH_LIBRARY_IMPL(axnn, CPU, m) {
  m.impl("lut_matmul", lut_matmul_cpu);
  m.impl("lut_conv2d", lut_conv2d_cpu);
}

}  // namespace axnn::ops
