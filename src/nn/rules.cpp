#include "nn/rules.h"

#include <fnmatch.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <fstream>
#include <regex>
#include <set>

#include "core/error.h"

namespace axnn::nn {
namespace {

bool is_yaml_path(const std::filesystem::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return ext == ".yaml" || ext == ".yml";
}

// A plain (unquoted) YAML scalar typed as the YAML 1.2 core schema does, so that `per_channel:
// false` is a boolean and `percentile: 99.9` a number, while `mult: "1"` stays a string.
nlohmann::json typed_scalar(const YAML::Node& node) {
  const std::string& text = node.Scalar();
  if (node.Tag() != "?") return text;  // quoted, or with an explicit tag such as !!str
  static const std::regex kNull("~|null|Null|NULL|"), kTrue("true|True|TRUE"),
      kFalse("false|False|FALSE"), kInt("[-+]?[0-9]+"),
      kFloat(R"([-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?)");
  if (std::regex_match(text, kNull)) return nullptr;
  if (std::regex_match(text, kTrue)) return true;
  if (std::regex_match(text, kFalse)) return false;
  const bool is_int = std::regex_match(text, kInt);
  if (is_int) {
    int64_t value = 0;
    const char* begin = text.data() + (text[0] == '+');
    if (std::from_chars(begin, text.data() + text.size(), value).ec == std::errc()) return value;
  }
  if (is_int || std::regex_match(text, kFloat)) return std::stod(text);  // ints beyond int64 too
  return text;
}

// The same tree as JSON, so that both formats go through one validation.
nlohmann::json yaml_to_json(const YAML::Node& node, const std::string& file) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return nullptr;
    case YAML::NodeType::Scalar:
      return typed_scalar(node);
    case YAML::NodeType::Sequence: {
      nlohmann::json array = nlohmann::json::array();
      for (const YAML::Node& item : node) array.push_back(yaml_to_json(item, file));
      return array;
    }
    case YAML::NodeType::Map: {
      nlohmann::json object = nlohmann::json::object();
      for (const auto& item : node) {
        const int line = item.first.Mark().line + 1;
        AXNN_CHECK(item.first.IsScalar(), "layer config file {}: line {}: a key must be a scalar",
                   file, line);
        const std::string& key = item.first.Scalar();
        AXNN_CHECK(!object.contains(key), "layer config file {}: line {}: key '{}' given twice",
                   file, line, key);
        object[key] = yaml_to_json(item.second, file);
      }
      return object;
    }
  }
  return nullptr;
}

nlohmann::json read_rules_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  AXNN_CHECK(in, "layer config file {}: cannot be read", path.string());
  if (is_yaml_path(path)) {
    try {
      return yaml_to_json(YAML::Load(in), path.string());
    } catch (const YAML::Exception& e) {
      throw Error(fmt::format("layer config file {}: not valid YAML: line {}, column {}: {}",
                              path.string(), e.mark.line + 1, e.mark.column + 1, e.msg));
    }
  }
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("layer config file {}: not valid JSON: {}", path.string(), e.what()));
  }
}

}  // namespace

std::vector<ConfigRule> rules_from_json(const nlohmann::json& json, const std::string& where) {
  AXNN_CHECK(json.is_object() && json.contains("layers") && json.at("layers").is_array(),
             "{}: expected an object {{\"layers\": [rules...]}}", where);
  static const std::set<std::string> kTypes = {"linear", "conv2d", "matmul"};
  std::vector<ConfigRule> rules;
  for (size_t i = 0; i < json.at("layers").size(); ++i) {
    const std::string rule_where = fmt::format("{}: layers[{}]", where, i);
    nlohmann::json entry = json.at("layers")[i];
    AXNN_CHECK(entry.is_object(), "{}: a rule must be an object (a mapping in YAML)", rule_where);
    ConfigRule rule;
    for (const char* key : {"match", "type"}) {
      if (!entry.contains(key)) continue;
      AXNN_CHECK(entry[key].is_string(), "{}: \"{}\" must be a string", rule_where, key);
      (std::string(key) == "match" ? rule.match : rule.type) = entry[key].get<std::string>();
      entry.erase(key);
    }
    AXNN_CHECK(rule.type.empty() || kTypes.count(rule.type),
               "{}: type '{}' is not linear, conv2d or matmul", rule_where, rule.type);
    rule.config = layer_config_from_json(entry, rule_where);
    rules.push_back(std::move(rule));
  }
  return rules;
}

std::vector<ConfigRule> load_config_rules(const std::filesystem::path& path) {
  return rules_from_json(read_rules_file(path), fmt::format("layer config file {}", path.string()));
}

nlohmann::json to_json(const std::vector<ConfigRule>& rules) {
  nlohmann::json layers = nlohmann::json::array();
  for (const ConfigRule& rule : rules) {
    nlohmann::json entry = to_json(rule.config);
    entry["match"] = rule.match;
    if (!rule.type.empty()) entry["type"] = rule.type;
    layers.push_back(std::move(entry));
  }
  return {{"layers", std::move(layers)}};
}

bool rule_matches(const ConfigRule& rule, const std::string& name, std::string_view type) {
  return (rule.type.empty() || rule.type == type) &&
         fnmatch(rule.match.c_str(), name.c_str(), 0) == 0;
}

std::vector<ConfigRule> rules_for_all(const std::string& mult) {
  ConfigRule rule;
  rule.config.mult = mult;
  return {rule};
}

}  // namespace axnn::nn
