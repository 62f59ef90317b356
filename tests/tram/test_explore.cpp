// TRAM phase 1: the column tables, the learned-structure layers (forward against the generator's
// make_columns tables for 0/1 gamma, gamma gradients against finite differences), the column
// power model, and structure exploration on a small task.
#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/error_of.h"
#include "common/halves.h"
#include "core/error.h"
#include "mult/generators.h"
#include "nn/ax_layers.h"
#include "tram/columns.h"
#include "tram/explore.h"
#include "tram/power.h"
#include "tram/structure.h"

namespace axnn::tram {
namespace {

using axnn::test_util::error_of;
using ::testing::HasSubstr;

std::string flags_of(const std::vector<bool>& keep) {
  std::string s;
  for (const bool k : keep) s += k ? '1' : '0';
  return s;
}

at::Tensor tables_of(int bits, bool is_signed, int columns) {
  const int64_t codes = int64_t{1} << bits;
  at::Tensor t = at::empty({columns, codes, codes}, at::kInt);
  for (int c = 0; c < columns; ++c) {
    const auto table = column_table(bits, is_signed, c);
    std::copy(table.begin(), table.end(), t[c].data_ptr<int32_t>());
  }
  return t;
}

TEST(Columns, SumToTheExactProductAndMatchTheGenerator) {
  for (const bool is_signed : {false, true}) {
    for (int bits = 2; bits <= 8; ++bits) {
      const Multiplier exact = make_exact(bits, is_signed);
      const int columns = partial_product_columns(bits);
      std::vector<int64_t> sum(exact.lut().size(), 0);
      for (int c = 0; c < columns; ++c) {
        const auto s = column_table(bits, is_signed, c);
        std::vector<bool> keep(static_cast<size_t>(columns), true);
        keep[static_cast<size_t>(c)] = false;
        const Multiplier without = make_columns(bits, is_signed, keep);
        for (size_t k = 0; k < s.size(); ++k) {
          ASSERT_EQ(exact.lut()[k] - s[k], without.lut()[k])
              << bits << (is_signed ? "s" : "u") << " column " << c << " entry " << k;
          sum[k] += s[k];
        }
      }
      for (size_t k = 0; k < sum.size(); ++k) ASSERT_EQ(sum[k], exact.lut()[k]);
    }
  }
  EXPECT_THAT(error_of([] { column_table(8, false, 15); }), HasSubstr("column 15 is outside"));
  EXPECT_THAT(error_of([] { column_table(9, false, 0); }), HasSubstr("bits = 9"));
}

TEST(Columns, StructureTableAndDefaults) {
  EXPECT_EQ(default_structure_columns(8), 8);
  EXPECT_EQ(default_initial_gamma(8), (std::vector<double>{1, 1, 1, 1, 0, 0, 0, 0}));
  const std::vector<double> gamma = {1, 0.5, 0, 1};
  const auto t = structure_table(4, true, gamma);
  const auto s1 = column_table(4, true, 1);
  const Multiplier cols = make_columns(4, true, {false, true, true, false, true, true, true});
  for (size_t k = 0; k < t.size(); ++k) EXPECT_DOUBLE_EQ(t[k], cols.lut()[k] - 0.5 * s1[k]);
  EXPECT_THAT(error_of([] { structure_table(4, true, std::vector<double>{1.5}); }),
              HasSubstr("outside [0, 1]"));
}

// A layer of each kind with a learned structure, and its twin configured with make_columns.
struct Case {
  const char* type;
  int bits;
  bool is_signed;
};

class LearnedLayer : public ::testing::TestWithParam<Case> {};

nn::LayerConfig dynamic_config(const std::string& mult) {
  nn::LayerConfig config;
  config.mult = mult;
  config.dynamic = true;  // activation ranges from each call: no calibration needed
  return config;
}

// y = layer(inputs) for the learned layer and for its cols twin.
struct Pair {
  std::shared_ptr<nn::AxLayer> learned, twin;
  std::function<at::Tensor(nn::AxLayer&)> run;
};

Pair make_pair_of(const Case& c, const std::string& twin_mult, const at::Tensor& gamma) {
  torch::manual_seed(7);
  const std::string exact = fmt::format("exact{}{}", c.bits, c.is_signed ? 's' : 'u');
  Pair p;
  const std::string type = c.type;
  if (type == "linear") {
    auto a = std::make_shared<nn::AxLinearImpl>(37, 5, true, "fc", dynamic_config(exact));
    auto b = std::make_shared<nn::AxLinearImpl>(37, 5, true, "fc", dynamic_config(twin_mult));
    b->weight.set_data(a->weight.detach().clone());
    b->bias.set_data(a->bias.detach().clone());
    const at::Tensor x = at::randn({3, 37});
    p.run = [x](nn::AxLayer& l) { return static_cast<nn::AxLinearImpl&>(l).forward(x); };
    p.learned = a;
    p.twin = b;
  } else if (type == "conv2d") {
    nn::Conv2dShape shape{4, 6, {3, 3}, {2, 1}, {1, 2}, {1, 1}, 2, true};
    auto a = std::make_shared<nn::AxConv2dImpl>(shape, "conv", dynamic_config(exact));
    auto b = std::make_shared<nn::AxConv2dImpl>(shape, "conv", dynamic_config(twin_mult));
    b->weight.set_data(a->weight.detach().clone());
    b->bias.set_data(a->bias.detach().clone());
    const at::Tensor x = at::relu(at::randn({2, 4, 7, 6}));
    p.run = [x](nn::AxLayer& l) { return static_cast<nn::AxConv2dImpl&>(l).forward(x); };
    p.learned = a;
    p.twin = b;
  } else {
    auto a = std::make_shared<nn::AxMatMulImpl>("attn", dynamic_config(exact));
    auto b = std::make_shared<nn::AxMatMulImpl>("attn", dynamic_config(twin_mult));
    const at::Tensor x = at::randn({2, 5, 9}), y = at::randn({2, 9, 4});
    p.run = [x, y](nn::AxLayer& l) { return static_cast<nn::AxMatMulImpl&>(l).forward(x, y); };
    p.learned = a;
    p.twin = b;
  }
  const int columns = static_cast<int>(gamma.size(0));
  p.learned->set_learned_columns(
      nn::LearnedColumns{gamma, tables_of(c.bits, c.is_signed, columns)});
  return p;
}

TEST_P(LearnedLayer, ZeroOneGammaIsTheGeneratorsColumnMultiplier) {
  const Case c = GetParam();
  const int all = partial_product_columns(c.bits), columns = std::min(c.bits + 1, all);
  // Several 0/1 patterns over the learned columns, the lowest ones first.
  for (const uint32_t pattern : {0u, 1u, 0b1011u, (1u << columns) - 1, 0b0110u}) {
    std::vector<double> gamma(static_cast<size_t>(columns));
    std::vector<bool> keep(static_cast<size_t>(all), true);
    for (int k = 0; k < columns; ++k) {
      gamma[static_cast<size_t>(k)] = (pattern >> k) & 1;
      keep[static_cast<size_t>(k)] = !((pattern >> k) & 1);
    }
    const std::string twin =
        fmt::format("cols{}{}_{}", c.bits, c.is_signed ? 's' : 'u', flags_of(keep));
    Pair p = make_pair_of(c, twin, at::tensor(gamma, at::kFloat).requires_grad_(true));
    const at::Tensor a = p.run(*p.learned), b = p.run(*p.twin);
    ASSERT_TRUE(at::equal(a, b)) << c.type << " " << twin << " max diff "
                                 << (a - b).abs().max().item<float>();
  }
}

TEST_P(LearnedLayer, GammaGradientMatchesFiniteDifferences) {
  const Case c = GetParam();
  const int columns = std::min(c.bits, partial_product_columns(c.bits));
  std::vector<double> start;
  for (int k = 0; k < columns; ++k) start.push_back(0.2 + 0.6 * k / columns);
  const at::Tensor gamma = at::tensor(start, at::kFloat).requires_grad_(true);
  Pair p = make_pair_of(c, fmt::format("exact{}{}", c.bits, c.is_signed ? 's' : 'u'), gamma);
  const at::Tensor y0 = p.run(*p.learned);
  torch::manual_seed(3);
  const at::Tensor r = at::randn(y0.sizes());
  (y0 * r).sum().backward();
  const at::Tensor grad = gamma.grad().clone();
  // The output is linear in each fractional gamma: central differences are exact but for
  // rounding.
  constexpr double h = 0.1;
  const auto loss_at = [&](int k, double delta) {
    torch::NoGradGuard no_grad;
    std::vector<double> g = start;
    g[static_cast<size_t>(k)] += delta;
    Pair q = make_pair_of(c, "exact8u", at::tensor(g, at::kFloat));
    return (q.run(*q.learned) * r).sum().item<double>();
  };
  for (int k = 0; k < columns; ++k) {
    const double fd = (loss_at(k, h) - loss_at(k, -h)) / (2 * h);
    const double g = grad[k].item<double>();
    EXPECT_NEAR(g, fd, 1e-3 * std::max(1.0, std::abs(fd))) << c.type << " column " << k;
  }
}

INSTANTIATE_TEST_SUITE_P(Kinds, LearnedLayer,
                         ::testing::Values(Case{"linear", 8, false}, Case{"linear", 8, true},
                                           Case{"linear", 3, false}, Case{"conv2d", 8, false},
                                           Case{"conv2d", 6, true}, Case{"conv2d", 2, false},
                                           Case{"matmul", 8, false}, Case{"matmul", 5, true}),
                         [](const auto& info) {
                           return fmt::format("{}{}{}", info.param.type, info.param.bits,
                                              info.param.is_signed ? 's' : 'u');
                         });

TEST(LearnedLayer, EveryWidthAndSignednessMatchesTheGenerator) {
  for (const bool is_signed : {false, true}) {
    for (int bits = 2; bits <= 8; ++bits) {
      const int all = partial_product_columns(bits);
      // Every other column of all 2b - 1 removed, then the lowest b.
      for (const bool alternate : {true, false}) {
        std::vector<double> gamma(static_cast<size_t>(all));
        std::vector<bool> keep(static_cast<size_t>(all));
        for (int c = 0; c < all; ++c) {
          const bool removed = alternate ? c % 2 == 0 : c < bits;
          gamma[static_cast<size_t>(c)] = removed;
          keep[static_cast<size_t>(c)] = !removed;
        }
        const Case c{"linear", bits, is_signed};
        const std::string twin =
            fmt::format("cols{}{}_{}", bits, is_signed ? 's' : 'u', flags_of(keep));
        Pair p = make_pair_of(c, twin, at::tensor(gamma, at::kFloat));
        ASSERT_TRUE(at::equal(p.run(*p.learned), p.run(*p.twin))) << twin;
      }
    }
  }
}

TEST(LearnedLayer, RejectsAStructureThatDoesNotFit) {
  nn::AxLinearImpl fp32(4, 2, true, "fc");
  EXPECT_THAT(
      error_of([&] {
        fp32.set_learned_columns(nn::LearnedColumns{at::zeros({8}), tables_of(8, false, 8)});
      }),
      HasSubstr("layer 'fc' computes in fp32"));
  nn::AxLinearImpl four(4, 2, true, "fc", dynamic_config("exact4u"));
  EXPECT_THAT(
      error_of([&] {
        four.set_learned_columns(nn::LearnedColumns{at::zeros({8}), tables_of(8, false, 8)});
      }),
      HasSubstr("for 4-bit codes"));
}

TEST(ColumnPower, SharesFromTheCircuitsElements) {
  const ColumnPower p = column_power(8, false);
  ASSERT_EQ(p.share.size(), 16u);
  double sum = 0;
  for (double s : p.share) sum += s;
  EXPECT_NEAR(sum, 1, 1e-12);
  EXPECT_GT(p.full_adder_power, p.half_adder_power);
  EXPECT_GT(p.half_adder_power, p.gate_power);
  EXPECT_EQ(p.gates[0], 1);
  EXPECT_EQ(p.gates[7], 8);
  EXPECT_EQ(p.half_adders[0] + p.full_adders[0], 0);  // one cell: no adder
  // Middle columns hold the most.
  EXPECT_GT(p.share[7], p.share[0]);
  EXPECT_GT(p.share[7], p.share[14]);
  EXPECT_DOUBLE_EQ(relative_power(p, std::vector<double>(8, 0.0)), 1.0);
  const double half = relative_power(p, std::vector<double>{1, 1, 1, 1, 0, 0, 0, 0});
  EXPECT_LT(half, 1);
  EXPECT_GT(half, relative_power(p, std::vector<double>{1, 1, 1, 1, 1, 0, 0, 0}));
  // The tensor form is the same and differentiable.
  const at::Tensor g =
      at::tensor(std::vector<double>{1, 1, 1, 1, 0, 0, 0, 0}, at::kFloat).requires_grad_(true);
  const at::Tensor t = relative_power(p, g);
  EXPECT_NEAR(t.item<double>(), half, 1e-6);
  t.backward();
  EXPECT_NEAR(g.grad()[7].item<double>(), -p.share[7], 1e-6);
}

TEST(Structure, JsonRoundTripAndErrors) {
  Structure s;
  s.lambda = 0.3;
  s.gamma = {1, 1, 0.5, 0};
  const Structure back = structure_from_json(to_json(s), "s.json");
  EXPECT_EQ(back.gamma, s.gamma);
  EXPECT_FALSE(back.per_layer);
  s.per_layer = true;
  s.layers["conv1"] = {1, 0};
  EXPECT_EQ(structure_from_json(to_json(s), "s.json").layers.at("conv1"),
            (std::vector<double>{1, 0}));
  nlohmann::json bad = to_json(s);
  bad["layers"]["conv1"] = {2};
  EXPECT_THAT(error_of([&] { structure_from_json(bad, "s.json"); }),
              HasSubstr("s.json: layer 'conv1': gamma of column 0 is 2"));
  EXPECT_THAT(error_of([] {
                structure_from_json({{"bits", 8}}, "x.json");
              }),
              HasSubstr("x.json: not an axnn TRAM structure"));
  EXPECT_EQ(parse_gamma_list("1,1,0.6,0"), (std::vector<double>{1, 1, 0.6, 0}));
  EXPECT_THAT(error_of([] { parse_gamma_list("1,,0"); }), HasSubstr("'' is not a number"));
  EXPECT_THAT(error_of([] { parse_gamma_list("1,1.2"); }), HasSubstr("1.2 is outside [0, 1]"));
}

using axnn::test_util::halves;

TEST(Explore, APowerPenaltyRemovesColumnsAndKeepsAccuracy) {
  const data::Dataset train_set = halves(256, 1), test_set = halves(128, 2);
  auto model = models::make_model("mlp", {1, 12, 2});
  train::TrainOptions pre;
  pre.epochs = 2;
  pre.batch_size = 32;
  train::train(*model, train_set, pre);
  for (const auto& [name, layer] : nn::ax_layers(*model)) {
    nn::LayerConfig config = layer->config();
    config.dynamic = true;
    layer->set_config(config);
  }
  ExploreOptions o;
  o.train.epochs = 2;
  o.train.batch_size = 32;
  o.train.lr = 1e-3;
  o.gamma_lr = 0.05;
  o.lambda = 5;
  int epochs = 0;
  const Structure s = explore(*model, train_set, o, [&](const Structure&) { ++epochs; });
  EXPECT_EQ(epochs, 2);
  ASSERT_EQ(s.gamma.size(), 8u);
  ASSERT_EQ(s.log.size(), 2u);
  // A strong penalty pushes every column towards removal, within [0, 1].
  for (size_t c = 0; c < 8; ++c) {
    EXPECT_GE(s.gamma[c], 0);
    EXPECT_LE(s.gamma[c], 1);
  }
  EXPECT_GT(s.gamma[5], 0);
  EXPECT_LT(s.log[1]["relative_power"].get<double>(),
            s.log[0]["relative_power"].get<double>() + 1e-9);
  EXPECT_GT(train::evaluate(*model, test_set), 0.9);
  EXPECT_LT(structure_power(*model, s), 1.0);

  // Per layer: a structure of its own for each layer.
  o.per_layer = true;
  o.train.epochs = 1;
  const Structure per = explore(*model, train_set, o);
  EXPECT_EQ(per.layers.size(), nn::ax_layers(*model).size());
  EXPECT_TRUE(per.gamma.empty());
  o.columns = 20;
  EXPECT_THAT(error_of([&] { explore(*model, train_set, o); }), HasSubstr("--columns 20"));
}

}  // namespace
}  // namespace axnn::tram
