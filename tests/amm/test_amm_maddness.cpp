// MADDness learning (amm/maddness.h): known-answer clusterings, the split search against brute
// force, encode against a tree walk written here, ridge refinement, the int8 tables' error bound,
// determinism and the errors.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <vector>

#include "amm/maddness.h"
#include "common/error_of.h"
#include "core/error.h"

namespace axnn::amm {
namespace {

using test_util::error_of;
using ::testing::HasSubstr;

// Rows whose group g holds an independent cluster label 0..15 in 4 binary columns (bit b scaled
// by 10 + 3 b, so a depth-4 tree splits on bit 3 first), the other columns small noise. Odd
// groups store the bits in reverse column order, so split columns are not simply 0..3.
struct Clustered {
  at::Tensor a;       // [N, C w]
  at::Tensor labels;  // int64 [N, C]
  int64_t c = 0, w = 0;
  int64_t bit_column(int64_t g, int64_t bit) const {
    return g * w + (g % 2 == 0 ? bit : w - 1 - bit);
  }
};

Clustered separable(int64_t n, int64_t c, int64_t w, uint64_t seed) {
  at::manual_seed(seed);
  Clustered data{0.01 * at::randn({n, c * w}), at::randint(0, 16, {n, c}, at::kLong), c, w};
  auto a = data.a.accessor<float, 2>();
  auto labels = data.labels.accessor<int64_t, 2>();
  for (int64_t i = 0; i < n; ++i)
    for (int64_t g = 0; g < c; ++g)
      for (int64_t bit = 0; bit < 4; ++bit)
        if ((labels[i][g] >> bit) & 1) a[i][data.bit_column(g, bit)] += 10.0f + 3.0f * bit;
  return data;
}

// sum_c lut[c][codes[n][c]][:] as float [N, M].
at::Tensor decode(const at::Tensor& lut, const at::Tensor& codes) {
  at::Tensor sum = at::zeros({codes.size(0), lut.size(2)}, at::kFloat);
  const at::Tensor index = codes.to(at::kLong);
  for (int64_t c = 0; c < lut.size(0); ++c) sum += lut[c].index_select(0, index.select(1, c));
  return sum;
}

// The reconstruction of A by its prototypes: sum_c prototypes[c][code_c].
at::Tensor reconstruct(const Maddness& model, const at::Tensor& a) {
  return decode(model.prototypes, encode(model, a));
}

double sse(const at::Tensor& x, const at::Tensor& y) {
  return (x.to(at::kDouble) - y.to(at::kDouble)).square().sum().item<double>();
}

// The leaf of row x in codebook c by walking the tree as kernels/maddness.h defines it.
int walk(const Maddness& model, const float* x, int64_t c) {
  auto split = model.split_dims.accessor<int32_t, 2>();
  auto threshold = model.thresholds.accessor<float, 2>();
  int node = 0;
  for (int level = 0; level < model.depth(); ++level)
    node = 2 * node + (x[split[c][level]] > threshold[c][(1 << level) - 1 + node] ? 1 : 0);
  return node;
}

// Every code of every codebook holds rows of one label, and all 16 labels have their own code;
// the prototypes (over the group's columns) are the labels' means.
void expect_recovers(const Clustered& data, const Maddness& model, bool check_prototypes) {
  const at::Tensor codes = encode(model, data.a).to(at::kLong);
  auto code = codes.accessor<int64_t, 2>();
  auto label = data.labels.accessor<int64_t, 2>();
  const int64_t n = data.a.size(0);
  for (int64_t g = 0; g < data.c; ++g) {
    std::map<int64_t, int64_t> label_of_code;
    for (int64_t i = 0; i < n; ++i) {
      const auto [it, inserted] = label_of_code.emplace(code[i][g], label[i][g]);
      ASSERT_EQ(it->second, label[i][g]) << "group " << g << " row " << i << " code " << code[i][g];
    }
    ASSERT_EQ(label_of_code.size(), 16u) << "group " << g;
    if (!check_prototypes) continue;
    for (const auto& [c, l] : label_of_code) {
      const at::Tensor rows = data.labels.select(1, g).eq(l).nonzero().squeeze(1);
      const at::Tensor mean = data.a.index_select(0, rows).mean(0);
      const at::Tensor proto = model.prototypes[g][c];
      const at::Tensor inside = at::zeros({data.a.size(1)}, at::kBool);
      inside.narrow(0, g * data.w, data.w).fill_(true);
      EXPECT_TRUE(at::allclose(proto.masked_select(inside), mean.masked_select(inside), 0, 1e-4))
          << "group " << g << " code " << c;
      EXPECT_EQ(proto.masked_select(inside.logical_not()).abs().max().item<float>(), 0.0f);
    }
  }
}

TEST(AmmMaddness, GroupBoundsSpreadTheRemainderOverTheFirstGroups) {
  EXPECT_EQ(group_bounds(10, 3), (std::vector<int64_t>{0, 4, 7, 10}));
  EXPECT_EQ(group_bounds(8, 4), (std::vector<int64_t>{0, 2, 4, 6, 8}));
  EXPECT_EQ(group_bounds(5, 5), (std::vector<int64_t>{0, 1, 2, 3, 4, 5}));
  EXPECT_THAT(error_of([] { group_bounds(4, 5); }), HasSubstr("c = 5 codebooks exceed d = 4"));
  EXPECT_THROW(group_bounds(4, 0), Error);
}

TEST(AmmMaddness, EncoderNames) {
  EXPECT_EQ(parse_encoder("maddness"), Encoder::kHashTree);
  EXPECT_EQ(parse_encoder("pq"), Encoder::kKMeans);
  EXPECT_EQ(encoder_name(Encoder::kHashTree), "maddness");
  EXPECT_EQ(encoder_name(Encoder::kKMeans), "pq");
  EXPECT_THAT(error_of([] { parse_encoder("bolt"); }), HasSubstr("'bolt'"));
}

TEST(AmmMaddness, HashTreesRecoverSeparableClusters) {
  const Clustered data = separable(3200, 4, 6, 7);
  for (double lambda : {0.0, 1.0}) {
    LearnOptions options;
    options.c = 4;
    options.ridge_lambda = lambda;
    const Maddness model = learn(data.a, options);
    EXPECT_EQ(model.depth(), 4);
    EXPECT_EQ(model.split_dims.sizes(), at::IntArrayRef({4, 4}));
    EXPECT_EQ(model.thresholds.sizes(), at::IntArrayRef({4, 15}));
    for (int64_t g = 0; g < 4; ++g)
      for (int level = 0; level < 4; ++level)  // the widest bit first
        EXPECT_EQ(model.split_dims[g][level].item<int>(), data.bit_column(g, 3 - level))
            << "group " << g << " level " << level;
    expect_recovers(data, model, lambda == 0);
    const at::Tensor b = at::randn({24, 8});
    const at::Tensor approx = decode(make_lut(model, b), encode(model, data.a));
    EXPECT_LT(nmse(at::matmul(data.a, b), approx), 1e-4) << "lambda " << lambda;
  }
}

TEST(AmmMaddness, KMeansRecoversSeparableClusters) {
  const Clustered data = separable(3200, 4, 6, 8);
  LearnOptions options;
  options.c = 4;
  options.encoder = Encoder::kKMeans;
  const Maddness model = learn(data.a, options);
  EXPECT_FALSE(model.split_dims.defined());
  expect_recovers(data, model, true);
  const at::Tensor b = at::randn({24, 5});
  EXPECT_LT(nmse(at::matmul(data.a, b), decode(make_lut(model, b), encode(model, data.a))), 1e-5);
}

TEST(AmmMaddness, UnevenGroups) {
  at::manual_seed(3);
  const at::Tensor a = at::randn({500, 10});
  const std::vector<int64_t> bounds = group_bounds(10, 3);
  for (Encoder encoder : {Encoder::kHashTree, Encoder::kKMeans}) {
    LearnOptions options;
    options.c = 3;
    options.k = 8;
    options.encoder = encoder;
    options.ridge_lambda = 0;
    const Maddness model = learn(a, options);
    EXPECT_EQ(model.prototypes.sizes(), at::IntArrayRef({3, 8, 10}));
    const at::Tensor codes = encode(model, a);
    EXPECT_EQ(codes.sizes(), at::IntArrayRef({500, 3}));
    EXPECT_LT(codes.max().item<int>(), 8);
    for (int64_t g = 0; g < 3; ++g) {
      const int64_t lo = bounds[g], hi = bounds[g + 1];
      if (encoder == Encoder::kHashTree)
        for (int level = 0; level < 3; ++level) {
          const int dim = model.split_dims[g][level].item<int>();
          EXPECT_TRUE(dim >= lo && dim < hi) << "group " << g << " splits on column " << dim;
        }
      // Leaf means and centroids live on the group's columns only.
      const at::Tensor outside = at::cat(
          {model.prototypes[g].narrow(1, 0, lo), model.prototypes[g].narrow(1, hi, 10 - hi)}, 1);
      EXPECT_EQ(outside.abs().max().item<float>(), 0.0f) << encoder_name(encoder) << " group " << g;
      EXPECT_GT(model.prototypes[g].narrow(1, lo, hi - lo).abs().max().item<float>(), 0.0f);
    }
    // 8 prototypes per group fit random data better than the mean alone.
    EXPECT_LT(sse(a, reconstruct(model, a)), 0.8 * sse(a, a.mean(0).expand_as(a)));
  }
}

TEST(AmmMaddness, LeafMeansAreTheMeansOfTheEncodedRows) {
  at::manual_seed(4);
  const at::Tensor a = at::randn({2000, 12}) * at::linspace(0.5, 3, 12);
  LearnOptions options;
  options.c = 2;
  options.ridge_lambda = 0;
  const Maddness model = learn(a, options);
  const at::Tensor codes = encode(model, a).to(at::kLong);
  for (int64_t g = 0; g < 2; ++g)
    for (int64_t j = 0; j < 16; ++j) {
      const at::Tensor rows = codes.select(1, g).eq(j).nonzero().squeeze(1);
      ASSERT_GT(rows.numel(), 0) << "group " << g << " leaf " << j << " is empty";
      const at::Tensor mean = a.index_select(0, rows).narrow(1, 6 * g, 6).mean(0);
      EXPECT_TRUE(at::allclose(model.prototypes[g][j].narrow(0, 6 * g, 6), mean, 1e-5, 1e-5))
          << "group " << g << " leaf " << j;
    }
}

// Depth 1 with every column a candidate: the one split must be the best of all columns and
// thresholds, by brute force over all of them.
TEST(AmmMaddness, SplitIsTheBruteForceOptimum) {
  at::manual_seed(5);
  const int64_t n = 120, d = 5;
  const at::Tensor a = at::randn({n, d}) * at::tensor({1.0f, 5.0f, 0.5f, 1.5f, 1.2f});
  // Column 2 holds two far clusters: the best split, though column 1 has the larger SSE.
  a.select(1, 2).add_(at::where(at::arange(n) % 3 == 0, 10.0f, 0.0f));
  auto split_sse = [&](const at::Tensor& right) {
    double total = 0;
    for (const at::Tensor& part : {a.index({right}), a.index({right.logical_not()})})
      if (part.size(0) > 0) total += sse(part, part.mean(0).expand_as(part));
    return total;
  };
  double best = std::numeric_limits<double>::infinity();
  for (int64_t j = 0; j < d; ++j)
    for (int64_t i = 0; i < n; ++i) best = std::min(best, split_sse(a.select(1, j) > a[i][j]));

  LearnOptions options;
  options.c = 1;
  options.k = 2;
  options.candidate_columns = d;
  options.ridge_lambda = 0;
  const Maddness model = learn(a, options);
  EXPECT_EQ(model.split_dims[0][0].item<int>(), 2);
  const at::Tensor right = encode(model, a).select(1, 0).eq(1);
  EXPECT_NEAR(split_sse(right), best, 1e-9 * best);
  EXPECT_NEAR(sse(a, reconstruct(model, a)), best, 1e-4 * best);

  // The threshold lies strictly between the two sides' values.
  const float t = model.thresholds[0][0].item<float>();
  const at::Tensor column = a.select(1, 2);
  EXPECT_GE(t, column.index({right.logical_not()}).max().item<float>());
  EXPECT_LT(t, column.index({right}).min().item<float>());

  // One candidate: the column of largest SSE, whatever the split gains.
  options.candidate_columns = 1;
  EXPECT_EQ(learn(a, options).split_dims[0][0].item<int>(), 1);
}

TEST(AmmMaddness, EncodeAgreesWithATreeWalk) {
  at::manual_seed(6);
  const at::Tensor train = at::randn({3000, 20});
  for (int64_t k : {2, 4, 8, 16}) {
    LearnOptions options;
    options.c = 5;
    options.k = k;
    const Maddness model = learn(train, options);
    // Fresh rows, and rows sitting exactly on the thresholds (those go left).
    at::Tensor test = at::randn({400, 20});
    auto split = model.split_dims.accessor<int32_t, 2>();
    for (int64_t r = 0; r < 100; ++r) {
      const int64_t c = r % 5, node = r % (k - 1);
      int level = 0;
      while ((int64_t{2} << level) - 1 <= node) ++level;
      test[r][split[c][level]] = model.thresholds[c][node];
    }
    const at::Tensor codes = encode(model, test);
    auto code = codes.accessor<uint8_t, 2>();
    for (int64_t i = 0; i < 400; ++i)
      for (int64_t c = 0; c < 5; ++c)
        ASSERT_EQ(code[i][c], walk(model, test[i].data_ptr<float>(), c))
            << "k " << k << " row " << i << " codebook " << c;
  }
}

TEST(AmmMaddness, RidgeLowersTheReconstructionError) {
  at::manual_seed(9);
  // Correlated columns: one codebook's code says something about the other groups' columns.
  const at::Tensor a =
      at::matmul(at::randn({4000, 6}), at::randn({6, 32})) + 0.3 * at::randn({4000, 32});
  LearnOptions options;
  options.c = 4;
  options.ridge_lambda = 0;
  const Maddness leaf = learn(a, options);
  options.ridge_lambda = 1;
  const Maddness ridge = learn(a, options);
  EXPECT_TRUE(at::equal(leaf.split_dims, ridge.split_dims));
  EXPECT_TRUE(at::equal(leaf.thresholds, ridge.thresholds));
  const double leaf_error = sse(a, reconstruct(leaf, a)),
               ridge_error = sse(a, reconstruct(ridge, a));
  EXPECT_LT(ridge_error, 0.7 * leaf_error)
      << "leaf means " << leaf_error << ", ridge " << ridge_error;
  // A huge lambda shrinks every prototype towards 0.
  options.ridge_lambda = 1e9;
  EXPECT_LT(learn(a, options).prototypes.abs().max().item<float>(), 1e-3);
}

TEST(AmmMaddness, DeterministicForASeedAndAnyThreadCount) {
  at::manual_seed(10);
  const at::Tensor a = at::randn({1500, 18});
  const int threads = at::get_num_threads();
  for (Encoder encoder : {Encoder::kHashTree, Encoder::kKMeans}) {
    LearnOptions options;
    options.c = 3;
    options.encoder = encoder;
    options.seed = 42;
    at::set_num_threads(1);
    const Maddness one = learn(a, options);
    at::set_num_threads(2);
    const Maddness two = learn(a, options);
    const Maddness again = learn(a, options);
    for (const Maddness* m : {&two, &again}) {
      EXPECT_TRUE(at::equal(one.prototypes, m->prototypes)) << encoder_name(encoder);
      if (encoder == Encoder::kHashTree) {
        EXPECT_TRUE(at::equal(one.split_dims, m->split_dims));
        EXPECT_TRUE(at::equal(one.thresholds, m->thresholds));
      }
    }
  }
  at::set_num_threads(threads);
}

TEST(AmmMaddness, ConstantAndDuplicateRowsGiveFiniteModels) {
  const at::Tensor same = at::ones({16, 4}) * 3;
  at::manual_seed(11);
  const at::Tensor few = at::randint(0, 2, {40, 4}).to(at::kFloat);  // at most 4 bits per group
  for (const at::Tensor& a : {same, few})
    for (Encoder encoder : {Encoder::kHashTree, Encoder::kKMeans})
      for (double lambda : {0.0, 1.0}) {
        LearnOptions options;
        options.c = 2;
        options.encoder = encoder;
        options.ridge_lambda = lambda;
        const Maddness model = learn(a, options);
        EXPECT_TRUE(at::isfinite(model.prototypes).all().item<bool>()) << encoder_name(encoder);
        if (encoder == Encoder::kHashTree) {
          EXPECT_TRUE(at::isfinite(model.thresholds).all().item<bool>());
        }
        // A group holds at most 4 distinct rows here: leaves and centroids reproduce each one.
        if (encoder == Encoder::kKMeans || lambda == 0) {
          EXPECT_LT((a - reconstruct(model, a)).abs().max().item<float>(), 1e-6)
              << encoder_name(encoder);
        }
      }
}

TEST(AmmMaddness, MakeLutIsPrototypesTimesB) {
  at::manual_seed(12);
  const at::Tensor a = at::randn({300, 9});
  LearnOptions options;
  options.c = 3;
  options.k = 4;
  const Maddness model = learn(a, options);
  const at::Tensor b = at::randn({9, 7});
  const at::Tensor lut = make_lut(model, b);
  EXPECT_EQ(lut.sizes(), at::IntArrayRef({3, 4, 7}));
  EXPECT_TRUE(at::allclose(lut[2][1], at::matmul(model.prototypes[2][1], b), 1e-5, 1e-5));
  EXPECT_THROW(make_lut(model, at::randn({8, 7})), Error);
}

TEST(AmmMaddness, Nmse) {
  const at::Tensor x = at::tensor({1.0f, 2.0f, 2.0f});
  EXPECT_EQ(nmse(x, x), 0.0);
  EXPECT_DOUBLE_EQ(nmse(x, at::tensor({1.0f, 2.0f, 4.0f})), 4.0 / 9.0);
  EXPECT_DOUBLE_EQ(nmse(x, at::zeros({3})), 1.0);
  EXPECT_THROW(nmse(x, at::zeros({4})), Error);
}

// |S / scale + offset - float sum| <= C / (2 scale) for codes of every row's choosing.
void expect_quantized_sums_within_bound(const at::Tensor& lut, const std::string& what) {
  const QuantizedLut q = quantize_lut(lut);
  const int64_t c = lut.size(0), k = lut.size(1);
  ASSERT_EQ(q.table.scalar_type(), at::kChar);
  ASSERT_EQ(q.table.sizes(), lut.sizes());
  ASSERT_TRUE(at::isfinite(q.scale).all().item<bool>()) << what;
  ASSERT_TRUE(at::isfinite(q.offset).all().item<bool>()) << what;
  ASSERT_GT(q.scale.min().item<float>(), 0.0f) << what;
  // Per (c, m) the minimum is -128; the codebook of widest range reaches 127.
  const at::Tensor table = q.table.to(at::kInt);
  EXPECT_EQ(table.amin(1).max().item<int>(), -128) << what;
  EXPECT_EQ(table.amin(1).min().item<int>(), -128) << what;
  at::manual_seed(13);
  const at::Tensor codes =
      at::cat({at::randint(0, k, {200, c}, at::kByte), at::zeros({1, c}, at::kByte),
               at::full({1, c}, k - 1, at::kByte)});
  const at::Tensor exact = decode(lut.to(at::kDouble), codes);
  const at::Tensor sum = decode(table.to(at::kDouble), codes);
  const at::Tensor scale = q.scale.to(at::kDouble), offset = q.offset.to(at::kDouble);
  const at::Tensor error = (sum / scale + offset - exact).abs();
  // "tiny": the float offset's own rounding, relative to the sum of the tables' magnitudes.
  const at::Tensor tiny = 1e-6 * lut.to(at::kDouble).abs().amax(1).sum(0);
  const at::Tensor bound = c / (2 * scale) * (1 + 1e-6) + tiny;
  EXPECT_TRUE((error <= bound).all().item<bool>())
      << what << ": worst excess " << (error - bound).max().item<double>();
}

TEST(AmmMaddness, QuantizeLutWithinTheRoundingBound) {
  at::manual_seed(14);
  expect_quantized_sums_within_bound(
      at::randn({16, 16, 33}) * at::logspace(-3, 3, 33) + at::linspace(-50, 50, 33), "random");
  expect_quantized_sums_within_bound(at::randn({3, 4, 5}), "small");
  at::Tensor mixed = at::randn({8, 16, 6}) * 1e-4;
  mixed[3] *= 1e7;  // one codebook dominates every column's scale
  expect_quantized_sums_within_bound(mixed, "one wide codebook");
  expect_quantized_sums_within_bound(at::randn({4, 16, 3}) * 1e30, "huge");
  expect_quantized_sums_within_bound(at::randn({4, 16, 3}) * 1e-30, "tiny");
  expect_quantized_sums_within_bound(at::rand({4, 16, 3}) * 1e-38, "subnormal ranges");
  expect_quantized_sums_within_bound(at::full({4, 16, 3}, 5.0f), "constant");
  expect_quantized_sums_within_bound(at::zeros({4, 16, 3}), "zero");
}

TEST(AmmMaddness, QuantizeLutByHand) {
  // One codebook, K = 2, M = 2: column 0 spans [1, 3] (scale 127.5), column 1 is constant 7.
  const at::Tensor lut = at::tensor({1.0f, 7.0f, 3.0f, 7.0f}).view({1, 2, 2});
  const QuantizedLut q = quantize_lut(lut);
  EXPECT_EQ(q.scale[0].item<float>(), 127.5f);
  EXPECT_EQ(q.scale[1].item<float>(), 1.0f);
  EXPECT_EQ(q.table[0][0][0].item<int8_t>(), -128);
  EXPECT_EQ(q.table[0][1][0].item<int8_t>(), 127);
  EXPECT_EQ(q.table[0][1][1].item<int8_t>(), -128);
  EXPECT_FLOAT_EQ(q.offset[0].item<float>(), 1.0f + 128.0f / 127.5f);
  EXPECT_FLOAT_EQ(q.offset[1].item<float>(), 7.0f + 128.0f);
  EXPECT_THROW(quantize_lut(at::zeros({2, 2})), Error);
  EXPECT_THROW(quantize_lut(at::full({1, 2, 2}, NAN)), Error);
}

TEST(AmmMaddness, ErrorsNameTheProblem) {
  const at::Tensor a = at::randn({64, 8});
  const LearnOptions defaults;
  auto with = [](auto change) {
    LearnOptions options;
    options.c = 2;
    change(options);
    return options;
  };
  EXPECT_THAT(error_of([&] { learn(a, defaults); }), HasSubstr("c = 16 codebooks exceed d = 8"));
  EXPECT_THAT(error_of([&] { learn(at::randn({64}), with([](auto&) {})); }), HasSubstr("2-D"));
  EXPECT_THAT(error_of([&] { learn(a.to(at::kDouble), with([](auto&) {})); }),
              HasSubstr("float32"));
  EXPECT_THAT(error_of([&] { learn(a.narrow(0, 0, 15), with([](auto&) {})); }),
              HasSubstr("N = 15 training rows, need at least k = 16"));
  EXPECT_THAT(error_of([&] { learn(a, with([](auto& o) { o.k = 3; })); }), HasSubstr("k = 3"));
  EXPECT_THAT(error_of([&] { learn(a, with([](auto& o) { o.k = 32; })); }), HasSubstr("k = 32"));
  EXPECT_THAT(error_of([&] { learn(a, with([](auto& o) { o.candidate_columns = 0; })); }),
              HasSubstr("candidate_columns = 0"));
  EXPECT_THAT(error_of([&] { learn(a, with([](auto& o) { o.ridge_lambda = -1; })); }),
              HasSubstr("ridge_lambda = -1"));
  EXPECT_THAT(error_of([&] { learn(a, with([](auto& o) { o.kmeans_iterations = -1; })); }),
              HasSubstr("kmeans_iterations = -1"));
  at::Tensor bad = a.clone();
  bad[37][5] = NAN;
  EXPECT_THAT(error_of([&] { learn(bad, with([](auto&) {})); }),
              HasSubstr("row 37 has NaN in column 5"));
  bad[37][5] = 0;
  bad[40][1] = INFINITY;
  EXPECT_THAT(error_of([&] { learn(bad, with([](auto& o) { o.encoder = Encoder::kKMeans; })); }),
              HasSubstr("row 40 has an infinity in column 1"));

  const Maddness model = learn(a, with([](auto&) {}));
  EXPECT_THAT(error_of([&] { encode(model, at::randn({3, 7})); }), HasSubstr("7 columns"));
  EXPECT_THROW(encode(model, at::randn({3, 8}).to(at::kHalf)), Error);
  Maddness broken = model;
  broken.thresholds = at::zeros({2, 3});
  EXPECT_THROW(encode(broken, a), Error);
  Maddness too_many = learn(a, with([](auto& o) { o.encoder = Encoder::kKMeans; }));
  too_many.k = 32;
  too_many.prototypes = at::zeros({2, 32, 8});
  EXPECT_THAT(error_of([&] { encode(too_many, a); }), HasSubstr("k = 32"));
  broken = model;
  broken.split_dims[1][2] = 8;  // column 8 of 8
  EXPECT_THROW(encode(broken, a), Error);
}

TEST(AmmMaddness, NonContiguousRowsAndColumns) {
  at::manual_seed(15);
  const at::Tensor wide = at::randn({600, 24});
  const at::Tensor view = wide.narrow(1, 4, 12);                             // row stride 24
  const at::Tensor transposed = wide.narrow(1, 4, 12).t().contiguous().t();  // column stride 600
  LearnOptions options;
  options.c = 3;
  const Maddness model = learn(view, options);
  const Maddness same = learn(view.contiguous(), options);
  EXPECT_TRUE(at::equal(model.prototypes, same.prototypes));
  EXPECT_TRUE(at::equal(encode(model, view), encode(model, transposed)));
}

}  // namespace
}  // namespace axnn::amm
