// MADDness benchmark: times the encode and decode kernels (src/kernels/maddness.h) on random trees,
// tables and rows, checks them against the _ref functions, and in the same run times the exact
// fp32 GEMM they replace (LibTorch, [N, D] x [D, M]) and axnn's 8-bit LUT-GEMM of the same shape
// (A = the M x D weights, B = D x N codes), so that every figure comes with its ratios.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "bench/timing.h"
#include "core/cpu.h"

namespace axnn::bench {

struct MaddnessBenchOptions {
  int64_t n = 16384;       // rows of A (positions / tokens)
  int64_t d = 256;         // columns of A, the reduction length of the product MADDness replaces
  int64_t m = 64;          // output columns
  int64_t c = 16;          // codebooks (each a depth-4 tree, 16 leaves)
  int threads = 1;         // honoured by the kernels, OpenMP and at::set_num_threads
  std::optional<Isa> isa;  // highest kernel ISA; default active_isa(); must not exceed the CPU's
  uint32_t seed = 1;
  TimingOptions timing;
  int64_t checked_rows = 512;  // rows checked against the refs (the first and last half)
};

// Throws axnn::Error naming the option at fault (a flag name), or the shape if its buffers would
// exceed kMaxOperandBytes.
void check_options(const MaddnessBenchOptions& options);

// The largest average_levels (0..4) that c allows: c divisible by 2^levels.
int max_average_levels(int64_t c);

struct MaddnessBenchResult {
  MaddnessBenchOptions options;
  std::string isa;  // the requested ceiling
  std::string encode_impl, decode_impl, lut_gemm_impl;
  int average_levels = 0;    // of the averaged decode
  int64_t checked_rows = 0;  // rows of codes and outputs found exact against the refs
  Timing encode;             // fp32 rows -> codes
  Timing decode_int8;        // exact int32 sums
  Timing decode_average;     // int8 with average_levels
  Timing decode_fp32;
  Timing encode_decode;  // encode then the exact int8 decode
  Timing torch;          // LibTorch fp32 GEMM [N, D] x [D, M]
  Timing lut_gemm;       // LutGemm 8-bit, M x D weights times D x N codes

  [[nodiscard]] double dots() const { return double(options.n) * double(options.m); }
  // N M / t in G dot products/s at the min (or median) time of t.
  [[nodiscard]] double gdots(const Timing& t, bool median = false) const {
    return dots() / (median ? t.median : t.min) * 1e-9;
  }
  // Encode: N C / t in G row-codebooks/s.
  [[nodiscard]] double encode_g_row_codebooks(bool median = false) const {
    return double(options.n) * double(options.c) / (median ? encode.median : encode.min) * 1e-9;
  }
  // The baseline's time over t (> 1: t is faster), at the min (or median) times.
  [[nodiscard]] double ratio_torch(const Timing& t, bool median = false) const {
    return median ? torch.median / t.median : torch.min / t.min;
  }
  [[nodiscard]] double ratio_lut_gemm(const Timing& t, bool median = false) const {
    return median ? lut_gemm.median / t.median : lut_gemm.min / t.min;
  }
};

// Throws axnn::Error on bad options, and when a kernel's result differs from the ref (naming the
// kernel, impl and first differing value).
MaddnessBenchResult run_maddness_bench(const MaddnessBenchOptions& options);

nlohmann::ordered_json to_json(const MaddnessBenchResult& result);

// Human-readable: the machine, the shape, then one row per kernel.
std::string format_maddness_bench(const MaddnessBenchResult& result);

}  // namespace axnn::bench
