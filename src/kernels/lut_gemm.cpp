// LutTable and LutGemm: validation, dispatch over the ordered impl list avx512 -> avx2 -> ref,
// and the packed tables LutGemm::create(desc) keeps.
#include "kernels/lut_gemm.h"

#include <fmt/ranges.h>
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <list>
#include <mutex>
#include <vector>

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
  std::shared_ptr<const LutTable::Impl> (*make)(std::span<const int32_t>, int);
};

constexpr ImplEntry kImpls[] = {
    {Isa::kAvx512, make_lut_table_avx512},
    {Isa::kAvx2, make_lut_table_avx2},
    {Isa::kRef, make_lut_table_ref},
};

// Checks of the table arguments, the messages starting with `where` ("LutGemmDesc." or
// "LutTable::create: "). Returns the ISA level asked for.
Isa check_table(std::span<const int32_t> table, int bits, std::optional<Isa> isa,
                std::string_view where) {
  AXNN_CHECK(bits >= 2 && bits <= 8, "{}bits = {}: expected 2..8", where, bits);
  const size_t entries = size_t{1} << (2 * bits);
  AXNN_CHECK(table.data() != nullptr, "{}table is null", where);
  AXNN_CHECK(table.size() == entries,
             "{}table has {} entries: bits = {} needs 2^bits x 2^bits = {}", where, table.size(),
             bits, entries);
  const Isa detected = detected_isa();
  const Isa want = isa.value_or(active_isa());
  AXNN_CHECK(want <= detected, "{}isa = {}: this CPU supports only up to {}", where, isa_name(want),
             isa_name(detected));
  return want;
}

// Checks of A's arguments, the messages starting with `where` ("LutGemmDesc." or
// "LutGemm::create: "); lda resolved, the schedule left to find_schedule.
StationaryA check_a(const uint8_t* a, int64_t m, int64_t k, int64_t lda, std::string_view where) {
  AXNN_CHECK(a != nullptr, "{}a is null", where);
  AXNN_CHECK(m > 0 && m < kMaxDim, "{}m = {}: expected 1..{}", where, m, kMaxDim - 1);
  AXNN_CHECK(k > 0 && k < kMaxDim, "{}k = {}: expected 1..{}", where, k, kMaxDim - 1);
  AXNN_CHECK(lda == 0 || (lda >= k && lda < kMaxDim),
             "{}lda = {}: expected 0 (dense) or k = {} .. {}", where, lda, k, kMaxDim - 1);
  return {a, m, k, lda == 0 ? k : lda, -1};
}

// The index of `schedule` in the table impl's schedules, or -1 when it is empty (choose per run).
// Throws naming the impl and its schedules for any other name.
int find_schedule(const LutTable::Impl& table, std::string_view schedule, std::string_view where) {
  if (schedule.empty()) return -1;
  const std::span<const std::string_view> names = table.schedules();
  const auto it = std::find(names.begin(), names.end(), schedule);
  AXNN_CHECK(it != names.end(), "{}schedule = '{}': impl {} has only {}", where, schedule,
             table.name(), fmt::join(names, ", "));
  return static_cast<int>(it - names.begin());
}

// The best impl at or below `want` that accepts a checked table, packed.
std::shared_ptr<const LutTable::Impl> pack_table(std::span<const int32_t> table, int bits,
                                                 Isa want) {
  for (const ImplEntry& entry : kImpls) {
    if (entry.isa > want) continue;
    if (auto impl = entry.make(table, bits)) {
      log().debug("lut_gemm: table of bits={} isa<={}: using {}", bits, isa_name(want),
                  impl->name());
      return impl;
    }
    log().debug("lut_gemm: {} declines this table (bits={}), trying the next impl",
                isa_name(entry.isa), bits);
  }
  throw Error("lut_gemm: no impl accepted the table");  // unreachable: ref accepts every table
}

// The packed tables of LutGemm::create(desc), by level and content: packing a table costs far
// more than packing a small A, and callers of create(desc) pass the same few tables again and
// again. The key is the whole table, compared entry by entry, so a hit is always the same table.
class TableCache {
 public:
  std::shared_ptr<const LutTable::Impl> get(std::span<const int32_t> table, int bits, Isa want) {
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      for (auto it = entries_.begin(); it != entries_.end(); ++it)
        if (it->want == want && it->bits == bits && it->table.size() == table.size() &&
            std::memcmp(it->table.data(), table.data(), table.size_bytes()) == 0) {
          entries_.splice(entries_.begin(), entries_, it);  // most recently used first
          return it->packed;
        }
    }
    // Packed outside the lock: other threads' hits need not wait for it (two threads missing at
    // once both pack, and both entries are equivalent).
    Entry entry{want, bits, {table.begin(), table.end()}, pack_table(table, bits, want)};
    std::shared_ptr<const LutTable::Impl> packed = entry.packed;
    const std::lock_guard<std::mutex> lock(mutex_);
    entries_.push_front(std::move(entry));
    if (entries_.size() > kEntries) entries_.pop_back();
    return packed;
  }

 private:
  static constexpr size_t kEntries = 8;
  struct Entry {
    Isa want;
    int bits;
    std::vector<int32_t> table;
    std::shared_ptr<const LutTable::Impl> packed;
  };
  std::mutex mutex_;
  std::list<Entry> entries_;
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

OffsetTable make_offset_table(std::span<const int32_t> table, int bits) {
  const auto [lo, hi] = std::minmax_element(table.begin(), table.end());
  OffsetTable out;
  if (int64_t{*hi} - int64_t{*lo} > 65535) return out;
  out.bias = *lo;
  out.offsets.resize(256 * 256);
  const unsigned mask = (1u << bits) - 1;
  for (unsigned a = 0; a < 256; ++a)
    for (unsigned b = 0; b < 256; ++b)
      out.offsets[a * 256 + b] =
          static_cast<uint16_t>(table[((a & mask) << bits) | (b & mask)] - out.bias);
  return out;
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

LutTable LutTable::create(std::span<const int32_t> table, int bits, std::optional<Isa> isa) {
  const profile::StageScope timer("pack");
  const Isa want = check_table(table, bits, isa, "LutTable::create: ");
  return LutTable(pack_table(table, bits, want));
}

std::string_view LutTable::impl_name() const { return impl_->name(); }
int LutTable::bits() const { return impl_->bits(); }

LutGemm LutGemm::create(const LutGemmDesc& desc) {
  const profile::StageScope timer("pack");
  const Isa want = check_table(desc.table, desc.bits, desc.isa, "LutGemmDesc.");
  StationaryA a = check_a(desc.a, desc.m, desc.k, desc.lda, "LutGemmDesc.");
  static TableCache cache;
  const std::shared_ptr<const LutTable::Impl> table = cache.get(desc.table, desc.bits, want);
  a.schedule = find_schedule(*table, desc.schedule, "LutGemmDesc.");
  auto impl = table->pack(a);
  log().debug("lut_gemm: m={} k={} bits={} isa<={}: using {}", desc.m, desc.k, desc.bits,
              isa_name(want), impl->name());
  return LutGemm(std::move(impl));
}

LutGemm LutGemm::create(const LutTable& table, const uint8_t* a, int64_t m, int64_t k, int64_t lda,
                        std::string_view schedule) {
  const profile::StageScope timer("pack");
  AXNN_CHECK(table.impl_ != nullptr, "LutGemm::create: table is empty (moved from)");
  StationaryA stationary = check_a(a, m, k, lda, "LutGemm::create: ");
  stationary.schedule = find_schedule(*table.impl_, schedule, "LutGemm::create: ");
  return LutGemm(table.impl_->pack(stationary));
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
