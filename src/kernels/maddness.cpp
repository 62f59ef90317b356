// MaddnessEncoder / MaddnessDecoder: validation, dispatch over the ordered impl list
// avx512 -> avx2 -> ref, and the split of a run's rows over the OpenMP team.
#include "kernels/maddness.h"

#include <omp.h>

#include <algorithm>
#include <exception>

#include "core/error.h"
#include "core/log.h"
#include "kernels/cpu/lut_gemm_impl.h"
#include "kernels/cpu/maddness_impl.h"

namespace axnn::kernels {
namespace {

// Bound on d, m, n and strides: keeps every index product far from int64 overflow.
constexpr int64_t kMaxDim = int64_t{1} << 31;
// Bound on c: keeps the int32 sums of int8 entries (at most 255 * 16 per codebook) exact.
constexpr int64_t kMaxCodebooks = int64_t{1} << 16;
constexpr int kMaxThreads = 1024;
// Threads get row ranges of multiples of this, so no two write the same cache line of dst.
constexpr int64_t kRowAlign = 16;

template <class Make>
struct ImplEntry {
  Isa isa;
  Make make;
};

using MakeEncoder = std::shared_ptr<const MaddnessEncoder::Impl> (*)(const MaddnessEncoderDesc&);
using MakeDecoder = std::shared_ptr<const MaddnessDecoder::Impl> (*)(const MaddnessDecoderDesc&);

// AVX512_VNNI (vpdpbusd) is not part of the kAvx512 level.
bool cpu_has_avx512_vnni() {
  static const bool has = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512vnni") != 0;
  }();
  return has;
}

std::shared_ptr<const MaddnessDecoder::Impl> make_decoder_avx512(const MaddnessDecoderDesc& desc) {
  return make_maddness_decoder_avx512(desc, cpu_has_avx512_vnni());
}

constexpr ImplEntry<MakeEncoder> kEncoders[] = {
    {Isa::kAvx512, make_maddness_encoder_avx512},
    {Isa::kAvx2, make_maddness_encoder_avx2},
    {Isa::kRef, make_maddness_encoder_ref},
};
constexpr ImplEntry<MakeDecoder> kDecoders[] = {
    {Isa::kAvx512, make_decoder_avx512},
    {Isa::kAvx2, make_maddness_decoder_avx2},
    {Isa::kRef, make_maddness_decoder_ref},
};

Isa wanted_isa(const std::optional<Isa>& isa, std::string_view desc_name) {
  const Isa detected = detected_isa();
  const Isa want = isa.value_or(active_isa());
  AXNN_CHECK(want <= detected, "{}.isa = {}: this CPU supports only up to {}", desc_name,
             isa_name(want), isa_name(detected));
  return want;
}

// The calling thread's decode scratch, kept between runs so that its pages stay mapped.
class Scratch {
 public:
  uint8_t* get(int64_t bytes) {
    if (bytes > capacity_) {
      buffer_ = make_aligned<uint8_t>(static_cast<size_t>(bytes));
      capacity_ = bytes;
    }
    return buffer_.get();
  }

 private:
  AlignedBuffer<uint8_t> buffer_;
  int64_t capacity_ = 0;
};
thread_local Scratch thread_scratch;

// Calls body(row0, rows, scratch) on contiguous row ranges of [0, n), one per thread of a team of
// `threads`. Scratch is allocated before any body runs in the thread, and an allocation failure is
// rethrown after the parallel region (an exception must not leave it).
template <class Body>
void parallel_rows(int64_t n, int threads, int64_t scratch_bytes, const Body& body) {
  const int64_t most = (n + kRowAlign - 1) / kRowAlign;
  threads = static_cast<int>(std::min<int64_t>(threads, most));
  if (threads <= 1) {
    body(0, n, scratch_bytes > 0 ? thread_scratch.get(scratch_bytes) : nullptr);
    return;
  }
  std::exception_ptr error;
#pragma omp parallel num_threads(threads)
  {
    const int64_t team = omp_get_num_threads(), id = omp_get_thread_num();
    const int64_t per = (n + team * kRowAlign - 1) / (team * kRowAlign) * kRowAlign;
    const int64_t row0 = std::min(n, id * per), row1 = std::min(n, row0 + per);
    uint8_t* scratch = nullptr;
    bool ok = true;
    try {
      if (row1 > row0 && scratch_bytes > 0) scratch = thread_scratch.get(scratch_bytes);
    } catch (...) {
      ok = false;
#pragma omp critical(axnn_maddness_scratch)
      error = std::current_exception();
    }
    if (ok && row1 > row0) body(row0, row1 - row0, scratch);
  }
  if (error) std::rethrow_exception(error);
}

void check_run(int64_t n, int64_t ld, int64_t ld_min, std::string_view ld_name, int threads,
               std::string_view what) {
  AXNN_CHECK(n >= 0 && n < kMaxDim, "{}: n = {}: expected 0..{}", what, n, kMaxDim - 1);
  AXNN_CHECK(ld == 0 || (ld >= ld_min && ld < kMaxDim),
             "{}: {} = {}: expected 0 (dense) or {} .. {}", what, ld_name, ld, ld_min, kMaxDim - 1);
  AXNN_CHECK(threads >= 0 && threads <= kMaxThreads, "{}: threads = {}: expected 0..{}", what,
             threads, kMaxThreads);
}

template <class T>
void run_decoder(const MaddnessDecoder::Impl& impl, const uint8_t* codes, int64_t n, T* dst,
                 int64_t ldcodes, int64_t ldd, int threads) {
  constexpr std::string_view what = "MaddnessDecoder::run";
  check_run(n, ldcodes, impl.c(), "ldcodes", threads, what);
  check_run(n, ldd, n, "ldd", threads, what);
  if (n == 0) return;
  AXNN_CHECK(codes != nullptr, "{}: codes is null", what);
  AXNN_CHECK(dst != nullptr, "{}: dst is null", what);
  if (ldcodes == 0) ldcodes = impl.c();
  if (ldd == 0) ldd = n;
  if (threads == 0) threads = omp_get_max_threads();
  parallel_rows(n, threads, impl.scratch_bytes(), [&](int64_t row0, int64_t rows, uint8_t* s) {
    impl.decode(codes + row0 * ldcodes, rows, ldcodes, dst + row0, ldd, s);
  });
}

}  // namespace

void check_maddness_desc(const MaddnessEncoderDesc& desc) {
  AXNN_CHECK(desc.d > 0 && desc.d < kMaxDim, "MaddnessEncoderDesc.d = {}: expected 1..{}", desc.d,
             kMaxDim - 1);
  AXNN_CHECK(desc.c > 0 && desc.c <= kMaxCodebooks, "MaddnessEncoderDesc.c = {}: expected 1..{}",
             desc.c, kMaxCodebooks);
  AXNN_CHECK(desc.depth >= 1 && desc.depth <= kMaddnessMaxDepth,
             "MaddnessEncoderDesc.depth = {}: expected 1..{}", desc.depth, kMaddnessMaxDepth);
  const int64_t splits = desc.c * desc.depth, nodes = (int64_t{1} << desc.depth) - 1;
  AXNN_CHECK(desc.split_dims.size() == static_cast<size_t>(splits),
             "MaddnessEncoderDesc.split_dims has {} entries: c = {} x depth = {} needs {}",
             desc.split_dims.size(), desc.c, desc.depth, splits);
  AXNN_CHECK(desc.thresholds.size() == static_cast<size_t>(desc.c * nodes),
             "MaddnessEncoderDesc.thresholds has {} entries: c = {} x (2^depth - 1) = {} needs {}",
             desc.thresholds.size(), desc.c, nodes, desc.c * nodes);
  for (int64_t i = 0; i < splits; ++i)
    AXNN_CHECK(desc.split_dims[i] >= 0 && desc.split_dims[i] < desc.d,
               "MaddnessEncoderDesc.split_dims[{}] (codebook {}, level {}) = {}: expected 0..{} "
               "(d = {})",
               i, i / desc.depth, i % desc.depth, desc.split_dims[i], desc.d - 1, desc.d);
}

void check_maddness_desc(const MaddnessDecoderDesc& desc) {
  AXNN_CHECK(desc.c > 0 && desc.c <= kMaxCodebooks, "MaddnessDecoderDesc.c = {}: expected 1..{}",
             desc.c, kMaxCodebooks);
  AXNN_CHECK(desc.m > 0 && desc.m < kMaxDim, "MaddnessDecoderDesc.m = {}: expected 1..{}", desc.m,
             kMaxDim - 1);
  const bool int8 = !desc.lut_int8.empty(), fp32 = !desc.lut_fp32.empty();
  AXNN_CHECK(int8 != fp32, "MaddnessDecoderDesc: give exactly one of lut_int8 and lut_fp32 ({})",
             int8 ? "both are set" : "neither is set");
  const int64_t entries = desc.c * kMaddnessLeaves * desc.m;
  const size_t size = int8 ? desc.lut_int8.size() : desc.lut_fp32.size();
  AXNN_CHECK(size == static_cast<size_t>(entries),
             "MaddnessDecoderDesc.{} has {} entries: c = {} x {} x m = {} needs {}",
             int8 ? "lut_int8" : "lut_fp32", size, desc.c, kMaddnessLeaves, desc.m, entries);
  AXNN_CHECK(desc.average_levels >= 0 && desc.average_levels <= kMaddnessMaxDepth,
             "MaddnessDecoderDesc.average_levels = {}: expected 0..{}", desc.average_levels,
             kMaddnessMaxDepth);
  AXNN_CHECK(desc.average_levels == 0 || int8,
             "MaddnessDecoderDesc.average_levels = {}: only int8 tables are averaged (this one is "
             "fp32)",
             desc.average_levels);
  const int64_t group = int64_t{1} << desc.average_levels;
  AXNN_CHECK(desc.c % group == 0,
             "MaddnessDecoderDesc.average_levels = {}: c = {} is not divisible by 2^{} = {}",
             desc.average_levels, desc.c, desc.average_levels, group);
}

MaddnessEncoder MaddnessEncoder::create(const MaddnessEncoderDesc& desc) {
  check_maddness_desc(desc);
  const Isa want = wanted_isa(desc.isa, "MaddnessEncoderDesc");
  for (const auto& entry : kEncoders) {
    if (entry.isa > want) continue;
    if (auto impl = entry.make(desc)) {
      log().debug("maddness_encode: d={} c={} depth={} isa<={}: using {}", desc.d, desc.c,
                  desc.depth, isa_name(want), impl->name());
      return MaddnessEncoder(std::move(impl));
    }
  }
  throw Error("maddness_encode: no impl accepted the trees");  // unreachable: ref accepts all
}

void MaddnessEncoder::run(const float* x, int64_t n, uint8_t* codes, int64_t ldx, int64_t ldcodes,
                          int threads) const {
  constexpr std::string_view what = "MaddnessEncoder::run";
  check_run(n, ldx, d(), "ldx", threads, what);
  check_run(n, ldcodes, c(), "ldcodes", threads, what);
  if (n == 0) return;
  AXNN_CHECK(x != nullptr, "{}: x is null", what);
  AXNN_CHECK(codes != nullptr, "{}: codes is null", what);
  if (ldx == 0) ldx = d();
  if (ldcodes == 0) ldcodes = c();
  if (threads == 0) threads = omp_get_max_threads();
  parallel_rows(n, threads, 0, [&](int64_t row0, int64_t rows, uint8_t*) {
    impl_->encode(x + row0 * ldx, rows, ldx, codes + row0 * ldcodes, ldcodes);
  });
}

std::string_view MaddnessEncoder::impl_name() const { return impl_->name(); }
int64_t MaddnessEncoder::d() const { return impl_->d(); }
int64_t MaddnessEncoder::c() const { return impl_->c(); }

MaddnessDecoder MaddnessDecoder::create(const MaddnessDecoderDesc& desc) {
  check_maddness_desc(desc);
  const Isa want = wanted_isa(desc.isa, "MaddnessDecoderDesc");
  for (const auto& entry : kDecoders) {
    if (entry.isa > want) continue;
    if (auto impl = entry.make(desc)) {
      log().debug("maddness_decode: c={} m={} {} average_levels={} isa<={}: using {}{}", desc.c,
                  desc.m, desc.lut_fp32.empty() ? "int8" : "fp32", desc.average_levels,
                  isa_name(want), impl->name(),
                  entry.isa == Isa::kAvx512 && !cpu_has_avx512_vnni() ? " (no VNNI)" : "");
      return MaddnessDecoder(std::move(impl));
    }
  }
  throw Error("maddness_decode: no impl accepted the tables");  // unreachable: ref accepts all
}

void MaddnessDecoder::run(const uint8_t* codes, int64_t n, int32_t* dst, int64_t ldcodes,
                          int64_t ldd, int threads) const {
  AXNN_CHECK(!fp32(),
             "MaddnessDecoder::run: the int32 output needs an int8 table; this decoder has an fp32 "
             "one");
  run_decoder(*impl_, codes, n, dst, ldcodes, ldd, threads);
}

void MaddnessDecoder::run(const uint8_t* codes, int64_t n, float* dst, int64_t ldcodes, int64_t ldd,
                          int threads) const {
  AXNN_CHECK(fp32(),
             "MaddnessDecoder::run: the fp32 output needs an fp32 table; this decoder has an int8 "
             "one");
  run_decoder(*impl_, codes, n, dst, ldcodes, ldd, threads);
}

std::string_view MaddnessDecoder::impl_name() const { return impl_->name(); }
int64_t MaddnessDecoder::c() const { return impl_->c(); }
int64_t MaddnessDecoder::m() const { return impl_->m(); }
bool MaddnessDecoder::fp32() const { return impl_->fp32(); }

}  // namespace axnn::kernels
