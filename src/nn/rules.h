// Layer rules: which config (layer_config.h) each approximate layer gets, matched on the layer's
// path name (a glob, fnmatch) and/or its type ("linear", "conv2d", "matmul"); the first matching
// rule wins. A rules file is JSON:
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
// strings; both formats then go through the same validation. No module code here: the op library
// (src/ops) reads rules for the Python front end with these same functions.
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

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
// The same validation of a parsed {"layers": [...]} object; errors begin with `where`.
std::vector<ConfigRule> rules_from_json(const nlohmann::json& json, const std::string& where);
// {"layers": [...]} with every key of every rule written out.
nlohmann::json to_json(const std::vector<ConfigRule>& rules);
// One rule for every layer: what `--mult NAME` means.
std::vector<ConfigRule> rules_for_all(const std::string& mult);
bool rule_matches(const ConfigRule& rule, const std::string& name, std::string_view type);

}  // namespace axnn::nn
