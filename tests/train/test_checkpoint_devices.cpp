// Checkpoints between devices: a model trained and calibrated on a GPU saves CPU tensors, loads on
// the CPU computing what it computed there, and loads back onto the GPU (skipped without one).
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/cuda.h>
#include <torch/script.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "common/halves.h"
#include "nn/configure.h"
#include "nn/device.h"
#include "train/train.h"

namespace axnn::train {
namespace {

using axnn::test_util::halves;

TEST(CheckpointDevices, TrainedOnCudaLoadsOnTheCpuAndBack) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const at::Device cuda(at::kCUDA, 0);
  const data::Dataset train_set = halves(512, 1), test_set = halves(256, 2);
  const models::InputSpec spec{1, 12, 2};
  auto model = models::make_model("mlp", spec);
  model->to(cuda);
  TrainOptions options;
  options.epochs = 2;
  options.batch_size = 32;
  train(*model, train_set, options);
  std::vector<nn::ConfigRule> rules(1);
  rules[0].match = "fc2";
  rules[0].config.mult = "trunc8s_k6";
  nn::configure_layers(*model, rules);
  calibrate(*model, train_set, 2, 64);
  const double accuracy = evaluate(*model, test_set);
  EXPECT_GT(accuracy, 0.9);

  const auto path = std::filesystem::temp_directory_path() /
                    ("axnn_test_cuda_ckpt_" + std::to_string(::getpid()) + ".pt");
  save_checkpoint(*model, {"mlp", spec, "halves"}, path);
  EXPECT_EQ(nn::device_of(*model), cuda);  // saving leaves the model where it is
  torch::jit::Module raw = torch::jit::load(path.string());
  for (const auto& p : raw.named_parameters()) EXPECT_TRUE(p.value.is_cpu()) << p.name;
  for (const auto& b : raw.named_buffers()) EXPECT_TRUE(b.value.is_cpu()) << b.name;

  const auto on_cpu = load_checkpoint(path);
  EXPECT_EQ(nn::device_of(*on_cpu), at::Device(at::kCPU));
  const auto on_cuda = load_checkpoint(path, nullptr, cuda);
  std::filesystem::remove(path);
  EXPECT_EQ(nn::device_of(*on_cuda), cuda);
  EXPECT_EQ(evaluate(*on_cuda, test_set), accuracy);
  // fc1 and fc3 are fp32 (cuBLAS and the CPU's GEMM round alike only nearly).
  EXPECT_NEAR(evaluate(*on_cpu, test_set), accuracy, 0.02);
  torch::NoGradGuard no_grad;
  const at::Tensor images = test_set.batch_images(0, 16);
  EXPECT_TRUE(
      at::allclose(on_cpu->forward(images), model->forward(images.to(cuda)).cpu(), 1e-3, 1e-3));
}

}  // namespace
}  // namespace axnn::train
