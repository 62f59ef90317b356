// The configuration pass: which multiplier and settings each approximate layer of a model gets.
//
// A model's Linear, Conv2d and attention MatMul layers are AxLinear / AxConv2d / AxMatMul from
// the start (the model zoo builds them so; config "exact" is plain fp32). In LibTorch a submodule
// cannot be swapped behind the member handle its parent's forward uses, so instead of replacing
// modules the pass configures these layers in place by rules (rules.h); layers no rule matches
// keep their config.
#pragma once

#include <torch/nn/module.h>

#include <optional>
#include <string>
#include <vector>

#include "nn/halut.h"
#include "nn/layer_config.h"
#include "nn/rules.h"

namespace axnn::nn {

struct LayerInfo {
  std::string name, type, mult;
  int64_t macs_per_sample;
  std::optional<double> relative_power;
  std::optional<HalutConfig> halut;   // for mult "halut"
  std::optional<HalutOps> halut_ops;  // per sample, from the last forward
};

// Applies the rules to every approximate layer below root; returns the layers with their configs.
std::vector<LayerInfo> configure_layers(torch::nn::Module& root,
                                        const std::vector<ConfigRule>& rules);
// The approximate layers below root as they are now (MACs from their last forward).
std::vector<LayerInfo> layer_table(torch::nn::Module& root);

}  // namespace axnn::nn
