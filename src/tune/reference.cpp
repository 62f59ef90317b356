#include "tune/reference.h"

#include <fmt/format.h>

#include <cmath>
#include <random>

#include "core/error.h"

namespace axnn::tune {

ConvOperands conv2d_operands(const Conv2dShape& s, uint64_t seed) {
  const double terms = double(s.ci * s.kh * s.kw);
  const int range = static_cast<int>(std::min(3.0, std::floor(std::sqrt((1 << 24) / terms))));
  AXNN_CHECK(range >= 1, "conv2d {}: CI*KH*KW = {} is too long a sum to check exactly in fp32",
             s.str(), terms);
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> value(-range, range);
  ConvOperands operands;
  operands.src.resize(s.n * s.ci * s.h * s.w);
  operands.weights.resize(s.co * s.ci * s.kh * s.kw);
  for (float& x : operands.src) x = static_cast<float>(value(rng));
  for (float& x : operands.weights) x = static_cast<float>(value(rng));
  return operands;
}

std::vector<float> conv2d_ref(const Conv2dShape& s, const ConvOperands& operands) {
  const int64_t oh = s.oh(), ow = s.ow();
  std::vector<float> dst(s.n * s.co * oh * ow);
  for (int64_t n = 0; n < s.n; ++n)
    for (int64_t co = 0; co < s.co; ++co)
      for (int64_t y = 0; y < oh; ++y)
        for (int64_t x = 0; x < ow; ++x) {
          int64_t sum = 0;  // the operands are integers
          for (int64_t ci = 0; ci < s.ci; ++ci)
            for (int64_t ky = 0; ky < s.kh; ++ky)
              for (int64_t kx = 0; kx < s.kw; ++kx) {
                const int64_t iy = y * s.stride + ky - s.pad, ix = x * s.stride + kx - s.pad;
                if (iy < 0 || iy >= s.h || ix < 0 || ix >= s.w) continue;
                sum += static_cast<int64_t>(operands.src[((n * s.ci + ci) * s.h + iy) * s.w + ix]) *
                       static_cast<int64_t>(
                           operands.weights[((co * s.ci + ci) * s.kh + ky) * s.kw + kx]);
              }
          dst[((n * s.co + co) * oh + y) * ow + x] = static_cast<float>(sum);
        }
  return dst;
}

std::string compare_conv2d(const Conv2dShape& s, const std::vector<float>& expected,
                           const float* actual) {
  const int64_t oh = s.oh(), ow = s.ow();
  for (size_t i = 0; i < expected.size(); ++i) {
    if (expected[i] == actual[i]) continue;
    const int64_t x = i % ow, y = i / ow % oh, co = i / (ow * oh) % s.co, n = i / (ow * oh * s.co);
    return fmt::format("output [{}, {}, {}, {}]: expected {}, got {}", n, co, y, x, expected[i],
                       actual[i]);
  }
  return "";
}

}  // namespace axnn::tune
