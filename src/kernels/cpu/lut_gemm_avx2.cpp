// AVX2 LUT-GEMM: three table-load schedules with 256-bit registers and a scalar one for tiny N.
//
// Tables. The offsets u[a][b] = table[a][b] - bias (uint16, see OffsetTable), row-major over the
// weight code a (offsets), and transposed, row-major over the activation code b (offsets_t);
// 128 KB each, packed once per LutTable (Avx2Table) and shared by every LutGemm created from it,
// which packs only A: in 32-row blocks at create, in k blocks on table-load-over-n's first run.
//
// table-load-over-m (large N). For a block of 32 rows of A and kKBlock k, build
// T[k][b][32 rows] = u[A[row][k]][b] for all 256 b by 16 x 8 transposes of the 32 table rows
// selected by the weights (AVX2 has no byte permute over more than 16 entries, so the transposes
// are the cheapest build). Then each code B[k][n] selects the 64-byte row T[k][B[k][n]]: 32
// lookups per two loads. Two columns of B are accumulated at a time in 8 registers, in 16 bits:
// a word w = x0 + 256 x1 is summed as S1 += w (mod 2^16) and S2 += w >> 8, which for up to 256
// terms gives sum x1 = S2 and sum x0 = (S1 - 256 S2) mod 2^16 exactly. Between k blocks the
// partial sums wait in an N x 64 uint16 buffer; every 256 k they are widened into an N x 32 int32
// buffer, which is transposed into C at the end (adding k * bias mod 2^32). The per-k stride of T
// is padded (16 KB + 640 B) so that rows of successive k do not alias in the cache sets. Threads
// take whole 32-row blocks; the last blocks % threads blocks are cut into column ranges.
//
// table-load-over-n (large M, small N). The mirror image: T[k][a][32 columns] = u[a][B[k][col]]
// from the rows of offsets_t selected by a block of 32 columns of B, then each code A[m][k]
// selects a row; two rows of A at a time; no transposition into C.
//
// table-load-16-over-m (M = 16, 48, ...; and measured slightly faster than table-load-over-m per
// useful lookup). The same with blocks of 16 rows (a 16-lane half of A's 32-row block layout):
// T[k][b][16 rows] by the same transposes, rows of 32 bytes, one 256-bit load per 16 lookups,
// four columns of B at a time in 8 registers; T per k block is half as large.
//
// columns-over-m (N of a few columns, attention heads, batch-1 linears). No table build: for
// each column j of B and 32-row block of A, the table column u[.][B[k][j]] of each k (offsets_t)
// is looked up by the block's codes of that k with scalar loads, 8 rows in int32 registers,
// 16 k at a time so that their columns stay in L1. Threads split the (column, block) tasks.
//
// The build costs 256 rows per k, so it pays off only when enough columns (rows) share it: the
// cheapest schedule by a cost model over M and N (build against sharing, padding, scalar lookups
// for the few-column case) is chosen per run.
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <mutex>

#include "kernels/cpu/lut_gemm_impl.h"

// Only this file's own code is compiled for AVX2, by this pragma rather than by -m flags: the
// library templates it instantiates keep the baseline ISA, so whichever copy of them the linker
// keeps still runs on any x86-64 CPU.
#pragma GCC push_options
#pragma GCC target("avx2,fma")

namespace axnn::kernels {
namespace {

enum class Schedule { kTableLoadM, kTableLoadN, kTableLoad16M, kColumnsM };
constexpr std::string_view kSchedules[] = {"table-load-over-m", "table-load-over-n",
                                           "table-load-16-over-m", "columns-over-m"};

// Lines (B columns or A rows) per register tile: 8 accumulators either way, so that with the
// temporaries they stay within AVX2's 16 registers (4 lines of 32 lanes spilled: 15.5 G lookups/s
// against 26 on 32 x 288 x 12544).
constexpr int64_t kTileLines = 2;      // 32-lane T rows: S1 and S2 of two 256-bit halves per line
constexpr int64_t kHalfTileLines = 4;  // 16-lane T rows: S1 and S2 of one 256-bit half per line
// Schedule choice, measured on Sapphire Rapids: building T costs about as much as streaming
// kBuildLines lines through it. Table-load-16 streams lines at kHalfSpeed of table-load's rate
// per useful lookup (the same work per lookup, one load per 16 rows; measured 28 against 26 G
// lookups/s on 32 x 288 x 12544, 27 against 25 on 64 x 576 x 3136) and pads rows to 16, not 32.
constexpr double kBuildLines = 230;
constexpr double kHalfSpeed = 1.07;
// Columns-over-m (N of a few columns, where a table build has nothing to share): scalar lookups
// cost kColumnsCost table-load lookups each; its k block keeps the block's table columns in L1.
constexpr double kColumnsCost = 6.5;
constexpr int64_t kColumnsKBlock = 16;
constexpr int kColumnsRows = 8;  // rows of A accumulated in registers

// Transposes a 16 x 8 uint16 block: dst[i * stride + 0..15] = rows[0..15][col + i]. Rows 0..7
// travel in the low 128-bit lanes and rows 8..15 in the high ones, so the in-lane unpacks of an
// 8 x 8 transpose yield whole 32-byte rows of T.
inline void transpose_16x8(const uint16_t* const* rows, int col, uint16_t* dst, int64_t stride) {
  __m256i r[8], a[8], b[8];
  for (int i = 0; i < 8; ++i)
    r[i] = _mm256_inserti128_si256(
        _mm256_castsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(rows[i] + col))),
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(rows[8 + i] + col)), 1);
  for (int i = 0; i < 4; ++i) {
    a[2 * i] = _mm256_unpacklo_epi16(r[2 * i], r[2 * i + 1]);
    a[2 * i + 1] = _mm256_unpackhi_epi16(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 2; ++i) {
    b[4 * i + 0] = _mm256_unpacklo_epi32(a[4 * i + 0], a[4 * i + 2]);
    b[4 * i + 1] = _mm256_unpackhi_epi32(a[4 * i + 0], a[4 * i + 2]);
    b[4 * i + 2] = _mm256_unpacklo_epi32(a[4 * i + 1], a[4 * i + 3]);
    b[4 * i + 3] = _mm256_unpackhi_epi32(a[4 * i + 1], a[4 * i + 3]);
  }
  for (int i = 0; i < 4; ++i) {
    _mm256_store_si256(reinterpret_cast<__m256i*>(dst + (2 * i) * stride),
                       _mm256_unpacklo_epi64(b[i], b[4 + i]));
    _mm256_store_si256(reinterpret_cast<__m256i*>(dst + (2 * i + 1) * stride),
                       _mm256_unpackhi_epi64(b[i], b[4 + i]));
  }
}

// Widens 16 words of (s1, s2) into their exact sums and stores or adds them at dst[0..15].
inline void widen_words(__m256i s1, __m256i s2, int32_t* dst, bool add) {
  const __m256i x0 = _mm256_sub_epi16(s1, _mm256_slli_epi16(s2, 8));
  __m256i r0 =
      _mm256_add_epi32(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm256_castsi256_si128(s2)), 8),
                       _mm256_cvtepu16_epi32(_mm256_castsi256_si128(x0)));
  __m256i r1 =
      _mm256_add_epi32(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm256_extracti128_si256(s2, 1)), 8),
                       _mm256_cvtepu16_epi32(_mm256_extracti128_si256(x0, 1)));
  auto* p = reinterpret_cast<__m256i*>(dst);
  if (add) {
    r0 = _mm256_add_epi32(r0, _mm256_load_si256(p));
    r1 = _mm256_add_epi32(r1, _mm256_load_si256(p + 1));
  }
  _mm256_store_si256(p, r0);
  _mm256_store_si256(p + 1, r1);
}

// The table as this impl reads it: a LutTable's impl, shared by every LutGemmAvx2 packed against
// it.
class Avx2Table final : public LutTable::Impl {
 public:
  Avx2Table(int bits, OffsetTable offsets)
      : Impl(bits), bias(offsets.bias), offsets(std::move(offsets.offsets)) {
    offsets_t.resize(this->offsets.size());
    for (int a = 0; a < 256; ++a)
      for (int b = 0; b < 256; ++b) offsets_t[b * 256 + a] = this->offsets[a * 256 + b];
  }
  std::string_view name() const override { return "avx2"; }
  std::span<const std::string_view> schedules() const override { return kSchedules; }
  std::shared_ptr<const LutGemm::Impl> pack(const StationaryA& a) const override;

  int32_t bias;
  std::vector<uint16_t> offsets;    // [a][b]
  std::vector<uint16_t> offsets_t;  // [b][a]
};

class LutGemmAvx2 final : public LutGemm::Impl {
 public:
  LutGemmAvx2(const StationaryA& a, std::shared_ptr<const Avx2Table> table)
      : Impl(a.m, a.k),
        bias_(table->bias),
        blocks_((a.m + kBlockRows - 1) / kBlockRows),
        forced_(a.schedule),
        table_(std::move(table)) {
    // A in blocks of 32 rows, k-major, padded rows use code 0 (their sums are discarded). The k
    // block layout of table-load-over-n is derived from it on that schedule's first run.
    a_.assign(blocks_ * a.k * kBlockRows, 0);
    for (int64_t r = 0; r < a.m; ++r) {
      const uint8_t* src = a.a + r * a.lda;
      uint8_t* dst = a_.data() + (r / kBlockRows) * a.k * kBlockRows + r % kBlockRows;
      for (int64_t p = 0; p < a.k; ++p) dst[p * kBlockRows] = src[p];
    }
  }

  std::string_view name() const override { return "avx2"; }
  std::string_view schedule(int64_t n) const override {
    return kSchedules[static_cast<int>(choose(n))];
  }

  void run(const uint8_t* b, int64_t n, int32_t* c, int64_t ldb, int64_t ldc,
           int threads) const override {
    switch (choose(n)) {
      case Schedule::kTableLoadM:
        return run_table_load_m(b, n, c, ldb, ldc, threads);
      case Schedule::kTableLoadN:
        return run_table_load_n(b, n, c, ldb, ldc, threads);
      case Schedule::kTableLoad16M:
        return run_table_load16_m(b, n, c, ldb, ldc, threads);
      case Schedule::kColumnsM:
        return run_columns_m(b, n, c, ldb, ldc, threads);
    }
  }

 private:
  // The forced schedule, else the cheapest: the table build against the lines that share it,
  // with rows or columns padded to whole blocks.
  Schedule choose(int64_t n) const {
    if (forced_ >= 0) return static_cast<Schedule>(forced_);
    const double rows = static_cast<double>(blocks_ * kBlockRows), cols = static_cast<double>(n);
    const double half_rows = static_cast<double>((m() + kHalfRows - 1) / kHalfRows * kHalfRows);
    const double padded_cols = static_cast<double>((n + kBlockRows - 1) / kBlockRows * kBlockRows);
    const double costs[] = {rows * (cols + kBuildLines),
                            padded_cols * (static_cast<double>(m()) + kBuildLines),
                            half_rows * (cols / kHalfSpeed + kBuildLines),
                            static_cast<double>(m()) * cols * kColumnsCost};
    return static_cast<Schedule>(std::min_element(std::begin(costs), std::end(costs)) - costs);
  }

  uint32_t k_bias() const { return static_cast<uint32_t>(k()) * static_cast<uint32_t>(bias_); }

  void run_table_load_m(const uint8_t* b, int64_t n, int32_t* c, int64_t ldb, int64_t ldc,
                        int threads) const {
    const int64_t rows = m(), depth = k();
    const std::vector<BlockTask> tasks = split_blocks(blocks_, n, threads, kTileLines);
    reserve_scratch(threads, [&] { table_load_buffers(n); });
#pragma omp parallel num_threads(threads)
    {
      const auto [t, part, sums] = table_load_buffers(n);
#pragma omp for schedule(dynamic, 1)
      for (size_t task = 0; task < tasks.size(); ++task) {
        const auto [mb, j0, j1] = tasks[task];
        for (int64_t k0 = 0; k0 < depth; k0 += kKBlock) {
          const int64_t kb = std::min(kKBlock, depth - k0);
          build_table(table_->offsets.data(), a_.data() + (mb * depth + k0) * kBlockRows, kb, t);
          lines(t, b + k0 * ldb, ldb, 1, j0, j1, k0, kb, depth, part, sums);
        }
        const int64_t m0 = mb * kBlockRows;
        store_block_sums(sums, kBlockRows, std::min(kBlockRows, rows - m0), j0, j1,
                         static_cast<int32_t>(k_bias()), c + m0 * ldc, ldc);
      }
    }
  }

  // Table-load-16 over m: half blocks of A (a 16-lane half of a_'s 32-row block) build a T of
  // 16-row (32-byte) rows, kHalfKBlock k at a time.
  void run_table_load16_m(const uint8_t* b, int64_t n, int32_t* c, int64_t ldb, int64_t ldc,
                          int threads) const {
    const int64_t rows = m(), depth = k();
    const std::vector<BlockTask> tasks =
        split_blocks((rows + kHalfRows - 1) / kHalfRows, n, threads, kHalfTileLines);
    reserve_scratch(threads, [&] { table_load_buffers(n); });
#pragma omp parallel num_threads(threads)
    {
      const auto [t, part, sums] = table_load_buffers(n);
#pragma omp for schedule(dynamic, 1)
      for (size_t task = 0; task < tasks.size(); ++task) {
        const auto [hb, j0, j1] = tasks[task];
        const uint8_t* a_half = a_.data() + (hb / 2) * depth * kBlockRows + (hb % 2) * kHalfRows;
        for (int64_t k0 = 0; k0 < depth; k0 += kHalfKBlock) {
          const int64_t kb = std::min(kHalfKBlock, depth - k0);
          build_table16(table_->offsets.data(), a_half + k0 * kBlockRows, kb, t);
          const FlushStep step = flush_step(k0, kb, depth);
          const uint8_t* codes = b + k0 * ldb;
          int64_t j = j0;
          for (; j + kHalfTileLines <= j1; j += kHalfTileLines)
            tile16<kHalfTileLines>(t, codes + j, ldb, kb, part + j * 2 * kHalfRows,
                                   sums + j * kHalfRows, step);
          for (; j < j1; ++j)
            tile16<1>(t, codes + j, ldb, kb, part + j * 2 * kHalfRows, sums + j * kHalfRows, step);
        }
        const int64_t m0 = hb * kHalfRows;
        store_block_sums(sums, kHalfRows, std::min(kHalfRows, rows - m0), j0, j1,
                         static_cast<int32_t>(k_bias()), c + m0 * ldc, ldc);
      }
    }
  }

  // Columns over m: per column j of B and 32-row block of A, the table column u[.][B[k][j]] of
  // each k (offsets_t, 512 bytes) is looked up by the block's codes of that k, kColumnsRows rows
  // at a time in registers, kColumnsKBlock k at a time so that their columns stay in L1.
  void run_columns_m(const uint8_t* b, int64_t n, int32_t* c, int64_t ldb, int64_t ldc,
                     int threads) const {
    const int64_t rows = m(), depth = k(), tasks = n * blocks_;
    const uint32_t bias = k_bias();
    const uint16_t* offsets_t = table_->offsets_t.data();
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t task = 0; task < tasks; ++task) {
      const int64_t j = task / blocks_, m0 = task % blocks_ * kBlockRows;
      const int64_t count = std::min(kBlockRows, rows - m0);
      const uint8_t* a = a_.data() + m0 * depth;
      uint32_t sums[kBlockRows] = {};
      const uint16_t* columns[kColumnsKBlock];
      for (int64_t k0 = 0; k0 < depth; k0 += kColumnsKBlock) {
        const int64_t kb = std::min(kColumnsKBlock, depth - k0);
        for (int64_t kk = 0; kk < kb; ++kk) columns[kk] = offsets_t + 256 * b[(k0 + kk) * ldb + j];
        for (int64_t r0 = 0; r0 < count; r0 += kColumnsRows) {
          uint32_t acc[kColumnsRows] = {};
          const uint8_t* codes = a + k0 * kBlockRows + r0;
          for (int64_t kk = 0; kk < kb; ++kk, codes += kBlockRows)
            for (int i = 0; i < kColumnsRows; ++i) acc[i] += columns[kk][codes[i]];
          for (int i = 0; i < kColumnsRows; ++i) sums[r0 + i] += acc[i];
        }
      }
      for (int64_t r = 0; r < count; ++r)
        c[(m0 + r) * ldc + j] = static_cast<int32_t>(sums[r] + bias);
    }
  }

  void run_table_load_n(const uint8_t* b, int64_t n, int32_t* c, int64_t ldb, int64_t ldc,
                        int threads) const {
    const int64_t rows = m(), depth = k();
    const std::vector<BlockTask> tasks =
        split_blocks((n + kBlockRows - 1) / kBlockRows, rows, threads, kTileLines);
    const uint8_t* a_k_blocks = k_block_layout().data();
    reserve_scratch(threads, [&] { table_load_buffers(rows); });
#pragma omp parallel num_threads(threads)
    {
      const auto [t, part, sums] = table_load_buffers(rows);
      uint8_t codes[kKBlock * kBlockRows];
#pragma omp for schedule(dynamic, 1)
      for (size_t task = 0; task < tasks.size(); ++task) {
        const auto [cb, r0, r1] = tasks[task];
        const int64_t n0 = cb * kBlockRows, cols = std::min(kBlockRows, n - n0);
        for (int64_t k0 = 0; k0 < depth; k0 += kKBlock) {
          const int64_t kb = std::min(kKBlock, depth - k0);
          // The block's B codes, columns past n reading code 0 (their sums are discarded).
          for (int64_t kk = 0; kk < kb; ++kk)
            for (int64_t col = 0; col < kBlockRows; ++col)
              codes[kk * kBlockRows + col] = col < cols ? b[(k0 + kk) * ldb + n0 + col] : 0;
          build_table(table_->offsets_t.data(), codes, kb, t);
          lines(t, a_k_blocks + k0 * rows, 1, kKBlock, r0, r1, k0, kb, depth, part, sums);
        }
        store_row_sums(sums, kBlockRows, r0, r1, n0, cols, static_cast<int32_t>(k_bias()), c, ldc);
      }
    }
  }

  // Table-load-over-n row codes: A in k blocks, [k / kKBlock][row][k % kKBlock], so that a k block
  // of every row is one contiguous M x 16 slice; packed from a_ on first use (std::call_once, as
  // run() may be called concurrently).
  const std::vector<uint8_t>& k_block_layout() const {
    std::call_once(k_blocks_once_, [this] {
      const int64_t rows = m(), depth = k(), k_blocks = (depth + kKBlock - 1) / kKBlock;
      a_k_blocks_.assign(k_blocks * rows * kKBlock, 0);
      for (int64_t r = 0; r < rows; ++r) {
        const uint8_t* src = a_.data() + (r / kBlockRows) * depth * kBlockRows + r % kBlockRows;
        for (int64_t p = 0; p < depth; ++p)
          a_k_blocks_[((p / kKBlock) * rows + r) * kKBlock + p % kKBlock] = src[p * kBlockRows];
      }
    });
    return a_k_blocks_;
  }

  // T[kk][code][0..31] = source[codes[kk * 32 + i]][code] for the 32 lanes i, kk < kb: the rows
  // of `source` (offsets or offsets_t) selected by 32 codes per k, transposed.
  static void build_table(const uint16_t* source, const uint8_t* codes, int64_t kb, uint16_t* t) {
    const uint16_t* rows[kBlockRows];
    for (int64_t kk = 0; kk < kb; ++kk) {
      for (int r = 0; r < kBlockRows; ++r) rows[r] = source + 256 * codes[kk * kBlockRows + r];
      uint16_t* tk = t + kk * kTStride;
      for (int code = 0; code < 256; code += 8)
        for (int r = 0; r < kBlockRows; r += 16)
          transpose_16x8(rows + r, code, tk + code * kBlockRows + r, kBlockRows);
    }
  }

  // The 16-row T: T[kk][code][0..15] = source[codes[kk * 32 + i]][code] for i < 16, kk < kb.
  static void build_table16(const uint16_t* source, const uint8_t* codes, int64_t kb, uint16_t* t) {
    const uint16_t* rows[kHalfRows];
    for (int64_t kk = 0; kk < kb; ++kk) {
      for (int r = 0; r < kHalfRows; ++r) rows[r] = source + 256 * codes[kk * kBlockRows + r];
      uint16_t* tk = t + kk * kHalfTStride;
      for (int code = 0; code < 256; code += 8)
        transpose_16x8(rows, code, tk + code * kHalfRows, kHalfRows);
    }
  }

  // kLines columns of B against the 16-row T for kb k: one 32-byte row per column and k; partial
  // sums in part[line][S1 16 | S2 16] and sums[line][16], as in tile().
  template <int kLines>
  static void tile16(const uint16_t* t, const uint8_t* codes, int64_t k_stride, int64_t kb,
                     uint16_t* part, int32_t* sums, FlushStep step) {
    const auto [first, last, add] = step;
    __m256i s1[kLines], s2[kLines];
    auto* saved = reinterpret_cast<__m256i*>(part);
    for (int j = 0; j < kLines; ++j) {
      s1[j] = first ? _mm256_setzero_si256() : _mm256_load_si256(saved + 2 * j);
      s2[j] = first ? _mm256_setzero_si256() : _mm256_load_si256(saved + 2 * j + 1);
    }
    const char* tk = reinterpret_cast<const char*>(t);
    for (int64_t kk = 0; kk < kb; ++kk, tk += kHalfTStride * sizeof(uint16_t), codes += k_stride) {
#pragma GCC unroll 4
      for (int j = 0; j < kLines; ++j) {
        const __m256i v = _mm256_load_si256(
            reinterpret_cast<const __m256i*>(tk + (static_cast<size_t>(codes[j]) << 5)));
        s1[j] = _mm256_add_epi16(s1[j], v);
        s2[j] = _mm256_add_epi16(s2[j], _mm256_srli_epi16(v, 8));
      }
    }
    for (int j = 0; j < kLines; ++j) {
      if (last) {
        widen_words(s1[j], s2[j], sums + kHalfRows * j, add);
      } else {
        _mm256_store_si256(saved + 2 * j, s1[j]);
        _mm256_store_si256(saved + 2 * j + 1, s2[j]);
      }
    }
  }

  // Lines [j0, j1) through T for the k block [k0, k0 + kb) of depth, kTileLines at a time.
  static void lines(const uint16_t* t, const uint8_t* codes, int64_t k_stride, int64_t line_stride,
                    int64_t j0, int64_t j1, int64_t k0, int64_t kb, int64_t depth, uint16_t* part,
                    int32_t* sums) {
    const FlushStep step = flush_step(k0, kb, depth);
    int64_t j = j0;
    for (; j + kTileLines <= j1; j += kTileLines)
      tile<kTileLines>(t, codes + j * line_stride, k_stride, line_stride, kb,
                       part + j * 2 * kBlockRows, sums + j * kBlockRows, step);
    for (; j < j1; ++j)
      tile<1>(t, codes + j * line_stride, k_stride, line_stride, kb, part + j * 2 * kBlockRows,
              sums + j * kBlockRows, step);
  }

  // kLines lines against T for kb k: line j, step kk selects row
  // T[kk][codes[kk * k_stride + j * line_stride]]. The 16-bit partial sums of each line live in
  // part[line][32 x (S1 16 | S2 16)] between k blocks: they start at zero on the first block of a
  // flush period and are widened into sums[line][32] (added when `add`) on its last.
  template <int kLines>
  static void tile(const uint16_t* t, const uint8_t* codes, int64_t k_stride, int64_t line_stride,
                   int64_t kb, uint16_t* part, int32_t* sums, FlushStep step) {
    const auto [first, last, add] = step;
    __m256i s1[2 * kLines], s2[2 * kLines];
    auto* saved = reinterpret_cast<__m256i*>(part);
    for (int j = 0; j < 2 * kLines; ++j) {
      s1[j] = first ? _mm256_setzero_si256() : _mm256_load_si256(saved + 2 * j);
      s2[j] = first ? _mm256_setzero_si256() : _mm256_load_si256(saved + 2 * j + 1);
    }
    const char* tk = reinterpret_cast<const char*>(t);
    for (int64_t kk = 0; kk < kb; ++kk, tk += kTStride * sizeof(uint16_t), codes += k_stride) {
#pragma GCC unroll 4
      for (int j = 0; j < kLines; ++j) {
        const auto* row = reinterpret_cast<const __m256i*>(
            tk + (static_cast<size_t>(codes[j * line_stride]) << 6));
        for (int h = 0; h < 2; ++h) {
          const __m256i v = _mm256_load_si256(row + h);
          s1[2 * j + h] = _mm256_add_epi16(s1[2 * j + h], v);
          s2[2 * j + h] = _mm256_add_epi16(s2[2 * j + h], _mm256_srli_epi16(v, 8));
        }
      }
    }
    for (int j = 0; j < 2 * kLines; ++j) {
      if (last) {
        widen_words(s1[j], s2[j], sums + 16 * j, add);
      } else {
        _mm256_store_si256(saved + 2 * j, s1[j]);
        _mm256_store_si256(saved + 2 * j + 1, s2[j]);
      }
    }
  }

  int32_t bias_;
  int64_t blocks_;
  int forced_;  // index into kSchedules, -1 to choose per run
  std::shared_ptr<const Avx2Table> table_;
  std::vector<uint8_t> a_;  // [block][k][32 rows]
  mutable std::once_flag k_blocks_once_;
  mutable std::vector<uint8_t> a_k_blocks_;  // [k / kKBlock][m][k % kKBlock], see k_block_layout
};

std::shared_ptr<const LutGemm::Impl> Avx2Table::pack(const StationaryA& a) const {
  return std::make_shared<const LutGemmAvx2>(
      a, std::static_pointer_cast<const Avx2Table>(shared_from_this()));
}

}  // namespace

std::shared_ptr<const LutTable::Impl> make_lut_table_avx2(std::span<const int32_t> table,
                                                          int bits) {
  OffsetTable offsets = make_offset_table(table, bits);
  if (offsets.offsets.empty()) return nullptr;
  return std::make_shared<Avx2Table>(bits, std::move(offsets));
}

}  // namespace axnn::kernels

#pragma GCC pop_options
