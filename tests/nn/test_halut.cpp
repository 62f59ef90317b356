// Halut layers: AxLinear / AxConv2d configured "mult": "halut" against a naive sum of table rows
// over codes from amm::encode, their training path against their inference path, gradients,
// state across configs and checkpoints, and the errors.
#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/serialize.h>
#include <torch/torch.h>

#include <cstdint>
#include <string>

#include "amm/maddness.h"
#include "common/error_of.h"
#include "core/error.h"
#include "nn/ax_layers.h"
#include "nn/configure.h"

namespace axnn::nn {
namespace {

using axnn::test_util::error_of;
using ::testing::HasSubstr;

LayerConfig halut_config(int64_t c, const std::string& encoder = "maddness",
                         const std::string& lut = "fp32", int64_t k = 16) {
  LayerConfig config;
  config.mult = kHalut;
  config.halut.c = c;
  config.halut.k = k;
  config.halut.encoder = encoder;
  config.halut.lut = lut;
  return config;
}

// The layer's learned model as amm sees it, for group g.
amm::Maddness model_of(AxLayer& layer, int64_t g) {
  const auto buffers = layer.named_buffers(false);
  const auto parameters = layer.named_parameters(false);
  amm::Maddness m;
  const HalutConfig& h = layer.config().halut;
  m.encoder = h.encoder == "maddness" ? amm::Encoder::kHashTree : amm::Encoder::kKMeans;
  m.c = h.c;
  m.k = h.k;
  m.split_dims = buffers["halut_split_dims"][g];
  m.thresholds = buffers["halut_thresholds"][g];
  m.prototypes = parameters["halut_centroids"][g].detach();
  m.d = m.prototypes.size(2);
  return m;
}

// sum_c lut[g][c][code_c][:] in codebook order, as plain loops: [R, Mg].
at::Tensor naive_sums(AxLayer& layer, int64_t g, const at::Tensor& rows) {
  const at::Tensor codes = amm::encode(model_of(layer, g), rows).to(at::kLong);
  const at::Tensor lut = layer.named_parameters(false)["halut_lut"][g].detach();
  const int64_t r = rows.size(0), c = lut.size(0), m = lut.size(2);
  at::Tensor out = at::zeros({r, m});
  auto o = out.accessor<float, 2>();
  auto t = lut.accessor<float, 3>();
  auto k = codes.accessor<int64_t, 2>();
  for (int64_t i = 0; i < r; ++i)
    for (int64_t j = 0; j < m; ++j) {
      float sum = 0;
      for (int64_t q = 0; q < c; ++q) sum += t[q][k[i][q]][j];
      o[i][j] = sum;
    }
  return out;
}

TEST(HalutLinear, Fp32TablesEqualTheNaiveSumOfTableRows) {
  torch::manual_seed(3);
  for (const std::string encoder : {"maddness", "pq"}) {
    AxLinear layer(24, 10, true, "fc", halut_config(5, encoder));  // 24 = 5 groups, uneven
    const at::Tensor x = at::randn({300, 24});
    layer->learn_halut(x.unsqueeze(0), {});
    torch::NoGradGuard no_grad;
    const at::Tensor y = layer->forward(x);
    EXPECT_TRUE(at::equal(y, naive_sums(*layer, 0, x) + layer->bias)) << encoder;
    // Hash trees multiply nothing; nearest centroids compute K distances per output column.
    EXPECT_EQ(layer->relative_power(), encoder == "maddness" ? 0.0 : 16.0 / 10);
  }
}

TEST(HalutLinear, Int8TablesStayWithinTheirRoundingOfTheFp32Sums) {
  torch::manual_seed(4);
  AxLinear layer(32, 7, false, "fc", halut_config(8, "maddness", "int8"));
  const at::Tensor x = at::randn({200, 3, 32});  // leading dimensions kept
  layer->learn_halut(x.reshape({1, -1, 32}), {});
  torch::NoGradGuard no_grad;
  const at::Tensor y = layer->forward(x);
  ASSERT_EQ(y.sizes(), (std::vector<int64_t>{200, 3, 7}));
  const at::Tensor lut = layer->named_parameters(false)["halut_lut"][0].detach();
  const amm::QuantizedLut q = amm::quantize_lut(lut);
  const at::Tensor bound = 8 / (2 * q.scale) + 1e-4;
  const at::Tensor exact = naive_sums(*layer, 0, x.reshape({-1, 32})).view({200, 3, 7});
  EXPECT_TRUE(((y - exact).abs() <= bound).all().item<bool>());
}

TEST(HalutConv2d, GroupedStridedPaddedConvEqualsTheNaiveSumOverIm2colRows) {
  torch::manual_seed(5);
  Conv2dShape shape{6, 4, {3, 3}, {2, 1}, {1, 2}, {1, 2}, 2, true};
  AxConv2d layer(shape, "conv", halut_config(4));
  const at::Tensor x = at::randn({3, 6, 9, 8});
  // The rows the layer learns from are its im2col patches per group.
  std::vector<at::Tensor> rows;
  layer->set_row_sink([&](const at::Tensor& r) { rows.push_back(r); });
  layer->forward(x);
  layer->set_row_sink({});
  ASSERT_EQ(rows.size(), 1u);
  ASSERT_EQ(rows[0].size(0), 2);
  ASSERT_EQ(rows[0].size(2), 3 * 3 * 3);
  layer->learn_halut(rows[0], {});
  torch::NoGradGuard no_grad;
  const at::Tensor y = layer->forward(x);
  const int64_t oh = y.size(2), ow = y.size(3);
  ASSERT_EQ(y.sizes(),
            (std::vector<int64_t>{3, 4, (9 + 2 - 2 * 1 - 1) / 2 + 1, (8 + 4 - 2 * 2 - 1) + 1}));
  // Row n * OH * OW + position of group g is output channels g * 2 .. g * 2 + 1 at that position.
  for (int64_t g = 0; g < 2; ++g) {
    const at::Tensor sums = naive_sums(*layer, g, rows[0][g]);  // [N OH OW, 2]
    const at::Tensor expected = sums.view({3, oh, ow, 2}).permute({0, 3, 1, 2}) +
                                layer->bias.slice(0, 2 * g, 2 * g + 2).view({1, 2, 1, 1});
    EXPECT_TRUE(at::equal(y.slice(1, 2 * g, 2 * g + 2), expected)) << "group " << g;
  }
}

TEST(HalutLayers, TrainingForwardMatchesInferenceAndTrainsTheTables) {
  torch::manual_seed(6);
  for (const std::string encoder : {"maddness", "pq", "learned"}) {
    AxLinear layer(16, 5, true, "fc", halut_config(4, encoder, "int8"));
    const at::Tensor x = at::randn({64, 16}).requires_grad_();
    layer->learn_halut(x.detach().unsqueeze(0), {});
    at::Tensor inference;
    {
      torch::NoGradGuard no_grad;
      inference = layer->forward(x);
    }
    if (encoder == "learned") {  // centroids moved by training, outside their groups too
      torch::NoGradGuard no_grad;
      layer->named_parameters(false)["halut_centroids"].add_(at::randn({1, 4, 16, 16}) * 0.1);
      inference = layer->forward(x);
    }
    const at::Tensor y = layer->forward(x);
    EXPECT_TRUE(at::allclose(y, inference, 1e-4, 1e-4)) << encoder;
    y.sum().backward();
    const at::Tensor lut_grad = layer->named_parameters(false)["halut_lut"].grad();
    ASSERT_TRUE(lut_grad.defined()) << encoder;
    // d sum(y) / d lut[c][k][m] is the number of rows with code k in codebook c.
    EXPECT_DOUBLE_EQ(lut_grad.sum().item<double>(), 64.0 * 4 * 5) << encoder;
    ASSERT_TRUE(x.grad().defined()) << encoder;
    if (encoder != "learned")  // straight through the exact product
      EXPECT_TRUE(at::allclose(x.grad(), at::ones({64, 5}).matmul(layer->weight.detach())))
          << encoder;
    else
      EXPECT_TRUE(layer->named_parameters(false)["halut_centroids"].grad().defined());
  }
}

TEST(HalutLayers, StateSurvivesMultiplierConfigsAndCheckpoints) {
  torch::manual_seed(7);
  AxLinear layer(12, 3, true, "fc", halut_config(3));
  const at::Tensor x = at::randn({100, 12});
  layer->learn_halut(x.unsqueeze(0), {});
  torch::NoGradGuard no_grad;
  const at::Tensor before = layer->forward(x);
  LayerConfig exact;
  layer->set_config(exact);
  EXPECT_TRUE(
      at::equal(layer->forward(x), torch::nn::functional::linear(x, layer->weight, layer->bias)));
  layer->set_config(halut_config(3));
  EXPECT_TRUE(at::equal(layer->forward(x), before));
  // Saved and loaded into a fresh layer configured the same.
  torch::serialize::OutputArchive archive;
  layer->save(archive);
  std::ostringstream stream;
  archive.save_to(stream);
  AxLinear loaded(12, 3, true, "fc", halut_config(3));
  torch::serialize::InputArchive in;
  std::istringstream input(stream.str());
  in.load_from(input);
  loaded->load(in);
  EXPECT_TRUE(at::equal(loaded->forward(x), before));
  // Other sizes start unlearned.
  layer->set_config(halut_config(4));
  EXPECT_THAT(error_of([&] { layer->forward(x); }), HasSubstr("no learned hash trees"));
}

TEST(HalutLayers, OpsPerSampleCountTheProduct) {
  torch::manual_seed(8);
  AxConv2d layer(Conv2dShape{2, 6, {3, 3}, {1, 1}, {1, 1}}, "conv", halut_config(6));
  const at::Tensor x = at::randn({2, 2, 5, 5});
  std::vector<at::Tensor> rows;
  layer->set_row_sink([&](const at::Tensor& r) { rows.push_back(r); });
  layer->forward(x);
  layer->set_row_sink({});
  layer->learn_halut(rows[0], {});
  torch::NoGradGuard no_grad;
  layer->forward(x);
  const auto ops = layer->halut_ops_per_sample();
  ASSERT_TRUE(ops);
  EXPECT_EQ(ops->comparisons, 25 * 6 * 4);  // 25 positions, 6 codebooks, depth 4
  EXPECT_EQ(ops->table_reads, 25 * 6 * 6);  // and 6 outputs
  EXPECT_EQ(ops->additions, 25 * 5 * 6);
  EXPECT_EQ(ops->encoder_macs, 0);
  EXPECT_EQ(layer->macs_per_sample(), 25 * 6 * 18);
}

TEST(HalutLayers, ClearErrors) {
  AxLinear layer(8, 2, true, "fc1", halut_config(4));
  EXPECT_THAT(error_of([&] {
                layer->forward(at::randn({3, 8}));
              }),
              HasSubstr("layer 'fc1' is configured halut with the maddness encoder but has no "
                        "learned hash trees"));
  EXPECT_THAT(error_of([&] { layer->set_config(halut_config(9)); }),
              HasSubstr("halut c = 9 exceeds the 8 input columns"));
  AxMatMul matmul("attn");
  EXPECT_THAT(error_of([&] { matmul->set_config(halut_config(4)); }),
              HasSubstr("needs a fixed weight operand"));
  EXPECT_THAT(error_of([&] {
                layer_config_from_json({{"mult", "halut"}, {"k", 5}}, "rules");
              }),
              HasSubstr("rules: halut k = 5 is not 2, 4, 8 or 16"));
  EXPECT_THAT(error_of([&] {
                layer_config_from_json({{"mult", "trunc8s_k4"}, {"c", 5}}, "rules");
              }),
              HasSubstr("unknown key 'c'"));
  EXPECT_THAT(error_of([&] {
                layer_config_from_json({{"mult", "halut"}, {"average", 2}, {"c", 6}}, "r");
              }),
              HasSubstr("c = 6 divisible by 2^2"));
}

}  // namespace
}  // namespace axnn::nn
