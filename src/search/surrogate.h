// The accuracy constraint and the additive surrogate of the search (docs/search.md): an
// assignment's accuracy drop predicted from single-layer measurements, which the greedy searcher
// is built on and MCTS and NSGA-II can use (SearchSettings::surrogate) to skip hopeless
// candidates without evaluating them.
#pragma once

#include <optional>
#include <vector>

#include "search/searcher.h"

namespace axnn::search {

// Accuracies are ratios of image counts, so baseline - accuracy == max_drop can miss by an ulp.
inline constexpr double kFeasibleTolerance = 1e-9;

// How far `accuracy` is below the constraint (0 when baseline - accuracy <= max_drop).
double constraint_violation(const SearchSettings& settings, double accuracy);
inline bool is_feasible(const SearchSettings& settings, double accuracy) {
  return constraint_violation(settings, accuracy) == 0;
}

// The candidate with the largest power (the first one on ties): ideally the exact multiplier.
// Single-layer assignments keep it on every other layer.
int reference_candidate(const SearchSpace& space);

// Drops (baseline - accuracy) of single-layer assignments: layer l on candidate c, every other
// layer on the reference candidate. The all-reference assignment measures the drop q that the
// reference itself causes (quantization); predict() adds the layers' extra drops on top of it:
//   predicted(a) = q + sum_l (drop(l, a_l) - q).
class DropSurrogate {
 public:
  DropSurrogate(SearchSpace space, double baseline_accuracy);

  int reference() const { return reference_; }
  Assignment single_layer(int layer, int candidate) const;
  // The all-reference assignment first, then every (layer, other candidate) by descending
  // MAC-weighted power saving: cut short, the list measures the largest savings.
  std::vector<Assignment> single_layer_assignments() const;

  // Records the evaluation if it is a single-layer one; returns whether it was.
  bool record(const Evaluation& evaluation);
  // The measured drop of layer `layer` alone on `candidate` (the reference's drop q for the
  // reference candidate), if measured.
  std::optional<double> drop(int layer, int candidate) const;
  // nullopt when q or a needed (layer, candidate) is not measured yet.
  std::optional<double> predict(const Assignment& assignment) const;

 private:
  SearchSpace space_;
  double baseline_accuracy_;
  int reference_;
  std::optional<double> reference_drop_;
  std::vector<std::vector<std::optional<double>>> drops_;  // [layer][candidate]
};

}  // namespace axnn::search
