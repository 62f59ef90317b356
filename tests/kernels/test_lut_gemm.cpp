// LutGemm: every impl this CPU can run against lut_gemm_ref and against an independent naive loop,
// on random, extreme, product-like and wrapping tables, widths 2..8, odd shapes and strides; and
// LutGemms on different A from one shared LutTable, also from two threads at once.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <ostream>
#include <random>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "core/cpu.h"
#include "core/error.h"
#include "kernels/lut_gemm.h"

namespace axnn::kernels {
namespace {

constexpr int32_t kSentinel = 0x5a5a5a5a;  // fills C outside the written rows' columns

enum class TableKind {
  kRandom,            // uniform int16
  kExtremes,          // every entry +32767 or -32768
  kUnsignedProducts,  // a * b of unsigned codes, up to 255 * 255 = 65025
  kTruncated,         // signed product with its low `bits` bits cleared (truncated multiplier)
  kNearIntMax,        // INT32_MAX - [0, 65535]: sums wrap modulo 2^32
  kWide,              // range above 65535: the SIMD impls decline it
};

std::string kind_name(TableKind kind) {
  switch (kind) {
    case TableKind::kRandom:
      return "random";
    case TableKind::kExtremes:
      return "extremes";
    case TableKind::kUnsignedProducts:
      return "unsigned_products";
    case TableKind::kTruncated:
      return "truncated";
    case TableKind::kNearIntMax:
      return "near_int_max";
    case TableKind::kWide:
      return "wide";
  }
  return "?";
}

int32_t signed_value(unsigned code, int bits) {
  return code >= (1u << (bits - 1)) ? static_cast<int32_t>(code) - (1 << bits)
                                    : static_cast<int32_t>(code);
}

std::vector<int32_t> make_table(TableKind kind, int bits, uint32_t seed) {
  const unsigned size = 1u << bits;
  std::mt19937 rng(seed);
  std::vector<int32_t> table(size * size);
  for (unsigned a = 0; a < size; ++a)
    for (unsigned b = 0; b < size; ++b) {
      int32_t& v = table[a * size + b];
      switch (kind) {
        case TableKind::kRandom:
          v = static_cast<int32_t>(rng() % 65536) - 32768;
          break;
        case TableKind::kExtremes:
          v = rng() % 2 ? 32767 : -32768;
          break;
        case TableKind::kUnsignedProducts:
          v = static_cast<int32_t>(a * b);
          break;
        case TableKind::kTruncated:
          v = (signed_value(a, bits) * signed_value(b, bits)) & ~((1 << bits) - 1);
          break;
        case TableKind::kNearIntMax:
          v = std::numeric_limits<int32_t>::max() - static_cast<int32_t>(rng() % 65536);
          break;
        case TableKind::kWide:
          v = static_cast<int32_t>(rng() % 200001) - 100000;
          break;
      }
    }
  return table;
}

struct Problem {
  std::vector<int32_t> table;
  int bits = 8;
  int64_t m = 0, k = 0, n = 0, lda = 0, ldb = 0, ldc = 0;
  std::vector<uint8_t> a, b;  // full bytes: bits above `bits` are garbage the kernels must ignore
};

// `table`, when given, replaces make_table(kind, bits, seed) (sweeps over many shapes reuse one).
Problem make_problem(int64_t m, int64_t k, int64_t n, int bits, TableKind kind, uint32_t seed,
                     int64_t pad = 0, const std::vector<int32_t>* table = nullptr) {
  Problem p;
  p.table = table != nullptr ? *table : make_table(kind, bits, seed);
  p.bits = bits;
  p.m = m;
  p.k = k;
  p.n = n;
  p.lda = k + pad;
  p.ldb = n + 3 * pad;
  p.ldc = n + 2 * pad;
  std::mt19937 rng(seed + 1);
  // Exactly as long as the strides need, so that a read past the last row is an ASan error.
  p.a.resize((m - 1) * p.lda + k);
  p.b.resize((k - 1) * p.ldb + n);
  for (auto& v : p.a) v = static_cast<uint8_t>(rng());
  for (auto& v : p.b) v = static_cast<uint8_t>(rng());
  return p;
}

// Independent of the library: int64 sums of masked codes, reduced modulo 2^32 at the end.
std::vector<int32_t> naive(const Problem& p) {
  const unsigned mask = (1u << p.bits) - 1;
  std::vector<int32_t> c(p.m * p.ldc, kSentinel);
  std::vector<int64_t> row(p.n);
  for (int64_t i = 0; i < p.m; ++i) {
    std::fill(row.begin(), row.end(), 0);
    for (int64_t q = 0; q < p.k; ++q) {
      const int32_t* t = p.table.data() + ((p.a[i * p.lda + q] & mask) << p.bits);
      const uint8_t* b = p.b.data() + q * p.ldb;
      for (int64_t j = 0; j < p.n; ++j) row[j] += t[b[j] & mask];
    }
    for (int64_t j = 0; j < p.n; ++j)
      c[i * p.ldc + j] = static_cast<int32_t>(static_cast<uint32_t>(row[j]));
  }
  return c;
}

std::vector<int32_t> reference(const Problem& p) {
  std::vector<int32_t> c(p.m * p.ldc, kSentinel);
  lut_gemm_ref(p.table, p.bits, p.a.data(), p.b.data(), c.data(), p.m, p.k, p.n, p.lda, p.ldb,
               p.ldc);
  return c;
}

LutGemm create(const Problem& p, Isa isa, const std::string& schedule = "") {
  LutGemmDesc desc;
  desc.schedule = schedule;
  desc.table = p.table;
  desc.bits = p.bits;
  desc.a = p.a.data();
  desc.m = p.m;
  desc.k = p.k;
  desc.lda = p.lda;
  desc.isa = isa;
  return LutGemm::create(desc);
}

std::vector<int32_t> run(const LutGemm& gemm, const Problem& p, int threads) {
  std::vector<int32_t> c(p.m * p.ldc, kSentinel);
  gemm.run(p.b.data(), p.n, c.data(), p.ldb, p.ldc, threads);
  return c;
}

// First mismatching element, for a readable failure instead of a dump of two vectors.
std::string first_mismatch(const std::vector<int32_t>& got, const std::vector<int32_t>& want,
                           int64_t ldc) {
  for (size_t i = 0; i < got.size(); ++i)
    if (got[i] != want[i])
      return "C[" + std::to_string(i / ldc) + "][" + std::to_string(i % ldc) +
             "] = " + std::to_string(got[i]) + ", expected " + std::to_string(want[i]);
  return "";
}

// Whether impls of this table use the SIMD path (or decline it to ref).
std::string expected_impl(Isa isa, TableKind kind) {
  return kind == TableKind::kWide ? "ref" : std::string(isa_name(isa));
}

// Checks one impl (and schedule, if given) against both ground truths, at 1 and 2 threads.
void check(const Problem& p, Isa isa, TableKind kind, const std::string& schedule = "") {
  if (isa > detected_isa()) GTEST_SKIP() << "CPU lacks " << isa_name(isa);
  const std::vector<int32_t> want = naive(p);
  ASSERT_EQ(first_mismatch(reference(p), want, p.ldc), "") << "lut_gemm_ref vs naive";
  const LutGemm gemm = create(p, isa, schedule);
  ASSERT_EQ(gemm.impl_name(), expected_impl(isa, kind));
  if (!schedule.empty()) {
    ASSERT_EQ(gemm.schedule(p.n), schedule);
  }
  EXPECT_EQ(gemm.m(), p.m);
  EXPECT_EQ(gemm.k(), p.k);
  EXPECT_EQ(first_mismatch(run(gemm, p, 1), want, p.ldc), "") << "1 thread";
  EXPECT_EQ(first_mismatch(run(gemm, p, 2), want, p.ldc), "") << "2 threads";
  EXPECT_EQ(first_mismatch(run(gemm, p, 5), want, p.ldc), "") << "5 threads";
}

const Isa kIsas[] = {Isa::kRef, Isa::kAvx2, Isa::kAvx512};

std::string isa_param_name(Isa isa) { return std::string(isa_name(isa)); }

// ---- Shape sweep: random 8-bit table, odd sizes, K past the 16-bit flush period, strides.

struct Shape {
  int64_t m, k, n, pad;
};

const Shape kShapes[] = {
    {1, 1, 1, 0},      {1, 33, 1, 1},      {33, 1, 301, 0},    {33, 33, 33, 5},
    {301, 33, 1, 0},   {1, 301, 1000, 0},  {33, 301, 1024, 7}, {301, 1, 1000, 0},
    {1000, 33, 33, 3}, {1, 4609, 33, 0},   {33, 4609, 33, 1},  {301, 1000, 33, 0},
    {7, 1000, 513, 2}, {40, 4609, 700, 0}, {65, 257, 1100, 1}, {1030, 17, 7, 0},
    {64, 576, 600, 0}, {257, 300, 65, 0},  {2, 256, 511, 0},   {97, 255, 512, 64},
};

void PrintTo(const Shape& s, std::ostream* os) {
  *os << s.m << "x" << s.k << "x" << s.n << " pad " << s.pad;
}

class LutGemmShapes : public ::testing::TestWithParam<std::tuple<Shape, Isa>> {};

TEST_P(LutGemmShapes, MatchesRefAndNaive) {
  const auto [s, isa] = GetParam();
  const Problem p = make_problem(s.m, s.k, s.n, 8, TableKind::kRandom, 7, s.pad);
  check(p, isa, TableKind::kRandom);
}

INSTANTIATE_TEST_SUITE_P(Sweep, LutGemmShapes,
                         ::testing::Combine(::testing::ValuesIn(kShapes),
                                            ::testing::ValuesIn(kIsas)),
                         [](const auto& info) {
                           const Shape s = std::get<0>(info.param);
                           return "m" + std::to_string(s.m) + "_k" + std::to_string(s.k) + "_n" +
                                  std::to_string(s.n) + "_pad" + std::to_string(s.pad) + "_" +
                                  isa_param_name(std::get<1>(info.param));
                         });

// ---- Table sweep: every width and table kind, on a small-N and a large-N shape (for the AVX-512
// impl, n = 70 and n = 800 take different schedules; every schedule is also forced below).

class LutGemmTables : public ::testing::TestWithParam<std::tuple<TableKind, int, Isa>> {};

TEST_P(LutGemmTables, MatchesRefAndNaive) {
  const auto [kind, bits, isa] = GetParam();
  for (int64_t n : {70, 800}) {
    SCOPED_TRACE("n = " + std::to_string(n));
    check(make_problem(37, 300, n, bits, kind, 11 + bits, 1), isa, kind);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Sweep, LutGemmTables,
    ::testing::Combine(::testing::Values(TableKind::kRandom, TableKind::kExtremes,
                                         TableKind::kUnsignedProducts, TableKind::kTruncated,
                                         TableKind::kNearIntMax, TableKind::kWide),
                       ::testing::Range(2, 9), ::testing::ValuesIn(kIsas)),
    [](const auto& info) {
      return kind_name(std::get<0>(info.param)) + "_b" + std::to_string(std::get<1>(info.param)) +
             "_" + isa_param_name(std::get<2>(info.param));
    });

// ---- Every schedule of every impl, forced, on shapes that another choice would take.

struct ImplSchedule {
  Isa isa;
  const char* schedule;
};

const ImplSchedule kSchedules[] = {
    {Isa::kRef, "rows"},
    {Isa::kAvx2, "table-load-over-m"},
    {Isa::kAvx2, "table-load-over-n"},
    {Isa::kAvx2, "table-load-16-over-m"},
    {Isa::kAvx2, "columns-over-m"},
    {Isa::kAvx512, "table-load-over-m"},
    {Isa::kAvx512, "table-load-over-n"},
    {Isa::kAvx512, "planes-over-m"},
    {Isa::kAvx512, "planes-over-n"},
    {Isa::kAvx512, "table-load-16-over-m"},
};

void PrintTo(const ImplSchedule& s, std::ostream* os) {
  *os << isa_name(s.isa) << " " << s.schedule;
}

// Also: more than 4 chunks of 64 rows (planes-over-m), whole 256-column tiles (planes-over-n).
const Shape kScheduleShapes[] = {{1, 1, 1, 0},      {5, 300, 1000, 2}, {70, 33, 65, 1},
                                 {33, 600, 257, 0}, {130, 257, 7, 3},  {16, 144, 196, 0},
                                 {300, 40, 256, 0}, {449, 20, 128, 1}};

class LutGemmSchedules
    : public ::testing::TestWithParam<std::tuple<ImplSchedule, Shape, int, TableKind>> {};

TEST_P(LutGemmSchedules, MatchesRefAndNaive) {
  const auto [impl, s, bits, kind] = GetParam();
  const Problem p = make_problem(s.m, s.k, s.n, bits, kind, 71 + bits, s.pad);
  check(p, impl.isa, kind, impl.schedule);
}

INSTANTIATE_TEST_SUITE_P(
    Sweep, LutGemmSchedules,
    ::testing::Combine(::testing::ValuesIn(kSchedules), ::testing::ValuesIn(kScheduleShapes),
                       ::testing::Values(3, 6, 7, 8),
                       ::testing::Values(TableKind::kRandom, TableKind::kExtremes,
                                         TableKind::kUnsignedProducts)),
    [](const auto& info) {
      const ImplSchedule impl = std::get<0>(info.param);
      const Shape s = std::get<1>(info.param);
      std::string schedule = impl.schedule;
      std::replace(schedule.begin(), schedule.end(), '-', '_');
      return isa_param_name(impl.isa) + "_" + schedule + "_m" + std::to_string(s.m) + "_k" +
             std::to_string(s.k) + "_n" + std::to_string(s.n) + "_b" +
             std::to_string(std::get<2>(info.param)) + "_" + kind_name(std::get<3>(info.param));
    });

// ---- The small-M and small-N schedules, forced, on every M up to 17 (one 16-row block and a bit
// of the next), N from 1 to 70 (tiles of 8 columns and their remainders), K short and past two
// flush periods (k blocks of 16, a partial last one), every width; against lut_gemm_ref at 1 and
// 2 threads.

const ImplSchedule kSmallSchedules[] = {
    {Isa::kAvx2, "table-load-16-over-m"},
    {Isa::kAvx2, "columns-over-m"},
    {Isa::kAvx512, "table-load-16-over-m"},
};

class LutGemmSmallShapes : public ::testing::TestWithParam<std::tuple<ImplSchedule, int>> {};

TEST_P(LutGemmSmallShapes, MatchRef) {
  const auto [impl, bits] = GetParam();
  if (impl.isa > detected_isa()) GTEST_SKIP() << "CPU lacks " << isa_name(impl.isa);
  const TableKind kinds[] = {TableKind::kRandom, TableKind::kExtremes, TableKind::kNearIntMax};
  const std::vector<int32_t> tables[] = {
      make_table(kinds[0], bits, 1), make_table(kinds[1], bits, 2), make_table(kinds[2], bits, 3)};
  for (int64_t m = 1; m <= 17; ++m)
    for (int64_t n : {int64_t{1}, int64_t{7}, int64_t{16}, int64_t{17}, 4 * m + 1, int64_t{70}})
      for (int64_t k : {5, 530}) {
        SCOPED_TRACE(std::to_string(m) + "x" + std::to_string(k) + "x" + std::to_string(n));
        const int64_t kind = (m + n) % 3;
        const Problem p = make_problem(m, k, n, bits, kinds[kind], static_cast<uint32_t>(m * 7 + n),
                                       m % 2, &tables[kind]);
        const LutGemm gemm = create(p, impl.isa, impl.schedule);
        ASSERT_EQ(gemm.schedule(p.n), impl.schedule);
        const std::vector<int32_t> want = reference(p);
        ASSERT_EQ(first_mismatch(run(gemm, p, 1), want, p.ldc), "") << "1 thread";
        ASSERT_EQ(first_mismatch(run(gemm, p, 2), want, p.ldc), "") << "2 threads";
      }
}

INSTANTIATE_TEST_SUITE_P(Sweep, LutGemmSmallShapes,
                         ::testing::Combine(::testing::ValuesIn(kSmallSchedules),
                                            ::testing::Range(2, 9)),
                         [](const auto& info) {
                           const ImplSchedule impl = std::get<0>(info.param);
                           std::string schedule = impl.schedule;
                           std::replace(schedule.begin(), schedule.end(), '-', '_');
                           return isa_param_name(impl.isa) + "_" + schedule + "_b" +
                                  std::to_string(std::get<1>(info.param));
                         });

// The cost model takes the new schedules where they pay off (a choice, not a result: every
// schedule's results are checked above).
TEST(LutGemm, SmallShapesChooseTheirSchedules) {
  const Problem p16 = make_problem(16, 144, 8, 8, TableKind::kRandom, 3);
  const Problem heads = make_problem(192, 192, 8, 8, TableKind::kRandom, 5);
  if (detected_isa() >= Isa::kAvx2) {
    EXPECT_EQ(create(p16, Isa::kAvx2).schedule(50176), "table-load-16-over-m");
    EXPECT_EQ(create(heads, Isa::kAvx2).schedule(1), "columns-over-m");
  }
  if (detected_isa() >= Isa::kAvx512) {
    EXPECT_EQ(create(p16, Isa::kAvx512).schedule(50176), "table-load-16-over-m");
    EXPECT_EQ(
        create(make_problem(48, 288, 8, 8, TableKind::kRandom, 7), Isa::kAvx512).schedule(12544),
        "table-load-16-over-m");
  }
}

TEST(LutGemm, UnknownScheduleNamesTheImplAndItsSchedules) {
  const Problem p = make_problem(4, 6, 5, 8, TableKind::kRandom, 67);
  try {
    create(p, Isa::kRef, "planes-over-n");
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("schedule = 'planes-over-n'"));
    EXPECT_THAT(e.what(), ::testing::HasSubstr("impl ref has only rows"));
  }
}

// ---- Properties.

class LutGemmIsa : public ::testing::TestWithParam<Isa> {
 protected:
  void SetUp() override {
    if (GetParam() > detected_isa()) GTEST_SKIP() << "CPU lacks " << isa_name(GetParam());
  }
};

TEST_P(LutGemmIsa, OnlyLowBitsOfCodesAreRead) {
  for (int bits = 2; bits <= 7; ++bits) {
    SCOPED_TRACE("bits = " + std::to_string(bits));
    for (int64_t n : {45, 600}) {
      Problem dirty = make_problem(19, 70, n, bits, TableKind::kRandom, 23 + bits);
      Problem clean = dirty;
      const uint8_t mask = static_cast<uint8_t>((1u << bits) - 1);
      for (auto& v : clean.a) v &= mask;
      for (auto& v : clean.b) v &= mask;
      EXPECT_EQ(run(create(dirty, GetParam()), dirty, 1), run(create(clean, GetParam()), clean, 1));
    }
  }
}

TEST_P(LutGemmIsa, ThreadCountsGiveIdenticalResults) {
  for (int64_t n : {200, 2000}) {
    const Problem p = make_problem(70, 600, n, 8, TableKind::kExtremes, 31);
    const LutGemm gemm = create(p, GetParam());
    const std::vector<int32_t> one = run(gemm, p, 1);
    EXPECT_EQ(run(gemm, p, 2), one);
    EXPECT_EQ(run(gemm, p, 0), one);
  }
}

TEST_P(LutGemmIsa, ConcurrentRunsOnOneGemmAgree) {
  // Different N per thread: different schedules and scratch sizes at the same time.
  const Problem p = make_problem(70, 300, 900, 8, TableKind::kRandom, 37);
  const LutGemm gemm = create(p, GetParam());
  const std::vector<int32_t> want = naive(p);
  std::vector<std::string> mismatch(4);
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i)
    threads.emplace_back([&, i] {
      const int64_t n = i % 2 ? p.n : 40;
      std::vector<int32_t> c(p.m * p.ldc, kSentinel);
      for (int repeat = 0; repeat < 3; ++repeat) gemm.run(p.b.data(), n, c.data(), p.ldb, p.ldc, 2);
      for (int64_t r = 0; r < p.m; ++r)
        for (int64_t j = 0; j < n && mismatch[i].empty(); ++j)
          if (c[r * p.ldc + j] != want[r * p.ldc + j])
            mismatch[i] = "thread " + std::to_string(i) + ": C[" + std::to_string(r) + "][" +
                          std::to_string(j) + "]";
    });
  for (auto& t : threads) t.join();
  for (const auto& m : mismatch) EXPECT_EQ(m, "");
}

TEST_P(LutGemmIsa, WideTableFallsBackToRef) {
  const Problem p = make_problem(20, 50, 600, 8, TableKind::kWide, 41);
  const LutGemm gemm = create(p, GetParam());
  EXPECT_EQ(gemm.impl_name(), "ref");
  EXPECT_EQ(first_mismatch(run(gemm, p, 1), naive(p), p.ldc), "");
}

TEST_P(LutGemmIsa, RangeOfExactly65535IsAccepted) {
  Problem p = make_problem(20, 300, 600, 8, TableKind::kRandom, 43);
  p.table.front() = -30000;
  p.table.back() = 35535;
  for (auto& v : p.table) v = std::clamp(v, -30000, 35535);
  const LutGemm gemm = create(p, GetParam());
  EXPECT_EQ(gemm.impl_name(), isa_name(GetParam()));
  EXPECT_EQ(first_mismatch(run(gemm, p, 1), naive(p), p.ldc), "");
}

TEST_P(LutGemmIsa, RunIsRepeatableAndOperandCopied) {
  Problem p = make_problem(33, 100, 700, 8, TableKind::kRandom, 47);
  const LutGemm gemm = create(p, GetParam());
  const std::vector<int32_t> want = naive(p);
  // create() packed A and the table: changing the caller's copies afterwards has no effect.
  std::fill(p.a.begin(), p.a.end(), 0);
  std::fill(p.table.begin(), p.table.end(), 0);
  EXPECT_EQ(run(gemm, p, 1), want);
  EXPECT_EQ(run(gemm, p, 1), want);
}

TEST_P(LutGemmIsa, TablesDifferingInOneEntryAreNotConfused) {
  // Packed tables are shared by content between LutGemms: one entry apart is another table.
  if (GetParam() > detected_isa()) GTEST_SKIP() << "CPU lacks " << isa_name(GetParam());
  Problem p = make_problem(40, 70, 300, 8, TableKind::kRandom, 53);
  Problem q = p;
  q.table.back() += 1;
  std::fill(p.a.begin(), p.a.end(), 255);  // every row of A selects the last table row
  q.a = p.a;
  for (const Problem* x : {&p, &q, &p, &q})
    EXPECT_EQ(first_mismatch(run(create(*x, GetParam()), *x, 1), naive(*x), x->ldc), "");
}

TEST_P(LutGemmIsa, EverySchedulePacksFromItsOwnCopyOfA) {
  // Schedules may pack their layout of A on first run, after the caller's A has changed.
  if (GetParam() > detected_isa()) GTEST_SKIP() << "CPU lacks " << isa_name(GetParam());
  Problem p = make_problem(70, 40, 100, 8, TableKind::kRandom, 59);
  const std::vector<int32_t> want = naive(p);
  std::vector<LutGemm> gemms;
  for (const ImplSchedule& s : kSchedules)
    if (s.isa == GetParam()) gemms.push_back(create(p, s.isa, s.schedule));
  std::fill(p.a.begin(), p.a.end(), 0);
  for (const LutGemm& gemm : gemms) EXPECT_EQ(first_mismatch(run(gemm, p, 2), want, p.ldc), "");
}

INSTANTIATE_TEST_SUITE_P(Each, LutGemmIsa, ::testing::ValuesIn(kIsas),
                         [](const auto& info) { return isa_param_name(info.param); });

TEST(LutGemm, DefaultIsaIsTheActiveLevel) {
  const Problem p = make_problem(8, 8, 8, 8, TableKind::kRandom, 53);
  LutGemmDesc desc;
  desc.table = p.table;
  desc.a = p.a.data();
  desc.m = p.m;
  desc.k = p.k;
  EXPECT_EQ(LutGemm::create(desc).impl_name(), isa_name(active_isa()));
}

// ---- One LutTable shared by many LutGemms on different A (the attention slices' pattern).

// A LutGemm of p's A (not its table) from a shared packed table.
LutGemm create_from(const LutTable& table, const Problem& p, const std::string& schedule = "") {
  return LutGemm::create(table, p.a.data(), p.m, p.k, p.lda, schedule);
}

// Shapes of A (and N) that one table serves: the ViT attention slices (Q K^T: 65 x 64 x 65,
// A V: 65 x 65 x 64), and odd, strided and flush-crossing ones.
const Shape kSharedShapes[] = {{65, 64, 65, 0},  {65, 65, 64, 3}, {1, 1, 1, 0},
                               {17, 300, 33, 1}, {33, 5, 700, 0}, {130, 40, 7, 2}};

class LutTableShared : public ::testing::TestWithParam<std::tuple<ImplSchedule, int>> {};

TEST_P(LutTableShared, GemmsOnDifferentAMatchRef) {
  const auto [impl, bits] = GetParam();
  if (impl.isa > detected_isa()) GTEST_SKIP() << "CPU lacks " << isa_name(impl.isa);
  for (TableKind kind : {TableKind::kRandom, TableKind::kExtremes}) {
    SCOPED_TRACE(kind_name(kind));
    const std::vector<int32_t> values = make_table(kind, bits, 83 + bits);
    const LutTable table = LutTable::create(values, bits, impl.isa);
    ASSERT_EQ(table.impl_name(), isa_name(impl.isa));
    ASSERT_EQ(table.bits(), bits);
    // Every schedule forced, and the impl's own choice ("" picks per run).
    for (const std::string& schedule : {std::string(impl.schedule), std::string()})
      for (size_t i = 0; i < std::size(kSharedShapes); ++i) {
        const Shape s = kSharedShapes[i];
        SCOPED_TRACE(std::to_string(s.m) + "x" + std::to_string(s.k) + "x" + std::to_string(s.n) +
                     " schedule '" + schedule + "'");
        const Problem p =
            make_problem(s.m, s.k, s.n, bits, kind, static_cast<uint32_t>(90 + i), s.pad, &values);
        const LutGemm gemm = create_from(table, p, schedule);
        EXPECT_EQ(gemm.impl_name(), table.impl_name());
        if (!schedule.empty()) {
          EXPECT_EQ(gemm.schedule(p.n), schedule);
        }
        EXPECT_EQ(gemm.m(), p.m);
        EXPECT_EQ(gemm.k(), p.k);
        const std::vector<int32_t> want = reference(p);
        EXPECT_EQ(first_mismatch(run(gemm, p, 1), want, p.ldc), "") << "1 thread";
        EXPECT_EQ(first_mismatch(run(gemm, p, 2), want, p.ldc), "") << "2 threads";
      }
  }
}

INSTANTIATE_TEST_SUITE_P(Sweep, LutTableShared,
                         ::testing::Combine(::testing::ValuesIn(kSchedules),
                                            ::testing::Values(3, 7, 8)),
                         [](const auto& info) {
                           const ImplSchedule impl = std::get<0>(info.param);
                           std::string schedule = impl.schedule;
                           std::replace(schedule.begin(), schedule.end(), '-', '_');
                           return isa_param_name(impl.isa) + "_" + schedule + "_b" +
                                  std::to_string(std::get<1>(info.param));
                         });

TEST_P(LutGemmIsa, SharedTableFromTwoThreadsMatchesRef) {
  // Two threads create LutGemms on their own A's from one LutTable and run them at once, each
  // slice's first run packing its schedule's layout of A while the other thread reads the table.
  const std::vector<int32_t> values = make_table(TableKind::kRandom, 8, 97);
  const LutTable table = LutTable::create(values, 8, GetParam());
  std::vector<std::string> mismatch(2);
  std::vector<std::thread> threads;
  for (int i = 0; i < 2; ++i)
    threads.emplace_back([&, i] {
      for (int slice = 0; slice < 24 && mismatch[i].empty(); ++slice) {
        const Shape s = kSharedShapes[(slice + i) % std::size(kSharedShapes)];
        const Problem p = make_problem(s.m, s.k, s.n, 8, TableKind::kRandom,
                                       static_cast<uint32_t>(1000 * i + slice), s.pad, &values);
        const LutGemm gemm = create_from(table, p);
        std::vector<int32_t> c(p.m * p.ldc, kSentinel);
        gemm.run(p.b.data(), p.n, c.data(), p.ldb, p.ldc, 1);
        const std::string at = first_mismatch(c, reference(p), p.ldc);
        if (!at.empty())
          mismatch[i] =
              "thread " + std::to_string(i) + " slice " + std::to_string(slice) + ": " + at;
      }
    });
  for (auto& t : threads) t.join();
  for (const auto& m : mismatch) EXPECT_EQ(m, "");
}

TEST_P(LutGemmIsa, SharedTableIsACopyAndOutlivedByItsGemms) {
  Problem p = make_problem(33, 100, 70, 8, TableKind::kRandom, 101);
  const std::vector<int32_t> want = naive(p);
  std::optional<LutGemm> gemm;
  {
    const LutTable table = LutTable::create(p.table, p.bits, GetParam());
    std::fill(p.table.begin(), p.table.end(),
              0);  // packed at create: later changes do not reach it
    gemm.emplace(create_from(table, p));
  }                                      // the LutGemm keeps the packed table alive
  std::fill(p.a.begin(), p.a.end(), 0);  // and its own copy of A
  EXPECT_EQ(first_mismatch(run(*gemm, p, 1), want, p.ldc), "");
}

TEST_P(LutGemmIsa, SharedWideTableIsRef) {
  const Problem p = make_problem(20, 50, 60, 8, TableKind::kWide, 103);
  const LutTable table = LutTable::create(p.table, p.bits, GetParam());
  EXPECT_EQ(table.impl_name(), "ref");
  EXPECT_EQ(first_mismatch(run(create_from(table, p), p, 1), naive(p), p.ldc), "");
}

TEST(LutTable, DefaultIsaIsTheActiveLevel) {
  EXPECT_EQ(LutTable::create(make_table(TableKind::kRandom, 4, 107), 4).impl_name(),
            isa_name(active_isa()));
}

TEST(LutTable, BadArgumentsAreRejectedNamingThem) {
  const std::vector<int32_t> values = make_table(TableKind::kRandom, 4, 109);
  auto message = [](auto call) -> std::string {
    try {
      call();
    } catch (const Error& e) {
      return e.what();
    }
    return "no error";
  };
  using ::testing::HasSubstr;
  EXPECT_THAT(message([&] { LutTable::create(values, 1); }),
              HasSubstr("LutTable::create: bits = 1"));
  EXPECT_THAT(message([&] { LutTable::create(values, 5); }),
              HasSubstr("LutTable::create: table has 256 entries"));
  EXPECT_THAT(message([&] { LutTable::create({}, 4); }), HasSubstr("LutTable::create: table"));
  if (detected_isa() < Isa::kAvx512) {
    EXPECT_THAT(message([&] { LutTable::create(values, 4, Isa::kAvx512); }),
                HasSubstr("LutTable::create: isa"));
  }

  const LutTable table = LutTable::create(values, 4, Isa::kRef);
  const std::vector<uint8_t> a(6 * 4);
  EXPECT_NO_THROW(LutGemm::create(table, a.data(), 4, 6));
  EXPECT_THAT(message([&] { LutGemm::create(table, nullptr, 4, 6); }),
              HasSubstr("LutGemm::create: a is null"));
  EXPECT_THAT(message([&] { LutGemm::create(table, a.data(), 0, 6); }),
              HasSubstr("LutGemm::create: m = 0"));
  EXPECT_THAT(message([&] { LutGemm::create(table, a.data(), 4, -2); }),
              HasSubstr("LutGemm::create: k = -2"));
  EXPECT_THAT(message([&] { LutGemm::create(table, a.data(), 4, 6, 5); }),
              HasSubstr("LutGemm::create: lda = 5"));
  EXPECT_THAT(message([&] { LutGemm::create(table, a.data(), 4, 6, 0, "planes-over-n"); }),
              HasSubstr("LutGemm::create: schedule = 'planes-over-n': impl ref has only rows"));
}

// ---- Errors name the field at fault.

void expect_error(const LutGemmDesc& desc, const std::string& field) {
  try {
    LutGemm::create(desc);
    ADD_FAILURE() << "no error for bad " << field;
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr(field));
  }
}

TEST(LutGemm, BadDescIsRejectedNamingTheField) {
  const Problem p = make_problem(4, 6, 5, 4, TableKind::kRandom, 59);
  LutGemmDesc good;
  good.table = p.table;
  good.bits = 4;
  good.a = p.a.data();
  good.m = 4;
  good.k = 6;
  EXPECT_NO_THROW(LutGemm::create(good));

  auto with = [&](auto change) {
    LutGemmDesc d = good;
    change(d);
    return d;
  };
  expect_error(with([](LutGemmDesc& d) { d.bits = 1; }), "bits = 1");
  expect_error(with([](LutGemmDesc& d) { d.bits = 9; }), "bits = 9");
  expect_error(with([](LutGemmDesc& d) { d.bits = 5; }), "table has 256 entries");
  expect_error(with([](LutGemmDesc& d) { d.table = d.table.first(255); }), "table has 255");
  expect_error(with([](LutGemmDesc& d) { d.table = {}; }), "table");
  expect_error(with([](LutGemmDesc& d) { d.a = nullptr; }), "LutGemmDesc.a is null");
  expect_error(with([](LutGemmDesc& d) { d.m = 0; }), "LutGemmDesc.m = 0");
  expect_error(with([](LutGemmDesc& d) { d.m = -3; }), "LutGemmDesc.m = -3");
  expect_error(with([](LutGemmDesc& d) { d.k = 0; }), "LutGemmDesc.k = 0");
  expect_error(with([](LutGemmDesc& d) { d.k = int64_t{1} << 40; }), "LutGemmDesc.k = ");
  expect_error(with([](LutGemmDesc& d) { d.m = int64_t{1} << 40; }), "LutGemmDesc.m = ");
  expect_error(with([](LutGemmDesc& d) { d.lda = 5; }), "LutGemmDesc.lda = 5");
  expect_error(with([](LutGemmDesc& d) { d.lda = -1; }), "LutGemmDesc.lda = -1");
  if (detected_isa() < Isa::kAvx512)
    expect_error(with([](LutGemmDesc& d) { d.isa = Isa::kAvx512; }), "LutGemmDesc.isa");
}

TEST(LutGemm, BadRunArgumentsAreRejected) {
  const Problem p = make_problem(4, 6, 5, 8, TableKind::kRandom, 61);
  const LutGemm gemm = create(p, Isa::kRef);
  std::vector<int32_t> c(4 * 5);
  auto message = [&](auto call) -> std::string {
    try {
      call();
    } catch (const Error& e) {
      return e.what();
    }
    return "no error";
  };
  EXPECT_THAT(message([&] { gemm.run(nullptr, 5, c.data()); }), ::testing::HasSubstr("b is null"));
  EXPECT_THAT(message([&] { gemm.run(p.b.data(), 5, nullptr); }),
              ::testing::HasSubstr("c is null"));
  EXPECT_THAT(message([&] { gemm.run(p.b.data(), 0, c.data()); }), ::testing::HasSubstr("n = 0"));
  EXPECT_THAT(message([&] { gemm.run(p.b.data(), 5, c.data(), 4); }),
              ::testing::HasSubstr("ldb = 4"));
  EXPECT_THAT(message([&] { gemm.run(p.b.data(), 5, c.data(), 0, 3); }),
              ::testing::HasSubstr("ldc = 3"));
  EXPECT_THAT(message([&] { gemm.run(p.b.data(), 5, c.data(), 0, 0, -1); }),
              ::testing::HasSubstr("threads = -1"));
}

}  // namespace
}  // namespace axnn::kernels
