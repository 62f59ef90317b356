// `axnn tune conv2d|export` (and the analysis commands of tune_analysis_command.cpp): the seeds'
// TVM conv2d tuning pipeline without TVM (docs/tune.md).
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "commands.h"
#include "core/error.h"
#include "core/files.h"
#include "mult/registry.h"
#include "tune/backend.h"
#include "tune/lut_backend.h"
#include "tune/records.h"
#include "tune/tuner.h"

namespace axnn::cli {
namespace {

struct TuneConvOptions {
  std::string shape, name, batch, workload, target = "cpu", output, cache, warm_start;
  std::string kernel = "fp32", mult;
  bool test = false;
  int trials = 0;
  tune::TuneOptions tune;
};

std::vector<tune::NamedConv2d> workloads(const TuneConvOptions& o) {
  AXNN_CHECK(o.shape.empty() != o.batch.empty(), "give either --shape or --batch");
  std::vector<tune::NamedConv2d> all;
  if (!o.shape.empty()) {
    const tune::Conv2dShape shape = tune::parse_conv2d_shape(o.shape, "--shape");
    all.push_back({o.name.empty() ? shape.key() : o.name, shape});
    tune::check_workload_name(all.back().name, "--name");
    return all;
  }
  all = tune::load_conv2d_batch(o.batch);
  if (!o.workload.empty()) {
    std::erase_if(all, [&](const tune::NamedConv2d& w) { return w.name != o.workload; });
    AXNN_CHECK(!all.empty(), "{}: no workload named '{}'", o.batch, o.workload);
  } else if (o.test && all.size() > 2) {
    all = {all.front(), all.back()};  // the seeds' test mode: the first and last case
  }
  return all;
}

void run_conv2d(TuneConvOptions& o) {
  const std::vector<tune::NamedConv2d> chosen = workloads(o);
  tune::TuneOptions& t = o.tune;
  t.trials = o.trials > 0 ? o.trials : o.test ? 100 : 200;
  t.build.cache_dir = o.cache;
  std::unique_ptr<tune::Backend> backend;
  if (o.kernel == "lut") {
    AXNN_CHECK(!o.mult.empty(), "--kernel lut needs --mult NAME (the multiplier's table)");
    AXNN_CHECK(o.target == "cpu", "--kernel lut runs on the cpu target, not '{}'", o.target);
    const Multiplier mult = get_multiplier(o.mult);
    // Records name the multiplier; energy measure rebuilds its kernels by that name.
    bool found = false;
    try {
      found = std::ranges::equal(get_multiplier(mult.name()).lut(), mult.lut());
    } catch (const Error&) {  // the name alone is unknown
    }
    AXNN_CHECK(found,
               "--mult {}: the registry does not find this table by its name '{}', which the "
               "records keep; put the file in a folder of AXNN_MULT_PATH",
               o.mult, mult.name());
    backend = tune::make_lut_backend(mult);
  } else {
    AXNN_CHECK(o.mult.empty(), "--mult applies to --kernel lut only");
    backend = tune::make_backend(tune::parse_target(o.target));
  }
  fmt::print("tune: {} {}, {} workload{} on {} ({}), {} trials each -> {}\n", backend->op(),
             backend->dtype(), chosen.size(), chosen.size() == 1 ? "" : "s", o.target,
             backend->device(), t.trials, o.output);
  for (const tune::NamedConv2d& w : chosen) {
    t.warm_start.clear();
    if (!o.warm_start.empty())
      t.warm_start = tune::load_records(tune::records_file(o.warm_start, w.name));
    const tune::TuneSummary s =
        tune::tune_conv2d(*backend, w, t, tune::records_file(o.output, w.name));
    std::string end = s.early_stopped     ? " (early stop)"
                      : s.space_exhausted ? " (space exhausted)"
                                          : "";
    if (s.best)
      fmt::print(
          "{} [{}]: {} trials ({} new, {} failed){}, best {:.2f} GFLOP/s = {:.4f} ms "
          "(trial {}) {}\n",
          w.name, w.shape.str(), s.trials, s.new_trials, s.failed, end, s.best->gflops(),
          s.best->seconds() * 1e3, s.best->trial, s.best->config.dump());
    else
      fmt::print("{} [{}]: {} trials ({} new, {} failed){}, no valid kernel\n", w.name,
                 w.shape.str(), s.trials, s.new_trials, s.failed, end);
  }
}

struct ExportOptions {
  std::string dir, output, workload;
};

void run_export(const ExportOptions& o) {
  std::vector<std::string> names = tune::list_workloads(o.dir, "selected", ".jsonl");
  if (!o.workload.empty()) {
    AXNN_CHECK(std::find(names.begin(), names.end(), o.workload) != names.end(),
               "{}: no selection for workload '{}' (run axnn tune select first)", o.dir,
               o.workload);
    names = {o.workload};
  }
  AXNN_CHECK(!names.empty(), "{}: no selected kernels (run axnn tune select {} first)", o.dir,
             o.dir);
  std::map<std::string, std::unique_ptr<tune::Backend>> backends;
  std::string parts;
  bool cuda = false;
  int exported = 0, skipped = 0;
  for (const std::string& name : names) {
    const std::filesystem::path file = tune::selected_file(o.dir, name);
    const std::vector<tune::Record> records = tune::load_records(file);
    for (size_t i = 0; i < records.size(); ++i) {
      const tune::Record& r = records[i];
      if (r.origin != "axnn" || r.op != "conv2d") {
        ++skipped;  // imported TVM schedules have no axnn source; LUT kernels are library code
        continue;
      }
      std::unique_ptr<tune::Backend>& backend = backends[r.target];
      if (!backend) backend = tune::make_backend_for(r);
      const tune::Config config =
          backend->space(r.shape, 0)
              .from_json(r.config, fmt::format("{} kernel {}", file.string(), i + 1));
      const std::string kernel = fmt::format("{}_kernel{}", name, i + 1);
      std::map<std::string, std::string> files = backend->export_files(r.shape, config, kernel);
      std::filesystem::create_directories(std::filesystem::path(o.output) / kernel);
      for (const auto& [file_name, content] : files) {
        if (file_name == "CMakeLists.part") continue;
        write_text_file(std::filesystem::path(o.output) / kernel / file_name, content);
      }
      parts += files.at("CMakeLists.part");
      cuda = cuda || r.target == "cuda";
      ++exported;
    }
  }
  AXNN_CHECK(exported > 0,
             "{}: no selected fp32 kernel tuned by axnn ({} others skipped: TVM schedules have no "
             "axnn source, LUT-conv kernels are library kernels, timed by axnn bench lutgemm)",
             o.dir, skipped);
  write_text_file(std::filesystem::path(o.output) / "CMakeLists.txt",
                  fmt::format("# Kernels exported by `axnn tune export`: one timing driver each.\n"
                              "cmake_minimum_required(VERSION 3.18)\n"
                              "project(axnn_tuned_kernels LANGUAGES CXX{})\n"
                              "find_package(OpenMP REQUIRED)\n\n{}",
                              cuda ? " CUDA" : "", parts));
  fmt::print(
      "exported {} kernel{} to {}{}; build: cmake -S {} -B {}/build && cmake --build "
      "{}/build\n",
      exported, exported == 1 ? "" : "s", o.output,
      skipped ? fmt::format(" ({} imported or LUT ones skipped)", skipped) : "", o.output, o.output,
      o.output);
}

}  // namespace

void add_tune_command(CLI::App& app) {
  CLI::App* tune = app.add_subcommand(
      "tune", "Tune Conv2D kernels (cpu: generated C++; cuda: NVRTC), select, export, analyse");
  tune->require_subcommand(1);

  auto conv = std::make_shared<TuneConvOptions>();
  CLI::App* c = tune->add_subcommand(
      "conv2d",
      "Tune fp32 Conv2D kernels: evolutionary search over a schedule space guided by an XGBoost "
      "cost model; every trial checked against a reference and appended to DIR/records/");
  c->add_option("--shape", conv->shape, "N,H,W,CO,CI,KH,KW,stride,padding");
  c->add_option("--name", conv->name, "Workload name for --shape (default: the seeds' file name)");
  c->add_option("--batch", conv->batch, "Batch file of shapes (bench/problems/conv2d_*.txt)")
      ->check(CLI::ExistingFile);
  c->add_option("--workload", conv->workload, "Tune only this workload of the batch file");
  c->add_option("--target", conv->target, "cpu or cuda")->capture_default_str();
  c->add_option("--kernel", conv->kernel,
                "fp32: generated fp32 kernels; lut: axnn's LUT-conv (its ISA, schedule, im2col "
                "chunk and threads) with the --mult table")
      ->check(CLI::IsMember({"fp32", "lut"}))
      ->capture_default_str();
  c->add_option("--mult", conv->mult, "Multiplier (name or file) for --kernel lut");
  c->add_option("--trials", conv->trials,
                "Trials per workload, counting those already in DIR (default 200; 100 with "
                "--test)");
  c->add_flag("--test", conv->test,
              "The seeds' test mode: first and last workload of the batch, 100 trials");
  c->add_option("-o,--output", conv->output, "Tuning folder (resumed if it has records)")
      ->required();
  c->add_option("--round", conv->tune.batch, "Candidates built in parallel and measured per round")
      ->capture_default_str();
  c->add_option("--early-stopping", conv->tune.early_stopping,
                "Stop after this many trials without a faster kernel (0: never)")
      ->capture_default_str();
  c->add_option("--threads", conv->tune.threads, "Fix the kernels' thread count (cpu; 0: tune it)")
      ->capture_default_str();
  c->add_option("--seed", conv->tune.seed, "Search seed")->capture_default_str();
  c->add_option("--jobs", conv->tune.build.jobs, "Parallel builds (0: one per core)")
      ->capture_default_str();
  c->add_option("--build-timeout", conv->tune.build.timeout_seconds, "Seconds per build")
      ->capture_default_str();
  c->add_option("--min-time", conv->tune.timing.min_seconds,
                "Seconds of timed runs per candidate (at least 3 runs)")
      ->capture_default_str();
  c->add_option("--cache", conv->cache, "Kernel cache folder (default ~/.cache/axnn/kernels)");
  c->add_option("--warm-start", conv->warm_start,
                "Tuning folder of an earlier run whose records train the model and seed the "
                "search");
  c->callback([conv] { run_conv2d(*conv); });

  auto ex = std::make_shared<ExportOptions>();
  CLI::App* e = tune->add_subcommand(
      "export",
      "Write each selected kernel as standalone source with a timing driver and a CMakeLists.txt");
  e->add_option("dir", ex->dir, "Tuning folder (after axnn tune select)")->required();
  e->add_option("-o,--output", ex->output, "Output folder")->required();
  e->add_option("--workload", ex->workload, "Export only this workload");
  e->callback([ex] { run_export(*ex); });

  add_tune_analysis_commands(*tune);
}

}  // namespace axnn::cli
