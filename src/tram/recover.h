// TRAM phase 3, accuracy recovery: the mapped multipliers frozen on their layers, the weights
// fine-tuned through them by approximation-aware retraining (train::train on the LUT layers:
// unsigned asymmetric with exact zero-point terms for an unsigned structure).
#pragma once

#include <filesystem>
#include <vector>

#include "data/datasets.h"
#include "models/zoo.h"
#include "nn/configure.h"
#include "train/train.h"

namespace axnn::tram {

// The layer rules a map folder stands for (tram/map.h): layers.yaml for a per-layer structure,
// else the .axm that mapping.json names, on every layer. Throws axnn::Error naming the folder
// when it holds neither.
std::vector<nn::ConfigRule> mapped_rules(const std::filesystem::path& map_dir);

struct Recovery {
  double mapped_top1_pct = 0;     // before fine-tuning (the explored weights)
  double recovered_top1_pct = 0;  // after
  double relative_power = 1;      // the network's, from the mapped multipliers' metadata
  double seconds = 0;
};

// Configures the model with the rules, evaluates, fine-tunes, evaluates again.
Recovery recover(models::Model& model, const std::vector<nn::ConfigRule>& rules,
                 const data::Dataset& train_set, const data::Dataset& test_set,
                 const train::TrainOptions& options,
                 const std::function<void(const train::EpochStats&)>& on_epoch = {});

}  // namespace axnn::tram
