#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <functional>
#include <random>
#include <vector>

#include "core/error.h"
#include "mult/generators.h"
#include "mult/metrics.h"

namespace axnn {
namespace {

using ::testing::HasSubstr;

std::vector<int32_t> table(const Multiplier& m) { return {m.lut().begin(), m.lut().end()}; }

// Expects fn to throw axnn::Error whose message contains every piece.
template <typename Fn>
void expect_error(Fn&& fn, std::initializer_list<const char*> pieces) {
  try {
    fn();
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    for (const char* piece : pieces) EXPECT_THAT(e.what(), HasSubstr(piece));
  }
}

// The partial-product array summed over the kept cells, written directly from the definition
// (generators.h) on operand codes: cell (i, j) = a_j & w_i in column i + j with weight 2^(i+j),
// negated in a signed array where exactly one of i, j is the sign bit b-1.
using Keep = std::function<bool(int row, int col)>;
int64_t array_sum(int x, int w, int bits, bool is_signed, const Keep& keep) {
  int64_t sum = 0;
  for (int i = 0; i < bits; ++i) {
    for (int j = 0; j < bits; ++j) {
      if (!keep(i, i + j) || !((x >> j) & 1) || !((w >> i) & 1)) continue;
      const int64_t term = int64_t{1} << (i + j);
      sum += is_signed && ((i == bits - 1) != (j == bits - 1)) ? -term : term;
    }
  }
  return sum;
}

int64_t unsigned_array(int x, int w, int bits, const Keep& keep) {
  return array_sum(x, w, bits, false, keep);
}

// Every entry of m against the model with the cells `keep` says.
void expect_array(const Multiplier& m, const Keep& keep) {
  for (int x = 0; x < m.codes(); ++x) {
    for (int w = 0; w < m.codes(); ++w) {
      ASSERT_EQ(m.at(x, w), array_sum(x, w, m.bits(), m.is_signed(), keep))
          << m.name() << " x=" << x << " w=" << w;
    }
  }
}

class GeneratorWidth : public ::testing::TestWithParam<int> {};

TEST_P(GeneratorWidth, ExactIsTheProductOfValues) {
  const int bits = GetParam();
  for (bool is_signed : {false, true}) {
    const Multiplier m = make_exact(bits, is_signed);
    EXPECT_EQ(m.name(), fmt::format("exact{}{}", bits, is_signed ? 's' : 'u'));
    EXPECT_EQ(m.meta().relative_power, 1.0);
    for (int x = 0; x < m.codes(); ++x) {
      for (int w = 0; w < m.codes(); ++w) ASSERT_EQ(m.at(x, w), m.value(x) * m.value(w));
    }
  }
}

TEST_P(GeneratorWidth, FullArraysAreExact) {
  const int bits = GetParam();
  for (bool is_signed : {false, true}) {
    const auto exact = table(make_exact(bits, is_signed));
    const int columns = partial_product_columns(bits);
    EXPECT_EQ(columns, 2 * bits - 1);
    EXPECT_EQ(table(make_truncated(bits, is_signed, 0)), exact);
    EXPECT_EQ(table(make_bam(bits, is_signed, 0, 0)), exact);
    EXPECT_EQ(table(make_columns(bits, is_signed, std::vector<bool>(columns, true))), exact);
    EXPECT_EQ(table(make_drum(bits, is_signed, bits)), exact);
    const Multiplier trunc = make_truncated(bits, is_signed, 1);
    EXPECT_NE(table(trunc), exact);
    EXPECT_FALSE(trunc.meta().relative_power.has_value());
  }
}

TEST_P(GeneratorWidth, TruncationAndBamMatchTheArrayModel) {
  const int bits = GetParam();
  for (bool is_signed : {false, true}) {
    for (int k = 0; k <= 2 * bits - 1; ++k) {
      expect_array(make_truncated(bits, is_signed, k), [k](int, int c) { return c >= k; });
    }
    for (int hbl = 0; hbl <= bits; ++hbl) {
      for (int vbl = 0; vbl <= 2 * bits - 1; ++vbl) {
        expect_array(make_bam(bits, is_signed, hbl, vbl),
                     [&](int r, int c) { return r >= hbl && c >= vbl; });
      }
    }
  }
}

TEST_P(GeneratorWidth, RandomColumnDiscardMatchesTheArrayModel) {
  const int bits = GetParam();
  std::mt19937 rng(1234 + bits);
  for (bool is_signed : {false, true}) {
    for (int trial = 0; trial < 12; ++trial) {
      std::vector<bool> keep(2 * bits - 1);
      for (size_t c = 0; c < keep.size(); ++c) keep[c] = rng() & 1;
      expect_array(make_columns(bits, is_signed, keep), [&](int, int c) { return keep[c]; });
    }
  }
}

// In the Baugh-Wooley array the columns below n-1 hold only plain cells a_j & w_i of the two's
// complement codes, so signed truncation by k <= n-1 removes exactly what unsigned truncation
// removes from the codes, with no wrap-around.
TEST_P(GeneratorWidth, SignedTruncationOfLowColumnsRemovesPlainCells) {
  const int bits = GetParam();
  for (int k = 0; k <= bits - 1; ++k) {
    const Multiplier m = make_truncated(bits, true, k);
    for (int x = 0; x < m.codes(); ++x) {
      for (int w = 0; w < m.codes(); ++w) {
        const int64_t removed = unsigned_array(x, w, bits, [k](int, int c) { return c < k; });
        ASSERT_EQ(m.at(x, w), m.value(x) * m.value(w) - removed) << "k=" << k;
      }
    }
  }
}

// Column 2b-2 of the signed array holds only a_{b-1} & w_{b-1}, weight +2^(2b-2): dropping it
// changes exactly the products of two negative operands.
TEST_P(GeneratorWidth, SignedTopColumnIsTheSignBitsProduct) {
  const int bits = GetParam();
  std::vector<bool> keep(2 * bits - 1, true);
  keep.back() = false;
  const Multiplier m = make_columns(bits, true, keep);
  for (int x = 0; x < m.codes(); ++x) {
    for (int w = 0; w < m.codes(); ++w) {
      const int64_t exact = m.value(x) * m.value(w);
      const bool both_negative = m.value(x) < 0 && m.value(w) < 0;
      ASSERT_EQ(m.at(x, w), both_negative ? exact - (int64_t{1} << (2 * bits - 2)) : exact);
    }
  }
}

// No structure makes 0 * w or x * 0 non-zero: every array cell needs a set bit of both operands,
// and DRUM and Mitchell of a zero magnitude are 0. Signed code 0 is the value 0.
TEST_P(GeneratorWidth, ZeroOperandGivesZeroForEveryStructure) {
  const int bits = GetParam();
  std::mt19937 rng(77 + bits);
  for (bool is_signed : {false, true}) {
    std::vector<Multiplier> mults = {make_exact(bits, is_signed), make_mitchell(bits, is_signed)};
    for (int k = 0; k <= 2 * bits - 1; ++k) mults.push_back(make_truncated(bits, is_signed, k));
    for (int hbl = 0; hbl <= bits; ++hbl) {
      for (int vbl = 0; vbl <= 2 * bits - 1; ++vbl) {
        mults.push_back(make_bam(bits, is_signed, hbl, vbl));
      }
    }
    for (int trial = 0; trial < 16; ++trial) {
      std::vector<bool> keep(2 * bits - 1);
      for (size_t c = 0; c < keep.size(); ++c) keep[c] = rng() & 1;
      mults.push_back(make_columns(bits, is_signed, keep));
    }
    for (int k = 1; k <= bits; ++k) mults.push_back(make_drum(bits, is_signed, k));
    for (const Multiplier& m : mults) {
      ASSERT_EQ(m.value(0), 0);
      for (int c = 0; c < m.codes(); ++c) {
        ASSERT_EQ(m.at(c, 0), 0) << m.name() << " x code " << c;
        ASSERT_EQ(m.at(0, c), 0) << m.name() << " w code " << c;
      }
    }
  }
}

TEST_P(GeneratorWidth, TruncationIsColumnsWithTheLowestDiscarded) {
  const int bits = GetParam();
  for (bool is_signed : {false, true}) {
    const int columns = partial_product_columns(bits);
    for (int k = 0; k <= columns; ++k) {
      std::vector<bool> keep(columns);
      for (int c = 0; c < columns; ++c) keep[c] = c >= k;
      EXPECT_EQ(table(make_truncated(bits, is_signed, k)),
                table(make_columns(bits, is_signed, keep)))
          << "k=" << k << " signed=" << is_signed;
    }
  }
}

TEST_P(GeneratorWidth, MitchellNeverOverestimatesAndIsExactOnPowersOfTwo) {
  const int bits = GetParam();
  for (bool is_signed : {false, true}) {
    const Multiplier m = make_mitchell(bits, is_signed);
    for (int x = 0; x < m.codes(); ++x) {
      for (int w = 0; w < m.codes(); ++w) {
        const int64_t exact = m.value(x) * m.value(w);
        ASSERT_LE(std::abs(m.at(x, w)), std::abs(exact));
        ASSERT_EQ(m.at(x, w) == 0, exact == 0);
        ASSERT_GE(int64_t{m.at(x, w)} * exact, 0) << "sign of " << x << "*" << w;
        if (std::has_single_bit(static_cast<unsigned>(std::abs(m.value(x))))) {
          ASSERT_EQ(m.at(x, w), exact);
        }
      }
    }
  }
}

TEST_P(GeneratorWidth, SignedStructuresAreSignMagnitudeOfTheUnsignedOnes) {
  const int bits = GetParam();
  // Magnitudes of a b-bit signed operand fit an unsigned b-bit operand. DRUM-2 turns |-2^(b-1)|
  // into 1.5 * 2^(b-1), whose square saturates at the top of the 2b-bit signed range.
  const int64_t hi = (int64_t{1} << (2 * bits - 1)) - 1;
  for (int k = 1; k <= bits; ++k) {
    const Multiplier s = make_drum(bits, true, k), u = make_drum(bits, false, k);
    const Multiplier ms = make_mitchell(bits, true), mu = make_mitchell(bits, false);
    for (int x = 0; x < s.codes(); ++x) {
      for (int w = 0; w < s.codes(); ++w) {
        const int vx = s.value(x), vw = s.value(w);
        const int sign = (vx < 0) != (vw < 0) ? -1 : 1;
        ASSERT_EQ(s.at(x, w), std::min<int64_t>(sign * u.at(std::abs(vx), std::abs(vw)), hi));
        ASSERT_EQ(ms.at(x, w), sign * mu.at(std::abs(vx), std::abs(vw)));
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllWidths, GeneratorWidth, ::testing::Range(2, 9));

TEST(Generators, TwoBitTablesByHand) {
  // Codes 0..3; signed values 0, 1, -2, -1. Dropping column 0 removes a_0 & w_0.
  EXPECT_EQ(table(make_truncated(2, false, 1)),
            (std::vector<int32_t>{0, 0, 0, 0, 0, 0, 2, 2, 0, 2, 4, 6, 0, 2, 6, 8}));
  EXPECT_EQ(table(make_truncated(2, true, 1)),
            (std::vector<int32_t>{0, 0, 0, 0, 0, 0, -2, -2, 0, -2, 4, 2, 0, -2, 2, 0}));
  // Signed 2-bit cells: a0w0 +1, a1w0 -2, a0w1 -2, a1w1 +4. Columns 0 and 1 dropped: only a1w1.
  EXPECT_EQ(table(make_truncated(2, true, 2)),
            (std::vector<int32_t>{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 4, 0, 0, 4, 4}));
  EXPECT_EQ(table(make_truncated(2, true, 3)), std::vector<int32_t>(16, 0));
  // Row w_0 broken off: w1 * (-2 a0 + 4 a1).
  EXPECT_EQ(table(make_bam(2, true, 1, 0)),
            (std::vector<int32_t>{0, 0, 0, 0, 0, 0, -2, -2, 0, 0, 4, 4, 0, 0, 2, 2}));
  // Row w_0 broken off: x * (w with bit 0 cleared).
  EXPECT_EQ(table(make_bam(2, false, 1, 0)),
            (std::vector<int32_t>{0, 0, 0, 0, 0, 0, 2, 2, 0, 0, 4, 4, 0, 0, 6, 6}));
  // Mitchell: 3*3 -> 2^(1+1) * (1 + 0.5 + 0.5) = 8, 2*3 and 3*2 exact.
  EXPECT_EQ(table(make_mitchell(2, false)),
            (std::vector<int32_t>{0, 0, 0, 0, 0, 1, 2, 3, 0, 2, 4, 6, 0, 3, 6, 8}));
  // DRUM-1 keeps the leading one only, then sets it: 3 -> 2.
  EXPECT_EQ(table(make_drum(2, false, 1)),
            (std::vector<int32_t>{0, 0, 0, 0, 0, 1, 2, 2, 0, 2, 4, 4, 0, 2, 4, 4}));
}

// The review's cases: removing inverted Baugh-Wooley cells while keeping their constant 1s gave
// trunc8s_k8(0, 0) = -256 and bam8s_h1_v0(0, 0) = -128.
TEST(Generators, SignedStructuresByHand) {
  const Multiplier t8 = make_truncated(8, true, 8);
  EXPECT_EQ(t8.at(0, 0), 0);
  // -1 * -1, every bit set, columns 8..14 kept: a7 w7 = +16384; the sign cells a7 w_i and a_j w7
  // for i, j = 1..6, -(2^8 + ... + 2^13) = -16128 each row; the plain cells with i + j >= 8,
  // 5*2^8 + 4*2^9 + 3*2^10 + 2*2^11 + 2^12 = 14592. Sum: -1280.
  EXPECT_EQ(t8.at(255, 255), -1280);
  EXPECT_EQ(make_bam(8, true, 1, 0).at(0, 0), 0);
  // bam8s_h1_v0 drops row w_0: x * (w with bit 0 cleared), exactly, for every x.
  const Multiplier b8 = make_bam(8, true, 1, 0);
  for (int x = 0; x < 256; ++x) {
    for (int w = 0; w < 256; ++w) ASSERT_EQ(b8.at(x, w), b8.value(x) * b8.value(w & ~1));
  }
  // trunc8s_k4 keeps its table: columns 0..3 hold no sign cell.
  const Multiplier t4 = make_truncated(8, true, 4);
  for (int x = 0; x < 256; ++x) {
    for (int w = 0; w < 256; ++w) {
      ASSERT_EQ(t4.at(x, w), t4.value(x) * t4.value(w) -
                                 unsigned_array(x, w, 8, [](int, int c) { return c < 4; }));
    }
  }
}

TEST(Generators, DrumOperandsByHand) {
  // DRUM-2 on 4 bits: operands 0..3 stay, 4..7 -> 0b11 << 1 = 6, 8..15 -> 0b11 << 2 = 12.
  const int approx[16] = {0, 1, 2, 3, 6, 6, 6, 6, 12, 12, 12, 12, 12, 12, 12, 12};
  const Multiplier m = make_drum(4, false, 2);
  for (int x = 0; x < 16; ++x) {
    for (int w = 0; w < 16; ++w) ASSERT_EQ(m.at(x, w), approx[x] * approx[w]);
  }
  // DRUM-3 on 8 bits: 0b10110101 (181) -> 0b101 << 5 | set lowest kept bit = 0b101 << 5 = 160.
  const Multiplier d8 = make_drum(8, false, 3);
  EXPECT_EQ(d8.at(181, 1), 160);
  EXPECT_EQ(d8.at(0b11000000, 1), 0b11100000);
  const Multiplier d8s = make_drum(8, true, 3);
  EXPECT_EQ(d8s.at(d8s.code(-128), d8s.code(-1)), 160);    // |-128| -> 0b101 << 5
  EXPECT_EQ(make_drum(8, true, 2).at(0x80, 0x80), 32767);  // 192 * 192 saturates
}

TEST(Generators, MitchellWorstRelativeErrorIsOneNinth) {
  for (bool is_signed : {false, true}) {
    const ErrorMetrics m = compute_metrics(make_mitchell(8, is_signed));
    EXPECT_NEAR(m.wcre_pct, 100.0 / 9, 1e-9);
    // Magnitudes only shrink: a negative bias unsigned, cancelling over the signs signed.
    if (is_signed) {
      EXPECT_EQ(m.bias, 0);
    } else {
      EXPECT_LT(m.bias, 0);
    }
  }
}

TEST(Generators, NamesAndSources) {
  EXPECT_EQ(make_truncated(8, true, 4).name(), "trunc8s_k4");
  EXPECT_EQ(make_bam(8, false, 2, 4).name(), "bam8u_h2_v4");
  EXPECT_EQ(make_drum(8, false, 4).name(), "drum8u_k4");
  EXPECT_EQ(make_mitchell(4, true).name(), "mitchell4s");
  EXPECT_EQ(make_columns(2, false, {false, true, true}).name(), "cols2u_011");
  EXPECT_EQ(make_columns(2, true, {false, true, true}).name(), "cols2s_011");
  EXPECT_THAT(make_bam(8, false, 2, 4).meta().source, HasSubstr("hbl=2, vbl=4"));
  EXPECT_THAT(make_truncated(8, true, 4).meta().description, HasSubstr("Baugh-Wooley"));
}

TEST(Generators, RejectBadParametersNamingThem) {
  expect_error([] { make_exact(9, true); }, {"bits = 9"});
  expect_error([] { make_truncated(8, false, 16); }, {"k = 16", "0..15"});
  expect_error([] { make_truncated(8, true, 16); }, {"k = 16", "0..15"});
  expect_error([] { make_truncated(8, true, -1); }, {"k = -1"});
  expect_error([] { make_bam(4, false, 5, 0); }, {"hbl = 5"});
  expect_error([] { make_bam(4, true, 0, 8); }, {"vbl = 8", "0..7"});
  expect_error([] { make_columns(4, true, std::vector<bool>(8, true)); }, {"8 given", "7"});
  expect_error([] { make_drum(8, false, 0); }, {"k = 0", "1..8"});
  expect_error([] { make_drum(4, true, 5); }, {"k = 5"});
  expect_error([] { make_columns(4, false, std::vector<bool>(8, true)); }, {"8 given", "7"});
  expect_error([] { make_mitchell(1, false); }, {"bits = 1"});
}

TEST(FromFunction, PassesOperandValuesActivationFirst) {
  const Multiplier m = from_function("diff", 4, true, [](int x, int w) { return x - 2 * w; });
  for (int x = 0; x < 16; ++x) {
    for (int w = 0; w < 16; ++w) ASSERT_EQ(m.at(x, w), m.value(x) - 2 * m.value(w));
  }
  EXPECT_EQ(m.name(), "diff");
}

TEST(FromFunction, OverflowPolicies) {
  const auto triple = [](int x, int w) { return int64_t{3} * x * w; };
  const Multiplier sat_s = from_function("t", 4, true, triple);  // range -128..127
  const Multiplier wrap_s = from_function("t", 4, true, triple, {}, ProductOverflow::kWrap);
  const Multiplier sat_u = from_function("t", 4, false, triple);  // range 0..255
  const Multiplier wrap_u = from_function("t", 4, false, triple, {}, ProductOverflow::kWrap);
  for (int x = 0; x < 16; ++x) {
    for (int w = 0; w < 16; ++w) {
      const int64_t ps = triple(sat_s.value(x), sat_s.value(w));
      EXPECT_EQ(sat_s.at(x, w), std::clamp<int64_t>(ps, -128, 127));
      EXPECT_EQ(wrap_s.at(x, w), static_cast<int8_t>(ps & 0xff));
      const int64_t pu = triple(x, w);
      EXPECT_EQ(sat_u.at(x, w), std::min<int64_t>(pu, 255));
      EXPECT_EQ(wrap_u.at(x, w), pu & 0xff);
    }
  }
  EXPECT_EQ(sat_s.at(sat_s.code(-8), sat_s.code(-8)), 127);
  EXPECT_EQ(wrap_s.at(wrap_s.code(-8), wrap_s.code(-8)), (192 & 0xff) - 256);
  expect_error(
      [&] {
        from_function(
            "neg", 4, false, [](int x, int w) { return x - w; }, {}, ProductOverflow::kThrow);
      },
      {"neg", "f(0, 1) = -1", "0..255"});
  // In range, kThrow keeps the values.
  EXPECT_EQ(table(from_function(
                "e", 3, true, [](int x, int w) { return x * w; }, {}, ProductOverflow::kThrow)),
            table(make_exact(3, true)));
}

}  // namespace
}  // namespace axnn
