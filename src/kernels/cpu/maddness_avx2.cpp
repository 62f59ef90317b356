// AVX2 MADDness encode and decode: exactness first, speed second.
//
// Encode. 8 rows per vector. Per codebook and level, the split column of the 8 rows is one
// vgatherdps (row offsets lane * ldx, masked for the last rows); the node's threshold is picked
// from the 15 thresholds in two registers by two vpermps and a blend on bit 3 of the heap index;
// h = 2 h + 1 + (x > t) by an ordered compare (NaN and ties go left, as in the ref). The leaves
// of 4 codebooks are packed into one dword per row and stored row by row.
//
// Decode, int8 tables. Blocks of 128 rows, all M output columns per block. The codes are first
// transposed per block into Tc[codebook][128 rows] (16 x 16 byte transposes by four rounds of
// vpunpck{l,h}bw, low 4 bits only), so that one 32-byte vector holds one codebook's codes of 32
// rows, and vpshufb against the codebook's 16 entries u = e + 128 (one 16-byte table per output
// column, broadcast to both lanes) looks up 32 bytes. With averaging the 2^L members of a group
// are reduced by a vpavgb tree. The bytes are summed in 16-bit words as S1 += w and S2 += w >> 8
// (w = the two bytes of rows 2 i and 2 i + 1): for up to 256 groups the odd rows' sum is S2 and
// the even rows' (S1 - 256 S2) mod 2^16, both exact; they are widened into int32 every 256
// groups. The sum starts at -128 C / 2^L and is shifted left by L.
//
// Decode, fp32 tables. Per (m, codebook) 16 floats in two registers, looked up for 8 rows by two
// vpermps and a blend on bit 3 of the code (the index vectors, unpacked once per block, carry that
// bit in the sign), added in codebook order from 0.0f; blocks of 64 rows, 8 row groups per table
// load.
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/cpu/lut_gemm_impl.h"
#include "kernels/cpu/maddness_impl.h"

// Only this file's own code is compiled for AVX2, by this pragma rather than by -m flags: the
// library templates it instantiates keep the baseline ISA, so whichever copy of them the linker
// keeps still runs on any x86-64 CPU.
#pragma GCC push_options
#pragma GCC target("avx2,fma")

namespace axnn::kernels {
namespace {

constexpr int64_t kLanes = 8;        // rows per fp32 / int32 vector
constexpr int64_t kBlockRows = 128;  // int8 decode rows per block
constexpr int64_t kFp32Rows = 64;    // fp32 decode rows per block
constexpr int64_t kVectorRows = 32;  // rows per byte vector
constexpr int64_t kSpan = 256;       // groups whose 16-bit sums stay exact
constexpr int64_t kMaxIndex = int64_t{1} << 31;

// Lane mask of the first `rows` int32 lanes.
inline __m256i lane_mask(int64_t rows) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int32_t>(std::min(rows, kLanes))),
                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// ---- Encode.

class MaddnessEncoderAvx2 final : public MaddnessEncoder::Impl {
 public:
  explicit MaddnessEncoderAvx2(const MaddnessEncoderDesc& desc)
      : Impl(desc.d, desc.c),
        depth_(desc.depth),
        split_dims_(desc.split_dims.begin(), desc.split_dims.end()),
        thresholds_(make_aligned<float>(static_cast<size_t>(desc.c * 16))) {
    const int64_t nodes = (int64_t{1} << depth_) - 1;
    for (int64_t c = 0; c < desc.c; ++c)
      for (int64_t i = 0; i < 16; ++i)
        thresholds_[c * 16 + i] = i < nodes ? desc.thresholds[c * nodes + i] : 0.0f;
  }

  std::string_view name() const override { return "avx2"; }

  void encode(const float* x, int64_t n, int64_t ldx, uint8_t* codes,
              int64_t ldcodes) const override {
    const bool gather = (kLanes - 1) * ldx + d() < kMaxIndex;
    const __m256i offsets =
        _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                           _mm256_set1_epi32(gather ? static_cast<int32_t>(ldx) : 0));
    for (int64_t row0 = 0; row0 < n; row0 += kLanes) {
      const int64_t rows = std::min(kLanes, n - row0);
      const __m256 valid = _mm256_castsi256_ps(lane_mask(rows));
      const float* base = x + row0 * ldx;
      for (int64_t c0 = 0; c0 < c(); c0 += 4) {
        const int64_t width = std::min<int64_t>(4, c() - c0);
        __m256i packed = _mm256_setzero_si256();
        for (int64_t j = 0; j < width; ++j) {
          const __m256i leaf = gather ? leaves<true>(base, ldx, offsets, valid, rows, c0 + j)
                                      : leaves<false>(base, ldx, offsets, valid, rows, c0 + j);
          packed = _mm256_or_si256(
              packed, _mm256_sllv_epi32(leaf, _mm256_set1_epi32(8 * static_cast<int>(j))));
        }
        alignas(32) uint32_t out[kLanes];
        _mm256_store_si256(reinterpret_cast<__m256i*>(out), packed);
        for (int64_t r = 0; r < rows; ++r)
          std::memcpy(codes + (row0 + r) * ldcodes + c0, &out[r], static_cast<size_t>(width));
      }
    }
  }

 private:
  // The leaf index of codebook c for the block's rows (lanes past `rows` are garbage).
  template <bool kGather>
  __m256i leaves(const float* base, int64_t ldx, __m256i offsets, __m256 valid, int64_t rows,
                 int64_t c) const {
    const __m256 low = _mm256_load_ps(thresholds_.get() + c * 16);
    const __m256 high = _mm256_load_ps(thresholds_.get() + c * 16 + 8);
    const __m256i one = _mm256_set1_epi32(1);
    __m256i node = _mm256_setzero_si256();
    for (int l = 0; l < depth_; ++l) {
      const int32_t dim = split_dims_[c * depth_ + l];
      __m256 v;
      if constexpr (kGather) {
        v = _mm256_mask_i32gather_ps(_mm256_setzero_ps(), base,
                                     _mm256_add_epi32(offsets, _mm256_set1_epi32(dim)), valid, 4);
      } else {
        // Row offsets past int32: load the column one row at a time.
        alignas(32) float column[kLanes] = {};
        for (int64_t r = 0; r < rows; ++r) column[r] = base[r * ldx + dim];
        v = _mm256_load_ps(column);
      }
      const __m256 t = _mm256_blendv_ps(_mm256_permutevar8x32_ps(low, node),
                                        _mm256_permutevar8x32_ps(high, node),
                                        _mm256_castsi256_ps(_mm256_slli_epi32(node, 28)));
      const __m256i right = _mm256_castps_si256(_mm256_cmp_ps(v, t, _CMP_GT_OQ));  // -1 or 0
      node = _mm256_sub_epi32(_mm256_add_epi32(_mm256_add_epi32(node, node), one), right);
    }
    return _mm256_sub_epi32(node, _mm256_set1_epi32((1 << depth_) - 1));
  }

  int depth_;
  std::vector<int32_t> split_dims_;
  AlignedBuffer<float> thresholds_;  // [c][16], heap order, padded
};

// ---- Decode.

// The 16 x 16 byte transposes of two row groups at once (one per 128-bit lane): x[i] holds row i
// of each, and afterwards x[c] holds column c of each.
inline void transpose_16x16(__m256i x[16]) {
  for (int round = 0; round < 4; ++round) {
    __m256i y[16];
    for (int i = 0; i < 8; ++i) {
      y[2 * i] = _mm256_unpacklo_epi8(x[i], x[i + 8]);
      y[2 * i + 1] = _mm256_unpackhi_epi8(x[i], x[i + 8]);
    }
    std::copy(y, y + 16, x);
  }
}

// The vpavgb tree over the kS members of one group: tables[t] are the members' 16-byte tables,
// codes[t] their Tc vectors.
template <int kS>
inline __m256i group_average(const uint8_t* table, const uint8_t* codes, int t0 = 0) {
  if constexpr (kS == 1) {
    const __m256i t = _mm256_broadcastsi128_si256(
        _mm_load_si128(reinterpret_cast<const __m128i*>(table + 16 * t0)));
    return _mm256_shuffle_epi8(
        t, _mm256_load_si256(reinterpret_cast<const __m256i*>(codes + kBlockRows * t0)));
  } else {
    return _mm256_avg_epu8(group_average<kS / 2>(table, codes, t0),
                           group_average<kS / 2>(table, codes, t0 + kS / 2));
  }
}

class MaddnessDecoderAvx2 final : public MaddnessDecoder::Impl {
 public:
  explicit MaddnessDecoderAvx2(const MaddnessDecoderDesc& desc)
      : Impl(desc.c, desc.m, !desc.lut_fp32.empty()), levels_(desc.average_levels) {
    // [m][c][16]
    const size_t entries = static_cast<size_t>(m() * c() * 16);
    if (fp32()) {
      tables_f_ = make_aligned<float>(entries);
      for (int64_t j = 0; j < m(); ++j)
        for (int64_t cb = 0; cb < c(); ++cb)
          for (int64_t e = 0; e < 16; ++e)
            tables_f_[(j * c() + cb) * 16 + e] = desc.lut_fp32[(cb * 16 + e) * m() + j];
    } else {
      tables_ = make_aligned<uint8_t>(entries);
      for (int64_t j = 0; j < m(); ++j)
        for (int64_t cb = 0; cb < c(); ++cb)
          for (int64_t e = 0; e < 16; ++e)
            tables_[(j * c() + cb) * 16 + e] =
                static_cast<uint8_t>(desc.lut_int8[(cb * 16 + e) * m() + j] + 128);
    }
  }

  std::string_view name() const override { return "avx2"; }

  // Tc, then for fp32 the index vectors (8 dwords per 8 rows and codebook).
  int64_t scratch_bytes() const override { return fp32() ? kFp32Rows * 5 * c() : kBlockRows * c(); }

  void decode(const uint8_t* codes, int64_t n, int64_t ldcodes, int32_t* dst, int64_t ldd,
              uint8_t* scratch) const override {
    switch (levels_) {
      case 0:
        return decode_int8<1>(codes, n, ldcodes, dst, ldd, scratch);
      case 1:
        return decode_int8<2>(codes, n, ldcodes, dst, ldd, scratch);
      case 2:
        return decode_int8<4>(codes, n, ldcodes, dst, ldd, scratch);
      case 3:
        return decode_int8<8>(codes, n, ldcodes, dst, ldd, scratch);
      default:
        return decode_int8<16>(codes, n, ldcodes, dst, ldd, scratch);
    }
  }

  void decode(const uint8_t* codes, int64_t n, int64_t ldcodes, float* dst, int64_t ldd,
              uint8_t* scratch) const override {
    constexpr int kGroups = kFp32Rows / kLanes;
    uint8_t* tc = scratch;
    uint8_t* idx = scratch + kFp32Rows * c();
    for (int64_t row0 = 0; row0 < n; row0 += kFp32Rows) {
      const int64_t rows = std::min(kFp32Rows, n - row0);
      transpose_codes(codes + row0 * ldcodes, rows, ldcodes, kFp32Rows, tc);
      // [c][row group of 8]: code | code << 28, the vpermps index with bit 3 in the sign.
      for (int64_t i = 0; i < kFp32Rows * c(); i += kLanes) {
        const __m256i code =
            _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(tc + i)));
        _mm256_store_si256(reinterpret_cast<__m256i*>(idx + 4 * i),
                           _mm256_or_si256(code, _mm256_slli_epi32(code, 28)));
      }
      const int64_t groups = (rows + kLanes - 1) / kLanes;
      for (int64_t j = 0; j < m(); ++j) {
        const float* table = tables_f_.get() + j * c() * 16;
        __m256 acc[kGroups];
        for (__m256& a : acc) a = _mm256_setzero_ps();
        for (int64_t cb = 0; cb < c(); ++cb) {
          const __m256 low = _mm256_load_ps(table + cb * 16);
          const __m256 high = _mm256_load_ps(table + cb * 16 + 8);
          const uint8_t* ix = idx + cb * kFp32Rows * 4;
          for (int g = 0; g < kGroups; ++g) {
            const __m256i index = _mm256_load_si256(reinterpret_cast<const __m256i*>(ix + 32 * g));
            acc[g] = _mm256_add_ps(acc[g], _mm256_blendv_ps(_mm256_permutevar8x32_ps(low, index),
                                                            _mm256_permutevar8x32_ps(high, index),
                                                            _mm256_castsi256_ps(index)));
          }
        }
        float* out = dst + j * ldd + row0;
        for (int64_t g = 0; g < groups; ++g)
          _mm256_maskstore_ps(out + g * kLanes, lane_mask(rows - g * kLanes), acc[g]);
      }
    }
  }

 private:
  // Tc[codebook][block_rows] = the low 4 bits of the codes of `rows` rows (rows past them are 0).
  void transpose_codes(const uint8_t* codes, int64_t rows, int64_t ldcodes, int64_t block_rows,
                       uint8_t* tc) const {
    const __m256i low4 = _mm256_set1_epi8(15);
    for (int64_t half = 0; half < block_rows / kVectorRows; ++half)
      for (int64_t c0 = 0; c0 < c(); c0 += 16) {
        const int64_t width = std::min<int64_t>(16, c() - c0);
        __m256i x[16];
        for (int64_t i = 0; i < 16; ++i) {
          __m128i lanes[2];
          for (int64_t lane = 0; lane < 2; ++lane) {
            const int64_t r = kVectorRows * half + 16 * lane + i;
            if (r >= rows) {
              lanes[lane] = _mm_setzero_si128();
            } else if (width == 16) {
              lanes[lane] =
                  _mm_loadu_si128(reinterpret_cast<const __m128i*>(codes + r * ldcodes + c0));
            } else {  // the last codebooks: no read past the row
              alignas(16) uint8_t row[16] = {};
              std::memcpy(row, codes + r * ldcodes + c0, static_cast<size_t>(width));
              lanes[lane] = _mm_load_si128(reinterpret_cast<const __m128i*>(row));
            }
          }
          x[i] = _mm256_set_m128i(lanes[1], lanes[0]);
        }
        transpose_16x16(x);
        for (int64_t j = 0; j < width; ++j)
          _mm256_store_si256(
              reinterpret_cast<__m256i*>(tc + (c0 + j) * block_rows + kVectorRows * half),
              _mm256_and_si256(x[j], low4));
      }
  }

  template <int kS>
  void decode_int8(const uint8_t* codes, int64_t n, int64_t ldcodes, int32_t* dst, int64_t ldd,
                   uint8_t* scratch) const {
    constexpr int kVectors = kBlockRows / kVectorRows;
    constexpr int kShift = kS == 1 ? 0 : kS == 2 ? 1 : kS == 4 ? 2 : kS == 8 ? 3 : 4;
    uint8_t* tc = scratch;
    const int64_t groups = c() / kS;
    for (int64_t row0 = 0; row0 < n; row0 += kBlockRows) {
      const int64_t rows = std::min(kBlockRows, n - row0);
      transpose_codes(codes + row0 * ldcodes, rows, ldcodes, kBlockRows, tc);
      for (int64_t j = 0; j < m(); ++j) {
        const uint8_t* table = tables_.get() + j * c() * 16;
        int32_t* out = dst + j * ldd + row0;
        // int32 sums of the spans before the last, [row]; unused for up to kSpan groups.
        alignas(32) int32_t part[kBlockRows];
        for (int64_t g0 = 0; g0 < groups; g0 += kSpan) {
          const int64_t g1 = std::min(groups, g0 + kSpan);
          __m256i s1[kVectors], s2[kVectors];
          for (int v = 0; v < kVectors; ++v) s1[v] = s2[v] = _mm256_setzero_si256();
          const auto step = [&](int64_t g) {
            for (int v = 0; v < kVectors; ++v) {
              const __m256i w = group_average<kS>(table + 16 * kS * g,
                                                  tc + kBlockRows * kS * g + kVectorRows * v);
              s1[v] = _mm256_add_epi16(s1[v], w);
              s2[v] = _mm256_add_epi16(s2[v], _mm256_srli_epi16(w, 8));
            }
          };
          // Two groups per iteration: no register copies of the sums around the loop.
          int64_t g = g0;
          for (; g + 2 <= g1; g += 2) {
            step(g);
            step(g + 1);
          }
          if (g < g1) step(g);
          const bool first = g0 == 0, last = g1 == groups;
          for (int v = 0; v < kVectors; ++v) {
            __m256i sums[4];
            widen(s1[v], s2[v], sums);
            for (int i = 0; i < 4; ++i) {
              const int64_t r = kVectorRows * v + kLanes * i;
              int32_t* p = part + r;
              __m256i total = _mm256_add_epi32(
                  sums[i], first ? _mm256_set1_epi32(static_cast<int32_t>(-128 * groups))
                                 : _mm256_load_si256(reinterpret_cast<const __m256i*>(p)));
              if (!last) {
                _mm256_store_si256(reinterpret_cast<__m256i*>(p), total);
              } else if (r < rows) {
                total = _mm256_slli_epi32(total, kShift);
                if (r + kLanes <= rows)
                  _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + r), total);
                else
                  _mm256_maskstore_epi32(out + r, lane_mask(rows - r), total);
              }
            }
          }
        }
      }
    }
  }

  // The exact byte sums behind (s1, s2) as int32: rows 0-7, 8-15, 16-23, 24-31 of a vector.
  static void widen(__m256i s1, __m256i s2, __m256i sums[4]) {
    const __m256i even = _mm256_sub_epi16(s1, _mm256_slli_epi16(s2, 8));
    // Per lane: rows 0-7 and 8-15 of the lane as words.
    const __m256i a = _mm256_unpacklo_epi16(even, s2), b = _mm256_unpackhi_epi16(even, s2);
    sums[0] = _mm256_cvtepu16_epi32(_mm256_castsi256_si128(a));
    sums[1] = _mm256_cvtepu16_epi32(_mm256_castsi256_si128(b));
    sums[2] = _mm256_cvtepu16_epi32(_mm256_extracti128_si256(a, 1));
    sums[3] = _mm256_cvtepu16_epi32(_mm256_extracti128_si256(b, 1));
  }

  int levels_;
  AlignedBuffer<uint8_t> tables_;  // int8: [m][c][16], u = e + 128
  AlignedBuffer<float> tables_f_;  // fp32: [m][c][16]
};

}  // namespace

std::shared_ptr<const MaddnessEncoder::Impl> make_maddness_encoder_avx2(
    const MaddnessEncoderDesc& desc) {
  return std::make_shared<const MaddnessEncoderAvx2>(desc);
}

std::shared_ptr<const MaddnessDecoder::Impl> make_maddness_decoder_avx2(
    const MaddnessDecoderDesc& desc) {
  return std::make_shared<const MaddnessDecoderAvx2>(desc);
}

}  // namespace axnn::kernels

#pragma GCC pop_options
