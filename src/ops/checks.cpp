#include "ops/checks.h"

#include <c10/util/Exception.h>

#include "kernels/maddness.h"

namespace axnn::ops {

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
}

void check_same_device(const char* op, const at::Tensor& first,
                       std::initializer_list<std::pair<const char*, const at::Tensor*>> others) {
  for (const auto& [name, t] : others)
    TORCH_CHECK(t->device() == first.device(), "axnn: ", op, ": ", name, " is on ", t->device(),
                ", the other operands on ", first.device());
}

LutMatmulShape check_lut_matmul(const at::Tensor& a, const at::Tensor& b, const at::Tensor& lut) {
  check_codes(a, "lut_matmul: a");
  check_codes(b, "lut_matmul: b");
  const int bits = lut_bits(lut);
  check_same_device("lut_matmul", a, {{"b", &b}, {"lut", &lut}});
  TORCH_CHECK(a.dim() >= 2, "axnn: lut_matmul: a must be [..., M, K], got shape ", a.sizes());
  TORCH_CHECK(b.dim() == 2 || (b.dim() == a.dim() &&
                               b.sizes().slice(0, b.dim() - 2) == a.sizes().slice(0, a.dim() - 2)),
              "axnn: lut_matmul: b must be [K, N] or [..., K, N] with a's leading dimensions; a ",
              a.sizes(), ", b ", b.sizes());
  TORCH_CHECK(a.size(-1) == b.size(-2), "axnn: lut_matmul: a ", a.sizes(), " and b ", b.sizes(),
              " disagree on K");
  std::vector<int64_t> out_sizes(a.sizes().begin(), a.sizes().end());
  out_sizes.back() = b.size(-1);
  return {bits, a.size(-2), a.size(-1), b.size(-1), std::move(out_sizes)};
}

void check_divisors(const at::Tensor& divisors, const at::Tensor& w) {
  TORCH_CHECK(divisors.scalar_type() == at::kFloat && divisors.dim() == 1 &&
                  (w.dim() == 0 || divisors.size(0) == w.size(0)),
              "axnn: lut_conv2d_dequantized: divisors must be float [", w.dim() ? w.size(0) : 0,
              "] (one per output channel), got ", divisors.scalar_type(), " ", divisors.sizes());
  check_same_device("lut_conv2d_dequantized", w, {{"divisors", &divisors}});
}

LutConv2dShape check_lut_conv2d(const at::Tensor& x, const at::Tensor& w, const at::Tensor& lut,
                                at::IntArrayRef stride, at::IntArrayRef padding,
                                at::IntArrayRef dilation, int64_t groups, int64_t pad_code) {
  check_codes(x, "lut_conv2d: x");
  check_codes(w, "lut_conv2d: w");
  const int bits = lut_bits(lut);
  check_same_device("lut_conv2d", x, {{"w", &w}, {"lut", &lut}});
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
  const int64_t kh = w.size(2), kw = w.size(3);
  const int64_t oh = (x.size(2) + 2 * padding[0] - dilation[0] * (kh - 1) - 1) / stride[0] + 1;
  const int64_t ow = (x.size(3) + 2 * padding[1] - dilation[1] * (kw - 1) - 1) / stride[1] + 1;
  TORCH_CHECK(oh >= 1 && ow >= 1, "axnn: lut_conv2d: the ", kh, "x", kw, " window (dilation ",
              dilation, ") does not fit the padded ", x.size(2), "x", x.size(3), " input");
  return {bits, oh, ow};
}

at::Tensor float_rows(const at::Tensor& x, const char* op) {
  TORCH_CHECK(x.scalar_type() == at::kFloat && x.dim() >= 1, "axnn: ", op,
              ": x must be a float tensor [..., D], got ", x.scalar_type(), " ", x.sizes());
  return x.reshape({-1, x.size(-1)}).contiguous();
}

std::vector<int64_t> codes_shape(const at::Tensor& x, int64_t c) {
  std::vector<int64_t> sizes(x.sizes().begin(), x.sizes().end());
  sizes.back() = c;
  return sizes;
}

void check_maddness_encode(const at::Tensor& rows, const at::Tensor& split_dims,
                           const at::Tensor& thresholds) {
  TORCH_CHECK(split_dims.scalar_type() == at::kInt && split_dims.dim() == 2,
              "axnn: maddness_encode: split_dims must be int32 [C, depth], got ",
              split_dims.scalar_type(), " ", split_dims.sizes());
  TORCH_CHECK(
      thresholds.scalar_type() == at::kFloat && thresholds.dim() == 2 &&
          thresholds.size(0) == split_dims.size(0),
      "axnn: maddness_encode: thresholds must be float [C, 2^depth - 1] with split_dims' C, "
      "got ",
      thresholds.scalar_type(), " ", thresholds.sizes());
  check_same_device("maddness_encode", rows,
                    {{"split_dims", &split_dims}, {"thresholds", &thresholds}});
}

int64_t check_maddness_decode(const at::Tensor& codes, const at::Tensor& lut) {
  TORCH_CHECK(codes.scalar_type() == at::kByte && codes.dim() >= 1,
              "axnn: maddness_decode: codes must be a uint8 tensor [..., C], got ",
              codes.scalar_type(), " ", codes.sizes());
  TORCH_CHECK((lut.scalar_type() == at::kChar || lut.scalar_type() == at::kFloat) &&
                  lut.dim() == 3 && lut.size(1) >= 1 && lut.size(1) <= kernels::kMaddnessLeaves &&
                  lut.size(0) == codes.size(-1),
              "axnn: maddness_decode: lut must be int8 or float [C, K <= 16, M] with the codes' C "
              "= ",
              codes.size(-1), ", got ", lut.scalar_type(), " ", lut.sizes());
  check_same_device("maddness_decode", codes, {{"lut", &lut}});
  const int64_t k = lut.size(1);
  TORCH_CHECK(codes.numel() == 0 || codes.max().item<int64_t>() < k,
              "axnn: maddness_decode: a code is >= K = ", k);
  return k;
}

at::Tensor maddness_decode_result(const at::Tensor& out, const at::Tensor& codes) {
  std::vector<int64_t> sizes(codes.sizes().begin(), codes.sizes().end());
  sizes.back() = out.size(0);
  return codes.dim() == 2 ? out.t() : out.t().reshape(sizes);
}

}  // namespace axnn::ops
