// `axnn halut learn`: turns a checkpoint's Linear and Conv2d layers into multiplication-free
// Halut (MADDness) products learned from the training set's activations (src/train/halut_learn.h,
// src/nn/halut.h). `axnn eval` evaluates the result and `axnn retrain` fine-tunes its tables.
#include <fmt/format.h>

#include <cmath>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "commands.h"
#include "core/error.h"
#include "model_options.h"
#include "train/halut_learn.h"

namespace axnn::cli {

void add_halut_command(CLI::App& app) {
  auto* halut = app.add_subcommand(
      "halut", "Halut / MADDness layers: multiplication-free products learned from activations");
  halut->require_subcommand(1);
  auto* cmd = halut->add_subcommand(
      "learn",
      "Learn the selected layers as Halut products, in network order, each from the inputs it "
      "sees with the layers before it already replaced; writes the checkpoint after every layer "
      "(rerun the same command on its output to resume)");
  struct Args {
    std::string input, output, data;
    int64_t train_images = 0;
    train::HalutLearnRun run;
    bool json = false;
    ComputeOptions compute;
  };
  auto args = std::make_shared<Args>();
  args->run.retrain = retrain_defaults();
  cmd->add_option("checkpoint", args->input, "Checkpoint to start from")->required();
  cmd->add_option("-o,--output", args->output, "Checkpoint to write")->required();
  cmd->add_option("--layers", args->run.layers,
                  "Globs over layer names, comma-separated (axnn eval lists the layers); Linear "
                  "and Conv2d layers only, e.g. 'conv2,fc*'")
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_option("--c", args->run.config.c, "Codebooks per product (column groups)")
      ->capture_default_str();
  cmd->add_option("--group-width", args->run.group_width,
                  "Instead of one --c for all layers, about this many columns per codebook: "
                  "c = ceil(d / W) per layer")
      ->capture_default_str();
  cmd->add_option("--k", args->run.config.k, "Prototypes per codebook: 2, 4, 8 or 16")
      ->capture_default_str();
  cmd->add_option("--encoder", args->run.config.encoder,
                  "maddness (hash trees, 4 comparisons per codebook), pq (k-means, nearest "
                  "centroid) or learned (k-means centroids that axnn retrain trains, LUT-NN)")
      ->capture_default_str();
  cmd->add_option("--lut", args->run.config.lut, "Table type at inference: int8 or fp32")
      ->capture_default_str();
  cmd->add_option("--average", args->run.config.average,
                  "int8 tables: levels of MADDness's averaging trick (0 exact .. 4)")
      ->capture_default_str();
  cmd->add_option("--rows", args->run.rows, "Learning rows per layer (im2col patches for a conv)")
      ->capture_default_str();
  cmd->add_option("--held-out", args->run.held_out, "Held-out rows per layer for the NMSE")
      ->capture_default_str();
  cmd->add_option("--images", args->run.images,
                  "Training images run through per layer, at least (more when --rows needs them: a "
                  "Linear sees one row per image)")
      ->capture_default_str();
  cmd->add_option("--ridge", args->run.learn.ridge_lambda,
                  "maddness: lambda of the ridge-regression prototype refinement (0: leaf means)")
      ->capture_default_str();
  cmd->add_option("--seed", args->run.learn.seed, "Seed of the row sampling and k-means")
      ->capture_default_str();
  cmd->add_option("--retrain-epochs", args->run.retrain_epochs,
                  "Fine-tune the whole network for this many epochs after each layer is learned, "
                  "before the next (Halutmatmul's schedule); 0: learn every layer first and run "
                  "axnn retrain afterwards")
      ->capture_default_str();
  cmd->add_option("--retrain-lr", args->run.retrain.lr, "Adam learning rate of those fine-tunings")
      ->capture_default_str();
  cmd->add_option("--data", args->data, std::string(kDataHelp) + " (default: the checkpoint's)");
  cmd->add_option("--train-images", args->train_images,
                  "Learn and fine-tune on the first N training images only (0: all)")
      ->capture_default_str();
  cmd->add_flag("--json", args->json, "Print the per-layer report as JSON");
  args->compute.add_to(*cmd);
  cmd->callback([args] {
    const at::Device device = args->compute.apply();
    check_output(args->output);
    train::CheckpointInfo info;
    const auto model = train::load_checkpoint(args->input, &info, device);
    const data::Dataset train_set =
        first_images(load_data(args->data.empty() ? info.dataset : args->data, data::Split::kTrain),
                     args->train_images);
    args->run.on_epoch = print_epoch;
    nlohmann::ordered_json layers = nlohmann::ordered_json::array();
    train::learn_halut(*model, train_set, args->run, [&](const train::HalutLayerReport& r) {
      train::save_checkpoint(*model, info, args->output);
      const auto nmse = [&] {
        return std::isnan(r.nmse) ? nlohmann::ordered_json() : nlohmann::ordered_json(r.nmse);
      };
      layers.push_back({{"name", r.name},
                        {"groups", r.groups},
                        {"d", r.d},
                        {"m", r.m},
                        {"c", r.c},
                        {"rows", r.rows},
                        {"held_out", r.held_out},
                        {"nmse", nmse()},
                        {"seconds", r.seconds},
                        {"kept", r.kept}});
      if (args->json) return;
      if (r.kept)
        fmt::print("[{}/{}] {}: already learned with these settings, kept\n", r.index, r.count,
                   r.name);
      else
        fmt::print(
            "[{}/{}] {}: {} rows x {} columns{} -> {} outputs, c = {}, held-out NMSE {}, {:.1f} "
            "s\n",
            r.index, r.count, r.name, r.rows, r.d,
            r.groups > 1 ? fmt::format(" ({} groups)", r.groups) : "", r.m, r.c,
            std::isnan(r.nmse) ? "-" : fmt::format("{:.4f}", r.nmse), r.seconds);
      std::fflush(stdout);
    });
    if (args->json)
      fmt::print("{}\n",
                 nlohmann::ordered_json({{"output", args->output}, {"layers", layers}}).dump(2));
    else
      fmt::print("wrote {}; evaluate it with `axnn eval {}`\n", args->output, args->output);
  });
}

}  // namespace axnn::cli
