// The schemas of the axnn op library: one place, backends register impls in their own files.
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/library.h>

#include "ops/lut_ops.h"

TORCH_LIBRARY(axnn, m) {
  m.def("lut_matmul(Tensor a, Tensor b, Tensor lut) -> Tensor");
  m.def(
      "lut_conv2d(Tensor x, Tensor w, Tensor lut, int[2] stride, int[2] padding, int[2] dilation, "
      "int groups, int pad_code) -> Tensor");
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

}  // namespace axnn::ops
