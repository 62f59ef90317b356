// The tuning benchmark: tune fp32 Conv2D kernels for each shape (axnn tune's search, records kept
// in a folder so a run resumes), then time the best tuned kernel and the exact fp32 convolution of
// the target's vendor library on the same shape in the same run (cpu: oneDNN on the same threads;
// cuda: cuDNN through LibTorch, its fastest algorithm), and report GFLOP/s and their ratio.
#pragma once

#include <string>
#include <vector>

#include "bench/timing.h"
#include "tune/tuner.h"
#include "tune/workload.h"

namespace axnn::bench {

struct ConvTuneBenchOptions {
  std::vector<tune::NamedConv2d> workloads;
  std::string output;  // tuning folder (DIR/records/<workload>.jsonl)
  tune::Target target = tune::Target::kCpu;
  int threads = 1;  // the tuned kernels' and oneDNN's threads (cpu)
  tune::TuneOptions tune;
  TimingOptions timing{3, 10, 1000, 1.0};  // the final comparison
};

struct ConvTuneBenchRow {
  tune::NamedConv2d workload;
  int64_t trials = 0;
  double tuned_gflops_min = 0, tuned_gflops_median = 0;  // from the fastest / median run
  double reference_gflops_min = 0, reference_gflops_median = 0;
  std::string reference;  // the library and its implementation, e.g. "oneDNN brgconv:avx512_core"
  std::string best_config;
};

// One row per workload; throws axnn::Error if a workload has no valid tuned kernel.
std::vector<ConvTuneBenchRow> run_conv_tune_bench(const ConvTuneBenchOptions& options);

std::string format_conv_tune_bench(const std::vector<ConvTuneBenchRow>& rows);

}  // namespace axnn::bench
