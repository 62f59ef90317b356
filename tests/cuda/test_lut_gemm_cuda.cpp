// lut_gemm_cuda against lut_gemm_ref, bit for bit: every width 2..8, tables that force each
// storage (offset16, shared32, global32) including entries at the int32 extremes and sums that
// wrap, odd shapes (not multiples of the 64 x 128 x 32 tile, K = 1, N = 1, M = 1), shapes deep
// enough for split-K, strided operands, codes with garbage above `bits`, and batches with
// per-slice and shared operands. Skips without a CUDA device.
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "cuda/cases.h"
#include "cuda/device_buffer.h"
#include "kernels/cuda/lut_cuda.h"
#include "kernels/lut_gemm.h"

namespace axnn::kernels::cuda {
namespace {

using test::DeviceBuffer;
using test::GemmCase;
using test::GemmOperands;
using test::kSentinel;
using test::make_table;
using test::Table;
using test::TableKind;

// One batched call on the device and lut_gemm_ref per slice on the host; C's padding columns
// (ldc > n) must keep their sentinel.
void check_gemm(const Table& table, int bits, const GemmCase& g, uint32_t seed,
                const std::string& what) {
  std::mt19937 rng(seed);
  const GemmOperands o(g, rng);
  const DeviceBuffer<int32_t> d_table(table.entries);
  const DeviceBuffer<uint8_t> d_a(o.a), d_b(o.b);
  const DeviceBuffer<int32_t> d_c(std::vector<int32_t>(o.c_size(g), kSentinel));

  LutGemmArgs args;
  args.table = d_table.get();
  args.bits = bits;
  args.table_min = table.min;
  args.table_max = table.max;
  args.a = d_a.get();
  args.b = d_b.get();
  args.c = d_c.get();
  args.m = g.m;
  args.n = g.n;
  args.k = g.k;
  args.lda = g.pad ? o.lda : 0;
  args.ldb = g.pad ? o.ldb : 0;
  args.ldc = g.pad ? o.ldc : 0;
  args.batch = g.batch;
  args.batch_stride_a = g.share_a ? 0 : o.slice_a;
  args.batch_stride_b = g.share_b ? 0 : o.slice_b;
  args.batch_stride_c = o.slice_c;
  lut_gemm_cuda(args);

  const int64_t mismatches =
      test::count_mismatches(d_c.to_host(), test::gemm_ref(table, bits, g, o),
                             [&](size_t i) { return what + ": " + o.c_element(i); });
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
  const GemmCase shapes[] = {{1, 1, 1},      {64, 32, 128}, {65, 33, 129},
                             {3, 1, 7},      {100, 300, 1}, {1, 1000, 5},
                             {197, 64, 197}, {37, 29, 53},  {130, 45, 260}};
  uint32_t seed = 1;
  for (const GemmCase& g : shapes)
    check_gemm(
        table, bits, g, seed++,
        "shape " + std::to_string(g.m) + "x" + std::to_string(g.k) + "x" + std::to_string(g.n));
}

TEST_P(LutGemmCuda, StridedAndBatched) {
  const auto [bits, kind] = GetParam();
  const Table table = make_table(kind, bits, 200 + bits);
  check_gemm(table, bits, {45, 70, 90, 1, false, false, 3}, 11, "strided");
  check_gemm(table, bits, {45, 70, 90, 3}, 12, "batch 3, per-slice A and B");
  check_gemm(table, bits, {45, 70, 90, 3, true, false, 5}, 13, "batch 3, shared A, strided");
  check_gemm(table, bits, {20, 33, 17, 4, false, true}, 14, "batch 4, shared B");
}

// Few tiles and a deep K: the launch splits K and adds the splits with wrapping atomics.
TEST_P(LutGemmCuda, SplitKMatchesRef) {
  const auto [bits, kind] = GetParam();
  const Table table = make_table(kind, bits, 300 + bits);
  check_gemm(table, bits, {70, 3001, 50}, 21, "split-K 70x3001x50");
  check_gemm(table, bits, {64, 4608, 49, 2}, 22, "split-K batch 2 64x4608x49");
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
             test::kind_name(std::get<1>(info.param));
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
  const GemmCase s{33, 65, 77};
  const std::vector<uint8_t> a = test::random_codes(size_t(s.m * s.k), rng);
  const std::vector<uint8_t> b = test::random_codes(size_t(s.k * s.n), rng);
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
