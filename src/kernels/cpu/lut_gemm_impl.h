// Internal interface between LutGemm and its per-ISA implementations.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <exception>
#include <memory>
#include <mutex>
#include <new>
#include <span>
#include <string_view>
#include <vector>

#include "kernels/lut_gemm.h"

namespace axnn::kernels {

// A validated stationary operand, as LutGemm::create hands it to LutTable::Impl::pack.
struct StationaryA {
  const uint8_t* a;  // m x k codes, row stride lda (resolved: >= k)
  int64_t m;
  int64_t k;
  int64_t lda;
  int schedule;  // index into the impl's schedules(), -1 to choose per run
};

// A packed table: built once by a factory, immutable, shared by every LutGemm::Impl packed
// against it (each holds a shared_ptr to it, from shared_from_this()).
class LutTable::Impl : public std::enable_shared_from_this<LutTable::Impl> {
 public:
  explicit Impl(int bits) : bits_(bits) {}
  virtual ~Impl() = default;
  virtual std::string_view name() const = 0;
  // The loop schedules of the impl's LutGemms, by name, in the order StationaryA::schedule counts.
  virtual std::span<const std::string_view> schedules() const = 0;
  // Packs A against this table (only what every schedule needs; layouts of single schedules may
  // be packed on their first run). The result keeps this table alive.
  virtual std::shared_ptr<const LutGemm::Impl> pack(const StationaryA& a) const = 0;
  int bits() const { return bits_; }

 private:
  int bits_;
};

// A packed operand A with its table, ready to run. Built by LutTable::Impl::pack; run() is const
// and may be called concurrently. Arguments reaching run() have been validated by LutGemm.
class LutGemm::Impl {
 public:
  Impl(int64_t m, int64_t k) : m_(m), k_(k) {}
  virtual ~Impl() = default;
  virtual std::string_view name() const = 0;
  // The loop schedule run() takes for n columns (impls with several choose per call).
  virtual std::string_view schedule(int64_t n) const = 0;
  // threads >= 1; ldb >= n and ldc >= n are already resolved.
  virtual void run(const uint8_t* b, int64_t n, int32_t* c, int64_t ldb, int64_t ldc,
                   int threads) const = 0;
  int64_t m() const { return m_; }
  int64_t k() const { return k_; }

 private:
  int64_t m_;
  int64_t k_;
};

// The table as the SIMD impls store it: 256 x 256 uint16 offsets
// u[a][b] = table[a & mask][b & mask] - bias, repeated over the high code bits so that raw code
// bytes index it directly. sum_k table = sum_k u + k * bias (mod 2^32), so the offsets reproduce
// the contract exactly.
struct OffsetTable {
  int32_t bias = 0;               // the table minimum
  std::vector<uint16_t> offsets;  // [a][b], 65536 entries
};

// The table-load schedules' geometry, the same for every ISA: T holds, per k, 256 rows of 32
// uint16 (64 bytes), built kKBlock k at a time; the 16-bit partial sums are widened every kFlushK
// k, before S2 (see the ISA files) can wrap.
constexpr int64_t kBlockRows = 32;            // lanes of a T row: rows of A or columns of B
constexpr int64_t kKBlock = 16;               // k per table build
constexpr int64_t kTStride = 256 * 32 + 320;  // uint16 per k in T, padded against set aliasing
constexpr int64_t kFlushK = 256;              // 16-bit partial sums stay exact up to here
static_assert(kFlushK % kKBlock == 0 && kKBlock % 2 == 0, "k blocks must tile flush periods");
// The 16-row table-load schedules (blocks of 16 rows of A, for 16-channel stages and M <= 16): T
// rows of 16 uint16 (32 bytes), so that T per k block is half as large (more of it stays in L1),
// in the same scratch. Measured: 32 k per build (the same T size) spills more than it saves.
constexpr int64_t kHalfRows = 16;               // lanes of a 16-row T row
constexpr int64_t kHalfKBlock = 16;             // k per table build
constexpr int64_t kHalfTStride = kTStride / 2;  // uint16 per k in T, padded as kTStride
static_assert(kHalfKBlock * kHalfTStride <= kKBlock * kTStride && kFlushK % kHalfKBlock == 0 &&
                  kHalfKBlock % 4 == 0,
              "16-row k blocks must fit the scratch and tile flush periods");

// Where the k block [k0, k0 + kb) of depth lies in its flush period.
struct FlushStep {
  bool first;  // starts a period: the 16-bit partial sums start at zero
  bool last;   // ends a period (or the depth): widen the partial sums into the int32 sums
  bool add;    // not the first period: add to the int32 sums instead of storing
};
constexpr FlushStep flush_step(int64_t k0, int64_t kb, int64_t depth) {
  return {k0 % kFlushK == 0, k0 + kb == depth || (k0 + kb) % kFlushK == 0, k0 >= kFlushK};
}

// Builds the offset table of a validated table (2^bits x 2^bits); offsets stay empty when
// max - min > 65535 (the SIMD impls decline). Defined in lut_gemm.cpp, compiled for the baseline
// ISA, so that every ISA file can share it.
OffsetTable make_offset_table(std::span<const int32_t> table, int bits);

// Work split for impls that walk C in blocks of rows and build tables per block: whole blocks
// first, then the blocks % threads blocks that would leave threads idle at the end, each cut into
// `threads` column ranges (starting at multiples of col_align). A whole block builds its tables
// once; only the cut ones pay the build again per range.
struct BlockTask {
  int64_t block;
  int64_t col_begin;
  int64_t col_end;
};
std::vector<BlockTask> split_blocks(int64_t blocks, int64_t n, int threads, int64_t col_align);

// C[r][j] = sums[j * block_rows + r] + bias (mod 2^32) for r < rows and j in [j0, j1): the
// column-major block sums of the table-load schedules into row-major C. Walks the columns in
// tiles so that each tile of sums is read from L1 rather than once per row from memory.
void store_block_sums(const int32_t* sums, int64_t block_rows, int64_t rows, int64_t j0, int64_t j1,
                      int32_t bias, int32_t* c, int64_t ldc);

// C[r][n0 + j] = sums[r * block_cols + j] + bias (mod 2^32) for r in [r0, r1) and j < cols: the
// row-major sums of the table-load-over-n schedules into C.
void store_row_sums(const int32_t* sums, int64_t block_cols, int64_t r0, int64_t r1, int64_t n0,
                    int64_t cols, int32_t bias, int32_t* c, int64_t ldc);

// 64-byte aligned storage for packed operands and per-thread scratch.
template <class T>
struct AlignedFree {
  void operator()(T* p) const { std::free(p); }
};
template <class T>
using AlignedBuffer = std::unique_ptr<T[], AlignedFree<T>>;

template <class T>
AlignedBuffer<T> make_aligned(size_t count) {
  const size_t bytes = (count * sizeof(T) + 63) / 64 * 64;
  T* p = static_cast<T*>(std::aligned_alloc(64, bytes == 0 ? 64 : bytes));
  if (p == nullptr) throw std::bad_alloc();
  return AlignedBuffer<T>(p);
}

// The calling thread's scratch, kept between runs (and shared by the impls) so that its pages stay
// mapped: T, the 16-bit partial sums and the int32 sums of a table-load schedule over `lines`
// lines (B columns or A rows).
struct TableLoadBuffers {
  uint16_t* t;     // kKBlock x kTStride
  uint16_t* part;  // lines x 64
  int32_t* sums;   // lines x 32
};
TableLoadBuffers table_load_buffers(int64_t lines);
// The calling thread's int32 scratch (the same memory as TableLoadBuffers::sums).
int32_t* sums_buffer(int64_t count);

// Calls `reserve` (which grows the calling thread's scratch buffers) on each thread of a team of
// `threads` before the parallel loops, so that running out of memory throws from run() instead of
// terminating the process inside a parallel region. One thread reserves without a team (a
// parallel region costs more than a whole 64 x 64 x 1 run).
template <class Reserve>
void reserve_scratch(int threads, const Reserve& reserve) {
  if (threads == 1) return reserve();
  std::exception_ptr error;
#pragma omp parallel num_threads(threads)
  {
    try {
      reserve();
    } catch (...) {
#pragma omp critical(axnn_reserve_scratch)
      error = std::current_exception();
    }
  }
  if (error) std::rethrow_exception(error);
}

// Factories, one per ISA file: the table packed for that impl, from a validated table
// (2^bits x 2^bits entries, bits 2..8), or nullptr when the impl cannot reproduce it exactly, so
// that the next impl in the list is tried.
std::shared_ptr<const LutTable::Impl> make_lut_table_avx512(std::span<const int32_t> table,
                                                            int bits);
std::shared_ptr<const LutTable::Impl> make_lut_table_avx2(std::span<const int32_t> table, int bits);
std::shared_ptr<const LutTable::Impl> make_lut_table_ref(std::span<const int32_t> table, int bits);

}  // namespace axnn::kernels
