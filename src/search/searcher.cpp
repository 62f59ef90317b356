#include "search/searcher.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>
#include <utility>

#include "core/error.h"
#include "search/searchers_impl.h"
#include "search/surrogate.h"

namespace axnn::search {

double SearchSpace::relative_power(const Assignment& assignment) const {
  AXNN_CHECK(assignment.size() == layers.size(),
             "assignment {} has {} choices for a search space of {} layers",
             detail::format_assignment(assignment), assignment.size(), layers.size());
  double weighted = 0, total = 0;
  for (size_t l = 0; l < assignment.size(); ++l) {
    const int c = assignment[l];
    AXNN_CHECK(c >= 0 && static_cast<size_t>(c) < candidates.size(),
               "assignment {}: choice {} of layer '{}' is not a candidate index (0..{})",
               detail::format_assignment(assignment), c, layers[l], candidates.size() - 1);
    weighted += static_cast<double>(macs[l]) * power[static_cast<size_t>(c)];
    total += static_cast<double>(macs[l]);
  }
  return weighted / total;
}

void SearchSpace::validate() const {
  AXNN_CHECK(!layers.empty(), "search space: no layers");
  AXNN_CHECK(!candidates.empty(), "search space: no candidate multipliers");
  AXNN_CHECK(macs.size() == layers.size(), "search space: {} MAC counts for {} layers", macs.size(),
             layers.size());
  AXNN_CHECK(power.size() == candidates.size(), "search space: {} power figures for {} candidates",
             power.size(), candidates.size());
  for (size_t l = 0; l < layers.size(); ++l)
    AXNN_CHECK(macs[l] > 0, "search space: layer '{}' has {} MACs (must be > 0)", layers[l],
               macs[l]);
  for (size_t c = 0; c < candidates.size(); ++c)
    AXNN_CHECK(std::isfinite(power[c]) && power[c] >= 0,
               "search space: candidate '{}' has power {} (must be finite and >= 0)", candidates[c],
               power[c]);
}

std::vector<std::string> searcher_names() { return {"mcts", "nsga2", "greedy"}; }

std::unique_ptr<Searcher> make_searcher(std::string_view method, const SearchSpace& space,
                                        const SearchSettings& settings) {
  if (method == "mcts") return detail::make_mcts(space, settings);
  if (method == "nsga2") return detail::make_nsga2(space, settings);
  if (method == "greedy") return detail::make_greedy(space, settings);
  throw Error(fmt::format("unknown search method '{}' (known: {})", method,
                          fmt::join(searcher_names(), ", ")));
}

std::vector<Evaluation> pareto_front(const std::vector<Evaluation>& evaluations) {
  std::vector<Evaluation> unique;
  std::set<Assignment> seen;
  for (const Evaluation& e : evaluations)
    if (seen.insert(e.assignment).second) unique.push_back(e);
  std::stable_sort(unique.begin(), unique.end(), [](const Evaluation& a, const Evaluation& b) {
    return a.power != b.power ? a.power < b.power : a.accuracy > b.accuracy;
  });
  // Sorted by power, one is dominated by a cheaper one at least as accurate, or by one of the
  // same power that is more accurate (the first of its power group).
  std::vector<Evaluation> front;
  double best_cheaper = -std::numeric_limits<double>::infinity();
  for (size_t group = 0; group < unique.size();) {
    size_t end = group;
    while (end < unique.size() && unique[end].power == unique[group].power) ++end;
    const double group_best = unique[group].accuracy;
    for (size_t i = group; i < end; ++i)
      if (unique[i].accuracy > best_cheaper && unique[i].accuracy == group_best)
        front.push_back(unique[i]);
    best_cheaper = std::max(best_cheaper, group_best);
    group = end;
  }
  return front;
}

double constraint_violation(const SearchSettings& settings, double accuracy) {
  const double excess = settings.baseline_accuracy - accuracy - settings.max_drop;
  return excess > kFeasibleTolerance ? excess : 0.0;
}

int reference_candidate(const SearchSpace& space) {
  return static_cast<int>(std::max_element(space.power.begin(), space.power.end()) -
                          space.power.begin());
}

DropSurrogate::DropSurrogate(SearchSpace space, double baseline_accuracy)
    : space_(std::move(space)), baseline_accuracy_(baseline_accuracy) {
  space_.validate();
  reference_ = reference_candidate(space_);
  drops_.assign(space_.layers.size(), std::vector<std::optional<double>>(space_.candidates.size()));
}

Assignment DropSurrogate::single_layer(int layer, int candidate) const {
  Assignment a(space_.layers.size(), reference_);
  a.at(static_cast<size_t>(layer)) = candidate;
  return a;
}

std::vector<Assignment> DropSurrogate::single_layer_assignments() const {
  struct Pair {
    double saving;
    int layer, candidate;
  };
  std::vector<Pair> pairs;
  const double p_ref = space_.power[static_cast<size_t>(reference_)];
  for (size_t l = 0; l < space_.layers.size(); ++l)
    for (size_t c = 0; c < space_.candidates.size(); ++c)
      if (static_cast<int>(c) != reference_)
        pairs.push_back({static_cast<double>(space_.macs[l]) * (p_ref - space_.power[c]),
                         static_cast<int>(l), static_cast<int>(c)});
  std::stable_sort(pairs.begin(), pairs.end(),
                   [](const Pair& a, const Pair& b) { return a.saving > b.saving; });
  std::vector<Assignment> out{Assignment(space_.layers.size(), reference_)};
  for (const Pair& p : pairs) out.push_back(single_layer(p.layer, p.candidate));
  return out;
}

bool DropSurrogate::record(const Evaluation& evaluation) {
  const Assignment& a = evaluation.assignment;
  if (a.size() != space_.layers.size()) return false;
  int changed = -1;
  for (size_t l = 0; l < a.size(); ++l) {
    if (a[l] == reference_) continue;
    if (changed >= 0 || a[l] < 0 || static_cast<size_t>(a[l]) >= space_.candidates.size())
      return false;
    changed = static_cast<int>(l);
  }
  const double drop = baseline_accuracy_ - evaluation.accuracy;
  if (changed < 0)
    reference_drop_ = drop;
  else
    drops_[static_cast<size_t>(changed)][static_cast<size_t>(a[static_cast<size_t>(changed)])] =
        drop;
  return true;
}

std::optional<double> DropSurrogate::drop(int layer, int candidate) const {
  if (candidate == reference_) return reference_drop_;
  return drops_.at(static_cast<size_t>(layer)).at(static_cast<size_t>(candidate));
}

std::optional<double> DropSurrogate::predict(const Assignment& assignment) const {
  AXNN_CHECK(assignment.size() == space_.layers.size(),
             "surrogate: assignment {} has {} choices for {} layers",
             detail::format_assignment(assignment), assignment.size(), space_.layers.size());
  if (!reference_drop_) return std::nullopt;
  double predicted = *reference_drop_;
  for (size_t l = 0; l < assignment.size(); ++l) {
    if (assignment[l] == reference_) continue;
    const std::optional<double> d = drop(static_cast<int>(l), assignment[l]);
    if (!d) return std::nullopt;
    predicted += *d - *reference_drop_;
  }
  return predicted;
}

namespace detail {

std::string format_assignment(const Assignment& assignment) {
  return fmt::format("[{}]", fmt::join(assignment, ","));
}

int64_t Rng::uniform_int(int64_t n) {
  const auto range = static_cast<uint64_t>(n);
  // The largest multiple of range that fits: draws at or above it would bias the low values.
  const uint64_t limit = UINT64_MAX - UINT64_MAX % range;
  uint64_t x;
  do x = engine_();
  while (x >= limit);
  return static_cast<int64_t>(x % range);
}

double Rng::uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }

SearcherBase::SearcherBase(SearchSpace space, const SearchSettings& settings)
    : space_(std::move(space)), settings_(settings) {
  space_.validate();
  AXNN_CHECK(settings.budget >= 0, "search settings: budget {} (must be >= 0)", settings.budget);
  AXNN_CHECK(std::isfinite(settings.max_drop) && settings.max_drop >= 0,
             "search settings: max_drop {} (must be >= 0)", settings.max_drop);
  AXNN_CHECK(std::isfinite(settings.baseline_accuracy) && settings.baseline_accuracy >= 0 &&
                 settings.baseline_accuracy <= 1,
             "search settings: baseline_accuracy {} (must be in [0, 1])",
             settings.baseline_accuracy);
  AXNN_CHECK(std::isfinite(settings.surrogate_slack) && settings.surrogate_slack > 0,
             "search settings: surrogate_slack {} (must be > 0)", settings.surrogate_slack);
  layers_ = static_cast<int>(space_.layers.size());
  candidates_ = static_cast<int>(space_.candidates.size());
}

std::vector<Assignment> SearcherBase::propose(size_t max) {
  AXNN_CHECK(max >= 1, "{}: propose(max) needs max >= 1", name());
  const int64_t left = settings_.budget - proposed_;
  if (left <= 0) return {};
  std::vector<Assignment> out = next(std::min<size_t>(max, static_cast<size_t>(left)));
  for (const Assignment& a : out) ++in_flight_[a];
  proposed_ += static_cast<int64_t>(out.size());
  return out;
}

void SearcherBase::observe(const Evaluation& evaluation) {
  const auto it = in_flight_.find(evaluation.assignment);
  AXNN_CHECK(it != in_flight_.end(),
             "{}: observed assignment {} was not proposed (or was observed already)", name(),
             format_assignment(evaluation.assignment));
  AXNN_CHECK(std::isfinite(evaluation.accuracy), "{}: assignment {} has accuracy {}", name(),
             format_assignment(evaluation.assignment), evaluation.accuracy);
  if (--it->second == 0) in_flight_.erase(it);
  Evaluation e = evaluation;
  e.power = space_.relative_power(e.assignment);
  take(e);
}

SurrogatePhase::SurrogatePhase(const SearchSpace& space, const SearchSettings& settings)
    : settings_(settings), surrogate_(space, settings.baseline_accuracy) {
  if (!settings.surrogate) return;
  single_layer_queue_ = surrogate_.single_layer_assignments();
  single_layer_queue_.resize(
      std::min<size_t>(single_layer_queue_.size(), static_cast<size_t>(settings.budget / 2)));
}

std::vector<Assignment> SurrogatePhase::propose(size_t n) {
  std::vector<Assignment> out;
  while (out.size() < n && next_ < single_layer_queue_.size())
    out.push_back(single_layer_queue_[next_++]);
  waiting_ += out.size();
  return out;
}

bool SurrogatePhase::observe(const Evaluation& evaluation) {
  if (waiting_ == 0) return false;
  const auto asked = single_layer_queue_.begin() + static_cast<std::ptrdiff_t>(next_);
  if (std::find(single_layer_queue_.begin(), asked, evaluation.assignment) == asked) return false;
  surrogate_.record(evaluation);
  --waiting_;
  return true;
}

bool SurrogatePhase::hopeless(const Assignment& assignment) const {
  if (!settings_.surrogate) return false;
  const std::optional<double> predicted = surrogate_.predict(assignment);
  return predicted &&
         *predicted > settings_.surrogate_slack * settings_.max_drop + kFeasibleTolerance;
}

}  // namespace detail
}  // namespace axnn::search
