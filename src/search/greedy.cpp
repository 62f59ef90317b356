// Greedy by per-layer sensitivity (docs/search.md). Phase 1 measures the single-layer assignments
// (DropSurrogate). Phase 2 starts from every layer on the reference candidate and repeatedly
// applies the move (layer l to a cheaper candidate c) with the best power saving per unit of
// predicted extra drop, evaluates the assembled assignment, keeps it when feasible and rejects
// the move for good when not. No randomness: the seed does not matter.
//
// Batches in phase 2 speculate: asked for n, it proposes the next n steps of the chain as if every
// move were kept (predicted drops standing in for the measured ones). When they come back, the
// chain is kept up to the first infeasible step, whose move is rejected.
#include <algorithm>
#include <cmath>
#include <map>
#include <optional>

#include "core/error.h"
#include "search/searchers_impl.h"

namespace axnn::search::detail {
namespace {

// The smallest extra drop a move is charged, so that free moves rank by saving and the score
// stays finite (a hundredth of a percent of top-1: one image in 10,000).
constexpr double kMinExtraDrop = 1e-4;

struct Move {
  int layer = -1, candidate = -1;
  double predicted_drop = 0;
};

struct Step {
  Assignment assignment;
  int layer, candidate;
};

class Greedy final : public SearcherBase {
 public:
  Greedy(const SearchSpace& space, const SearchSettings& settings)
      : SearcherBase(space, settings), surrogate_(space, settings.baseline_accuracy) {
    phase1_ = surrogate_.single_layer_assignments();
    // A budget too small for all of them measures the largest savings and leaves a quarter of it
    // for phase 2.
    if (static_cast<int64_t>(phase1_.size()) > settings.budget)
      phase1_.resize(static_cast<size_t>(settings.budget - settings.budget / 4));
    rejected_.assign(static_cast<size_t>(layers_),
                     std::vector<bool>(static_cast<size_t>(candidates_), false));
    total_macs_ = 0;
    for (const int64_t m : space_.macs) total_macs_ += static_cast<double>(m);
  }

  [[nodiscard]] std::string_view name() const override { return "greedy"; }

 protected:
  std::vector<Assignment> next(size_t n) override {
    std::vector<Assignment> out;
    if (next_phase1_ < phase1_.size()) {
      while (out.size() < n && next_phase1_ < phase1_.size())
        out.push_back(phase1_[next_phase1_++]);
      return out;
    }
    if (in_flight_count() > 0 || !chain_.empty()) return out;
    if (!current_) {
      // Phase 2 starts from the all-reference assignment, measured first in phase 1.
      const Assignment start = phase1_.empty() ? Assignment{} : phase1_.front();
      const auto it = accuracy_.find(start);
      if (it == accuracy_.end()) return out;
      current_ = start;
      current_drop_ = settings_.baseline_accuracy - it->second;
    }
    Assignment spec = *current_;
    double spec_drop = current_drop_;
    while (out.size() < n) {
      const std::optional<Move> move = best_move(spec, spec_drop);
      if (!move) break;
      Assignment a = spec;
      a[static_cast<size_t>(move->layer)] = move->candidate;
      if (const auto known = accuracy_.find(a); known != accuracy_.end()) {
        // Measured already (the first move of a layer from the start is a single-layer
        // assignment): decided at once, unless the chain already speculates past it.
        if (!chain_.empty()) break;
        decide({a, move->layer, move->candidate}, known->second);
        spec = *current_;
        spec_drop = current_drop_;
        continue;
      }
      chain_.push_back({a, move->layer, move->candidate});
      out.push_back(a);
      spec = std::move(a);
      spec_drop = move->predicted_drop;
    }
    return out;
  }

  void take(const Evaluation& e) override {
    surrogate_.record(e);
    accuracy_[e.assignment] = e.accuracy;
    if (chain_.empty() || in_flight_count() > 0) return;
    // The whole chain is back: keep it up to the first infeasible step.
    for (const Step& step : chain_)
      if (!decide(step, accuracy_.at(step.assignment))) break;
    chain_.clear();
  }

 private:
  // Keeps a step when feasible; rejects its move otherwise. Returns whether it kept it.
  bool decide(const Step& step, double accuracy) {
    if (!is_feasible(settings_, accuracy)) {
      rejected_[static_cast<size_t>(step.layer)][static_cast<size_t>(step.candidate)] = true;
      return false;
    }
    current_ = step.assignment;
    current_drop_ = settings_.baseline_accuracy - accuracy;
    return true;
  }

  // The move with the best saving per unit of extra predicted drop, from `from` whose drop is
  // `drop`: among cheaper measured candidates not rejected and predicted within
  // surrogate_slack * max_drop.
  [[nodiscard]] std::optional<Move> best_move(const Assignment& from, double drop) const {
    std::optional<Move> best;
    double best_score = 0, best_saving = 0;
    const double limit = settings_.surrogate_slack * settings_.max_drop + kFeasibleTolerance;
    for (int l = 0; l < layers_; ++l) {
      const int now = from[static_cast<size_t>(l)];
      const std::optional<double> drop_now = surrogate_.drop(l, now);
      if (!drop_now) continue;
      for (int c = 0; c < candidates_; ++c) {
        if (rejected_[static_cast<size_t>(l)][static_cast<size_t>(c)]) continue;
        const double saving =
            static_cast<double>(space_.macs[static_cast<size_t>(l)]) *
            (space_.power[static_cast<size_t>(now)] - space_.power[static_cast<size_t>(c)]) /
            total_macs_;
        if (saving <= 0) continue;
        const std::optional<double> drop_c = surrogate_.drop(l, c);
        if (!drop_c) continue;
        const double extra = *drop_c - *drop_now;
        const double predicted = drop + extra;
        if (predicted > limit) continue;
        const double score = saving / std::max(extra, kMinExtraDrop);
        if (!best || score > best_score || (score == best_score && saving > best_saving)) {
          best = Move{l, c, predicted};
          best_score = score;
          best_saving = saving;
        }
      }
    }
    return best;
  }

  DropSurrogate surrogate_;
  std::vector<Assignment> phase1_;
  size_t next_phase1_ = 0;
  std::map<Assignment, double> accuracy_;  // every observed assignment
  std::optional<Assignment> current_;      // the chain's last kept assignment (phase 2)
  double current_drop_ = 0;
  std::vector<Step> chain_;  // in flight (phase 2)
  std::vector<std::vector<bool>> rejected_;
  double total_macs_ = 0;
};

}  // namespace

std::unique_ptr<Searcher> make_greedy(const SearchSpace& space, const SearchSettings& settings) {
  return std::make_unique<Greedy>(space, settings);
}

}  // namespace axnn::search::detail
