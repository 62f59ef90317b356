// lut_conv2d_cuda against LutConv2d's ref impl and an independent naive loop, bit for bit: every
// width 2..8, tables that force each storage, and geometries with stride, padding (wider than
// the kernel too), dilation, groups (depthwise included), pad_code, several images, output
// channels beyond one 64-row tile and deep reductions that split K. Skips without a CUDA device.
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "cuda/cases.h"
#include "cuda/device_buffer.h"
#include "kernels/cuda/lut_cuda.h"
#include "kernels/lut_conv.h"

namespace axnn::kernels::cuda {
namespace {

using test::ConvOperands;
using test::DeviceBuffer;
using test::Geometry;
using test::kSentinel;
using test::TableKind;

const Geometry kGeometries[] = {
    {"same3x3", 2, 3, 9, 11, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, 0},
    {"strided_dilated_groups", 3, 4, 8, 7, 6, 3, 2, 2, 2, 1, 0, 2, 1, 2, 77},
    {"depthwise1x1", 1, 6, 5, 5, 6, 1, 1, 6, 1, 1, 0, 0, 1, 1, 3},
    {"wide_out", 2, 8, 13, 10, 70, 3, 3, 1, 2, 2, 2, 2, 2, 2, 255},
    {"deep_splitk", 1, 64, 7, 7, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},
    {"deep_groups", 1, 256, 7, 7, 96, 3, 3, 2, 1, 1, 1, 1, 1, 1, 5},
    {"conv1_like", 5, 3, 31, 29, 8, 7, 7, 1, 2, 2, 3, 3, 1, 1, 9},
    {"single", 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 0},
    {"pad_beyond_kernel", 2, 2, 3, 3, 2, 2, 2, 1, 3, 3, 3, 3, 1, 1, 200},
};

// The naive definition: dst[n][o][y][x] = sum table[w][x code], pad_code outside the input.
std::vector<int32_t> naive_conv(const Geometry& g, std::vector<int32_t> const& table, int bits,
                                int pad_code, const std::vector<uint8_t>& src,
                                const std::vector<uint8_t>& w, int64_t oh, int64_t ow) {
  const unsigned mask = (1u << bits) - 1;
  const int64_t cg = g.channels / g.groups, og = g.out_channels / g.groups;
  std::vector<int32_t> dst(size_t(g.batch * g.out_channels * oh * ow));
  for (int64_t n = 0; n < g.batch; ++n)
    for (int64_t o = 0; o < g.out_channels; ++o)
      for (int64_t y = 0; y < oh; ++y)
        for (int64_t x = 0; x < ow; ++x) {
          uint32_t sum = 0;
          const int64_t group = o / og;
          for (int64_t c = 0; c < cg; ++c)
            for (int64_t i = 0; i < g.kh; ++i)
              for (int64_t j = 0; j < g.kw; ++j) {
                const int64_t iy = y * g.stride_h - g.pad_h + i * g.dilation_h;
                const int64_t ix = x * g.stride_w - g.pad_w + j * g.dilation_w;
                const unsigned xc =
                    iy < 0 || iy >= g.height || ix < 0 || ix >= g.width
                        ? unsigned(pad_code)
                        : src[((n * g.channels + group * cg + c) * g.height + iy) * g.width + ix] &
                              mask;
                const unsigned wc = w[((o * cg + c) * g.kh + i) * g.kw + j] & mask;
                sum += static_cast<uint32_t>(table[(wc << bits) | xc]);
              }
          dst[((n * g.out_channels + o) * oh + y) * ow + x] = static_cast<int32_t>(sum);
        }
  return dst;
}

using ConvParam = std::tuple<int, TableKind>;

class LutConvCuda : public ::testing::TestWithParam<ConvParam> {
 protected:
  void SetUp() override { AXNN_SKIP_WITHOUT_CUDA_DEVICE(); }
};

TEST_P(LutConvCuda, GeometriesMatchRef) {
  const auto [bits, kind] = GetParam();
  const test::Table table = test::make_table(kind, bits, 40 + bits);
  uint32_t seed = 1;
  for (const Geometry& g : kGeometries) {
    const std::string what = std::string(g.name) + " (" +
                             lut_storage_name(lut_storage(bits, table.min, table.max)) + ")";
    std::mt19937 rng(seed++);
    const int pad_code = g.pad_code % (1 << bits);
    const ConvOperands o(g, rng);

    LutConv2dArgs args;
    test::copy_conv_geometry(g, args);
    args.bits = bits;
    args.table_min = table.min;
    args.table_max = table.max;
    args.pad_code = pad_code;
    const int64_t oh = lut_conv2d_out_height(args), ow = lut_conv2d_out_width(args);
    const size_t out_size = size_t(g.batch * g.out_channels * oh * ow);

    const DeviceBuffer<int32_t> d_table(table.entries);
    const DeviceBuffer<uint8_t> d_src(o.src), d_w(o.weights);
    const DeviceBuffer<int32_t> d_dst(std::vector<int32_t>(out_size, kSentinel));
    args.table = d_table.get();
    args.src = d_src.get();
    args.weights = d_w.get();
    args.dst = d_dst.get();
    lut_conv2d_cuda(args);
    const std::vector<int32_t> got = d_dst.to_host();

    const test::ConvRef ref = test::conv_ref(g, table.entries, bits, pad_code, o);
    ASSERT_EQ(ref.out_h, oh);
    ASSERT_EQ(ref.out_w, ow);
    ASSERT_EQ(ref.dst, naive_conv(g, table.entries, bits, pad_code, o.src, o.weights, oh, ow))
        << what;

    const int64_t mismatches = test::count_mismatches(
        got, ref.dst, [&](size_t i) { return what + ": dst[" + std::to_string(i) + "]"; });
    EXPECT_EQ(mismatches, 0) << what;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Tables, LutConvCuda,
    ::testing::Combine(::testing::Range(2, 9),
                       ::testing::Values(TableKind::kRandom16, TableKind::kExtremes,
                                         TableKind::kNearMax, TableKind::kWide)),
    [](const ::testing::TestParamInfo<ConvParam>& info) {
      return "bits" + std::to_string(std::get<0>(info.param)) + "_" +
             test::kind_name(std::get<1>(info.param));
    });

}  // namespace
}  // namespace axnn::kernels::cuda
