// Where models compute: the `--device` values (cpu, cuda, cuda:N), the device a model lives on,
// and the tensors layers keep outside their parameters and buffers. A model computes where its
// tensors are: the loops (train/train.h) move each batch to the model's device, and checkpoints
// hold CPU tensors, so they move freely between devices.
#pragma once

#include <c10/core/Device.h>
#include <torch/nn/module.h>

#include <string>
#include <string_view>

namespace axnn::nn {

// "cpu", "cuda" or "cuda:N", checked to be usable here: throws axnn::Error naming `option` and
// the value for anything else, a LibTorch built without CUDA, no GPU or no GPU N. A CUDA device
// turns TF32 off, so that fp32 layers compute in fp32 as on the CPU.
at::Device parse_device(const std::string& spec, std::string_view option = "--device");

// The device of the module's first parameter or buffer; the CPU for one without tensors.
at::Device device_of(const torch::nn::Module& module);

// A tensor a layer keeps outside its parameters and buffers (which Module::to does not move),
// moved to `device` when first used there.
inline const at::Tensor& on_device(at::Tensor& t, const at::Device& device) {
  if (t.defined() && t.device() != device) t = t.to(device);
  return t;
}

}  // namespace axnn::nn
