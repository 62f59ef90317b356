// maddness_encode_cuda / maddness_decode_cuda against maddness_encode_ref / maddness_decode_ref,
// bit for bit: every depth 1..4, rows with NaN, infinities and values equal to the thresholds,
// strided rows and codes, int8 tables (extremes included) with average_levels 0..4, fp32 tables
// (sums whose order matters), shapes off the 64 x 32 tile and the 16-codebook chunk. Skips
// without a CUDA device.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "cuda/cases.h"
#include "cuda/device_buffer.h"
#include "kernels/cuda/lut_cuda.h"
#include "kernels/maddness.h"

namespace axnn::kernels::cuda {
namespace {

using test::DeviceBuffer;
using test::kSentinel;
using test::random_codes;  // the high nibble is ignored

constexpr float kNan = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

class MaddnessCuda : public ::testing::Test {
 protected:
  void SetUp() override { AXNN_SKIP_WITHOUT_CUDA_DEVICE(); }
};

using EncodeParam = std::tuple<int, int64_t, int64_t, int64_t>;  // depth, n, d, c

class MaddnessEncodeCuda : public ::testing::TestWithParam<EncodeParam> {
 protected:
  void SetUp() override { AXNN_SKIP_WITHOUT_CUDA_DEVICE(); }
};

TEST_P(MaddnessEncodeCuda, MatchesRef) {
  const auto [depth, n, d, c] = GetParam();
  std::mt19937 rng(depth * 1000 + n);
  std::uniform_real_distribution<float> value(-2.0f, 2.0f);
  const int64_t nodes = (int64_t{1} << depth) - 1;
  std::vector<int32_t> split_dims(size_t(c * depth));
  std::vector<float> thresholds(size_t(c * nodes));
  for (int32_t& s : split_dims) s = static_cast<int32_t>(rng() % d);
  for (float& t : thresholds) t = std::round(value(rng) * 4) / 4;  // often equal to x values
  const int64_t ldx = d + 3, ldcodes = c + 2;
  std::vector<float> x(size_t(n * ldx));
  for (float& v : x) {
    const uint32_t r = rng() % 20;
    v = r == 0 ? kNan : r == 1 ? kInf : r == 2 ? -kInf : std::round(value(rng) * 4) / 4;
  }

  MaddnessEncoderDesc desc;
  desc.d = d;
  desc.c = c;
  desc.depth = depth;
  desc.split_dims = split_dims;
  desc.thresholds = thresholds;
  std::vector<uint8_t> want(size_t(n * ldcodes), 0xA5);
  maddness_encode_ref(desc, x.data(), n, ldx, want.data(), ldcodes);

  const DeviceBuffer<float> d_x(x), d_thresholds(thresholds);
  const DeviceBuffer<int32_t> d_splits(split_dims);
  const DeviceBuffer<uint8_t> d_codes(std::vector<uint8_t>(size_t(n * ldcodes), 0xA5));
  MaddnessEncodeArgs args;
  args.x = d_x.get();
  args.n = n;
  args.d = d;
  args.c = c;
  args.ldx = ldx;
  args.ldcodes = ldcodes;
  args.depth = depth;
  args.split_dims = d_splits.get();
  args.thresholds = d_thresholds.get();
  args.codes = d_codes.get();
  maddness_encode_cuda(args);
  EXPECT_EQ(d_codes.to_host(), want);
}

INSTANTIATE_TEST_SUITE_P(Shapes, MaddnessEncodeCuda,
                         ::testing::Combine(::testing::Range(1, 5),
                                            ::testing::Values<int64_t>(1, 77, 1000),
                                            ::testing::Values<int64_t>(1, 9, 64),
                                            ::testing::Values<int64_t>(1, 16, 33)));

struct DecodeCase {
  int64_t n, c, m;
};

const DecodeCase kDecodeCases[] = {{1, 16, 1},    {77, 16, 33}, {64, 32, 32},
                                   {300, 48, 70}, {5, 64, 129}, {129, 16, 7}};

// The decoders' outputs, bit for bit (NaN and -0 included).
template <class T>
void expect_bits_equal(const std::vector<T>& got, const std::vector<T>& want,
                       const std::string& what) {
  const int64_t mismatches = test::count_mismatches(
      got, want, [&](size_t i) { return what + ": [" + std::to_string(i) + "]"; });
  EXPECT_EQ(mismatches, 0) << what;
}

using DecodeParam = std::tuple<int, bool>;  // average_levels, extreme table entries

class MaddnessDecodeInt8Cuda : public ::testing::TestWithParam<DecodeParam> {
 protected:
  void SetUp() override { AXNN_SKIP_WITHOUT_CUDA_DEVICE(); }
};

TEST_P(MaddnessDecodeInt8Cuda, MatchesRef) {
  const auto [levels, extremes] = GetParam();
  for (const DecodeCase& t : kDecodeCases) {
    if (t.c % (int64_t{1} << levels) != 0) continue;
    const std::string what = "n=" + std::to_string(t.n) + " c=" + std::to_string(t.c) +
                             " m=" + std::to_string(t.m) + " levels=" + std::to_string(levels);
    std::mt19937 rng(static_cast<uint32_t>(t.n * 7 + t.c + levels));
    std::vector<int8_t> lut(size_t(t.c * 16 * t.m));
    for (int8_t& v : lut)
      v = extremes ? (rng() % 2 ? int8_t{127} : int8_t{-128}) : static_cast<int8_t>(rng());
    const int64_t ldcodes = t.c + 5, ldd = t.n + 4;
    const std::vector<uint8_t> codes = random_codes(size_t(t.n * ldcodes), rng);

    MaddnessDecoderDesc desc;
    desc.c = t.c;
    desc.m = t.m;
    desc.lut_int8 = lut;
    desc.average_levels = levels;
    std::vector<int32_t> want(size_t(t.m * ldd), kSentinel);
    maddness_decode_ref(desc, codes.data(), t.n, ldcodes, want.data(), ldd);

    const DeviceBuffer<uint8_t> d_codes(codes);
    const DeviceBuffer<int8_t> d_lut(lut);
    const DeviceBuffer<int32_t> d_dst(std::vector<int32_t>(size_t(t.m * ldd), kSentinel));
    MaddnessDecodeArgs args;
    args.codes = d_codes.get();
    args.n = t.n;
    args.c = t.c;
    args.m = t.m;
    args.ldcodes = ldcodes;
    args.ldd = ldd;
    args.lut_int8 = d_lut.get();
    args.average_levels = levels;
    args.dst_int32 = d_dst.get();
    maddness_decode_cuda(args);
    expect_bits_equal(d_dst.to_host(), want, what);
  }
}

INSTANTIATE_TEST_SUITE_P(Levels, MaddnessDecodeInt8Cuda,
                         ::testing::Combine(::testing::Range(0, 5), ::testing::Bool()));

TEST_F(MaddnessCuda, DecodeFp32MatchesRefBitForBit) {
  for (const DecodeCase& t : kDecodeCases) {
    const std::string what =
        "n=" + std::to_string(t.n) + " c=" + std::to_string(t.c) + " m=" + std::to_string(t.m);
    std::mt19937 rng(static_cast<uint32_t>(t.n * 13 + t.c));
    // Magnitudes spread over many binades, so that another summation order gives other bits.
    std::uniform_real_distribution<float> mantissa(-1.0f, 1.0f);
    std::vector<float> lut(size_t(t.c * 16 * t.m));
    for (float& v : lut) v = std::ldexp(mantissa(rng), static_cast<int>(rng() % 40) - 20);
    const std::vector<uint8_t> codes = random_codes(size_t(t.n * t.c), rng);

    MaddnessDecoderDesc desc;
    desc.c = t.c;
    desc.m = t.m;
    desc.lut_fp32 = lut;
    std::vector<float> want(size_t(t.m * t.n));
    maddness_decode_ref(desc, codes.data(), t.n, 0, want.data(), 0);

    const DeviceBuffer<uint8_t> d_codes(codes);
    const DeviceBuffer<float> d_lut(lut);
    const DeviceBuffer<float> d_dst(size_t(t.m * t.n), 0xff);
    MaddnessDecodeArgs args;
    args.codes = d_codes.get();
    args.n = t.n;
    args.c = t.c;
    args.m = t.m;
    args.lut_fp32 = d_lut.get();
    args.dst_fp32 = d_dst.get();
    maddness_decode_cuda(args);
    expect_bits_equal(d_dst.to_host(), want, what);
  }
}

// Encode then decode on the device, as a layer runs them.
TEST_F(MaddnessCuda, EncodeThenDecodeMatchesRef) {
  const int64_t n = 200, d = 48, c = 16, m = 40;
  std::mt19937 rng(3);
  std::normal_distribution<float> normal;
  std::vector<float> x(size_t(n * d));
  for (float& v : x) v = normal(rng);
  std::vector<int32_t> split_dims(size_t(c * 4));
  std::vector<float> thresholds(size_t(c * 15));
  for (int32_t& s : split_dims) s = static_cast<int32_t>(rng() % d);
  for (float& t : thresholds) t = normal(rng) * 0.5f;
  std::vector<int8_t> lut(size_t(c * 16 * m));
  for (int8_t& v : lut) v = static_cast<int8_t>(rng());

  MaddnessEncoderDesc enc;
  enc.d = d;
  enc.c = c;
  enc.depth = 4;
  enc.split_dims = split_dims;
  enc.thresholds = thresholds;
  std::vector<uint8_t> codes(size_t(n * c));
  maddness_encode_ref(enc, x.data(), n, 0, codes.data(), 0);
  MaddnessDecoderDesc dec;
  dec.c = c;
  dec.m = m;
  dec.lut_int8 = lut;
  dec.average_levels = 2;
  std::vector<int32_t> want(size_t(m * n));
  maddness_decode_ref(dec, codes.data(), n, 0, want.data(), 0);

  const DeviceBuffer<float> d_x(x), d_thresholds(thresholds);
  const DeviceBuffer<int32_t> d_splits(split_dims);
  const DeviceBuffer<int8_t> d_lut(lut);
  const DeviceBuffer<uint8_t> d_codes(size_t(n * c), 0);
  const DeviceBuffer<int32_t> d_dst(size_t(m * n), 0);
  MaddnessEncodeArgs e;
  e.x = d_x.get();
  e.n = n;
  e.d = d;
  e.c = c;
  e.depth = 4;
  e.split_dims = d_splits.get();
  e.thresholds = d_thresholds.get();
  e.codes = d_codes.get();
  maddness_encode_cuda(e);
  MaddnessDecodeArgs a;
  a.codes = d_codes.get();
  a.n = n;
  a.c = c;
  a.m = m;
  a.lut_int8 = d_lut.get();
  a.average_levels = 2;
  a.dst_int32 = d_dst.get();
  maddness_decode_cuda(a);
  EXPECT_EQ(d_codes.to_host(), codes);
  EXPECT_EQ(d_dst.to_host(), want);
}

}  // namespace
}  // namespace axnn::kernels::cuda
