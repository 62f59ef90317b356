#include "kernels/term_operands.h"

#include <emmintrin.h>

#include <algorithm>
#include <oneapi/dnnl/dnnl.hpp>
#include <vector>

#include "core/error.h"
#include "mult/multiplier.h"

namespace axnn::kernels::detail {

namespace {

uint8_t low_mask(uint32_t mask, int bits) {
  return static_cast<uint8_t>(mask & ((1u << bits) - 1));
}

uint8_t sign_flip(uint32_t mask, int bits, bool is_signed) {
  const uint32_t sign_bit = 1u << (bits - 1);
  return is_signed && (mask & sign_bit) ? static_cast<uint8_t>(sign_bit) : 0;
}

// 16 x 16 bytes: four rounds of interleaving rows i and i + 8 rotate the 8-bit (row, column)
// index by one bit each, so after four the rows and columns have swapped.
void transpose16(const uint8_t* src, int64_t ld, uint8_t* dst, int64_t dst_ld) {
  __m128i r[16];
  for (int i = 0; i < 16; ++i)
    r[i] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i * ld));
  for (int round = 0; round < 4; ++round) {
    __m128i t[16];
    for (int i = 0; i < 8; ++i) {
      t[2 * i] = _mm_unpacklo_epi8(r[i], r[i + 8]);
      t[2 * i + 1] = _mm_unpackhi_epi8(r[i], r[i + 8]);
    }
    for (int i = 0; i < 16; ++i) r[i] = t[i];
  }
  for (int i = 0; i < 16; ++i) _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i * dst_ld), r[i]);
}

}  // namespace

void expand_transposed(const uint8_t* src, int64_t rows, int64_t cols, int64_t ld,
                       std::span<const ByteMap> maps, uint8_t* dst, int64_t dst_ld) {
  // 16 columns at a time: transposed into `tile` (16 rows of `rows` codes), then mapped per term.
  thread_local std::vector<uint8_t> tile;
  tile.resize(16 * rows);
  for (int64_t j0 = 0; j0 < cols; j0 += 16) {
    const int64_t width = std::min<int64_t>(16, cols - j0);
    int64_t r0 = 0;
    if (width == 16) {
      for (; r0 + 16 <= rows; r0 += 16) transpose16(src + r0 * ld + j0, ld, tile.data() + r0, rows);
    }
    for (int64_t r = r0; r < rows; ++r) {
      for (int64_t j = 0; j < width; ++j) tile[j * rows + r] = src[r * ld + j0 + j];
    }
    for (int64_t j = 0; j < width; ++j) {
      uint8_t* out = dst + (j0 + j) * dst_ld;
      for (size_t g = 0; g < maps.size(); ++g) {
        map_codes(tile.data() + j * rows, out + g * rows, rows, maps[g]);
      }
    }
  }
}

void transpose_out(const int32_t* src, int64_t src_ld, int64_t cols, int64_t m,
                   std::span<const int32_t> scales, int32_t* dst, int64_t dst_ld) {
  constexpr int64_t kBlock = 64;
  uint32_t fix[kBlock];
  for (int64_t j0 = 0; j0 < cols; j0 += kBlock) {
    const int64_t width = std::min(kBlock, cols - j0);
    for (int64_t j = 0; j < width; ++j) {
      uint32_t sum = 0;
      for (size_t e = 0; e < scales.size(); ++e) {
        sum += static_cast<uint32_t>(scales[e]) *
               static_cast<uint32_t>(src[(j0 + j) * src_ld + m + static_cast<int64_t>(e)]);
      }
      fix[j] = sum;
    }
    int64_t i0 = 0;
    if (width == kBlock) {
      for (; i0 + 4 <= m; i0 += 4) {
        for (int64_t j = 0; j < kBlock; j += 4) {
          const int32_t* s = src + (j0 + j) * src_ld + i0;
          __m128 a = _mm_castsi128_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s)));
          __m128 b =
              _mm_castsi128_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s + src_ld)));
          __m128 c =
              _mm_castsi128_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s + 2 * src_ld)));
          __m128 d =
              _mm_castsi128_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s + 3 * src_ld)));
          _MM_TRANSPOSE4_PS(a, b, c, d);
          const __m128i f = _mm_loadu_si128(reinterpret_cast<const __m128i*>(fix + j));
          int32_t* o = dst + i0 * dst_ld + j0 + j;
          _mm_storeu_si128(reinterpret_cast<__m128i*>(o), _mm_add_epi32(_mm_castps_si128(a), f));
          _mm_storeu_si128(reinterpret_cast<__m128i*>(o + dst_ld),
                           _mm_add_epi32(_mm_castps_si128(b), f));
          _mm_storeu_si128(reinterpret_cast<__m128i*>(o + 2 * dst_ld),
                           _mm_add_epi32(_mm_castps_si128(c), f));
          _mm_storeu_si128(reinterpret_cast<__m128i*>(o + 3 * dst_ld),
                           _mm_add_epi32(_mm_castps_si128(d), f));
        }
      }
    }
    for (int64_t i = i0; i < m; ++i) {
      for (int64_t j = 0; j < width; ++j) {
        dst[i * dst_ld + j0 + j] =
            static_cast<int32_t>(static_cast<uint32_t>(src[(j0 + j) * src_ld + i]) + fix[j]);
      }
    }
  }
}

ByteMap plain_map(uint32_t mask, int bits, bool is_signed) {
  const uint8_t flip = sign_flip(mask, bits, is_signed);
  return {low_mask(mask, bits), flip, static_cast<uint8_t>(-flip), false};
}

WeightMap weight_map(uint32_t mask, int sign, int bits, bool is_signed) {
  int32_t lo = 0, hi = 0;
  for (int code = 0; code < (1 << bits); ++code) {
    const int32_t v = sign * masked_value(code, mask, bits, is_signed);
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  // A masked operand spans at most 2^bits - 1 <= 255, so one shift always fits.
  const int32_t offset = hi > 127 ? hi - 127 : (lo < -128 ? lo + 128 : 0);
  const uint8_t flip = sign_flip(mask, bits, is_signed);
  // sign +1: (x ^ flip) - flip - offset; sign -1: flip - offset - (x ^ flip).
  const int32_t add = sign > 0 ? -flip - offset : flip - offset;
  return {{low_mask(mask, bits), flip, static_cast<uint8_t>(add), sign < 0}, offset};
}

void check_exact_int8(const char* who) {
  const auto isa = static_cast<uint32_t>(dnnl::get_effective_cpu_isa());
  const bool vnni = (isa & static_cast<uint32_t>(dnnl::cpu_isa::avx512_core_vnni) &
                     ~static_cast<uint32_t>(dnnl::cpu_isa::avx512_core)) != 0 ||
                    (isa & static_cast<uint32_t>(dnnl::cpu_isa::avx2_vnni) &
                     ~static_cast<uint32_t>(dnnl::cpu_isa::avx2)) != 0;
  AXNN_CHECK(vnni,
             "{}: oneDNN's int8 ISA here (0x{:x}) has no VNNI or AMX, whose u8 x s8 pairs saturate "
             "to int16; use the LUT kernel",
             who, isa);
}

void check_terms(const ProductTerms& terms, const char* who) {
  AXNN_CHECK(terms.bits >= Multiplier::kMinBits && terms.bits <= Multiplier::kMaxBits,
             "{}: terms.bits = {} is outside {}..{}", who, terms.bits, Multiplier::kMinBits,
             Multiplier::kMaxBits);
  for (size_t g = 0; g < terms.terms.size(); ++g) {
    const ProductTerm& t = terms.terms[g];
    AXNN_CHECK(t.sign == 1 || t.sign == -1, "{}: terms[{}].sign = {}, expected +1 or -1", who, g,
               t.sign);
    AXNN_CHECK((t.a_mask >> terms.bits) == 0 && (t.b_mask >> terms.bits) == 0,
               "{}: terms[{}] masks 0x{:x}, 0x{:x} exceed {} bits", who, g, t.a_mask, t.b_mask,
               terms.bits);
  }
}

}  // namespace axnn::kernels::detail
