// The schemas of the axnn op library: one place, backends register impls in their own files
// (the tensor-free library ops of library_ops.cpp aside).
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/library.h>

#include "ops/ax_ops.h"
#include "ops/lut_ops.h"
#include "ops/maddness_ops.h"

TORCH_LIBRARY(axnn, m) {
  m.def("lut_matmul(Tensor a, Tensor b, Tensor lut) -> Tensor");
  m.def(
      "lut_conv2d(Tensor x, Tensor w, Tensor lut, int[2] stride, int[2] padding, int[2] dilation, "
      "int groups, int pad_code) -> Tensor");
  m.def(
      "lut_conv2d_dequantized(Tensor x, Tensor w, Tensor lut, Tensor divisors, int[2] stride, "
      "int[2] padding, int[2] dilation, int groups, int pad_code) -> Tensor");
  m.def(
      "ax_linear(Tensor x, Tensor weight, Tensor? bias, Tensor lut, Tensor x_amax, "
      "Tensor w_amax, int bits, bool narrow_range, str grad_mode) -> Tensor");
  m.def(
      "ax_matmul(Tensor a, Tensor b, Tensor lut, Tensor a_amax, Tensor b_amax, int bits, "
      "bool narrow_range, str grad_mode) -> Tensor");
  m.def(
      "ax_conv2d(Tensor x, Tensor weight, Tensor? bias, Tensor lut, Tensor x_amax, "
      "Tensor w_amax, int[2] stride, int[2] padding, int[2] dilation, int groups, int bits, "
      "bool narrow_range, str grad_mode) -> Tensor");
  m.def(
      "ax_linear_asym(Tensor x, Tensor weight, Tensor? bias, Tensor lut, Tensor x_min, "
      "Tensor x_max, Tensor w_min, Tensor w_max, int bits, str grad_mode) -> Tensor");
  m.def(
      "ax_matmul_asym(Tensor a, Tensor b, Tensor lut, Tensor a_min, Tensor a_max, Tensor b_min, "
      "Tensor b_max, int bits, str grad_mode) -> Tensor");
  m.def(
      "ax_conv2d_asym(Tensor x, Tensor weight, Tensor? bias, Tensor lut, Tensor x_min, "
      "Tensor x_max, Tensor w_min, Tensor w_max, int[2] stride, int[2] padding, int[2] dilation, "
      "int groups, int bits, str grad_mode) -> Tensor");
  m.def("maddness_encode(Tensor x, Tensor split_dims, Tensor thresholds) -> Tensor");
  m.def("maddness_encode_nearest(Tensor x, Tensor centroids) -> Tensor");
  m.def("maddness_decode(Tensor codes, Tensor lut, int average=0) -> Tensor");
  m.def(
      "maddness_learn(Tensor a, int c=16, int k=16, str encoder=\"maddness\", "
      "float ridge_lambda=1.0, int seed=1) -> (Tensor, Tensor, Tensor)");
  m.def("maddness_quantize_lut(Tensor lut) -> (Tensor, Tensor, Tensor)");
}

namespace axnn::ops {

at::Tensor lut_matmul(const at::Tensor& a, const at::Tensor& b, const at::Tensor& lut) {
  static const auto op =
      c10::Dispatcher::singleton()
          .findSchemaOrThrow("axnn::lut_matmul", "")
          .typed<at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&)>();
  return op.call(a, b, lut);
}

at::Tensor lut_conv2d(const at::Tensor& x, const at::Tensor& w, const at::Tensor& lut,
                      std::array<int64_t, 2> stride, std::array<int64_t, 2> padding,
                      std::array<int64_t, 2> dilation, int64_t groups, int64_t pad_code) {
  static const auto op =
      c10::Dispatcher::singleton()
          .findSchemaOrThrow("axnn::lut_conv2d", "")
          .typed<at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&,
                            at::IntArrayRef, at::IntArrayRef, at::IntArrayRef, int64_t, int64_t)>();
  return op.call(x, w, lut, stride, padding, dilation, groups, pad_code);
}

at::Tensor lut_conv2d_dequantized(const at::Tensor& x, const at::Tensor& w, const at::Tensor& lut,
                                  const at::Tensor& divisors, std::array<int64_t, 2> stride,
                                  std::array<int64_t, 2> padding, std::array<int64_t, 2> dilation,
                                  int64_t groups, int64_t pad_code) {
  static const auto op =
      c10::Dispatcher::singleton()
          .findSchemaOrThrow("axnn::lut_conv2d_dequantized", "")
          .typed<at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&,
                            const at::Tensor&, at::IntArrayRef, at::IntArrayRef, at::IntArrayRef,
                            int64_t, int64_t)>();
  return op.call(x, w, lut, divisors, stride, padding, dilation, groups, pad_code);
}

at::Tensor ax_linear(const at::Tensor& x, const at::Tensor& weight,
                     const c10::optional<at::Tensor>& bias, const at::Tensor& lut,
                     const at::Tensor& x_amax, const at::Tensor& w_amax, int64_t bits,
                     bool narrow_range, c10::string_view grad_mode) {
  static const auto op =
      c10::Dispatcher::singleton()
          .findSchemaOrThrow("axnn::ax_linear", "")
          .typed<at::Tensor(const at::Tensor&, const at::Tensor&, const c10::optional<at::Tensor>&,
                            const at::Tensor&, const at::Tensor&, const at::Tensor&, int64_t, bool,
                            c10::string_view)>();
  return op.call(x, weight, bias, lut, x_amax, w_amax, bits, narrow_range, grad_mode);
}

at::Tensor ax_matmul(const at::Tensor& a, const at::Tensor& b, const at::Tensor& lut,
                     const at::Tensor& a_amax, const at::Tensor& b_amax, int64_t bits,
                     bool narrow_range, c10::string_view grad_mode) {
  static const auto op =
      c10::Dispatcher::singleton()
          .findSchemaOrThrow("axnn::ax_matmul", "")
          .typed<at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&,
                            const at::Tensor&, const at::Tensor&, int64_t, bool,
                            c10::string_view)>();
  return op.call(a, b, lut, a_amax, b_amax, bits, narrow_range, grad_mode);
}

at::Tensor ax_conv2d(const at::Tensor& x, const at::Tensor& weight,
                     const c10::optional<at::Tensor>& bias, const at::Tensor& lut,
                     const at::Tensor& x_amax, const at::Tensor& w_amax,
                     std::array<int64_t, 2> stride, std::array<int64_t, 2> padding,
                     std::array<int64_t, 2> dilation, int64_t groups, int64_t bits,
                     bool narrow_range, c10::string_view grad_mode) {
  static const auto op =
      c10::Dispatcher::singleton()
          .findSchemaOrThrow("axnn::ax_conv2d", "")
          .typed<at::Tensor(const at::Tensor&, const at::Tensor&, const c10::optional<at::Tensor>&,
                            const at::Tensor&, const at::Tensor&, const at::Tensor&,
                            at::IntArrayRef, at::IntArrayRef, at::IntArrayRef, int64_t, int64_t,
                            bool, c10::string_view)>();
  return op.call(x, weight, bias, lut, x_amax, w_amax, stride, padding, dilation, groups, bits,
                 narrow_range, grad_mode);
}

at::Tensor ax_linear_asym(const at::Tensor& x, const at::Tensor& weight,
                          const c10::optional<at::Tensor>& bias, const at::Tensor& lut,
                          const at::Tensor& x_min, const at::Tensor& x_max, const at::Tensor& w_min,
                          const at::Tensor& w_max, int64_t bits, c10::string_view grad_mode) {
  static const auto op =
      c10::Dispatcher::singleton()
          .findSchemaOrThrow("axnn::ax_linear_asym", "")
          .typed<at::Tensor(const at::Tensor&, const at::Tensor&, const c10::optional<at::Tensor>&,
                            const at::Tensor&, const at::Tensor&, const at::Tensor&,
                            const at::Tensor&, const at::Tensor&, int64_t, c10::string_view)>();
  return op.call(x, weight, bias, lut, x_min, x_max, w_min, w_max, bits, grad_mode);
}

at::Tensor ax_matmul_asym(const at::Tensor& a, const at::Tensor& b, const at::Tensor& lut,
                          const at::Tensor& a_min, const at::Tensor& a_max, const at::Tensor& b_min,
                          const at::Tensor& b_max, int64_t bits, c10::string_view grad_mode) {
  static const auto op =
      c10::Dispatcher::singleton()
          .findSchemaOrThrow("axnn::ax_matmul_asym", "")
          .typed<at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&,
                            const at::Tensor&, const at::Tensor&, const at::Tensor&,
                            const at::Tensor&, int64_t, c10::string_view)>();
  return op.call(a, b, lut, a_min, a_max, b_min, b_max, bits, grad_mode);
}

at::Tensor ax_conv2d_asym(const at::Tensor& x, const at::Tensor& weight,
                          const c10::optional<at::Tensor>& bias, const at::Tensor& lut,
                          const at::Tensor& x_min, const at::Tensor& x_max, const at::Tensor& w_min,
                          const at::Tensor& w_max, std::array<int64_t, 2> stride,
                          std::array<int64_t, 2> padding, std::array<int64_t, 2> dilation,
                          int64_t groups, int64_t bits, c10::string_view grad_mode) {
  static const auto op =
      c10::Dispatcher::singleton()
          .findSchemaOrThrow("axnn::ax_conv2d_asym", "")
          .typed<at::Tensor(const at::Tensor&, const at::Tensor&, const c10::optional<at::Tensor>&,
                            const at::Tensor&, const at::Tensor&, const at::Tensor&,
                            const at::Tensor&, const at::Tensor&, at::IntArrayRef, at::IntArrayRef,
                            at::IntArrayRef, int64_t, int64_t, c10::string_view)>();
  return op.call(x, weight, bias, lut, x_min, x_max, w_min, w_max, stride, padding, dilation,
                 groups, bits, grad_mode);
}

at::Tensor maddness_encode(const at::Tensor& x, const at::Tensor& split_dims,
                           const at::Tensor& thresholds) {
  static const auto op =
      c10::Dispatcher::singleton()
          .findSchemaOrThrow("axnn::maddness_encode", "")
          .typed<at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&)>();
  return op.call(x, split_dims, thresholds);
}

at::Tensor maddness_encode_nearest(const at::Tensor& x, const at::Tensor& centroids) {
  static const auto op = c10::Dispatcher::singleton()
                             .findSchemaOrThrow("axnn::maddness_encode_nearest", "")
                             .typed<at::Tensor(const at::Tensor&, const at::Tensor&)>();
  return op.call(x, centroids);
}

at::Tensor maddness_decode(const at::Tensor& codes, const at::Tensor& lut, int64_t average) {
  static const auto op = c10::Dispatcher::singleton()
                             .findSchemaOrThrow("axnn::maddness_decode", "")
                             .typed<at::Tensor(const at::Tensor&, const at::Tensor&, int64_t)>();
  return op.call(codes, lut, average);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> maddness_learn(const at::Tensor& a, int64_t c,
                                                              int64_t k, const std::string& encoder,
                                                              double ridge_lambda, int64_t seed) {
  static const auto op =
      c10::Dispatcher::singleton()
          .findSchemaOrThrow("axnn::maddness_learn", "")
          .typed<std::tuple<at::Tensor, at::Tensor, at::Tensor>(
              const at::Tensor&, int64_t, int64_t, c10::string_view, double, int64_t)>();
  return op.call(a, c, k, encoder, ridge_lambda, seed);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> maddness_quantize_lut(const at::Tensor& lut) {
  static const auto op =
      c10::Dispatcher::singleton()
          .findSchemaOrThrow("axnn::maddness_quantize_lut", "")
          .typed<std::tuple<at::Tensor, at::Tensor, at::Tensor>(const at::Tensor&)>();
  return op.call(lut);
}

}  // namespace axnn::ops
