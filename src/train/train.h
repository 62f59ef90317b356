// Training, evaluation and calibration loops over a dataset, and checkpoints that keep a model's
// weights, calibration and layer configs together.
#pragma once

#include <c10/core/Device.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "data/datasets.h"
#include "models/zoo.h"

namespace axnn::train {

struct TrainOptions {
  int64_t epochs = 5;
  int64_t batch_size = 128;
  double lr = 2e-3;         // Adam, cosine decay to 0 over the run
  double weight_decay = 0;  // Adam's L2 penalty
  // Random crops of the image zero-padded by 2 pixels and horizontal flips, per image and step.
  bool augment = false;
  uint64_t seed = 1;
};

// What training optimizes besides the model's parameters and the cross entropy: TRAM's structure
// exploration trains its structure parameters against a power penalty.
struct ExtraObjective {
  std::vector<at::Tensor>
      parameters;  // trained by Adam at their own learning rate (cosine decayed)
  double lr = 1e-2;
  std::function<at::Tensor()> penalty;  // added to every step's loss (a scalar)
  std::function<void()> after_step;     // e.g. projects the parameters back into their domain
};

struct EpochStats {
  int64_t epoch;       // 1-based
  double loss;         // mean over the epoch, the penalty included
  double penalty = 0;  // mean of the extra objective's penalty over the epoch
  double train_accuracy;
  double seconds;
};

// The loops run on the model's device (nn/device.h), each batch prepared on the host and moved
// there.
//
// Trains in place (shuffled batches, cross entropy); calls on_epoch after each epoch. With
// approximate layers configured this is approximation-aware retraining, each layer using its
// gradient mode.
void train(models::Model& model, const data::Dataset& set, const TrainOptions& options,
           const std::function<void(const EpochStats&)>& on_epoch = {},
           const ExtraObjective* extra = nullptr);

// Top-1 accuracy in [0, 1]; the logits [N, classes] in `logits` when given.
double evaluate(models::Model& model, const data::Dataset& set, int64_t batch_size = 256,
                at::Tensor* logits = nullptr);

// Runs `batches` batches of `set` through the model with its approximate layers collecting
// activation statistics, then stores their amax.
void calibrate(models::Model& model, const data::Dataset& set, int64_t batches,
               int64_t batch_size = 256);

// What a checkpoint records besides the tensors.
struct CheckpointInfo {
  std::string model;
  models::InputSpec spec;
  std::string dataset;
  nlohmann::json layers = nlohmann::json::object();  // layer path -> config (layer_config.h)
};

// Parameters, buffers (calibration included), layer configs; written atomically, every tensor
// on the CPU whatever the model's device.
void save_checkpoint(models::Model& model, CheckpointInfo info, const std::filesystem::path& path);
// Rebuilds the model, applies its layer configs, loads its tensors and puts the model on
// `device`. Throws axnn::Error naming the file for anything that is not an axnn checkpoint.
std::shared_ptr<models::Model> load_checkpoint(const std::filesystem::path& path,
                                               CheckpointInfo* info = nullptr,
                                               const at::Device& device = at::kCPU);

}  // namespace axnn::train
