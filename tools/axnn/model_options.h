// Command-line pieces the model subcommands share (train, calibrate, eval, retrain, sweep, search,
// tram, halut learn): dataset specs, layer options, threads and device, training options,
// checkpoints and progress lines.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <string>
#include <string_view>

#include "data/datasets.h"
#include "models/zoo.h"
#include "train/train.h"

namespace axnn::cli {

inline constexpr const char* kDataHelp =
    "Dataset: fashion-mnist (Debian's dataset-fashion-mnist, the default), mnist:DIR (IDX files), "
    "cifar10:DIR (CIFAR-10 binary batches)";

// A --data spec (kDataHelp) read from its local files.
data::Dataset load_data(const std::string& spec, data::Split split);

// The first `count` images of a set (0: all); throws axnn::Error for a negative count, naming
// --train-images.
data::Dataset first_images(data::Dataset set, int64_t count);
inline constexpr const char* kTrainImagesHelp =
    "Train on the first N training images only (0: all), for quick runs";

// --mult NAME or --config FILE; neither keeps the layers as they are.
struct LayerOptions {
  std::string mult, config, grad_mode;

  void add_to(CLI::App& app);
  void apply(models::Model& model) const;
};

// A checkpoint on `device` with the layer options applied.
std::shared_ptr<models::Model> load_configured(const std::string& path, const LayerOptions& layers,
                                               train::CheckpointInfo& info,
                                               const at::Device& device);

// --threads and --device: where a model command computes.
struct ComputeOptions {
  int threads = 0;
  std::string device = "cpu";
  void add_to(CLI::App& app);
  // Sets the threads and returns the device, checked before any long work (nn::parse_device).
  at::Device apply() const;
};

void add_train_options(CLI::App& cmd, train::TrainOptions& options);
// What approximation-aware retraining starts from: one epoch, a tenth of training's learning rate.
train::TrainOptions retrain_defaults();

// Fails before any long work when the output's folder does not exist, naming the option.
void check_output(const std::string& path, std::string_view option = "-o");

void print_epoch(const train::EpochStats& stats);

}  // namespace axnn::cli
