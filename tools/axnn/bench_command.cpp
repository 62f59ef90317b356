// axnn bench: benchmark drivers. `axnn bench lutgemm` times LUT-GEMM against the exact int8
// (oneDNN) and fp32 (LibTorch) GEMMs on the same shape and threads; `axnn bench maddness` times
// the MADDness encode and decode kernels against LibTorch's fp32 GEMM and LUT-GEMM; `axnn bench
// model` times a model's approximate int8 inference against its fp32 inference.
#include <algorithm>
#include <cstdio>
#include <memory>
#include <sstream>
#include <string>

#include "bench/conv_tune_bench.h"
#ifdef AXNN_HAVE_CUDA
#include "bench/cuda/lut_cuda_bench.h"
#endif
#include "bench/lut_gemm_bench.h"
#include "bench/maddness_bench.h"
#include "bench/model_bench.h"
#include "bench/problems.h"
#include "commands.h"
#include "core/cpu.h"
#include "core/error.h"
#include "nn/device.h"
#include "tune/workload.h"

namespace axnn::cli {

namespace {

struct LutGemmArgs {
  int64_t m = 0;
  int64_t k = 0;
  int64_t n = 0;
  std::string problems;
  int threads = 1;
  std::string isa;
  std::string schedule;
  int bits = 8;
  int repeat = bench::TimingOptions{}.min_runs;
  double min_time = bench::TimingOptions{}.min_seconds;
  bool json = false;
  std::string device = "cpu";
  std::string conv_problems;  // --device cuda: Conv2D shapes for the CUDA LUT-conv
  std::string table = "product";
};

// `--device cuda`: the CUDA LUT-GEMM on GEMM shapes or the CUDA LUT-conv on Conv2D shapes, each
// with the TransAxx-style baseline in the same run.
void run_lut_cuda(const LutGemmArgs& args, bool shape_given,
                  const std::vector<std::string>& cpu_only) {
#ifndef AXNN_HAVE_CUDA
  (void)shape_given;
  (void)cpu_only;
  throw Error(fmt::format(
      "bench lutgemm --device cuda: axnn was built without CUDA (CMake found no nvcc when it "
      "configured this build); rebuild with the CUDA toolkit installed"));
#else
  for (const std::string& flag : cpu_only)
    AXNN_CHECK(false, "bench lutgemm: {} applies to --device cpu only", flag);
  const int sources =
      int(shape_given) + int(!args.problems.empty()) + int(!args.conv_problems.empty());
  AXNN_CHECK(sources == 1,
             "bench lutgemm --device cuda: give exactly one of --m/--k/--n, --problems FILE and "
             "--conv-problems FILE");
  AXNN_CHECK(args.repeat >= 1, "--repeat must be >= 1, got {}", args.repeat);
  AXNN_CHECK(args.min_time >= 0, "--min-time must be >= 0, got {}", args.min_time);
  bench::LutCudaBenchOptions options;
  options.bits = args.bits;
  options.table = args.table;
  options.timing.warmup_runs = 3;
  options.timing.min_runs = args.repeat;
  options.timing.max_runs = std::max(options.timing.max_runs, args.repeat);
  options.timing.min_seconds = args.min_time;
  std::vector<bench::Problem> problems;
  std::vector<bench::ConvProblem> convs;
  if (shape_given) {
    bench::Problem problem{args.m, args.k, args.n, ""};
    bench::check_problem(problem, "--m/--k/--n");
    problems.push_back(problem);
  } else if (!args.problems.empty()) {
    problems = bench::load_problems(args.problems);
  } else {
    for (const tune::NamedConv2d& w : tune::load_conv2d_batch(args.conv_problems)) {
      const tune::Conv2dShape& c = w.shape;
      convs.push_back({w.name, c.n, c.h, c.w, c.co, c.ci, c.kh, c.kw, c.stride, c.pad});
    }
  }
  // The options and the device (with the reason when there is none) before any output.
  bench::check_cuda_options(options);

  if (!args.json) std::fputs(bench::format_cuda_table_header(!convs.empty()).c_str(), stdout);
  nlohmann::ordered_json results = nlohmann::ordered_json::array();
  auto emit = [&](const bench::LutCudaBenchResult& result) {
    if (args.json) {
      results.push_back(bench::to_json(result));
    } else {
      std::fputs(bench::format_cuda_table_row(result).c_str(), stdout);
      std::fflush(stdout);
    }
  };
  for (const bench::Problem& problem : problems)
    emit(bench::run_lut_cuda_gemm_bench(problem, options));
  for (const bench::ConvProblem& conv : convs) emit(bench::run_lut_cuda_conv_bench(conv, options));
  if (args.json) {
    const nlohmann::ordered_json& out = shape_given ? results.front() : results;
    std::puts(out.dump(2).c_str());
  }
#endif
}

void run_lut_gemm(const LutGemmArgs& args, bool shape_given) {
  AXNN_CHECK(shape_given != !args.problems.empty(),
             "bench lutgemm: give either --m, --k and --n or --problems FILE");
  std::vector<bench::Problem> problems;
  if (shape_given) {
    bench::Problem problem{args.m, args.k, args.n, ""};
    bench::check_problem(problem, "--m/--k/--n");
    problems.push_back(problem);
  } else {
    problems = bench::load_problems(args.problems);
  }

  AXNN_CHECK(args.repeat >= 1, "--repeat must be >= 1, got {}", args.repeat);
  AXNN_CHECK(args.min_time >= 0, "--min-time must be >= 0, got {}", args.min_time);
  bench::LutGemmBenchOptions options;
  options.threads = args.threads;
  options.bits = args.bits;
  if (!args.isa.empty()) options.isa = parse_isa(args.isa);
  options.schedule = args.schedule;
  options.timing.min_runs = args.repeat;
  // The cap that stops tiny shapes at max_runs must not undercut an explicit --repeat.
  options.timing.max_runs = std::max(options.timing.max_runs, args.repeat);
  options.timing.min_seconds = args.min_time;
  // Every flag (a forced --schedule included) and every shape is validated before the table header
  // is printed, so a bad flag or batch line does not leave a partial table.
  bench::check_options(options);

  if (!args.json) std::fputs(bench::format_table_header().c_str(), stdout);
  nlohmann::ordered_json results = nlohmann::ordered_json::array();
  for (const bench::Problem& problem : problems) {
    const bench::LutGemmBenchResult result = bench::run_lut_gemm_bench(problem, options);
    if (args.json) {
      results.push_back(bench::to_json(result));
    } else {
      std::fputs(bench::format_table_row(result).c_str(), stdout);
      std::fflush(stdout);
    }
  }
  if (args.json) {
    const nlohmann::ordered_json& out = shape_given ? results.front() : results;
    std::puts(out.dump(2).c_str());
  }
}

void run_model(const bench::ModelBenchOptions& options, bool json) {
  const bench::ModelBenchResult result = bench::run_model_bench(options);
  if (json)
    std::puts(bench::to_json(result).dump(2).c_str());
  else
    std::fputs(bench::format_model_bench(result).c_str(), stdout);
  if (!json && !result.profile.empty())
    std::fputs(bench::format_model_profile(result).c_str(), stdout);
}

void add_model_bench(CLI::App& bench) {
  struct Args {
    bench::ModelBenchOptions options;
    std::string device = "cpu";
    bool json = false;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = bench.add_subcommand(
      "model",
      "Images/s of a model's approximate int8 inference (every layer on --mult) and of the same\n"
      "model in LibTorch fp32 (on a GPU: cuDNN / cuBLAS), same device, batch and threads, and the\n"
      "ratio of their times. Without --checkpoint the weights are random and the calibration\n"
      "comes from the benchmark batch.");
  auto& o = args->options;
  auto* model = cmd->add_option("--model", o.model, "lenet5, mlp, resnet20 or vit-tiny")
                    ->capture_default_str();
  cmd->add_option("--checkpoint", o.checkpoint, "A trained, calibrated checkpoint instead")
      ->excludes(model);
  cmd->add_option("--mult", o.mult, "Multiplier for every layer (a name or file)")
      ->capture_default_str();
  cmd->add_option("--batch", o.batch, "Images per forward")->capture_default_str();
  cmd->add_option("--threads", o.threads, "Threads for both runs")->capture_default_str();
  cmd->add_option("--device", args->device, "cpu, cuda or cuda:N: where both run")
      ->capture_default_str();
  cmd->add_option("--repeat", o.timing.min_runs, "Minimum timed runs of each")
      ->capture_default_str();
  cmd->add_option("--profile", o.profile_runs,
                  "After timing, run this many more passes of each with stage timers and print "
                  "where the time goes per layer (docs/performance.md)")
      ->capture_default_str();
  cmd->add_flag("--json", args->json, "Print one JSON object");
  cmd->callback([args] {
    args->options.device = nn::parse_device(args->device);
    args->options.timing.max_runs =
        std::max(args->options.timing.max_runs, args->options.timing.min_runs);
    run_model(args->options, args->json);
  });
}

void add_maddness_bench(CLI::App& bench) {
  struct Args {
    bench::MaddnessBenchOptions options;
    std::string isa;
    bool json = false;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = bench.add_subcommand(
      "maddness",
      "Time the MADDness kernels on random depth-4 trees, tables and rows: encode (fp32 rows to\n"
      "codes), decode with int8 tables (exact, and averaged over the most levels C allows up to "
      "4),\n"
      "decode with fp32 tables, encode+decode; check them against the refs; and time LibTorch's\n"
      "fp32 GEMM [N, D] x [D, M] and the 8-bit LUT-GEMM of the same shape on the same threads.");
  auto& o = args->options;
  cmd->add_option("--n", o.n, "Rows (positions / tokens)")->capture_default_str();
  cmd->add_option("--d", o.d, "Columns of the rows (the GEMM's reduction length)")
      ->capture_default_str();
  cmd->add_option("--m", o.m, "Output columns")->capture_default_str();
  cmd->add_option("--c", o.c, "Codebooks")->capture_default_str();
  cmd->add_option("--threads", o.threads, "Threads for every kernel and baseline")
      ->capture_default_str();
  cmd->add_option(
      "--isa", args->isa,
      "Highest kernel ISA: ref, avx2 or avx512 (default: detected, capped by AXNN_ISA)");
  cmd->add_option("--repeat", o.timing.min_runs, "Minimum timed runs per kernel")
      ->capture_default_str();
  cmd->add_option("--min-time", o.timing.min_seconds, "Minimum total timed seconds per kernel")
      ->capture_default_str();
  cmd->add_flag("--json", args->json, "Print one JSON object");
  cmd->callback([args] {
    bench::MaddnessBenchOptions& options = args->options;
    AXNN_CHECK(options.timing.min_runs >= 1, "--repeat must be >= 1, got {}",
               options.timing.min_runs);
    AXNN_CHECK(options.timing.min_seconds >= 0, "--min-time must be >= 0, got {}",
               options.timing.min_seconds);
    options.timing.max_runs = std::max(options.timing.max_runs, options.timing.min_runs);
    if (!args->isa.empty()) options.isa = parse_isa(args->isa);
    const bench::MaddnessBenchResult result = bench::run_maddness_bench(options);
    if (args->json)
      std::puts(bench::to_json(result).dump(2).c_str());
    else
      std::fputs(bench::format_maddness_bench(result).c_str(), stdout);
  });
}

void add_conv_bench(CLI::App& bench) {
  struct Args {
    bench::ConvTuneBenchOptions options;
    std::string problems, only, target = "cpu";
    int trials = 200;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = bench.add_subcommand(
      "conv",
      "Tune fp32 Conv2D kernels for each shape (records kept in -o so runs resume), then time\n"
      "the best tuned kernel and the vendor's fp32 convolution on the same shape in the same run\n"
      "(cpu: oneDNN on the same threads; cuda: cuDNN through LibTorch): GFLOP/s of both and\n"
      "their ratio.");
  cmd->add_option("--problems", args->problems, "Conv2D batch file (bench/problems/conv2d_*.txt)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--workloads", args->only, "Comma-separated workload names (default: all)");
  cmd->add_option("--trials", args->trials, "Tuning trials per workload")->capture_default_str();
  cmd->add_option("--target", args->target, "cpu or cuda")
      ->check(CLI::IsMember({"cpu", "cuda"}))
      ->capture_default_str();
  cmd->add_option("--threads", args->options.threads,
                  "Threads of the tuned kernels and oneDNN (cpu)")
      ->capture_default_str();
  cmd->add_option("--seed", args->options.tune.seed, "Search seed")->capture_default_str();
  cmd->add_option("-o,--output", args->options.output, "Tuning folder")->required();
  cmd->callback([args] {
    bench::ConvTuneBenchOptions& o = args->options;
    o.workloads = tune::load_conv2d_batch(args->problems);
    if (!args->only.empty()) {
      std::vector<tune::NamedConv2d> chosen;
      std::stringstream names(args->only);
      for (std::string name; std::getline(names, name, ',');) {
        const auto it = std::find_if(o.workloads.begin(), o.workloads.end(),
                                     [&](const tune::NamedConv2d& w) { return w.name == name; });
        AXNN_CHECK(it != o.workloads.end(), "{}: no workload named '{}'", args->problems, name);
        chosen.push_back(*it);
      }
      o.workloads = chosen;
    }
    o.tune.trials = args->trials;
    o.target = tune::parse_target(args->target);
    std::fputs(bench::format_conv_tune_bench(bench::run_conv_tune_bench(o)).c_str(), stdout);
  });
}

}  // namespace

void add_bench_command(CLI::App& app) {
  CLI::App* bench = app.add_subcommand("bench", "Benchmark kernels against exact baselines");
  bench->require_subcommand(1);
  add_conv_bench(*bench);

  auto args = std::make_shared<LutGemmArgs>();
  CLI::App* lut = bench->add_subcommand(
      "lutgemm",
      "Time LUT-GEMM (C = sum_k table[A][B]) on random codes and a random table, check it against\n"
      "the reference, and compare with oneDNN int8 and LibTorch fp32 GEMM on the same shape and\n"
      "threads. M = output channels / features, K = reduction, N = output positions / tokens.");
  CLI::Option* m = lut->add_option("--m", args->m, "Rows of A and C (output channels)");
  CLI::Option* k = lut->add_option("--k", args->k, "Reduction length");
  CLI::Option* n = lut->add_option("--n", args->n, "Columns of B and C (positions / tokens)");
  CLI::Option* problems =
      lut->add_option("--problems", args->problems,
                      "Batch file, one 'M K N [name]' per line, '#' comments (bench/problems/)");
  m->needs(k, n)->excludes(problems);
  k->needs(m, n)->excludes(problems);
  n->needs(m, k)->excludes(problems);
  lut->add_option("--threads", args->threads, "Threads for LUT-GEMM, oneDNN and LibTorch alike")
      ->capture_default_str();
  lut->add_option(
      "--isa", args->isa,
      "Highest kernel ISA: ref, avx2 or avx512 (default: detected, capped by AXNN_ISA)");
  lut->add_option("--bits", args->bits, "Operand code width, 2..8")->capture_default_str();
  lut->add_option("--schedule", args->schedule,
                  "Force the kernel's loop schedule (avx512: table-load-over-m, "
                  "table-load-over-n, planes-over-m, planes-over-n; avx2: table-load-over-m, "
                  "table-load-over-n; "
                  "ref: rows); default: chosen per shape");
  lut->add_option("--repeat", args->repeat, "Minimum timed runs per kernel")->capture_default_str();
  lut->add_option("--min-time", args->min_time,
                  fmt::format("Minimum total timed seconds per kernel: timed runs continue until "
                              "both --repeat and --min-time are reached, but stop after {} runs "
                              "(or --repeat if larger)",
                              bench::TimingOptions{}.max_runs))
      ->capture_default_str();
  lut->add_flag("--json", args->json, "Print JSON: one object for a shape, an array for a batch");
  lut->add_option("--device", args->device,
                  "cpu, or cuda: the CUDA LUT-GEMM (or LUT-conv with --conv-problems) and the "
                  "TransAxx-style GPU baseline (one global table read per MAC) in T lookups/s")
      ->check(CLI::IsMember({"cpu", "cuda"}))
      ->capture_default_str();
  CLI::Option* conv_problems = lut->add_option(
      "--conv-problems", args->conv_problems,
      "--device cuda: Conv2D batch file (bench/problems/conv2d_*.txt) for the CUDA LUT-conv");
  conv_problems->excludes(problems)->excludes(m)->excludes(k)->excludes(n);
  CLI::Option* table = lut->add_option(
      "--table", args->table,
      "--device cuda: table entries, product (a signed bits x bits product range: offset16 "
      "storage) or wide (full int32: shared32, or global32 for 8 bits)");
  table->capture_default_str();
  lut->callback([args, m, lut, table, conv_problems] {
    if (args->device == "cuda") {
      std::vector<std::string> cpu_only;
      for (const char* flag : {"--threads", "--isa", "--schedule"})
        if (lut->get_option(flag)->count() > 0) cpu_only.push_back(flag);
      run_lut_cuda(*args, m->count() > 0, cpu_only);
      return;
    }
    AXNN_CHECK(table->count() == 0 && conv_problems->count() == 0,
               "bench lutgemm: --table and --conv-problems apply to --device cuda only");
    run_lut_gemm(*args, m->count() > 0);
  });
  add_maddness_bench(*bench);
  add_model_bench(*bench);
}

}  // namespace axnn::cli
