// `axnn tram explore | map | recover | run`: TRAM, multiplier structures learned with the network
// (src/tram): phase 1 explores a structure, phase 2 maps it to a circuit, phase 3 recovers the
// accuracy with the circuit's table frozen; `run` does all three per lambda with a report.
#include <fmt/format.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "commands.h"
#include "core/error.h"
#include "model_options.h"
#include "tram/run.h"
#include "tram/structure.h"

namespace axnn::cli {
namespace {

namespace fs = std::filesystem;

// The options of the problem the phases share: data, width, structure, training of each phase.
struct ProblemArgs {
  std::string data;  // empty: the checkpoint's
  int64_t train_images = 0;
  int bits = 8;
  bool is_signed = false, is_unsigned = false;
  std::string init_gamma, arch = "wallace";
  tram::ExploreOptions explore;
  train::TrainOptions recover = retrain_defaults();
  ComputeOptions compute;

  ProblemArgs() { explore.train = retrain_defaults(); }

  void add_data(CLI::App& cmd) {
    cmd.add_option("--data", data, std::string(kDataHelp) + " (default: the checkpoint's)");
    cmd.add_option("--train-images", train_images, kTrainImagesHelp)->capture_default_str();
    compute.add_to(cmd);
  }
  void add_structure(CLI::App& cmd) {
    cmd.add_option("--bits", bits, "Multiplier width, 2..8")->capture_default_str();
    auto* s = cmd.add_flag("--signed", is_signed, "Signed multipliers (symmetric quantization)");
    auto* u = cmd.add_flag("--unsigned", is_unsigned,
                           "Unsigned multipliers, asymmetric quantization (the default, as TRAM)");
    s->excludes(u);
    cmd.add_option("--columns", explore.columns,
                   "P, the lowest partial-product columns to learn (default: bits, 8 at 8 bits)");
    cmd.add_option("--init-gamma", init_gamma,
                   "Initial gamma, P comma-separated values in [0, 1] (default: the lowest half "
                   "1, as TRAM's 1,1,1,1,0,0,0,0)");
    cmd.add_flag("--per-layer", explore.per_layer, "A structure per layer instead of one for all");
    cmd.add_option("--gamma-lr", explore.gamma_lr, "Adam learning rate of gamma")
        ->capture_default_str();
    cmd.add_option("--arch", arch,
                   "Circuit the power model and the mapping start from: wallace, "
                   "dadda or array")
        ->capture_default_str();
  }
  // --<prefix>epochs, --<prefix>lr, --<prefix>batch of one phase's training.
  static void add_training(CLI::App& cmd, const std::string& prefix, const std::string& phase,
                           train::TrainOptions& options) {
    cmd.add_option("--" + prefix + "epochs", options.epochs, phase + " epochs")
        ->capture_default_str();
    cmd.add_option("--" + prefix + "lr", options.lr, phase + " Adam learning rate of the weights")
        ->capture_default_str();
    cmd.add_option("--" + prefix + "batch", options.batch_size, phase + " batch size")
        ->capture_default_str();
  }
  void add_explore_training(CLI::App& cmd, const std::string& prefix) {
    add_training(cmd, prefix, "Phase 1", explore.train);
  }
  void add_recover_training(CLI::App& cmd, const std::string& prefix) {
    add_training(cmd, prefix, "Phase 3 (retraining)", recover);
  }

  tram::Problem make(const std::string& checkpoint) {
    const at::Device device = compute.apply();
    tram::Problem p = tram::make_problem(checkpoint);
    p.device = device;
    if (!data.empty()) p.info.dataset = data;
    p.test_set = load_data(p.info.dataset, data::Split::kTest);
    p.train_set = first_images(load_data(p.info.dataset, data::Split::kTrain), train_images);
    AXNN_CHECK(p.test_set.images.size(1) == p.info.spec.channels &&
                   p.test_set.images.size(2) == p.info.spec.image_size &&
                   p.test_set.classes == p.info.spec.classes,
               "--data: {} does not fit the {} checkpoint's {}x{}x{} images in {} classes",
               p.info.dataset, p.info.model, p.info.spec.channels, p.info.spec.image_size,
               p.info.spec.image_size, p.info.spec.classes);
    explore.bits = bits;
    explore.is_signed = is_signed;
    if (!init_gamma.empty()) explore.initial_gamma = tram::parse_gamma_list(init_gamma);
    explore.architecture = netlist::parse_architecture(arch);
    p.explore = explore;
    p.map.architecture = explore.architecture;
    p.recover = recover;
    return p;
  }
};

}  // namespace

void add_tram_command(CLI::App& app) {
  auto* tram = app.add_subcommand(
      "tram",
      "TRAM: learn an approximate multiplier's structure with the network (explore), map it to "
      "a circuit (map), recover the accuracy (recover), or all three per lambda with a report "
      "(run)");
  tram->require_subcommand(1);

  // explore
  {
    auto* cmd = tram->add_subcommand(
        "explore",
        "Phase 1: train the weights and a structure (gamma per partial-product column) against "
        "a power penalty; writes DIR/structure.json, DIR/explore.pt, DIR/explore.json");
    struct Args {
      std::string input, output;
      ProblemArgs problem;
    };
    auto args = std::make_shared<Args>();
    cmd->add_option("checkpoint", args->input, "Calibrated checkpoint (axnn calibrate)")
        ->required();
    cmd->add_option("--lambda", args->problem.explore.lambda,
                    "Weight of the power penalty: loss = cross entropy + lambda * relative power")
        ->capture_default_str();
    args->problem.add_explore_training(*cmd, "");
    args->problem.add_structure(*cmd);
    args->problem.add_data(*cmd);
    cmd->add_option("-o,--output", args->output, "Folder (created)")->required();
    cmd->callback([args] {
      const tram::Problem p = args->problem.make(args->input);
      tram::explore_phase(p, args->output);
    });
  }
  add_tram_map_command(*tram);
  // recover
  {
    auto* cmd = tram->add_subcommand(
        "recover",
        "Phase 3: fine-tune DIR/explore.pt's weights through the multipliers mapped into DIR "
        "(frozen); writes DIR/recovered.pt and DIR/recover.json");
    struct Args {
      std::string dir;
      ProblemArgs problem;
    };
    auto args = std::make_shared<Args>();
    cmd->add_option("dir", args->dir, "A folder of axnn tram explore and axnn tram map")
        ->required();
    args->problem.add_recover_training(*cmd, "");
    args->problem.add_data(*cmd);
    cmd->callback([args] {
      const tram::Problem p = args->problem.make((fs::path(args->dir) / "explore.pt").string());
      tram::recover_phase(p, args->dir);
    });
  }
  // run
  {
    auto* cmd = tram->add_subcommand(
        "run",
        "All three phases for each lambda, resumable, and a report (report.json, report.csv, "
        "README.md, front.svg) that also places library multipliers for comparison");
    struct Args {
      std::string input, output;
      std::vector<double> lambdas;
      std::vector<std::string> library;
      ProblemArgs problem;
    };
    auto args = std::make_shared<Args>();
    cmd->add_option("checkpoint", args->input, "Calibrated checkpoint (axnn calibrate)")
        ->required();
    cmd->add_option("--lambdas", args->lambdas, "Power penalty weights, comma-separated")
        ->delimiter(',')
        ->required();
    cmd->add_option("--library", args->library,
                    "Multipliers to compare with (names or files, comma-separated), each on every "
                    "layer and retrained as long as phase 3")
        ->delimiter(',');
    args->problem.add_explore_training(*cmd, "explore-");
    args->problem.add_recover_training(*cmd, "recover-");
    args->problem.add_structure(*cmd);
    args->problem.add_data(*cmd);
    cmd->add_option("-o,--output", args->output, "Report folder (created; rerun to resume)")
        ->required();
    cmd->callback([args] {
      tram::RunOptions o;
      o.problem = args->problem.make(args->input);
      o.output = args->output;
      o.lambdas = args->lambdas;
      o.library = args->library;
      tram::run_tram(o);
    });
  }
}

}  // namespace axnn::cli
