// LUT-GEMM benchmark: times LutGemm::run on random codes and a random table, checks the result
// against lut_gemm_ref, and times the exact baselines (oneDNN int8, LibTorch fp32) on the same
// shape and threads so that every figure comes with its ratio.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>

#include "bench/problems.h"
#include "bench/timing.h"
#include "core/cpu.h"

namespace axnn::bench {

// How many outputs the sampled check (for shapes above full_check_lookups) recomputes.
inline constexpr int64_t kSampledOutputs = 4096;

struct LutGemmBenchOptions {
  int threads = 1;         // honoured by LutGemm::run, OpenMP (oneDNN) and at::set_num_threads
  std::optional<Isa> isa;  // highest kernel ISA; default active_isa(); must not exceed the CPU's
  int bits = 8;            // operand width 2..8
  std::string schedule;    // force the impl's loop schedule; empty lets it choose
  uint32_t seed = 1;       // operands and table
  TimingOptions timing;
  // Shapes up to this many lookups are checked in full against lut_gemm_ref, larger ones on
  // kSampledOutputs outputs (the four corners and random positions) recomputed naively.
  double full_check_lookups = double(1 << 27);
};

// Throws axnn::Error naming the option at fault. A forced schedule is checked by packing a 1 x 1 A
// with the benchmark's table, so an unknown name fails here, before any shape runs.
void check_options(const LutGemmBenchOptions& options);

struct LutGemmBenchResult {
  Problem problem;
  int threads = 0;
  int bits = 0;
  std::string isa;        // the requested ceiling
  std::string impl_name;  // the impl LutGemm::create picked
  std::string schedule;   // the impl's loop schedule for this N
  // The result was checked exact on checked_outputs outputs (a failed check throws instead).
  bool check_sampled = false;  // true: a sample of outputs was recomputed, not all of them
  int64_t checked_outputs = 0;
  Timing lut_gemm;
  Timing onednn;
  std::string onednn_impl;
  Timing torch;

  [[nodiscard]] double lookups() const {
    return double(problem.m) * double(problem.k) * double(problem.n);
  }
  // Rates at the min and the median time, in G lookups/s (LUT-GEMM) or GMAC/s (baselines).
  [[nodiscard]] double glookups_min() const { return lookups() / lut_gemm.min * 1e-9; }
  [[nodiscard]] double glookups_median() const { return lookups() / lut_gemm.median * 1e-9; }
  [[nodiscard]] double onednn_gmacs() const { return lookups() / onednn.min * 1e-9; }
  [[nodiscard]] double onednn_gmacs_median() const { return lookups() / onednn.median * 1e-9; }
  [[nodiscard]] double torch_gmacs() const { return lookups() / torch.min * 1e-9; }
  [[nodiscard]] double torch_gmacs_median() const { return lookups() / torch.median * 1e-9; }
  // LUT-GEMM's rate over the baseline's (> 1: LUT-GEMM is faster), at the min or the median time.
  [[nodiscard]] double ratio_onednn() const { return onednn.min / lut_gemm.min; }
  [[nodiscard]] double ratio_onednn_median() const { return onednn.median / lut_gemm.median; }
  [[nodiscard]] double ratio_torch() const { return torch.min / lut_gemm.min; }
  [[nodiscard]] double ratio_torch_median() const { return torch.median / lut_gemm.median; }
};

struct OutputCheck {
  bool sampled = false;    // a sample of outputs was recomputed naively, not all of them
  int64_t checked = 0;     // outputs compared
  int64_t mismatches = 0;  // of those, how many differ
  int64_t row = 0;         // the first differing output and its two values
  int64_t col = 0;
  int32_t got = 0;
  int32_t want = 0;
};

// Compares C (M x N, dense) = LUT-GEMM(table, A, B) with the reference: all outputs through
// lut_gemm_ref when M*K*N <= full_check_lookups, otherwise kSampledOutputs of them (the four
// corners and positions drawn from `seed`).
OutputCheck check_lut_gemm_output(std::span<const int32_t> table, int bits, const uint8_t* a,
                                  const uint8_t* b, const int32_t* c, int64_t m, int64_t k,
                                  int64_t n, double full_check_lookups, uint32_t seed);

// Runs one shape. Throws axnn::Error on bad options or shapes, and when LUT-GEMM's result differs
// from the reference (naming the impl, shape and first differing output).
LutGemmBenchResult run_lut_gemm_bench(const Problem& problem, const LutGemmBenchOptions& options);

// Every figure, with the machine description; rates at the min time are glookups_min,
// onednn_gmacs, torch_gmacs and the ratios, those at the median time carry a _median suffix.
nlohmann::ordered_json to_json(const LutGemmBenchResult& result);

// Human-readable table: a preamble naming the machine, then one row per result.
std::string format_table_header();
std::string format_table_row(const LutGemmBenchResult& result);

}  // namespace axnn::bench
