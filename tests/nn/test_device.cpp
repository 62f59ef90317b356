// Devices: the --device parser, a module's device, and the approximate layers, quantizers and
// calibrators on a GPU computing what they compute on the CPU (skipped without one).
#include <ATen/ATen.h>
#include <c10/core/impl/DeviceGuardImplInterface.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/cuda.h>
#include <torch/nn/module.h>

#include <string>

#include "common/error_of.h"
#include "nn/ax_layers.h"
#include "nn/device.h"
#include "quant/calibrator.h"
#include "quant/quantize.h"

namespace axnn::nn {
namespace {

using axnn::test_util::error_of;
using ::testing::HasSubstr;
using ::testing::StartsWith;

TEST(ParseDevice, AcceptsTheCpuAndRejectsOtherKinds) {
  EXPECT_EQ(parse_device("cpu"), at::Device(at::kCPU));
  for (const std::string bad : {"tpu", "", "gpu", "cuda:x", "CUDA", "meta", "cuda:-1"})
    EXPECT_EQ(error_of([&] { parse_device(bad); }),
              "--device " + bad + ": expected cpu, cuda or cuda:N")
        << bad;
  EXPECT_EQ(error_of([] { parse_device("mps", "device"); }),
            "device mps: expected cpu, cuda or cuda:N");
}

TEST(ParseDevice, CudaWorksOrSaysWhyNot) {
  const std::string cuda = error_of([] { parse_device("cuda"); });
  if (!c10::impl::hasDeviceGuardImpl(at::kCUDA)) {
    EXPECT_THAT(cuda, StartsWith("--device cuda: this axnn's LibTorch "));
    EXPECT_THAT(cuda, HasSubstr("has no CUDA (build against a CUDA LibTorch"));
    EXPECT_THAT(error_of([] { parse_device("cuda:0"); }), StartsWith("--device cuda:0: this axnn"));
  } else if (!torch::cuda::is_available()) {
    EXPECT_THAT(cuda, HasSubstr("has CUDA but finds no GPU here"));
  } else {
    EXPECT_EQ(cuda, "no error");
    EXPECT_EQ(parse_device("cuda:0"), at::Device(at::kCUDA, 0));
    const auto gpus = static_cast<int>(torch::cuda::device_count());
    EXPECT_THAT(error_of([&] { parse_device("cuda:" + std::to_string(gpus)); }),
                HasSubstr("there is no GPU " + std::to_string(gpus)));
  }
}

TEST(DeviceOf, FirstTensorsDeviceOrTheCpu) {
  torch::nn::Module empty;
  EXPECT_EQ(device_of(empty), at::Device(at::kCPU));
  AxLinearImpl layer(4, 3);
  EXPECT_EQ(device_of(layer), at::Device(at::kCPU));
}

TEST(OnDevice, MovesOnceAndKeepsUndefinedTensors) {
  at::Tensor t = at::arange(4);
  const void* data = t.data_ptr();
  EXPECT_EQ(on_device(t, at::kCPU).data_ptr(), data);  // already there: no copy
  at::Tensor undefined;
  EXPECT_FALSE(on_device(undefined, at::kCPU).defined());
}

// --- On a GPU -----------------------------------------------------------------------------------

class OnCuda : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  }
  const at::Device cuda_{at::kCUDA, 0};
};

LayerConfig with_mult(const std::string& mult) {
  LayerConfig config;
  config.mult = mult;
  config.calib.method = quant::CalibMethod::kPercentile;
  return config;
}

// Calibrates a copy of `layer` on each device from the same data, then runs it there: the
// calibration buffers and outputs must be the CPU's, bit for bit.
template <typename Layer, typename Forward>
void expect_same_on_cuda(Layer& cpu, Layer& gpu, const at::Tensor& calib, Forward&& forward) {
  gpu.to(at::Device(at::kCUDA, 0));
  for (Layer* l : {&cpu, &gpu}) {
    l->set_calibrating(true);
    forward(*l, calib.to(device_of(*l)));
    l->set_calibrating(false);
  }
  for (const auto& b : cpu.named_buffers())
    EXPECT_TRUE(at::equal(b.value(), gpu.named_buffers()[b.key()].cpu())) << b.key();
  torch::NoGradGuard no_grad;
  const at::Tensor want = forward(cpu, calib);
  const at::Tensor got = forward(gpu, calib.to(at::Device(at::kCUDA, 0)));
  EXPECT_TRUE(got.is_cuda());
  EXPECT_TRUE(at::equal(want, got.cpu()));
}

TEST_F(OnCuda, ApproximateLayersComputeWhatTheyComputeOnTheCpu) {
  torch::manual_seed(3);
  const at::Tensor x = at::randn({8, 3, 9, 9});
  for (const std::string mult : {"trunc8s_k6", "drum8u_k4", "exact4s"}) {
    SCOPED_TRACE(mult);
    AxConv2dImpl conv({3, 5, {3, 3}, {2, 1}, {1, 1}}, "conv", with_mult(mult));
    AxConv2dImpl conv_gpu({3, 5, {3, 3}, {2, 1}, {1, 1}}, "conv", with_mult(mult));
    conv_gpu.weight.data().copy_(conv.weight.data());
    conv_gpu.bias.data().copy_(conv.bias.data());
    expect_same_on_cuda(conv, conv_gpu, x,
                        [](AxConv2dImpl& l, const at::Tensor& in) { return l.forward(in); });
    AxLinearImpl linear(81, 7, true, "fc", with_mult(mult));
    AxLinearImpl linear_gpu(81, 7, true, "fc", with_mult(mult));
    linear_gpu.weight.data().copy_(linear.weight.data());
    linear_gpu.bias.data().copy_(linear.bias.data());
    const at::Tensor rows = x.reshape({24, 81});
    expect_same_on_cuda(linear, linear_gpu, rows,
                        [](AxLinearImpl& l, const at::Tensor& in) { return l.forward(in); });
    AxMatMulImpl matmul("mm", with_mult(mult)), matmul_gpu("mm", with_mult(mult));
    expect_same_on_cuda(matmul, matmul_gpu, x, [](AxMatMulImpl& l, const at::Tensor& in) {
      return l.forward(in, in.transpose(-1, -2));
    });
  }
}

TEST_F(OnCuda, LearnedColumnsOnAnotherDeviceStillGetTheirGradient) {
  torch::manual_seed(4);
  AxLinearImpl layer(16, 4, true, "fc", with_mult("exact8u"));
  LayerConfig config = layer.config();
  config.dynamic = true;
  layer.set_config(config);
  layer.to(cuda_);
  const at::Tensor gamma = at::full({2}, 0.5).requires_grad_(true);  // on the CPU
  const at::Tensor columns = at::ones({2, 256, 256}, at::kInt);
  layer.set_learned_columns(LearnedColumns{gamma, columns});
  layer.forward(at::randn({5, 16}, cuda_)).sum().backward();
  ASSERT_TRUE(gamma.grad().defined());
  EXPECT_TRUE(gamma.grad().is_cpu());
  EXPECT_GT(gamma.grad().abs().sum().item<double>(), 0);
}

TEST_F(OnCuda, QuantizersAndCalibratorsAgreeWithTheCpu) {
  torch::manual_seed(5);
  const at::Tensor lo = -at::rand({6}), hi = at::rand({6});
  const quant::AsymmetricTensors cpu = quant::asymmetric_params(lo, hi, 8);
  const quant::AsymmetricTensors gpu = quant::asymmetric_params(lo.to(cuda_), hi.to(cuda_), 8);
  EXPECT_TRUE(gpu.scale.is_cuda());
  EXPECT_TRUE(at::equal(cpu.scale, gpu.scale.cpu()));
  EXPECT_TRUE(at::equal(cpu.zero_point, gpu.zero_point.cpu()));
  const at::Tensor x = at::randn({1000});
  for (const auto method : {quant::CalibMethod::kPercentile, quant::CalibMethod::kEntropy}) {
    quant::CalibOptions options;
    options.method = method;
    quant::Calibrator on_cpu(options), on_gpu(options);
    on_cpu.collect(x);
    on_gpu.collect(x.to(cuda_));
    EXPECT_EQ(on_cpu.amax(), on_gpu.amax());
  }
}

}  // namespace
}  // namespace axnn::nn
