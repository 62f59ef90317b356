// Model benchmark: images/s of a model's approximate int8 inference (every layer on one multiplier,
// through the LUT kernels) and of the same model in exact fp32 (LibTorch: its CPU kernels, or
// cuDNN / cuBLAS on a GPU), same device, batch and threads, in one run, with the ratio DESIGN.md
// section 3 sets a target for.
#pragma once

#include <c10/core/Device.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "bench/timing.h"
#include "models/zoo.h"

namespace axnn::bench {

struct ModelBenchOptions {
  std::string model = "resnet20";   // a zoo name; ignored when checkpoint is set
  std::string checkpoint;           // a trained, calibrated checkpoint (train/train.h), optional
  std::string mult = "trunc8s_k4";  // multiplier for every layer (speed does not depend on it)
  models::InputSpec spec;           // input of a zoo model (Fashion-MNIST's by default)
  int64_t batch = 64;
  int threads = 1;                 // at::set_num_threads for both runs
  c10::Device device = c10::kCPU;  // where both run (a CUDA device: each run waits for the GPU)
  uint32_t seed = 1;
  TimingOptions timing;
  // After the timed runs, `profile_runs` more of each with the stage timers on (core/profile.h);
  // 0 skips the profile.
  int profile_runs = 0;
};

// Seconds per forward pass of one layer (or of what runs between layers: layer "(outside
// layers)"): the fp32 run's total and the approximate run's stages, "other" being the layer's
// total less its timed stages (dispatch, allocation, autograd bookkeeping, bias).
struct LayerProfile {
  std::string layer;
  double fp32 = 0, approx = 0;
  std::vector<std::pair<std::string, double>> stages;  // in order of first appearance
};

struct ModelBenchResult {
  std::string model, mult, device;
  int64_t batch = 0;
  int threads = 0;
  double relative_power = 0;  // the network's relative multiplier power; negative if unknown
  double macs_per_image = 0;  // conv, linear and attention MACs
  Timing approx, fp32;        // seconds per batch
  std::vector<LayerProfile> profile;  // empty unless profile_runs > 0

  [[nodiscard]] double images_per_second(const Timing& t) const { return batch / t.min; }
  // Approximate time over fp32 time (the targets: <= 1.5 on a CPU, <= 3 on a GPU), at the min and
  // the median.
  [[nodiscard]] double slowdown() const { return approx.min / fp32.min; }
  [[nodiscard]] double slowdown_median() const { return approx.median / fp32.median; }
};

// Builds (or loads) the model; without a checkpoint its weights are random and its activations are
// calibrated on the benchmark batch itself. Throws axnn::Error naming a bad option.
ModelBenchResult run_model_bench(const ModelBenchOptions& options);

nlohmann::ordered_json to_json(const ModelBenchResult& result);
std::string format_model_bench(const ModelBenchResult& result);
// The profile as a table in milliseconds per forward pass, one row per layer.
std::string format_model_profile(const ModelBenchResult& result);

}  // namespace axnn::bench
