#include "nn/configure.h"

#include "nn/ax_layers.h"

namespace axnn::nn {

namespace {

LayerInfo info_of(const std::string& name, const AxLayer& layer) {
  const LayerConfig& config = layer.config();
  return {name,
          std::string(layer.type()),
          config.mult,
          layer.macs_per_sample(),
          layer.relative_power(),
          config.is_halut() ? std::optional(config.halut) : std::nullopt,
          layer.halut_ops_per_sample()};
}

}  // namespace

std::vector<LayerInfo> configure_layers(torch::nn::Module& root,
                                        const std::vector<ConfigRule>& rules) {
  for (auto& [name, layer] : ax_layers(root)) {
    for (const ConfigRule& rule : rules) {
      if (!rule_matches(rule, name, layer->type())) continue;
      layer->set_config(rule.config);
      break;
    }
  }
  return layer_table(root);
}

std::vector<LayerInfo> layer_table(torch::nn::Module& root) {
  std::vector<LayerInfo> table;
  for (const auto& [name, layer] : ax_layers(root)) table.push_back(info_of(name, *layer));
  return table;
}

}  // namespace axnn::nn
