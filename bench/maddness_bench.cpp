#include "bench/maddness_bench.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>
#include <random>
#include <vector>

#include "bench/baselines.h"
#include "bench/machine.h"
#include "bench/problems.h"
#include "core/error.h"
#include "kernels/lut_gemm.h"
#include "kernels/maddness.h"

namespace axnn::bench {

namespace {

constexpr int kDepth = kernels::kMaddnessMaxDepth;

// 64-byte aligned outputs, as a tensor's are: a misaligned 64-byte store writes two cache lines.
template <class T>
struct AlignedArray {
  explicit AlignedArray(size_t count)
      : data(static_cast<T*>(std::aligned_alloc(64, (count * sizeof(T) + 63) / 64 * 64))),
        size(count) {
    if (data == nullptr) throw std::bad_alloc();
  }
  ~AlignedArray() { std::free(data); }
  AlignedArray(const AlignedArray&) = delete;
  AlignedArray& operator=(const AlignedArray&) = delete;
  T* data;
  size_t size;
};
constexpr int64_t kLeaves = kernels::kMaddnessLeaves;
constexpr int32_t kPoison = 0x5A5A5A5A;

// Every buffer the run holds at once: x, codes, the int32 and fp32 outputs, the tables, LibTorch's
// operands and LUT-GEMM's A, B and C.
double buffer_bytes(const MaddnessBenchOptions& o) {
  const double n = double(o.n), d = double(o.d), m = double(o.m), c = double(o.c);
  return 4 * n * d + n * c + 8 * n * m + 5 * c * kLeaves * m + 4 * (n * d + d * m + n * m) + m * d +
         d * n + 4 * m * n;
}

// The first differing position of two buffers of rows [0, rows) x [0, cols) with strides.
template <class T>
std::string first_difference(const T* got, int64_t ld_got, const T* want, int64_t ld_want,
                             int64_t rows, int64_t cols) {
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j)
      if (std::memcmp(&got[i * ld_got + j], &want[i * ld_want + j], sizeof(T)) != 0)
        return fmt::format("[{}][{}] = {}, expected {}", i, j, got[i * ld_got + j],
                           want[i * ld_want + j]);
  return "";
}

}  // namespace

int max_average_levels(int64_t c) {
  int levels = 0;
  while (levels < kernels::kMaddnessMaxDepth && c % (int64_t{2} << levels) == 0) ++levels;
  return levels;
}

void check_options(const MaddnessBenchOptions& o) {
  AXNN_CHECK(o.n >= 1 && o.n <= kMaxDim, "--n must be in 1..{}, got {}", kMaxDim, o.n);
  AXNN_CHECK(o.d >= 1 && o.d <= kMaxDim, "--d must be in 1..{}, got {}", kMaxDim, o.d);
  AXNN_CHECK(o.m >= 1 && o.m <= kMaxDim, "--m must be in 1..{}, got {}", kMaxDim, o.m);
  AXNN_CHECK(o.c >= 1 && o.c <= 65536, "--c must be in 1..65536, got {}", o.c);
  AXNN_CHECK(o.threads >= 1, "--threads must be >= 1, got {}", o.threads);
  AXNN_CHECK(o.checked_rows >= 1, "checked_rows must be >= 1, got {}", o.checked_rows);
  AXNN_CHECK(buffer_bytes(o) <= kMaxOperandBytes,
             "shape n={} d={} m={} c={}: its buffers take {:.1f} GiB, more than the {:.0f} GiB "
             "budget",
             o.n, o.d, o.m, o.c, buffer_bytes(o) / double(1 << 30), kMaxOperandBytes / (1 << 30));
  if (o.isa)
    AXNN_CHECK(*o.isa <= detected_isa(), "--isa {} asks for more than this CPU supports ({})",
               isa_name(*o.isa), isa_name(detected_isa()));
  else
    active_isa();  // a bad AXNN_ISA is reported here, before any output
  check_timing_options(o.timing);
}

MaddnessBenchResult run_maddness_bench(const MaddnessBenchOptions& options) {
  check_options(options);
  const int64_t n = options.n, d = options.d, m = options.m, c = options.c;
  const int threads = options.threads;
  MaddnessBenchResult result;
  result.options = options;
  const Isa isa = options.isa.value_or(active_isa());
  result.isa = std::string(isa_name(isa));
  result.average_levels = max_average_levels(c);

  std::mt19937 rng(options.seed);
  std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(n * d));
  for (float& v : x) v = unit(rng);
  std::vector<int32_t> split_dims(static_cast<size_t>(c * kDepth));
  for (int32_t& s : split_dims) s = static_cast<int32_t>(rng() % d);
  std::vector<float> thresholds(static_cast<size_t>(c * (kLeaves - 1)));
  for (float& t : thresholds) t = unit(rng);
  std::vector<int8_t> lut_int8(static_cast<size_t>(c * kLeaves * m));
  for (int8_t& e : lut_int8) e = static_cast<int8_t>(rng());
  std::vector<float> lut_fp32(lut_int8.size());
  for (float& e : lut_fp32) e = unit(rng);

  kernels::MaddnessEncoderDesc encoder_desc;
  encoder_desc.d = d;
  encoder_desc.c = c;
  encoder_desc.depth = kDepth;
  encoder_desc.split_dims = split_dims;
  encoder_desc.thresholds = thresholds;
  encoder_desc.isa = isa;
  const auto encoder = kernels::MaddnessEncoder::create(encoder_desc);
  kernels::MaddnessDecoderDesc int8_desc;
  int8_desc.c = c;
  int8_desc.m = m;
  int8_desc.lut_int8 = lut_int8;
  int8_desc.isa = isa;
  kernels::MaddnessDecoderDesc average_desc = int8_desc;
  average_desc.average_levels = result.average_levels;
  kernels::MaddnessDecoderDesc fp32_desc = int8_desc;
  fp32_desc.lut_int8 = {};
  fp32_desc.lut_fp32 = lut_fp32;
  const auto decoder = kernels::MaddnessDecoder::create(int8_desc);
  const auto average = kernels::MaddnessDecoder::create(average_desc);
  const auto decoder_fp32 = kernels::MaddnessDecoder::create(fp32_desc);
  result.encode_impl = std::string(encoder.impl_name());
  result.decode_impl = std::string(decoder.impl_name());

  std::vector<uint8_t> codes(static_cast<size_t>(n * c));
  AlignedArray<int32_t> dst(static_cast<size_t>(m * n)), dst_average(dst.size);
  AlignedArray<float> dst_fp32(dst.size);
  // Poisoned, so that an output the kernels never write fails the check below.
  std::fill_n(dst.data, dst.size, kPoison);
  std::fill_n(dst_average.data, dst.size, kPoison);
  std::fill_n(dst_fp32.data, dst.size, -7.0f);
  omp_set_num_threads(threads);
  const TimingOptions& timing = options.timing;
  result.encode = measure([&] { encoder.run(x.data(), n, codes.data(), d, c, threads); }, timing);
  result.decode_int8 =
      measure([&] { decoder.run(codes.data(), n, dst.data, c, n, threads); }, timing);
  result.decode_average =
      measure([&] { average.run(codes.data(), n, dst_average.data, c, n, threads); }, timing);
  result.decode_fp32 =
      measure([&] { decoder_fp32.run(codes.data(), n, dst_fp32.data, c, n, threads); }, timing);
  result.encode_decode = measure(
      [&] {
        encoder.run(x.data(), n, codes.data(), d, c, threads);
        decoder.run(codes.data(), n, dst.data, c, n, threads);
      },
      timing);

  // The first and the last rows against the refs, after the timed runs (so a kernel that
  // accumulates into its output instead of overwriting it fails too).
  const int64_t head = std::min(n, (options.checked_rows + 1) / 2);
  const int64_t tail = std::min(n - head, options.checked_rows / 2);
  for (const int64_t row0 : {int64_t{0}, n - tail}) {
    const int64_t rows = row0 == 0 ? head : tail;
    if (rows == 0) continue;
    std::vector<uint8_t> want_codes(static_cast<size_t>(rows * c));
    kernels::maddness_encode_ref(encoder_desc, x.data() + row0 * d, rows, d, want_codes.data(), c);
    std::string diff = first_difference(codes.data() + row0 * c, c, want_codes.data(), c, rows, c);
    AXNN_CHECK(diff.empty(), "MADDness encode impl '{}' is NOT exact (n={} d={} c={}): codes{}",
               result.encode_impl, n, d, c, diff);
    std::vector<int32_t> want(static_cast<size_t>(m * rows));
    for (const auto& [desc, got, name] :
         {std::tuple{&int8_desc, &dst, "int8"},
          std::tuple{&average_desc, &dst_average, "int8 average"}}) {
      kernels::maddness_decode_ref(*desc, codes.data() + row0 * c, rows, c, want.data(), rows);
      diff = first_difference(got->data + row0, n, want.data(), rows, m, rows);
      AXNN_CHECK(diff.empty(), "MADDness decode {} impl '{}' is NOT exact (n={} m={} c={}): dst{}",
                 name, result.decode_impl, n, m, c, diff);
    }
    std::vector<float> want_fp32(want.size());
    kernels::maddness_decode_ref(fp32_desc, codes.data() + row0 * c, rows, c, want_fp32.data(),
                                 rows);
    diff = first_difference(dst_fp32.data + row0, n, want_fp32.data(), rows, m, rows);
    AXNN_CHECK(diff.empty(), "MADDness decode fp32 impl '{}' is NOT exact (n={} m={} c={}): dst{}",
               result.decode_impl, n, m, c, diff);
    result.checked_rows += rows;
  }

  {
    TorchSgemm torch(n, d, m, threads, options.seed);
    result.torch = measure([&] { torch.run(); }, timing);
  }
  {
    // Entries in the range of a signed 8 x 8-bit product, as an approximate multiplier's are.
    std::vector<int32_t> table(256 * 256);
    for (int32_t& e : table) e = static_cast<int32_t>(rng() % 32769) - 16384;
    std::vector<uint8_t> a(static_cast<size_t>(m * d)), b(static_cast<size_t>(d * n));
    for (uint8_t& v : a) v = static_cast<uint8_t>(rng());
    for (uint8_t& v : b) v = static_cast<uint8_t>(rng());
    AlignedArray<int32_t> out(static_cast<size_t>(m * n));
    kernels::LutGemmDesc desc;
    desc.table = table;
    desc.bits = 8;
    desc.a = a.data();
    desc.m = m;
    desc.k = d;
    desc.isa = isa;
    const auto gemm = kernels::LutGemm::create(desc);
    result.lut_gemm_impl = std::string(gemm.impl_name());
    omp_set_num_threads(threads);
    result.lut_gemm = measure([&] { gemm.run(b.data(), n, out.data, n, n, threads); }, timing);
  }
  return result;
}

namespace {

nlohmann::ordered_json timing_json(const MaddnessBenchResult& r, const Timing& t) {
  return {{"runs", t.samples.size()},
          {"time_min_s", t.min},
          {"time_median_s", t.median},
          {"gdots_min", r.gdots(t)},
          {"gdots_median", r.gdots(t, true)},
          {"ratio_torch", r.ratio_torch(t)},
          {"ratio_torch_median", r.ratio_torch(t, true)},
          {"ratio_lut_gemm", r.ratio_lut_gemm(t)},
          {"ratio_lut_gemm_median", r.ratio_lut_gemm(t, true)}};
}

}  // namespace

nlohmann::ordered_json to_json(const MaddnessBenchResult& r) {
  const MaddnessBenchOptions& o = r.options;
  const double macs = r.dots() * double(o.d);
  nlohmann::ordered_json encode = timing_json(r, r.encode);
  encode["g_row_codebooks_min"] = r.encode_g_row_codebooks();
  encode["g_row_codebooks_median"] = r.encode_g_row_codebooks(true);
  encode["mrows_min"] = double(o.n) / r.encode.min * 1e-6;
  nlohmann::ordered_json torch = timing_json(r, r.torch);
  torch["gmacs_min"] = macs / r.torch.min * 1e-9;
  torch["gmacs_median"] = macs / r.torch.median * 1e-9;
  nlohmann::ordered_json lut_gemm = timing_json(r, r.lut_gemm);
  lut_gemm["impl_name"] = r.lut_gemm_impl;
  lut_gemm["glookups_min"] = macs / r.lut_gemm.min * 1e-9;
  lut_gemm["glookups_median"] = macs / r.lut_gemm.median * 1e-9;
  return {{"n", o.n},
          {"d", o.d},
          {"m", o.m},
          {"c", o.c},
          {"depth", kDepth},
          {"threads", o.threads},
          {"isa", r.isa},
          {"encode_impl", r.encode_impl},
          {"decode_impl", r.decode_impl},
          {"average_levels", r.average_levels},
          {"checked_rows", r.checked_rows},
          {"encode", encode},
          {"decode_int8", timing_json(r, r.decode_int8)},
          {"decode_int8_average", timing_json(r, r.decode_average)},
          {"decode_fp32", timing_json(r, r.decode_fp32)},
          {"encode_decode_int8", timing_json(r, r.encode_decode)},
          {"torch_fp32_gemm", torch},
          {"lut_gemm", lut_gemm},
          {"machine", to_json(machine_info())}};
}

std::string format_maddness_bench(const MaddnessBenchResult& r) {
  const MachineInfo& info = machine_info();
  const MaddnessBenchOptions& o = r.options;
  const double macs = r.dots() * double(o.d);
  std::string out = fmt::format(
      "cpu: {} ({} logical CPUs, detected ISA {}; {})\n"
      "baselines: LibTorch {} fp32 at::mm [N, D] x [D, M] (BLAS {}); axnn LUT-GEMM 8-bit, "
      "M x D weights x D x N codes\n"
      "MADDness N={} D={} M={} C={} depth={} threads={} isa<={}: results exact against the refs "
      "on {} rows\n"
      "rates at the min | median time; decode rates in G dot products/s (N M / t); ratios are the "
      "baseline's time over the row's at the min time (> 1: faster)\n",
      info.cpu_model, info.logical_cpus, info.detected_isa, fmt::join(info.cpu_features, " "),
      info.torch_version, info.torch_blas, o.n, o.d, o.m, o.c, kDepth, o.threads, r.isa,
      r.checked_rows);
  out += fmt::format("{:<24} {:>6} {:>19} {:>17}  {:>8} {:>8}  {}\n", "kernel", "impl", "time ms",
                     "G dot/s", "vs fp32", "vs LUT", "other rate");
  const auto row = [&](const std::string& name, const std::string& impl, const Timing& t,
                       const std::string& other) {
    out += fmt::format("{:<24} {:>6} {:>9.4f}|{:<9.4f} {:>8.3f}|{:<8.3f}  {:>8.2f} {:>8.2f}  {}\n",
                       name, impl, t.min * 1e3, t.median * 1e3, r.gdots(t), r.gdots(t, true),
                       r.ratio_torch(t), r.ratio_lut_gemm(t), other);
  };
  row("encode (fp32 rows)", r.encode_impl, r.encode,
      fmt::format("{:.3f}|{:.3f} G row-codebooks/s, {:.1f} M rows/s", r.encode_g_row_codebooks(),
                  r.encode_g_row_codebooks(true), double(o.n) / r.encode.min * 1e-6));
  row("decode int8 exact", r.decode_impl, r.decode_int8, "");
  row(fmt::format("decode int8 average L={}", r.average_levels), r.decode_impl, r.decode_average,
      "");
  row("decode fp32", r.decode_impl, r.decode_fp32, "");
  row("encode+decode int8", r.decode_impl, r.encode_decode, "");
  row("fp32 GEMM (LibTorch)", "-", r.torch,
      fmt::format("{:.1f} GMAC/s", macs / r.torch.min * 1e-9));
  row("LUT-GEMM 8-bit", r.lut_gemm_impl, r.lut_gemm,
      fmt::format("{:.1f} G lookups/s", macs / r.lut_gemm.min * 1e-9));
  return out;
}

}  // namespace axnn::bench
