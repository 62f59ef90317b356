// `axnn search`: per-layer multiplier assignments that trade accuracy for multiplier power
// (src/search/run.h for the loop, the log and the outputs; docs/search.md for the methods).
#include <fmt/format.h>

#include <memory>
#include <string>
#include <vector>

#include "commands.h"
#include "core/error.h"
#include "model_options.h"
#include "search/mpi_pool.h"
#include "search/run.h"

namespace axnn::cli {
namespace {

struct SearchOptions {
  search::RunOptions run;
  std::string data;
  double max_drop_pts = 1.0;
  int64_t subset = 1000;
  ComputeOptions compute;
};

void run(SearchOptions& o) {
  const at::Device device = o.compute.apply();
  search::RunOptions& r = o.run;
  AXNN_CHECK(o.max_drop_pts >= 0, "--max-drop {} must not be negative", o.max_drop_pts);
  AXNN_CHECK(r.settings.budget >= 1, "--budget {} must be at least 1", r.settings.budget);
  r.settings.max_drop = o.max_drop_pts / 100;
  train::CheckpointInfo info;
  train::load_checkpoint(r.checkpoint, &info);
  const data::Dataset test = load_data(o.data.empty() ? info.dataset : o.data, data::Split::kTest);
  const data::Dataset subset = search::head(test, o.subset);
  r.subset = subset.size();
  r.full = test.size();
  // Under mpirun every rank loads the same model on its --device; rank 0 searches, the others
  // evaluate.
  const search::MpiWorld world;
  search::ModelEvaluator evaluator(r.checkpoint, r.mults, subset, device);
  search::LocalPool local(evaluator, subset, test);
  if (world.rank() != 0) return search::serve_evaluations(world, local);
  search::MpiPool distributed(world, local);
  search::EvaluationPool& pool =
      world.size() > 1 ? static_cast<search::EvaluationPool&>(distributed) : local;
  fmt::print(
      "search: {} over {} layers x {} candidates, budget {}, {} subset images, "
      "max drop {:.2f} points, {} rank{}\n",
      r.method, evaluator.space().layers.size(), r.mults.size(), r.settings.budget, r.subset,
      o.max_drop_pts, world.size(), world.size() == 1 ? "" : "s");
  const search::RunResult result = search::run_search(r, evaluator, pool);
  fmt::print("{} evaluations ({} from the log) in {:.0f} s; fp32 top-1 {:.2f}% on {} images\n",
             result.evaluated, result.cached, result.seconds, 100 * result.fp32_accuracy, r.full);
  if (result.best)
    fmt::print(
        "best within {:.2f} points: relative power {:.4f} (saving {:.1f}%) at {:.2f}% "
        "top-1 -> {}\n",
        o.max_drop_pts, result.best->power, 100 * (1 - result.best->power),
        100 * result.best->accuracy, (r.output / "best.yaml").string());
  else
    fmt::print("no assignment within {:.2f} points on the full test set; see front.csv\n",
               o.max_drop_pts);
}

}  // namespace

void add_search_command(CLI::App& app) {
  auto o = std::make_shared<SearchOptions>();
  search::RunOptions& r = o->run;
  CLI::App* cmd = app.add_subcommand(
      "search",
      "Search per-layer multiplier assignments of a calibrated checkpoint for the least "
      "multiplier\n"
      "power within a maximum top-1 drop from fp32 (MCTS, NSGA-II or greedy; docs/search.md).\n"
      "Writes evaluations.jsonl as it goes (--resume continues it), then front.csv, best.yaml\n"
      "(for eval/retrain --config) and front.svg.");
  cmd->add_option("--model", r.checkpoint, "Trained and calibrated checkpoint")->required();
  cmd->add_option("--mults", r.mults,
                  "Candidate multipliers, comma-separated (names or files); `halut` is each "
                  "layer's learned hash-tree Halut product (axnn halut learn), multiplier power 0")
      ->required()
      ->delimiter(',');
  cmd->add_option("--method", r.method, "mcts, nsga2 or greedy")->capture_default_str();
  cmd->add_option("--budget", r.settings.budget, "Evaluations on the subset")
      ->capture_default_str();
  cmd->add_option("--max-drop", o->max_drop_pts, "Maximum top-1 drop from fp32, in points")
      ->capture_default_str();
  cmd->add_option("-o,--output", r.output, "Output folder")->required();
  cmd->add_flag("--resume", r.resume, "Continue the search logged in the output folder");
  cmd->add_option("--subset", o->subset,
                  "Test images the search evaluates on (the first ones; 0: all)")
      ->capture_default_str();
  cmd->add_option("--confirm", r.confirm,
                  "Members of the subset front confirmed on the full test set")
      ->capture_default_str();
  cmd->add_option("--batch", r.batch, "Assignments asked of the searcher at once")
      ->capture_default_str();
  cmd->add_option("--seed", r.settings.seed, "Random seed")->capture_default_str();
  cmd->add_option("--exploration", r.settings.exploration, "MCTS: UCT exploration constant")
      ->capture_default_str();
  cmd->add_option("--population", r.settings.population, "NSGA-II: population size")
      ->capture_default_str();
  cmd->add_flag("--surrogate", r.settings.surrogate,
                "MCTS, NSGA-II: measure each layer's sensitivity first, then skip assignments "
                "the summed single-layer drops call hopeless (greedy always does)");
  cmd->add_option("--data", o->data, std::string(kDataHelp) + " (default: the checkpoint's)");
  o->compute.add_to(*cmd);
  cmd->footer(
      "\nExample:\n  axnn search --model resnet20_cal.pt --mults exact8s,trunc8s_k4,trunc8s_k6,"
      "bam8s_h1_v6 --method mcts --budget 100 --max-drop 1 -o search/\n" +
      std::string(
          search::mpi_available()
              ? "mpirun -np N axnn search ... spreads the evaluations over N ranks (same "
                "results; give each rank its --threads, and its GPU through CUDA_VISIBLE_DEVICES)."
              : "This axnn was built without MPI: it searches in one process."));
  cmd->callback([o] { run(*o); });
}

}  // namespace axnn::cli
