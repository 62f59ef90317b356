// The tuning benchmark: tune fp32 Conv2D kernels for each shape (axnn tune's search, records kept
// in a folder so a run resumes), then time the best tuned kernel and oneDNN's fp32 convolution on
// the same shape and threads in the same run, and report GFLOP/s and their ratio.
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
  int threads = 1;     // the tuned kernels' and oneDNN's threads
  tune::TuneOptions tune;
  TimingOptions timing{3, 10, 1000, 1.0};  // the final comparison
};

struct ConvTuneBenchRow {
  tune::NamedConv2d workload;
  int64_t trials = 0;
  double tuned_gflops_min = 0, tuned_gflops_median = 0;    // from the fastest / median run
  double onednn_gflops_min = 0, onednn_gflops_median = 0;
  std::string onednn_impl;
  std::string best_config;
};

// One row per workload; throws axnn::Error if a workload has no valid tuned kernel.
std::vector<ConvTuneBenchRow> run_conv_tune_bench(const ConvTuneBenchOptions& options);

std::string format_conv_tune_bench(const std::vector<ConvTuneBenchRow>& rows);

}  // namespace axnn::bench
