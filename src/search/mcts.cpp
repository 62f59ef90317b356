// MCTS with UCT over per-layer choices (docs/search.md): depth d of the tree decides layer d. An
// iteration selects by UCT down to a node with an untried child, expands one, completes the
// assignment by a rollout, and proposes it; the reward is back-propagated when the evaluation is
// observed. Proposals in flight count as visits worth 0 (virtual loss), so a batch spreads over
// the tree. A complete assignment seen before is not proposed again: its known reward is
// back-propagated at once and the iteration goes on.
//
// Rollouts are hardware-driven and anchored: every layer the tree has not decided keeps the
// incumbent's candidate (the lowest-power feasible assignment so far, all-reference before one is
// found) or, with probability rollout_changes / layers, steps to the neighbouring candidate in
// power order, the cheaper one with probability kCheaperStep. Random completions of a deep
// assignment are almost never feasible, so unanchored rollouts would score every node alike.
#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <tuple>

#include "core/error.h"
#include "search/searchers_impl.h"

namespace axnn::search::detail {
namespace {

constexpr double kInfinity = std::numeric_limits<double>::infinity();
// Rewards are summed in fixed point, so that a batch's results give the same tree in any order.
constexpr double kRewardScale = 0x1.0p40;
// Iterations per proposal before the searcher gives up finding a new assignment (each one grows
// the tree by a node, so only a nearly exhausted space gets there).
constexpr int kTriesPerProposal = 200;
// A rollout's step in power order goes to the cheaper neighbour with this probability.
constexpr double kCheaperStep = 0.7;
// Infeasible rewards decay with the excess drop on this many times max_drop (at least 0.1%).
constexpr double kExcessScale = 3.0;

struct Node {
  int parent = -1;
  int depth = 0;    // choices made: layers 0..depth-1
  int untried = 0;  // children not created yet
  int exhausted_children = 0;
  int first_child = -1;    // children_[first_child + c] for candidate c, -1 when none
  bool exhausted = false;  // every complete assignment below is evaluated or in flight
  int64_t visits = 0, pending = 0;
  int64_t reward_sum = 0;  // fixed point, kRewardScale
};

class Mcts final : public SearcherBase {
 public:
  Mcts(const SearchSpace& space, const SearchSettings& settings)
      : SearcherBase(space, settings), phase_(space, settings), rng_(settings.seed) {
    AXNN_CHECK(std::isfinite(settings.exploration) && settings.exploration >= 0,
               "mcts: exploration constant {} (must be >= 0)", settings.exploration);
    AXNN_CHECK(std::isfinite(settings.rollout_changes) && settings.rollout_changes >= 0,
               "mcts: rollout_changes {} (must be >= 0)", settings.rollout_changes);
    const auto [lo, hi] = std::minmax_element(space_.power.begin(), space_.power.end());
    p_lo_ = *lo;
    p_hi_ = *hi;
    // Candidates by descending power (stable: index order on ties), and each one's place there.
    by_power_.resize(static_cast<size_t>(candidates_));
    for (int c = 0; c < candidates_; ++c) by_power_[static_cast<size_t>(c)] = c;
    std::stable_sort(by_power_.begin(), by_power_.end(), [&](int a, int b) {
      return space_.power[static_cast<size_t>(a)] > space_.power[static_cast<size_t>(b)];
    });
    rank_.resize(static_cast<size_t>(candidates_));
    for (int r = 0; r < candidates_; ++r)
      rank_[static_cast<size_t>(by_power_[static_cast<size_t>(r)])] = r;
    change_ = std::min(1.0, settings.rollout_changes / layers_);
    incumbent_.assign(static_cast<size_t>(layers_), reference_candidate(space_));
    new_node(-1);
  }

  [[nodiscard]] std::string_view name() const override { return "mcts"; }

 protected:
  std::vector<Assignment> next(size_t n) override {
    if (!phase_.done()) return phase_.propose(n);
    std::vector<Assignment> out;
    for (size_t tries = 0; out.size() < n && tries < kTriesPerProposal * n; ++tries) {
      if (nodes_[0].exhausted) break;
      const auto [leaf, assignment] = iterate();
      if (const auto known = rewards_.find(assignment); known != rewards_.end()) {
        back_propagate(leaf, known->second, false);
      } else if (phase_.hopeless(assignment)) {
        // Scored as if measured at the predicted drop: the tree learns to avoid it for free.
        const double accuracy = settings_.baseline_accuracy - *phase_.predict(assignment);
        back_propagate(leaf, to_fixed(reward(accuracy, space_.relative_power(assignment))), false);
      } else {
        // A second leaf on an assignment in flight gets its reward when that comes back.
        const bool fresh = !waiting_.contains(assignment);
        waiting_[assignment].push_back(leaf);
        for (int v = leaf; v >= 0; v = nodes_[static_cast<size_t>(v)].parent)
          ++nodes_[static_cast<size_t>(v)].pending;
        if (fresh) out.push_back(assignment);
      }
    }
    return out;
  }

  void take(const Evaluation& e) override {
    const int64_t r = to_fixed(reward(e.accuracy, e.power));
    rewards_.emplace(e.assignment, r);
    // Lowest power, then highest accuracy, then the smallest assignment: any order of a batch's
    // results gives the same incumbent.
    if (is_feasible(settings_, e.accuracy) &&
        std::tie(e.power, incumbent_accuracy_, e.assignment) <
            std::tie(incumbent_power_, e.accuracy, incumbent_)) {
      incumbent_ = e.assignment;
      incumbent_power_ = e.power;
      incumbent_accuracy_ = e.accuracy;
    }
    if (phase_.observe(e)) return;
    const auto it = waiting_.find(e.assignment);
    if (it == waiting_.end()) return;
    for (const int leaf : it->second) back_propagate(leaf, r, true);
    waiting_.erase(it);
  }

 private:
  // Feasible: 0.5 + 0.5 * the power saving on the space's range, in [0.5, 1]. Infeasible: 0.5 *
  // exp(-excess drop / scale), in [0, 0.5): the closer to the constraint, the better.
  [[nodiscard]] double reward(double accuracy, double power) const {
    if (is_feasible(settings_, accuracy)) {
      const double saving = p_hi_ > p_lo_ ? (p_hi_ - power) / (p_hi_ - p_lo_) : 1.0;
      return 0.5 + 0.5 * std::clamp(saving, 0.0, 1.0);
    }
    const double excess = settings_.baseline_accuracy - settings_.max_drop - accuracy;
    return 0.5 * std::exp(-excess / std::max(kExcessScale * settings_.max_drop, 1e-3));
  }
  static int64_t to_fixed(double r) { return std::llround(r * kRewardScale); }

  int new_node(int parent) {
    Node node;
    node.parent = parent;
    node.depth = parent < 0 ? 0 : nodes_[static_cast<size_t>(parent)].depth + 1;
    node.untried = node.depth < layers_ ? candidates_ : 0;
    nodes_.push_back(node);
    return static_cast<int>(nodes_.size() - 1);
  }

  [[nodiscard]] int child(int node, int c) const {
    const int first = nodes_[static_cast<size_t>(node)].first_child;
    return first < 0 ? -1 : children_[static_cast<size_t>(first) + static_cast<size_t>(c)];
  }

  // UCT over the children not exhausted, in-flight visits counting as visits worth 0.
  [[nodiscard]] int select(int node) const {
    const Node& parent = nodes_[static_cast<size_t>(node)];
    const double log_n =
        std::log(static_cast<double>(std::max<int64_t>(1, parent.visits + parent.pending)));
    int best = -1;
    double best_value = -kInfinity;
    for (int c = 0; c < candidates_; ++c) {
      const Node& n = nodes_[static_cast<size_t>(child(node, c))];
      if (n.exhausted) continue;
      const auto count = static_cast<double>(n.visits + n.pending);
      const double value = count == 0 ? kInfinity
                                      : static_cast<double>(n.reward_sum) / kRewardScale / count +
                                            settings_.exploration * std::sqrt(log_n / count);
      if (value > best_value) {
        best_value = value;
        best = c;
      }
    }
    return best;
  }

  // The untried child nearest the incumbent's choice in power order, the cheaper one on ties:
  // the tree widens around what is known to be feasible.
  [[nodiscard]] int nearest_untried(int node, int layer) const {
    const int home = rank_[static_cast<size_t>(incumbent_[static_cast<size_t>(layer)])];
    for (int d = 0; d < candidates_; ++d)
      for (const int r : {home + d, home - d})
        if (r >= 0 && r < candidates_ && child(node, by_power_[static_cast<size_t>(r)]) < 0)
          return by_power_[static_cast<size_t>(r)];
    return -1;
  }

  int rollout_choice(int layer) {
    const int home = rank_[static_cast<size_t>(incumbent_[static_cast<size_t>(layer)])];
    if (candidates_ == 1 || rng_.uniform() >= change_) return by_power_[static_cast<size_t>(home)];
    int r = rng_.uniform() < kCheaperStep ? home + 1 : home - 1;
    if (r < 0 || r >= candidates_) r = home == 0 ? 1 : home - 1;  // the only neighbour
    return by_power_[static_cast<size_t>(r)];
  }

  // One selection, expansion and rollout: the new node and the complete assignment.
  std::pair<int, Assignment> iterate() {
    Assignment a;
    int node = 0;
    while (nodes_[static_cast<size_t>(node)].untried == 0) {
      const int c = select(node);
      a.push_back(c);
      node = child(node, c);
    }
    const int c = nearest_untried(node, static_cast<int>(a.size()));
    if (nodes_[static_cast<size_t>(node)].first_child < 0) {
      nodes_[static_cast<size_t>(node)].first_child = static_cast<int>(children_.size());
      children_.resize(children_.size() + static_cast<size_t>(candidates_), -1);
    }
    const int created = new_node(node);
    children_[static_cast<size_t>(nodes_[static_cast<size_t>(node)].first_child) +
              static_cast<size_t>(c)] = created;
    --nodes_[static_cast<size_t>(node)].untried;
    a.push_back(c);
    while (static_cast<int>(a.size()) < layers_)
      a.push_back(rollout_choice(static_cast<int>(a.size())));
    if (nodes_[static_cast<size_t>(created)].depth == layers_) mark_exhausted(created);
    return {created, a};
  }

  void mark_exhausted(int node) {
    for (int v = node; v >= 0;) {
      Node& n = nodes_[static_cast<size_t>(v)];
      const int children = n.depth < layers_ ? candidates_ : 0;
      if (n.exhausted || n.untried > 0 || n.exhausted_children < children) return;
      n.exhausted = true;
      v = n.parent;
      if (v >= 0) ++nodes_[static_cast<size_t>(v)].exhausted_children;
    }
  }

  void back_propagate(int leaf, int64_t reward, bool was_pending) {
    for (int v = leaf; v >= 0; v = nodes_[static_cast<size_t>(v)].parent) {
      Node& n = nodes_[static_cast<size_t>(v)];
      ++n.visits;
      n.reward_sum += reward;
      if (was_pending) --n.pending;
    }
  }

  SurrogatePhase phase_;
  Rng rng_;
  double p_lo_ = 0, p_hi_ = 0;
  std::vector<int> by_power_, rank_;  // candidates by descending power; rank_[c]: c's place
  double change_ = 0;                 // a rollout's chance to step a layer off the incumbent
  Assignment incumbent_;
  double incumbent_power_ = kInfinity, incumbent_accuracy_ = 0;
  std::vector<Node> nodes_;  // nodes_[0] is the root
  std::vector<int> children_;
  std::map<Assignment, int64_t> rewards_;           // every observed assignment
  std::map<Assignment, std::vector<int>> waiting_;  // in flight: the leaves to reward
};

}  // namespace

std::unique_ptr<Searcher> make_mcts(const SearchSpace& space, const SearchSettings& settings) {
  return std::make_unique<Mcts>(space, settings);
}

}  // namespace axnn::search::detail
