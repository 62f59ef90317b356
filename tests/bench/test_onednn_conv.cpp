#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "bench/baselines.h"
#include "core/error.h"

namespace axnn::bench {
namespace {

struct Shape {
  int64_t n, h, w, co, ci, kh, kw, stride, pad;
};

// Plain NCHW x OIHW convolution with zero padding.
std::vector<float> conv_naive(const Shape& s, const std::vector<float>& src,
                              const std::vector<float>& wei) {
  const int64_t oh = (s.h + 2 * s.pad - s.kh) / s.stride + 1;
  const int64_t ow = (s.w + 2 * s.pad - s.kw) / s.stride + 1;
  std::vector<float> dst(s.n * s.co * oh * ow, 0.0f);
  for (int64_t b = 0; b < s.n; ++b)
    for (int64_t o = 0; o < s.co; ++o)
      for (int64_t y = 0; y < oh; ++y)
        for (int64_t x = 0; x < ow; ++x) {
          float acc = 0;
          for (int64_t c = 0; c < s.ci; ++c)
            for (int64_t ky = 0; ky < s.kh; ++ky)
              for (int64_t kx = 0; kx < s.kw; ++kx) {
                const int64_t iy = y * s.stride - s.pad + ky;
                const int64_t ix = x * s.stride - s.pad + kx;
                if (iy < 0 || iy >= s.h || ix < 0 || ix >= s.w) continue;
                acc += src[((b * s.ci + c) * s.h + iy) * s.w + ix] *
                       wei[((o * s.ci + c) * s.kh + ky) * s.kw + kx];
              }
          dst[((b * s.co + o) * oh + y) * ow + x] = acc;
        }
  return dst;
}

class OnednnConv2dShapes : public testing::TestWithParam<Shape> {};

// The inputs are integers in [-4, 4] and every partial sum stays far below 2^24, so fp32 is exact
// in any summation order and the outputs must be equal, not merely close.
TEST_P(OnednnConv2dShapes, MatchesNaiveLoopsExactly) {
  const Shape s = GetParam();
  OnednnConv2d conv(s.n, s.h, s.w, s.co, s.ci, s.kh, s.kw, s.stride, s.pad, 42);
  EXPECT_FALSE(conv.impl_info().empty());
  conv.run();
  const std::vector<float> src = conv.src_nchw();
  const std::vector<float> wei = conv.weights_oihw();
  ASSERT_EQ(src.size(), static_cast<size_t>(s.n * s.ci * s.h * s.w));
  ASSERT_EQ(wei.size(), static_cast<size_t>(s.co * s.ci * s.kh * s.kw));
  int nonzero = 0;
  for (float v : wei) {
    ASSERT_EQ(v, static_cast<float>(static_cast<int>(v)));
    ASSERT_LE(std::abs(v), 4.0f);
    nonzero += v != 0;
  }
  EXPECT_GT(nonzero, 0);
  const std::vector<float> expected = conv_naive(s, src, wei);
  const std::vector<float> got = conv.dst_nchw();
  ASSERT_EQ(got.size(), expected.size());
  for (size_t i = 0; i < got.size(); ++i) ASSERT_EQ(got[i], expected[i]) << "at " << i;
}

INSTANTIATE_TEST_SUITE_P(
    Small, OnednnConv2dShapes,
    testing::Values(Shape{1, 7, 9, 5, 3, 3, 3, 1, 1},     // odd sizes, pad 1
                    Shape{2, 11, 10, 17, 7, 3, 3, 2, 1},  // stride 2, pad 1
                    Shape{1, 9, 13, 6, 5, 3, 3, 2, 0},    // stride 2, pad 0
                    Shape{3, 5, 5, 19, 13, 1, 1, 1, 0},   // 1x1
                    Shape{1, 8, 7, 33, 24, 1, 1, 2, 0},   // strided 1x1, channel tails
                    Shape{1, 6, 6, 16, 16, 5, 3, 1, 2},   // non-square kernel, pad 2
                    Shape{1, 14, 14, 64, 32, 3, 3, 1, 1}));

TEST(OnednnConv2d, SameSeedSameData) {
  OnednnConv2d a(1, 5, 5, 4, 3, 3, 3, 1, 1, 7);
  OnednnConv2d b(1, 5, 5, 4, 3, 3, 3, 1, 1, 7);
  OnednnConv2d c(1, 5, 5, 4, 3, 3, 3, 1, 1, 8);
  EXPECT_EQ(a.src_nchw(), b.src_nchw());
  EXPECT_EQ(a.weights_oihw(), b.weights_oihw());
  EXPECT_NE(a.src_nchw(), c.src_nchw());
}

TEST(OnednnConv2d, InvalidShapeIsAnError) {
  EXPECT_THROW(OnednnConv2d(1, 2, 2, 4, 3, 5, 5, 1, 1, 0), Error);  // kernel larger than input
  EXPECT_THROW(OnednnConv2d(1, 8, 8, 4, 3, 3, 3, 0, 1, 0), Error);  // stride 0
  EXPECT_THROW(OnednnConv2d(0, 8, 8, 4, 3, 3, 3, 1, 1, 0), Error);
}

}  // namespace
}  // namespace axnn::bench
