// TermGemm against lut_gemm_ref on the tables of the product-term generators (exact, truncated,
// broken-array, column discarding), widths 2..8, both signednesses: random and extreme codes with
// garbage above `bits`, odd shapes, strides, column blocks with tails, 1 and 2 threads, and sums
// beyond fp32's exact range.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "kernels/lut_gemm.h"
#include "kernels/term_gemm.h"
#include "mult/generators.h"
#include "mult/product_terms.h"

namespace axnn::kernels {
namespace {

using ::testing::HasSubstr;

constexpr int32_t kSentinel = 0x5a5a5a5a;

// LutGemm's orientation: the weight code first, so the Multiplier's lut transposed.
std::vector<int32_t> weight_first(const Multiplier& m) {
  std::vector<int32_t> t(m.lut().size());
  for (int x = 0; x < m.codes(); ++x) {
    for (int w = 0; w < m.codes(); ++w) t[w * m.codes() + x] = m.at(x, w);
  }
  return t;
}

std::vector<Multiplier> structured(int bits, bool is_signed) {
  std::vector<bool> keep(partial_product_columns(bits));
  for (size_t c = 0; c < keep.size(); ++c) keep[c] = c % 3 != 1;
  return {make_exact(bits, is_signed), make_truncated(bits, is_signed, bits - 1),
          make_bam(bits, is_signed, 1, bits), make_columns(bits, is_signed, keep)};
}

struct Shape {
  int64_t m, k, n, lda, ldb, ldc;
  int64_t chunk_bytes;
};

enum class Codes { kRandom, kExtremes };

void expect_matches_ref(const Multiplier& mult, const Shape& s, Codes codes, int threads,
                        uint32_t seed) {
  const std::vector<int32_t> table = weight_first(mult);
  const std::optional<ProductTerms> terms = product_terms(table, mult.bits(), mult.is_signed());
  ASSERT_TRUE(terms.has_value()) << mult.name();
  std::mt19937 rng(seed);
  const int top = (1 << mult.bits()) - 1;
  const int low = mult.is_signed() ? 1 << (mult.bits() - 1) : 0;  // most negative, or zero
  const auto code = [&]() -> uint8_t {
    if (codes == Codes::kRandom) return static_cast<uint8_t>(rng());  // garbage above bits
    return static_cast<uint8_t>(rng() % 2 ? low : (mult.is_signed() ? top >> 1 : top));
  };
  std::vector<uint8_t> a(s.m * s.lda), b(s.k * s.ldb);
  for (auto& v : a) v = code();
  for (auto& v : b) v = code();
  TermGemmDesc desc;
  desc.terms = *terms;
  desc.a = a.data();
  desc.m = s.m;
  desc.k = s.k;
  desc.lda = s.lda;
  desc.chunk_bytes = s.chunk_bytes;
  const TermGemm gemm = TermGemm::create(desc);
  std::vector<int32_t> want(s.m * s.ldc, kSentinel), got(s.m * s.ldc, kSentinel);
  lut_gemm_ref(table, mult.bits(), a.data(), b.data(), want.data(), s.m, s.k, s.n, s.lda, s.ldb,
               s.ldc);
  gemm.run(b.data(), s.n, got.data(), s.ldb, s.ldc, threads);
  for (int64_t i = 0; i < s.m; ++i) {
    for (int64_t j = 0; j < s.ldc; ++j) {
      ASSERT_EQ(got[i * s.ldc + j], want[i * s.ldc + j])
          << mult.name() << " m=" << s.m << " k=" << s.k << " n=" << s.n << " threads=" << threads
          << " at " << i << "," << j << " impl " << gemm.impl_name(threads);
    }
  }
}

class TermGemmWidth : public ::testing::TestWithParam<int> {};

TEST_P(TermGemmWidth, StructuredTablesMatchTheRef) {
  const int bits = GetParam();
  uint32_t seed = 7 * bits;
  for (bool is_signed : {false, true}) {
    for (const Multiplier& mult : structured(bits, is_signed)) {
      expect_matches_ref(mult, {5, 7, 3, 7, 3, 3, 1 << 20}, Codes::kRandom, 1, ++seed);
      // Column blocks of 64 with a tail, strided operands.
      expect_matches_ref(mult, {17, 33, 131, 40, 140, 135, 64}, Codes::kRandom, 2, ++seed);
      expect_matches_ref(mult, {3, 65, 70, 65, 70, 70, 1}, Codes::kExtremes, 1, ++seed);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Widths, TermGemmWidth, ::testing::Range(2, 9));

// Sums up to 2^28: beyond fp32's 2^24, so an impl that went through float would be caught.
TEST(TermGemm, LargeSumsAreExact) {
  for (bool is_signed : {false, true}) {
    const Multiplier exact = make_exact(8, is_signed);
    expect_matches_ref(exact, {16, 4000, 70, 4000, 70, 70, 1 << 20}, Codes::kExtremes, 2, 3);
    expect_matches_ref(make_truncated(8, is_signed, 6), {16, 4000, 70, 4000, 70, 70, 1 << 20},
                       Codes::kExtremes, 1, 4);
  }
}

TEST(TermGemm, ResnetShapeMatchesTheRef) {
  expect_matches_ref(make_truncated(8, true, 6), {16, 144, 784, 144, 784, 784, 1 << 20},
                     Codes::kRandom, 2, 5);
}

TEST(TermGemm, ZeroTableWritesZeros) {
  const Multiplier zero = make_truncated(4, true, partial_product_columns(4));
  expect_matches_ref(zero, {4, 9, 11, 9, 11, 13, 1 << 20}, Codes::kRandom, 1, 6);
}

TEST(TermGemm, BadArgumentsNameTheField) {
  const auto terms = product_terms(make_exact(8, true).lut(), 8, true);
  ASSERT_TRUE(terms.has_value());
  const std::vector<uint8_t> a(12);
  const auto expect_error = [](const TermGemmDesc& desc, const char* piece) {
    try {
      TermGemm::create(desc);
      ADD_FAILURE() << "no error for " << piece;
    } catch (const Error& e) {
      EXPECT_THAT(e.what(), HasSubstr(piece));
    }
  };
  TermGemmDesc desc{*terms, a.data(), 3, 4};
  desc.a = nullptr;
  expect_error(desc, "a is null");
  desc.a = a.data();
  desc.lda = 2;
  expect_error(desc, "lda = 2");
  desc.lda = 0;
  desc.m = 0;
  expect_error(desc, "m = 0");
  desc.m = 3;
  desc.terms.terms[0].sign = 2;
  expect_error(desc, "terms[0].sign = 2");
  desc.terms = *terms;
  desc.terms.bits = 9;
  expect_error(desc, "terms.bits = 9");
  desc.terms = *terms;
  const TermGemm gemm = TermGemm::create(desc);
  std::vector<uint8_t> b(8);
  std::vector<int32_t> c(6);
  try {
    gemm.run(b.data(), 2, c.data(), 1, 2);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("ldb = 1"));
  }
}

}  // namespace
}  // namespace axnn::kernels
