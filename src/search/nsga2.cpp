// NSGA-II (Deb et al. 2002) with Deb's constraint domination (docs/search.md): objectives
// accuracy (max) and power (min), violation = how far the drop exceeds max_drop. Generational:
// a generation is proposed, and only when all of it is observed are parents and offspring merged
// and cut back to the population size by non-dominated rank, then crowding distance.
#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>

#include "core/error.h"
#include "search/searchers_impl.h"

namespace axnn::search::detail {
namespace {

// Draws of a child before one seen already (or predicted hopeless) is accepted.
constexpr int kRetries = 10;
// Generations in a row without a new assignment after which the search is over.
constexpr int kMaxStalls = 100;

struct Member {
  Assignment assignment;
  int rank = 0;  // 0: the first front
  double crowding = 0;
};

class Nsga2 final : public SearcherBase {
 public:
  Nsga2(const SearchSpace& space, const SearchSettings& settings)
      : SearcherBase(space, settings), phase_(space, settings), rng_(settings.seed) {
    AXNN_CHECK(settings.population >= 4 && settings.population % 2 == 0,
               "nsga2: population {} (must be even and >= 4)", settings.population);
    population_size_ = static_cast<size_t>(settings.population);
  }

  [[nodiscard]] std::string_view name() const override { return "nsga2"; }

 protected:
  std::vector<Assignment> next(size_t n) override {
    if (!phase_.done()) return phase_.propose(n);
    std::vector<Assignment> out;
    while (stalls_ < kMaxStalls) {
      if (generation_.empty()) {
        generation_ = population_.empty() ? initial() : offspring();
        next_ = 0;
        generation_new_ = 0;
      }
      // Members evaluated before (parents, single-layer ones) are not asked for again.
      while (out.size() < n && next_ < generation_.size()) {
        const Assignment& a = generation_[next_++];
        if (!accuracy_.contains(a)) out.push_back(a);
      }
      generation_new_ += out.size();
      if (!out.empty() || in_flight_count() > 0) return out;
      // The whole generation is known: merge it into the population and breed the next one.
      stalls_ = generation_new_ == 0 ? stalls_ + 1 : 0;
      select();
      generation_.clear();
    }
    return out;
  }

  void take(const Evaluation& e) override {
    phase_.observe(e);
    accuracy_[e.assignment] = e.accuracy;
  }

 private:
  Assignment random_assignment() {
    Assignment a(static_cast<size_t>(layers_));
    for (int& c : a) c = static_cast<int>(rng_.uniform_int(candidates_));
    return a;
  }

  // The two ends of the front (every layer on the most, then the least power-hungry candidate)
  // and random assignments.
  std::vector<Assignment> initial() {
    std::vector<Assignment> gen;
    std::set<Assignment> seen;
    const auto add = [&](const Assignment& a) {
      if (seen.insert(a).second) gen.push_back(a);
    };
    const auto lowest = std::min_element(space_.power.begin(), space_.power.end());
    add(Assignment(static_cast<size_t>(layers_), reference_candidate(space_)));
    const Assignment cheapest(static_cast<size_t>(layers_),
                              static_cast<int>(lowest - space_.power.begin()));
    if (!phase_.hopeless(cheapest)) add(cheapest);
    for (size_t tries = 0; gen.size() < population_size_ && tries < 100 * population_size_;
         ++tries) {
      Assignment a = random_assignment();
      for (int retry = 0; retry < kRetries && phase_.hopeless(a); ++retry) a = random_assignment();
      add(a);
    }
    return gen;
  }

  // Binary tournament: the lower rank wins (constraint domination ranks every feasible member
  // before every infeasible one, infeasible ones by violation), then the larger crowding.
  const Assignment& tournament() {
    const auto size = static_cast<int64_t>(population_.size());
    if (size == 1) return population_[0].assignment;
    const int64_t i = rng_.uniform_int(size);
    int64_t j = rng_.uniform_int(size - 1);
    if (j >= i) ++j;
    const Member& a = population_[static_cast<size_t>(i)];
    const Member& b = population_[static_cast<size_t>(j)];
    if (b.rank < a.rank || (b.rank == a.rank && b.crowding > a.crowding)) return b.assignment;
    return a.assignment;
  }

  void mutate(Assignment& a) {
    if (candidates_ < 2) return;
    for (int& c : a)
      if (rng_.uniform() * layers_ < 1.0) {
        // Any other candidate, uniformly.
        const int other = static_cast<int>(rng_.uniform_int(candidates_ - 1));
        c = other >= c ? other + 1 : other;
      }
  }

  // Uniform crossover and per-gene mutation (rate 1 / layers). A child seen before or predicted
  // hopeless is drawn again, up to kRetries times.
  std::vector<Assignment> offspring() {
    std::vector<Assignment> gen;
    std::set<Assignment> in_gen;
    int failures = 0;
    for (size_t draws = 0; gen.size() < population_size_ && draws < 100 * population_size_;
         ++draws) {
      Assignment c1 = tournament(), c2 = tournament();
      for (size_t l = 0; l < c1.size(); ++l)
        if (rng_.uniform() < 0.5) std::swap(c1[l], c2[l]);
      mutate(c1);
      mutate(c2);
      for (Assignment* child : {&c1, &c2}) {
        if (gen.size() == population_size_ || in_gen.contains(*child)) continue;
        const bool novel = !accuracy_.contains(*child) && !phase_.hopeless(*child);
        if (!novel && ++failures <= kRetries) continue;
        failures = 0;
        in_gen.insert(*child);
        gen.push_back(std::move(*child));
      }
    }
    return gen;
  }

  // (mu + lambda): parents and offspring sorted into fronts by constraint domination, the best
  // fronts kept whole, the last one cut by crowding distance.
  void select() {
    std::vector<Assignment> all;
    std::set<Assignment> seen;
    for (const Member& m : population_)
      if (seen.insert(m.assignment).second) all.push_back(m.assignment);
    for (const Assignment& a : generation_)
      if (seen.insert(a).second) all.push_back(a);
    const size_t m = all.size();
    std::vector<double> acc(m), pow(m), viol(m);
    for (size_t i = 0; i < m; ++i) {
      acc[i] = accuracy_.at(all[i]);
      pow[i] = space_.relative_power(all[i]);
      viol[i] = constraint_violation(settings_, acc[i]);
    }
    const auto dominates = [&](size_t i, size_t j) {
      if (viol[i] == 0 && viol[j] > 0) return true;
      if (viol[i] > 0) return viol[j] > 0 && viol[i] < viol[j];
      if (viol[j] > 0) return false;
      return acc[i] >= acc[j] && pow[i] <= pow[j] && (acc[i] > acc[j] || pow[i] < pow[j]);
    };
    // Fast non-dominated sorting.
    std::vector<std::vector<size_t>> dominated(m);
    std::vector<int> count(m, 0);
    for (size_t i = 0; i < m; ++i)
      for (size_t j = 0; j < m; ++j)
        if (i != j && dominates(i, j)) {
          dominated[i].push_back(j);
          ++count[j];
        }
    std::vector<std::vector<size_t>> fronts(1);
    for (size_t i = 0; i < m; ++i)
      if (count[i] == 0) fronts[0].push_back(i);
    while (!fronts.back().empty()) {
      std::vector<size_t> next;
      for (const size_t i : fronts.back())
        for (const size_t j : dominated[i])
          if (--count[j] == 0) next.push_back(j);
      std::sort(next.begin(), next.end());
      fronts.push_back(std::move(next));
    }
    fronts.pop_back();

    population_.clear();
    for (size_t r = 0; r < fronts.size() && population_.size() < population_size_; ++r) {
      std::vector<size_t>& front = fronts[r];
      const std::vector<double> crowding = crowding_distance(front, acc, pow);
      std::vector<size_t> order(front.size());
      for (size_t k = 0; k < order.size(); ++k) order[k] = k;
      std::stable_sort(order.begin(), order.end(),
                       [&](size_t a, size_t b) { return crowding[a] > crowding[b]; });
      for (const size_t k : order) {
        if (population_.size() == population_size_) break;
        population_.push_back({all[front[k]], static_cast<int>(r), crowding[k]});
      }
    }
  }

  // Per front member: the normalized side lengths of the cuboid its neighbours span on both
  // objectives; the ends of the front are infinitely far.
  static std::vector<double> crowding_distance(const std::vector<size_t>& front,
                                               const std::vector<double>& acc,
                                               const std::vector<double>& pow) {
    const size_t size = front.size();
    std::vector<double> distance(size, 0.0);
    for (const std::vector<double>* objective : {&acc, &pow}) {
      const std::vector<double>& f = *objective;
      std::vector<size_t> order(size);
      for (size_t k = 0; k < size; ++k) order[k] = k;
      std::stable_sort(order.begin(), order.end(),
                       [&](size_t a, size_t b) { return f[front[a]] < f[front[b]]; });
      const double range = f[front[order.back()]] - f[front[order.front()]];
      distance[order.front()] = distance[order.back()] = std::numeric_limits<double>::infinity();
      if (range <= 0) continue;
      for (size_t k = 1; k + 1 < size; ++k)
        distance[order[k]] += (f[front[order[k + 1]]] - f[front[order[k - 1]]]) / range;
    }
    return distance;
  }

  SurrogatePhase phase_;
  Rng rng_;
  size_t population_size_ = 0;
  std::map<Assignment, double> accuracy_;  // every observed assignment
  std::vector<Member> population_;         // the parents, after the last selection
  std::vector<Assignment> generation_;     // being evaluated
  size_t next_ = 0, generation_new_ = 0;
  int stalls_ = 0;
};

}  // namespace

std::unique_ptr<Searcher> make_nsga2(const SearchSpace& space, const SearchSettings& settings) {
  return std::make_unique<Nsga2>(space, settings);
}

}  // namespace axnn::search::detail
