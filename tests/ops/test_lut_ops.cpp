// The axnn torch ops on codes against naive loops written here, through the C++ API and through
// the dispatcher by name (as Python reaches them).
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <string>
#include <cstring>
#include <tuple>
#include <vector>

#include "common/error_of.h"
#include "mult/generators.h"
#include "ops/lut_ops.h"

namespace axnn::ops {
namespace {

// A random int32 table of width bits, entries in int16 range.
at::Tensor random_lut(int bits, uint64_t seed) {
  at::manual_seed(seed);
  const int64_t side = int64_t{1} << bits;
  return at::randint(-32768, 32768, {side, side}, at::kInt);
}

// Random codes with garbage above the low `bits` bits, as int8 or uint8.
at::Tensor random_codes(at::IntArrayRef sizes, at::ScalarType type) {
  return at::randint(0, 256, sizes, at::kInt)
      .to(at::kByte)
      .to(type, /*non_blocking=*/false,
          /*copy=*/false);
}

int64_t code(const at::Tensor& t, int64_t i, int bits) {
  return static_cast<uint8_t>(static_cast<const uint8_t*>(t.data_ptr())[i]) & ((1 << bits) - 1);
}

// Naive lut_matmul on contiguous tensors.
std::vector<int32_t> naive_matmul(const at::Tensor& a, const at::Tensor& b, const at::Tensor& lut,
                                  int bits) {
  const int64_t k = b.size(0), n = b.size(1), rows = a.numel() / k;
  const int32_t* t = lut.data_ptr<int32_t>();
  const int64_t side = lut.size(0);
  std::vector<int32_t> c(rows * n);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < n; ++j) {
      int64_t sum = 0;
      for (int64_t p = 0; p < k; ++p)
        sum += t[code(a, r * k + p, bits) * side + code(b, p * n + j, bits)];
      c[r * n + j] = static_cast<int32_t>(static_cast<uint32_t>(sum));
    }
  return c;
}

std::vector<int32_t> values(const at::Tensor& t) {
  const at::Tensor c = t.contiguous();
  return std::vector<int32_t>(c.data_ptr<int32_t>(), c.data_ptr<int32_t>() + c.numel());
}

class LutMatmul : public ::testing::TestWithParam<std::tuple<int, at::ScalarType>> {};

TEST_P(LutMatmul, MatchesNaiveLoops) {
  const auto [bits, type] = GetParam();
  const at::Tensor lut = random_lut(bits, 3);
  for (auto [lead, m, k, n] :
       std::vector<std::tuple<std::vector<int64_t>, int64_t, int64_t, int64_t>>{
           {{}, 1, 1, 1}, {{}, 33, 301, 70}, {{2, 3}, 17, 40, 9}, {{4}, 197, 64, 197}}) {
    std::vector<int64_t> a_sizes = lead;
    a_sizes.push_back(m);
    a_sizes.push_back(k);
    const at::Tensor a = random_codes(a_sizes, type), b = random_codes({k, n}, type);
    const at::Tensor c = lut_matmul(a, b, lut);
    std::vector<int64_t> want_sizes = lead;
    want_sizes.push_back(m);
    want_sizes.push_back(n);
    ASSERT_EQ(c.sizes(), at::IntArrayRef(want_sizes));
    ASSERT_EQ(c.scalar_type(), at::kInt);
    EXPECT_EQ(values(c), naive_matmul(a, b, lut, bits)) << "shape " << a.sizes();
  }
}

INSTANTIATE_TEST_SUITE_P(Widths, LutMatmul,
                         ::testing::Combine(::testing::Values(2, 4, 7, 8),
                                            ::testing::Values(at::kByte, at::kChar)));

TEST_P(LutMatmul, BatchedBMatchesNaiveLoopsPerSlice) {
  const auto [bits, type] = GetParam();
  const at::Tensor lut = random_lut(bits, 4);
  const int saved_threads = at::get_num_threads();
  // 1 slice, fewer slices than threads, many small slices (attention heads).
  for (auto [lead, m, k, n] :
       std::vector<std::tuple<std::vector<int64_t>, int64_t, int64_t, int64_t>>{
           {{1}, 33, 70, 40}, {{3}, 17, 40, 9}, {{5, 6}, 50, 32, 50}}) {
    std::vector<int64_t> a_sizes = lead, b_sizes = lead;
    a_sizes.insert(a_sizes.end(), {m, k});
    b_sizes.insert(b_sizes.end(), {k, n});
    const at::Tensor a = random_codes(a_sizes, type), b = random_codes(b_sizes, type);
    for (int threads : {1, 2, 4}) {
      at::set_num_threads(threads);
      const at::Tensor c = lut_matmul(a, b, lut);
      ASSERT_EQ(c.sizes().slice(0, lead.size()), at::IntArrayRef(lead));
      const at::Tensor a3 = a.reshape({-1, m, k}), b3 = b.reshape({-1, k, n}),
                       c3 = c.reshape({-1, m, n});
      for (int64_t i = 0; i < a3.size(0); ++i)
        EXPECT_EQ(values(c3[i]), naive_matmul(a3[i].contiguous(), b3[i].contiguous(), lut, bits))
            << "slice " << i << " of " << a.sizes() << ", " << threads << " threads";
    }
  }
  at::set_num_threads(saved_threads);
}

TEST(LutMatmul, NonContiguousInputsAndTheDispatcherAgree) {
  const at::Tensor lut = random_lut(8, 5);
  const at::Tensor a = random_codes({40, 30}, at::kByte).t();  // [30, 40], non-contiguous
  const at::Tensor b = random_codes({40, 50}, at::kByte);
  const auto op = c10::Dispatcher::singleton()
                      .findSchemaOrThrow("axnn::lut_matmul", "")
                      .typed<at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&)>();
  EXPECT_EQ(values(op.call(a, b, lut)), naive_matmul(a.contiguous(), b, lut, 8));
}

// Naive grouped conv with padded positions reading pad_code.
std::vector<int32_t> naive_conv(const at::Tensor& x, const at::Tensor& w, const at::Tensor& lut,
                                int bits, std::array<int64_t, 2> st, std::array<int64_t, 2> pd,
                                std::array<int64_t, 2> dl, int64_t groups, int64_t pad_code) {
  const int64_t nb = x.size(0), c = x.size(1), h = x.size(2), wd = x.size(3);
  const int64_t o = w.size(0), cg = w.size(1), kh = w.size(2), kw = w.size(3);
  const int64_t oh = (h + 2 * pd[0] - dl[0] * (kh - 1) - 1) / st[0] + 1;
  const int64_t ow = (wd + 2 * pd[1] - dl[1] * (kw - 1) - 1) / st[1] + 1;
  const int32_t* t = lut.data_ptr<int32_t>();
  const int64_t side = lut.size(0), og = o / groups;
  std::vector<int32_t> out(nb * o * oh * ow);
  for (int64_t n = 0; n < nb; ++n)
    for (int64_t oc = 0; oc < o; ++oc)
      for (int64_t y = 0; y < oh; ++y)
        for (int64_t xo = 0; xo < ow; ++xo) {
          int64_t sum = 0;
          for (int64_t ci = 0; ci < cg; ++ci)
            for (int64_t i = 0; i < kh; ++i)
              for (int64_t j = 0; j < kw; ++j) {
                const int64_t ih = y * st[0] - pd[0] + i * dl[0];
                const int64_t iw = xo * st[1] - pd[1] + j * dl[1];
                const int64_t cin = oc / og * cg + ci;
                const int64_t xc = ih < 0 || ih >= h || iw < 0 || iw >= wd
                                       ? pad_code
                                       : code(x, ((n * c + cin) * h + ih) * wd + iw, bits);
                const int64_t wc = code(w, ((oc * cg + ci) * kh + i) * kw + j, bits);
                sum += t[xc * side + wc];
              }
          out[((n * o + oc) * oh + y) * ow + xo] = static_cast<int32_t>(static_cast<uint32_t>(sum));
        }
  return out;
}

struct ConvCase {
  std::vector<int64_t> x, w;
  std::array<int64_t, 2> stride, padding, dilation;
  int64_t groups, pad_code;
};

TEST(LutConv2d, MatchesNaiveLoops) {
  const std::vector<ConvCase> cases = {
      {{1, 1, 1, 1}, {1, 1, 1, 1}, {1, 1}, {0, 0}, {1, 1}, 1, 0},
      {{2, 3, 9, 7}, {5, 3, 3, 3}, {1, 1}, {1, 1}, {1, 1}, 1, 0},
      {{3, 4, 11, 10}, {6, 2, 3, 2}, {2, 1}, {2, 0}, {1, 2}, 2, 77},  // groups, pad code != 0
      {{2, 6, 8, 8}, {6, 1, 3, 3}, {1, 1}, {1, 1}, {1, 1}, 6, 3},     // depthwise
      {{2, 8, 6, 6}, {4, 8, 1, 1}, {2, 2}, {0, 0}, {1, 1}, 1, 0},     // 1x1, stride 2
      {{1, 2, 5, 5}, {3, 2, 5, 5}, {1, 1}, {3, 3}, {1, 1}, 1, 200},   // padding wider than half
      {{2, 3, 9, 13}, {4, 3, 3, 3}, {3, 3}, {2, 2}, {2, 2}, 1, 5},    // stride 3, dilation 2
      {{3, 2, 7, 7}, {2, 2, 3, 3}, {2, 2}, {1, 1}, {1, 1}, 1, 9},     // ResNet downsampling
      {{2, 1, 1, 2}, {2, 1, 3, 3}, {1, 2}, {2, 2}, {1, 3}, 1, 1},     // rows of padding only
  };
  for (const int bits : {3, 8}) {
    const at::Tensor lut = random_lut(bits, 7 + bits);
    for (const ConvCase& k : cases) {
      const int64_t pad = k.pad_code & ((1 << bits) - 1);
      const at::Tensor x = random_codes(k.x, at::kChar), w = random_codes(k.w, at::kChar);
      const at::Tensor out = lut_conv2d(x, w, lut, k.stride, k.padding, k.dilation, k.groups, pad);
      EXPECT_EQ(values(out),
                naive_conv(x, w, lut, bits, k.stride, k.padding, k.dilation, k.groups, pad))
          << "x " << x.sizes() << " w " << w.sizes() << " bits " << bits;
    }
  }
}

TEST(LutConv2d, LargeBatchIsChunkedAcrossImages) {
  // 576 x 4096 column bytes exceed one im2col chunk, and chunks end inside images.
  const at::Tensor lut = random_lut(8, 13);
  const at::Tensor x = random_codes({4, 64, 32, 32}, at::kByte);
  const at::Tensor w = random_codes({16, 64, 3, 3}, at::kByte);
  const at::Tensor out = lut_conv2d(x, w, lut, {1, 1}, {1, 1}, {1, 1}, 1, 0);
  EXPECT_EQ(values(out), naive_conv(x, w, lut, 8, {1, 1}, {1, 1}, {1, 1}, 1, 0));
}

// The CPU impl keeps what it packs (per lut tensor, and per table, geometry and weight codes):
// whatever changes, a kept entry must never be served for it.
TEST(LutConv2d, KeptPackingsFollowChangedWeightsAndTables) {
  at::Tensor lut = random_lut(8, 21);
  const at::Tensor x = random_codes({2, 3, 6, 6}, at::kByte);
  at::Tensor w = random_codes({4, 3, 3, 3}, at::kByte);
  const auto check = [&](const char* what) {
    EXPECT_EQ(values(lut_conv2d(x, w, lut, {1, 1}, {1, 1}, {1, 1}, 1, 0)),
              naive_conv(x, w, lut, 8, {1, 1}, {1, 1}, {1, 1}, 1, 0))
        << what;
  };
  check("first call");
  check("same operands again");
  w.view(-1)[5].add_(1);  // one weight code, in place
  check("one weight code changed in place");
  w = random_codes({4, 3, 3, 3}, at::kByte);
  check("new weight tensor");
  lut.view(-1)[static_cast<int64_t>(code(x, 0, 8) * 256 + code(w, 0, 8))].add_(1000);
  check("one table entry changed in place");
  lut = lut.clone();
  lut.view(-1)[7].add_(3);
  check("a new table tensor");
  EXPECT_EQ(values(lut_conv2d(x.narrow(0, 0, 1), w, lut, {1, 1}, {1, 1}, {1, 1}, 1, 0)),
            naive_conv(x.narrow(0, 0, 1).contiguous(), w, lut, 8, {1, 1}, {1, 1}, {1, 1}, 1, 0))
      << "another batch";
}

TEST(LutConv2d, DequantizedIsTheSumOverItsDivisorInFp32) {
  const at::Tensor lut = random_lut(8, 22);
  const at::Tensor x = random_codes({3, 4, 7, 5}, at::kChar);
  const at::Tensor w = random_codes({6, 2, 3, 2}, at::kChar);
  // Zero and negative divisors give 0, as a zero scale does.
  const at::Tensor divisors = at::tensor({3.5f, 0.0f, 1e-3f, -2.0f, 7.25f, 1.0f});
  const at::Tensor got =
      lut_conv2d_dequantized(x, w, lut, divisors, {2, 1}, {1, 2}, {1, 2}, 2, 5);
  const std::vector<int32_t> sums = naive_conv(x, w, lut, 8, {2, 1}, {1, 2}, {1, 2}, 2, 5);
  ASSERT_EQ(got.scalar_type(), at::kFloat);
  ASSERT_EQ(got.numel(), static_cast<int64_t>(sums.size()));
  const int64_t per_channel = got.numel() / (3 * 6);
  const float* y = got.data_ptr<float>();
  for (int64_t i = 0; i < got.numel(); ++i) {
    const float d = divisors[i / per_channel % 6].item<float>();
    const float want = d > 0 ? static_cast<float>(sums[static_cast<size_t>(i)]) / d : 0.0f;
    ASSERT_EQ(std::memcmp(&y[i], &want, sizeof(float)), 0) << "element " << i;
  }
  EXPECT_THROW(lut_conv2d_dequantized(x, w, lut, divisors.narrow(0, 0, 5), {2, 1}, {1, 2},
                                      {1, 2}, 2, 5),
               c10::Error);
}

TEST(LutConv2d, MatchesIntegerConvolutionForTheExactTable) {
  // With lut[x][w] = value(x) * value(w) the op is an integer conv2d: compare with at::conv2d
  // on the operand values (exact in double for these magnitudes).
  const int bits = 8;
  std::vector<int32_t> exact(256 * 256);
  for (int a = 0; a < 256; ++a)
    for (int b = 0; b < 256; ++b) exact[a * 256 + b] = int8_t(a) * int8_t(b);
  const at::Tensor lut = at::tensor(exact, at::kInt).view({256, 256});
  const at::Tensor x = random_codes({2, 4, 10, 10}, at::kChar);
  const at::Tensor w = random_codes({8, 2, 3, 3}, at::kChar);
  const at::Tensor got = lut_conv2d(x, w, lut, {1, 2}, {1, 1}, {2, 1}, 2, 0);
  const at::Tensor want =
      at::conv2d(x.to(at::kDouble), w.to(at::kDouble), {}, {1, 2}, {1, 1}, {2, 1}, 2);
  EXPECT_TRUE(at::equal(got, want.to(at::kInt)));
  (void)bits;
}

// Tables that are sums of product terms (exact, truncated, broken-array) may run on oneDNN's int8
// matmul instead of lookups: the ops must not tell the difference.
TEST(LutOps, StructuredTablesMatchNaiveLoops) {
  for (const Multiplier& mult : {make_exact(8, true), make_exact(8, false),
                                 make_truncated(8, true, 6), make_truncated(8, true, 2),
                                 make_bam(8, false, 1, 3)}) {
    const at::Tensor lut = at::tensor(std::vector<int32_t>(mult.lut().begin(), mult.lut().end()),
                                      at::kInt)
                               .view({256, 256});
    const at::Tensor a = random_codes({3, 7, 70}, at::kByte), b = random_codes({70, 33}, at::kByte);
    EXPECT_EQ(values(lut_matmul(a, b, lut)), naive_matmul(a, b, lut, 8)) << mult.name();
    const at::Tensor x = random_codes({2, 4, 9, 9}, at::kByte);
    const at::Tensor w = random_codes({6, 4, 3, 3}, at::kByte);
    EXPECT_EQ(values(lut_conv2d(x, w, lut, {1, 1}, {1, 1}, {1, 1}, 1, 0)),
              naive_conv(x, w, lut, 8, {1, 1}, {1, 1}, {1, 1}, 1, 0))
        << mult.name();
  }
}

using axnn::test_util::error_of;

TEST(LutOps, BadArgumentsNameWhatIsWrong) {
  const at::Tensor lut = random_lut(4, 17);
  const at::Tensor a = random_codes({3, 5}, at::kByte), b = random_codes({5, 2}, at::kByte);
  using ::testing::HasSubstr;
  EXPECT_THAT(error_of([&] { lut_matmul(a, b, lut.to(at::kLong)); }),
              HasSubstr("lut must be int32"));
  EXPECT_THAT(error_of([&] { lut_matmul(a, b, random_lut(4, 1).narrow(0, 0, 15)); }),
              HasSubstr("square"));
  EXPECT_THAT(error_of([&] { lut_matmul(a, b.t(), lut); }), HasSubstr("disagree on K"));
  EXPECT_THAT(error_of([&] { lut_matmul(a.to(at::kFloat), b, lut); }), HasSubstr("a must hold"));
  EXPECT_THAT(error_of([&] { lut_matmul(a, b.view({10}), lut); }), HasSubstr("b must be [K, N]"));
  EXPECT_THAT(error_of([&] { lut_matmul(a.unsqueeze(0), b.unsqueeze(0).expand({2, -1, -1}), lut); }),
              HasSubstr("a's leading dimensions"));
  const at::Tensor x = random_codes({1, 4, 5, 5}, at::kByte);
  const at::Tensor w = random_codes({2, 4, 3, 3}, at::kByte);
  EXPECT_THAT(error_of([&] {
                lut_conv2d(x, w, lut, {1, 1}, {0, 0}, {1, 1}, 1, 16);
              }),
              HasSubstr("pad_code 16 is not a 4-bit code"));
  EXPECT_THAT(error_of([&] {
                lut_conv2d(x, w, lut, {1, 1}, {0, 0}, {1, 1}, 3, 0);
              }),
              HasSubstr("groups = 3"));
  EXPECT_THAT(error_of([&] {
                lut_conv2d(x, w, lut, {0, 1}, {0, 0}, {1, 1}, 1, 0);
              }),
              HasSubstr("stride"));
  EXPECT_THAT(error_of([&] {
                lut_conv2d(x, w, lut, {1, 1}, {0, 0}, {3, 3}, 1, 0);
              }),
              HasSubstr("does not fit"));
  EXPECT_THAT(error_of([&] {
                lut_conv2d(x.view({4, 5, 5}), w, lut, {1, 1}, {0, 0}, {1, 1}, 1, 0);
              }),
              HasSubstr("x must be [N, C, H, W]"));
}

}  // namespace
}  // namespace axnn::ops
