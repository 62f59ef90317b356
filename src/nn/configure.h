// The configuration pass: which multiplier and settings each approximate layer of a model gets.
//
// A model's Linear, Conv2d and attention MatMul layers are AxLinear / AxConv2d / AxMatMul from
// the start (the model zoo builds them so; config "exact" is plain fp32). In LibTorch a submodule
// cannot be swapped behind the member handle its parent's forward uses, so instead of replacing
// modules the pass configures these layers in place, by rules matched on the layer's path name
// (a glob, fnmatch) and/or its type ("linear", "conv2d", "matmul"); the first matching rule wins,
// layers no rule matches keep their config. A rules file is JSON:
//   {"layers": [{"match": "conv1", "mult": "exact"},
//               {"type": "matmul", "mult": "exact"},
//               {"match": "*", "mult": "trunc8s_k4", "grad_mode": "ste"}]}
// with the keys of layer_config.h besides "match" and "type", or the same structure in YAML when
// the file ends in .yaml or .yml:
//   layers:
//     - {match: conv1, mult: exact}
//     - {type: matmul, mult: exact}
//     - {match: "*", mult: trunc8s_k4, per_channel: false}   # a bare * would be a YAML alias
// Unquoted YAML scalars are typed as in YAML 1.2 (true/false, numbers, null), quoted ones are
// strings; both formats then go through the same validation.
#pragma once

#include <torch/nn/module.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "nn/halut.h"
#include "nn/layer_config.h"

namespace axnn::nn {

struct ConfigRule {
  std::string match = "*";  // glob over the layer's path name
  std::string type;         // "linear", "conv2d", "matmul", or empty for any
  LayerConfig config;
};

// JSON, or YAML by the file's extension. Throws axnn::Error naming the file and the rule's index
// (YAML and JSON syntax errors: the line) and the problem.
std::vector<ConfigRule> load_config_rules(const std::filesystem::path& path);
// One rule for every layer: what `--mult NAME` means.
std::vector<ConfigRule> rules_for_all(const std::string& mult);

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
