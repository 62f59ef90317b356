// LutConv2d against plain table-lookup convolution loops: odd shapes with groups, stride, padding
// and dilation, chunks that end inside output rows and images, every ISA level this CPU has and
// every schedule of the chosen impl, and structured tables as product terms.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <random>
#include <vector>

#include "core/error.h"
#include "kernels/lut_conv.h"
#include "kernels/lut_gemm.h"
#include "kernels/term_gemm.h"
#include "mult/generators.h"
#include "mult/product_terms.h"

namespace axnn::kernels {
namespace {

struct Shape {
  int64_t batch, channels, height, width, out_channels, kh, kw, groups;
  int64_t sh, sw, ph, pw, dh, dw;
  int pad_code;
};

std::string describe(const Shape& s) {
  return fmt::format(
      "x [{}, {}, {}, {}] w [{}, {}, {}, {}] groups {} stride {}x{} pad {}x{} "
      "dilation {}x{} pad_code {}",
      s.batch, s.channels, s.height, s.width, s.out_channels, s.channels / s.groups, s.kh, s.kw,
      s.groups, s.sh, s.sw, s.ph, s.pw, s.dh, s.dw, s.pad_code);
}

int64_t out_size(int64_t in, int64_t pad, int64_t dilation, int64_t k, int64_t stride) {
  return (in + 2 * pad - dilation * (k - 1) - 1) / stride + 1;
}

// table is [w_code][x_code]; sums wrap modulo 2^32.
std::vector<int32_t> naive_conv(const Shape& s, const std::vector<int32_t>& table, int bits,
                                const std::vector<uint8_t>& src, const std::vector<uint8_t>& w) {
  const int64_t oh = out_size(s.height, s.ph, s.dh, s.kh, s.sh);
  const int64_t ow = out_size(s.width, s.pw, s.dw, s.kw, s.sw);
  const int64_t cg = s.channels / s.groups, og = s.out_channels / s.groups;
  const unsigned mask = (1u << bits) - 1;
  std::vector<int32_t> dst(static_cast<size_t>(s.batch * s.out_channels * oh * ow));
  for (int64_t n = 0; n < s.batch; ++n)
    for (int64_t o = 0; o < s.out_channels; ++o)
      for (int64_t y = 0; y < oh; ++y)
        for (int64_t x = 0; x < ow; ++x) {
          uint32_t sum = 0;
          for (int64_t c = 0; c < cg; ++c)
            for (int64_t i = 0; i < s.kh; ++i)
              for (int64_t j = 0; j < s.kw; ++j) {
                const int64_t iy = y * s.sh - s.ph + i * s.dh, ix = x * s.sw - s.pw + j * s.dw;
                const int64_t ci = o / og * cg + c;
                const unsigned xc =
                    iy < 0 || iy >= s.height || ix < 0 || ix >= s.width
                        ? unsigned(s.pad_code)
                        : src[((n * s.channels + ci) * s.height + iy) * s.width + ix] & mask;
                const unsigned wc = w[((o * cg + c) * s.kh + i) * s.kw + j] & mask;
                sum += static_cast<uint32_t>(table[(wc << bits) | xc]);
              }
          dst[((n * s.out_channels + o) * oh + y) * ow + x] = static_cast<int32_t>(sum);
        }
  return dst;
}

std::vector<uint8_t> random_bytes(int64_t count, std::mt19937& rng) {
  std::uniform_int_distribution<int> byte(0, 255);  // high bits set too: the kernel ignores them
  std::vector<uint8_t> out(static_cast<size_t>(count));
  for (uint8_t& b : out) b = static_cast<uint8_t>(byte(rng));
  return out;
}

std::vector<int32_t> random_table(int bits, int32_t lo, int32_t hi, std::mt19937& rng) {
  std::uniform_int_distribution<int32_t> entry(lo, hi);
  std::vector<int32_t> table(size_t{1} << (2 * bits));
  for (int32_t& e : table) e = entry(rng);
  return table;
}

LutConv2dDesc make_desc(const Shape& s, const std::vector<int32_t>& table, int bits,
                        const std::vector<uint8_t>& w) {
  LutConv2dDesc d;
  d.batch = s.batch, d.channels = s.channels, d.height = s.height, d.width = s.width;
  d.out_channels = s.out_channels, d.kh = s.kh, d.kw = s.kw, d.groups = s.groups;
  d.stride_h = s.sh, d.stride_w = s.sw, d.pad_h = s.ph, d.pad_w = s.pw;
  d.dilation_h = s.dh, d.dilation_w = s.dw;
  d.table = table;
  d.bits = bits;
  d.weights = w.data();
  d.pad_code = s.pad_code;
  return d;
}

std::vector<Isa> isa_levels() {
  std::vector<Isa> levels;
  for (const Isa isa : {Isa::kRef, Isa::kAvx2, Isa::kAvx512})
    if (isa <= detected_isa()) levels.push_back(isa);
  return levels;
}

const Shape kShapes[] = {
    // batch, C, H, W, O, KH, KW, groups, stride, padding, dilation, pad_code
    {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 0},    {2, 3, 9, 7, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, 0},
    {3, 4, 11, 10, 6, 3, 2, 2, 2, 1, 2, 0, 1, 2, 77},  // groups, pad code != 0
    {2, 6, 8, 8, 6, 3, 3, 6, 1, 1, 1, 1, 1, 1, 3},     // depthwise
    {2, 8, 6, 6, 4, 1, 1, 1, 2, 2, 0, 0, 1, 1, 0},     // 1x1, stride 2
    {1, 2, 5, 5, 3, 5, 5, 1, 1, 1, 3, 3, 1, 1, 200},   // padding wider than half the window
    {2, 3, 9, 13, 4, 3, 3, 1, 3, 3, 2, 2, 2, 2, 5},    // stride 3, dilation 2
    {2, 1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 2, 1, 3, 1},     // rows of padding only
    {2, 3, 4, 150, 35, 1, 3, 1, 1, 1, 0, 1, 1, 1, 9},  // rows longer than a 64-column chunk
    {3, 6, 7, 23, 70, 3, 3, 2, 1, 2, 1, 1, 2, 1, 0},   // 35 rows a group: two 32-row blocks
    // Stride 1 with as many output as input columns (whole images copied shifted): more output
    // rows than input rows, dilation, a 5x5 window wider than the image's height.
    {2, 3, 6, 9, 4, 3, 3, 1, 1, 1, 3, 2, 1, 2, 7},
    {2, 2, 3, 7, 3, 5, 5, 1, 1, 1, 2, 2, 1, 1, 11},
};

class LutConv2dShapes : public ::testing::TestWithParam<Shape> {};

TEST_P(LutConv2dShapes, EveryIsaScheduleAndChunkMatchesNaiveLoops) {
  const Shape& s = GetParam();
  std::mt19937 rng(static_cast<unsigned>(s.width * 131 + s.channels));
  const std::vector<uint8_t> src = random_bytes(s.batch * s.channels * s.height * s.width, rng);
  const std::vector<uint8_t> w =
      random_bytes(s.out_channels * (s.channels / s.groups) * s.kh * s.kw, rng);
  const int64_t depth = (s.channels / s.groups) * s.kh * s.kw;
  for (const int bits : {3, 8}) {
    // Entries spanning 2^16 - 1 (the widest the SIMD impls take) or all of int32 (ref only, sums
    // that wrap).
    for (const int32_t lo : {-30000, INT32_MIN}) {
      const int32_t hi = lo == INT32_MIN ? INT32_MAX : lo + 65535;
      const std::vector<int32_t> table = random_table(bits, lo, hi, rng);
      Shape shape = s;
      shape.pad_code = s.pad_code & ((1 << bits) - 1);
      const std::vector<int32_t> want = naive_conv(shape, table, bits, src, w);
      LutConv2dDesc desc = make_desc(shape, table, bits, w);
      for (const Isa isa : isa_levels()) {
        desc.isa = isa;
        desc.schedule.clear();
        const std::string impl(LutConv2d::create(desc).impl_name());
        if (lo == INT32_MIN) {
          EXPECT_EQ(impl, "ref");
        }
        std::vector<std::string> schedules = {""};
        for (const std::string_view name : lut_gemm_schedules(impl)) schedules.emplace_back(name);
        for (const std::string& schedule : schedules) {
          desc.schedule = schedule;
          // One 64-column chunk (ending inside rows and images), a few rows, the default.
          for (const int64_t bytes : {int64_t{1}, depth * 100, int64_t{2} << 20}) {
            desc.im2col_bytes = bytes;
            const LutConv2d conv = LutConv2d::create(desc);
            EXPECT_EQ(conv.out_height() * conv.out_width() * s.batch * s.out_channels,
                      static_cast<int64_t>(want.size()));
            for (const int threads : {1, 3}) {
              std::vector<int32_t> got(want.size(), 0x5a5a5a5a);
              conv.run(src.data(), got.data(), threads);
              EXPECT_EQ(got, want)
                  << describe(shape) << " bits " << bits << " isa " << isa_name(isa) << " impl "
                  << impl << " schedule '" << schedule << "' im2col_bytes " << bytes << " chunk "
                  << conv.chunk_columns() << " threads " << threads;
            }
          }
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(OddShapes, LutConv2dShapes, ::testing::ValuesIn(kShapes));

// Structured multipliers given as product terms (their GEMMs on oneDNN's int8 matmul) against the
// same naive lookups, on every odd shape, with and without padding codes that are not 0.
TEST(LutConv2d, ProductTermsMatchNaiveLoops) {
  if (!term_gemm_available()) GTEST_SKIP() << "oneDNN's int8 is not exact here (no VNNI or AMX)";
  const Multiplier mults[] = {make_exact(8, true),        make_exact(8, false),
                              make_truncated(8, true, 6), make_truncated(5, false, 3),
                              make_bam(8, false, 2, 4),   make_exact(3, true)};
  for (const Multiplier& mult : mults) {
    const int bits = mult.bits();
    // LutConv2d's orientation: the weight code first.
    std::vector<int32_t> table(mult.lut().size());
    const int codes = 1 << bits;
    for (int x = 0; x < codes; ++x)
      for (int w = 0; w < codes; ++w) table[w * codes + x] = mult.lut()[x * codes + w];
    const std::optional<ProductTerms> terms = product_terms(table, bits, mult.is_signed());
    ASSERT_TRUE(terms) << mult.name();
    for (const Shape& s : kShapes) {
      std::mt19937 rng(static_cast<unsigned>(s.height * 7 + s.out_channels));
      const std::vector<uint8_t> src = random_bytes(s.batch * s.channels * s.height * s.width, rng);
      const std::vector<uint8_t> w =
          random_bytes(s.out_channels * (s.channels / s.groups) * s.kh * s.kw, rng);
      Shape shape = s;
      shape.pad_code = s.pad_code & (codes - 1);
      const std::vector<int32_t> want = naive_conv(shape, table, bits, src, w);
      LutConv2dDesc desc = make_desc(shape, table, bits, w);
      desc.terms = terms;
      const LutConv2d conv = LutConv2d::create(desc);
      EXPECT_EQ(conv.schedule(), "terms");
      for (const int threads : {1, 2}) {
        std::vector<int32_t> got(want.size(), 0x5a5a5a5a);
        conv.run(src.data(), got.data(), threads);
        EXPECT_EQ(got, want) << mult.name() << " " << describe(shape) << " threads " << threads;
      }
    }
  }
}

TEST(LutConv2d, ChunkIsBytesOverDepthAtLeast64AndAtMostAllPositions) {
  const Shape s{2, 4, 10, 10, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 0};  // depth 36, 200 positions
  std::mt19937 rng(3);
  const std::vector<int32_t> table = random_table(4, -100, 100, rng);
  const std::vector<uint8_t> w = random_bytes(3 * 4 * 9, rng);
  LutConv2dDesc desc = make_desc(s, table, 4, w);
  desc.im2col_bytes = 36 * 100;
  EXPECT_EQ(LutConv2d::create(desc).chunk_columns(), 100);
  desc.im2col_bytes = 36 * 10;
  EXPECT_EQ(LutConv2d::create(desc).chunk_columns(), 64);
  desc.im2col_bytes = 36 * 1000;
  EXPECT_EQ(LutConv2d::create(desc).chunk_columns(), 200);
}

TEST(LutConv2d, ScheduleNamesAreExactlyTheImplsOwn) {
  std::vector<int32_t> table(256 * 256, 1);
  const std::vector<uint8_t> a(3 * 5, 0);
  for (const Isa isa : isa_levels()) {
    LutGemmDesc desc;
    desc.table = table;
    desc.bits = 8;
    desc.a = a.data();
    desc.m = 3;
    desc.k = 5;
    desc.isa = isa;
    const std::string impl(LutGemm::create(desc).impl_name());
    const auto names = lut_gemm_schedules(impl);
    for (const std::string_view name : names) {
      desc.schedule = name;
      EXPECT_EQ(LutGemm::create(desc).schedule(7), name) << impl;
    }
    // An unknown name is refused with the impl's own list, which must be ours.
    desc.schedule = "no-such-schedule";
    try {
      LutGemm::create(desc);
      ADD_FAILURE() << impl << " accepted an unknown schedule";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(fmt::format("has only {}", fmt::join(names, ", "))),
                std::string::npos)
          << e.what();
    }
  }
  EXPECT_THROW(lut_gemm_schedules("sse2"), Error);
}

TEST(LutConv2d, BadDescriptionsNameTheField) {
  const Shape s{1, 4, 5, 5, 4, 3, 3, 2, 1, 1, 0, 0, 1, 1, 0};
  const std::vector<int32_t> table(16 * 16, 0);
  const std::vector<uint8_t> w(4 * 2 * 9, 0);
  const auto message = [&](auto edit) {
    LutConv2dDesc desc = make_desc(s, table, 4, w);
    edit(desc);
    try {
      LutConv2d::create(desc);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message([](LutConv2dDesc& d) { d.groups = 3; }).find("groups = 3"), std::string::npos);
  EXPECT_NE(message([](LutConv2dDesc& d) { d.stride_w = 0; }).find("stride_w = 0"),
            std::string::npos);
  EXPECT_NE(message([](LutConv2dDesc& d) { d.pad_code = 16; }).find("pad_code = 16"),
            std::string::npos);
  EXPECT_NE(message([](LutConv2dDesc& d) { d.dilation_h = 3; }).find("does not fit"),
            std::string::npos);
  EXPECT_NE(message([](LutConv2dDesc& d) { d.weights = nullptr; }).find("weights is null"),
            std::string::npos);
  EXPECT_NE(message([](LutConv2dDesc& d) { d.table = {}; }).find("table"), std::string::npos);
  EXPECT_NE(message([](LutConv2dDesc& d) { d.schedule = "fastest"; }).find("fastest"),
            std::string::npos);
  EXPECT_EQ(message([](LutConv2dDesc&) {}), "no error");
}

}  // namespace
}  // namespace axnn::kernels
