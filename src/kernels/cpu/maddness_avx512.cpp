// AVX-512 (F, BW, VL, VBMI; VNNI where present) MADDness encode and decode.
//
// Encode. 16 rows per vector. Per codebook and level, the split column of the 16 rows is one
// vgatherdps (row offsets lane * ldx, masked for the last rows), the node's threshold one vpermps
// of the heap index from the codebook's 15 thresholds in one register, and the step
// h = 2 h + 1 + (x > t) one ordered compare (NaN and ties go left, as in the ref) and a masked add.
// The leaves of 4 codebooks are packed into one dword per row; a 4 x 4 transpose of 4-dword
// blocks (8 vpermt2d) turns 16 codebooks of 16 rows into rows of 16 code bytes, stored with a byte
// mask for the last codebooks.
//
// Decode, int8 tables. dst is M x N, so rows of codes live in SIMD lanes: blocks of 128 rows
// (8 vectors of 16 int32 sums per output column), all M output columns per block. The codes are
// first transposed per block into Tc[row group of 16][codebook][16 rows] (vpermb and 8 vpermt2d
// per 16 x 16 codes, low 4 bits only), then packed once into index vectors that serve every m. An
// index vector's byte 4 r + b is 16 slot + code, and vpermb(index, table) looks up 64 bytes
// u = e + 128 from a 64-byte table of 4 codebooks x 16 entries for one output column; vpdpbusd
// against 0/1 weights adds the 4 bytes of each dword into an int32 lane exactly. Per 64 lookups:
// one vpermb (port 5, the bound) and, for the exact sum, one vpdpbusd. Output columns go in pairs
// (exact sums), so each index load serves two vpermb and each table load eight; the chunk loop
// is unrolled by two so that the 16 accumulators stay in place (measured: an index load per
// vpermb, or register copies of the accumulators, cost a third of the speed). A thread's output
// larger than its L2 is written with streaming stores where dst and ldd keep them aligned.
// The codebooks are cut into chunks of K = 4, 2 or 1 averaging groups (2^L codebooks each; for
// the exact sum L = 0 and a group is one codebook): with K = 4 the 4 bytes of lane r are 4 groups
// of row r, with K = 2 two groups of two rows, with K = 1 one group of 4 rows 16 apart; the
// weights pick the bytes of each row. Chunks of 4 first, then at most one of 2 and one of 1, so no
// codebook is padded. With averaging, the 2^L members of a group are looked up in 2^L vectors and
// reduced by a vpavgb tree (pairs (0, 1), (2, 3), ... at every level), one output column at a
// time (2^L tables per chunk), and the sum starts at -128 C / 2^L and is shifted left by L.
// Without VNNI the dword sums are vpmaddubsw + vpmaddwd (exact: at most 2 x 255 per word).
//
// Decode, fp32 tables. Per (m, codebook) a 16-float table, looked up by vpermps with the codes of
// 16 rows as dword indices (unpacked once per block from Tc) and added in codebook order from
// 0.0f; 8 row groups and 2 output columns per codebook step.
//
// Threads: the dispatcher hands each thread a contiguous row range and scratch for Tc and the
// index vectors of one block.

// GCC 12 warns inside its own AVX-512 headers, whose intrinsics pass _mm512_undefined_* as the
// unused merge source (GCC PR 105593); the diagnostic is a false positive.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#include <unistd.h>

#include <algorithm>
#include <vector>

#include "kernels/cpu/lut_gemm_impl.h"
#include "kernels/cpu/maddness_impl.h"

// Only this file's own code is compiled for AVX-512, by this pragma rather than by -m flags: the
// library templates it instantiates keep the baseline ISA, so whichever copy of them the linker
// keeps still runs on any x86-64 CPU. VNNI is not part of the kAvx512 level: its one instruction
// is written as inline assembly (dot4) and runs only where the CPU has it.
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512vbmi")

namespace axnn::kernels {
namespace {

constexpr int64_t kLanes = 16;  // rows per vector (int32 / fp32 lanes)
constexpr int64_t kMaxIndex = int64_t{1} << 31;

// Index vectors for the 4 x 4 transpose of 4-dword blocks (see transpose_blocks).
struct TransposeIndex {
  __m512i first[2];   // level 1, by output pair p
  __m512i second[2];  // level 2, by position qq in the pair
};

TransposeIndex make_transpose_index() {
  // Level 1: dword 8 qq + 4 aa + x of pair p = in[aa (+2)] dword 4 (2 p + qq) + x. Level 2:
  // out[2 p + qq] dword 4 x + a = level-1 dword 8 qq + 4 (a % 2) + x of the first (a < 2) or the
  // second (a >= 2) level-1 vector.
  alignas(64) int32_t first[2][16], second[2][16];
  for (int p = 0; p < 2; ++p)
    for (int qq = 0; qq < 2; ++qq)
      for (int x = 0; x < 4; ++x)
        for (int a = 0; a < 4; ++a) {
          if (a < 2) first[p][8 * qq + 4 * a + x] = 16 * a + 4 * (2 * p + qq) + x;
          second[qq][4 * x + a] = 16 * (a / 2) + 8 * qq + 4 * (a % 2) + x;
        }
  TransposeIndex out;
  for (int i = 0; i < 2; ++i) {
    out.first[i] = _mm512_load_si512(first[i]);
    out.second[i] = _mm512_load_si512(second[i]);
  }
  return out;
}

// out[q] dword 4 x + a = in[a] dword 4 q + x, for q, x, a in 0..3.
inline void transpose_blocks(const TransposeIndex& ti, const __m512i in[4], __m512i out[4]) {
  for (int p = 0; p < 2; ++p) {
    const __m512i a = _mm512_permutex2var_epi32(in[0], ti.first[p], in[1]);
    const __m512i b = _mm512_permutex2var_epi32(in[2], ti.first[p], in[3]);
    out[2 * p] = _mm512_permutex2var_epi32(a, ti.second[0], b);
    out[2 * p + 1] = _mm512_permutex2var_epi32(a, ti.second[1], b);
  }
}

// vpermb indices taking byte 16 i + j of 4 segments to byte 4 j + i.
alignas(64) constexpr uint8_t kInterleave4[64] = {
    0,  16, 32, 48, 1,  17, 33, 49, 2,  18, 34, 50, 3,  19, 35, 51, 4,  20, 36, 52, 5,  21,
    37, 53, 6,  22, 38, 54, 7,  23, 39, 55, 8,  24, 40, 56, 9,  25, 41, 57, 10, 26, 42, 58,
    11, 27, 43, 59, 12, 28, 44, 60, 13, 29, 45, 61, 14, 30, 46, 62, 15, 31, 47, 63};

inline __mmask16 lane_mask(int64_t rows) {
  if (rows <= 0) return 0;
  return rows >= kLanes ? __mmask16(0xFFFF) : static_cast<__mmask16>((1u << rows) - 1);
}

// ---- Encode.

class MaddnessEncoderAvx512 final : public MaddnessEncoder::Impl {
 public:
  explicit MaddnessEncoderAvx512(const MaddnessEncoderDesc& desc)
      : Impl(desc.d, desc.c),
        depth_(desc.depth),
        split_dims_(desc.split_dims.begin(), desc.split_dims.end()),
        thresholds_(make_aligned<float>(static_cast<size_t>(desc.c * kLanes))) {
    const int64_t nodes = (int64_t{1} << depth_) - 1;
    for (int64_t c = 0; c < desc.c; ++c)
      for (int64_t i = 0; i < kLanes; ++i)
        thresholds_[c * kLanes + i] = i < nodes ? desc.thresholds[c * nodes + i] : 0.0f;
  }

  std::string_view name() const override { return "avx512"; }

  void encode(const float* x, int64_t n, int64_t ldx, uint8_t* codes,
              int64_t ldcodes) const override {
    const TransposeIndex ti = make_transpose_index();
    // Gather offsets are int32 element indices from the block's first row.
    const bool gather = (kLanes - 1) * ldx + d() < kMaxIndex;
    const __m512i offsets =
        _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                           _mm512_set1_epi32(gather ? static_cast<int32_t>(ldx) : 0));
    for (int64_t row0 = 0; row0 < n; row0 += kLanes) {
      const int64_t rows = std::min(kLanes, n - row0);
      const __mmask16 valid = lane_mask(rows);
      const float* base = x + row0 * ldx;
      for (int64_t c0 = 0; c0 < c(); c0 += kLanes) {
        const int64_t width = std::min(kLanes, c() - c0);
        __m512i packed[4] = {_mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512(),
                             _mm512_setzero_si512()};
        for (int64_t j = 0; j < width; ++j) {
          const __m512i leaf = gather ? leaves<true>(base, ldx, offsets, valid, rows, c0 + j)
                                      : leaves<false>(base, ldx, offsets, valid, rows, c0 + j);
          packed[j / 4] = _mm512_or_si512(
              packed[j / 4],
              _mm512_sllv_epi32(leaf, _mm512_set1_epi32(8 * static_cast<int>(j % 4))));
        }
        __m512i out[4];
        transpose_blocks(ti, packed, out);
        // out[a] holds rows 4 a .. 4 a + 3, 16 code bytes each.
        const __mmask16 bytes = lane_mask(width);
        for (int64_t r = 0; r < rows; ++r)
          _mm_mask_storeu_epi8(codes + (row0 + r) * ldcodes + c0, bytes,
                               lane128(out[r / 4], r % 4));
      }
    }
  }

 private:
  // 128-bit lane `lane` of v (vextracti32x4 takes an immediate).
  static __m128i lane128(__m512i v, int64_t lane) {
    switch (lane) {
      case 0:
        return _mm512_castsi512_si128(v);
      case 1:
        return _mm512_extracti32x4_epi32(v, 1);
      case 2:
        return _mm512_extracti32x4_epi32(v, 2);
      default:
        return _mm512_extracti32x4_epi32(v, 3);
    }
  }

  // The leaf index of codebook c for the block's rows (lanes past `rows` are garbage).
  template <bool kGather>
  __m512i leaves(const float* base, int64_t ldx, __m512i offsets, __mmask16 valid, int64_t rows,
                 int64_t c) const {
    const __m512 thresholds = _mm512_load_ps(thresholds_.get() + c * kLanes);
    const __m512i one = _mm512_set1_epi32(1);
    __m512i node = _mm512_setzero_si512();
    for (int l = 0; l < depth_; ++l) {
      const int32_t dim = split_dims_[c * depth_ + l];
      __m512 v;
      if constexpr (kGather) {
        v = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), valid,
                                     _mm512_add_epi32(offsets, _mm512_set1_epi32(dim)), base, 4);
      } else {
        // Row offsets past int32: load the column one row at a time.
        alignas(64) float column[kLanes] = {};
        for (int64_t r = 0; r < rows; ++r) column[r] = base[r * ldx + dim];
        v = _mm512_load_ps(column);
      }
      const __m512 t = _mm512_permutexvar_ps(node, thresholds);
      const __mmask16 right = _mm512_cmp_ps_mask(v, t, _CMP_GT_OQ);
      node = _mm512_add_epi32(_mm512_add_epi32(node, node), one);
      node = _mm512_mask_add_epi32(node, right, node, one);
    }
    return _mm512_sub_epi32(node, _mm512_set1_epi32((1 << depth_) - 1));
  }

  int depth_;
  std::vector<int32_t> split_dims_;
  AlignedBuffer<float> thresholds_;  // [c][16], heap order, padded
};

// ---- Decode.

constexpr int kRowGroups = 8;  // int8: row groups of 16 per block, the accumulators of a column
constexpr int64_t kBlockRows = kLanes * kRowGroups;
constexpr int kFp32RowGroups = 8;  // fp32: row groups per block
constexpr int kTileColumns = 2;    // int8 exact sums: output columns sharing the index vectors

// A thread's output larger than its L2 is written with streaming stores: beyond L2 every line
// costs a read for ownership and a write-back to L3 (measured on Sapphire Rapids: 1 MB 2x faster
// through the caches, 4 MB 1.6x faster streamed, more with power-of-2 row strides).
double stream_bytes() {
  static const double bytes = [] {
    const long l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
    return l2 > 0 ? double(l2) : double(1 << 20);
  }();
  return bytes;
}

// A run of K averaging groups (K * 2^L codebooks) sharing index vectors and tables.
struct Chunk {
  int k;           // groups: 4, 2 or 1
  int64_t group0;  // first group
};

// Tables per chunk: each 64-byte table holds 4 codebooks, 4 / K members of each of K groups.
constexpr int chunk_tables(int k, int s) { return (s * k + 3) / 4; }

// acc += the sums of the 4 bytes of each dword of u (unsigned) times w (0 or 1).
template <bool kVnni>
inline __m512i dot4(__m512i acc, __m512i u, __m512i w) {
  if constexpr (kVnni) {
    asm("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(u), "v"(w));
    return acc;
  } else {
    return _mm512_add_epi32(acc,
                            _mm512_madd_epi16(_mm512_maddubs_epi16(u, w), _mm512_set1_epi16(1)));
  }
}

// The vpavgb tree over the kS members (index vectors idx[0 .. kS)) of one group vector.
template <int kS, int kPerTable>
inline __m512i group_average(const uint8_t* idx, const __m512i* tables, int t0 = 0) {
  if constexpr (kS == 1) {
    return _mm512_permutexvar_epi8(_mm512_load_si512(idx + 64 * t0), tables[t0 / kPerTable]);
  } else {
    return _mm512_avg_epu8(group_average<kS / 2, kPerTable>(idx, tables, t0),
                           group_average<kS / 2, kPerTable>(idx, tables, t0 + kS / 2));
  }
}

// The row groups of one output column += the dword sums of vector v of a chunk of K groups: with
// K = 4 vector v is row group v, with K = 2 row groups 2 v and 2 v + 1 (bytes 0-1 and 2-3), with
// K = 1 row group 4 v + b in byte b.
template <int kK, bool kVnni>
inline void accumulate(__m512i (&acc)[kRowGroups], int v, __m512i sums) {
  if constexpr (kK == 4) {
    acc[v] = dot4<kVnni>(acc[v], sums, _mm512_set1_epi32(0x01010101));
  } else if constexpr (kK == 2) {
    acc[2 * v] = dot4<kVnni>(acc[2 * v], sums, _mm512_set1_epi32(0x00000101));
    acc[2 * v + 1] = dot4<kVnni>(acc[2 * v + 1], sums, _mm512_set1_epi32(0x01010000));
  } else {
#pragma GCC unroll 4
    for (int h = 0; h < 4; ++h)
      acc[4 * v + h] = dot4<kVnni>(acc[4 * v + h], sums, _mm512_set1_epi32(1 << (8 * h)));
  }
}

// One chunk of K groups of kS members into the accumulators of kT output columns, whose tables
// are `stride` bytes apart; idx holds the chunk's index vectors [vector v < kRowGroups K / 4]
// [member t < kS], each loaded once for all kT columns.
template <int kK, int kS, int kT, bool kVnni>
inline void chunk_int8(const uint8_t* table, int64_t stride, const uint8_t* idx,
                       __m512i (&acc)[kT][kRowGroups]) {
  constexpr int kPerTable = 4 / kK;
  constexpr int kTables = chunk_tables(kK, kS);
  __m512i tables[kT][kTables];
#pragma GCC unroll 16
  for (int t = 0; t < kT; ++t)
#pragma GCC unroll 16
    for (int i = 0; i < kTables; ++i) tables[t][i] = _mm512_load_si512(table + t * stride + 64 * i);
#pragma GCC unroll 8
  for (int v = 0; v < kRowGroups * kK / 4; ++v)
#pragma GCC unroll 4
    for (int t = 0; t < kT; ++t)
      accumulate<kK, kVnni>(acc[t], v, group_average<kS, kPerTable>(idx + 64 * kS * v, tables[t]));
}

class MaddnessDecoderAvx512 final : public MaddnessDecoder::Impl {
 public:
  MaddnessDecoderAvx512(const MaddnessDecoderDesc& desc, bool vnni)
      : Impl(desc.c, desc.m, !desc.lut_fp32.empty()),
        levels_(desc.average_levels),
        vnni_(vnni),
        c16_((desc.c + kLanes - 1) / kLanes * kLanes) {
    if (fp32()) {
      // [m][c][16]
      tables_f_ = make_aligned<float>(static_cast<size_t>(m() * c() * kLanes));
      for (int64_t j = 0; j < m(); ++j)
        for (int64_t c = 0; c < desc.c; ++c)
          for (int64_t e = 0; e < kLanes; ++e)
            tables_f_[(j * desc.c + c) * kLanes + e] = desc.lut_fp32[(c * kLanes + e) * m() + j];
      return;
    }
    const int s = 1 << levels_;
    const int64_t groups = desc.c / s;
    for (int64_t g = 0; g < groups;) {
      const int k = groups - g >= 4 ? 4 : groups - g >= 2 ? 2 : 1;
      chunks_.push_back({k, g});
      (k == 4 ? quads_ : k == 2 ? pair_ : single_) += 1;
      table_stride_ += 64 * chunk_tables(k, s);
      g += k;
    }
    make_plans();
    // [m][chunk][table][slot][16]: slot = (t % (4 / K)) K + j holds member t of group j.
    tables_ = make_aligned<uint8_t>(static_cast<size_t>(m() * table_stride_));
    std::fill_n(tables_.get(), m() * table_stride_, uint8_t{0});
    for (int64_t j = 0; j < m(); ++j) {
      uint8_t* dst = tables_.get() + j * table_stride_;
      for (const Chunk& chunk : chunks_) {
        const int per_table = 4 / chunk.k;
        for (int t = 0; t < s; ++t)
          for (int g = 0; g < chunk.k; ++g) {
            const int64_t c = (chunk.group0 + g) * s + t;
            const int slot = (t % per_table) * chunk.k + g;
            uint8_t* table = dst + 64 * (t / per_table) + 16 * slot;
            for (int64_t e = 0; e < kLanes; ++e)
              table[e] = static_cast<uint8_t>(desc.lut_int8[(c * kLanes + e) * m() + j] + 128);
          }
        dst += 64 * chunk_tables(chunk.k, s);
      }
    }
  }

  std::string_view name() const override { return "avx512"; }

  // Tc, then the index vectors (int8: one byte per row and codebook; fp32: 16 dwords per row group
  // and codebook).
  int64_t scratch_bytes() const override {
    return fp32() ? kLanes * kFp32RowGroups * (c16_ + 4 * c()) : kBlockRows * (c16_ + c());
  }

  void decode(const uint8_t* codes, int64_t n, int64_t ldcodes, int32_t* dst, int64_t ldd,
              uint8_t* scratch) const override {
    switch (levels_) {
      case 0:
        return vnni_ ? decode_int8<1, true>(codes, n, ldcodes, dst, ldd, scratch)
                     : decode_int8<1, false>(codes, n, ldcodes, dst, ldd, scratch);
      case 1:
        return vnni_ ? decode_int8<2, true>(codes, n, ldcodes, dst, ldd, scratch)
                     : decode_int8<2, false>(codes, n, ldcodes, dst, ldd, scratch);
      case 2:
        return vnni_ ? decode_int8<4, true>(codes, n, ldcodes, dst, ldd, scratch)
                     : decode_int8<4, false>(codes, n, ldcodes, dst, ldd, scratch);
      case 3:
        return vnni_ ? decode_int8<8, true>(codes, n, ldcodes, dst, ldd, scratch)
                     : decode_int8<8, false>(codes, n, ldcodes, dst, ldd, scratch);
      default:
        return vnni_ ? decode_int8<16, true>(codes, n, ldcodes, dst, ldd, scratch)
                     : decode_int8<16, false>(codes, n, ldcodes, dst, ldd, scratch);
    }
  }

  void decode(const uint8_t* codes, int64_t n, int64_t ldcodes, float* dst, int64_t ldd,
              uint8_t* scratch) const override {
    constexpr int64_t kRows = kLanes * kFp32RowGroups;
    uint8_t* tc = scratch;
    uint8_t* idx = scratch + kRows * c16_;
    for (int64_t row0 = 0; row0 < n; row0 += kRows) {
      const int64_t rows = std::min(kRows, n - row0);
      transpose_codes(codes + row0 * ldcodes, rows, ldcodes, kFp32RowGroups, tc);
      // [c][row group]: the 16 codes as dword indices.
      for (int64_t cb = 0; cb < c(); ++cb)
        for (int rg = 0; rg < kFp32RowGroups; ++rg)
          _mm512_store_si512(idx + (cb * kFp32RowGroups + rg) * 64,
                             _mm512_cvtepu8_epi32(_mm_load_si128(reinterpret_cast<const __m128i*>(
                                 tc + (rg * c16_ + cb) * kLanes))));
      int64_t j = 0;
      for (; j + kTileColumns <= m(); j += kTileColumns)
        decode_tile_fp32<kTileColumns>(idx, j, rows, dst + row0, ldd);
      for (; j < m(); ++j) decode_tile_fp32<1>(idx, j, rows, dst + row0, ldd);
    }
  }

 private:
  // Tc[row group < groups][codebook < c16][16 rows] = the low 4 bits of the codes of `rows` rows
  // (rows past them are 0).
  void transpose_codes(const uint8_t* codes, int64_t rows, int64_t ldcodes, int groups,
                       uint8_t* tc) const {
    const TransposeIndex& ti = transpose_index();
    // Byte 16 i + c of 4 rows -> byte 4 c + i: dword c holds codebook c of the 4 rows.
    const __m512i interleave = _mm512_load_si512(kInterleave4);
    const __m512i low4 = _mm512_set1_epi8(15);
    for (int rg = 0; rg < groups; ++rg)
      for (int64_t c0 = 0; c0 < c(); c0 += kLanes) {
        const __mmask16 width = lane_mask(c() - c0);
        __m512i quads[4];
        for (int a = 0; a < 4; ++a) {
          __m512i q = _mm512_setzero_si512();
          for (int i = 0; i < 4; ++i) {
            const int64_t r = rg * kLanes + 4 * a + i;
            if (r >= rows) break;
            const __m128i row = _mm_maskz_loadu_epi8(width, codes + r * ldcodes + c0);
            q = _mm512_mask_broadcast_i32x4(q, static_cast<__mmask16>(0xF << (4 * i)), row);
          }
          quads[a] = _mm512_permutexvar_epi8(interleave, q);
        }
        __m512i out[4];
        transpose_blocks(ti, quads, out);
        for (int q = 0; q < 4; ++q)
          _mm512_store_si512(tc + (rg * c16_ + c0 + 4 * q) * kLanes,
                             _mm512_and_si512(out[q], low4));
      }
  }

  static const TransposeIndex& transpose_index() {
    static const TransposeIndex ti = make_transpose_index();
    return ti;
  }

  template <int kS, bool kVnni>
  void decode_int8(const uint8_t* codes, int64_t n, int64_t ldcodes, int32_t* dst, int64_t ldd,
                   uint8_t* scratch) const {
    // Exact sums share each index vector between kTileColumns columns; averaged ones, with 2^L
    // tables per chunk and column, take one column at a time.
    constexpr int kT = kS == 1 ? kTileColumns : 1;
    uint8_t* tc = scratch;
    uint8_t* idx = scratch + kBlockRows * c16_;
    // Streamed where the stores can be aligned: whole blocks start at multiples of 64 bytes when
    // dst and ldd allow.
    const bool stream = double(m()) * double(n) * 4 > stream_bytes() &&
                        reinterpret_cast<uintptr_t>(dst) % 64 == 0 && ldd % kLanes == 0;
    for (int64_t row0 = 0; row0 < n; row0 += kBlockRows) {
      const int64_t rows = std::min(kBlockRows, n - row0);
      transpose_codes(codes + row0 * ldcodes, rows, ldcodes, kRowGroups, tc);
      pack_indices(tc, idx);
      int64_t j = 0;
      for (; j + kT <= m(); j += kT)
        decode_tile<kS, kT, kVnni>(idx, j, rows, dst + row0, ldd, stream);
      for (; j < m(); ++j) decode_tile<kS, 1, kVnni>(idx, j, rows, dst + row0, ldd, stream);
    }
    if (stream) _mm_sfence();  // order the streaming stores before whatever follows the run
  }

  // Output columns j0 .. j0 + kT - 1 of one block.
  template <int kS, int kT, bool kVnni>
  [[gnu::always_inline]] void decode_tile(const uint8_t* idx, int64_t j0, int64_t rows,
                                          int32_t* dst, int64_t ldd, bool stream) const {
    const __m512i start = _mm512_set1_epi32(static_cast<int32_t>(-128 * (c() / kS)));
    __m512i acc[kT][kRowGroups];
    for (auto& column : acc)
      for (__m512i& a : column) a = start;
    const uint8_t* table = tables_.get() + j0 * table_stride_;
    const uint8_t* ix = idx;
    constexpr int64_t kQuadTable = 64 * chunk_tables(4, kS), kQuadIndex = kBlockRows * 4 * kS;
    int64_t q = 0;
    // Two chunks per iteration: no register copies of acc around the loop.
    for (; q + 2 <= quads_; q += 2, table += 2 * kQuadTable, ix += 2 * kQuadIndex) {
      chunk_int8<4, kS, kT, kVnni>(table, table_stride_, ix, acc);
      chunk_int8<4, kS, kT, kVnni>(table + kQuadTable, table_stride_, ix + kQuadIndex, acc);
    }
    if (q < quads_) {
      chunk_int8<4, kS, kT, kVnni>(table, table_stride_, ix, acc);
      table += kQuadTable;
      ix += kQuadIndex;
    }
    if (pair_) {
      chunk_int8<2, kS, kT, kVnni>(table, table_stride_, ix, acc);
      table += 64 * chunk_tables(2, kS);
      ix += kBlockRows * 2 * kS;
    }
    if (single_) chunk_int8<1, kS, kT, kVnni>(table, table_stride_, ix, acc);
    constexpr int kShift = kS == 1 ? 0 : kS == 2 ? 1 : kS == 4 ? 2 : kS == 8 ? 3 : 4;
#pragma GCC unroll 4
    for (int t = 0; t < kT; ++t) {
      int32_t* out = dst + (j0 + t) * ldd;
      // Unrolled with constant indices, so that acc stays in registers.
      if (rows == kBlockRows && stream) {
#pragma GCC unroll 8
        for (int rg = 0; rg < kRowGroups; ++rg)
          _mm512_stream_si512(reinterpret_cast<__m512i*>(out + rg * kLanes),
                              _mm512_slli_epi32(acc[t][rg], kShift));
      } else if (rows == kBlockRows) {
#pragma GCC unroll 8
        for (int rg = 0; rg < kRowGroups; ++rg)
          _mm512_storeu_si512(out + rg * kLanes, _mm512_slli_epi32(acc[t][rg], kShift));
      } else {
#pragma GCC unroll 8
        for (int rg = 0; rg < kRowGroups; ++rg)
          if (rg * kLanes < rows)
            _mm512_mask_storeu_epi32(out + rg * kLanes, lane_mask(rows - rg * kLanes),
                                     _mm512_slli_epi32(acc[t][rg], kShift));
      }
    }
  }

  // fp32 output columns j0 .. j0 + kT - 1 of one block: each index vector loaded once for all.
  template <int kT>
  [[gnu::always_inline]] void decode_tile_fp32(const uint8_t* idx, int64_t j0, int64_t rows,
                                               float* dst, int64_t ldd) const {
    __m512 acc[kT][kFp32RowGroups];
    for (auto& column : acc)
      for (__m512& a : column) a = _mm512_setzero_ps();
    const float* table = tables_f_.get() + j0 * c() * kLanes;
    const uint8_t* ix = idx;
    for (int64_t cb = 0; cb < c(); ++cb, ix += kFp32RowGroups * 64) {
      __m512 t[kT];
#pragma GCC unroll 4
      for (int i = 0; i < kT; ++i) t[i] = _mm512_load_ps(table + (i * c() + cb) * kLanes);
#pragma GCC unroll 8
      for (int rg = 0; rg < kFp32RowGroups; ++rg) {
        const __m512i index = _mm512_load_si512(ix + rg * 64);
#pragma GCC unroll 4
        for (int i = 0; i < kT; ++i)
          acc[i][rg] = _mm512_add_ps(acc[i][rg], _mm512_permutexvar_ps(index, t[i]));
      }
    }
#pragma GCC unroll 4
    for (int i = 0; i < kT; ++i)
#pragma GCC unroll 8
      for (int rg = 0; rg < kFp32RowGroups; ++rg)
        if (rg * kLanes < rows)
          _mm512_mask_storeu_ps(dst + (j0 + i) * ldd + rg * kLanes, lane_mask(rows - rg * kLanes),
                                acc[i][rg]);
  }

  // The index vectors of every chunk from Tc, as plans_ says.
  void pack_indices(const uint8_t* tc, uint8_t* idx) const {
    // Byte 16 b + r of the 4 segments -> byte 4 r + b.
    const __m512i interleave = _mm512_load_si512(kInterleave4);
    for (const IndexPlan& plan : plans_) {
      __m512i segments;
      if (plan.contiguous) {
        segments = _mm512_load_si512(tc + plan.segments[0]);
      } else {
        segments = _mm512_castsi128_si512(
            _mm_load_si128(reinterpret_cast<const __m128i*>(tc + plan.segments[0])));
        for (int b = 1; b < 4; ++b)
          segments = _mm512_mask_broadcast_i32x4(
              segments, static_cast<__mmask16>(0xF << (4 * b)),
              _mm_load_si128(reinterpret_cast<const __m128i*>(tc + plan.segments[b])));
      }
      _mm512_store_si512(idx, _mm512_add_epi8(_mm512_permutexvar_epi8(interleave, segments),
                                              _mm512_set1_epi32(plan.slots)));
      idx += 64;
    }
  }

  // Where a block's index vectors come from: [chunk][vector v < kRowGroups K / 4][member t < 2^L];
  // byte 4 r + b of vector v is 16 slot + code of member t of group j = b % K, row
  // 16 (v (4 / K) + b / K) + r.
  void make_plans() {
    const int s = 1 << levels_;
    for (const Chunk& chunk : chunks_) {
      const int k = chunk.k, per_table = 4 / k;
      for (int v = 0; v < kRowGroups * k / 4; ++v)
        for (int t = 0; t < s; ++t) {
          IndexPlan plan{};
          uint32_t slots = 0;
          for (int b = 0; b < 4; ++b) {
            const int g = b % k, rg = v * per_table + b / k;
            const int64_t c = (chunk.group0 + g) * s + t;
            plan.segments[b] = static_cast<int32_t>((rg * c16_ + c) * kLanes);
            slots |= uint32_t(16 * ((t % per_table) * k + g)) << (8 * b);
          }
          plan.slots = static_cast<int32_t>(slots);
          plan.contiguous = plan.segments[0] % 64 == 0;
          for (int b = 1; b < 4; ++b)
            plan.contiguous &= plan.segments[b] == plan.segments[0] + 16 * b;
          plans_.push_back(plan);
        }
    }
  }

  struct IndexPlan {
    int32_t segments[4];  // Tc byte offsets of the 16-row segments of bytes b = 0..3
    int32_t slots;        // 16 slot in byte b of every dword
    bool contiguous;      // the 4 segments are one aligned 64-byte line
  };

  int levels_;
  bool vnni_;
  int64_t c16_;                   // c rounded up to 16 (Tc's codebook stride)
  std::vector<IndexPlan> plans_;  // int8, one per index vector of a block
  std::vector<Chunk> chunks_;     // int8: quads_ chunks of 4 groups, pair_ of 2, single_ of 1
  int64_t quads_ = 0;
  int64_t pair_ = 0;
  int64_t single_ = 0;
  int64_t table_stride_ = 0;       // int8: bytes of tables per output column
  AlignedBuffer<uint8_t> tables_;  // int8: [m][table_stride_]
  AlignedBuffer<float> tables_f_;  // fp32: [m][c][16]
};

}  // namespace

std::shared_ptr<const MaddnessEncoder::Impl> make_maddness_encoder_avx512(
    const MaddnessEncoderDesc& desc) {
  return std::make_shared<const MaddnessEncoderAvx512>(desc);
}

std::shared_ptr<const MaddnessDecoder::Impl> make_maddness_decoder_avx512(
    const MaddnessDecoderDesc& desc, bool vnni) {
  return std::make_shared<const MaddnessDecoderAvx512>(desc, vnni);
}

}  // namespace axnn::kernels

#pragma GCC pop_options
