// Shared by the product-term kernels (term_gemm.cpp, term_conv.cpp): a term's masked operand as
// byte arithmetic, the offsets that bring oneDNN's s8 weights into range, and the thread and ISA
// plumbing around oneDNN. Internal to src/kernels.
#pragma once

#include <omp.h>

#include <cstdint>
#include <span>
#include <string>

#include "mult/product_terms.h"

namespace axnn::kernels::detail {

// y = sign * value(code & mask) - offset as a byte, in wrap-around uint8 arithmetic: with x = code
// & mask and flip the sign bit when the mask keeps it (signed codes), value = (x ^ flip) - flip,
// so y = (x ^ flip) + add (sign +1) or add - (x ^ flip) (sign -1). The byte is the exact value
// whenever it lies in the range of the type it is read as (u8 or s8), which callers arrange.
struct ByteMap {
  uint8_t mask = 0;
  uint8_t flip = 0;
  uint8_t add = 0;
  bool negate = false;

  uint8_t operator()(uint8_t code) const {
    const uint8_t x = static_cast<uint8_t>((code & mask) ^ flip);
    return static_cast<uint8_t>(negate ? add - x : x + add);
  }
};

// The masked operand of one side of a term, unsigned read as u8, signed as s8 (no offset).
ByteMap plain_map(uint32_t mask, int bits, bool is_signed);

// sign * masked operand - offset read as s8, offset the smallest shift that fits every code's
// value into [-128, 127] (nonzero only for unsigned 8-bit masks above 127, or a negated -128).
struct WeightMap {
  ByteMap map;
  int32_t offset = 0;
};
WeightMap weight_map(uint32_t mask, int sign, int bits, bool is_signed);

// Maps n codes: dst[i] = map(src[i]). Vectorizes to a few byte ops per 64 codes.
inline void map_codes(const uint8_t* __restrict src, uint8_t* __restrict dst, int64_t n,
                      ByteMap map) {
  const uint8_t mask = map.mask, flip = map.flip, add = map.add;
  if (map.negate) {
    for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<uint8_t>(add - ((src[i] & mask) ^ flip));
  } else {
    for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<uint8_t>(((src[i] & mask) ^ flip) + add);
  }
}

// The G masked slices of `cols` columns of a rows x cols code matrix (row stride ld), transposed:
// dst[j * dst_ld + g * rows + r] = maps[g](src[r * ld + j]). 16 x 16 byte tiles through SSE2.
void expand_transposed(const uint8_t* src, int64_t rows, int64_t cols, int64_t ld,
                       std::span<const ByteMap> maps, uint8_t* dst, int64_t dst_ld);

// dst[i * dst_ld + j] = src[j * src_ld + i] + sum_e scales[e] * src[j * src_ld + m + e] for i < m,
// j < cols, modulo 2^32: a block of oneDNN's C^T (or nhwc output) into C (or NCHW) with the
// offset corrections of the extra columns.
void transpose_out(const int32_t* src, int64_t src_ld, int64_t cols, int64_t m,
                   std::span<const int32_t> scales, int32_t* dst, int64_t dst_ld);

// Throws axnn::Error (naming `who`) unless oneDNN's int8 dot products run without intermediate
// saturation here (VNNI or AMX: AVX-512 without VNNI saturates pairs of u8 x s8 products to int16).
void check_exact_int8(const char* who);

// The terms' widths and masks checked, naming `who`.
void check_terms(const ProductTerms& terms, const char* who);

// OpenMP's thread count for the calling thread set for a scope: oneDNN (OpenMP runtime) sizes
// its partition at primitive creation and runs with the caller's count.
class ThreadsScope {
 public:
  explicit ThreadsScope(int threads) : saved_(omp_get_max_threads()) {
    omp_set_num_threads(threads);
  }
  ~ThreadsScope() { omp_set_num_threads(saved_); }
  ThreadsScope(const ThreadsScope&) = delete;
  ThreadsScope& operator=(const ThreadsScope&) = delete;

 private:
  int saved_;
};

inline int resolve_threads(int threads) { return threads > 0 ? threads : omp_get_max_threads(); }

}  // namespace axnn::kernels::detail
