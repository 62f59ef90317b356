// MADDness kernels: the multiplication-free approximate product A B of Blalock & Guttag (ICML
// 2021). Each of C codebooks hashes a row of A into one of up to 16 leaves of a balanced binary
// tree (encode), and the product is the sum over codebooks of precomputed table rows
// lut[c][code_c][:] (decode). Learning the trees and tables is src/amm's job; these kernels run
// them bit-exactly against the _ref twins.
//
// Encode: x (N x D fp32, row stride ldx) -> codes (N x C bytes, row stride ldcodes). Codebook c's
// tree has `depth` levels (1..4, 2^depth leaves); level l compares column split_dims[c][l] of the
// row with the threshold of the node reached so far. Nodes are numbered per codebook in heap order
// (level l, node i at index 2^l - 1 + i); from node i at level l the row goes to node
// 2 i + (x > threshold ? 1 : 0) at level l + 1 (NaN compares false: left). The code is the leaf
// index 0 .. 2^depth - 1.
//
// Decode: codes (N x C) -> dst (M x N, row stride ldd): dst[m][n] = sum_c lut[c][codes[n][c]][m],
// the output transposed (output columns in rows) because that is the layout a convolution's
// output [CO][positions] needs and the one the kernels produce without a transpose. Tables have
// 16 rows per codebook ([c][16][m]); codes must be < 16 (they are, from encode): every impl reads
// only their low 4 bits. Two table types:
//  - int8: dst is int32, the exact sum of the int8 entries. With average_levels = L > 0 the
//    codebooks are summed as MADDness's averaging trick does instead: the entries as unsigned bytes
//    u = e + 128, each group of 2^L consecutive codebooks reduced by a binary tree of rounding-up
//    byte averages (avg(a, b) = (a + b + 1) >> 1, pairs (0,1), (2,3), ... at every level), and
//    dst = 2^L * sum over groups of the group's average - 128 C. That estimate exceeds the exact
//    sum by maddness_average_bias(C, L) on average (the rounding), which callers subtract.
//  - fp32: dst is fp32, the entries added in codebook order c = 0, 1, ..., C - 1 starting from
//    0.0f, so every impl gives the same bits.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>

#include "core/cpu.h"

namespace axnn::kernels {

inline constexpr int kMaddnessMaxDepth = 4;
inline constexpr int kMaddnessLeaves = 16;  // table rows per codebook

struct MaddnessEncoderDesc {
  int64_t d = 0;  // columns of x
  int64_t c = 0;  // codebooks
  int depth = kMaddnessMaxDepth;
  std::span<const int32_t> split_dims;  // [c][depth], each in [0, d)
  std::span<const float> thresholds;    // [c][2^depth - 1], heap order
  std::optional<Isa> isa;               // highest level to use; default active_isa()
};

class MaddnessEncoder {
 public:
  // Copies and packs the trees. Throws axnn::Error on bad sizes, depths or split columns.
  static MaddnessEncoder create(const MaddnessEncoderDesc& desc);
  // x: n x d fp32 with row stride ldx (0 means d); codes: n x c bytes with row stride ldcodes
  // (0 means c). threads: OpenMP threads; 0 means omp_get_max_threads().
  void run(const float* x, int64_t n, uint8_t* codes, int64_t ldx = 0, int64_t ldcodes = 0,
           int threads = 0) const;
  std::string_view impl_name() const;  // "ref", "avx2" or "avx512"
  int64_t d() const;
  int64_t c() const;

  class Impl;  // one per ISA, in src/kernels/cpu

 private:
  explicit MaddnessEncoder(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
};

struct MaddnessDecoderDesc {
  int64_t c = 0;  // codebooks
  int64_t m = 0;  // output columns
  // Exactly one of the two: [c][16][m].
  std::span<const int8_t> lut_int8;
  std::span<const float> lut_fp32;
  int average_levels = 0;  // int8 tables only; 0..4, c divisible by 2^average_levels
  std::optional<Isa> isa;
};

class MaddnessDecoder {
 public:
  // Copies and packs the tables. Throws axnn::Error on bad sizes or options.
  static MaddnessDecoder create(const MaddnessDecoderDesc& desc);
  // codes: n x c bytes with row stride ldcodes (0 means c); dst: m x n with row stride ldd
  // (0 means n). The int32 overload needs an int8 table, the fp32 one an fp32 table.
  void run(const uint8_t* codes, int64_t n, int32_t* dst, int64_t ldcodes = 0, int64_t ldd = 0,
           int threads = 0) const;
  void run(const uint8_t* codes, int64_t n, float* dst, int64_t ldcodes = 0, int64_t ldd = 0,
           int threads = 0) const;
  std::string_view impl_name() const;
  int64_t c() const;
  int64_t m() const;
  bool fp32() const;  // the table type

  class Impl;

 private:
  explicit MaddnessDecoder(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
};

// The mean excess of the averaging trick's estimate over the exact sum: each rounding-up average
// at level l adds 1/4 of 2^l on average, and there are C / 2^l of them: C L / 4 in all.
inline double maddness_average_bias(int64_t c, int levels) { return 0.25 * double(c) * levels; }

// The ground truth: plain loops, same contracts.
void maddness_encode_ref(const MaddnessEncoderDesc& desc, const float* x, int64_t n, int64_t ldx,
                         uint8_t* codes, int64_t ldcodes);
void maddness_decode_ref(const MaddnessDecoderDesc& desc, const uint8_t* codes, int64_t n,
                         int64_t ldcodes, int32_t* dst, int64_t ldd);
void maddness_decode_ref(const MaddnessDecoderDesc& desc, const uint8_t* codes, int64_t n,
                         int64_t ldcodes, float* dst, int64_t ldd);

}  // namespace axnn::kernels
