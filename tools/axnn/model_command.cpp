// `axnn train | calibrate | eval | retrain`: the model pipeline on checkpoints.
#include <fmt/format.h>
#include <torch/serialize.h>
#include <torch/utils.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "commands.h"
#include "core/files.h"
#include "model_options.h"
#include "nn/ax_layers.h"
#include "nn/configure.h"
#include "quant/calibrator.h"
#include "train/halut_learn.h"

namespace axnn::cli {
namespace {

// In the pickle format Python's torch.load reads.
void write_tensor(const at::Tensor& tensor, const std::string& path) {
  const std::vector<char> bytes = torch::pickle_save(tensor);
  write_text_file(path, std::string_view(bytes.data(), bytes.size()));
}

// "halut c16 k16 maddness int8" for a Halut layer, else the multiplier.
std::string product_of(const nn::LayerInfo& l) {
  if (!l.halut) return l.mult;
  const nn::HalutConfig& h = *l.halut;
  return fmt::format("halut c{} k{} {} {}{}", h.c, h.k, h.encoder, h.lut,
                     h.average > 0 ? fmt::format(" avg{}", h.average) : "");
}

void print_report(models::Model& model, const train::CheckpointInfo& info, double accuracy,
                  int64_t images, bool json) {
  const std::optional<double> power = nn::network_relative_power(model);
  const auto table = nn::layer_table(model);
  // The Halut layers' operations against the MACs they replace.
  nn::HalutOps ops;
  int64_t replaced_macs = 0, macs = 0;
  for (const auto& l : table) {
    macs += l.macs_per_sample;
    if (!l.halut_ops) continue;
    replaced_macs += l.macs_per_sample;
    ops.comparisons += l.halut_ops->comparisons;
    ops.table_reads += l.halut_ops->table_reads;
    ops.additions += l.halut_ops->additions;
    ops.encoder_macs += l.halut_ops->encoder_macs;
  }
  const auto ops_json = [](const nn::HalutOps& o) {
    return nlohmann::ordered_json{{"comparisons", o.comparisons},
                                  {"table_reads", o.table_reads},
                                  {"additions", o.additions},
                                  {"encoder_macs", o.encoder_macs}};
  };
  if (json) {
    nlohmann::ordered_json layers = nlohmann::ordered_json::array();
    for (const auto& l : table) {
      nlohmann::ordered_json layer = {
          {"name", l.name},
          {"type", l.type},
          {"mult", l.mult},
          {"macs_per_sample", l.macs_per_sample},
          {"relative_power", l.relative_power ? nlohmann::ordered_json(*l.relative_power)
                                              : nlohmann::ordered_json(nullptr)}};
      if (l.halut)
        layer["halut"] = {{"c", l.halut->c},
                          {"k", l.halut->k},
                          {"encoder", l.halut->encoder},
                          {"lut", l.halut->lut},
                          {"average", l.halut->average},
                          {"ops_per_sample", ops_json(*l.halut_ops)}};
      layers.push_back(layer);
    }
    nlohmann::ordered_json out = {{"model", info.model},
                                  {"dataset", info.dataset},
                                  {"images", images},
                                  {"top1_pct", 100 * accuracy},
                                  {"relative_power", power ? nlohmann::ordered_json(*power)
                                                           : nlohmann::ordered_json(nullptr)}};
    if (replaced_macs > 0)
      out["halut"] = {{"replaced_macs_per_sample", replaced_macs},
                      {"macs_per_sample", macs},
                      {"ops_per_sample", ops_json(ops)}};
    out["layers"] = layers;
    fmt::print("{}\n", out.dump(2));
    return;
  }
  fmt::print("{} on {} test ({} images): top-1 {:.2f}%, relative multiplier power {}\n", info.model,
             info.dataset, images, 100 * accuracy,
             power ? fmt::format("{:.4f}", *power) : "unknown (a multiplier has no power figure)");
  if (replaced_macs > 0)
    fmt::print(
        "Halut layers replace {} of {} MACs per sample ({:.1f}%) with {} comparisons, {} table "
        "reads and {} additions{}\n",
        replaced_macs, macs, 100.0 * static_cast<double>(replaced_macs) / static_cast<double>(macs),
        ops.comparisons, ops.table_reads, ops.additions,
        ops.encoder_macs > 0 ? fmt::format(" (and {} encoder MACs)", ops.encoder_macs) : "");
  fmt::print("  {:<22} {:<7} {:<26} {:>12} {:>7}\n", "layer", "type", "multiplier", "MACs/sample",
             "power");
  for (const auto& l : table)
    fmt::print("  {:<22} {:<7} {:<26} {:>12} {:>7}\n", l.name, l.type, product_of(l),
               l.macs_per_sample,
               l.relative_power ? fmt::format("{:.3f}", *l.relative_power) : "-");
}

}  // namespace

void add_model_commands(CLI::App& app) {
  // train
  {
    auto* cmd =
        app.add_subcommand("train", "Train a model of the zoo (fp32) and save a checkpoint");
    struct Args {
      std::string model = "lenet5", data = "fashion-mnist", output;
      train::TrainOptions options;
      ComputeOptions compute;
    };
    auto args = std::make_shared<Args>();
    cmd->add_option("--model", args->model, "lenet5, mlp, resnet20 or vit-tiny")
        ->capture_default_str();
    cmd->add_option("--data", args->data, kDataHelp)->capture_default_str();
    add_train_options(*cmd, args->options);
    cmd->add_option("--seed", args->options.seed, "Random seed (initial weights, batch order)")
        ->capture_default_str();
    cmd->add_option("-o,--output", args->output, "Checkpoint to write")->required();
    args->compute.add_to(*cmd);
    cmd->callback([args] {
      const at::Device device = args->compute.apply();
      check_output(args->output);
      const data::Dataset train_set = load_data(args->data, data::Split::kTrain);
      const data::Dataset test_set = load_data(args->data, data::Split::kTest);
      train::CheckpointInfo info{
          args->model,
          {train_set.images.size(1), train_set.images.size(2), train_set.classes},
          args->data};
      // Initialized on the host from the seed: the same weights on every device, run after run.
      torch::manual_seed(args->options.seed);
      const auto model = models::make_model(args->model, info.spec);
      model->to(device);
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
        "calibrate",
        "Collect activation statistics and store each layer's amax and range in a checkpoint");
    struct Args {
      std::string input, output, method = "percentile";
      double percentile = 99.99;
      int64_t batches = 20;
      LayerOptions layers;
      ComputeOptions compute;
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
    args->compute.add_to(*cmd);
    cmd->callback([args] {
      const at::Device device = args->compute.apply();
      const quant::CalibMethod method = quant::parse_calib_method(args->method);
      train::CheckpointInfo info;
      const auto model = load_configured(args->input, args->layers, info, device);
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
      std::string input, logits;
      bool json = false;
      LayerOptions layers;
      ComputeOptions compute;
    };
    auto args = std::make_shared<Args>();
    cmd->add_option("checkpoint", args->input, "Checkpoint to evaluate")->required();
    cmd->add_flag("--json", args->json, "One JSON object");
    cmd->add_option("--logits", args->logits,
                    "Also write the test images' logits [N, classes] here (Python: torch.load)");
    args->layers.add_to(*cmd);
    args->compute.add_to(*cmd);
    cmd->callback([args] {
      const at::Device device = args->compute.apply();
      train::CheckpointInfo info;
      if (!args->logits.empty()) check_output(args->logits, "--logits");
      const auto model = load_configured(args->input, args->layers, info, device);
      const data::Dataset test_set = load_data(info.dataset, data::Split::kTest);
      at::Tensor logits;
      const double accuracy =
          train::evaluate(*model, test_set, 256, args->logits.empty() ? nullptr : &logits);
      if (!args->logits.empty()) write_tensor(logits, args->logits);
      print_report(*model, info, accuracy, test_set.size(), args->json);
    });
  }
  // retrain
  {
    auto* cmd = app.add_subcommand(
        "retrain", "Approximation-aware fine-tuning: train through the approximate layers");
    struct Args {
      std::string input, output;
      int64_t train_images = 0;
      train::TrainOptions options = retrain_defaults();
      LayerOptions layers;
      ComputeOptions compute;
    };
    auto args = std::make_shared<Args>();
    cmd->add_option("checkpoint", args->input, "Calibrated checkpoint")->required();
    add_train_options(*cmd, args->options);
    cmd->add_option("--train-images", args->train_images, kTrainImagesHelp)->capture_default_str();
    cmd->add_option("-o,--output", args->output, "Checkpoint to write")->required();
    args->layers.add_to(*cmd);
    args->compute.add_to(*cmd);
    cmd->callback([args] {
      const at::Device device = args->compute.apply();
      check_output(args->output);
      train::CheckpointInfo info;
      const auto model = load_configured(args->input, args->layers, info, device);
      const data::Dataset train_set =
          first_images(load_data(info.dataset, data::Split::kTrain), args->train_images);
      const data::Dataset test_set = load_data(info.dataset, data::Split::kTest);
      const double before = train::evaluate(*model, test_set);
      const auto annealing = train::halut_annealing(*model, train_set, args->options);
      train::train(*model, train_set, args->options, print_epoch,
                   annealing ? &*annealing : nullptr);
      const double after = train::evaluate(*model, test_set);
      train::save_checkpoint(*model, info, args->output);
      fmt::print("{} on {} test: top-1 {:.2f}% before retraining, {:.2f}% after; wrote {}\n",
                 info.model, info.dataset, 100 * before, 100 * after, args->output);
    });
  }
}

}  // namespace axnn::cli
