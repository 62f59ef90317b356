// lut_conv2d_cuda against LutConv2d's ref impl and an independent naive loop, bit for bit: every
// width 2..8, tables that force each storage, and geometries with stride, padding (wider than
// the kernel too), dilation, groups (depthwise included), pad_code, several images, output
// channels beyond one 64-row tile and deep reductions that split K. Skips without a CUDA device.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "cuda/device_buffer.h"
#include "kernels/cuda/lut_cuda.h"
#include "kernels/lut_conv.h"

namespace axnn::kernels::cuda {
namespace {

using test::DeviceBuffer;

constexpr int32_t kSentinel = 0x5a5a5a5a;

struct Geometry {
  const char* name;
  int64_t batch, channels, height, width, out_channels, kh, kw, groups;
  int64_t stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w;
  int pad_code;  // taken modulo 2^bits
};

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

enum class TableKind { kRandom16, kExtremes, kNearMax, kWide };

std::string kind_name(TableKind kind) {
  switch (kind) {
    case TableKind::kRandom16:
      return "random16";
    case TableKind::kExtremes:
      return "extremes";
    case TableKind::kNearMax:
      return "near_max";
    case TableKind::kWide:
      return "wide";
  }
  return "?";
}

std::vector<int32_t> make_table(TableKind kind, int bits, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int32_t> table(size_t{1} << (2 * bits));
  for (int32_t& v : table) {
    switch (kind) {
      case TableKind::kRandom16:
        v = static_cast<int32_t>(rng() % 65536) - 32768;
        break;
      case TableKind::kExtremes:
        v = rng() % 2 ? std::numeric_limits<int32_t>::max() : std::numeric_limits<int32_t>::min();
        break;
      case TableKind::kNearMax:
        v = std::numeric_limits<int32_t>::max() - static_cast<int32_t>(rng() % 65536);
        break;
      case TableKind::kWide:
        v = static_cast<int32_t>(rng());
        break;
    }
  }
  return table;
}

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
  const std::vector<int32_t> table = make_table(kind, bits, 40 + bits);
  const int32_t table_min = *std::min_element(table.begin(), table.end());
  const int32_t table_max = *std::max_element(table.begin(), table.end());
  uint32_t seed = 1;
  for (const Geometry& g : kGeometries) {
    const std::string what = std::string(g.name) + " (" +
                             lut_storage_name(lut_storage(bits, table_min, table_max)) + ")";
    std::mt19937 rng(seed++);
    const int pad_code = g.pad_code % (1 << bits);
    const int64_t cg = g.channels / g.groups;
    std::vector<uint8_t> src(size_t(g.batch * g.channels * g.height * g.width));
    std::vector<uint8_t> w(size_t(g.out_channels * cg * g.kh * g.kw));
    for (uint8_t& c : src) c = static_cast<uint8_t>(rng());  // garbage above `bits` too
    for (uint8_t& c : w) c = static_cast<uint8_t>(rng());

    LutConv2dArgs args;
    args.batch = g.batch;
    args.channels = g.channels;
    args.height = g.height;
    args.width = g.width;
    args.out_channels = g.out_channels;
    args.kh = g.kh;
    args.kw = g.kw;
    args.groups = g.groups;
    args.stride_h = g.stride_h;
    args.stride_w = g.stride_w;
    args.pad_h = g.pad_h;
    args.pad_w = g.pad_w;
    args.dilation_h = g.dilation_h;
    args.dilation_w = g.dilation_w;
    args.bits = bits;
    args.table_min = table_min;
    args.table_max = table_max;
    args.pad_code = pad_code;
    const int64_t oh = lut_conv2d_out_height(args), ow = lut_conv2d_out_width(args);
    const size_t out_size = size_t(g.batch * g.out_channels * oh * ow);

    const DeviceBuffer<int32_t> d_table(table);
    const DeviceBuffer<uint8_t> d_src(src), d_w(w);
    const DeviceBuffer<int32_t> d_dst(std::vector<int32_t>(out_size, kSentinel));
    args.table = d_table.get();
    args.src = d_src.get();
    args.weights = d_w.get();
    args.dst = d_dst.get();
    lut_conv2d_cuda(args);
    const std::vector<int32_t> got = d_dst.to_host();

    // The CPU reference: LutConv2d forced to its ref impl (the codes masked as the kernels do).
    std::vector<uint8_t> src_masked(src), w_masked(w);
    for (uint8_t& c : src_masked) c &= (1u << bits) - 1;
    for (uint8_t& c : w_masked) c &= (1u << bits) - 1;
    LutConv2dDesc desc;
    desc.batch = g.batch;
    desc.channels = g.channels;
    desc.height = g.height;
    desc.width = g.width;
    desc.out_channels = g.out_channels;
    desc.kh = g.kh;
    desc.kw = g.kw;
    desc.groups = g.groups;
    desc.stride_h = g.stride_h;
    desc.stride_w = g.stride_w;
    desc.pad_h = g.pad_h;
    desc.pad_w = g.pad_w;
    desc.dilation_h = g.dilation_h;
    desc.dilation_w = g.dilation_w;
    desc.table = table;
    desc.bits = bits;
    desc.weights = w_masked.data();
    desc.pad_code = pad_code;
    desc.isa = Isa::kRef;
    const LutConv2d conv = LutConv2d::create(desc);
    ASSERT_EQ(conv.out_height(), oh);
    ASSERT_EQ(conv.out_width(), ow);
    std::vector<int32_t> want(out_size, kSentinel);
    conv.run(src_masked.data(), want.data(), 1);
    ASSERT_EQ(want, naive_conv(g, table, bits, pad_code, src, w, oh, ow)) << what;

    int64_t mismatches = 0;
    for (size_t i = 0; i < out_size; ++i)
      if (got[i] != want[i] && mismatches++ < 3)
        ADD_FAILURE() << what << ": dst[" << i << "] = " << got[i] << ", expected " << want[i];
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
             kind_name(std::get<1>(info.param));
    });

}  // namespace
}  // namespace axnn::kernels::cuda
