// Internal to axnn_search: the pieces the searchers share and their factories.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "search/searcher.h"
#include "search/surrogate.h"

namespace axnn::search::detail {

std::unique_ptr<Searcher> make_mcts(const SearchSpace& space, const SearchSettings& settings);
std::unique_ptr<Searcher> make_nsga2(const SearchSpace& space, const SearchSettings& settings);
std::unique_ptr<Searcher> make_greedy(const SearchSpace& space, const SearchSettings& settings);

std::string format_assignment(const Assignment& assignment);

// std::mt19937_64 with our own distributions: the standard ones differ between standard
// libraries, and runs must be the same everywhere.
class Rng {
 public:
  explicit Rng(uint64_t seed) : engine_(seed) {}
  // Uniform in [0, n), n >= 1 (rejection sampling, no modulo bias).
  int64_t uniform_int(int64_t n);
  // Uniform in [0, 1) with 53 random bits.
  double uniform();

 private:
  std::mt19937_64 engine_;
};

// Budget accounting and bookkeeping of what is in flight, for every searcher: propose() asks
// next() for at most the budget left, observe() rejects results nobody asked for and hands the
// others on with the power recomputed from the space.
class SearcherBase : public Searcher {
 public:
  SearcherBase(SearchSpace space, const SearchSettings& settings);
  std::vector<Assignment> propose(size_t max) final;
  void observe(const Evaluation& evaluation) final;

 protected:
  // At most n (>= 1) valid assignments, none already in flight.
  virtual std::vector<Assignment> next(size_t n) = 0;
  virtual void take(const Evaluation& evaluation) = 0;

  size_t in_flight_count() const { return in_flight_.size(); }

  SearchSpace space_;
  SearchSettings settings_;
  int layers_ = 0, candidates_ = 0;

 private:
  int64_t proposed_ = 0;
  std::map<Assignment, int> in_flight_;  // ordered: nothing may depend on hash order
};

// The surrogate's measurements at the start of MCTS and NSGA-II (SearchSettings::surrogate): the
// single-layer assignments, cut to half the budget.
class SurrogatePhase {
 public:
  SurrogatePhase(const SearchSpace& space, const SearchSettings& settings);
  // Done when off or when every measurement came back.
  bool done() const { return next_ == single_layer_queue_.size() && waiting_ == 0; }
  std::vector<Assignment> propose(size_t n);
  // Records a single-layer evaluation; false for others.
  bool observe(const Evaluation& evaluation);
  // Predicted drop above surrogate_slack * max_drop (false when it cannot be predicted).
  bool hopeless(const Assignment& assignment) const;
  std::optional<double> predict(const Assignment& assignment) const {
    return surrogate_.predict(assignment);
  }

 private:
  SearchSettings settings_;
  DropSurrogate surrogate_;
  std::vector<Assignment> single_layer_queue_;
  size_t next_ = 0, waiting_ = 0;
};

}  // namespace axnn::search::detail
