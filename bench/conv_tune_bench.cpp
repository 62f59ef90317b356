#include "bench/conv_tune_bench.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <omp.h>
#include <torch/cuda.h>

#include <functional>

#include "bench/baselines.h"
#include "bench/machine.h"
#include "core/error.h"
#include "tune/backend.h"

namespace axnn::bench {
namespace {

// The exact fp32 convolution a tuned kernel races: a run and what it is.
struct Reference {
  std::function<void()> run;
  std::string name;
};

Reference onednn_reference(const tune::Conv2dShape& s) {
  auto onednn =
      std::make_shared<OnednnConv2d>(s.n, s.h, s.w, s.co, s.ci, s.kh, s.kw, s.stride, s.pad, 1);
  return {[onednn] { onednn->run(); }, "oneDNN " + onednn_version() + " " + onednn->impl_info()};
}

// cuDNN through LibTorch, NCHW fp32 (the first, untimed runs let cuDNN's algorithm search pick
// its fastest algorithm for the shape).
Reference cudnn_reference(const tune::Conv2dShape& s) {
  use_torch_cuda();
  const auto on = at::TensorOptions().device(at::kCUDA).dtype(at::kFloat);
  const at::Tensor x = at::randint(-4, 5, {s.n, s.ci, s.h, s.w}, on);
  const at::Tensor w = at::randint(-4, 5, {s.co, s.ci, s.kh, s.kw}, on);
  return {[x, w, s] {
            at::conv2d(x, w, {}, {s.stride, s.stride}, {s.pad, s.pad});
            torch::cuda::synchronize();
          },
          "cuDNN (LibTorch " + torch_version() + ")"};
}

}  // namespace

std::vector<ConvTuneBenchRow> run_conv_tune_bench(const ConvTuneBenchOptions& options) {
  AXNN_CHECK(options.threads >= 1, "--threads must be at least 1, not {}", options.threads);
  check_timing_options(options.timing);
  const bool cuda = options.target == tune::Target::kCuda;
  const std::unique_ptr<tune::Backend> backend = tune::make_backend(options.target);
  tune::TuneOptions tune_options = options.tune;
  tune_options.threads = cuda ? 0 : options.threads;
  omp_set_num_threads(options.threads);  // oneDNN runs on OpenMP
  std::vector<ConvTuneBenchRow> rows;
  for (const tune::NamedConv2d& w : options.workloads) {
    const tune::TuneSummary summary =
        tune::tune_conv2d(*backend, w, tune_options, tune::records_file(options.output, w.name));
    AXNN_CHECK(summary.best, "{}: no valid tuned kernel in {} trials", w.name, summary.trials);
    const tune::Config config = backend->space(w.shape, tune_options.threads)
                                    .from_json(summary.best->config, w.name + " best record");
    std::vector<tune::Built> built = backend->build(w.shape, {config}, tune_options.build);
    AXNN_CHECK(built[0].kernel, "{}: the best kernel failed to rebuild: {}", w.name,
               built[0].error);
    tune::Kernel& kernel = *built[0].kernel;
    const tune::Conv2dShape& s = w.shape;
    const Reference reference_conv = cuda ? cudnn_reference(s) : onednn_reference(s);
    // Alternate the two so that both see the same machine state.
    Timing tuned, reference;
    std::vector<double> tuned_samples, reference_samples;
    for (int round = 0; round < 3; ++round) {
      const Timing t = measure(
          [&] {
            kernel.run();
            kernel.sync();
          },
          options.timing);
      const Timing r = measure(reference_conv.run, options.timing);
      tuned_samples.insert(tuned_samples.end(), t.samples.begin(), t.samples.end());
      reference_samples.insert(reference_samples.end(), r.samples.begin(), r.samples.end());
    }
    tuned = summarize(tuned_samples);
    reference = summarize(reference_samples);
    const double gflop = s.flops() / 1e9;
    rows.push_back({w, summary.trials, gflop / tuned.min, gflop / tuned.median,
                    gflop / reference.min, gflop / reference.median, reference_conv.name,
                    summary.best->config.dump()});
  }
  return rows;
}

std::string format_conv_tune_bench(const std::vector<ConvTuneBenchRow>& rows) {
  const MachineInfo& machine = machine_info();
  std::string out =
      fmt::format("machine: {} ({} logical CPUs)\n", machine.cpu_model, machine.logical_cpus);
  out += fmt::format("{:<10} {:<26} {:>6} {:>18} {:>18} {:>13}  {}\n", "workload", "shape",
                     "trials", "tuned GFLOP/s", "reference GFLOP/s", "ratio", "reference");
  out += fmt::format("{:<10} {:<26} {:>6} {:>18} {:>18} {:>13}\n", "", "", "", "min / median",
                     "min / median", "min / median");
  for (const ConvTuneBenchRow& r : rows)
    out += fmt::format(
        "{:<10} {:<26} {:>6} {:>8.1f} / {:>7.1f} {:>8.1f} / {:>7.1f} {:>5.2f} / "
        "{:>5.2f}  {}\n",
        r.workload.name, r.workload.shape.str(), r.trials, r.tuned_gflops_min,
        r.tuned_gflops_median, r.reference_gflops_min, r.reference_gflops_median,
        r.tuned_gflops_min / r.reference_gflops_min,
        r.tuned_gflops_median / r.reference_gflops_median, r.reference);
  out += "ratio = tuned GFLOP/s / reference GFLOP/s (above 1: the tuned kernel is faster)\n";
  for (const ConvTuneBenchRow& r : rows)
    out += fmt::format("{} best schedule: {}\n", r.workload.name, r.best_config);
  return out;
}

}  // namespace axnn::bench
