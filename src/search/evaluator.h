// Evaluating per-layer multiplier assignments on a trained, calibrated model: the search space
// a checkpoint and a candidate list define, and top-1 accuracy under an assignment.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "data/datasets.h"
#include "models/zoo.h"
#include "nn/configure.h"
#include "search/searcher.h"
#include "train/train.h"

namespace axnn::search {

class ModelEvaluator {
 public:
  // Loads the checkpoint, runs one batch to learn each approximate layer's MACs, and checks every
  // candidate: it loads, fits the layers, and has a relative power (the search needs one; the
  // error names the candidate). The checkpoint's own layer configs are the starting point every
  // assignment overrides. The model evaluates on `device`.
  ModelEvaluator(const std::string& checkpoint, const std::vector<std::string>& candidates,
                 const data::Dataset& probe, const at::Device& device = at::kCPU);

  const SearchSpace& space() const { return space_; }
  const train::CheckpointInfo& info() const { return info_; }

  // Top-1 in [0, 1] on `set` with layer l on candidate assignment[l].
  double accuracy(const Assignment& assignment, const data::Dataset& set);
  // Top-1 with every layer in fp32: the baseline drops are measured from.
  double fp32_accuracy(const data::Dataset& set);

  // The rules that give every layer its assigned multiplier (one exact-name rule per layer):
  // what best.yaml holds for `axnn eval --config` and `axnn retrain --config`.
  std::vector<nn::ConfigRule> rules(const Assignment& assignment) const;

 private:
  std::shared_ptr<models::Model> model_;
  train::CheckpointInfo info_;
  SearchSpace space_;
};

// The first n images of a set (all of them for n <= 0 or n >= its size).
data::Dataset head(const data::Dataset& set, int64_t n);

}  // namespace axnn::search
