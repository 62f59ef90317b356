// Learning a network's Halut layers (nn/halut.h) from the activations they see: what
// `axnn halut learn` runs.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "data/datasets.h"
#include "models/zoo.h"
#include "nn/halut.h"
#include "nn/layer_config.h"
#include "train/train.h"

namespace axnn::train {

struct HalutLearnRun {
  // Globs over layer path names: a Linear or Conv2d layer matching any is learned.
  std::vector<std::string> layers = {"*"};
  nn::HalutConfig config;
  // When > 0, each layer's codebooks cover about this many columns: c = ceil(d / group_width)
  // instead of config.c.
  int64_t group_width = 0;
  nn::HalutLearnOptions learn;
  int64_t rows = 50000;      // learning rows per layer (a Conv2d's rows are its im2col patches)
  int64_t held_out = 10000;  // rows for the reported NMSE, from images not learned from
  int64_t images = 4096;     // training images run through the network per layer
  int64_t batch_size = 256;
  // Halutmatmul's schedule: after each layer is learned, fine-tune the whole network with it in
  // place (its tables and every other parameter) for this many epochs before the next layer; 0
  // learns all layers first (retrain afterwards with train()).
  TrainOptions retrain;
  int64_t retrain_epochs = 0;
  std::function<void(const EpochStats&)> on_epoch;  // during those fine-tunings
};

struct HalutLayerReport {
  std::string name;
  int64_t index = 0, count = 0;  // 1-based position among the selected layers
  int64_t groups = 0, d = 0, m = 0, c = 0, rows = 0, held_out = 0;
  double nmse = 0;  // ||rows W - Halut(rows)||^2 / ||rows W||^2 on the held-out rows; NaN if none
  double seconds = 0;
  bool kept = false;  // already learned with this config (a resumed run): left as it was
};

// Configures and learns each selected layer in network order, the layers before it already
// computing their Halut products, so that every layer learns from the inputs it will see. Rows
// are sampled evenly from the batches of the first `images` training images; the last eighth of the
// batches (at least one) is held out. Calls on_layer after each layer (where `axnn halut learn`
// saves its checkpoint, so that a rerun resumes). `set` is also what the fine-tuning trains on.
// Throws axnn::Error when no layer matches.
std::vector<HalutLayerReport> learn_halut(
    models::Model& model, const data::Dataset& set, const HalutLearnRun& run,
    const std::function<void(const HalutLayerReport&)>& on_layer = {});

// What retraining a model with learned Halut encoders adds: their soft-assignment temperature
// annealed geometrically from `start` to `end` over the run's steps (TrainOptions: epochs and
// batches of `set`), so that the backward pass's soft codes approach the hard codes of the
// forward. nullopt when no layer has encoder "learned".
std::optional<ExtraObjective> halut_annealing(models::Model& model, const data::Dataset& set,
                                              const TrainOptions& options, double start = 1.0,
                                              double end = 0.05);

}  // namespace axnn::train
