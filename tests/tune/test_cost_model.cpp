#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "core/error.h"
#include "tune/cost_model.h"

namespace axnn::tune {
namespace {

constexpr int kFeatures = 12;

// A schedule-like throughput: log2 tile sizes (0..6) with an optimum in the middle, a vector width
// that only helps when the inner tile is large enough, an unroll flag, and noise-free features
// that do not matter. Some configurations "fail" (label 0), as invalid schedules do.
float throughput(const std::vector<float>& x) {
  const float tile = -0.3f * (x[0] - 4) * (x[0] - 4) - 0.2f * (x[1] - 2) * (x[1] - 2);
  const float vector = x[2] > 0.5f && x[0] >= 3 ? 0.8f : 0.0f;
  const float unroll = 0.3f * x[3];
  if (x[0] + x[1] > 10) return 0.0f;  // does not fit: a failed trial
  return std::exp(tile + vector + unroll);
}

std::vector<std::vector<float>> random_rows(int n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> log_tile(0, 6);
  std::uniform_int_distribution<int> flag(0, 1);
  std::uniform_real_distribution<float> other(0, 1);
  std::vector<std::vector<float>> rows(n, std::vector<float>(kFeatures));
  for (auto& row : rows) {
    row[0] = static_cast<float>(log_tile(rng));
    row[1] = static_cast<float>(log_tile(rng));
    row[2] = static_cast<float>(flag(rng));
    row[3] = static_cast<float>(flag(rng));
    for (int j = 4; j < kFeatures; ++j) row[j] = other(rng);  // irrelevant
  }
  return rows;
}

std::vector<float> labels_of(const std::vector<std::vector<float>>& rows) {
  std::vector<float> labels;
  for (const auto& row : rows) labels.push_back(throughput(row));
  return labels;
}

// Kendall's tau-a over pairs whose true values differ (ties in truth carry no order).
double kendall_tau(const std::vector<float>& truth, const std::vector<float>& score) {
  int64_t concordant = 0;
  int64_t discordant = 0;
  for (size_t i = 0; i < truth.size(); ++i) {
    for (size_t j = i + 1; j < truth.size(); ++j) {
      if (truth[i] == truth[j]) continue;
      const double s = (truth[i] - truth[j]) * (score[i] - score[j]);
      if (s > 0) ++concordant;
      if (s < 0) ++discordant;
    }
  }
  return static_cast<double>(concordant - discordant) /
         static_cast<double>(concordant + discordant);
}

TEST(CostModel, RanksHeldOutConfigurations) {
  const auto train = random_rows(400, 1);
  const auto test = random_rows(200, 2);
  CostModel model(7);
  EXPECT_FALSE(model.trained());
  model.fit(train, labels_of(train));
  EXPECT_TRUE(model.trained());
  const std::vector<float> scores = model.predict(test);
  ASSERT_EQ(scores.size(), test.size());
  // A constant or random model scores about 0 here; an inverted one about -1.
  EXPECT_GT(kendall_tau(labels_of(test), scores), 0.75);
}

TEST(CostModel, RefitReplacesTheModel) {
  const auto train = random_rows(300, 3);
  const auto test = random_rows(100, 4);
  std::vector<float> inverted = labels_of(train);
  for (float& label : inverted) label = -label;
  CostModel model;
  model.fit(train, labels_of(train));
  model.fit(train, inverted);
  EXPECT_LT(kendall_tau(labels_of(test), model.predict(test)), -0.75);
}

TEST(CostModel, PredictBeforeFitIsAnError) {
  CostModel model;
  EXPECT_THROW(model.predict(random_rows(3, 1)), Error);
}

TEST(CostModel, RaggedOrMismatchedInputIsAnError) {
  CostModel model;
  auto rows = random_rows(20, 5);
  const std::vector<float> labels = labels_of(rows);
  EXPECT_THROW(model.fit({}, {}), Error);
  EXPECT_THROW(model.fit(rows, std::vector<float>(labels.begin(), labels.end() - 1)), Error);
  EXPECT_THROW(model.fit({{}, {}}, {1.0f, 2.0f}), Error);
  std::vector<float> bad_labels = labels;
  bad_labels[3] = std::nanf("");
  EXPECT_THROW(model.fit(rows, bad_labels), Error);
  auto ragged = rows;
  ragged[7].pop_back();
  EXPECT_THROW(model.fit(ragged, labels), Error);
  EXPECT_FALSE(model.trained());

  model.fit(rows, labels);
  const std::vector<float> before = model.predict(rows);
  EXPECT_THROW(model.predict(ragged), Error);
  EXPECT_THROW(model.predict({std::vector<float>(kFeatures + 1)}), Error);
  // A failed refit keeps the trained model.
  EXPECT_THROW(model.fit(ragged, labels), Error);
  EXPECT_EQ(model.predict(rows), before);
}

TEST(CostModel, DeterministicForASeed) {
  const auto train = random_rows(300, 6);
  const auto test = random_rows(50, 7);
  CostModel a(11);
  CostModel b(11);
  CostModel c(12);
  a.fit(train, labels_of(train));
  b.fit(train, labels_of(train));
  c.fit(train, labels_of(train));
  EXPECT_EQ(a.predict(test), b.predict(test));
  // Row subsampling uses the seed, so another seed gives another model.
  EXPECT_NE(a.predict(test), c.predict(test));
}

TEST(CostModel, SingleRowAndEqualLabelsTrain) {
  // The first tuning round may have one trial, or only failures: no pairs to learn from.
  CostModel model;
  const auto rows = random_rows(5, 8);
  model.fit({rows[0]}, {1.0f});
  EXPECT_EQ(model.predict(rows).size(), rows.size());
  model.fit(rows, std::vector<float>(rows.size(), 0.0f));
  const std::vector<float> scores = model.predict(rows);
  for (float s : scores) EXPECT_EQ(s, scores[0]);
}

}  // namespace
}  // namespace axnn::tune
