#include "search/evaluator.h"

#include <torch/torch.h>

#include <algorithm>

#include "core/error.h"
#include "mult/registry.h"
#include "nn/ax_layers.h"

namespace axnn::search {

data::Dataset head(const data::Dataset& set, int64_t n) {
  if (n <= 0 || n >= set.size()) return set;
  data::Dataset out = set;
  out.images = set.images.slice(0, 0, n);
  out.labels = set.labels.slice(0, 0, n);
  return out;
}

ModelEvaluator::ModelEvaluator(const std::string& checkpoint,
                               const std::vector<std::string>& candidates,
                               const data::Dataset& probe, const at::Device& device) {
  AXNN_CHECK(!candidates.empty(), "search: no candidate multipliers");
  model_ = train::load_checkpoint(checkpoint, &info_, device);
  {
    torch::NoGradGuard no_grad;
    model_->eval();
    model_->forward(probe.batch_images(0, std::min<int64_t>(2, probe.size())).to(device));  // MACs
  }
  for (const auto& [name, layer] : nn::ax_layers(*model_)) {
    space_.layers.push_back(name);
    space_.macs.push_back(layer->macs_per_sample());
  }
  AXNN_CHECK(!space_.layers.empty(), "search: checkpoint {} has no approximate layers", checkpoint);
  for (const std::string& name : candidates) {
    AXNN_CHECK(std::count(candidates.begin(), candidates.end(), name) == 1,
               "search: candidate {} is listed twice", name);
    AXNN_CHECK(name != "exact",
               "search: 'exact' (fp32) is the baseline, not a multiplier to assign; use exact8s "
               "or exact8u for exact integer multipliers");
    if (name == nn::kHalut) {  // each layer's learned Halut product: no multiplier
      for (const auto& [layer_name, layer] : nn::ax_layers(*model_))
        AXNN_CHECK(layer->halut().config().encoder == "maddness",
                   "search: candidate halut: layer '{}' has a Halut product with the {} encoder, "
                   "whose multiplications make its power the layer's own; only hash-tree "
                   "(maddness) products, which multiply nothing, can be candidates",
                   layer_name, layer->halut().config().encoder);
      space_.candidates.push_back(name);
      space_.power.push_back(0.0);
      continue;
    }
    Multiplier m = [&] {
      try {
        return get_multiplier(name);
      } catch (const Error& e) {
        throw Error(fmt::format("search: candidate {}: {}", name, e.what()));
      }
    }();
    AXNN_CHECK(m.meta().relative_power,
               "search: candidate {} has no relative power (no circuit or published figure), so "
               "the search cannot weigh it; import its circuit with `axnn mult import` or pick "
               "another",
               name);
    space_.candidates.push_back(name);
    space_.power.push_back(*m.meta().relative_power);
  }
  space_.validate();
  // Every candidate fits every layer (width and signedness against the calibration) before the
  // first long evaluation.
  for (size_t c = 0; c < candidates.size(); ++c)
    accuracy(Assignment(space_.layers.size(), static_cast<int>(c)), head(probe, 2));
}

std::vector<nn::ConfigRule> ModelEvaluator::rules(const Assignment& assignment) const {
  AXNN_CHECK(assignment.size() == space_.layers.size(),
             "search: an assignment of {} layers for a model of {}", assignment.size(),
             space_.layers.size());
  std::vector<nn::ConfigRule> rules;
  for (const auto& [name, layer] : nn::ax_layers(*model_)) {
    const size_t l = rules.size();
    nn::LayerConfig config = layer->config();
    config.mult = space_.candidates.at(static_cast<size_t>(assignment[l]));
    if (config.is_halut()) config.halut = layer->halut().config();  // the learned settings
    rules.push_back({name, "", config});
  }
  return rules;
}

double ModelEvaluator::accuracy(const Assignment& assignment, const data::Dataset& set) {
  nn::configure_layers(*model_, rules(assignment));
  return train::evaluate(*model_, set);
}

double ModelEvaluator::fp32_accuracy(const data::Dataset& set) {
  nn::configure_layers(*model_, nn::rules_for_all("exact"));
  return train::evaluate(*model_, set);
}

}  // namespace axnn::search
