// A whole search (`axnn search`): the searcher asks for assignments in fixed-size batches, an
// evaluation pool measures them (here, or on other MPI ranks), every result is appended to
// evaluations.jsonl as it comes, and at the end the front is confirmed on the full test set and
// written out.
//
// Output folder:
//   evaluations.jsonl  a header line, the fp32 baseline, then one line per evaluation (kind
//                      "search" on the subset, "confirm" on the full set), flushed as each finishes
//   front.csv          the confirmed Pareto front (full test set), lowest power first
//   best.yaml          the chosen assignment (lowest power within --max-drop on the full set) as
//                      layer rules for `axnn eval --config` and `axnn retrain --config`
//   front.svg          every evaluation and the front, accuracy against relative power (gnuplot;
//                      skipped with a notice when gnuplot is not installed)
//
// Resuming (`resume`): the log's evaluations are a cache keyed by (set, assignment). The searcher
// is replayed from the start with the same seed: it proposes what it proposed before, gets the
// logged results without evaluating them again, and goes on past them. A killed run loses only
// the evaluations in flight (a torn last line is dropped with a warning).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "data/datasets.h"
#include "search/evaluator.h"
#include "search/searcher.h"

namespace axnn::search {

// Measures batches of assignments; the same answers whatever runs them.
class EvaluationPool {
 public:
  virtual ~EvaluationPool() = default;
  // Top-1 in [0, 1] of each assignment, on the search subset or on the full test set, in order.
  virtual std::vector<double> evaluate(const std::vector<Assignment>& batch, bool full) = 0;
  // Top-1 with every layer in fp32: the baseline.
  virtual double fp32(bool full) = 0;
  virtual int workers() const = 0;
};

// Evaluates in this process.
class LocalPool : public EvaluationPool {
 public:
  LocalPool(ModelEvaluator& evaluator, const data::Dataset& subset, const data::Dataset& full)
      : evaluator_(evaluator), subset_(subset), full_(full) {}
  std::vector<double> evaluate(const std::vector<Assignment>& batch, bool full) override;
  double fp32(bool full) override;
  int workers() const override { return 1; }

 private:
  ModelEvaluator& evaluator_;
  const data::Dataset& subset_;
  const data::Dataset& full_;
};

struct RunOptions {
  std::string checkpoint;
  std::vector<std::string> mults;
  std::string method = "mcts";
  SearchSettings settings;  // budget, max_drop (fraction), seed, method parameters
  int64_t subset = 0;       // images of the search subset (the first of the test set)
  int64_t full = 0;         // images of the full test set
  int64_t confirm = 8;      // subset-front members confirmed on the full set, lowest power first
  size_t batch = 4;         // assignments asked of the searcher at once (not the ranks!)
  std::filesystem::path output;
  bool resume = false;
};

struct RunResult {
  std::vector<Evaluation> front;  // confirmed on the full set
  std::optional<Evaluation> best;
  double fp32_accuracy = 0;  // full set
  int64_t evaluated = 0, cached = 0;
  double seconds = 0;
};

// Runs the search over the evaluator's space, measuring through `pool`. Throws axnn::Error for
// an output folder with a log but no `resume`, or a log of another search (checkpoint,
// candidates, layers, subset size).
RunResult run_search(const RunOptions& options, const ModelEvaluator& evaluator,
                     EvaluationPool& pool);

}  // namespace axnn::search
