// MADDness kernels: hand-computed cases for the _ref functions, then every impl this CPU can run
// against them bit for bit on random and extreme trees and tables, odd shapes and strides, both
// table types, every allowed averaging depth and 1 and 2 threads; and the errors create() and
// run() must throw.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/mman.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "core/cpu.h"
#include "core/error.h"
#include "kernels/cpu/maddness_impl.h"
#include "kernels/maddness.h"

namespace axnn::kernels {
namespace {

using ::testing::HasSubstr;

constexpr uint8_t kCodeSentinel = 0xA5;
constexpr int32_t kSentinel = 0x5a5a5a5a;
constexpr float kNan = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

const Isa kIsas[] = {Isa::kRef, Isa::kAvx2, Isa::kAvx512};
std::string isa_param_name(Isa isa) { return std::string(isa_name(isa)); }

// First differing element of two equally laid out buffers, compared bit for bit.
template <class T>
std::string first_mismatch(const std::vector<T>& got, const std::vector<T>& want, int64_t ld) {
  for (size_t i = 0; i < got.size(); ++i)
    if (std::memcmp(&got[i], &want[i], sizeof(T)) != 0)
      return "[" + std::to_string(i / ld) + "][" + std::to_string(i % ld) +
             "] = " + std::to_string(got[i]) + ", expected " + std::to_string(want[i]);
  return "";
}

// ---- Hand-computed cases: the ref itself.

TEST(MaddnessRef, EncodeHandComputed) {
  // Codebook 0 splits on column 0 then 1, codebook 1 on column 1 twice; heap-order thresholds.
  const std::vector<int32_t> split_dims = {0, 1, 1, 1};
  const std::vector<float> thresholds = {0.5f, -1.0f, 2.0f, 0.0f, 10.0f, -10.0f};
  MaddnessEncoderDesc desc;
  desc.d = 2;
  desc.c = 2;
  desc.depth = 2;
  desc.split_dims = split_dims;
  desc.thresholds = thresholds;
  // Row 0: 0.5 is not > 0.5 (left), 3 > -1 (right): leaf 1; 3 > 0, 3 > -10: leaf 3.
  // Row 1: NaN compares false (left), -1 is not > -1: leaf 0; -1 > 0 no, -1 > 10 no: leaf 0.
  // Row 2: 0.75 > 0.5, 2 is not > 2: leaf 2; codebook 1: leaf 3. Row 3: inf, 5 > 2: leaf 3.
  const std::vector<float> x = {0.5f, 3.0f, kNan, -1.0f, 0.75f, 2.0f, kInf, 5.0f};
  std::vector<uint8_t> codes(8, kCodeSentinel);
  maddness_encode_ref(desc, x.data(), 4, 0, codes.data(), 0);
  EXPECT_EQ(codes, (std::vector<uint8_t>{1, 3, 0, 0, 2, 3, 3, 3}));
}

struct HandDecode {
  std::vector<int8_t> lut;  // [2][16][2]
  std::vector<uint8_t> codes = {3, 5, 15, 0};
  HandDecode() : lut(2 * 16 * 2) {
    for (int k = 0; k < 16; ++k) {
      lut[(0 * 16 + k) * 2 + 0] = static_cast<int8_t>(k);
      lut[(0 * 16 + k) * 2 + 1] = static_cast<int8_t>(-k);
      lut[(1 * 16 + k) * 2 + 0] = static_cast<int8_t>(10 * k - 100);
      lut[(1 * 16 + k) * 2 + 1] = static_cast<int8_t>(k % 2 ? 127 : -128);
    }
  }
  MaddnessDecoderDesc desc(int average_levels) const {
    MaddnessDecoderDesc d;
    d.c = 2;
    d.m = 2;
    d.lut_int8 = lut;
    d.average_levels = average_levels;
    return d;
  }
};

TEST(MaddnessRef, DecodeInt8HandComputed) {
  const HandDecode hand;
  std::vector<int32_t> dst(4, kSentinel);
  maddness_decode_ref(hand.desc(0), hand.codes.data(), 2, 0, dst.data(), 0);
  // dst[m][n]: row 0 codes (3, 5), row 1 codes (15, 0).
  EXPECT_EQ(dst, (std::vector<int32_t>{3 - 50, 15 - 100, -3 + 127, -15 - 128}));
}

TEST(MaddnessRef, DecodeInt8AveragedHandComputed) {
  // u = e + 128; 2 * ceil-average - 256: (131, 78) -> 105, (143, 28) -> 86, (125, 255) -> 190,
  // (113, 0) -> 57.
  const HandDecode hand;
  std::vector<int32_t> dst(4, kSentinel);
  maddness_decode_ref(hand.desc(1), hand.codes.data(), 2, 0, dst.data(), 0);
  EXPECT_EQ(dst, (std::vector<int32_t>{210 - 256, 172 - 256, 380 - 256, 114 - 256}));
}

TEST(MaddnessRef, DecodeFp32AddsInCodebookOrder) {
  // (0 + 1e8) + 1 rounds back to 1e8 (float spacing 8 there), so the sum is 0, not 1; with the
  // entry 16 it is exactly 16.
  std::vector<float> lut(3 * 16, 0.0f);
  for (int k = 0; k < 16; ++k) {
    lut[0 * 16 + k] = 1e8f;
    lut[1 * 16 + k] = k == 1 ? 16.0f : 1.0f;
    lut[2 * 16 + k] = -1e8f;
  }
  MaddnessDecoderDesc desc;
  desc.c = 3;
  desc.m = 1;
  desc.lut_fp32 = lut;
  const std::vector<uint8_t> codes = {0, 0, 0, 7, 1, 9};
  std::vector<float> dst(2, -1.0f);
  maddness_decode_ref(desc, codes.data(), 2, 0, dst.data(), 0);
  EXPECT_EQ(dst[0], 0.0f);
  EXPECT_EQ(dst[1], 16.0f);
}

TEST(MaddnessRef, DecodeReadsTheLowFourCodeBits) {
  const HandDecode hand;
  const std::vector<uint8_t> high = {3 + 16, 5 + 240, 15 + 32, 0 + 128};
  std::vector<int32_t> want(4), got(4);
  maddness_decode_ref(hand.desc(0), hand.codes.data(), 2, 0, want.data(), 0);
  maddness_decode_ref(hand.desc(0), high.data(), 2, 0, got.data(), 0);
  EXPECT_EQ(got, want);
}

// ---- Encode: every impl against the ref.

// Values drawn from a small set that the thresholds share, so that ties (x == t: left), signed
// zeros, infinities and NaN (left) all occur, mixed with random floats.
float special_value(std::mt19937& rng) {
  static const float kValues[] = {-1.0f, -0.5f, 0.0f, -0.0f, 0.5f, 1.0f, kInf, -kInf, kNan};
  if (rng() % 3 == 0) return std::uniform_real_distribution<float>(-2.0f, 2.0f)(rng);
  return kValues[rng() % std::size(kValues)];
}

struct Trees {
  int64_t d = 0, c = 0;
  int depth = 0;
  std::vector<int32_t> split_dims;
  std::vector<float> thresholds;
  MaddnessEncoderDesc desc(std::optional<Isa> isa = std::nullopt) const {
    MaddnessEncoderDesc out;
    out.d = d;
    out.c = c;
    out.depth = depth;
    out.split_dims = split_dims;
    out.thresholds = thresholds;
    out.isa = isa;
    return out;
  }
};

Trees make_trees(int64_t d, int64_t c, int depth, uint32_t seed) {
  std::mt19937 rng(seed);
  Trees t;
  t.d = d;
  t.c = c;
  t.depth = depth;
  for (int64_t i = 0; i < c * depth; ++i) t.split_dims.push_back(static_cast<int32_t>(rng() % d));
  // The last codebook always splits on the last column (the end of each row).
  t.split_dims.back() = static_cast<int32_t>(d - 1);
  for (int64_t i = 0; i < c * ((1 << depth) - 1); ++i) t.thresholds.push_back(special_value(rng));
  return t;
}

using EncodeParam = std::tuple<int64_t, int, Isa>;  // c, depth, isa

class MaddnessEncodeTest : public ::testing::TestWithParam<EncodeParam> {};

TEST_P(MaddnessEncodeTest, MatchesRef) {
  const auto [c, depth, isa] = GetParam();
  if (isa > detected_isa()) GTEST_SKIP() << "CPU lacks " << isa_name(isa);
  uint32_t seed = static_cast<uint32_t>(1000 * c + depth);
  for (int64_t d : {1, 37}) {
    const Trees trees = make_trees(d, c, depth, ++seed);
    const MaddnessEncoder encoder = MaddnessEncoder::create(trees.desc(isa));
    EXPECT_EQ(encoder.impl_name(), isa_name(isa));
    EXPECT_EQ(encoder.d(), d);
    EXPECT_EQ(encoder.c(), c);
    for (int64_t n : {1, 15, 17, 63, 65, 1000}) {
      const int64_t pad = n % 2;  // strides larger than the row for odd n
      const int64_t ldx = d + 3 * pad, ldcodes = c + 5 * pad;
      std::mt19937 rng(++seed);
      // Exactly as long as the strides need, so that a read past the last row is an ASan error.
      std::vector<float> x((n - 1) * ldx + d);
      for (float& v : x) v = special_value(rng);
      std::vector<uint8_t> want((n - 1) * ldcodes + c, kCodeSentinel);
      maddness_encode_ref(trees.desc(), x.data(), n, ldx, want.data(), ldcodes);
      for (int threads : {1, 2}) {
        std::vector<uint8_t> got(want.size(), kCodeSentinel);
        encoder.run(x.data(), n, got.data(), ldx, ldcodes, threads);
        EXPECT_EQ(first_mismatch(got, want, ldcodes), "")
            << "d=" << d << " n=" << n << " threads=" << threads;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, MaddnessEncodeTest,
                         ::testing::Combine(::testing::Values(1, 3, 4, 5, 8, 16, 32, 33),
                                            ::testing::Values(1, 2, 3, 4),
                                            ::testing::ValuesIn(kIsas)),
                         [](const ::testing::TestParamInfo<EncodeParam>& info) {
                           return "c" + std::to_string(std::get<0>(info.param)) + "_depth" +
                                  std::to_string(std::get<1>(info.param)) + "_" +
                                  isa_param_name(std::get<2>(info.param));
                         });

// Row strides so large that 16 rows' offsets pass int32 (the gathers' index type): the rows live
// in a sparse mapping, of which only the touched pages take memory.
TEST(MaddnessEncode, RowStridesPastInt32Offsets) {
  const int64_t n = 17, d = 5, ldx = (int64_t{1} << 29) + 3;  // 7 ldx > 2^31 too (AVX2)
  const size_t bytes = static_cast<size_t>(((n - 1) * ldx + d) * sizeof(float));
  void* mapping = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (mapping == MAP_FAILED) GTEST_SKIP() << "no address space for a 32 GB sparse mapping";
  float* x = static_cast<float*>(mapping);
  std::mt19937 rng(3);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < d; ++j) x[i * ldx + j] = special_value(rng);
  const Trees trees = make_trees(d, 6, 3, 4);
  std::vector<uint8_t> want(n * 6), got(n * 6);
  maddness_encode_ref(trees.desc(), x, n, ldx, want.data(), 0);
  for (Isa isa : kIsas) {
    if (isa > detected_isa()) continue;
    std::fill(got.begin(), got.end(), kCodeSentinel);
    MaddnessEncoder::create(trees.desc(isa)).run(x, n, got.data(), ldx, 0, 1);
    EXPECT_EQ(first_mismatch(got, want, 6), "") << isa_name(isa);
  }
  munmap(mapping, bytes);
}

// ---- Decode: every impl against the ref.

enum class TableKind { kRandom, kAllMin, kAllMax, kAlternating, kFp32Random, kFp32Extremes };

std::string kind_name(TableKind kind) {
  switch (kind) {
    case TableKind::kRandom:
      return "random";
    case TableKind::kAllMin:
      return "all_-128";
    case TableKind::kAllMax:
      return "all_127";
    case TableKind::kAlternating:
      return "alternating";
    case TableKind::kFp32Random:
      return "fp32_random";
    case TableKind::kFp32Extremes:
      return "fp32_extremes";
  }
  return "?";
}

bool is_fp32(TableKind kind) {
  return kind == TableKind::kFp32Random || kind == TableKind::kFp32Extremes;
}

struct Tables {
  std::vector<int8_t> lut_int8;
  std::vector<float> lut_fp32;
  MaddnessDecoderDesc desc(int64_t c, int64_t m, int average_levels,
                           std::optional<Isa> isa = std::nullopt) const {
    MaddnessDecoderDesc out;
    out.c = c;
    out.m = m;
    out.lut_int8 = lut_int8;
    out.lut_fp32 = lut_fp32;
    out.average_levels = average_levels;
    out.isa = isa;
    return out;
  }
};

Tables make_tables(TableKind kind, int64_t c, int64_t m, uint32_t seed) {
  std::mt19937 rng(seed);
  const int64_t size = c * kMaddnessLeaves * m;
  Tables t;
  if (is_fp32(kind)) {
    // Extremes: magnitudes far apart (addition order decides the rounding), signed zeros,
    // infinities, and sums that overflow.
    static const float kExtremes[] = {3e38f, -3e38f, 1e30f, -1e-30f, 0.0f, -0.0f,
                                      kInf,  -kInf,  1.0f,  -1.0f,   1e8f, 7e-45f};
    for (int64_t i = 0; i < size; ++i)
      t.lut_fp32.push_back(kind == TableKind::kFp32Random
                               ? std::ldexp(std::uniform_real_distribution<float>(-1, 1)(rng),
                                            static_cast<int>(rng() % 40) - 20)
                               : kExtremes[rng() % std::size(kExtremes)]);
    return t;
  }
  for (int64_t i = 0; i < size; ++i) {
    int v = 0;
    switch (kind) {
      case TableKind::kRandom:
        v = static_cast<int>(rng() % 256) - 128;
        break;
      case TableKind::kAllMin:
        v = -128;
        break;
      case TableKind::kAllMax:
        v = 127;
        break;
      default:
        v = i % 2 ? 127 : -128;
        break;
    }
    t.lut_int8.push_back(static_cast<int8_t>(v));
  }
  return t;
}

// Runs one decoder configuration on every n against the ref, at 1 and 2 threads.
void check_decode(const Tables& tables, TableKind kind, int64_t c, int64_t m, int levels, Isa isa,
                  uint32_t seed) {
  SCOPED_TRACE(kind_name(kind) + " average_levels=" + std::to_string(levels));
  const MaddnessDecoder decoder = MaddnessDecoder::create(tables.desc(c, m, levels, isa));
  ASSERT_EQ(decoder.impl_name(), isa_name(isa));
  EXPECT_EQ(decoder.c(), c);
  EXPECT_EQ(decoder.m(), m);
  EXPECT_EQ(decoder.fp32(), is_fp32(kind));
  // Every n for random tables; the extreme ones (which test the value range, not the blocking) on
  // the short shapes, which keeps the suite fast under the sanitizers.
  const bool random = kind == TableKind::kRandom || kind == TableKind::kFp32Random;
  for (int64_t n : {1, 15, 17, 63, 65, 1000}) {
    if (!random && n > 65) continue;
    const int64_t pad = n % 2;
    const int64_t ldcodes = c + 5 * pad, ldd = n + 3 * pad;
    std::mt19937 rng(seed + static_cast<uint32_t>(n));
    // Full bytes: the kernels read the low 4 bits only.
    std::vector<uint8_t> codes((n - 1) * ldcodes + c);
    for (uint8_t& v : codes) v = static_cast<uint8_t>(rng());
    const size_t dst_size = (m - 1) * ldd + n;
    for (int threads : {1, 2}) {
      if (is_fp32(kind)) {
        std::vector<float> want(dst_size, -7.0f), got(dst_size, -7.0f);
        maddness_decode_ref(tables.desc(c, m, levels), codes.data(), n, ldcodes, want.data(), ldd);
        decoder.run(codes.data(), n, got.data(), ldcodes, ldd, threads);
        EXPECT_EQ(first_mismatch(got, want, ldd), "") << "n=" << n << " threads=" << threads;
      } else {
        std::vector<int32_t> want(dst_size, kSentinel), got(dst_size, kSentinel);
        maddness_decode_ref(tables.desc(c, m, levels), codes.data(), n, ldcodes, want.data(), ldd);
        decoder.run(codes.data(), n, got.data(), ldcodes, ldd, threads);
        EXPECT_EQ(first_mismatch(got, want, ldd), "") << "n=" << n << " threads=" << threads;
      }
    }
  }
}

using DecodeParam = std::tuple<int64_t, int64_t, Isa>;  // c, m, isa

class MaddnessDecodeTest : public ::testing::TestWithParam<DecodeParam> {};

TEST_P(MaddnessDecodeTest, MatchesRef) {
  const auto [c, m, isa] = GetParam();
  if (isa > detected_isa()) GTEST_SKIP() << "CPU lacks " << isa_name(isa);
  uint32_t seed = static_cast<uint32_t>(1000 * c + m);
  for (TableKind kind :
       {TableKind::kRandom, TableKind::kAllMin, TableKind::kAllMax, TableKind::kAlternating,
        TableKind::kFp32Random, TableKind::kFp32Extremes}) {
    const Tables tables = make_tables(kind, c, m, ++seed);
    for (int levels = 0; levels <= (is_fp32(kind) ? 0 : kMaddnessMaxDepth); ++levels)
      if (c % (1 << levels) == 0) check_decode(tables, kind, c, m, levels, isa, ++seed);
  }
}

// c covers every chunking of the averaging groups: 48 = 3 groups of 16 (2 + 1), 112 = 7 groups
// of 16 (4 + 2 + 1), 33 = 8 groups of 4 codebooks + 1.
INSTANTIATE_TEST_SUITE_P(Shapes, MaddnessDecodeTest,
                         ::testing::Combine(::testing::Values(1, 3, 4, 5, 8, 16, 32, 33, 48, 112),
                                            ::testing::Values(1, 7, 16, 63, 64, 65, 130),
                                            ::testing::ValuesIn(kIsas)),
                         [](const ::testing::TestParamInfo<DecodeParam>& info) {
                           return "c" + std::to_string(std::get<0>(info.param)) + "_m" +
                                  std::to_string(std::get<1>(info.param)) + "_" +
                                  isa_param_name(std::get<2>(info.param));
                         });

// The AVX-512 decoder's accumulation without VNNI (vpmaddubsw + vpmaddwd), which only runs on
// CPUs that lack it, forced here through the factory.
TEST(MaddnessDecode, Avx512WithoutVnniMatchesRef) {
  if (detected_isa() < Isa::kAvx512) GTEST_SKIP() << "CPU lacks avx512";
  uint32_t seed = 77;
  for (int64_t c : {1, 5, 16, 33, 48, 112})
    for (int levels = 0; levels <= kMaddnessMaxDepth; ++levels) {
      if (c % (1 << levels) != 0) continue;
      const int64_t m = 65, n = 130, ldcodes = c + 1, ldd = n + 2;
      const Tables tables = make_tables(TableKind::kRandom, c, m, ++seed);
      const auto impl = make_maddness_decoder_avx512(tables.desc(c, m, levels), /*vnni=*/false);
      std::mt19937 rng(++seed);
      std::vector<uint8_t> codes((n - 1) * ldcodes + c);
      for (uint8_t& v : codes) v = static_cast<uint8_t>(rng());
      std::vector<int32_t> want((m - 1) * ldd + n, kSentinel), got(want.size(), kSentinel);
      maddness_decode_ref(tables.desc(c, m, levels), codes.data(), n, ldcodes, want.data(), ldd);
      // 64-byte aligned, as the dispatcher's scratch is.
      std::vector<uint8_t> scratch(static_cast<size_t>(impl->scratch_bytes()) + 64);
      uint8_t* aligned = scratch.data() + (64 - reinterpret_cast<uintptr_t>(scratch.data()) % 64);
      impl->decode(codes.data(), n, ldcodes, got.data(), ldd, aligned);
      EXPECT_EQ(first_mismatch(got, want, ldd), "") << "c=" << c << " levels=" << levels;
    }
}

TEST(MaddnessDecode, ZeroRowsIsANoOp) {
  const HandDecode hand;
  const MaddnessDecoder decoder = MaddnessDecoder::create(hand.desc(0));
  decoder.run(nullptr, 0, static_cast<int32_t*>(nullptr));
}

// ---- Errors.

template <class Fn>
std::string error_of(Fn&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "no axnn::Error thrown";
}

TEST(MaddnessErrors, EncoderDesc) {
  const Trees good = make_trees(6, 4, 2, 5);
  EXPECT_NO_THROW(MaddnessEncoder::create(good.desc()));
  for (int32_t bad : {6, -1}) {
    Trees t = good;
    t.split_dims[5] = bad;
    EXPECT_THAT(error_of([&] { MaddnessEncoder::create(t.desc()); }),
                HasSubstr(fmt::format("split_dims[5] (codebook 2, level 1) = {}", bad)));
    EXPECT_THAT(error_of([&] { maddness_encode_ref(t.desc(), nullptr, 0, 0, nullptr, 0); }),
                HasSubstr("split_dims[5]"));
  }
  Trees deep = make_trees(6, 4, 4, 5);
  deep.depth = 5;
  EXPECT_THAT(error_of([&] { MaddnessEncoder::create(deep.desc()); }), HasSubstr("depth = 5"));
  deep.depth = 0;
  EXPECT_THAT(error_of([&] { MaddnessEncoder::create(deep.desc()); }), HasSubstr("depth = 0"));
  Trees short_splits = good;
  short_splits.split_dims.pop_back();
  EXPECT_THAT(error_of([&] { MaddnessEncoder::create(short_splits.desc()); }),
              HasSubstr("split_dims has 7 entries"));
  Trees short_thresholds = good;
  short_thresholds.thresholds.pop_back();
  EXPECT_THAT(error_of([&] { MaddnessEncoder::create(short_thresholds.desc()); }),
              HasSubstr("thresholds has 11 entries"));
  Trees no_d = good;
  no_d.d = 0;
  EXPECT_THAT(error_of([&] { MaddnessEncoder::create(no_d.desc()); }), HasSubstr("d = 0"));
  Trees no_c = good;
  no_c.c = 0;
  EXPECT_THAT(error_of([&] { MaddnessEncoder::create(no_c.desc()); }), HasSubstr("c = 0"));
}

TEST(MaddnessErrors, EncoderRun) {
  const Trees trees = make_trees(6, 4, 2, 5);
  const MaddnessEncoder encoder = MaddnessEncoder::create(trees.desc());
  std::vector<float> x(6 * 3);
  std::vector<uint8_t> codes(4 * 3);
  EXPECT_THAT(error_of([&] { encoder.run(x.data(), 3, codes.data(), 5); }), HasSubstr("ldx = 5"));
  EXPECT_THAT(error_of([&] { encoder.run(x.data(), 3, codes.data(), 0, 3); }),
              HasSubstr("ldcodes = 3"));
  EXPECT_THAT(error_of([&] { encoder.run(x.data(), -1, codes.data()); }), HasSubstr("n = -1"));
  EXPECT_THAT(error_of([&] { encoder.run(nullptr, 3, codes.data()); }), HasSubstr("x is null"));
  EXPECT_THAT(error_of([&] { encoder.run(x.data(), 3, codes.data(), 0, 0, -1); }),
              HasSubstr("threads = -1"));
}

TEST(MaddnessErrors, DecoderDesc) {
  const Tables int8 = make_tables(TableKind::kRandom, 6, 3, 1);
  const Tables fp32 = make_tables(TableKind::kFp32Random, 6, 3, 1);
  EXPECT_NO_THROW(MaddnessDecoder::create(int8.desc(6, 3, 1)));
  EXPECT_THAT(error_of([&] { MaddnessDecoder::create(int8.desc(6, 3, 2)); }),
              HasSubstr("c = 6 is not divisible by 2^2 = 4"));
  EXPECT_THAT(error_of([&] { MaddnessDecoder::create(int8.desc(6, 3, 5)); }),
              HasSubstr("average_levels = 5"));
  EXPECT_THAT(error_of([&] { MaddnessDecoder::create(fp32.desc(6, 3, 1)); }),
              HasSubstr("only int8 tables are averaged"));
  EXPECT_THAT(error_of([&] { MaddnessDecoder::create(int8.desc(6, 4, 0)); }),
              HasSubstr("lut_int8 has 288 entries: c = 6 x 16 x m = 4 needs 384"));
  Tables both = int8;
  both.lut_fp32 = fp32.lut_fp32;
  EXPECT_THAT(error_of([&] { MaddnessDecoder::create(both.desc(6, 3, 0)); }),
              HasSubstr("both are set"));
  EXPECT_THAT(error_of([&] { MaddnessDecoder::create(Tables{}.desc(6, 3, 0)); }),
              HasSubstr("neither is set"));
  EXPECT_THAT(error_of([&] { MaddnessDecoder::create(int8.desc(0, 3, 0)); }), HasSubstr("c = 0"));
}

TEST(MaddnessErrors, DecoderRun) {
  const Tables int8 = make_tables(TableKind::kRandom, 4, 3, 1);
  const Tables fp32 = make_tables(TableKind::kFp32Random, 4, 3, 1);
  const MaddnessDecoder int8_decoder = MaddnessDecoder::create(int8.desc(4, 3, 0));
  const MaddnessDecoder fp32_decoder = MaddnessDecoder::create(fp32.desc(4, 3, 0));
  std::vector<uint8_t> codes(4 * 5);
  std::vector<int32_t> dst_int32(3 * 5);
  std::vector<float> dst_fp32(3 * 5);
  EXPECT_THAT(error_of([&] { int8_decoder.run(codes.data(), 5, dst_fp32.data()); }),
              HasSubstr("fp32 output needs an fp32 table"));
  EXPECT_THAT(error_of([&] { fp32_decoder.run(codes.data(), 5, dst_int32.data()); }),
              HasSubstr("int32 output needs an int8 table"));
  EXPECT_THAT(error_of([&] {
                maddness_decode_ref(int8.desc(4, 3, 0), codes.data(), 5, 0, dst_fp32.data(), 0);
              }),
              HasSubstr("needs lut_fp32"));
  EXPECT_THAT(error_of([&] { int8_decoder.run(codes.data(), 5, dst_int32.data(), 3); }),
              HasSubstr("ldcodes = 3"));
  EXPECT_THAT(error_of([&] { int8_decoder.run(codes.data(), 5, dst_int32.data(), 0, 4); }),
              HasSubstr("ldd = 4"));
  EXPECT_THAT(error_of([&] { int8_decoder.run(codes.data(), 5, static_cast<int32_t*>(nullptr)); }),
              HasSubstr("dst is null"));
  EXPECT_THAT(error_of([&] { int8_decoder.run(codes.data(), 5, dst_int32.data(), 0, 0, 2000); }),
              HasSubstr("threads = 2000"));
}

}  // namespace
}  // namespace axnn::kernels
