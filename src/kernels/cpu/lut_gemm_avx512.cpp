// AVX-512 (F, BW, VL, VBMI) LUT-GEMM.
//
// Tables. The offsets u[a][b] = table[a][b] - bias (uint16, see OffsetTable) are stored as byte
// planes of 256 bytes: planes[b] = {lo[a] = u[a][b] & 255, hi[a] = u[a][b] >> 8} over the
// weight code a for each activation code b, and rows[a] the same over b for each a; 128 KB each,
// packed once per LutTable (Avx512Table) and shared by every LutGemm created from it, which packs
// only A: a dense copy at create, and each schedule's layout of it (with the bit-7 masks of its
// index vectors) on that schedule's first run.
// Looking up 64 codes in the planes of one code is, per plane, two merge-masked vpermi2b: the
// first resolves the codes with bit 7 clear from the low 128 entries, the second the others from
// the high 128 (bit-7 masks of the stationary A are computed with its layout, of B with vpmovb2m).
// For widths of 7 bits or less the table repeats over the high code bits, so a lookup is one
// vpermi2b (7 bits) or one vpermb (6 bits or less) per plane, which ignore the high bits. No
// gathers.
//
// 16-bit accumulation. A word w = x0 + 256 x1 (two bytes, or one uint16 offset) is summed as
// S1 += w (mod 2^16) and S2 += w >> 8. For up to 256 terms sum x1 = S2 and
// sum x0 = (S1 - 256 S2) mod 2^16 are both exact, so the 32-bit sum is rebuilt exactly when the
// partial sums are widened into int32, once per 256 k. The bias adds k * bias mod 2^32.
//
// Five schedules, chosen per run by a cost model over M, N and K (table build cost against its
// reuse, lane padding), or forced through LutGemmDesc::schedule:
// - table-load-over-m (large N). For a block of 32 rows of A and kKBlock k, build
//   T[k][b][32 rows] = u[A[row][k]][b] for all 256 b with the plane lookups (two k per 64-byte
//   index vector, arranged at create so that vpunpck{l,h}bw of the lo/hi results yields the rows
//   in natural order). Then each code B[k][n] selects the 64-byte row T[k][B[k][n]]: 32 lookups
//   per load. Eight columns of B are accumulated at a time in 16 registers; between k blocks their
//   16-bit partial sums wait in an N x 64 uint16 buffer, every 256 k they are widened into an
//   N x 32 int32 buffer, which is transposed into C at the end. The per-k stride of T is padded
//   (16 KB + 640 B) so that rows of successive k do not alias in the cache sets. Threads take
//   whole 32-row blocks; the last blocks % threads blocks are cut into column ranges.
// - table-load-over-n (large M, small N: the linears of a ViT at batch 1). The mirror image: T
//   from a block of 32 columns of B (packed per call, masks by vpmovb2m) and rows, then each
//   code A[m][k] selects a row of 32 columns; eight rows of A at a time; no transposition.
// - table-load-16-over-m (large N and M = 16, 48, ... or M <= 16: the 16-channel stages). The
//   same with blocks of 16 rows: one index vector holds 16 rows of four k (lane l: rows
//   8 (l % 2) .. + 7 of k = 4q + l / 2, then of 4q + 2 + l / 2), so that vpunpck{l,h}bw yields
//   the 32-byte T rows of four k per lookup. Each code B[k][n] selects a 32-byte row, 16 lookups
//   per load, accumulated in 256-bit registers (eight columns at a time in 16 of them), whose
//   arithmetic runs on three ports, not two; partial sums N x 32 uint16 and N x 16 int32.
// - planes-over-m (small N and M, where building 256 rows per k would not pay off). For each
//   column n and each k, the 8 plane registers of code B[k][n] are loaded once and used for up to
//   4 index vectors of A^T (256 rows of A), 64 lookups each. Partial sums widen into an int32
//   column buffer every 256 k, which is scattered into column n of C. Threads split the columns
//   into contiguous ranges and walk them in tiles of kPlanesCols columns: every column of a tile
//   uses a 256 k x 256 row slice of A^T (64 KB) before the next slice, so A^T is read from L2 once
//   per tile, not from memory once per column, when it is larger than L2 (large M x K).
// - planes-over-n (small M, or N so large that table-load's partial sums spill to memory). For
//   each row m and k, the 8 plane registers of code A[m][k] (rows) are loaded once and used for
//   up to 4 vectors of B[k][n0 .. n0 + 256), 64 lookups each (the last vector of a row loaded
//   with a lane mask). The B tile (K x 256 codes) is shared by all rows; threads split the
//   (tile, row) tasks.

// GCC 12 warns inside its own AVX-512 headers, whose intrinsics pass _mm512_undefined_* as the
// unused merge source (GCC PR 105593); the diagnostic is a false positive.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <mutex>

#include "kernels/cpu/lut_gemm_impl.h"

// Only this file's own code is compiled for AVX-512, by this pragma rather than by -m flags: the
// library templates it instantiates keep the baseline ISA, so whichever copy of them the linker
// keeps still runs on any x86-64 CPU.
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512vbmi")

namespace axnn::kernels {
namespace {

constexpr int64_t kTableLines = 8;  // lines (B columns or A rows) per table-load tile
constexpr int64_t kChunk = 64;      // rows of A per planes-over-m index vector
constexpr int kMaxChunks = 4;       // index vectors per k (16 accumulators)
constexpr int64_t kPlanesCols = 8;  // columns sharing one 256 k x 256 row slice of A^T
// Schedule choice, measured on Sapphire Rapids (where vpermi2b costs two cycles): per row of A
// and k, table-load costs about N + kBuildCols and planes-over-m N / kPlanesSpeed, in units of
// one table-load lookup, with rows padded to 32 and 64 respectively. Indexed by index bits - 6:
// narrower codes make both the table build and the plane lookups cheaper. For 8 bits and M a
// multiple of 64 the crossover is near N = 560.
constexpr double kBuildCols[] = {205, 290, 500};
constexpr double kPlanesSpeed[] = {1.29, 0.91, 0.526};
// Table-load also pays, per block and line whatever K, for its 16-bit partial sums' trips through
// memory and the final store into C (small K, very large N: 32 x 27 x 295936).
constexpr double kTableLoadLineCost = 1300;
// Table-load-16 against table-load, per useful lookup: half the lookups per load, but 256-bit
// arithmetic on three ports instead of two (96 x 288 x 3136: 26 G lookups/s against 30; on
// 16 x 144 x 50176 27 against 15); per block and line it pays kHalfLineCost (16 x 27 x 50176: 20).
constexpr double kHalfSpeed = 0.88;
constexpr double kHalfLineCost = 200;
// planes-over-n against planes-over-m: the same lookups plus a vpmovb2m and unaligned B loads.
constexpr double kPlanesNSpeed = 0.95;
// With a single index vector per k, the plane loads (and for planes-over-m the code load) serve
// only 64 lookups.
constexpr double kOneChunkSpeed = 0.6;
constexpr double kOneVectorSpeed = 0.85;

enum class Schedule { kTableLoadM, kTableLoadN, kPlanesM, kPlanesN, kTableLoad16M };
constexpr std::string_view kSchedules[] = {"table-load-over-m", "table-load-over-n",
                                           "planes-over-m", "planes-over-n",
                                           "table-load-16-over-m"};

struct Planes {
  __m512i lo0, lo1, lo2, lo3, hi0, hi1, hi2, hi3;
};

inline Planes load_planes(const uint8_t* src) {
  const auto* p = reinterpret_cast<const __m512i*>(src);
  return {_mm512_load_si512(p + 0), _mm512_load_si512(p + 1), _mm512_load_si512(p + 2),
          _mm512_load_si512(p + 3), _mm512_load_si512(p + 4), _mm512_load_si512(p + 5),
          _mm512_load_si512(p + 6), _mm512_load_si512(p + 7)};
}

// 64 lookups: lo/hi bytes of entry idx[i] of the planes t; high/low mark the lanes whose code has
// bit 7 set/clear. For widths of 7 bits or less the planes repeat with the width's period, so one
// vpermi2b (128 entries, code bits 0..6) or one vpermb (64 entries, bits 0..5) per plane finds
// the same bytes; both ignore the higher code bits, which may be garbage.
template <int kIndexBits>
inline void lookup(const Planes& t, __m512i idx, __mmask64 high, __mmask64 low, __m512i& lo,
                   __m512i& hi) {
  if constexpr (kIndexBits == 8) {
    lo = _mm512_mask2_permutex2var_epi8(t.lo0, idx, low, t.lo1);
    lo = _mm512_mask2_permutex2var_epi8(t.lo2, lo, high, t.lo3);
    hi = _mm512_mask2_permutex2var_epi8(t.hi0, idx, low, t.hi1);
    hi = _mm512_mask2_permutex2var_epi8(t.hi2, hi, high, t.hi3);
  } else if constexpr (kIndexBits == 7) {
    lo = _mm512_permutex2var_epi8(t.lo0, idx, t.lo1);
    hi = _mm512_permutex2var_epi8(t.hi0, idx, t.hi1);
  } else {
    lo = _mm512_permutexvar_epi8(idx, t.lo0);
    hi = _mm512_permutexvar_epi8(idx, t.hi0);
  }
}

// Exact sums of the 32 words behind (s1, s2), as 2 x 16 uint32 (see the top comment).
inline void widen_words(__m512i s1, __m512i s2, __m512i& r0, __m512i& r1) {
  const __m512i x0 = _mm512_sub_epi16(s1, _mm512_slli_epi16(s2, 8));
  r0 = _mm512_add_epi32(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm512_castsi512_si256(s2)), 8),
                        _mm512_cvtepu16_epi32(_mm512_castsi512_si256(x0)));
  r1 = _mm512_add_epi32(
      _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm512_extracti64x4_epi64(s2, 1)), 8),
      _mm512_cvtepu16_epi32(_mm512_extracti64x4_epi64(x0, 1)));
}

inline void store_or_add(int32_t* dst, __m512i v, bool add) {
  if (add) v = _mm512_add_epi32(v, _mm512_load_si512(dst));
  _mm512_store_si512(dst, v);
}

// 16-bit plane accumulators of 64 lookups: l* for the lo plane, h* for the hi plane.
struct PlaneAcc {
  __m512i l1, l2, h1, h2;
};

inline void accumulate(PlaneAcc& acc, __m512i lo, __m512i hi) {
  const __m512i odd_bytes = _mm512_set1_epi16(0x0100);
  acc.l1 = _mm512_add_epi16(acc.l1, lo);
  acc.l2 = _mm512_add_epi16(acc.l2, _mm512_srli_epi16(lo, 8));
  acc.h1 = _mm512_add_epi16(acc.h1, hi);
  // S2 = the odd bytes as words: a shift for the lo plane, vpmaddubsw with weights (0, 1) for the
  // hi plane, so that the two do not compete for the same execution port.
  acc.h2 = _mm512_add_epi16(acc.h2, _mm512_maddubs_epi16(hi, odd_bytes));
}

// Widens a PlaneAcc into the 64 int32 sums of its lanes, in lane order.
inline void flush_planes(const PlaneAcc& a, int32_t* dst, bool add) {
  // Per plane, bytes of even rows are x0 and of odd rows x1 of each word.
  const __m512i lo_odd = a.l2, lo_even = _mm512_sub_epi16(a.l1, _mm512_slli_epi16(a.l2, 8));
  const __m512i hi_odd = a.h2, hi_even = _mm512_sub_epi16(a.h1, _mm512_slli_epi16(a.h2, 8));
  const __m512i interleave_lo =
      _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
  const __m512i interleave_hi =
      _mm512_set_epi32(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8);
  for (int half = 0; half < 2; ++half) {
    auto part = [half](__m512i v) {
      return _mm512_cvtepu16_epi32(half ? _mm512_extracti64x4_epi64(v, 1)
                                        : _mm512_castsi512_si256(v));
    };
    const __m512i even = _mm512_add_epi32(_mm512_slli_epi32(part(hi_even), 8), part(lo_even));
    const __m512i odd = _mm512_add_epi32(_mm512_slli_epi32(part(hi_odd), 8), part(lo_odd));
    store_or_add(dst + 32 * half, _mm512_permutex2var_epi32(even, interleave_lo, odd), add);
    store_or_add(dst + 32 * half + 16, _mm512_permutex2var_epi32(even, interleave_hi, odd), add);
  }
}

// The table as this impl reads it (byte planes, see the top comment): a LutTable's impl, shared by
// every LutGemmAvx512 packed against it.
class Avx512Table final : public LutTable::Impl {
 public:
  Avx512Table(int bits, int32_t bias)
      : Impl(bits),
        bias(bias),
        planes(make_aligned<uint8_t>(256 * 512)),
        rows(make_aligned<uint8_t>(256 * 512)) {}
  std::string_view name() const override { return "avx512"; }
  std::span<const std::string_view> schedules() const override { return kSchedules; }
  std::shared_ptr<const LutGemm::Impl> pack(const StationaryA& a) const override;

  int32_t bias;
  AlignedBuffer<uint8_t> planes;  // [b][lo 256 | hi 256] over a
  AlignedBuffer<uint8_t> rows;    // [a][lo 256 | hi 256] over b
};

// One layout of A's codes, with the bit-7 masks of its index vectors where the layout has them.
struct PackedA {
  std::once_flag once;
  AlignedBuffer<uint8_t> codes;
  std::vector<uint64_t> masks;
};

class LutGemmAvx512 final : public LutGemm::Impl {
 public:
  LutGemmAvx512(const StationaryA& a, std::shared_ptr<const Avx512Table> table)
      : Impl(a.m, a.k),
        bias_(table->bias),
        blocks_((a.m + kBlockRows - 1) / kBlockRows),
        pairs_((a.k + 1) / 2),
        half_blocks_((a.m + kHalfRows - 1) / kHalfRows),
        quads_((a.k + 3) / 4),
        chunks_((a.m + kChunk - 1) / kChunk),
        index_bits_(std::max(6, table->bits())),
        forced_(a.schedule),
        table_(std::move(table)),
        a_(make_aligned<uint8_t>(a.m * a.k)) {
    // A dense; the other layouts are derived from it on their schedule's first run.
    for (int64_t r = 0; r < a.m; ++r) std::copy_n(a.a + r * a.lda, a.k, a_.get() + r * a.k);
  }

  std::string_view name() const override { return "avx512"; }

  std::string_view schedule(int64_t n) const override {
    return kSchedules[static_cast<int>(choose(n))];
  }

  void run(const uint8_t* b, int64_t n, int32_t* c, int64_t ldb, int64_t ldc,
           int threads) const override {
    const Schedule chosen = choose(n);
    switch (index_bits_) {
      case 6:
        return dispatch<6>(chosen, b, n, c, ldb, ldc, threads);
      case 7:
        return dispatch<7>(chosen, b, n, c, ldb, ldc, threads);
      default:
        return dispatch<8>(chosen, b, n, c, ldb, ldc, threads);
    }
  }

 private:
  // The forced schedule, else the cheapest by the cost model above (in table-load lookups,
  // padding included).
  Schedule choose(int64_t n) const {
    if (forced_ >= 0) return static_cast<Schedule>(forced_);
    const double rows = static_cast<double>(m()), cols = static_cast<double>(n);
    const double speed = kPlanesSpeed[index_bits_ - 6];
    const double build = kBuildCols[index_bits_ - 6];
    const double padded_cols = static_cast<double>((n + kBlockRows - 1) / kBlockRows * kBlockRows);
    const double per_line = kTableLoadLineCost / static_cast<double>(k());
    const double table_load_m = static_cast<double>(blocks_ * kBlockRows) * (cols + build) +
                                static_cast<double>(blocks_) * cols * per_line;
    const double table_load_n =
        padded_cols * (rows + build) + padded_cols / kBlockRows * rows * per_line;
    const double planes_m = static_cast<double>(chunks_ * kChunk) * cols /
                            (speed * (chunks_ == 1 ? kOneChunkSpeed : 1.0));
    const int64_t vectors = (n + kChunk - 1) / kChunk;
    const double planes_n = rows * static_cast<double>(vectors * kChunk) /
                            (speed * kPlanesNSpeed * (vectors == 1 ? kOneVectorSpeed : 1.0));
    const double table_load16_m =
        static_cast<double>(half_blocks_ * kHalfRows) * (cols / kHalfSpeed + build) +
        static_cast<double>(half_blocks_) * cols * kHalfLineCost / static_cast<double>(k());
    const double costs[] = {table_load_m, table_load_n, planes_m, planes_n, table_load16_m};
    return static_cast<Schedule>(std::min_element(std::begin(costs), std::end(costs)) - costs);
  }

  template <int kIndexBits>
  void dispatch(Schedule schedule, const uint8_t* b, int64_t n, int32_t* c, int64_t ldb,
                int64_t ldc, int threads) const {
    switch (schedule) {
      case Schedule::kTableLoadM:
        return run_table_load_m<kIndexBits>(b, n, c, ldb, ldc, threads);
      case Schedule::kTableLoadN:
        return run_table_load_n<kIndexBits>(b, n, c, ldb, ldc, threads);
      case Schedule::kPlanesM:
        return run_planes<kIndexBits>(b, n, c, ldb, ldc, threads);
      case Schedule::kPlanesN:
        return run_planes_n<kIndexBits>(b, n, c, ldb, ldc, threads);
      case Schedule::kTableLoad16M:
        return run_table_load16_m<kIndexBits>(b, n, c, ldb, ldc, threads);
    }
  }

  // A's code at (row, col), 0 in the padding past m and k.
  uint8_t code(int64_t row, int64_t col) const {
    return row < m() && col < k() ? a_[row * k() + col] : 0;
  }

  // Table-load-over-m index vectors: lane l of pair p holds rows 8l..8l+7 of k = 2p, then of
  // 2p + 1.
  const PackedA& pair_layout() const {
    std::call_once(pair_layout_.once, [this] {
      pair_layout_.codes = make_aligned<uint8_t>(blocks_ * pairs_ * 64);
      pair_layout_.masks.resize(blocks_ * pairs_ * 2);
      for (int64_t mb = 0; mb < blocks_; ++mb)
        for (int64_t p = 0; p < pairs_; ++p) {
          uint8_t* v = pair_layout_.codes.get() + (mb * pairs_ + p) * 64;
          for (int r = 0; r < 32; ++r) {
            v[16 * (r / 8) + r % 8] = code(mb * kBlockRows + r, 2 * p);
            v[16 * (r / 8) + 8 + r % 8] = code(mb * kBlockRows + r, 2 * p + 1);
          }
          set_masks(v, &pair_layout_.masks[(mb * pairs_ + p) * 2]);
        }
    });
    return pair_layout_;
  }

  // Planes-over-m index vectors: A^T, rows padded to whole chunks.
  const PackedA& transposed_layout() const {
    std::call_once(transposed_layout_.once, [this] {
      const int64_t padded = chunks_ * kChunk;
      transposed_layout_.codes = make_aligned<uint8_t>(k() * padded);
      transposed_layout_.masks.resize(k() * chunks_ * 2);
      // 64 rows x 8 k at a time: the 64 row pieces of 8 codes as 8 vectors of 8 x 8 bytes, each
      // transposed by one vpermb into (k, 8 rows) pieces, which are then stored per k.
      const __m512i transpose8 = _mm512_set_epi64(
          0x3f372f271f170f07, 0x3e362e261e160e06, 0x3d352d251d150d05, 0x3c342c241c140c04,
          0x3b332b231b130b03, 0x3a322a221a120a02, 0x3931292119110901, 0x3830282018100800);
      uint8_t* codes = transposed_layout_.codes.get();
      const int64_t rows = m(), depth = k();
      alignas(64) uint64_t pieces[kChunk];
      for (int64_t c = 0; c < chunks_; ++c)
        for (int64_t p0 = 0; p0 < depth; p0 += 8) {
          const int64_t count = std::min<int64_t>(8, depth - p0);
          for (int64_t i = 0; i < kChunk; ++i) {
            const int64_t r = c * kChunk + i;
            pieces[i] = 0;  // rows past m (and k past depth) read code 0
            if (r >= rows) continue;
            if (count == 8) {
              std::memcpy(&pieces[i], a_.get() + r * depth + p0, 8);
            } else {
              std::memcpy(&pieces[i], a_.get() + r * depth + p0, count);
            }
          }
          for (int g = 0; g < 8; ++g)
            _mm512_store_si512(pieces + 8 * g, _mm512_permutexvar_epi8(
                                                   transpose8, _mm512_load_si512(pieces + 8 * g)));
          for (int64_t j = 0; j < count; ++j) {
            uint8_t* dst = codes + (p0 + j) * padded + c * kChunk;
            for (int g = 0; g < 8; ++g) std::memcpy(dst + 8 * g, &pieces[8 * g + j], 8);
            set_masks(dst, &transposed_layout_.masks[((p0 + j) * chunks_ + c) * 2]);
          }
        }
    });
    return transposed_layout_;
  }

  // Table-load-over-n row codes: A in k blocks, [k / kKBlock][row][k % kKBlock], so that a k
  // block of every row is one contiguous M x 16 slice.
  const PackedA& k_block_layout() const {
    std::call_once(k_block_layout_.once, [this] {
      const int64_t k_blocks = (k() + kKBlock - 1) / kKBlock;
      k_block_layout_.codes = make_aligned<uint8_t>(k_blocks * m() * kKBlock);
      for (int64_t kb = 0; kb < k_blocks; ++kb)
        for (int64_t r = 0; r < m(); ++r)
          for (int64_t kk = 0; kk < kKBlock; ++kk)
            k_block_layout_.codes[(kb * m() + r) * kKBlock + kk] = code(r, kb * kKBlock + kk);
    });
    return k_block_layout_;
  }

  // Table-load-16-over-m index vectors: lane l of quad q holds rows 8 (l % 2) .. + 7 of
  // k = 4q + l / 2, then of 4q + 2 + l / 2, so that vpunpck{l,h}bw of the lo/hi results yields the
  // 16-row T rows of k = 4q, 4q + 1 (low and high half) and 4q + 2, 4q + 3.
  const PackedA& quad_layout() const {
    std::call_once(quad_layout_.once, [this] {
      quad_layout_.codes = make_aligned<uint8_t>(half_blocks_ * quads_ * 64);
      quad_layout_.masks.resize(half_blocks_ * quads_ * 2);
      for (int64_t mb = 0; mb < half_blocks_; ++mb)
        for (int64_t q = 0; q < quads_; ++q) {
          uint8_t* v = quad_layout_.codes.get() + (mb * quads_ + q) * 64;
          for (int lane = 0; lane < 4; ++lane)
            for (int i = 0; i < 8; ++i) {
              const int64_t row = mb * kHalfRows + 8 * (lane % 2) + i;
              v[16 * lane + i] = code(row, 4 * q + lane / 2);
              v[16 * lane + 8 + i] = code(row, 4 * q + 2 + lane / 2);
            }
          set_masks(v, &quad_layout_.masks[(mb * quads_ + q) * 2]);
        }
    });
    return quad_layout_;
  }

  // The bit-7 masks {high, low} of a 64-byte index vector (64-byte aligned).
  static void set_masks(const uint8_t* v, uint64_t* masks) {
    const uint64_t high = _mm512_movepi8_mask(_mm512_load_si512(v));
    masks[0] = high;
    masks[1] = ~high;
  }

  int32_t k_bias() const {
    return static_cast<int32_t>(static_cast<uint32_t>(k()) * static_cast<uint32_t>(bias_));
  }

  // T[2p + h][code][0..31] = u-lookups of the 32 lanes of half h of index vector p, for every
  // code (0..255) and p < count: `source` holds the byte planes per code (planes or rows).
  template <int kIndexBits>
  static void build_table(const uint8_t* source, const uint8_t* idx, const uint64_t* masks,
                          int64_t count, uint16_t* t) {
    for (int code = 0; code < 256; ++code) {
      const Planes planes = load_planes(source + 512 * code);
      for (int64_t p = 0; p < count; ++p) {
        __m512i lo, hi;
        lookup<kIndexBits>(planes, _mm512_load_si512(idx + 64 * p), masks[2 * p], masks[2 * p + 1],
                           lo, hi);
        _mm512_store_si512(t + (2 * p) * kTStride + 32 * code, _mm512_unpacklo_epi8(lo, hi));
        _mm512_store_si512(t + (2 * p + 1) * kTStride + 32 * code, _mm512_unpackhi_epi8(lo, hi));
      }
    }
  }

  // The 16-row T: T[4q + i][code][0..15] for i < 4, every code and q < count, from the index
  // vectors of quad_layout() and the planes.
  template <int kIndexBits>
  static void build_table16(const uint8_t* source, const uint8_t* idx, const uint64_t* masks,
                            int64_t count, uint16_t* t) {
    for (int code = 0; code < 256; ++code) {
      const Planes planes = load_planes(source + 512 * code);
      for (int64_t q = 0; q < count; ++q) {
        __m512i lo, hi;
        lookup<kIndexBits>(planes, _mm512_load_si512(idx + 64 * q), masks[2 * q], masks[2 * q + 1],
                           lo, hi);
        const __m512i even = _mm512_unpacklo_epi8(lo, hi), odd = _mm512_unpackhi_epi8(lo, hi);
        uint16_t* row = t + 4 * q * kHalfTStride + kHalfRows * code;
        auto* rows = reinterpret_cast<__m256i*>(row);
        _mm256_store_si256(rows, _mm512_castsi512_si256(even));
        _mm256_store_si256(reinterpret_cast<__m256i*>(row + kHalfTStride),
                           _mm512_extracti64x4_epi64(even, 1));
        _mm256_store_si256(reinterpret_cast<__m256i*>(row + 2 * kHalfTStride),
                           _mm512_castsi512_si256(odd));
        _mm256_store_si256(reinterpret_cast<__m256i*>(row + 3 * kHalfTStride),
                           _mm512_extracti64x4_epi64(odd, 1));
      }
    }
  }

  // The 16-row table_load_tile: kLines columns of B against the 16-row T for kb k, 256-bit rows
  // (all 256-bit arithmetic, so that the third vector port stays open), partial sums in
  // part[line][S1 16 | S2 16] and sums[line][16].
  template <int kLines>
  static void table_load16_tile(const uint16_t* t, const uint8_t* codes, int64_t k_stride,
                                int64_t kb, uint16_t* part, int32_t* sums, FlushStep step) {
    const auto [first, last, add] = step;
    __m256i s1[kLines], s2[kLines];
    auto* saved = reinterpret_cast<__m256i*>(part);
    for (int j = 0; j < kLines; ++j) {
      s1[j] = first ? _mm256_setzero_si256() : _mm256_load_si256(saved + 2 * j);
      s2[j] = first ? _mm256_setzero_si256() : _mm256_load_si256(saved + 2 * j + 1);
    }
    const char* tk = reinterpret_cast<const char*>(t);
    for (int64_t kk = 0; kk < kb; ++kk, tk += kHalfTStride * sizeof(uint16_t), codes += k_stride) {
#pragma GCC unroll 8
      for (int j = 0; j < kLines; ++j) {
        const __m256i v = _mm256_load_si256(
            reinterpret_cast<const __m256i*>(tk + (static_cast<size_t>(codes[j]) << 5)));
        s1[j] = _mm256_add_epi16(s1[j], v);
        s2[j] = _mm256_add_epi16(s2[j], _mm256_srli_epi16(v, 8));
      }
    }
    for (int j = 0; j < kLines; ++j) {
      if (last) {
        const __m256i x0 = _mm256_sub_epi16(s1[j], _mm256_slli_epi16(s2[j], 8));
        store_or_add(sums + kHalfRows * j,
                     _mm512_add_epi32(_mm512_slli_epi32(_mm512_cvtepu16_epi32(s2[j]), 8),
                                      _mm512_cvtepu16_epi32(x0)),
                     add);
      } else {
        _mm256_store_si256(saved + 2 * j, s1[j]);
        _mm256_store_si256(saved + 2 * j + 1, s2[j]);
      }
    }
  }

  // kLines lines (columns of B, or rows of A) against T for kb k: line j, step kk selects row
  // T[kk][codes[kk * k_stride + j * line_stride]]. The 16-bit partial sums of each line live in
  // part[line][S1 32 | S2 32] between k blocks: they start at zero on the first block of a flush
  // period and are widened into sums[line][32] (added when `add`) on its last.
  template <int kLines>
  static void table_load_tile(const uint16_t* t, const uint8_t* codes, int64_t k_stride,
                              int64_t line_stride, int64_t kb, uint16_t* part, int32_t* sums,
                              FlushStep step) {
    const auto [first, last, add] = step;
    __m512i s1[kLines], s2[kLines];
    for (int j = 0; j < kLines; ++j) {
      s1[j] = first ? _mm512_setzero_si512() : _mm512_load_si512(part + 64 * j);
      s2[j] = first ? _mm512_setzero_si512() : _mm512_load_si512(part + 64 * j + 32);
    }
    const char* tk = reinterpret_cast<const char*>(t);
    for (int64_t kk = 0; kk < kb; ++kk, tk += kTStride * sizeof(uint16_t), codes += k_stride) {
#pragma GCC unroll 8
      for (int j = 0; j < kLines; ++j) {
        const __m512i v =
            _mm512_load_si512(tk + (static_cast<size_t>(codes[j * line_stride]) << 6));
        s1[j] = _mm512_add_epi16(s1[j], v);
        s2[j] = _mm512_add_epi16(s2[j], _mm512_srli_epi16(v, 8));
      }
    }
    for (int j = 0; j < kLines; ++j) {
      if (last) {
        __m512i r0, r1;
        widen_words(s1[j], s2[j], r0, r1);
        store_or_add(sums + 32 * j, r0, add);
        store_or_add(sums + 32 * j + 16, r1, add);
      } else {
        _mm512_store_si512(part + 64 * j, s1[j]);
        _mm512_store_si512(part + 64 * j + 32, s2[j]);
      }
    }
  }

  // Lines [j0, j1) through T for the k block [k0, k0 + kb) of depth, kTableLines at a time.
  static void table_load_lines(const uint16_t* t, const uint8_t* codes, int64_t k_stride,
                               int64_t line_stride, int64_t j0, int64_t j1, int64_t k0, int64_t kb,
                               int64_t depth, uint16_t* part, int32_t* sums) {
    const FlushStep step = flush_step(k0, kb, depth);
    int64_t j = j0;
    for (; j + kTableLines <= j1; j += kTableLines)
      table_load_tile<kTableLines>(t, codes + j * line_stride, k_stride, line_stride, kb,
                                   part + j * 64, sums + j * 32, step);
    for (; j < j1; ++j)
      table_load_tile<1>(t, codes + j * line_stride, k_stride, line_stride, kb, part + j * 64,
                         sums + j * 32, step);
  }

  // Table-load over m: T from A's row block and planes, B's codes select its rows.
  template <int kIndexBits>
  void run_table_load_m(const uint8_t* b, int64_t n, int32_t* c, int64_t ldb, int64_t ldc,
                        int threads) const {
    const int64_t rows = m(), depth = k();
    const int32_t bias = k_bias();
    const std::vector<BlockTask> tasks = split_blocks(blocks_, n, threads, kTableLines);
    const PackedA& a = pair_layout();
    reserve_scratch(threads, [&] { table_load_buffers(n); });
#pragma omp parallel num_threads(threads)
    {
      const auto [t, part, sums] = table_load_buffers(n);
#pragma omp for schedule(dynamic, 1)
      for (size_t task = 0; task < tasks.size(); ++task) {
        const auto [mb, j0, j1] = tasks[task];
        for (int64_t k0 = 0; k0 < depth; k0 += kKBlock) {
          const int64_t kb = std::min(kKBlock, depth - k0), p0 = mb * pairs_ + k0 / 2;
          build_table<kIndexBits>(table_->planes.get(), a.codes.get() + p0 * 64,
                                  a.masks.data() + p0 * 2, (kb + 1) / 2, t);
          table_load_lines(t, b + k0 * ldb, ldb, 1, j0, j1, k0, kb, depth, part, sums);
        }
        const int64_t m0 = mb * kBlockRows;
        store_block_sums(sums, kBlockRows, std::min(kBlockRows, rows - m0), j0, j1, bias,
                         c + m0 * ldc, ldc);
      }
    }
  }

  // Table-load-16 over m: the 16-row T from A's 16-row block and planes, B's codes select its
  // rows, kHalfKBlock k per build.
  template <int kIndexBits>
  void run_table_load16_m(const uint8_t* b, int64_t n, int32_t* c, int64_t ldb, int64_t ldc,
                          int threads) const {
    const int64_t rows = m(), depth = k();
    const int32_t bias = k_bias();
    const std::vector<BlockTask> tasks = split_blocks(half_blocks_, n, threads, kTableLines);
    const PackedA& a = quad_layout();
    reserve_scratch(threads, [&] { table_load_buffers(n); });
#pragma omp parallel num_threads(threads)
    {
      const auto [t, part, sums] = table_load_buffers(n);
#pragma omp for schedule(dynamic, 1)
      for (size_t task = 0; task < tasks.size(); ++task) {
        const auto [mb, j0, j1] = tasks[task];
        for (int64_t k0 = 0; k0 < depth; k0 += kHalfKBlock) {
          const int64_t kb = std::min(kHalfKBlock, depth - k0), q0 = mb * quads_ + k0 / 4;
          build_table16<kIndexBits>(table_->planes.get(), a.codes.get() + q0 * 64,
                                    a.masks.data() + q0 * 2, (kb + 3) / 4, t);
          const FlushStep step = flush_step(k0, kb, depth);
          const uint8_t* codes = b + k0 * ldb;
          int64_t j = j0;
          for (; j + kTableLines <= j1; j += kTableLines)
            table_load16_tile<kTableLines>(t, codes + j, ldb, kb, part + j * 2 * kHalfRows,
                                           sums + j * kHalfRows, step);
          for (; j < j1; ++j)
            table_load16_tile<1>(t, codes + j, ldb, kb, part + j * 2 * kHalfRows,
                                 sums + j * kHalfRows, step);
        }
        const int64_t m0 = mb * kHalfRows;
        store_block_sums(sums, kHalfRows, std::min(kHalfRows, rows - m0), j0, j1, bias,
                         c + m0 * ldc, ldc);
      }
    }
  }

  // Table-load over n: T from a block of 32 columns of B (packed per call) and rows_, A's codes
  // select its rows. Pays for large M and small N, where the build is shared by many rows.
  template <int kIndexBits>
  void run_table_load_n(const uint8_t* b, int64_t n, int32_t* c, int64_t ldb, int64_t ldc,
                        int threads) const {
    const int64_t rows = m(), depth = k();
    const int32_t bias = k_bias();
    const std::vector<BlockTask> tasks =
        split_blocks((n + kBlockRows - 1) / kBlockRows, rows, threads, kTableLines);
    const uint8_t* a_blocks = k_block_layout().codes.get();
    reserve_scratch(threads, [&] { table_load_buffers(rows); });
#pragma omp parallel num_threads(threads)
    {
      const auto [t, part, sums] = table_load_buffers(rows);
      alignas(64) uint8_t idx[kKBlock / 2 * 64];
      uint64_t masks[kKBlock];
#pragma omp for schedule(dynamic, 1)
      for (size_t task = 0; task < tasks.size(); ++task) {
        const auto [cb, r0, r1] = tasks[task];
        const int64_t n0 = cb * kBlockRows, cols = std::min(kBlockRows, n - n0);
        for (int64_t k0 = 0; k0 < depth; k0 += kKBlock) {
          const int64_t kb = std::min(kKBlock, depth - k0), pairs = (kb + 1) / 2;
          // Same lane order as pair_layout(): lane l of pair p holds columns 8l..8l+7 of k = 2p,
          // then of 2p + 1; columns past n and k past depth read code 0 (results unused).
          for (int64_t p = 0; p < pairs; ++p) {
            uint8_t* v = idx + 64 * p;
            for (int col = 0; col < kBlockRows; ++col)
              for (int h = 0; h < 2; ++h) {
                const int64_t kk = k0 + 2 * p + h;
                v[16 * (col / 8) + 8 * h + col % 8] =
                    col < cols && kk < depth ? b[kk * ldb + n0 + col] : 0;
              }
            set_masks(v, masks + 2 * p);
          }
          build_table<kIndexBits>(table_->rows.get(), idx, masks, pairs, t);
          table_load_lines(t, a_blocks + k0 * rows, 1, kKBlock, r0, r1, k0, kb, depth, part, sums);
        }
        store_row_sums(sums, kBlockRows, r0, r1, n0, cols, bias, c, ldc);
      }
    }
  }

  // Column n against chunks [c0, c0 + kCount) of A^T for k in [k0, k0 + kb).
  template <int kIndexBits, int kCount>
  void planes_tile(const uint8_t* b, int64_t ldb, int64_t c0, int64_t k0, int64_t kb, int32_t* dst,
                   bool add) const {
    const int64_t padded = chunks_ * kChunk;
    const PackedA& a_t = transposed_layout();  // packed by run_planes already
    PlaneAcc acc[kCount];
    for (int g = 0; g < kCount; ++g)
      acc[g].l1 = acc[g].l2 = acc[g].h1 = acc[g].h2 = _mm512_setzero_si512();
    for (int64_t p = k0; p < k0 + kb; ++p) {
      const Planes planes = load_planes(table_->planes.get() + 512 * b[p * ldb]);
      const uint8_t* idx = a_t.codes.get() + p * padded + c0 * kChunk;
      const uint64_t* masks = a_t.masks.data() + (p * chunks_ + c0) * 2;
      for (int g = 0; g < kCount; ++g) {
        __m512i lo, hi;
        lookup<kIndexBits>(planes, _mm512_load_si512(idx + kChunk * g), masks[2 * g],
                           masks[2 * g + 1], lo, hi);
        accumulate(acc[g], lo, hi);
      }
    }
    for (int g = 0; g < kCount; ++g) flush_planes(acc[g], dst + (c0 + g) * kChunk, add);
  }

  template <int kIndexBits>
  void run_planes(const uint8_t* b, int64_t n, int32_t* c, int64_t ldb, int64_t ldc,
                  int threads) const {
    const int64_t rows = m(), depth = k(), padded = chunks_ * kChunk;
    const int32_t bias = k_bias();
    threads = static_cast<int>(std::min<int64_t>(threads, n));  // threads split the columns
    transposed_layout();  // packed here, outside the parallel region, so that failures throw
    reserve_scratch(threads, [&] { sums_buffer(kPlanesCols * padded); });
#pragma omp parallel num_threads(threads)
    {
      int32_t* acc = sums_buffer(kPlanesCols * padded);
      const int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
      const int64_t j_end = n * (t + 1) / nt;
      for (int64_t j0 = n * t / nt; j0 < j_end; j0 += kPlanesCols) {
        const int64_t cols = std::min(kPlanesCols, j_end - j0);
        for (int64_t k0 = 0; k0 < depth; k0 += kFlushK) {
          const int64_t kb = std::min(kFlushK, depth - k0);
          for (int64_t c0 = 0; c0 < chunks_; c0 += kMaxChunks)
            for (int64_t j = 0; j < cols; ++j)
              planes_tiles<kIndexBits>(b + j0 + j, ldb, c0, k0, kb, acc + j * padded, k0 > 0);
        }
        for (int64_t r = 0; r < rows; ++r)
          for (int64_t j = 0; j < cols; ++j)
            c[r * ldc + j0 + j] = static_cast<int32_t>(static_cast<uint32_t>(acc[j * padded + r]) +
                                                       static_cast<uint32_t>(bias));
      }
    }
  }

  // planes_tile over chunks [c0, min(c0 + kMaxChunks, chunks_)).
  template <int kIndexBits>
  void planes_tiles(const uint8_t* b, int64_t ldb, int64_t c0, int64_t k0, int64_t kb, int32_t* dst,
                    bool add) const {
    switch (std::min<int64_t>(kMaxChunks, chunks_ - c0)) {
      case kMaxChunks:
        return planes_tile<kIndexBits, kMaxChunks>(b, ldb, c0, k0, kb, dst, add);
      case 3:
        return planes_tile<kIndexBits, 3>(b, ldb, c0, k0, kb, dst, add);
      case 2:
        return planes_tile<kIndexBits, 2>(b, ldb, c0, k0, kb, dst, add);
      default:
        return planes_tile<kIndexBits, 1>(b, ldb, c0, k0, kb, dst, add);
    }
  }

  // Row `a_row` of A against columns [0, cols) of the B tile b (cols <= kMaxChunks * kChunk).
  template <int kIndexBits, int kCount>
  void planes_n_row(const uint8_t* a_row, const uint8_t* b, int64_t ldb, int64_t cols, int32_t* dst,
                    int32_t bias) const {
    const int64_t depth = k();
    const int64_t tail_lanes = cols - (kCount - 1) * kChunk;
    const __mmask64 tail = tail_lanes == kChunk ? ~__mmask64{0} : (__mmask64{1} << tail_lanes) - 1;
    alignas(64) int32_t sums[kCount * kChunk];
    for (int64_t k0 = 0; k0 < depth; k0 += kFlushK) {
      const int64_t k1 = std::min(k0 + kFlushK, depth);
      PlaneAcc acc[kCount];
      for (int g = 0; g < kCount; ++g)
        acc[g].l1 = acc[g].l2 = acc[g].h1 = acc[g].h2 = _mm512_setzero_si512();
      for (int64_t p = k0; p < k1; ++p) {
        const Planes planes = load_planes(table_->rows.get() + 512 * a_row[p]);
        const uint8_t* bp = b + p * ldb;
        for (int g = 0; g < kCount; ++g) {
          const __m512i idx = g + 1 < kCount ? _mm512_loadu_si512(bp + kChunk * g)
                                             : _mm512_maskz_loadu_epi8(tail, bp + kChunk * g);
          const __mmask64 high = _mm512_movepi8_mask(idx);
          __m512i lo, hi;
          lookup<kIndexBits>(planes, idx, high, ~high, lo, hi);
          accumulate(acc[g], lo, hi);
        }
      }
      for (int g = 0; g < kCount; ++g) flush_planes(acc[g], sums + kChunk * g, k0 > 0);
    }
    for (int64_t j = 0; j < cols; ++j)
      dst[j] = static_cast<int32_t>(static_cast<uint32_t>(sums[j]) + static_cast<uint32_t>(bias));
  }

  template <int kIndexBits>
  void run_planes_n(const uint8_t* b, int64_t n, int32_t* c, int64_t ldb, int64_t ldc,
                    int threads) const {
    constexpr int64_t kTileCols = kMaxChunks * kChunk;
    const int64_t rows = m(), tiles = (n + kTileCols - 1) / kTileCols;
    const int32_t bias = k_bias();
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t task = 0; task < tiles * rows; ++task) {
      const int64_t n0 = task / rows * kTileCols, row = task % rows;
      const int64_t cols = std::min(kTileCols, n - n0);
      const uint8_t* a_row = a_.get() + row * k();
      int32_t* dst = c + row * ldc + n0;
      switch ((cols + kChunk - 1) / kChunk) {
        case kMaxChunks:
          planes_n_row<kIndexBits, kMaxChunks>(a_row, b + n0, ldb, cols, dst, bias);
          break;
        case 3:
          planes_n_row<kIndexBits, 3>(a_row, b + n0, ldb, cols, dst, bias);
          break;
        case 2:
          planes_n_row<kIndexBits, 2>(a_row, b + n0, ldb, cols, dst, bias);
          break;
        default:
          planes_n_row<kIndexBits, 1>(a_row, b + n0, ldb, cols, dst, bias);
          break;
      }
    }
  }

  int32_t bias_;
  int64_t blocks_;       // row blocks of kBlockRows (table-load)
  int64_t pairs_;        // k pairs (table-load)
  int64_t half_blocks_;  // row blocks of kHalfRows (table-load-16)
  int64_t quads_;        // k quads (table-load-16)
  int64_t chunks_;       // row chunks of kChunk (planes-over-m)
  int index_bits_;       // 8, 7 or 6: bits of the weight codes as stored (see lookup)
  int forced_;           // index into kSchedules, -1 to choose per run
  std::shared_ptr<const Avx512Table> table_;
  AlignedBuffer<uint8_t> a_;  // [m][k]
  // Packed on first use (std::call_once, as run() may be called concurrently), so that a LutGemm
  // created for one call packs only the layout its schedule reads.
  mutable PackedA pair_layout_;        // [block][pair][64], masks [block][pair][high, low]
  mutable PackedA transposed_layout_;  // [k][chunks * 64], masks [k][chunk][high, low]
  mutable PackedA k_block_layout_;     // [k / kKBlock][m][k % kKBlock], no masks
  mutable PackedA quad_layout_;        // [half block][quad][64], masks [half block][quad][2]
};

std::shared_ptr<const LutGemm::Impl> Avx512Table::pack(const StationaryA& a) const {
  return std::make_shared<const LutGemmAvx512>(
      a, std::static_pointer_cast<const Avx512Table>(shared_from_this()));
}

}  // namespace

std::shared_ptr<const LutTable::Impl> make_lut_table_avx512(std::span<const int32_t> table,
                                                            int bits) {
  const OffsetTable offsets = make_offset_table(table, bits);
  if (offsets.offsets.empty()) return nullptr;
  auto packed = std::make_shared<Avx512Table>(bits, offsets.bias);
  for (int b = 0; b < 256; ++b)
    for (int a = 0; a < 256; ++a) {
      const uint16_t u = offsets.offsets[a * 256 + b];
      packed->planes[b * 512 + a] = packed->rows[a * 512 + b] = static_cast<uint8_t>(u & 255);
      packed->planes[b * 512 + 256 + a] = packed->rows[a * 512 + 256 + b] =
          static_cast<uint8_t>(u >> 8);
    }
  return packed;
}

}  // namespace axnn::kernels

#pragma GCC pop_options
