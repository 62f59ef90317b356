// Design-space exploration of per-layer multiplier assignments: the search space, the result of
// one evaluation, and the searchers (MCTS, NSGA-II, greedy by sensitivity) behind one ask/tell
// interface. Nothing here knows about models: an evaluation is done by the caller (the search
// driver, possibly on other MPI ranks), so the searchers are plain, seeded, reproducible
// algorithms (docs/search.md).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace axnn::search {

// choice[l] is the index into SearchSpace::candidates of layer l's multiplier.
using Assignment = std::vector<int>;

struct SearchSpace {
  std::vector<std::string> layers;      // layer path names
  std::vector<int64_t> macs;            // per layer, per sample (> 0)
  std::vector<std::string> candidates;  // multiplier names (or files)
  std::vector<double> power;            // relative power of each candidate (exact = 1.0)

  // sum_l macs_l power_{choice_l} / sum_l macs_l (DESIGN.md section 2). Throws axnn::Error on an
  // assignment of the wrong length or with a choice out of range.
  double relative_power(const Assignment& assignment) const;
  // Throws axnn::Error naming what is inconsistent (sizes, no layers or candidates, MACs <= 0,
  // power < 0).
  void validate() const;
};

// One evaluated assignment. Objectives: maximize accuracy, minimize power.
struct Evaluation {
  Assignment assignment;
  double accuracy = 0;  // top-1 in [0, 1]
  double power = 0;     // SearchSpace::relative_power(assignment)
};

struct SearchSettings {
  double baseline_accuracy = 0;  // the model's top-1 in fp32 on the same images
  double max_drop = 0.01;        // feasible: baseline_accuracy - accuracy <= max_drop (fraction)
  uint64_t seed = 1;
  int64_t budget = 100;  // evaluations the searcher may ask for in all
  // MCTS: the UCT exploration constant c in Q + c sqrt(ln N_parent / N_child), rewards in [0, 1].
  double exploration = 0.5;
  // MCTS: layers a rollout moves off the best feasible assignment so far, on average (each one
  // to its neighbour in power order, the cheaper one more often; docs/search.md).
  double rollout_changes = 2.0;
  // NSGA-II: population size (even, >= 4).
  int population = 16;
  // MCTS and NSGA-II: first measure the single-layer assignments (search/surrogate.h; up to half
  // the budget), then skip candidates whose predicted drop exceeds surrogate_slack * max_drop.
  bool surrogate = false;
  // Greedy always skips moves predicted to drop more than this times max_drop.
  double surrogate_slack = 2.0;
};

class Searcher {
 public:
  virtual ~Searcher() = default;
  virtual std::string_view name() const = 0;
  // The next assignments to evaluate, at most `max` (>= 1). An empty list means the searcher is
  // done, or waits for the results of assignments it proposed and were not observed yet. The
  // proposals depend only on the seed, the `max` of each call and the results observed so far in
  // order, never on timing: a driver that always asks for the same `max` and observes a batch in
  // proposal order gets the same run however many processes evaluate it.
  virtual std::vector<Assignment> propose(size_t max) = 0;
  // The result of a proposed assignment (results may arrive in any order within a batch).
  virtual void observe(const Evaluation& evaluation) = 0;
};

// "mcts", "nsga2" or "greedy"; throws axnn::Error naming the method and the known ones.
std::unique_ptr<Searcher> make_searcher(std::string_view method, const SearchSpace& space,
                                        const SearchSettings& settings);
std::vector<std::string> searcher_names();

// The evaluations no other one dominates (at least as accurate and at most as much power, better
// in one), by ascending power; duplicates of an assignment count once.
std::vector<Evaluation> pareto_front(const std::vector<Evaluation>& evaluations);

}  // namespace axnn::search
