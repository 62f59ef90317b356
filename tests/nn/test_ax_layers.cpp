// Approximate layers: configs, calibration into buffers, the fp32 and approximate paths, MACs
// and the network's relative power.
#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/nn/module.h>
#include <torch/serialize.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "common/error_of.h"
#include "core/error.h"
#include "mult/formats.h"
#include "mult/generators.h"
#include "nn/ax_layers.h"
#include "ops/ax_ops.h"
#include "quant/quantize.h"

namespace axnn::nn {
namespace {

using ::testing::HasSubstr;

at::Tensor exact_unsigned_lut() {
  const at::Tensor codes = at::arange(256, at::kInt);
  return codes.view({256, 1}) * codes.view({1, 256});
}

LayerConfig with_mult(const std::string& mult, const std::string& calib = "max") {
  LayerConfig config;
  config.mult = mult;
  config.calib.method = quant::parse_calib_method(calib);
  return config;
}

using axnn::test_util::error_of;

TEST(LayerConfig, JsonRoundTripAndErrors) {
  const LayerConfig config = layer_config_from_json({{"mult", "trunc8s_k4"},
                                                     {"per_channel", false},
                                                     {"grad_mode", "lut-grad"},
                                                     {"calib", "entropy"},
                                                     {"dynamic", true}},
                                                    "cfg.json: layers.0");
  EXPECT_EQ(config.mult, "trunc8s_k4");
  EXPECT_FALSE(config.per_channel);
  EXPECT_EQ(config.calib.method, quant::CalibMethod::kEntropy);
  EXPECT_EQ(layer_config_from_json(to_json(config), "x").grad_mode, "lut-grad");
  EXPECT_TRUE(layer_config_from_json(nlohmann::json::object(), "x").is_fp32());
  EXPECT_THAT(error_of([] {
                layer_config_from_json({{"mul", "x"}}, "cfg.json: conv1");
              }),
              HasSubstr("cfg.json: conv1: unknown key 'mul'"));
  EXPECT_THAT(error_of([] {
                layer_config_from_json({{"grad_mode", "sgd"}}, "here");
              }),
              HasSubstr("here: grad_mode 'sgd'"));
  EXPECT_THAT(error_of([] {
                layer_config_from_json({{"per_channel", "yes"}}, "here");
              }),
              HasSubstr("here:"));
  EXPECT_THAT(error_of([] {
                layer_config_from_json({{"calib", "kl"}}, "here");
              }),
              HasSubstr("here: unknown calibration method 'kl'"));
}

TEST(AxLinear, Fp32ConfigIsTheFp32Layer) {
  torch::manual_seed(1);
  AxLinear layer(6, 3, true, "fc");
  const at::Tensor x = torch::randn({4, 6});
  EXPECT_TRUE(at::equal(layer(x), at::linear(x, layer->weight, layer->bias)));
  EXPECT_EQ(layer->relative_power(), 1.0);
  EXPECT_EQ(layer->macs_per_sample(), 18);
}

TEST(AxLinear, CalibratedExactMultiplierEqualsTheOpOnCalibratedAmax) {
  torch::manual_seed(2);
  AxLinear layer(16, 5, true, "fc", with_mult("exact8s"));
  const at::Tensor x = torch::randn({8, 16});
  EXPECT_THAT(error_of([&] { layer(x); }), HasSubstr("layer 'fc' (exact8s) has no calibration"));
  layer->set_calibrating(true);
  const at::Tensor during = layer(x);  // fp32 while calibrating
  EXPECT_TRUE(at::equal(during, at::linear(x, layer->weight, layer->bias)));
  layer->set_calibrating(false);
  const at::Tensor amax = layer->named_buffers()["amax_x"];
  EXPECT_FLOAT_EQ(amax.item<float>(), x.abs().max().item<float>());
  const at::Tensor y = layer(x);
  // The same op by hand: codes, integer dot products, DESIGN.md's dequantization.
  const at::Tensor w_amax = quant::amax_of(layer->weight.detach(), 0).reshape({-1});
  const at::Tensor qx = quant::quantize_symmetric(x, amax.to(at::kFloat), 8).to(at::kDouble);
  const at::Tensor qw =
      quant::quantize_symmetric(layer->weight.detach(), w_amax.view({5, 1}), 8).to(at::kDouble);
  const at::Tensor scales = (127.0f / amax.to(at::kFloat)) * (127.0f / w_amax);
  const at::Tensor by_hand =
      qx.mm(qw.t()).to(at::kInt).to(at::kFloat) / scales + layer->bias.detach();
  EXPECT_TRUE(at::equal(y.detach(), by_hand));
  EXPECT_LT((y - at::linear(x, layer->weight, layer->bias)).abs().max().item<float>(), 0.1);
}

TEST(AxLinear, DynamicNeedsNoCalibrationAndAmaxIsSaved) {
  torch::manual_seed(3);
  LayerConfig config = with_mult("exact8s");
  config.dynamic = true;
  AxLinear layer(4, 2, false, "fc", config);
  EXPECT_EQ(layer(torch::randn({3, 4})).sizes(), at::IntArrayRef({3, 2}));
  // Calibration state travels with the module's buffers.
  AxLinear calibrated(4, 2, false, "fc", with_mult("exact8s"));
  calibrated->set_calibrating(true);
  calibrated(torch::full({1, 4}, 2.5));
  calibrated->set_calibrating(false);
  const auto path = std::filesystem::temp_directory_path() /
                    ("axnn_test_layer_" + std::to_string(::getpid()) + ".pt");
  torch::save(calibrated, path.string());
  AxLinear loaded(4, 2, false, "fc", with_mult("exact8s"));
  torch::load(loaded, path.string());
  std::filesystem::remove(path);
  EXPECT_FLOAT_EQ(loaded->named_buffers()["amax_x"].item<float>(), 2.5f);
}

TEST(AxConv2d, ApproximatesTheConvAndCountsMacs) {
  torch::manual_seed(4);
  Conv2dShape shape{3, 8, {3, 3}};
  shape.padding = {1, 1};
  AxConv2d layer(shape, "conv", with_mult("exact8s", "percentile"));
  const at::Tensor x = torch::randn({2, 3, 10, 10});
  layer->set_calibrating(true);
  layer(x);
  layer->set_calibrating(false);
  const at::Tensor y = layer(x);
  EXPECT_EQ(layer->macs_per_sample(), 8 * 10 * 10 * 3 * 3 * 3);
  const at::Tensor fp32 = at::conv2d(x, layer->weight, layer->bias, {1, 1}, {1, 1});
  EXPECT_LT((y - fp32).abs().max().item<float>(), 0.15);
  y.sum().backward();
  EXPECT_TRUE(layer->weight.grad().defined());
}

TEST(AxMatMul, BothOperandsAreCalibrated) {
  torch::manual_seed(5);
  AxMatMul layer("attn.qk", with_mult("exact8s"));
  const at::Tensor q = torch::randn({2, 4, 7, 8}), k = torch::randn({2, 4, 8, 7});
  layer->set_calibrating(true);
  layer(q, k);
  layer->set_calibrating(false);
  EXPECT_FLOAT_EQ(layer->named_buffers()["amax_b"].item<float>(), k.abs().max().item<float>());
  EXPECT_LT((layer(q, k) - q.matmul(k)).abs().max().item<float>(), 0.3);
  EXPECT_EQ(layer->macs_per_sample(), 4 * 7 * 8 * 7);
}

TEST(AxLinear, UnsignedMultiplierQuantizesAsymmetricallyFromTheCalibratedRange) {
  torch::manual_seed(6);
  AxLinear layer(16, 5, true, "fc", with_mult("exact8u"));
  const at::Tensor x = torch::rand({8, 16}) * 3 - 0.5;  // mostly positive
  layer->set_calibrating(true);
  layer(x);
  layer->set_calibrating(false);
  const auto buffers = layer->named_buffers();
  EXPECT_FLOAT_EQ(buffers["min_x"].item<float>(), x.min().item<float>());
  EXPECT_FLOAT_EQ(buffers["max_x"].item<float>(), x.max().item<float>());
  const at::Tensor y = layer(x);
  // By hand: the asymmetric op on the calibrated range and per-channel weight ranges.
  const at::Tensor w = layer->weight.detach();
  const at::Tensor by_hand = ops::ax_linear_asym(
      x, w, layer->bias.detach(), exact_unsigned_lut(), buffers["min_x"], buffers["max_x"],
      std::get<0>(w.min(1)), std::get<0>(w.max(1)), 8, "ste");
  EXPECT_TRUE(at::equal(y.detach(), by_hand));
  EXPECT_LT((y - at::linear(x, layer->weight, layer->bias)).abs().max().item<float>(), 0.1);
}

TEST(AxConv2d, UnsignedMultiplierTracksTheFp32Conv) {
  torch::manual_seed(7);
  Conv2dShape shape{3, 8, {3, 3}};
  shape.padding = {1, 1};
  AxConv2d layer(shape, "conv", with_mult("exact8u"));
  const at::Tensor x = torch::rand({2, 3, 10, 10});  // ReLU-like inputs: zero point 0
  layer->set_calibrating(true);
  layer(x);
  layer->set_calibrating(false);
  const at::Tensor y = layer(x);
  const at::Tensor fp32 = at::conv2d(x, layer->weight, layer->bias, {1, 1}, {1, 1});
  EXPECT_LT((y - fp32).abs().max().item<float>(), 0.05);
  y.sum().backward();
  EXPECT_TRUE(layer->weight.grad().defined());
}

TEST(AxMatMul, UnsignedMultiplierTracksTheFp32Product) {
  torch::manual_seed(8);
  LayerConfig config = with_mult("exact8u");
  config.dynamic = true;
  AxMatMul layer("attn.av", config);
  const at::Tensor a = torch::rand({2, 3, 7, 8}).softmax(-1), v = torch::randn({2, 3, 8, 5});
  EXPECT_LT((layer(a, v) - a.matmul(v)).abs().max().item<float>(), 0.05);
}

struct TwoLayers : torch::nn::Module {
  TwoLayers(const LayerConfig& first, const LayerConfig& second)
      : fc1(register_module("fc1", AxLinear(10, 20, true, "fc1", first))),
        fc2(register_module("fc2", AxLinear(20, 5, true, "fc2", second))) {}
  at::Tensor forward(const at::Tensor& x) { return fc2(fc1(x).relu()); }
  AxLinear fc1, fc2;
};

TEST(Power, WeightedByMacs) {
  // A multiplier file with a published relative power of 0.25.
  const auto dir =
      std::filesystem::temp_directory_path() / ("axnn_test_power_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  Multiplier cheap = make_truncated(8, true, 4);
  cheap.set_name("cheap8s");
  cheap.meta().relative_power = 0.25;
  write_multiplier(cheap, dir / "cheap8s.axm");
  ::setenv("AXNN_MULT_PATH", dir.c_str(), 1);
  LayerConfig dynamic_cheap = with_mult("cheap8s");
  dynamic_cheap.dynamic = true;
  TwoLayers net({}, dynamic_cheap);
  EXPECT_THAT(error_of([&] { network_relative_power(net); }), HasSubstr("no approximate layer"));
  net.forward(torch::randn({3, 10}));
  // fc1: 200 MACs at 1.0, fc2: 100 MACs at 0.25.
  EXPECT_DOUBLE_EQ(*network_relative_power(net), (200 * 1.0 + 100 * 0.25) / 300);
  EXPECT_EQ(ax_layers(net).size(), 2u);

  LayerConfig unknown = with_mult("trunc8s_k4");
  unknown.dynamic = true;
  TwoLayers net2({}, unknown);
  net2.forward(torch::randn({3, 10}));
  EXPECT_FALSE(network_relative_power(net2).has_value());
  ::unsetenv("AXNN_MULT_PATH");
  std::filesystem::remove_all(dir);
}

TEST(AxLayer, BadMultipliersNameTheLayer) {
  EXPECT_THAT(error_of([] { AxLinear(2, 2, true, "head", with_mult("exact8x")); }),
              HasSubstr("layer 'head'"));
}

}  // namespace
}  // namespace axnn::nn
