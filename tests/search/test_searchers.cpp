// The searchers on a synthetic problem whose optimum is known by brute force: per-layer drops
// that add up, with a mild interaction, accuracies counted in images like a real evaluation.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <set>

#include "common/error_of.h"
#include "core/error.h"
#include "search/searcher.h"
#include "search/surrogate.h"

namespace axnn::search {
namespace {

using test_util::error_of;

struct Problem {
  SearchSpace space;
  std::vector<std::vector<double>> drop;  // [layer][candidate], candidate 0 exact
  double baseline = 0.92;
  double quantization = 0.002;  // what the all-exact int8 model loses
  double interaction = 5.0;     // the drops compound: s + interaction s^2

  [[nodiscard]] double accuracy(const Assignment& a) const {
    double s = quantization;
    for (size_t l = 0; l < a.size(); ++l) s += drop[l][static_cast<size_t>(a[l])];
    const double acc = std::max(0.0, baseline - s - interaction * s * s);
    return std::round(acc * 10000) / 10000;  // 10,000 test images
  }
};

Problem make_problem(int layers, int candidates, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> sensitivity(0.2, 2.0);
  std::uniform_int_distribution<int64_t> macs(1, 8);
  Problem p;
  for (int c = 0; c < candidates; ++c) {
    p.space.candidates.push_back(c == 0 ? "exact" : "mult" + std::to_string(c));
    p.space.power.push_back(1.0 - 0.6 * c / std::max(1, candidates - 1));
  }
  for (int l = 0; l < layers; ++l) {
    p.space.layers.push_back("layer" + std::to_string(l));
    p.space.macs.push_back(macs(rng) * 1000000);
    const double s = sensitivity(rng);
    std::vector<double> d;
    d.reserve(static_cast<size_t>(candidates));
    // Error grows faster than power falls: the cheapest candidates are costly everywhere.
    for (int c = 0; c < candidates; ++c)
      d.push_back(s * 0.0004 * (std::pow(4.0, c) - 1) / std::max(1, candidates - 1));
    p.drop.push_back(d);
  }
  return p;
}

SearchSettings settings_for(const Problem& p, int64_t budget, uint64_t seed = 7) {
  SearchSettings s;
  s.baseline_accuracy = p.baseline;
  s.max_drop = 0.01;
  s.budget = budget;
  s.seed = seed;
  return s;
}

// The least power within the constraint, over every assignment.
double brute_force_optimum(const Problem& p, const SearchSettings& s) {
  const size_t layers = p.space.layers.size();
  const int candidates = static_cast<int>(p.space.candidates.size());
  Assignment a(layers, 0);
  double best = INFINITY;
  for (;;) {
    if (is_feasible(s, p.accuracy(a))) best = std::min(best, p.space.relative_power(a));
    size_t l = 0;
    while (l < layers && ++a[l] == candidates) a[l++] = 0;
    if (l == layers) return best;
  }
}

struct Trace {
  std::vector<std::vector<Assignment>> batches;
  std::vector<Evaluation> evaluations;

  [[nodiscard]] double best_feasible_power(const SearchSettings& s) const {
    double best = INFINITY;
    for (const Evaluation& e : evaluations)
      if (is_feasible(s, e.accuracy)) best = std::min(best, e.power);
    return best;
  }
  [[nodiscard]] size_t proposals() const {
    size_t n = 0;
    for (const auto& b : batches) n += b.size();
    return n;
  }
};

// Asks for batches of maxes[i % size] until the searcher is done, checks every proposal and
// observes each batch (in reverse when asked: results may come in any order).
Trace drive(const std::string& method, const Problem& p, const SearchSettings& s,
            const std::vector<size_t>& maxes = {1}, bool reverse = false) {
  const auto searcher = make_searcher(method, p.space, s);
  EXPECT_EQ(searcher->name(), method);
  Trace run;
  std::set<Assignment> seen;
  for (size_t i = 0;; ++i) {
    const size_t max = maxes[i % maxes.size()];
    std::vector<Assignment> batch = searcher->propose(max);
    if (batch.empty()) break;
    EXPECT_LE(batch.size(), max);
    for (const Assignment& a : batch) {
      EXPECT_EQ(error_of([&] { p.space.relative_power(a); }), "no error");
      // Evaluations are deterministic: asking twice for one wastes the budget.
      EXPECT_TRUE(seen.insert(a).second) << method << " proposed an assignment twice";
    }
    run.batches.push_back(batch);
    if (reverse) std::reverse(batch.begin(), batch.end());
    for (const Assignment& a : batch) {
      const Evaluation e{a, p.accuracy(a), p.space.relative_power(a)};
      searcher->observe(e);
      run.evaluations.push_back(e);
    }
    if (run.batches.size() > 100000) {
      ADD_FAILURE() << method << " never finishes";
      break;
    }
  }
  EXPECT_LE(static_cast<int64_t>(run.proposals()), s.budget);
  return run;
}

class Searchers : public ::testing::TestWithParam<std::string> {};
INSTANTIATE_TEST_SUITE_P(All, Searchers, ::testing::Values("mcts", "nsga2", "greedy"));

TEST_P(Searchers, SameSeedSameProposals) {
  const Problem p = make_problem(10, 6, 1);
  const SearchSettings s = settings_for(p, 150);
  for (const std::vector<size_t>& maxes :
       {std::vector<size_t>{1}, std::vector<size_t>{5}, std::vector<size_t>{3, 1, 8}}) {
    const Trace a = drive(GetParam(), p, s, maxes);
    const Trace b = drive(GetParam(), p, s, maxes);
    EXPECT_EQ(a.batches, b.batches);
    // The order of results within a batch does not matter.
    EXPECT_EQ(drive(GetParam(), p, s, maxes, true).batches, a.batches);
  }
}

TEST_P(Searchers, SpendsTheBudgetAndNoMore) {
  const Problem p = make_problem(10, 6, 2);
  for (const int64_t budget : {0, 1, 7, 120}) {
    const Trace run = drive(GetParam(), p, settings_for(p, budget), {4});
    if (GetParam() == "greedy" && budget > 1) {
      // Greedy stops when no move is left, which may come first; it measures the single-layer
      // assignments (51 here, or 3/4 of a smaller budget) at least.
      EXPECT_GE(run.proposals(), std::min<size_t>(51, budget - budget / 4));
    } else {
      EXPECT_EQ(static_cast<int64_t>(run.proposals()), budget);
    }
  }
}

// On 5 problems of 5^8 = 390,625 assignments with 300 evaluations each, the best feasible power
// found exceeds the optimum by `mean` on average and `max` at most. The best of 300 random
// assignments: 0.067 and 0.13 (30 problems).
void expect_near_optimum(const std::string& method, bool surrogate, double mean, double max) {
  double sum = 0, worst = 0;
  for (uint64_t problem = 1; problem <= 5; ++problem) {
    const Problem p = make_problem(8, 5, problem);
    SearchSettings s = settings_for(p, 300);
    s.surrogate = surrogate;
    const double optimum = brute_force_optimum(p, s);
    ASSERT_LT(optimum, 0.9);  // the problem is not trivial
    const double gap = drive(method, p, s, {4}).best_feasible_power(s) - optimum;
    sum += gap;
    worst = std::max(worst, gap);
  }
  EXPECT_LE(sum / 5, mean) << method;
  EXPECT_LE(worst, max) << method;
}

TEST_P(Searchers, FindsNearlyTheOptimumWithinTheDrop) {
  // Greedy's surrogate is nearly exact here: the drops add up but for the mild interaction.
  if (GetParam() == "greedy") {
    expect_near_optimum("greedy", false, 0.01, 0.02);
  } else {
    expect_near_optimum(GetParam(), false, 0.035, 0.06);
  }
}

TEST_P(Searchers, StopsWhenTheSpaceIsExhausted) {
  const Problem p = make_problem(3, 2, 4);  // 8 assignments
  SearchSettings s = settings_for(p, 100);
  s.population = 4;
  const Trace run = drive(GetParam(), p, s, {3});
  EXPECT_LE(run.proposals(), 8u);
  // The tree enumerates a small space completely before it gives up.
  if (GetParam() == "mcts") {
    EXPECT_EQ(run.proposals(), 8u);
  }
}

TEST(Searchers, SeedsChangeTheRandomizedOnes) {
  const Problem p = make_problem(10, 6, 5);
  for (const std::string method : {"mcts", "nsga2"})
    EXPECT_NE(drive(method, p, settings_for(p, 60, 1)).batches,
              drive(method, p, settings_for(p, 60, 2)).batches)
        << method;
}

TEST(Nsga2, ProposalsDoNotDependOnTheBatchSize) {
  const Problem p = make_problem(10, 6, 6);
  const SearchSettings s = settings_for(p, 200);
  const auto flat = [](const Trace& r) {
    std::vector<Assignment> all;
    for (const auto& b : r.batches) all.insert(all.end(), b.begin(), b.end());
    return all;
  };
  const std::vector<Assignment> one = flat(drive("nsga2", p, s, {1}));
  EXPECT_EQ(flat(drive("nsga2", p, s, {5})), one);
  EXPECT_EQ(flat(drive("nsga2", p, s, {16, 3})), one);
}

TEST(Nsga2, StartsWithBothEndsOfTheFront) {
  const Problem p = make_problem(6, 4, 7);
  const Trace run = drive("nsga2", p, settings_for(p, 16), {16});
  ASSERT_FALSE(run.batches.empty());
  EXPECT_EQ(run.batches[0][0], Assignment(6, 0));  // every layer exact
  EXPECT_EQ(run.batches[0][1], Assignment(6, 3));  // every layer on the cheapest
}

TEST(Greedy, MeasuresSingleLayersFirstLargestSavingsFirst) {
  const Problem p = make_problem(4, 3, 8);
  const Trace run = drive("greedy", p, settings_for(p, 100), {100});
  ASSERT_FALSE(run.batches.empty());
  const std::vector<Assignment>& first = run.batches[0];
  ASSERT_EQ(first.size(), 1u + 4 * 2);
  EXPECT_EQ(first[0], Assignment(4, 0));
  double last_saving = INFINITY;
  for (size_t i = 1; i < first.size(); ++i) {
    int changed = 0;
    for (const int c : first[i]) changed += c != 0;
    EXPECT_EQ(changed, 1);
    const double saving = 1 - p.space.relative_power(first[i]);
    EXPECT_LE(saving, last_saving);
    last_saving = saving;
  }
}

TEST(Greedy, SmallBudgetKeepsAQuarterForTheMoves) {
  const Problem p = make_problem(10, 6, 9);  // 51 single-layer assignments
  const Trace run = drive("greedy", p, settings_for(p, 40), {1});
  ASSERT_EQ(run.proposals(), 40u);
  // 30 single-layer assignments, then moves built from them (two or more layers changed).
  for (size_t i = 30; i < 40; ++i) {
    int changed = 0;
    for (const int c : run.batches[i][0]) changed += c != 0;
    EXPECT_GE(changed, 2) << "proposal " << i;
  }
}

TEST(Greedy, EveryKeptStepIsFeasibleAndCheaper) {
  // Trace one step at a time: each proposal after the single-layer ones extends the last
  // feasible one by a move, so power falls along the accepted chain.
  const Problem p = make_problem(8, 5, 10);
  const SearchSettings s = settings_for(p, 300);
  const Trace run = drive("greedy", p, s, {1});
  const size_t phase1 = 1 + 8 * 4;
  double last_power = 1.0;
  for (size_t i = phase1; i < run.evaluations.size(); ++i) {
    const Evaluation& e = run.evaluations[i];
    EXPECT_LT(e.power, last_power);
    if (is_feasible(s, e.accuracy)) last_power = e.power;
  }
}

TEST(Surrogate, SkipsHopelessCandidates) {
  const Problem p = make_problem(8, 5, 11);
  SearchSettings s = settings_for(p, 300);
  s.surrogate = true;
  const double optimum = brute_force_optimum(p, s);
  DropSurrogate surrogate(p.space, s.baseline_accuracy);
  const std::vector<Assignment> singles = surrogate.single_layer_assignments();
  for (const std::string method : {"mcts", "nsga2"}) {
    const Trace run = drive(method, p, s, {4});
    ASSERT_GE(run.evaluations.size(), singles.size()) << method;
    DropSurrogate seen(p.space, s.baseline_accuracy);
    for (size_t i = 0; i < singles.size(); ++i) {
      ASSERT_EQ(run.evaluations[i].assignment, singles[i]) << method;
      EXPECT_TRUE(seen.record(run.evaluations[i]));
    }
    size_t hopeless = 0;
    for (size_t i = singles.size(); i < run.evaluations.size(); ++i)
      hopeless += *seen.predict(run.evaluations[i].assignment) >
                  s.surrogate_slack * s.max_drop + kFeasibleTolerance;
    // MCTS never asks for one; NSGA-II only after its retries.
    if (method == "mcts") {
      EXPECT_EQ(hopeless, 0u);
    }
    EXPECT_LE(hopeless, (run.evaluations.size() - singles.size()) / 10) << method;
    EXPECT_LE(run.best_feasible_power(s), optimum + 0.06) << method;
  }
  for (const std::string method : {"mcts", "nsga2"}) expect_near_optimum(method, true, 0.035, 0.06);
}

TEST(Surrogate, PredictsTheSumOfSingleLayerDrops) {
  Problem p = make_problem(5, 4, 12);
  p.interaction = 0;  // exactly additive, up to the 1e-4 rounding of accuracies
  SearchSettings s = settings_for(p, 0);
  DropSurrogate surrogate(p.space, s.baseline_accuracy);
  EXPECT_EQ(surrogate.reference(), 0);
  const Assignment a = {1, 0, 3, 2, 0};
  EXPECT_FALSE(surrogate.predict(a));
  for (const Assignment& single : surrogate.single_layer_assignments()) {
    if (single == Assignment{0, 0, 3, 0, 0}) continue;
    surrogate.record({single, p.accuracy(single), p.space.relative_power(single)});
  }
  EXPECT_FALSE(surrogate.predict(a));  // layer 2 on candidate 3 is missing
  const Assignment missing = {0, 0, 3, 0, 0};
  surrogate.record({missing, p.accuracy(missing), p.space.relative_power(missing)});
  EXPECT_NEAR(*surrogate.predict(a), p.baseline - p.accuracy(a), 4e-4);
  EXPECT_NEAR(*surrogate.drop(2, 3), p.baseline - p.accuracy(missing), 1e-12);
  EXPECT_NEAR(*surrogate.drop(4, 0), p.quantization, 1e-4);
  // Not single-layer: ignored.
  EXPECT_FALSE(surrogate.record({a, 0.5, 0.5}));
}

TEST(Constraint, ToleratesAnUlpAtTheBoundary) {
  SearchSettings s;
  s.baseline_accuracy = 0.92;
  s.max_drop = 0.01;
  EXPECT_TRUE(is_feasible(s, 0.91));  // 0.92 - 0.91 > 0.01 in doubles
  EXPECT_FALSE(is_feasible(s, 0.9099));
  EXPECT_NEAR(constraint_violation(s, 0.9), 0.01, 1e-12);
}

TEST(ParetoFront, MatchesBruteForceDominance) {
  std::mt19937_64 rng(13);
  for (int trial = 0; trial < 50; ++trial) {
    std::vector<Evaluation> points;
    // Few distinct values, so that ties in power and accuracy and duplicates happen.
    std::uniform_int_distribution<int> value(0, 6), choice(0, 3);
    for (int i = 0; i < 40; ++i) {
      Assignment a = {choice(rng), choice(rng), choice(rng)};
      points.push_back({a, value(rng) / 6.0, value(rng) / 6.0});
    }
    // Expected: the first evaluation of each assignment that no other dominates.
    std::vector<Evaluation> unique;
    std::set<Assignment> seen;
    for (const Evaluation& e : points)
      if (seen.insert(e.assignment).second) unique.push_back(e);
    std::set<Assignment> expected;
    for (const Evaluation& e : unique) {
      bool dominated = false;
      for (const Evaluation& o : unique)
        dominated |= o.accuracy >= e.accuracy && o.power <= e.power &&
                     (o.accuracy > e.accuracy || o.power < e.power);
      if (!dominated) expected.insert(e.assignment);
    }
    const std::vector<Evaluation> front = pareto_front(points);
    std::set<Assignment> got;
    for (size_t i = 0; i < front.size(); ++i) {
      got.insert(front[i].assignment);
      if (i > 0) {
        EXPECT_LE(front[i - 1].power, front[i].power);
      }
    }
    EXPECT_EQ(got.size(), front.size());
    EXPECT_EQ(got, expected);
  }
  EXPECT_TRUE(pareto_front({}).empty());
}

TEST(SearchSpace, RelativePowerIsMacWeighted) {
  SearchSpace space{{"a", "b"}, {100, 300}, {"exact", "half"}, {1.0, 0.5}};
  EXPECT_DOUBLE_EQ(space.relative_power({0, 0}), 1.0);
  EXPECT_DOUBLE_EQ(space.relative_power({1, 0}), 0.875);
  EXPECT_DOUBLE_EQ(space.relative_power({0, 1}), 0.625);
  EXPECT_EQ(error_of([&] { space.relative_power({0}); }),
            "assignment [0] has 1 choices for a search space of 2 layers");
  EXPECT_EQ(error_of([&] {
              space.relative_power({0, 2});
            }),
            "assignment [0,2]: choice 2 of layer 'b' is not a candidate index (0..1)");
}

TEST(SearchSpace, ValidateNamesWhatIsWrong) {
  const SearchSpace good{{"a", "b"}, {100, 300}, {"exact", "half"}, {1.0, 0.5}};
  EXPECT_EQ(error_of([&] { good.validate(); }), "no error");
  SearchSpace s = good;
  s.layers.clear();
  EXPECT_EQ(error_of([&] { s.validate(); }), "search space: no layers");
  s = good;
  s.macs = {100};
  EXPECT_EQ(error_of([&] { s.validate(); }), "search space: 1 MAC counts for 2 layers");
  s = good;
  s.macs[1] = 0;
  EXPECT_EQ(error_of([&] { s.validate(); }), "search space: layer 'b' has 0 MACs (must be > 0)");
  s = good;
  s.power = {1.0};
  EXPECT_EQ(error_of([&] { s.validate(); }), "search space: 1 power figures for 2 candidates");
  s = good;
  s.power[1] = -0.5;
  EXPECT_EQ(error_of([&] { s.validate(); }),
            "search space: candidate 'half' has power -0.5 (must be finite and >= 0)");
  s = good;
  s.candidates.clear();
  s.power.clear();
  EXPECT_EQ(error_of([&] { make_searcher("mcts", s, SearchSettings{}); }),
            "search space: no candidate multipliers");
}

TEST(MakeSearcher, ErrorsNameTheValue) {
  const SearchSpace space{{"a", "b"}, {100, 300}, {"exact", "half"}, {1.0, 0.5}};
  EXPECT_EQ(searcher_names(), (std::vector<std::string>{"mcts", "nsga2", "greedy"}));
  EXPECT_EQ(error_of([&] { make_searcher("anneal", space, SearchSettings{}); }),
            "unknown search method 'anneal' (known: mcts, nsga2, greedy)");
  SearchSettings s;
  s.population = 5;
  EXPECT_EQ(error_of([&] { make_searcher("nsga2", space, s); }),
            "nsga2: population 5 (must be even and >= 4)");
  s = {};
  s.exploration = -1;
  EXPECT_EQ(error_of([&] { make_searcher("mcts", space, s); }),
            "mcts: exploration constant -1 (must be >= 0)");
  s = {};
  s.budget = -3;
  EXPECT_EQ(error_of([&] { make_searcher("greedy", space, s); }),
            "search settings: budget -3 (must be >= 0)");
}

TEST(Searcher, RejectsResultsItDidNotAskFor) {
  const SearchSpace space{{"a", "b"}, {100, 300}, {"exact", "half"}, {1.0, 0.5}};
  SearchSettings s;
  s.baseline_accuracy = 0.9;
  const auto searcher = make_searcher("mcts", space, s);
  EXPECT_EQ(error_of([&] { searcher->propose(0); }), "mcts: propose(max) needs max >= 1");
  const std::vector<Assignment> batch = searcher->propose(1);
  ASSERT_EQ(batch.size(), 1u);
  Assignment other = batch[0];
  other[0] = 1 - other[0];
  EXPECT_EQ(error_of([&] {
              searcher->observe({other, 0.9, 1.0});
            }),
            fmt::format("mcts: observed assignment [{},{}] was not proposed (or was observed "
                        "already)",
                        other[0], other[1]));
  searcher->observe({batch[0], 0.9, 1.0});
  EXPECT_NE(error_of([&] { searcher->observe({batch[0], 0.9, 1.0}); }), "no error");
}

}  // namespace
}  // namespace axnn::search
