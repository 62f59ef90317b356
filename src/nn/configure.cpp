#include "nn/configure.h"

#include <fnmatch.h>

#include <fstream>
#include <set>

#include "core/error.h"
#include "nn/ax_layers.h"

namespace axnn::nn {

std::vector<ConfigRule> load_config_rules(const std::filesystem::path& path) {
  std::ifstream in(path);
  AXNN_CHECK(in, "layer config file {}: cannot be read", path.string());
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("layer config file {}: not valid JSON: {}", path.string(), e.what()));
  }
  AXNN_CHECK(json.is_object() && json.contains("layers") && json["layers"].is_array(),
             "layer config file {}: expected an object {{\"layers\": [rules...]}}", path.string());
  static const std::set<std::string> kTypes = {"linear", "conv2d", "matmul"};
  std::vector<ConfigRule> rules;
  for (size_t i = 0; i < json["layers"].size(); ++i) {
    const std::string where = fmt::format("layer config file {}: layers[{}]", path.string(), i);
    nlohmann::json entry = json["layers"][i];
    AXNN_CHECK(entry.is_object(), "{}: a rule must be a JSON object", where);
    ConfigRule rule;
    for (const char* key : {"match", "type"}) {
      if (!entry.contains(key)) continue;
      AXNN_CHECK(entry[key].is_string(), "{}: \"{}\" must be a string", where, key);
      (std::string(key) == "match" ? rule.match : rule.type) = entry[key].get<std::string>();
      entry.erase(key);
    }
    AXNN_CHECK(rule.type.empty() || kTypes.count(rule.type),
               "{}: type '{}' is not linear, conv2d or matmul", where, rule.type);
    rule.config = layer_config_from_json(entry, where);
    rules.push_back(std::move(rule));
  }
  return rules;
}

std::vector<ConfigRule> rules_for_all(const std::string& mult) {
  ConfigRule rule;
  rule.config.mult = mult;
  return {rule};
}

namespace {

LayerInfo info_of(const std::string& name, const AxLayer& layer) {
  return {name, std::string(layer.type()), layer.config().mult, layer.macs_per_sample(),
          layer.relative_power()};
}

}  // namespace

std::vector<LayerInfo> configure_layers(torch::nn::Module& root,
                                        const std::vector<ConfigRule>& rules) {
  for (auto& [name, layer] : ax_layers(root)) {
    for (const ConfigRule& rule : rules) {
      if (!rule.type.empty() && rule.type != layer->type()) continue;
      if (fnmatch(rule.match.c_str(), name.c_str(), 0) != 0) continue;
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
