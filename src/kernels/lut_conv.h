// LUT-conv: dst[n][o][y][x] = sum_{c, i, j} table[w[o][c][i][j]][src[n][g c][iy][ix]], bit-exact,
// for NCHW activation codes and OIHW weight codes of width 2..8, with stride, padding, dilation
// and groups. A padded input position reads pad_code (the code of 0.0), which goes through the
// table like any other input (DESIGN.md section 2). The table is in LutGemm's orientation: indexed
// by the weight code first, so for a Multiplier (lut[x_code][w_code]) pass its transpose.
// Accumulation wraps modulo 2^32 like LutGemm.
//
// Per group, an im2col GEMM over LutGemm with the weights stationary (see lut_conv.cpp), or over
// TermGemm (oneDNN int8) for a table given as product terms.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "core/cpu.h"
#include "mult/product_terms.h"

namespace axnn::kernels {

struct LutConv2dDesc {
  int64_t batch = 0, channels = 0, height = 0, width = 0;  // src: [batch][channels][height][width]
  int64_t out_channels = 0, kh = 0, kw = 0;  // weights: [out_channels][channels / groups][kh][kw]
  int64_t groups = 1;
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_h = 0, pad_w = 0;
  int64_t dilation_h = 1, dilation_w = 1;
  std::span<const int32_t> table;  // 2^bits x 2^bits, row-major [w_code][x_code] (as LutGemmDesc)
  int bits = 8;
  const uint8_t* weights = nullptr;  // read by create() only
  int pad_code = 0;                  // 0 .. 2^bits - 1
  // Bytes of im2col columns built and multiplied at a time: chunk = im2col_bytes / (C/groups *
  // KH * KW) output positions, at least 64 and at most all of them.
  int64_t im2col_bytes = int64_t{2} << 20;
  std::optional<Isa> isa;  // as LutGemmDesc::isa
  std::string schedule;    // as LutGemmDesc::schedule; empty lets the impl choose per chunk
  // The table as a sum of product terms (mult/product_terms.h) in this orientation (a_mask on
  // the weight codes): the GEMMs run on oneDNN's exact int8 matmul (kernels/term_gemm.h) instead
  // of lookups; isa and schedule then do not apply.
  std::optional<ProductTerms> terms;
};

class LutConv2d {
 public:
  // Checks the geometry (naming the field at fault) and packs each group's weights once.
  static LutConv2d create(const LutConv2dDesc& desc);

  // src: [batch][channels][height][width] codes; dst: [batch][out_channels][out_height][out_width]
  // int32, every element written. threads: OpenMP threads for im2col, the GEMM and the scatter; 0
  // means omp_get_max_threads(). Uses per-thread scratch of the calling thread, so concurrent
  // runs from different threads are safe.
  void run(const uint8_t* src, int32_t* dst, int threads = 0) const;
  // The same, each sum dequantized as it is scattered (DESIGN.md section 2: y = acc / (sx sw)):
  // dst[n][o][y][x] = float(sum) / divisors[o] in fp32, 0 where divisors[o] is not > 0.
  // divisors: out_channels values.
  void run(const uint8_t* src, float* dst, const float* divisors, int threads = 0) const;

  int64_t out_height() const;
  int64_t out_width() const;
  int64_t chunk_columns() const;       // output positions per im2col chunk
  // The GEMM's impl: "ref", "avx2" or "avx512", or oneDNN's for product terms.
  std::string impl_name() const;
  // The GEMM's schedule for a full chunk ("terms" for product terms).
  std::string_view schedule() const;

  class State;

 private:
  explicit LutConv2d(std::shared_ptr<const State> state) : state_(std::move(state)) {}
  std::shared_ptr<const State> state_;
};

// The schedule names LutGemmDesc::schedule accepts for an impl ("ref", "avx2", "avx512"), in the
// impl's order; throws axnn::Error for another name. Kept here, beside their one user that
// enumerates them (the LUT-conv tuner), rather than in the impl files; tests/kernels/
// test_lut_conv.cpp checks that each impl accepts exactly these names.
std::span<const std::string_view> lut_gemm_schedules(std::string_view impl);

}  // namespace axnn::kernels
