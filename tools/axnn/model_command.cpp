// `axnn train | calibrate | eval | retrain`: the model pipeline on checkpoints.
#include <ATen/Parallel.h>
#include <fmt/format.h>

#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "commands.h"
#include "core/error.h"
#include "data/datasets.h"
#include "nn/ax_layers.h"
#include "nn/configure.h"
#include "train/train.h"

namespace axnn::cli {
namespace {

constexpr const char* kDataHelp =
    "Dataset: fashion-mnist (Debian's dataset-fashion-mnist, the default), mnist:DIR (IDX files), "
    "cifar10:DIR (CIFAR-10 binary batches)";

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

// --mult NAME or --config FILE; neither keeps the layers as they are.
struct LayerOptions {
  std::string mult, config, grad_mode;

  void add_to(CLI::App& app) {
    auto* m = app.add_option("--mult", mult,
                             "Multiplier for every layer (a name or file, see "
                             "`axnn mult list`); `exact` means fp32");
    auto* c = app.add_option("--config", config,
                             "Per-layer rules, JSON or YAML (.yaml/.yml; docs in "
                             "src/nn/configure.h): {\"layers\": [{\"match\": \"conv1\", ...}]}");
    m->excludes(c);
    app.add_option("--grad-mode", grad_mode, "With --mult: ste (default), ste-clip or lut-grad");
  }
  void apply(models::Model& model) const {
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
};

// A checkpoint with the layer options applied.
std::shared_ptr<models::Model> load_configured(const std::string& path, const LayerOptions& layers,
                                               train::CheckpointInfo& info) {
  auto model = train::load_checkpoint(path, &info);
  layers.apply(*model);
  return model;
}

void add_train_options(CLI::App& cmd, train::TrainOptions& options) {
  cmd.add_option("--epochs", options.epochs, "Epochs")->capture_default_str();
  cmd.add_option("--batch", options.batch_size, "Batch size")->capture_default_str();
  cmd.add_option("--lr", options.lr, "Adam learning rate (cosine decay)")->capture_default_str();
  cmd.add_option("--weight-decay", options.weight_decay, "Adam L2 penalty")->capture_default_str();
  cmd.add_flag("--augment", options.augment,
               "Random crops (2-pixel zero padding) and horizontal flips of the training images");
}

// Fails before any long work when the output's folder does not exist.
void check_output(const std::string& path) {
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  AXNN_CHECK(parent.empty() || std::filesystem::is_directory(parent),
             "-o {}: the folder {} does not exist", path, parent.string());
}

void print_epoch(const train::EpochStats& s) {
  fmt::print("epoch {}: loss {:.4f}, train top-1 {:.2f}%, {:.1f} s\n", s.epoch, s.loss,
             100 * s.train_accuracy, s.seconds);
  std::fflush(stdout);
}

void print_report(models::Model& model, const train::CheckpointInfo& info, double accuracy,
                  int64_t images, bool json) {
  const std::optional<double> power = nn::network_relative_power(model);
  const auto table = nn::layer_table(model);
  if (json) {
    nlohmann::ordered_json layers = nlohmann::ordered_json::array();
    for (const auto& l : table)
      layers.push_back(
          {{"name", l.name},
           {"type", l.type},
           {"mult", l.mult},
           {"macs_per_sample", l.macs_per_sample},
           {"relative_power", l.relative_power ? nlohmann::ordered_json(*l.relative_power)
                                               : nlohmann::ordered_json(nullptr)}});
    nlohmann::ordered_json out = {{"model", info.model},
                                  {"dataset", info.dataset},
                                  {"images", images},
                                  {"top1_pct", 100 * accuracy},
                                  {"relative_power", power ? nlohmann::ordered_json(*power)
                                                           : nlohmann::ordered_json(nullptr)},
                                  {"layers", layers}};
    fmt::print("{}\n", out.dump(2));
    return;
  }
  fmt::print("{} on {} test ({} images): top-1 {:.2f}%, relative multiplier power {}\n", info.model,
             info.dataset, images, 100 * accuracy,
             power ? fmt::format("{:.4f}", *power) : "unknown (a multiplier has no power figure)");
  fmt::print("  {:<22} {:<7} {:<26} {:>12} {:>7}\n", "layer", "type", "multiplier", "MACs/sample",
             "power");
  for (const auto& l : table)
    fmt::print("  {:<22} {:<7} {:<26} {:>12} {:>7}\n", l.name, l.type, l.mult, l.macs_per_sample,
               l.relative_power ? fmt::format("{:.3f}", *l.relative_power) : "-");
}

struct ThreadsOption {
  int threads = 0;
  void add_to(CLI::App& app) {
    app.add_option("--threads", threads, "Threads (default: all cores)");
  }
  void apply() const {
    if (threads > 0) at::set_num_threads(threads);
  }
};

}  // namespace

void add_model_commands(CLI::App& app) {
  // train
  {
    auto* cmd =
        app.add_subcommand("train", "Train a model of the zoo (fp32) and save a checkpoint");
    struct Args {
      std::string model = "lenet5", data = "fashion-mnist", output;
      train::TrainOptions options;
      ThreadsOption threads;
    };
    auto args = std::make_shared<Args>();
    cmd->add_option("--model", args->model, "lenet5, mlp, resnet20 or vit-tiny")
        ->capture_default_str();
    cmd->add_option("--data", args->data, kDataHelp)->capture_default_str();
    add_train_options(*cmd, args->options);
    cmd->add_option("--seed", args->options.seed, "Random seed")->capture_default_str();
    cmd->add_option("-o,--output", args->output, "Checkpoint to write")->required();
    args->threads.add_to(*cmd);
    cmd->callback([args] {
      args->threads.apply();
      check_output(args->output);
      const data::Dataset train_set = load_data(args->data, data::Split::kTrain);
      const data::Dataset test_set = load_data(args->data, data::Split::kTest);
      train::CheckpointInfo info{
          args->model,
          {train_set.images.size(1), train_set.images.size(2), train_set.classes},
          args->data};
      const auto model = models::make_model(args->model, info.spec);
      train::train(*model, train_set, args->options, print_epoch);
      const double accuracy = train::evaluate(*model, test_set);
      train::save_checkpoint(*model, info, args->output);
      fmt::print("{} on {} test: top-1 {:.2f}% (fp32); wrote {}\n", info.model, info.dataset,
                 100 * accuracy, args->output);
    });
  }
  // calibrate
  {
    auto* cmd = app.add_subcommand(
        "calibrate", "Collect activation statistics and store each layer's amax in a checkpoint");
    struct Args {
      std::string input, output, method = "percentile";
      double percentile = 99.99;
      int64_t batches = 20;
      LayerOptions layers;
      ThreadsOption threads;
    };
    auto args = std::make_shared<Args>();
    cmd->add_option("checkpoint", args->input, "Checkpoint to calibrate")->required();
    cmd->add_option("--method", args->method, "max, percentile, mse or entropy")
        ->capture_default_str();
    cmd->add_option("--percentile", args->percentile, "For --method percentile")
        ->capture_default_str();
    cmd->add_option("--batches", args->batches, "Training batches of 256 images to calibrate on")
        ->capture_default_str();
    cmd->add_option("-o,--output", args->output, "Checkpoint to write (default: in place)");
    args->layers.add_to(*cmd);
    args->threads.add_to(*cmd);
    cmd->callback([args] {
      args->threads.apply();
      const quant::CalibMethod method = quant::parse_calib_method(args->method);
      train::CheckpointInfo info;
      const auto model = load_configured(args->input, args->layers, info);
      // The calibration method applies to every layer; the rest of each config stays.
      for (const auto& [name, layer] : nn::ax_layers(*model)) {
        nn::LayerConfig config = layer->config();
        config.calib.method = method;
        config.calib.percentile = args->percentile;
        layer->set_config(config);
      }
      const data::Dataset train_set = load_data(info.dataset, data::Split::kTrain);
      train::calibrate(*model, train_set, args->batches);
      const std::string out = args->output.empty() ? args->input : args->output;
      train::save_checkpoint(*model, info, out);
      fmt::print("calibrated {} layers ({} on {} batches); wrote {}\n",
                 nn::ax_layers(*model).size(), args->method, args->batches, out);
    });
  }
  // eval
  {
    auto* cmd = app.add_subcommand(
        "eval", "Top-1 accuracy and relative multiplier power of a checkpoint, per-layer table");
    struct Args {
      std::string input;
      bool json = false;
      LayerOptions layers;
      ThreadsOption threads;
    };
    auto args = std::make_shared<Args>();
    cmd->add_option("checkpoint", args->input, "Checkpoint to evaluate")->required();
    cmd->add_flag("--json", args->json, "One JSON object");
    args->layers.add_to(*cmd);
    args->threads.add_to(*cmd);
    cmd->callback([args] {
      args->threads.apply();
      train::CheckpointInfo info;
      const auto model = load_configured(args->input, args->layers, info);
      const data::Dataset test_set = load_data(info.dataset, data::Split::kTest);
      const double accuracy = train::evaluate(*model, test_set);
      print_report(*model, info, accuracy, test_set.size(), args->json);
    });
  }
  // retrain
  {
    auto* cmd = app.add_subcommand(
        "retrain", "Approximation-aware fine-tuning: train through the approximate layers");
    struct Args {
      std::string input, output;
      train::TrainOptions options;
      LayerOptions layers;
      ThreadsOption threads;
    };
    auto args = std::make_shared<Args>();
    args->options.epochs = 1;
    args->options.lr = 2e-4;
    cmd->add_option("checkpoint", args->input, "Calibrated checkpoint")->required();
    add_train_options(*cmd, args->options);
    cmd->add_option("-o,--output", args->output, "Checkpoint to write")->required();
    args->layers.add_to(*cmd);
    args->threads.add_to(*cmd);
    cmd->callback([args] {
      args->threads.apply();
      check_output(args->output);
      train::CheckpointInfo info;
      const auto model = load_configured(args->input, args->layers, info);
      const data::Dataset train_set = load_data(info.dataset, data::Split::kTrain);
      const data::Dataset test_set = load_data(info.dataset, data::Split::kTest);
      const double before = train::evaluate(*model, test_set);
      train::train(*model, train_set, args->options, print_epoch);
      const double after = train::evaluate(*model, test_set);
      train::save_checkpoint(*model, info, args->output);
      fmt::print("{} on {} test: top-1 {:.2f}% before retraining, {:.2f}% after; wrote {}\n",
                 info.model, info.dataset, 100 * before, 100 * after, args->output);
    });
  }
}

}  // namespace axnn::cli
