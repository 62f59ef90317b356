#include "bench/lut_gemm_bench.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <omp.h>

#include <random>
#include <span>
#include <vector>

#include "bench/baselines.h"
#include "bench/machine.h"
#include "core/error.h"
#include "kernels/lut_gemm.h"

namespace axnn::bench {

namespace {

// Outputs are poisoned before the first run, so an output the kernel never writes shows up as a
// mismatch, and they are checked after the last timed run, so a kernel that accumulates into C
// instead of overwriting it does too.
constexpr int32_t kPoison = 0x5A5A5A5A;

std::vector<uint8_t> random_codes(int64_t count, int bits, std::mt19937& rng) {
  std::uniform_int_distribution<int> code(0, (1 << bits) - 1);
  std::vector<uint8_t> codes(count);
  for (uint8_t& c : codes) c = static_cast<uint8_t>(code(rng));
  return codes;
}

// Entries span the value range of a signed bits x bits product, as an approximate multiplier's
// table would, so no impl declines it for its range.
std::vector<int32_t> random_table(int bits, std::mt19937& rng) {
  const int32_t bound = int32_t{1} << (2 * bits - 2);
  std::uniform_int_distribution<int32_t> entry(-bound, bound);
  std::vector<int32_t> table(size_t{1} << (2 * bits));
  for (int32_t& e : table) e = entry(rng);
  return table;
}

// Naive C[row][col] with the same wrap-around as int32 hardware. As in lut_gemm.h, A (M x K) is
// the stationary operand (the weight) and B (K x N) the streamed one (the activations); the table
// is indexed [a_code][b_code].
int32_t naive_output(std::span<const int32_t> table, int bits, const uint8_t* a, const uint8_t* b,
                     int64_t k, int64_t n, int64_t row, int64_t col) {
  const unsigned mask = (1u << bits) - 1;
  uint32_t sum = 0;
  for (int64_t i = 0; i < k; ++i) {
    const unsigned a_code = a[row * k + i] & mask;
    const unsigned b_code = b[i * n + col] & mask;
    sum += static_cast<uint32_t>(table[(size_t{a_code} << bits) | b_code]);
  }
  return static_cast<int32_t>(sum);
}

}  // namespace

OutputCheck check_lut_gemm_output(std::span<const int32_t> table, int bits, const uint8_t* a,
                                  const uint8_t* b, const int32_t* c, int64_t m, int64_t k,
                                  int64_t n, double full_check_lookups, uint32_t seed) {
  OutputCheck check;
  auto compare = [&](int64_t row, int64_t col, int32_t want) {
    const int32_t got = c[row * n + col];
    if (got == want) return;
    if (check.mismatches == 0) {
      check.row = row;
      check.col = col;
      check.got = got;
      check.want = want;
    }
    ++check.mismatches;
  };
  if (double(m) * double(k) * double(n) <= full_check_lookups) {
    std::vector<int32_t> want(static_cast<size_t>(m * n));
    kernels::lut_gemm_ref(table, bits, a, b, want.data(), m, k, n, k, n, n);
    for (int64_t row = 0; row < m; ++row)
      for (int64_t col = 0; col < n; ++col) compare(row, col, want[row * n + col]);
    check.checked = m * n;
    return check;
  }
  std::vector<std::pair<int64_t, int64_t>> positions = {
      {0, 0}, {0, n - 1}, {m - 1, 0}, {m - 1, n - 1}};
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int64_t> row_of(0, m - 1), col_of(0, n - 1);
  while (static_cast<int64_t>(positions.size()) < kSampledOutputs)
    positions.emplace_back(row_of(rng), col_of(rng));
  for (auto [row, col] : positions)
    compare(row, col, naive_output(table, bits, a, b, k, n, row, col));
  check.sampled = true;
  check.checked = static_cast<int64_t>(positions.size());
  return check;
}

void check_options(const LutGemmBenchOptions& options) {
  AXNN_CHECK(options.threads >= 1, "--threads must be >= 1, got {}", options.threads);
  AXNN_CHECK(options.bits >= 2 && options.bits <= 8, "--bits must be in 2..8, got {}",
             options.bits);
  if (options.isa)
    AXNN_CHECK(*options.isa <= detected_isa(), "--isa {} asks for more than this CPU supports ({})",
               isa_name(*options.isa), isa_name(detected_isa()));
  else
    active_isa();  // a bad AXNN_ISA is reported here, before any output
  check_timing_options(options.timing);
  if (!options.schedule.empty()) {
    // The impl LutGemm::create picks depends on the ISA ceiling and the table, not on the shape.
    std::mt19937 rng(options.seed);
    const std::vector<int32_t> table = random_table(options.bits, rng);
    const uint8_t a_code = 0;
    kernels::LutGemmDesc desc;
    desc.table = table;
    desc.bits = options.bits;
    desc.a = &a_code;
    desc.m = 1;
    desc.k = 1;
    desc.isa = options.isa.value_or(active_isa());
    desc.schedule = options.schedule;
    try {
      kernels::LutGemm::create(desc);
    } catch (const Error& e) {
      throw Error(fmt::format("--schedule: {}", e.what()));
    }
  }
}

LutGemmBenchResult run_lut_gemm_bench(const Problem& problem, const LutGemmBenchOptions& options) {
  check_options(options);
  const std::string what =
      problem.name.empty()
          ? fmt::format("shape {}x{}x{}", problem.m, problem.k, problem.n)
          : fmt::format("shape '{}' ({}x{}x{})", problem.name, problem.m, problem.k, problem.n);
  check_problem(problem, what);
  const int64_t m = problem.m, k = problem.k, n = problem.n;

  LutGemmBenchResult result;
  result.problem = problem;
  result.threads = options.threads;
  result.bits = options.bits;
  const Isa isa = options.isa.value_or(active_isa());
  result.isa = std::string(isa_name(isa));

  std::mt19937 rng(options.seed);
  const std::vector<int32_t> table = random_table(options.bits, rng);
  const std::vector<uint8_t> a = random_codes(m * k, options.bits, rng);
  const std::vector<uint8_t> b = random_codes(k * n, options.bits, rng);
  std::vector<int32_t> c(static_cast<size_t>(m * n), kPoison);

  kernels::LutGemmDesc desc;
  desc.table = table;
  desc.bits = options.bits;
  desc.a = a.data();
  desc.m = m;
  desc.k = k;
  desc.isa = isa;
  desc.schedule = options.schedule;
  const kernels::LutGemm gemm = kernels::LutGemm::create(desc);
  result.impl_name = std::string(gemm.impl_name());
  result.schedule = std::string(gemm.schedule(n));

  omp_set_num_threads(options.threads);
  result.lut_gemm =
      measure([&] { gemm.run(b.data(), n, c.data(), n, n, options.threads); }, options.timing);

  const OutputCheck check =
      check_lut_gemm_output(table, options.bits, a.data(), b.data(), c.data(), m, k, n,
                            options.full_check_lookups, options.seed);
  result.check_sampled = check.sampled;
  result.checked_outputs = check.checked;
  AXNN_CHECK(check.mismatches == 0,
             "LUT-GEMM impl '{}' is NOT exact on {} ({} threads, {} bits): {} of {} checked "
             "outputs differ from the reference; first C[{}][{}] = {}, expected {}",
             result.impl_name, what, options.threads, options.bits, check.mismatches, check.checked,
             check.row, check.col, check.got, check.want);

  {
    OnednnInt8Gemm onednn(m, k, n, options.seed);
    omp_set_num_threads(options.threads);
    result.onednn = measure([&] { onednn.run(); }, options.timing);
    result.onednn_impl = onednn.impl_info();
  }
  {
    TorchSgemm torch(m, k, n, options.threads, options.seed);
    result.torch = measure([&] { torch.run(); }, options.timing);
  }
  return result;
}

nlohmann::ordered_json to_json(const LutGemmBenchResult& r) {
  return {{"name", r.problem.name},
          {"m", r.problem.m},
          {"k", r.problem.k},
          {"n", r.problem.n},
          {"lookups", r.lookups()},
          {"threads", r.threads},
          {"bits", r.bits},
          {"isa", r.isa},
          {"impl_name", r.impl_name},
          {"schedule", r.schedule},
          {"check_sampled", r.check_sampled},
          {"checked_outputs", r.checked_outputs},
          {"runs", r.lut_gemm.samples.size()},
          {"time_min_s", r.lut_gemm.min},
          {"time_median_s", r.lut_gemm.median},
          {"glookups_min", r.glookups_min()},
          {"glookups_median", r.glookups_median()},
          {"onednn_impl", r.onednn_impl},
          {"onednn_runs", r.onednn.samples.size()},
          {"onednn_time_min_s", r.onednn.min},
          {"onednn_time_median_s", r.onednn.median},
          {"onednn_gmacs", r.onednn_gmacs()},
          {"onednn_gmacs_median", r.onednn_gmacs_median()},
          {"torch_runs", r.torch.samples.size()},
          {"torch_time_min_s", r.torch.min},
          {"torch_time_median_s", r.torch.median},
          {"torch_gmacs", r.torch_gmacs()},
          {"torch_gmacs_median", r.torch_gmacs_median()},
          {"ratio_onednn", r.ratio_onednn()},
          {"ratio_onednn_median", r.ratio_onednn_median()},
          {"ratio_torch", r.ratio_torch()},
          {"ratio_torch_median", r.ratio_torch_median()},
          {"machine", to_json(machine_info())}};
}

std::string format_table_header() {
  const MachineInfo& info = machine_info();
  return fmt::format(
             "cpu: {} ({} logical CPUs, detected ISA {}; {})\n"
             "baselines: oneDNN {} int8 matmul u8 x s8 -> s32; LibTorch {} fp32 at::mm (BLAS {})\n"
             "LUT-GEMM in G lookups/s at the min | median time; baselines in GMAC/s and ratios "
             "at the min time\n",
             info.cpu_model, info.logical_cpus, info.detected_isa,
             fmt::join(info.cpu_features, " "), info.onednn_version, info.torch_version,
             info.torch_blas) +
         fmt::format(
             "{:<28} {:>5} {:>5} {:>6} {:>3} {:>6} {:>17} {:>5} {:>15} {:>8} {:>8} {:>8} "
             "{:>8}  {}\n",
             "name", "M", "K", "N", "thr", "impl", "schedule", "check", "Glookup/s", "oneDNN",
             "LUT/oDNN", "fp32", "LUT/fp32", "oneDNN impl");
}

// The check column says the row's result was verified exact against the reference (a mismatch
// throws before a row exists); "-" would mean no output was compared.
std::string format_table_row(const LutGemmBenchResult& r) {
  return fmt::format(
      "{:<28} {:>5} {:>5} {:>6} {:>3} {:>6} {:>17} {:>5} {:>7.2f}|{:<7.2f} {:>8.1f} {:>8.3f} "
      "{:>8.1f} {:>8.3f}  {}\n",
      r.problem.name.empty() ? "-" : r.problem.name, r.problem.m, r.problem.k, r.problem.n,
      r.threads, r.impl_name, r.schedule, r.checked_outputs > 0 ? "exact" : "-", r.glookups_min(),
      r.glookups_median(), r.onednn_gmacs(), r.ratio_onednn(), r.torch_gmacs(), r.ratio_torch(),
      r.onednn_impl);
}

}  // namespace axnn::bench
