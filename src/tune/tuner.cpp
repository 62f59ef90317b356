#include "tune/tuner.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <set>

#include "core/error.h"
#include "tune/cost_model.h"

namespace axnn::tune {

namespace {

constexpr int kRandomDraws = 1000;  // draws to find an untried random configuration
constexpr size_t kMinTrainingRows = 8;

std::string key_of(const Config& config) { return Space::to_json(config).dump(); }

double unix_time() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// What the search knows: every configuration tried (for the model and to avoid repeats).
struct History {
  std::vector<Config> configs;
  std::vector<double> seconds;  // +inf for failures
  std::set<std::string> tried;

  void add(const Config& config, double s) {
    configs.push_back(config);
    seconds.push_back(s);
    tried.insert(key_of(config));
  }
  double best() const {
    return seconds.empty() ? std::numeric_limits<double>::infinity()
                           : *std::min_element(seconds.begin(), seconds.end());
  }
};

// Labels: throughput relative to the best so far (1 for the best, 0 for failures).
void train(CostModel& model, const Space& space, const History& history) {
  size_t ok = 0;
  for (double s : history.seconds) ok += std::isfinite(s);
  if (history.configs.size() < kMinTrainingRows || ok < 2) return;
  const double best = history.best();
  std::vector<std::vector<float>> features;
  std::vector<float> labels;
  for (size_t i = 0; i < history.configs.size(); ++i) {
    features.push_back(space.features(history.configs[i]));
    labels.push_back(std::isfinite(history.seconds[i]) ? float(best / history.seconds[i]) : 0.f);
  }
  model.fit(features, labels);
}

std::vector<float> scores(const CostModel& model, const Space& space,
                          const std::vector<Config>& configs) {
  std::vector<std::vector<float>> features;
  for (const Config& c : configs) features.push_back(space.features(c));
  return model.predict(features);
}

// Keeps the `count` best-scored configurations of `configs`.
std::vector<Config> fittest(const CostModel& model, const Space& space, std::vector<Config> configs,
                            size_t count) {
  const std::vector<float> s = scores(model, space, configs);
  std::vector<size_t> order(configs.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return s[a] > s[b]; });
  std::vector<Config> kept;
  for (size_t i = 0; i < std::min(count, order.size()); ++i) kept.push_back(configs[order[i]]);
  return kept;
}

// The next round's candidates: untried, the model's favourites from an evolutionary search seeded
// with the fastest kernels so far, plus a share of random picks.
std::vector<Config> propose(const Space& space, const CostModel& model, const History& history,
                            const TuneOptions& options, size_t count, std::mt19937_64& rng) {
  std::vector<Config> picks;
  std::set<std::string> picked;
  const auto take = [&](const Config& c) {
    if (picks.size() < count && !history.tried.count(key_of(c)) && picked.insert(key_of(c)).second)
      picks.push_back(c);
  };
  if (model.trained()) {
    std::vector<size_t> by_speed(history.configs.size());
    for (size_t i = 0; i < by_speed.size(); ++i) by_speed[i] = i;
    std::stable_sort(by_speed.begin(), by_speed.end(),
                     [&](size_t a, size_t b) { return history.seconds[a] < history.seconds[b]; });
    const size_t population = static_cast<size_t>(options.population);
    std::vector<Config> pool;
    for (size_t i = 0; i < by_speed.size() && pool.size() < population / 2; ++i)
      if (std::isfinite(history.seconds[by_speed[i]])) pool.push_back(history.configs[by_speed[i]]);
    while (pool.size() < population) pool.push_back(space.random(rng));
    std::vector<Config> seen = pool;
    for (int g = 0; g < options.generations; ++g) {
      std::vector<Config> next = pool;
      std::uniform_int_distribution<size_t> any(0, pool.size() - 1);
      for (size_t i = 0; i < pool.size(); ++i) {
        const Config& a = pool[any(rng)];
        next.push_back(std::bernoulli_distribution(0.5)(rng)
                           ? space.mutate(a, rng)
                           : space.crossover(a, pool[any(rng)], rng));
      }
      seen.insert(seen.end(), next.end() - static_cast<long>(pool.size()), next.end());
      pool = fittest(model, space, std::move(next), population);
    }
    const size_t from_model =
        count - static_cast<size_t>(std::lround(options.random_share * static_cast<double>(count)));
    const size_t all = seen.size();
    for (const Config& c : fittest(model, space, std::move(seen), all)) {
      if (picks.size() >= from_model) break;
      take(c);
    }
  }
  for (int draw = 0; draw < kRandomDraws && picks.size() < count; ++draw) take(space.random(rng));
  return picks;
}

}  // namespace

TuneSummary tune_conv2d(Backend& backend, const NamedConv2d& workload, const TuneOptions& options,
                        const std::filesystem::path& records_file) {
  AXNN_CHECK(options.trials >= 1, "--trials must be at least 1, not {}", options.trials);
  AXNN_CHECK(options.batch >= 1, "--batch must be at least 1, not {}", options.batch);
  AXNN_CHECK(options.early_stopping >= 0, "--early-stopping must be >= 0, not {}",
             options.early_stopping);
  AXNN_CHECK(options.random_share >= 0 && options.random_share <= 1,
             "the random share must be in [0, 1], not {}", options.random_share);
  bench::check_timing_options(options.timing);
  const Conv2dShape& shape = workload.shape;
  const Space space = backend.space(shape, options.threads);
  const std::string target(target_name(backend.target()));
  const std::string device = backend.device();

  TuneSummary summary;
  History history;
  int64_t last_improvement = 0;
  // Every trial of the file counts; the model learns from those of this space (another --threads,
  // ISA or axnn version may have written others).
  const auto remember = [&](const Record& r, bool own) {
    if (own) {
      ++summary.trials;
      summary.failed += !r.ok();
      if (r.ok() && (!summary.best || r.seconds() < summary.best->seconds())) {
        summary.best = r;
        last_improvement = summary.trials;
      }
    }
    try {
      const Config config = space.from_json(r.config, records_file.string());
      history.add(config, r.ok() ? r.seconds() : std::numeric_limits<double>::infinity());
    } catch (const Error&) {
    }
  };
  for (const Record& r : options.warm_start)
    if (r.shape == shape && r.op == backend.op() && r.dtype == backend.dtype() &&
        r.target == target && r.origin == "axnn")
      remember(r, false);
  for (const Record& r : load_records(records_file)) {
    // One workload file holds one problem on one device, so that select and perf compare like
    // with like.
    AXNN_CHECK(r.shape == shape && r.op == backend.op() && r.dtype == backend.dtype(),
               "{}: holds records of {} {} {} for workload '{}', not of {} {} {}; use another "
               "name or folder",
               records_file.string(), r.op, r.dtype, r.shape.str(), r.workload_name, backend.op(),
               backend.dtype(), shape.str());
    AXNN_CHECK(r.target == target && (r.origin != "axnn" || r.device == device),
               "{}: holds records of {} on '{}', not of {} on '{}'; use another folder",
               records_file.string(), r.target, r.device, target, device);
    if (r.origin == "axnn") remember(r, true);
  }
  if (summary.trials > 0)
    spdlog::info("{}: resuming after {} trials (best {:.1f} GFLOP/s)", workload.name,
                 summary.trials, summary.best ? summary.best->gflops() : 0.0);

  CostModel model(options.seed);
  std::mt19937_64 rng(options.seed + static_cast<uint64_t>(summary.trials));
  while (summary.trials < options.trials) {
    if (options.early_stopping > 0 && summary.trials - last_improvement >= options.early_stopping) {
      summary.early_stopped = true;
      break;
    }
    train(model, space, history);
    const size_t count =
        static_cast<size_t>(std::min<int64_t>(options.batch, options.trials - summary.trials));
    const std::vector<Config> candidates = propose(space, model, history, options, count, rng);
    if (candidates.empty()) {
      summary.space_exhausted = true;
      break;
    }
    std::vector<Built> built = backend.build(shape, candidates, options.build);
    for (size_t i = 0; i < candidates.size(); ++i) {
      Record r;
      r.workload_name = workload.name;
      r.shape = shape;
      r.op = backend.op();
      r.dtype = backend.dtype();
      r.target = target;
      r.device = device;
      r.config = Space::to_json(candidates[i]);
      r.error_code = built[i].error_code;
      r.error = built[i].error;
      r.trial = summary.trials;
      if (built[i].kernel) {
        Kernel& kernel = *built[i].kernel;
        try {
          r.costs = bench::measure(
                        [&] {
                          kernel.run();
                          kernel.sync();
                        },
                        options.timing)
                        .samples;
        } catch (const Error& e) {  // a launch or synchronization failed (cuda)
          r.error_code = ErrorCode::kRuntimeDevice;
          r.error = e.what();
        }
      }
      r.timestamp = unix_time();
      append_record(records_file, r);
      remember(r, true);
      ++summary.new_trials;
    }
    built.clear();  // unloads this round's kernels
    spdlog::info("{}: {}/{} trials, {} failed, best {:.1f} GFLOP/s (trial {})", workload.name,
                 summary.trials, options.trials, summary.failed,
                 summary.best ? summary.best->gflops() : 0.0,
                 summary.best ? summary.best->trial : -1);
  }
  return summary;
}

}  // namespace axnn::tune
