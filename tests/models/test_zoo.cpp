// The model zoo: shapes, the approximate layers each model exposes (named by their paths), and
// that configuring every layer with the exact 8-bit multiplier stays close to fp32.
#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "core/error.h"
#include "models/zoo.h"
#include "nn/ax_layers.h"
#include "nn/configure.h"

namespace axnn::models {
namespace {

struct Case {
  std::string name;
  InputSpec spec;
  std::map<std::string, int> layers_by_type;
};

class Zoo : public ::testing::TestWithParam<Case> {};

TEST_P(Zoo, ShapesLayersAndExactInt8) {
  const Case& c = GetParam();
  torch::manual_seed(1);
  const auto model = make_model(c.name, c.spec);
  EXPECT_EQ(model->model_name(), c.name);
  model->eval();
  const at::Tensor x = torch::rand({3, c.spec.channels, c.spec.image_size, c.spec.image_size});
  const at::Tensor fp32 = model->forward(x).detach();
  EXPECT_EQ(fp32.sizes(), at::IntArrayRef({3, c.spec.classes}));

  std::map<std::string, int> by_type;
  for (const auto& [path, layer] : nn::ax_layers(*model)) {
    ++by_type[std::string(layer->type())];
    EXPECT_EQ(layer->layer_name(), path);  // messages name the layer by its path
  }
  EXPECT_EQ(by_type, c.layers_by_type);

  auto rules = nn::rules_for_all("exact8s");
  rules[0].config.dynamic = true;
  nn::configure_layers(*model, rules);
  const at::Tensor int8 = model->forward(x).detach();
  EXPECT_LT((int8 - fp32).abs().max().item<float>(), 0.05 * fp32.abs().max().item<float>() + 0.05);
  EXPECT_DOUBLE_EQ(*nn::network_relative_power(*model), 1.0);
}

INSTANTIATE_TEST_SUITE_P(
    Models, Zoo,
    ::testing::Values(Case{"lenet5", {1, 28, 10}, {{"conv2d", 2}, {"linear", 3}}},
                      Case{"lenet5", {3, 32, 10}, {{"conv2d", 2}, {"linear", 3}}},
                      Case{"mlp", {1, 28, 10}, {{"linear", 3}}},
                      Case{"resnet20", {1, 28, 10}, {{"conv2d", 19}, {"linear", 1}}},
                      Case{
                          "vit-tiny", {1, 28, 10}, {{"conv2d", 1}, {"linear", 17}, {"matmul", 8}}}),
    [](const auto& info) {
      std::string name = info.param.name + "_" + std::to_string(info.param.spec.image_size);
      std::replace(name.begin(), name.end(), '-', '_');
      return name;
    });

TEST(Zoo, UnknownNamesAndBadSpecs) {
  try {
    make_model("resnet18", {});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("known: lenet5, mlp, resnet20, vit-tiny"));
  }
  EXPECT_THROW(make_model("lenet5", {1, 8, 10}), Error);
  EXPECT_THROW(make_model("vit-tiny", {1, 30, 10}), Error);
}

TEST(Zoo, TrainsOneStep) {
  torch::manual_seed(2);
  const auto model = make_model("resnet20", {1, 28, 10});
  const at::Tensor x = torch::rand({4, 1, 28, 28});
  const at::Tensor loss = at::cross_entropy_loss(model->forward(x), torch::tensor({1, 2, 3, 4}));
  loss.backward();
  for (const auto& p : model->parameters()) EXPECT_TRUE(p.grad().defined());
}

}  // namespace
}  // namespace axnn::models
