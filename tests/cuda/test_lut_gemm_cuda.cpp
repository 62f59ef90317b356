// lut_gemm_cuda against lut_gemm_ref, bit for bit: every width 2..8, tables that force each
// storage (offset16, shared32, global32) including entries at the int32 extremes and sums that
// wrap, odd shapes (not multiples of the 64 x 128 x 32 tile, K = 1, N = 1, M = 1), shapes deep
// enough for split-K, strided operands, codes with garbage above `bits`, and batches with
// per-slice and shared operands. Skips without a CUDA device.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "cuda/device_buffer.h"
#include "kernels/cuda/lut_cuda.h"
#include "kernels/lut_gemm.h"

namespace axnn::kernels::cuda {
namespace {

using test::DeviceBuffer;

constexpr int32_t kSentinel = 0x5a5a5a5a;
constexpr int32_t kMin = std::numeric_limits<int32_t>::min();
constexpr int32_t kMax = std::numeric_limits<int32_t>::max();

enum class TableKind {
  kRandom16,   // uniform in [-32768, 32767]: offset16
  kExtremes,   // every entry INT32_MIN or INT32_MAX: shared32 (bits <= 7) or global32
  kConstMin,   // every entry INT32_MIN: offset16 with span 0, base INT32_MIN
  kNearMax,    // INT32_MAX - [0, 65535]: offset16, sums wrap modulo 2^32
  kWide,       // uniform int32: shared32 / global32, sums wrap
  kSpan65535,  // offset16 at its boundary (entries 0 and 65535 present)
  kSpan65536,  // just past it (entries -1 and 65535 present)
};

std::string kind_name(TableKind kind) {
  switch (kind) {
    case TableKind::kRandom16:
      return "random16";
    case TableKind::kExtremes:
      return "extremes";
    case TableKind::kConstMin:
      return "const_min";
    case TableKind::kNearMax:
      return "near_max";
    case TableKind::kWide:
      return "wide";
    case TableKind::kSpan65535:
      return "span65535";
    case TableKind::kSpan65536:
      return "span65536";
  }
  return "?";
}

struct Table {
  std::vector<int32_t> entries;
  int32_t min = 0, max = 0;
};

Table make_table(TableKind kind, int bits, uint32_t seed) {
  std::mt19937 rng(seed);
  Table t;
  t.entries.resize(size_t{1} << (2 * bits));
  for (int32_t& v : t.entries) {
    switch (kind) {
      case TableKind::kRandom16:
        v = static_cast<int32_t>(rng() % 65536) - 32768;
        break;
      case TableKind::kExtremes:
        v = rng() % 2 ? kMax : kMin;
        break;
      case TableKind::kConstMin:
        v = kMin;
        break;
      case TableKind::kNearMax:
        v = kMax - static_cast<int32_t>(rng() % 65536);
        break;
      case TableKind::kWide:
        v = static_cast<int32_t>(rng());
        break;
      case TableKind::kSpan65535:
        v = static_cast<int32_t>(rng() % 65536);
        break;
      case TableKind::kSpan65536:
        v = static_cast<int32_t>(rng() % 65537) - 1;
        break;
    }
  }
  if (kind == TableKind::kSpan65535) {
    t.entries.front() = 0;
    t.entries.back() = 65535;
  }
  if (kind == TableKind::kSpan65536) {
    t.entries.front() = -1;
    t.entries.back() = 65535;
  }
  t.min = *std::min_element(t.entries.begin(), t.entries.end());
  t.max = *std::max_element(t.entries.begin(), t.entries.end());
  return t;
}

// Codes with random garbage above the low `bits` bits: the kernels must mask them.
std::vector<uint8_t> random_codes(size_t count, std::mt19937& rng) {
  std::vector<uint8_t> codes(count);
  for (uint8_t& c : codes) c = static_cast<uint8_t>(rng());
  return codes;
}

struct Shape {
  int64_t m, k, n;
};

// One batched call on the device and lut_gemm_ref per slice on the host; C's padding columns
// (ldc > n) must keep their sentinel.
void check_gemm(const Table& table, int bits, Shape s, int64_t batch, bool share_a, bool share_b,
                int64_t pad, uint32_t seed, const std::string& what) {
  std::mt19937 rng(seed);
  const int64_t lda = s.k + pad, ldb = s.n + pad, ldc = s.n + pad;
  const int64_t slice_a = s.m * lda, slice_b = s.k * ldb, slice_c = s.m * ldc;
  const std::vector<uint8_t> a = random_codes(size_t(slice_a * (share_a ? 1 : batch)), rng);
  const std::vector<uint8_t> b = random_codes(size_t(slice_b * (share_b ? 1 : batch)), rng);
  const DeviceBuffer<int32_t> d_table(table.entries);
  const DeviceBuffer<uint8_t> d_a(a), d_b(b);
  const DeviceBuffer<int32_t> d_c(std::vector<int32_t>(size_t(slice_c * batch), kSentinel));

  LutGemmArgs args;
  args.table = d_table.get();
  args.bits = bits;
  args.table_min = table.min;
  args.table_max = table.max;
  args.a = d_a.get();
  args.b = d_b.get();
  args.c = d_c.get();
  args.m = s.m;
  args.n = s.n;
  args.k = s.k;
  args.lda = pad ? lda : 0;
  args.ldb = pad ? ldb : 0;
  args.ldc = pad ? ldc : 0;
  args.batch = batch;
  args.batch_stride_a = share_a ? 0 : slice_a;
  args.batch_stride_b = share_b ? 0 : slice_b;
  args.batch_stride_c = slice_c;
  lut_gemm_cuda(args);
  const std::vector<int32_t> got = d_c.to_host();

  std::vector<int32_t> want(size_t(slice_c * batch), kSentinel);
  for (int64_t i = 0; i < batch; ++i)
    lut_gemm_ref(table.entries, bits, a.data() + (share_a ? 0 : i * slice_a),
                 b.data() + (share_b ? 0 : i * slice_b), want.data() + i * slice_c, s.m, s.k, s.n,
                 lda, ldb, ldc);
  int64_t mismatches = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    if (got[i] == want[i]) continue;
    if (mismatches++ < 3)
      ADD_FAILURE() << what << ": C[slice " << i / slice_c << "][" << i % slice_c / ldc << "]["
                    << i % ldc << "] = " << got[i] << ", expected " << want[i];
  }
  EXPECT_EQ(mismatches, 0) << what << " ("
                           << lut_storage_name(lut_storage(bits, table.min, table.max)) << ")";
}

using GemmParam = std::tuple<int, TableKind>;

class LutGemmCuda : public ::testing::TestWithParam<GemmParam> {
 protected:
  void SetUp() override { AXNN_SKIP_WITHOUT_CUDA_DEVICE(); }
};

TEST_P(LutGemmCuda, OddShapesMatchRef) {
  const auto [bits, kind] = GetParam();
  const Table table = make_table(kind, bits, 100 + bits);
  const Shape shapes[] = {{1, 1, 1},    {64, 32, 128},  {65, 33, 129}, {3, 1, 7},     {100, 300, 1},
                          {1, 1000, 5}, {197, 64, 197}, {37, 29, 53},  {130, 45, 260}};
  uint32_t seed = 1;
  for (const Shape& s : shapes)
    check_gemm(
        table, bits, s, 1, false, false, 0, seed++,
        "shape " + std::to_string(s.m) + "x" + std::to_string(s.k) + "x" + std::to_string(s.n));
}

TEST_P(LutGemmCuda, StridedAndBatched) {
  const auto [bits, kind] = GetParam();
  const Table table = make_table(kind, bits, 200 + bits);
  check_gemm(table, bits, {45, 70, 90}, 1, false, false, 3, 11, "strided");
  check_gemm(table, bits, {45, 70, 90}, 3, false, false, 0, 12, "batch 3, per-slice A and B");
  check_gemm(table, bits, {45, 70, 90}, 3, true, false, 5, 13, "batch 3, shared A, strided");
  check_gemm(table, bits, {20, 33, 17}, 4, false, true, 0, 14, "batch 4, shared B");
}

// Few tiles and a deep K: the launch splits K and adds the splits with wrapping atomics.
TEST_P(LutGemmCuda, SplitKMatchesRef) {
  const auto [bits, kind] = GetParam();
  const Table table = make_table(kind, bits, 300 + bits);
  check_gemm(table, bits, {70, 3001, 50}, 1, false, false, 0, 21, "split-K 70x3001x50");
  check_gemm(table, bits, {64, 4608, 49}, 2, false, false, 0, 22, "split-K batch 2 64x4608x49");
}

INSTANTIATE_TEST_SUITE_P(
    Tables, LutGemmCuda,
    ::testing::Combine(::testing::Range(2, 9),
                       ::testing::Values(TableKind::kRandom16, TableKind::kExtremes,
                                         TableKind::kConstMin, TableKind::kNearMax,
                                         TableKind::kWide, TableKind::kSpan65535,
                                         TableKind::kSpan65536)),
    [](const ::testing::TestParamInfo<GemmParam>& info) {
      return "bits" + std::to_string(std::get<0>(info.param)) + "_" +
             kind_name(std::get<1>(info.param));
    });

TEST(LutGemmCudaStorage, TableKindsForceEachStorage) {
  // The table kinds above do reach every storage (a check of the test itself, no GPU needed).
  EXPECT_EQ(lut_storage(8, make_table(TableKind::kRandom16, 8, 1).min,
                        make_table(TableKind::kRandom16, 8, 1).max),
            LutStorage::kOffset16);
  const Table span65535 = make_table(TableKind::kSpan65535, 8, 1);
  EXPECT_EQ(lut_storage(8, span65535.min, span65535.max), LutStorage::kOffset16);
  const Table span65536 = make_table(TableKind::kSpan65536, 8, 1);
  EXPECT_EQ(lut_storage(8, span65536.min, span65536.max), LutStorage::kGlobal32);
  EXPECT_EQ(lut_storage(7, span65536.min, span65536.max), LutStorage::kShared32);
  const Table extremes = make_table(TableKind::kExtremes, 3, 1);
  EXPECT_EQ(lut_storage(3, extremes.min, extremes.max), LutStorage::kShared32);
}

// Two launches on one stream of the caller and the result only after synchronising it.
TEST(LutGemmCudaStream, RunsOnTheGivenStream) {
  AXNN_SKIP_WITHOUT_CUDA_DEVICE();
  const Table table = make_table(TableKind::kRandom16, 6, 5);
  std::mt19937 rng(7);
  const Shape s{33, 65, 77};
  const std::vector<uint8_t> a = random_codes(size_t(s.m * s.k), rng);
  const std::vector<uint8_t> b = random_codes(size_t(s.k * s.n), rng);
  const DeviceBuffer<int32_t> d_table(table.entries);
  const DeviceBuffer<uint8_t> d_a(a), d_b(b);
  const DeviceBuffer<int32_t> d_c(size_t(s.m * s.n), 0x7f);
  cudaStream_t stream = nullptr;
  ASSERT_EQ(cudaStreamCreate(&stream), cudaSuccess);
  LutGemmArgs args;
  args.table = d_table.get();
  args.bits = 6;
  args.table_min = table.min;
  args.table_max = table.max;
  args.a = d_a.get();
  args.b = d_b.get();
  args.c = d_c.get();
  args.m = s.m;
  args.n = s.n;
  args.k = s.k;
  args.stream = stream;
  lut_gemm_cuda(args);
  lut_gemm_cuda(args);  // overwrites, never accumulates
  ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
  cudaStreamDestroy(stream);
  const std::vector<int32_t> got = d_c.to_host();
  std::vector<int32_t> want(got.size());
  lut_gemm_ref(table.entries, 6, a.data(), b.data(), want.data(), s.m, s.k, s.n, 0, 0, 0);
  EXPECT_EQ(got, want);
}

}  // namespace
}  // namespace axnn::kernels::cuda
