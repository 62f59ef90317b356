#include "nn/device.h"

#include <ATen/Context.h>
#include <c10/core/impl/DeviceGuardImplInterface.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include <optional>

#include "core/error.h"

namespace axnn::nn {

at::Device parse_device(const std::string& spec, std::string_view option) {
  const auto device = [&]() -> std::optional<at::Device> {
    try {
      return at::Device(spec);
    } catch (const c10::Error&) {
      return std::nullopt;
    }
  }();
  AXNN_CHECK(device && (device->is_cpu() || device->is_cuda()),
             "{} {}: expected cpu, cuda or cuda:N", option, spec);
  if (device->is_cpu()) return *device;
  // A CUDA LibTorch registers its CUDA device guard even on a machine without a GPU.
  AXNN_CHECK(
      c10::impl::hasDeviceGuardImpl(at::kCUDA),
      "{} {}: this axnn's LibTorch {} has no CUDA (build against a CUDA LibTorch: README.md, "
      "\"On a GPU\")",
      option, spec, TORCH_VERSION);
  const auto gpus = static_cast<int64_t>(torch::cuda::device_count());
  AXNN_CHECK(gpus > 0, "{} {}: LibTorch {} has CUDA but finds no GPU here", option, spec,
             TORCH_VERSION);
  AXNN_CHECK(!device->has_index() || device->index() < gpus,
             "{} {}: there is no GPU {} (this machine has {}: cuda:0..cuda:{})", option, spec,
             device->index(), gpus, gpus - 1);
  at::globalContext().setAllowTF32CuDNN(false);
  at::globalContext().setAllowTF32CuBLAS(false);
  return *device;
}

at::Device device_of(const torch::nn::Module& model) {
  for (const at::Tensor& t : model.parameters()) return t.device();
  for (const at::Tensor& t : model.buffers()) return t.device();
  return at::kCPU;
}

}  // namespace axnn::nn
