// The configuration pass: rules by glob and type, first match wins, rule files and their errors.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/nn/module.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "common/error_of.h"
#include "core/error.h"
#include "nn/ax_layers.h"
#include "nn/configure.h"

namespace axnn::nn {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

struct Net : torch::nn::Module {
  Net()
      : conv1(register_module("conv1", AxConv2d(Conv2dShape{1, 4, {3, 3}}, "conv1"))),
        conv2(register_module("conv2", AxConv2d(Conv2dShape{4, 4, {3, 3}}, "conv2"))),
        attn(register_module("attn", AxMatMul("attn"))),
        head(register_module("head", AxLinear(16, 3, true, "head"))) {}
  AxConv2d conv1, conv2;
  AxMatMul attn;
  AxLinear head;
};

std::map<std::string, std::string> mults(const std::vector<LayerInfo>& table) {
  std::map<std::string, std::string> out;
  for (const LayerInfo& info : table) out[info.name] = info.mult;
  return out;
}

// One file per test and extension: ctest runs the tests of this file in parallel processes.
std::filesystem::path write(const std::string& text, const std::string& extension = ".json") {
  const auto path =
      std::filesystem::temp_directory_path() /
      ("axnn_test_rules_" +
       std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) + extension);
  std::ofstream(path) << text;
  return path;
}

// Every layer's whole config, as the checkpoint would record it.
std::map<std::string, nlohmann::json> configs(Net& net) {
  std::map<std::string, nlohmann::json> out;
  for (const auto& [name, layer] : ax_layers(net)) out[name] = to_json(layer->config());
  return out;
}

using axnn::test_util::error_of;

TEST(Configure, FirstMatchingRuleWinsByNameAndType) {
  Net net;
  std::vector<ConfigRule> rules(3);
  rules[0].match = "conv1";
  rules[0].config.mult = "exact";
  rules[1].type = "matmul";
  rules[1].config.mult = "exact8s";
  rules[2].match = "*";
  rules[2].type = "conv2d";
  rules[2].config.mult = "trunc8s_k4";
  const auto table = configure_layers(net, rules);
  EXPECT_EQ(
      mults(table),
      (std::map<std::string, std::string>{
          {"conv1", "exact"}, {"conv2", "trunc8s_k4"}, {"attn", "exact8s"}, {"head", "exact"}}));
  EXPECT_EQ(net.conv2->config().mult, "trunc8s_k4");
  EXPECT_EQ(mults(configure_layers(net, rules_for_all("drum8s_k4"))).at("head"), "drum8s_k4");
}

TEST(Configure, RuleFileIsReadInOrder) {
  Net net;
  const auto path = write(R"({"layers": [
      {"match": "head", "mult": "exact"},
      {"type": "conv2d", "mult": "mitchell8s", "grad_mode": "lut-grad"},
      {"mult": "exact8s", "dynamic": true}]})");
  const auto table = configure_layers(net, load_config_rules(path));
  std::filesystem::remove(path);
  EXPECT_EQ(mults(table), (std::map<std::string, std::string>{{"conv1", "mitchell8s"},
                                                              {"conv2", "mitchell8s"},
                                                              {"attn", "exact8s"},
                                                              {"head", "exact"}}));
  EXPECT_EQ(net.conv1->config().grad_mode, "lut-grad");
  EXPECT_TRUE(net.attn->config().dynamic);
}

TEST(Configure, BadRuleFilesNameTheFileAndRule) {
  EXPECT_THAT(error_of([] { load_config_rules("/nonexistent/rules.json"); }),
              HasSubstr("/nonexistent/rules.json: cannot be read"));
  auto path = write("{\"layers\": [");
  EXPECT_THAT(error_of([&] { load_config_rules(path); }), HasSubstr("not valid JSON"));
  path = write(R"({"layers": [{"mult": "exact"}, {"type": "pool", "mult": "exact"}]})");
  EXPECT_THAT(error_of([&] { load_config_rules(path); }),
              HasSubstr("layers[1]: type 'pool' is not linear, conv2d or matmul"));
  path = write(R"({"layers": [{"match": "x", "mul": "exact"}]})");
  EXPECT_THAT(error_of([&] { load_config_rules(path); }),
              HasSubstr("layers[0]: unknown key 'mul'"));
  path = write(R"({"rules": []})");
  EXPECT_THAT(error_of([&] { load_config_rules(path); }), HasSubstr("{\"layers\": [rules...]}"));
  std::filesystem::remove(path);
}

TEST(Configure, YamlAndJsonRuleFilesConfigureAlike) {
  const auto json = write(R"({"layers": [
      {"match": "head", "mult": "exact"},
      {"type": "conv2d", "mult": "mitchell8s", "grad_mode": "lut-grad", "per_channel": false},
      {"match": "*", "mult": "exact8s", "dynamic": true, "calib": "mse", "percentile": 99.9}]})");
  const auto yaml = write(R"(# the same rules
layers:
  - match: head
    mult: exact
  - {type: conv2d, mult: mitchell8s, grad_mode: lut-grad, per_channel: false}
  - match: "*"
    mult: 'exact8s'
    dynamic: true
    calib: mse
    percentile: 99.9
)",
                          ".yml");
  Net from_json, from_yaml;
  configure_layers(from_json, load_config_rules(json));
  configure_layers(from_yaml, load_config_rules(yaml));
  std::filesystem::remove(json);
  std::filesystem::remove(yaml);
  EXPECT_EQ(configs(from_yaml), configs(from_json));
  EXPECT_FALSE(from_yaml.conv2->config().per_channel);
  EXPECT_TRUE(from_yaml.head->config().per_channel);
  EXPECT_EQ(from_yaml.attn->config().calib.method, quant::CalibMethod::kMse);
}

TEST(Configure, UnquotedYamlScalarsAreBooleansAndNumbers) {
  Net net;
  auto path = write(R"(layers:
  - {match: "*", mult: exact8s, narrow_range: False, dynamic: TRUE, percentile: 99}
)",
                    ".yaml");
  configure_layers(net, load_config_rules(path));
  EXPECT_FALSE(net.head->config().narrow_range);
  EXPECT_TRUE(net.head->config().dynamic);
  EXPECT_EQ(net.head->config().calib.percentile, 99.0);
  // Quoted, a boolean is a string and the same validation as JSON's rejects it.
  path = write("layers:\n  - {mult: exact8s, per_channel: \"false\"}\n", ".yaml");
  EXPECT_THAT(error_of([&] { load_config_rules(path); }),
              AllOf(HasSubstr(path.string() + ": layers[0]"), HasSubstr("boolean")));
  std::filesystem::remove(path);
}

TEST(Configure, BadYamlFilesNameTheFileAndLineOrRule) {
  auto path = write("layers:\n  - match: conv1\n    mult: [exact8s\n", ".yaml");
  EXPECT_THAT(error_of([&] { load_config_rules(path); }),
              AllOf(HasSubstr(path.string() + ": not valid YAML: line 4"), HasSubstr("flow")));
  path = write("layers:\n  - {match: conv1, mult: exact}\n  - {match: x, mul: exact}\n", ".yaml");
  EXPECT_THAT(error_of([&] { load_config_rules(path); }),
              HasSubstr(path.string() + ": layers[1]: unknown key 'mul'"));
  path = write("layers:\n  - match: conv1\n    mult: exact\n    mult: exact8s\n", ".yaml");
  EXPECT_THAT(error_of([&] { load_config_rules(path); }),
              HasSubstr(path.string() + ": line 4: key 'mult' given twice"));
  path = write("rules: []\n", ".yaml");
  EXPECT_THAT(error_of([&] { load_config_rules(path); }), HasSubstr("{\"layers\": [rules...]}"));
  std::filesystem::remove(path);
}

TEST(Configure, UnknownMultiplierNamesTheLayer) {
  Net net;
  EXPECT_THAT(error_of([&] { configure_layers(net, rules_for_all("trunk8s_k4")); }),
              HasSubstr("layer 'conv1'"));
}

}  // namespace
}  // namespace axnn::nn
