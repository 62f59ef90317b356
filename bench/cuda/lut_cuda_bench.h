// `axnn bench lutgemm --device cuda`: times the CUDA LUT-GEMM (lut_gemm_cuda) on GEMM shapes and
// the CUDA LUT-conv (lut_conv2d_cuda) on Conv2D shapes, with cudaEvent timing after warm-up runs,
// checks their results against lut_gemm_ref (all outputs of small shapes, a sample of large ones),
// and times the TransAxx-style baseline (bench/cuda/transaxx_cuda.h) and LibTorch's exact fp32 /
// int8 kernels (cuBLAS, cuDNN) on the same shape in the same run, so that each figure comes with
// its ratios. Built only with CUDA (AXNN_HAVE_CUDA); the
// header needs no CUDA header.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "bench/problems.h"
#include "bench/timing.h"

namespace axnn::bench {

struct LutCudaBenchOptions {
  int bits = 8;       // operand width 2..8
  uint32_t seed = 1;  // operands and table
  // Table entries: "product" (a signed bits x bits product range, offset16), "wide" (full int32,
  // shared32 for bits <= 7, global32 for 8 bits).
  std::string table = "product";
  TimingOptions timing;  // warmup_runs, min_runs, max_runs, min_seconds; one cudaEvent pair a run
  double full_check_lookups = double(1 << 27);  // as LutGemmBenchOptions
};

// A Conv2D shape of bench/problems/conv2d_*.txt (no groups, no dilation).
struct ConvProblem {
  std::string name;
  int64_t batch = 1, height = 0, width = 0, out_channels = 0, channels = 0, kh = 0, kw = 0;
  int64_t stride = 1, pad = 0;
  int64_t out_h() const { return (height + 2 * pad - kh) / stride + 1; }
  int64_t out_w() const { return (width + 2 * pad - kw) / stride + 1; }
  double lookups() const {
    return double(batch) * out_channels * out_h() * out_w() * channels * kh * kw;
  }
};

struct LutCudaBenchResult {
  std::string kind;  // "gemm" or "conv"
  std::string name;
  Problem gemm;      // kind "gemm"; for "conv" the implicit GEMM (M = CO, K = CI KH KW, N = all
                     // output positions of the batch)
  ConvProblem conv;  // kind "conv"
  int bits = 0;
  std::string table;    // the option
  std::string storage;  // offset16, shared32 or global32
  std::string device;   // "NVIDIA H200 (132 SMs, sm_90)"
  bool check_sampled = false;
  int64_t checked_outputs = 0;
  Timing lut;       // seconds per call (cudaEvent)
  Timing transaxx;  // the baseline, same shape and table
  // LibTorch's exact kernels on the same shape (baselines.h): cuBLAS / cuDNN fp32 and, for GEMMs
  // where LibTorch has it, cuBLAS int8; empty with the reason in int8_missing.
  Timing fp32;
  std::optional<Timing> int8;
  std::string int8_missing;

  [[nodiscard]] double lookups() const {
    return kind == "conv" ? conv.lookups() : double(gemm.m) * double(gemm.k) * double(gemm.n);
  }
  [[nodiscard]] double tlookups_min() const { return lookups() / lut.min * 1e-12; }
  [[nodiscard]] double tlookups_median() const { return lookups() / lut.median * 1e-12; }
  [[nodiscard]] double transaxx_tlookups_median() const {
    return lookups() / transaxx.median * 1e-12;
  }
  // The baseline's time over LUT-GEMM's (> 1: LUT-GEMM is faster), at the median times.
  [[nodiscard]] double ratio_transaxx_median() const { return transaxx.median / lut.median; }
  // LUT-GEMM's time over the exact kernel's (< 1: LUT-GEMM is faster), at the median times.
  [[nodiscard]] double slowdown_fp32_median() const { return lut.median / fp32.median; }
  [[nodiscard]] std::optional<double> slowdown_int8_median() const {
    if (!int8) return std::nullopt;
    return lut.median / int8->median;
  }
};

// Throws axnn::Error naming the option at fault, or saying why no CUDA device can be used
// ("--device cuda: no usable CUDA device: ..."), before any shape runs.
void check_cuda_options(const LutCudaBenchOptions& options);

// One shape each; throw axnn::Error when the kernel's (or the baseline's) result is not exact.
LutCudaBenchResult run_lut_cuda_gemm_bench(const Problem& problem,
                                           const LutCudaBenchOptions& options);
LutCudaBenchResult run_lut_cuda_conv_bench(const ConvProblem& problem,
                                           const LutCudaBenchOptions& options);

nlohmann::ordered_json to_json(const LutCudaBenchResult& result);
std::string format_cuda_table_header(bool conv);
std::string format_cuda_table_row(const LutCudaBenchResult& result);

}  // namespace axnn::bench
