#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>
#include <vector>

#include "core/error.h"
#include "mult/generators.h"
#include "mult/product_terms.h"

namespace axnn {
namespace {

using ::testing::HasSubstr;

std::vector<int32_t> table(const Multiplier& m) { return {m.lut().begin(), m.lut().end()}; }

// The decomposition's sum on every code pair, in plain loops from the definition of a masked value
// (the code's kept bits, the sign bit weighing -2^(b-1) for signed codes), against the table.
void expect_reproduces(const ProductTerms& terms, std::span<const int32_t> t, int bits,
                       bool is_signed, const std::string& what) {
  ASSERT_EQ(terms.bits, bits) << what;
  ASSERT_EQ(terms.is_signed, is_signed) << what;
  const int codes = 1 << bits;
  const auto value = [&](int code, uint32_t mask) {
    int64_t v = 0;
    for (int p = 0; p < bits; ++p) {
      if (!((code >> p) & 1) || !((mask >> p) & 1)) continue;
      v += (is_signed && p == bits - 1) ? -(int64_t{1} << p) : (int64_t{1} << p);
    }
    return v;
  };
  for (const ProductTerm& term : terms.terms) {
    ASSERT_TRUE(term.sign == 1 || term.sign == -1) << what;
    ASSERT_NE(term.a_mask, 0u) << what;
    ASSERT_NE(term.b_mask, 0u) << what;
    ASSERT_EQ(term.a_mask >> bits, 0u) << what;
    ASSERT_EQ(term.b_mask >> bits, 0u) << what;
  }
  std::vector<int64_t> a_values, b_values;
  for (const ProductTerm& term : terms.terms) {
    for (int code = 0; code < codes; ++code) {
      a_values.push_back(term.sign * value(code, term.a_mask));
      b_values.push_back(value(code, term.b_mask));
    }
  }
  for (int a = 0; a < codes; ++a) {
    for (int b = 0; b < codes; ++b) {
      int64_t sum = 0;
      for (size_t g = 0; g < terms.terms.size(); ++g) {
        sum += a_values[g * codes + a] * b_values[g * codes + b];
      }
      ASSERT_EQ(sum, t[a * codes + b]) << what << " a=" << a << " b=" << b;
    }
  }
  for (int a = 0; a < codes; a += 3) {
    ASSERT_EQ(terms.evaluate(a, codes - 1 - a), t[a * codes + codes - 1 - a]) << what;
  }
}

// The number of distinct nonzero rows (grouping by a bits) and columns (by b bits) of the table's
// single-bit coefficients: no decomposition may need more terms than the smaller.
int grouping_cost(std::span<const int32_t> t, int bits) {
  const int codes = 1 << bits;
  std::set<std::vector<int32_t>> rows, cols;
  for (int p = 0; p < bits; ++p) {
    std::vector<int32_t> row, col;
    bool row_nonzero = false, col_nonzero = false;
    for (int q = 0; q < bits; ++q) {
      row.push_back(t[(1 << p) * codes + (1 << q)] != 0);
      col.push_back(t[(1 << q) * codes + (1 << p)] != 0);
      row_nonzero |= row.back() != 0;
      col_nonzero |= col.back() != 0;
    }
    if (row_nonzero) rows.insert(row);
    if (col_nonzero) cols.insert(col);
  }
  return static_cast<int>(std::min(rows.size(), cols.size()));
}

void expect_decomposes(const Multiplier& m) {
  const auto t = table(m);
  const std::optional<ProductTerms> terms = product_terms(t, m.bits(), m.is_signed());
  ASSERT_TRUE(terms.has_value()) << m.name();
  expect_reproduces(*terms, t, m.bits(), m.is_signed(), m.name());
  EXPECT_LE(static_cast<int>(terms->terms.size()), grouping_cost(t, m.bits())) << m.name();
  const std::optional<int> bound = product_terms_lower_bound(t, m.bits(), m.is_signed());
  ASSERT_TRUE(bound.has_value()) << m.name();
  EXPECT_GE(static_cast<int>(terms->terms.size()), *bound) << m.name();
}

class ProductTermsWidth : public ::testing::TestWithParam<int> {};

TEST_P(ProductTermsWidth, ExactIsOneFullTerm) {
  const int bits = GetParam();
  for (bool is_signed : {false, true}) {
    const Multiplier m = make_exact(bits, is_signed);
    const auto terms = product_terms(table(m), bits, is_signed);
    ASSERT_TRUE(terms.has_value()) << m.name();
    ASSERT_EQ(terms->terms.size(), 1u) << m.name();
    EXPECT_EQ(terms->terms[0].a_mask, (1u << bits) - 1);
    EXPECT_EQ(terms->terms[0].b_mask, (1u << bits) - 1);
    EXPECT_EQ(terms->terms[0].sign, 1);
    expect_reproduces(*terms, table(m), bits, is_signed, m.name());
  }
}

TEST_P(ProductTermsWidth, EveryTruncationDecomposes) {
  const int bits = GetParam();
  for (bool is_signed : {false, true}) {
    for (int k = 0; k < partial_product_columns(bits); ++k) {
      expect_decomposes(make_truncated(bits, is_signed, k));
    }
    // Everything removed: the zero table is the empty sum.
    const Multiplier zero = make_truncated(bits, is_signed, partial_product_columns(bits));
    const auto terms = product_terms(table(zero), bits, is_signed);
    ASSERT_TRUE(terms.has_value());
    EXPECT_TRUE(terms->terms.empty());
  }
}

TEST_P(ProductTermsWidth, EveryBrokenArrayDecomposes) {
  const int bits = GetParam();
  for (bool is_signed : {false, true}) {
    // Generating an 8-bit array takes ~10 ms: a sparser grid there.
    const int step = bits == 8 ? 3 : 1;
    for (int hbl = 0; hbl <= bits; hbl += step) {
      for (int vbl = 0; vbl < partial_product_columns(bits); vbl += 2 * step) {
        expect_decomposes(make_bam(bits, is_signed, hbl, vbl));
      }
    }
  }
}

TEST_P(ProductTermsWidth, RandomColumnDiscardDecomposes) {
  const int bits = GetParam();
  std::mt19937 rng(1234 + bits);
  for (bool is_signed : {false, true}) {
    for (int trial = 0; trial < (bits == 8 ? 4 : 12); ++trial) {
      std::vector<bool> keep(partial_product_columns(bits));
      for (size_t c = 0; c < keep.size(); ++c) keep[c] = rng() % 3 != 0;
      expect_decomposes(make_columns(bits, is_signed, keep));
    }
  }
}

TEST_P(ProductTermsWidth, TransposedDecomposesTheTransposedTable) {
  const int bits = GetParam();
  const int codes = 1 << bits;
  for (bool is_signed : {false, true}) {
    const Multiplier m = make_bam(bits, is_signed, 1, 2);
    const auto terms = product_terms(table(m), bits, is_signed);
    ASSERT_TRUE(terms.has_value());
    std::vector<int32_t> t(codes * codes);
    for (int a = 0; a < codes; ++a) {
      for (int b = 0; b < codes; ++b) t[b * codes + a] = m.at(a, b);
    }
    expect_reproduces(terms->transposed(), t, bits, is_signed, m.name() + " transposed");
  }
}

TEST_P(ProductTermsWidth, ChangedEntriesAndOtherFunctionsAreRejected) {
  const int bits = GetParam();
  const int codes = 1 << bits;
  std::mt19937 rng(99 + bits);
  for (bool is_signed : {false, true}) {
    const auto exact = table(make_exact(bits, is_signed));
    const auto trunc = table(make_truncated(bits, is_signed, 2));
    for (const auto* base : {&exact, &trunc}) {
      for (int trial = 0; trial < 8; ++trial) {
        auto t = *base;
        t[rng() % t.size()] += trial % 2 ? 1 : -1;
        EXPECT_FALSE(product_terms(t, bits, is_signed).has_value()) << "one entry changed";
      }
    }
    std::vector<int32_t> random(codes * codes);
    for (auto& v : random) v = static_cast<int32_t>(rng() % 512) - 256;
    random[0] = 0;
    EXPECT_FALSE(product_terms(random, bits, is_signed).has_value()) << "random";
    // Twice the product: every cell coefficient is 2x its weight.
    auto doubled = exact;
    for (auto& v : doubled) v *= 2;
    EXPECT_FALSE(product_terms(doubled, bits, is_signed).has_value()) << "coefficient 2";
    // A constant, a linear term, and a term of order 3 (a_0 a_1 b_0) on top of the product.
    auto constant = exact, linear = exact, cubic = exact;
    for (int a = 0; a < codes; ++a) {
      for (int b = 0; b < codes; ++b) {
        constant[a * codes + b] += 1;
        linear[a * codes + b] += a & 1;
        cubic[a * codes + b] += (a & 1) & ((a >> 1) & 1) & (b & 1);
      }
    }
    EXPECT_FALSE(product_terms(constant, bits, is_signed).has_value()) << "constant";
    EXPECT_FALSE(product_terms(linear, bits, is_signed).has_value()) << "linear";
    EXPECT_FALSE(product_terms(cubic, bits, is_signed).has_value()) << "order 3";
    EXPECT_FALSE(product_terms_lower_bound(cubic, bits, is_signed).has_value());
  }
}

INSTANTIATE_TEST_SUITE_P(Widths, ProductTermsWidth, ::testing::Range(2, 9));

TEST(ProductTerms, ApproximateFunctionsAreRejected) {
  for (bool is_signed : {false, true}) {
    for (const Multiplier& m : {make_mitchell(8, is_signed), make_drum(8, is_signed, 4)}) {
      EXPECT_FALSE(product_terms(table(m), 8, is_signed).has_value()) << m.name();
    }
  }
}

// The costs the kernels pay: the rank of the cell matrix is reached.
TEST(ProductTerms, KnownCosts) {
  const auto cost = [](const Multiplier& m) {
    const auto terms = product_terms(table(m), m.bits(), m.is_signed());
    return terms ? static_cast<int>(terms->terms.size()) : -1;
  };
  EXPECT_EQ(cost(make_exact(8, true)), 1);
  EXPECT_EQ(cost(make_truncated(8, true, 4)), 5);
  EXPECT_EQ(cost(make_truncated(8, true, 6)), 7);
  EXPECT_EQ(cost(make_truncated(8, false, 6)), 7);
  EXPECT_EQ(cost(make_bam(8, true, 2, 0)), 1);  // rows w_0, w_1 dropped: one masked weight
  // Every odd column kept: two interleaved patterns.
  std::vector<bool> odd(15);
  for (size_t c = 0; c < odd.size(); ++c) odd[c] = c % 2 == 1;
  EXPECT_EQ(cost(make_columns(8, true, odd)), 2);
  // Column 1 and columns 8..14 kept: 8 distinct rows and columns, but rank 7, which the search
  // over nested-row differences reaches.
  std::vector<bool> split(15);
  for (size_t c = 0; c < split.size(); ++c) split[c] = c == 1 || c >= 8;
  EXPECT_EQ(cost(make_columns(8, true, split)), 7);
}

TEST(ProductTerms, BadArgumentsNameTheField) {
  const std::vector<int32_t> t(16, 0);
  try {
    product_terms(t, 9, true);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("bits = 9"));
  }
  try {
    product_terms(t, 3, true);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("table has 16 entries"));
  }
}

}  // namespace
}  // namespace axnn
