// LutGemm: validation and dispatch over the ordered impl list avx512 -> avx2 -> ref.
#include "kernels/lut_gemm.h"

#include <fmt/ranges.h>
#include <omp.h>

#include <algorithm>

#include "core/error.h"
#include "core/log.h"
#include "core/profile.h"
#include "kernels/cpu/lut_gemm_impl.h"

namespace axnn::kernels {
namespace {

// Bound on m, k, n and strides: keeps every index product (and packed size) far from int64
// overflow.
constexpr int64_t kMaxDim = int64_t{1} << 31;
// Bound on the OpenMP team a run may ask for.
constexpr int kMaxThreads = 1024;

struct ImplEntry {
  Isa isa;
  std::shared_ptr<const LutGemm::Impl> (*make)(const LutGemmDesc&);
};

constexpr ImplEntry kImpls[] = {
    {Isa::kAvx512, make_lut_gemm_avx512},
    {Isa::kAvx2, make_lut_gemm_avx2},
    {Isa::kRef, make_lut_gemm_ref},
};

// A buffer that only grows.
template <class T>
class Scratch {
 public:
  T* get(int64_t count) {
    if (count > capacity_) {
      buffer_ = make_aligned<T>(static_cast<size_t>(count));
      capacity_ = count;
    }
    return buffer_.get();
  }

 private:
  AlignedBuffer<T> buffer_;
  int64_t capacity_ = 0;
};

thread_local Scratch<uint16_t> table_scratch, part_scratch;
thread_local Scratch<int32_t> sums_scratch;

}  // namespace

TableLoadBuffers table_load_buffers(int64_t lines) {
  return {table_scratch.get(kKBlock * kTStride), part_scratch.get(lines * 2 * kBlockRows),
          sums_scratch.get(lines * kBlockRows)};
}

int32_t* sums_buffer(int64_t count) { return sums_scratch.get(count); }

OffsetTable make_offset_table(const LutGemmDesc& desc) {
  const auto [lo, hi] = std::minmax_element(desc.table.begin(), desc.table.end());
  OffsetTable out;
  if (int64_t{*hi} - int64_t{*lo} > 65535) return out;
  out.bias = *lo;
  out.offsets.resize(256 * 256);
  const unsigned mask = (1u << desc.bits) - 1;
  for (unsigned a = 0; a < 256; ++a)
    for (unsigned b = 0; b < 256; ++b)
      out.offsets[a * 256 + b] =
          static_cast<uint16_t>(desc.table[((a & mask) << desc.bits) | (b & mask)] - out.bias);
  return out;
}

int find_schedule(const LutGemmDesc& desc, std::string_view impl,
                  std::span<const std::string_view> schedules) {
  if (desc.schedule.empty()) return -1;
  const auto it = std::find(schedules.begin(), schedules.end(), desc.schedule);
  AXNN_CHECK(it != schedules.end(), "LutGemmDesc.schedule = '{}': impl {} has only {}",
             desc.schedule, impl, fmt::join(schedules, ", "));
  return static_cast<int>(it - schedules.begin());
}

std::vector<BlockTask> split_blocks(int64_t blocks, int64_t n, int threads, int64_t col_align) {
  std::vector<BlockTask> tasks;
  const int64_t whole = blocks - blocks % threads;
  for (int64_t block = 0; block < whole; ++block) tasks.push_back({block, 0, n});
  for (int64_t block = whole; block < blocks; ++block) {
    int64_t begin = 0;
    for (int part = 1; part <= threads; ++part) {
      const int64_t end = part == threads ? n : n * part / threads / col_align * col_align;
      if (end > begin) tasks.push_back({block, begin, end});
      begin = std::max(begin, end);
    }
  }
  return tasks;
}

void store_block_sums(const int32_t* sums, int64_t block_rows, int64_t rows, int64_t j0, int64_t j1,
                      int32_t bias, int32_t* c, int64_t ldc) {
  constexpr int64_t kTile = 64;
  for (int64_t t0 = j0; t0 < j1; t0 += kTile) {
    const int64_t t1 = std::min(t0 + kTile, j1);
    for (int64_t r = 0; r < rows; ++r) {
      int32_t* dst = c + r * ldc;
      for (int64_t j = t0; j < t1; ++j)
        dst[j] = static_cast<int32_t>(static_cast<uint32_t>(sums[j * block_rows + r]) +
                                      static_cast<uint32_t>(bias));
    }
  }
}

void store_row_sums(const int32_t* sums, int64_t block_cols, int64_t r0, int64_t r1, int64_t n0,
                    int64_t cols, int32_t bias, int32_t* c, int64_t ldc) {
  for (int64_t r = r0; r < r1; ++r)
    for (int64_t j = 0; j < cols; ++j)
      c[r * ldc + n0 + j] = static_cast<int32_t>(static_cast<uint32_t>(sums[r * block_cols + j]) +
                                                 static_cast<uint32_t>(bias));
}

LutGemm LutGemm::create(const LutGemmDesc& desc) {
  const profile::StageScope timer("pack");
  AXNN_CHECK(desc.bits >= 2 && desc.bits <= 8, "LutGemmDesc.bits = {}: expected 2..8", desc.bits);
  const size_t entries = size_t{1} << (2 * desc.bits);
  AXNN_CHECK(desc.table.data() != nullptr, "LutGemmDesc.table is null");
  AXNN_CHECK(desc.table.size() == entries,
             "LutGemmDesc.table has {} entries: bits = {} needs 2^bits x 2^bits = {}",
             desc.table.size(), desc.bits, entries);
  AXNN_CHECK(desc.a != nullptr, "LutGemmDesc.a is null");
  AXNN_CHECK(desc.m > 0 && desc.m < kMaxDim, "LutGemmDesc.m = {}: expected 1..{}", desc.m,
             kMaxDim - 1);
  AXNN_CHECK(desc.k > 0 && desc.k < kMaxDim, "LutGemmDesc.k = {}: expected 1..{}", desc.k,
             kMaxDim - 1);
  AXNN_CHECK(desc.lda == 0 || (desc.lda >= desc.k && desc.lda < kMaxDim),
             "LutGemmDesc.lda = {}: expected 0 (dense) or k = {} .. {}", desc.lda, desc.k,
             kMaxDim - 1);
  const Isa detected = detected_isa();
  const Isa want = desc.isa.value_or(active_isa());
  AXNN_CHECK(want <= detected, "LutGemmDesc.isa = {}: this CPU supports only up to {}",
             isa_name(want), isa_name(detected));

  LutGemmDesc resolved = desc;
  resolved.lda = desc.lda == 0 ? desc.k : desc.lda;
  for (const ImplEntry& entry : kImpls) {
    if (entry.isa > want) continue;
    if (auto impl = entry.make(resolved)) {
      log().debug("lut_gemm: m={} k={} bits={} isa<={}: using {}", desc.m, desc.k, desc.bits,
                  isa_name(want), impl->name());
      return LutGemm(std::move(impl));
    }
    log().debug("lut_gemm: {} declines this table (bits={}), trying the next impl",
                isa_name(entry.isa), desc.bits);
  }
  throw Error("lut_gemm: no impl accepted the table");  // unreachable: ref accepts every table
}

void LutGemm::run(const uint8_t* b, int64_t n, int32_t* c, int64_t ldb, int64_t ldc,
                  int threads) const {
  AXNN_CHECK(b != nullptr, "LutGemm::run: b is null");
  AXNN_CHECK(c != nullptr, "LutGemm::run: c is null");
  AXNN_CHECK(n > 0 && n < kMaxDim, "LutGemm::run: n = {}: expected 1..{}", n, kMaxDim - 1);
  AXNN_CHECK(ldb == 0 || (ldb >= n && ldb < kMaxDim),
             "LutGemm::run: ldb = {}: expected 0 (dense) or n = {} .. {}", ldb, n, kMaxDim - 1);
  AXNN_CHECK(ldc == 0 || (ldc >= n && ldc < kMaxDim),
             "LutGemm::run: ldc = {}: expected 0 (dense) or n = {} .. {}", ldc, n, kMaxDim - 1);
  AXNN_CHECK(threads >= 0 && threads <= kMaxThreads, "LutGemm::run: threads = {}: expected 0..{}",
             threads, kMaxThreads);
  if (threads == 0) threads = omp_get_max_threads();
  const profile::StageScope timer("kernel");
  impl_->run(b, n, c, ldb == 0 ? n : ldb, ldc == 0 ? n : ldc, threads);
}

std::string_view LutGemm::impl_name() const { return impl_->name(); }
std::string_view LutGemm::schedule(int64_t n) const {
  AXNN_CHECK(n > 0 && n < kMaxDim, "LutGemm::schedule: n = {}: expected 1..{}", n, kMaxDim - 1);
  return impl_->schedule(n);
}
int64_t LutGemm::m() const { return impl_->m(); }
int64_t LutGemm::k() const { return impl_->k(); }

}  // namespace axnn::kernels
