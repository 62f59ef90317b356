#include "quant/quantize.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace axnn::quant {
namespace {

void check_bits(int bits) {
  AXNN_CHECK(bits >= 2 && bits <= 8, "quantizer: bits = {} is outside 2..8", bits);
}

void check_float(const at::Tensor& x, const char* what) {
  AXNN_CHECK(at::isFloatingType(x.scalar_type()), "quantizer: {} must be a float tensor, got {}",
             what, std::string(c10::toString(x.scalar_type())));
}

// quantize_symmetric's tensor expression in one pass over a CPU fp32 x whose scale is one value
// or one per slice x[i]: the same fp32 product, rounded half to even (by the 1.5 * 2^23 shift,
// exact for the clamped values, under the default rounding mode) and clamped.
at::Tensor quantize_rows_cpu(const at::Tensor& x, const at::Tensor& scale, SymmetricRange range) {
  at::Tensor out = at::empty(x.sizes(), x.options().dtype(at::kChar));
  const int64_t rows = scale.numel() == 1 ? 1 : x.size(0);
  const int64_t row = rows == 0 ? 0 : x.numel() / rows;
  const float* src = x.data_ptr<float>();
  const float* scales = scale.data_ptr<float>();
  int8_t* dst = out.data_ptr<int8_t>();
  const auto lo = static_cast<float>(range.qmin), hi = static_cast<float>(range.qmax);
  constexpr float kShift = 12582912.0f;  // 1.5 * 2^23
  at::parallel_for(0, x.numel(), 16384, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end;) {
      const int64_t r = i / row, stop = std::min(end, (r + 1) * row);
      const float s = scales[r];
      for (; i < stop; ++i) {
        const float v = std::min(std::max(src[i] * s, lo), hi);
        dst[i] = static_cast<int8_t>((v + kShift) - kShift);
      }
    }
  });
  return out;
}

// True when `scale` is one value, or one per slice x[i] shaped [x.size(0), 1, ...].
bool per_tensor_or_row(const at::Tensor& scale, const at::Tensor& x) {
  if (scale.numel() == 1) return true;
  if (x.dim() == 0 || scale.dim() != x.dim() || scale.size(0) != x.size(0)) return false;
  return scale.numel() == x.size(0);
}

}  // namespace

SymmetricRange symmetric_range(int bits, bool narrow_range) {
  check_bits(bits);
  const int64_t qmax = (int64_t{1} << (bits - 1)) - 1;
  return {narrow_range ? -qmax : -qmax - 1, qmax};
}

at::Tensor quantize_symmetric(const at::Tensor& x, const at::Tensor& amax, int bits,
                              bool narrow_range) {
  check_float(x, "x");
  check_float(amax, "amax");
  const SymmetricRange range = symmetric_range(bits, narrow_range);
  const at::Tensor amax_f = amax.to(at::kFloat);
  AXNN_CHECK(amax_f.numel() > 0 && amax_f.min().item<float>() >= 0,
             "quantizer: amax must be non-empty and >= 0");
  // fp32 throughout, as the contract says; amax = 0 gives scale 0 and so code 0.
  const at::Tensor scale =
      at::where(amax_f > 0, static_cast<float>(range.qmax) / amax_f, at::zeros_like(amax_f));
  if (x.is_cpu() && x.scalar_type() == at::kFloat && x.numel() > 0 && per_tensor_or_row(scale, x))
    return quantize_rows_cpu(x.contiguous(), scale.contiguous(), range);
  return at::clamp(at::round(x.to(at::kFloat) * scale), range.qmin, range.qmax).to(at::kChar);
}

at::Tensor dequantize_symmetric(const at::Tensor& codes, const at::Tensor& amax, int bits) {
  const SymmetricRange range = symmetric_range(bits, true);
  return codes.to(at::kFloat) * (amax.to(at::kFloat) / static_cast<float>(range.qmax));
}

at::Tensor amax_of(const at::Tensor& x, int64_t axis) {
  check_float(x, "x");
  if (axis < 0) return x.abs().max();
  AXNN_CHECK(axis < x.dim(), "quantizer: axis {} is outside the {} dimensions of x", axis, x.dim());
  std::vector<int64_t> dims;
  for (int64_t d = 0; d < x.dim(); ++d)
    if (d != axis) dims.push_back(d);
  return dims.empty() ? x.abs() : x.abs().amax(dims, /*keepdim=*/true);
}

AsymmetricParams asymmetric_params(double min, double max, int bits) {
  check_bits(bits);
  AXNN_CHECK(std::isfinite(min) && std::isfinite(max) && min <= max,
             "quantizer: range [{}, {}] is not a finite interval", min, max);
  min = std::min(min, 0.0);
  max = std::max(max, 0.0);
  const double levels = static_cast<double>((int64_t{1} << bits) - 1);
  if (max == min) return {1.0, 0};
  const double scale = (max - min) / levels;
  const double zero = std::nearbyint(-min / scale);  // round half to even
  return {scale, static_cast<int64_t>(std::clamp(zero, 0.0, levels))};
}

at::Tensor quantize_asymmetric(const at::Tensor& x, const AsymmetricParams& params, int bits) {
  return quantize_asymmetric(
      x,
      {at::scalar_tensor(static_cast<float>(params.scale), x.options().dtype(at::kFloat)),
       at::scalar_tensor(static_cast<float>(params.zero_point), x.options().dtype(at::kFloat))},
      bits);
}

AsymmetricTensors asymmetric_params(const at::Tensor& min, const at::Tensor& max, int bits) {
  check_float(min, "min");
  check_float(max, "max");
  AXNN_CHECK(min.sizes() == max.sizes(), "quantizer: min [{}] and max [{}] differ in shape",
             fmt::join(min.sizes(), ", "), fmt::join(max.sizes(), ", "));
  // The scalar rule above on the host, element by element; the result on min's device.
  const at::Tensor lo = min.to(at::kCPU, at::kDouble).contiguous(),
                   hi = max.to(at::kCPU, at::kDouble).contiguous();
  at::Tensor scale = at::empty(min.sizes(), at::kFloat), zero = at::empty(min.sizes(), at::kFloat);
  for (int64_t i = 0; i < lo.numel(); ++i) {
    const AsymmetricParams p =
        asymmetric_params(lo.data_ptr<double>()[i], hi.data_ptr<double>()[i], bits);
    scale.data_ptr<float>()[i] = static_cast<float>(p.scale);
    zero.data_ptr<float>()[i] = static_cast<float>(p.zero_point);
  }
  return {scale.to(min.device()), zero.to(min.device())};
}

at::Tensor quantize_asymmetric(const at::Tensor& x, const AsymmetricTensors& params, int bits) {
  check_float(x, "x");
  check_bits(bits);
  const int64_t top = (int64_t{1} << bits) - 1;
  const at::Tensor q = at::round(x.to(at::kFloat) / params.scale) + params.zero_point;
  return at::clamp(q, 0, top).to(at::kByte);
}

std::pair<at::Tensor, at::Tensor> min_max_of(const at::Tensor& x, int64_t axis) {
  check_float(x, "x");
  if (axis < 0) return {x.min(), x.max()};
  AXNN_CHECK(axis < x.dim(), "quantizer: axis {} is outside the {} dimensions of x", axis, x.dim());
  std::vector<int64_t> dims;
  for (int64_t d = 0; d < x.dim(); ++d)
    if (d != axis) dims.push_back(d);
  if (dims.empty()) return {x, x};
  return {x.amin(dims, /*keepdim=*/true), x.amax(dims, /*keepdim=*/true)};
}

at::Tensor dequantize_asymmetric(const at::Tensor& codes, const AsymmetricParams& params) {
  return (codes.to(at::kFloat) - static_cast<float>(params.zero_point)) *
         static_cast<float>(params.scale);
}

}  // namespace axnn::quant
