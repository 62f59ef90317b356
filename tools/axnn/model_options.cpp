#include "model_options.h"

#include <ATen/Parallel.h>
#include <fmt/format.h>

#include <cstdio>
#include <filesystem>

#include "core/error.h"
#include "nn/configure.h"
#include "nn/device.h"

namespace axnn::cli {

data::Dataset load_data(const std::string& spec, data::Split split) {
  if (spec == "fashion-mnist")
    return data::read_mnist_dir(data::kFashionMnistDir, split, "fashion-mnist");
  const auto colon = spec.find(':');
  const std::string kind = spec.substr(0, colon),
                    dir = colon == std::string::npos ? "" : spec.substr(colon + 1);
  AXNN_CHECK(!dir.empty() && (kind == "mnist" || kind == "cifar10"),
             "--data '{}': expected fashion-mnist, mnist:DIR or cifar10:DIR", spec);
  return kind == "mnist" ? data::read_mnist_dir(dir, split, "mnist")
                         : data::read_cifar10(dir, split);
}

data::Dataset first_images(data::Dataset set, int64_t count) {
  AXNN_CHECK(count >= 0, "--train-images {}: must not be negative", count);
  if (count > 0 && count < set.size()) {
    set.images = set.images.slice(0, 0, count);
    set.labels = set.labels.slice(0, 0, count);
  }
  return set;
}

void LayerOptions::add_to(CLI::App& app) {
  auto* m = app.add_option("--mult", mult,
                           "Multiplier for every layer (a name or file, see "
                           "`axnn mult list`); `exact` means fp32");
  auto* c = app.add_option("--config", config,
                           "Per-layer rules, JSON or YAML (.yaml/.yml; docs in "
                           "src/nn/configure.h): {\"layers\": [{\"match\": \"conv1\", ...}]}");
  m->excludes(c);
  app.add_option("--grad-mode", grad_mode, "With --mult: ste (default), ste-clip or lut-grad");
}

void LayerOptions::apply(models::Model& model) const {
  if (!config.empty()) {
    AXNN_CHECK(grad_mode.empty(), "--grad-mode goes with --mult; put it in the --config rules");
    nn::configure_layers(model, nn::load_config_rules(config));
  } else if (!mult.empty()) {
    auto rules = nn::rules_for_all(mult);
    if (!grad_mode.empty()) rules[0].config.grad_mode = grad_mode;
    nn::configure_layers(model, rules);
  } else {
    AXNN_CHECK(grad_mode.empty(), "--grad-mode goes with --mult");
  }
}

std::shared_ptr<models::Model> load_configured(const std::string& path, const LayerOptions& layers,
                                               train::CheckpointInfo& info,
                                               const at::Device& device) {
  auto model = train::load_checkpoint(path, &info, device);
  layers.apply(*model);
  return model;
}

void ComputeOptions::add_to(CLI::App& app) {
  app.add_option("--threads", threads, "Threads (default: all cores)");
  app.add_option("--device", device,
                 "cpu, cuda or cuda:N: where the model computes (cuda needs axnn built against a "
                 "CUDA LibTorch: README.md, On a GPU); checkpoints load on either")
      ->capture_default_str();
}

at::Device ComputeOptions::apply() const {
  if (threads > 0) at::set_num_threads(threads);
  return nn::parse_device(device);
}

void add_train_options(CLI::App& cmd, train::TrainOptions& options) {
  cmd.add_option("--epochs", options.epochs, "Epochs")->capture_default_str();
  cmd.add_option("--batch", options.batch_size, "Batch size")->capture_default_str();
  cmd.add_option("--lr", options.lr, "Adam learning rate (cosine decay)")->capture_default_str();
  cmd.add_option("--weight-decay", options.weight_decay, "Adam L2 penalty")->capture_default_str();
  cmd.add_flag("--augment", options.augment,
               "Random crops (2-pixel zero padding) and horizontal flips of the training images");
}

train::TrainOptions retrain_defaults() {
  train::TrainOptions options;
  options.epochs = 1;
  options.lr = 2e-4;
  return options;
}

void check_output(const std::string& path, std::string_view option) {
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  AXNN_CHECK(parent.empty() || std::filesystem::is_directory(parent),
             "{} {}: the folder {} does not exist", option, path, parent.string());
}

void print_epoch(const train::EpochStats& stats) {
  fmt::print("epoch {}: loss {:.4f}, train top-1 {:.2f}%, {:.1f} s\n", stats.epoch, stats.loss,
             100 * stats.train_accuracy, stats.seconds);
  std::fflush(stdout);
}

}  // namespace axnn::cli
