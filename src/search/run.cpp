#include "search/run.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"
#include "core/files.h"
#include "core/subprocess.h"
#include "nn/layer_config.h"
#include "search/surrogate.h"

namespace axnn::search {

namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;

std::vector<double> LocalPool::evaluate(const std::vector<Assignment>& batch, bool full) {
  std::vector<double> out;
  for (const Assignment& a : batch) out.push_back(evaluator_.accuracy(a, full ? full_ : subset_));
  return out;
}

double LocalPool::fp32(bool full) { return evaluator_.fp32_accuracy(full ? full_ : subset_); }

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::string cache_key(bool full, const Assignment& a) {
  return fmt::format("{}:{}", full ? "full" : "subset", fmt::join(a, ","));
}

// What identifies the problem a log belongs to: its evaluations mean the same only then.
Json problem_of(const RunOptions& o, const SearchSpace& space) {
  return {{"checkpoint", fs::absolute(o.checkpoint).lexically_normal().string()},
          {"candidates", space.candidates},
          {"layers", space.layers},
          {"subset_images", o.subset},
          {"full_images", o.full}};
}

// evaluations.jsonl: the cache of a search, on disk line by line.
class EvaluationLog {
 public:
  EvaluationLog(const fs::path& path, const Json& problem, const Json& header, bool resume)
      : path_(path) {
    if (fs::exists(path)) {
      AXNN_CHECK(resume,
                 "{}: a search log is already there; pass --resume to continue it, or "
                 "choose another output folder",
                 path.string());
      read(problem);
    }
    out_.open(path, std::ios::app);
    AXNN_CHECK(out_, "{}: cannot be written", path.string());
    if (!has_header_) append(header);
  }

  std::optional<double> find(const std::string& key) const {
    const auto it = cache_.find(key);
    if (it == cache_.end()) return std::nullopt;
    return it->second;
  }
  void add(const std::string& key, double accuracy, const Json& record) {
    cache_[key] = accuracy;
    append(record);
  }

 private:
  void append(const Json& record) {
    out_ << record.dump() << '\n';
    out_.flush();
    AXNN_CHECK(out_, "{}: write failed", path_.string());
  }

  void read(const Json& problem) {
    std::ifstream in(path_);
    std::string line;
    int number = 0;
    std::vector<std::string> lines;
    while (std::getline(in, line)) lines.push_back(line);
    for (const std::string& text : lines) {
      ++number;
      const Json record = Json::parse(text, nullptr, false);
      if (record.is_discarded() || !record.is_object()) {
        AXNN_CHECK(number == static_cast<int>(lines.size()),
                   "{}:{}: not a JSON line; the log is damaged", path_.string(), number);
        spdlog::warn("{}:{}: dropping a torn last line (the run was killed while writing it)",
                     path_.string(), number);
        truncate_to(number - 1, lines);
        break;
      }
      const std::string kind = record.value("kind", "");
      if (kind == "header") {
        AXNN_CHECK(record.at("problem") == problem,
                   "{}: this log belongs to another search ({}); this one is {}", path_.string(),
                   record.at("problem").dump(), problem.dump());
        has_header_ = true;
      } else if (record.contains("key")) {
        cache_[record.at("key").get<std::string>()] = record.at("accuracy").get<double>();
      }
    }
    AXNN_CHECK(has_header_ || lines.empty(), "{}: no header line; not an axnn search log",
               path_.string());
  }

  // Rewrites the log without its torn tail, so appending goes on from a whole line.
  void truncate_to(int keep, const std::vector<std::string>& lines) {
    std::ofstream out(path_, std::ios::trunc);
    for (int i = 0; i < keep; ++i) out << lines[static_cast<size_t>(i)] << '\n';
  }

  fs::path path_;
  std::ofstream out_;
  std::map<std::string, double> cache_;
  bool has_header_ = false;
};

std::string front_csv(const std::vector<Evaluation>& front, const SearchSpace& space, double fp32) {
  std::string csv = "relative_power,power_saving_pct,top1_pct,drop_pts";
  for (const std::string& layer : space.layers) (csv += ',') += csv_field(layer);
  csv += '\n';
  for (const Evaluation& e : front) {
    csv += fmt::format("{:.6f},{:.2f},{:.2f},{:.2f}", e.power, 100 * (1 - e.power),
                       100 * e.accuracy, 100 * (fp32 - e.accuracy));
    for (const int c : e.assignment)
      (csv += ',') += csv_field(space.candidates[static_cast<size_t>(c)]);
    csv += '\n';
  }
  return csv;
}

// JSON lines are YAML too: one flow mapping per rule, each with the layer's whole config.
std::string best_yaml(const std::vector<nn::ConfigRule>& rules, const Evaluation& best, double fp32,
                      const RunOptions& o) {
  std::string yaml = fmt::format(
      "# axnn search ({}, seed {}) on {}: top-1 {:.2f}% on the full test set, {:.2f} points "
      "below fp32 (max {:.2f}),\n# relative multiplier power {:.4f} (saving {:.1f}%). Use with "
      "`axnn eval {} --config best.yaml`.\nlayers:\n",
      o.method, o.settings.seed, o.checkpoint, 100 * best.accuracy, 100 * (fp32 - best.accuracy),
      100 * o.settings.max_drop, best.power, 100 * (1 - best.power), o.checkpoint);
  for (const nn::ConfigRule& rule : rules) {
    nlohmann::ordered_json entry = {{"match", rule.match}};
    const nlohmann::json config = nn::to_json(rule.config);
    for (const auto& [key, value] : config.items()) entry[key] = value;
    yaml += "  - " + entry.dump() + "\n";
  }
  return yaml;
}

// front.svg through gnuplot: every evaluation as a point, the front as a line.
void plot_front(const fs::path& dir, const std::vector<Evaluation>& all,
                const std::vector<Evaluation>& front, double fp32, double max_drop) {
  if (!find_program("gnuplot")) {
    fmt::print("front.svg skipped: gnuplot is not installed (Debian package gnuplot-nox)\n");
    return;
  }
  std::string points, line;
  for (const Evaluation& e : all) points += fmt::format("{} {}\n", e.power, 100 * e.accuracy);
  for (const Evaluation& e : front) line += fmt::format("{} {}\n", e.power, 100 * e.accuracy);
  write_text_file(dir / "points.dat", points);
  write_text_file(dir / "front.dat", line);
  write_text_file(
      dir / "front.gp",
      fmt::format("set terminal svg size 800,500\nset output 'front.svg'\n"
                  "set xlabel 'relative multiplier power'\nset ylabel 'top-1 (%)'\n"
                  "set key bottom right\nset grid\n"
                  "plot 'points.dat' with points pt 7 ps 0.5 title 'evaluations (subset)', "
                  "'front.dat' with linespoints lw 2 title 'front (full test set)', "
                  "{} with lines dt 2 title 'fp32 - max drop'\n",
                  100 * (fp32 - max_drop)));
  const ProcessResult result = run_process({"gnuplot", "front.gp"}, dir);
  if (result.exit_code != 0) fmt::print("front.svg not drawn: gnuplot failed: {}\n", result.output);
  for (const char* name : {"points.dat", "front.dat", "front.gp"}) fs::remove(dir / name);
}

}  // namespace

RunResult run_search(const RunOptions& o, const ModelEvaluator& evaluator, EvaluationPool& pool) {
  const auto start = std::chrono::steady_clock::now();
  const SearchSpace& space = evaluator.space();
  AXNN_CHECK(o.batch >= 1, "search: batch {} must be at least 1", o.batch);
  fs::create_directories(o.output);
  const Json problem = problem_of(o, space);
  const Json header = {
      {"kind", "header"},        {"problem", problem},          {"method", o.method},
      {"seed", o.settings.seed}, {"budget", o.settings.budget}, {"max_drop", o.settings.max_drop}};
  EvaluationLog log(o.output / "evaluations.jsonl", problem, header, o.resume);
  RunResult result;

  // The fp32 baselines, logged like any evaluation.
  const auto baseline = [&](bool full) {
    const std::string key = full ? "fp32:full" : "fp32:subset";
    if (auto cached = log.find(key)) return *cached;
    const double accuracy = pool.fp32(full);
    log.add(key, accuracy,
            {{"kind", "fp32"},
             {"key", key},
             {"set", full ? "full" : "subset"},
             {"accuracy", accuracy}});
    return accuracy;
  };
  SearchSettings settings = o.settings;
  settings.baseline_accuracy = baseline(false);
  const auto searcher = make_searcher(o.method, space, settings);

  // Measures a batch, from the cache where it can; logs what it measured.
  std::vector<Evaluation> evaluated;  // the search's, on the subset, in order
  const auto measure = [&](const std::vector<Assignment>& batch, bool full, const char* kind) {
    std::vector<Assignment> unmeasured;
    for (const Assignment& a : batch)
      if (!log.find(cache_key(full, a))) unmeasured.push_back(a);
    const auto batch_start = std::chrono::steady_clock::now();
    const std::vector<double> accuracies =
        unmeasured.empty() ? std::vector<double>{} : pool.evaluate(unmeasured, full);
    const double seconds = seconds_since(batch_start) / std::max<size_t>(1, unmeasured.size());
    for (size_t i = 0; i < unmeasured.size(); ++i) {
      std::vector<std::string> mults;
      for (const int c : unmeasured[i]) mults.push_back(space.candidates[static_cast<size_t>(c)]);
      const std::string key = cache_key(full, unmeasured[i]);
      log.add(key, accuracies[i],
              {{"kind", kind},
               {"key", key},
               {"set", full ? "full" : "subset"},
               {"assignment", unmeasured[i]},
               {"mults", mults},
               {"accuracy", accuracies[i]},
               {"power", space.relative_power(unmeasured[i])},
               {"seconds", seconds}});
    }
    result.evaluated += static_cast<int64_t>(unmeasured.size());
    result.cached += static_cast<int64_t>(batch.size() - unmeasured.size());
    std::vector<Evaluation> out;
    for (const Assignment& a : batch)
      out.push_back({a, *log.find(cache_key(full, a)), space.relative_power(a)});
    return out;
  };

  for (;;) {
    const std::vector<Assignment> batch = searcher->propose(o.batch);
    if (batch.empty()) break;
    for (const Evaluation& e : measure(batch, false, "search")) {
      searcher->observe(e);
      evaluated.push_back(e);
    }
    const std::vector<Evaluation> front = pareto_front(evaluated);
    const Evaluation* best = nullptr;
    for (const Evaluation& e : front)
      if (is_feasible(settings, e.accuracy)) {
        best = &e;
        break;
      }
    fmt::print("search {}/{}: front of {}, {}\n", evaluated.size(), settings.budget, front.size(),
               best ? fmt::format("best within the drop: power {:.4f} at {:.2f}% top-1",
                                  best->power, 100 * best->accuracy)
                    : std::string("nothing within the drop yet"));
    std::fflush(stdout);
  }

  // Confirmation on the full test set: the subset front's members within the drop, lowest power
  // first, then those closest to it, most accurate first.
  result.fp32_accuracy = baseline(true);
  std::vector<Evaluation> candidates = pareto_front(evaluated);
  const auto infeasible =
      std::stable_partition(candidates.begin(), candidates.end(),
                            [&](const Evaluation& e) { return is_feasible(settings, e.accuracy); });
  std::reverse(infeasible, candidates.end());  // the front ascends in accuracy with power
  std::vector<Assignment> to_confirm;
  for (const Evaluation& e : candidates)
    if (static_cast<int64_t>(to_confirm.size()) < o.confirm) to_confirm.push_back(e.assignment);
  const std::vector<Evaluation> confirmed = measure(to_confirm, true, "confirm");
  result.front = pareto_front(confirmed);
  SearchSettings full_settings = settings;
  full_settings.baseline_accuracy = result.fp32_accuracy;
  for (const Evaluation& e : result.front)
    if (is_feasible(full_settings, e.accuracy)) {
      result.best = e;
      break;
    }

  write_text_file(o.output / "front.csv", front_csv(result.front, space, result.fp32_accuracy));
  if (result.best)
    write_text_file(o.output / "best.yaml", best_yaml(evaluator.rules(result.best->assignment),
                                                      *result.best, result.fp32_accuracy, o));
  else
    fs::remove(o.output / "best.yaml");  // a resumed run's earlier choice no longer holds
  plot_front(o.output, evaluated, result.front, result.fp32_accuracy, settings.max_drop);
  result.seconds = seconds_since(start);
  return result;
}

}  // namespace axnn::search
