#include "bench/cuda/lut_cuda_bench.h"

#include <cuda_runtime_api.h>
#include <fmt/format.h>

#include <algorithm>
#include <random>
#include <utility>
#include <vector>

#include "bench/baselines.h"
#include "bench/cuda/transaxx_cuda.h"
#include "bench/lut_gemm_bench.h"
#include "core/error.h"
#include "kernels/cuda/lut_cuda.h"
#include "kernels/lut_conv.h"

namespace axnn::bench {
namespace {

constexpr int32_t kPoison = 0x5A5A5A5A;

void cuda_check(cudaError_t err, const std::string& what) {
  if (err != cudaSuccess)
    throw Error(fmt::format("{}: CUDA error {} ({})", what, cudaGetErrorName(err),
                            cudaGetErrorString(err)));
}

// A device allocation holding a copy of a host vector.
template <class T>
class DeviceArray {
 public:
  explicit DeviceArray(const std::vector<T>& host) : count_(host.size()) {
    cuda_check(cudaMalloc(&ptr_, std::max<size_t>(1, count_ * sizeof(T))), "cudaMalloc");
    cuda_check(cudaMemcpy(ptr_, host.data(), count_ * sizeof(T), cudaMemcpyHostToDevice),
               "cudaMemcpy");
  }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;
  ~DeviceArray() { cudaFree(ptr_); }
  T* get() const { return static_cast<T*>(ptr_); }
  std::vector<T> to_host() const {
    cuda_check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
    std::vector<T> host(count_);
    cuda_check(cudaMemcpy(host.data(), ptr_, count_ * sizeof(T), cudaMemcpyDeviceToHost),
               "cudaMemcpy");
    return host;
  }

 private:
  void* ptr_ = nullptr;
  size_t count_;
};

class Events {
 public:
  Events() {
    cuda_check(cudaEventCreate(&start), "cudaEventCreate");
    cuda_check(cudaEventCreate(&stop), "cudaEventCreate");
  }
  ~Events() {
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
  }
  cudaEvent_t start = nullptr, stop = nullptr;
};

// As measure() (timing.h), each run timed by a pair of cudaEvents on the legacy default stream
// around the enqueued work.
template <class Fn>
Timing measure_cuda(Fn&& fn, const TimingOptions& options) {
  check_timing_options(options);
  Events events;
  for (int i = 0; i < options.warmup_runs; ++i) fn();
  cuda_check(cudaDeviceSynchronize(), "warm-up");
  std::vector<double> samples;
  double total = 0;
  while (static_cast<int>(samples.size()) < options.max_runs &&
         (static_cast<int>(samples.size()) < options.min_runs || total < options.min_seconds)) {
    cuda_check(cudaEventRecord(events.start, nullptr), "cudaEventRecord");
    fn();
    cuda_check(cudaEventRecord(events.stop, nullptr), "cudaEventRecord");
    cuda_check(cudaEventSynchronize(events.stop), "timed run");
    float ms = 0;
    cuda_check(cudaEventElapsedTime(&ms, events.start, events.stop), "cudaEventElapsedTime");
    samples.push_back(ms * 1e-3);
    total += ms * 1e-3;
  }
  return summarize(std::move(samples));
}

std::string device_description() {
  int device = 0;
  cuda_check(cudaGetDevice(&device), "cudaGetDevice");
  cudaDeviceProp prop{};
  cuda_check(cudaGetDeviceProperties(&prop, device), "cudaGetDeviceProperties");
  return fmt::format("{} ({} SMs, sm_{}{}, {} KiB shared memory per block)", prop.name,
                     prop.multiProcessorCount, prop.major, prop.minor,
                     prop.sharedMemPerBlockOptin / 1024);
}

std::vector<uint8_t> random_codes(int64_t count, int bits, std::mt19937& rng) {
  std::uniform_int_distribution<int> code(0, (1 << bits) - 1);
  std::vector<uint8_t> codes(static_cast<size_t>(count));
  for (uint8_t& c : codes) c = static_cast<uint8_t>(code(rng));
  return codes;
}

struct Table {
  std::vector<int32_t> entries;
  int32_t min = 0, max = 0;
};

Table make_table(const LutCudaBenchOptions& options, std::mt19937& rng) {
  Table t;
  t.entries.resize(size_t{1} << (2 * options.bits));
  if (options.table == "wide") {
    for (int32_t& e : t.entries) e = static_cast<int32_t>(rng());
  } else {  // "product": the range of a signed bits x bits product, as random_table in
            // lut_gemm_bench
    const int32_t bound = int32_t{1} << (2 * options.bits - 2);
    std::uniform_int_distribution<int32_t> entry(-bound, bound);
    for (int32_t& e : t.entries) e = entry(rng);
  }
  t.min = *std::min_element(t.entries.begin(), t.entries.end());
  t.max = *std::max_element(t.entries.begin(), t.entries.end());
  return t;
}

// The fields of a result that both benches fill alike.
LutCudaBenchResult start_result(const char* kind, const std::string& name,
                                const LutCudaBenchOptions& options, const Table& table) {
  LutCudaBenchResult r;
  r.kind = kind;
  r.name = name;
  r.bits = options.bits;
  r.table = options.table;
  r.storage = kernels::cuda::lut_storage_name(
      kernels::cuda::lut_storage(options.bits, table.min, table.max));
  r.device = device_description();
  return r;
}

// The first position where two equally long outputs differ, or -1.
int64_t first_difference(const std::vector<int32_t>& x, const std::vector<int32_t>& y) {
  for (size_t i = 0; i < x.size(); ++i)
    if (x[i] != y[i]) return static_cast<int64_t>(i);
  return -1;
}

}  // namespace

void check_cuda_options(const LutCudaBenchOptions& options) {
  AXNN_CHECK(options.bits >= 2 && options.bits <= 8, "--bits must be in 2..8, got {}",
             options.bits);
  AXNN_CHECK(options.table == "product" || options.table == "wide",
             "--table must be product or wide, got '{}'", options.table);
  check_timing_options(options.timing);
  std::string why;
  AXNN_CHECK(kernels::cuda::device_available(&why), "--device cuda: {}", why);
}

void set_torch_times(LutCudaBenchResult& r, TorchCudaTimes times) {
  r.fp32 = std::move(times.fp32);
  r.int8 = std::move(times.int8);
  r.int8_missing = std::move(times.int8_missing);
}

LutCudaBenchResult run_lut_cuda_gemm_bench(const Problem& problem,
                                           const LutCudaBenchOptions& options) {
  check_cuda_options(options);
  const std::string what =
      problem.name.empty()
          ? fmt::format("shape {}x{}x{}", problem.m, problem.k, problem.n)
          : fmt::format("shape '{}' ({}x{}x{})", problem.name, problem.m, problem.k, problem.n);
  check_problem(problem, what);
  const int64_t m = problem.m, k = problem.k, n = problem.n;
  std::mt19937 rng(options.seed);
  const Table table = make_table(options, rng);
  const std::vector<uint8_t> a = random_codes(m * k, options.bits, rng);
  const std::vector<uint8_t> b = random_codes(k * n, options.bits, rng);

  LutCudaBenchResult r = start_result("gemm", problem.name, options, table);
  r.gemm = problem;

  const DeviceArray<int32_t> d_table(table.entries);
  const DeviceArray<uint8_t> d_a(a), d_b(b);
  const DeviceArray<int32_t> d_c(std::vector<int32_t>(size_t(m * n), kPoison));
  const DeviceArray<int32_t> d_base(std::vector<int32_t>(size_t(m * n), kPoison));
  kernels::cuda::LutGemmArgs args;
  args.table = d_table.get();
  args.bits = options.bits;
  args.table_min = table.min;
  args.table_max = table.max;
  args.a = d_a.get();
  args.b = d_b.get();
  args.c = d_c.get();
  args.m = m;
  args.n = n;
  args.k = k;
  r.lut = measure_cuda([&] { kernels::cuda::lut_gemm_cuda(args); }, options.timing);
  r.transaxx = measure_cuda(
      [&] {
        cuda_check(cuda::transaxx_gemm(d_table.get(), options.bits, d_a.get(), d_b.get(),
                                       d_base.get(), m, k, n, nullptr),
                   "transaxx_gemm");
      },
      options.timing);

  set_torch_times(r, time_torch_cuda_gemm(m, k, n, options.timing));

  const std::vector<int32_t> c = d_c.to_host();
  const OutputCheck check =
      check_lut_gemm_output(table.entries, options.bits, a.data(), b.data(), c.data(), m, k, n,
                            options.full_check_lookups, options.seed);
  AXNN_CHECK(check.mismatches == 0,
             "CUDA LUT-GEMM ({}) is NOT exact on {} ({} bits): {} of {} checked outputs differ "
             "from the reference; first C[{}][{}] = {}, expected {}",
             r.storage, what, options.bits, check.mismatches, check.checked, check.row, check.col,
             check.got, check.want);
  r.check_sampled = check.sampled;
  r.checked_outputs = check.checked;
  const int64_t diff = first_difference(d_base.to_host(), c);
  AXNN_CHECK(diff < 0, "the TransAxx-style baseline differs from LUT-GEMM on {} at C[{}][{}]", what,
             diff / n, diff % n);
  return r;
}

LutCudaBenchResult run_lut_cuda_conv_bench(const ConvProblem& problem,
                                           const LutCudaBenchOptions& options) {
  check_cuda_options(options);
  const ConvProblem& s = problem;
  const std::string what =
      fmt::format("conv '{}' ({},{},{},{},{},{},{},{},{})", s.name, s.batch, s.height, s.width,
                  s.out_channels, s.channels, s.kh, s.kw, s.stride, s.pad);
  AXNN_CHECK(s.batch >= 1 && s.height >= 1 && s.width >= 1 && s.out_channels >= 1 &&
                 s.channels >= 1 && s.kh >= 1 && s.kw >= 1 && s.stride >= 1 && s.pad >= 0 &&
                 s.out_h() >= 1 && s.out_w() >= 1,
             "{}: not a valid convolution", what);
  std::mt19937 rng(options.seed);
  const Table table = make_table(options, rng);
  const std::vector<uint8_t> src =
      random_codes(s.batch * s.channels * s.height * s.width, options.bits, rng);
  const std::vector<uint8_t> weights =
      random_codes(s.out_channels * s.channels * s.kh * s.kw, options.bits, rng);
  const int64_t oh = s.out_h(), ow = s.out_w();
  const size_t out_size = size_t(s.batch * s.out_channels * oh * ow);

  LutCudaBenchResult r = start_result("conv", s.name, options, table);
  r.conv = s;
  r.gemm = {s.out_channels, s.channels * s.kh * s.kw, s.batch * oh * ow, s.name};

  const DeviceArray<int32_t> d_table(table.entries);
  const DeviceArray<uint8_t> d_src(src), d_w(weights);
  const DeviceArray<int32_t> d_dst(std::vector<int32_t>(out_size, kPoison));
  const DeviceArray<int32_t> d_base(std::vector<int32_t>(out_size, kPoison));
  kernels::cuda::LutConv2dArgs args;
  args.batch = s.batch;
  args.channels = s.channels;
  args.height = s.height;
  args.width = s.width;
  args.out_channels = s.out_channels;
  args.kh = s.kh;
  args.kw = s.kw;
  args.stride_h = args.stride_w = s.stride;
  args.pad_h = args.pad_w = s.pad;
  args.table = d_table.get();
  args.bits = options.bits;
  args.table_min = table.min;
  args.table_max = table.max;
  args.src = d_src.get();
  args.weights = d_w.get();
  args.dst = d_dst.get();
  r.lut = measure_cuda([&] { kernels::cuda::lut_conv2d_cuda(args); }, options.timing);
  cuda::TransaxxConv base;
  base.batch = s.batch;
  base.channels = s.channels;
  base.height = s.height;
  base.width = s.width;
  base.out_channels = s.out_channels;
  base.kh = s.kh;
  base.kw = s.kw;
  base.stride = s.stride;
  base.pad = s.pad;
  base.bits = options.bits;
  base.table = d_table.get();
  base.src = d_src.get();
  base.weights = d_w.get();
  base.dst = d_base.get();
  r.transaxx = measure_cuda(
      [&] { cuda_check(cuda::transaxx_conv2d(base, nullptr), "transaxx_conv2d"); }, options.timing);

  set_torch_times(r, time_torch_cuda_conv2d(s.batch, s.channels, s.height, s.width, s.out_channels,
                                            s.kh, s.kw, s.stride, s.pad, options.timing));

  // The CPU LutConv2d (checked against its ref by tests/kernels) as the reference, in full.
  const std::vector<int32_t> got = d_dst.to_host();
  kernels::LutConv2dDesc desc;
  desc.batch = s.batch;
  desc.channels = s.channels;
  desc.height = s.height;
  desc.width = s.width;
  desc.out_channels = s.out_channels;
  desc.kh = s.kh;
  desc.kw = s.kw;
  desc.stride_h = desc.stride_w = s.stride;
  desc.pad_h = desc.pad_w = s.pad;
  desc.table = table.entries;
  desc.bits = options.bits;
  desc.weights = weights.data();
  std::vector<int32_t> want(out_size, kPoison);
  kernels::LutConv2d::create(desc).run(src.data(), want.data(), 0);
  const int64_t diff = first_difference(got, want);
  AXNN_CHECK(diff < 0, "CUDA LUT-conv ({}) is NOT exact on {} ({} bits): dst[{}] = {}, expected {}",
             r.storage, what, options.bits, diff, diff < 0 ? 0 : got[diff],
             diff < 0 ? 0 : want[diff]);
  r.checked_outputs = static_cast<int64_t>(out_size);
  const int64_t base_diff = first_difference(d_base.to_host(), want);
  AXNN_CHECK(base_diff < 0,
             "the TransAxx-style baseline differs from the reference on {} at "
             "dst[{}]",
             what, base_diff);
  return r;
}

nlohmann::ordered_json to_json(const LutCudaBenchResult& r) {
  nlohmann::ordered_json j = {{"device_kind", "cuda"}, {"kind", r.kind}, {"name", r.name}};
  if (r.kind == "conv")
    j["conv"] = {{"n", r.conv.batch},         {"h", r.conv.height},      {"w", r.conv.width},
                 {"co", r.conv.out_channels}, {"ci", r.conv.channels},   {"kh", r.conv.kh},
                 {"kw", r.conv.kw},           {"stride", r.conv.stride}, {"pad", r.conv.pad}};
  j["m"] = r.gemm.m;
  j["k"] = r.gemm.k;
  j["n"] = r.gemm.n;
  j["lookups"] = r.lookups();
  j["bits"] = r.bits;
  j["table"] = r.table;
  j["storage"] = r.storage;
  j["device"] = r.device;
  j["check_sampled"] = r.check_sampled;
  j["checked_outputs"] = r.checked_outputs;
  j["runs"] = r.lut.samples.size();
  j["time_min_s"] = r.lut.min;
  j["time_median_s"] = r.lut.median;
  j["tlookups_min"] = r.tlookups_min();
  j["tlookups_median"] = r.tlookups_median();
  j["transaxx_runs"] = r.transaxx.samples.size();
  j["transaxx_time_min_s"] = r.transaxx.min;
  j["transaxx_time_median_s"] = r.transaxx.median;
  j["transaxx_tlookups_median"] = r.transaxx_tlookups_median();
  j["ratio_transaxx_median"] = r.ratio_transaxx_median();
  j["fp32_time_median_s"] = r.fp32.median;
  j["slowdown_fp32_median"] = r.slowdown_fp32_median();
  if (r.int8) {
    j["int8_time_median_s"] = r.int8->median;
    j["slowdown_int8_median"] = *r.slowdown_int8_median();
  } else {
    j["int8_missing"] = r.int8_missing;
  }
  return j;
}

std::string format_cuda_table_header(bool conv) {
  return fmt::format(
             "device: {}\n"
             "{} in T lookups/s at the min | median time (cudaEvent, after warm-up); "
             "TransAxx-style baseline (one output per thread, 16x16 tiles, one global table read "
             "per MAC{}) in T lookups/s and the ratio of the median times; LUT time over "
             "LibTorch's exact fp32 (cuBLAS / cuDNN, TF32 off) and int8 (cuBLAS) time\n",
             device_description(), conv ? "CUDA LUT-conv (implicit GEMM)" : "CUDA LUT-GEMM",
             conv ? ", one launch per image" : "") +
         fmt::format("{:<28} {:>5} {:>5} {:>6} {:>4} {:>8} {:>5} {:>15} {:>9} {:>8} {:>8} {:>8}\n",
                     "name", "M", "K", "N", "bits", "storage", "check", "Tlookup/s", "TransAxx",
                     "ratio", "/fp32", "/int8");
}

std::string format_cuda_table_row(const LutCudaBenchResult& r) {
  return fmt::format(
      "{:<28} {:>5} {:>5} {:>6} {:>4} {:>8} {:>5} {:>7.3f}|{:<7.3f} {:>9.4f} {:>8.1f} {:>7.2f}x "
      "{:>8}\n",
      r.name.empty() ? "-" : r.name, r.gemm.m, r.gemm.k, r.gemm.n, r.bits, r.storage,
      r.checked_outputs > 0 ? "exact" : "-", r.tlookups_min(), r.tlookups_median(),
      r.transaxx_tlookups_median(), r.ratio_transaxx_median(), r.slowdown_fp32_median(),
      r.int8 ? fmt::format("{:.2f}x", *r.slowdown_int8_median()) : "-");
}

}  // namespace axnn::bench
