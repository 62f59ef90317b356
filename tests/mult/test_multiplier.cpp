#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/error.h"
#include "mult/multiplier.h"

namespace axnn {
namespace {

using ::testing::HasSubstr;

std::vector<int32_t> iota_table(int bits) {
  std::vector<int32_t> lut(size_t{1} << (2 * bits));
  for (size_t i = 0; i < lut.size(); ++i) lut[i] = static_cast<int32_t>(i);
  return lut;
}

TEST(Multiplier, RejectsWidthOutsideRangeNamingIt) {
  for (int bits : {1, 9}) {
    try {
      Multiplier("m_bad", bits, true, std::vector<int32_t>(16));
      FAIL() << "width " << bits << " accepted";
    } catch (const Error& e) {
      EXPECT_THAT(e.what(), HasSubstr("m_bad"));
      EXPECT_THAT(e.what(), HasSubstr(std::to_string(bits)));
    }
  }
}

TEST(Multiplier, RejectsWrongTableSize) {
  try {
    Multiplier("m_short", 4, false, std::vector<int32_t>(255));
    FAIL() << "short table accepted";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("255"));
    EXPECT_THAT(e.what(), HasSubstr("256"));
  }
}

TEST(Multiplier, IndexesRowMajorActivationFirst) {
  const Multiplier m("iota3", 3, false, iota_table(3));
  EXPECT_EQ(m.codes(), 8);
  for (int x = 0; x < 8; ++x) {
    for (int w = 0; w < 8; ++w) EXPECT_EQ(m.at(x, w), x * 8 + w);
  }
}

class MultiplierWidth : public ::testing::TestWithParam<int> {};

TEST_P(MultiplierWidth, CodesAndValuesRoundTrip) {
  const int bits = GetParam();
  for (bool is_signed : {false, true}) {
    const Multiplier m("m", bits, is_signed, iota_table(bits));
    EXPECT_EQ(m.min_value(), is_signed ? -(1 << (bits - 1)) : 0);
    EXPECT_EQ(m.max_value(), is_signed ? (1 << (bits - 1)) - 1 : (1 << bits) - 1);
    for (int v = m.min_value(); v <= m.max_value(); ++v) EXPECT_EQ(m.value(m.code(v)), v);
    for (int c = 0; c < m.codes(); ++c) EXPECT_EQ(m.code(m.value(c)), c);
    EXPECT_EQ(m.value(m.codes() - 1), is_signed ? -1 : m.codes() - 1);
  }
}

INSTANTIATE_TEST_SUITE_P(AllWidths, MultiplierWidth, ::testing::Range(2, 9));

}  // namespace
}  // namespace axnn
