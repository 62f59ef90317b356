// The host side of the CUDA kernels, which runs without a GPU (so CI checks it): the table
// storage choice at its boundaries, the convolution output sizes (the same as LutConv2d's), and
// argument validation, which happens before any CUDA call and names the field at fault.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <tuple>
#include <vector>

#include "core/error.h"
#include "cuda/cases.h"
#include "kernels/cuda/lut_cuda.h"
#include "kernels/lut_conv.h"

namespace axnn::kernels::cuda {
namespace {

using ::testing::HasSubstr;

constexpr int32_t kMin = std::numeric_limits<int32_t>::min();
constexpr int32_t kMax = std::numeric_limits<int32_t>::max();

// Throws axnn::Error whose message contains `part`.
template <class Fn>
void expect_error(Fn&& fn, const std::string& part) {
  try {
    fn();
    ADD_FAILURE() << "no axnn::Error thrown; expected one naming '" << part << "'";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr(part));
  }
}

TEST(LutStorage, SpanBoundaryOf16Bits) {
  EXPECT_EQ(lut_storage(8, 0, 65535), LutStorage::kOffset16);
  EXPECT_EQ(lut_storage(8, 0, 65536), LutStorage::kGlobal32);
  EXPECT_EQ(lut_storage(7, 0, 65535), LutStorage::kOffset16);
  EXPECT_EQ(lut_storage(7, 0, 65536), LutStorage::kShared32);
  EXPECT_EQ(lut_storage(8, -32768, 32767), LutStorage::kOffset16);
  EXPECT_EQ(lut_storage(8, -32768, 32768), LutStorage::kGlobal32);
  EXPECT_EQ(lut_storage(8, kMin, kMin + 65535), LutStorage::kOffset16);
  EXPECT_EQ(lut_storage(8, kMax - 65535, kMax), LutStorage::kOffset16);
  EXPECT_EQ(lut_storage(8, kMax - 65536, kMax), LutStorage::kGlobal32);
  EXPECT_EQ(lut_storage(5, 7, 7), LutStorage::kOffset16);  // a constant table
}

TEST(LutStorage, WideTablesBy8Versus7Bits) {
  for (int bits = 2; bits <= 7; ++bits)
    EXPECT_EQ(lut_storage(bits, kMin, kMax), LutStorage::kShared32) << "bits " << bits;
  EXPECT_EQ(lut_storage(8, kMin, kMax), LutStorage::kGlobal32);
}

TEST(LutStorage, Names) {
  EXPECT_STREQ(lut_storage_name(LutStorage::kOffset16), "offset16");
  EXPECT_STREQ(lut_storage_name(LutStorage::kShared32), "shared32");
  EXPECT_STREQ(lut_storage_name(LutStorage::kGlobal32), "global32");
}

TEST(LutStorage, RejectsBadArguments) {
  expect_error([] { lut_storage(1, 0, 0); }, "bits = 1");
  expect_error([] { lut_storage(9, 0, 0); }, "bits = 9");
  expect_error([] { lut_storage(8, 5, 4); }, "table_min = 5 exceeds table_max = 4");
}

TEST(DeviceAvailable, ExplainsWhenFalse) {
  std::string why = "stale";
  const bool available = device_available(&why);
  if (available)
    EXPECT_TRUE(why.empty());
  else
    EXPECT_THAT(why, HasSubstr("no usable CUDA device"));
  EXPECT_EQ(device_available(), available);  // no crash without `why`, same answer
}

// ---- Convolution output sizes: the same as LutConv2d's for every geometry.

using ConvGeometry =
    std::tuple<int, int, int, int, int, int>;  // size, kernel, stride, pad, dil, grp

class LutConvOutSize : public ::testing::TestWithParam<ConvGeometry> {};

TEST_P(LutConvOutSize, AgreesWithLutConv2d) {
  const auto [size, kernel, stride, pad, dilation, groups] = GetParam();
  LutConv2dArgs args;
  args.batch = 2;
  args.channels = 2 * groups;
  args.out_channels = 3 * groups;
  args.groups = groups;
  args.height = size;
  args.width = size + 3;
  args.kh = kernel;
  args.kw = kernel + 1;
  args.stride_h = stride;
  args.stride_w = stride + 1;
  args.pad_h = pad;
  args.pad_w = pad + 1;
  args.dilation_h = dilation;
  args.dilation_w = 1;
  const int64_t oh =
      (args.height + 2 * args.pad_h - args.dilation_h * (args.kh - 1) - 1) / args.stride_h + 1;
  const int64_t ow = (args.width + 2 * args.pad_w - (args.kw - 1) - 1) / args.stride_w + 1;
  EXPECT_EQ(lut_conv2d_out_height(args), oh);
  EXPECT_EQ(lut_conv2d_out_width(args), ow);

  const std::vector<int32_t> table(16, 0);
  const std::vector<uint8_t> weights(
      static_cast<size_t>(args.out_channels * 2 * args.kh * args.kw));
  LutConv2dDesc desc;
  test::copy_conv_geometry(args, desc);
  desc.table = table;
  desc.bits = 2;
  desc.weights = weights.data();
  desc.isa = Isa::kRef;
  const LutConv2d conv = LutConv2d::create(desc);
  EXPECT_EQ(conv.out_height(), oh);
  EXPECT_EQ(conv.out_width(), ow);
}

INSTANTIATE_TEST_SUITE_P(
    Geometries, LutConvOutSize,
    ::testing::Values(ConvGeometry{7, 3, 1, 1, 1, 1}, ConvGeometry{8, 3, 2, 0, 1, 2},
                      ConvGeometry{9, 2, 3, 2, 2, 1}, ConvGeometry{5, 5, 1, 0, 1, 3},
                      ConvGeometry{1, 1, 1, 0, 1, 1}, ConvGeometry{4, 3, 5, 3, 1, 1}));

LutConv2dArgs valid_conv() {
  LutConv2dArgs args;
  args.batch = 1;
  args.channels = 4;
  args.height = 5;
  args.width = 5;
  args.out_channels = 6;
  args.kh = 3;
  args.kw = 3;
  args.groups = 2;
  args.bits = 4;
  // Never dereferenced: every test below fails before any CUDA call.
  static const int32_t table = 0;
  static const uint8_t code = 0;
  static int32_t out = 0;
  args.table = &table;
  args.src = &code;
  args.weights = &code;
  args.dst = &out;
  return args;
}

TEST(LutConvCudaArgs, GeometryErrorsNameTheField) {
  auto with = [](auto change) {
    LutConv2dArgs args = valid_conv();
    change(args);
    return args;
  };
  const auto height = [](const LutConv2dArgs& a) { return lut_conv2d_out_height(a); };
  expect_error([&] { height(with([](LutConv2dArgs& a) { a.stride_h = 0; })); },
               "LutConv2dArgs.stride_h = 0");
  expect_error([&] { height(with([](LutConv2dArgs& a) { a.dilation_w = 0; })); },
               "LutConv2dArgs.dilation_w = 0");
  expect_error([&] { height(with([](LutConv2dArgs& a) { a.pad_h = -1; })); },
               "LutConv2dArgs.pad_h = -1");
  expect_error([&] { height(with([](LutConv2dArgs& a) { a.batch = 0; })); },
               "LutConv2dArgs.batch = 0");
  expect_error([&] { height(with([](LutConv2dArgs& a) { a.groups = 3; })); },
               "LutConv2dArgs.groups = 3 must divide");
  expect_error([&] { lut_conv2d_out_width(with([](LutConv2dArgs& a) { a.kw = 9; })); },
               "does not fit");
  expect_error([&] { lut_conv2d_cuda(with([](LutConv2dArgs& a) { a.kh = 0; })); },
               "LutConv2dArgs.kh = 0");
}

TEST(LutConvCudaArgs, OperandErrorsNameTheField) {
  auto run = [](auto change) {
    LutConv2dArgs args = valid_conv();
    change(args);
    lut_conv2d_cuda(args);
  };
  expect_error([&] { run([](LutConv2dArgs& a) { a.bits = 9; }); }, "LutConv2dArgs.bits = 9");
  expect_error([&] { run([](LutConv2dArgs& a) { a.pad_code = 16; }); },
               "LutConv2dArgs.pad_code = 16 is not a 4-bit code");
  expect_error([&] { run([](LutConv2dArgs& a) { a.pad_code = -1; }); },
               "LutConv2dArgs.pad_code = -1");
  expect_error([&] { run([](LutConv2dArgs& a) { a.table_min = 1; }); },
               "LutConv2dArgs.table_min = 1 exceeds table_max = 0");
  expect_error([&] { run([](LutConv2dArgs& a) { a.table = nullptr; }); },
               "LutConv2dArgs.table is null");
  expect_error([&] { run([](LutConv2dArgs& a) { a.src = nullptr; }); },
               "LutConv2dArgs.src is null");
  expect_error([&] { run([](LutConv2dArgs& a) { a.weights = nullptr; }); },
               "LutConv2dArgs.weights is null");
  expect_error([&] { run([](LutConv2dArgs& a) { a.dst = nullptr; }); },
               "LutConv2dArgs.dst is null");
}

LutGemmArgs valid_gemm() {
  static const int32_t table = 0;
  static const uint8_t code = 0;
  static int32_t out = 0;
  LutGemmArgs args;
  args.table = &table;
  args.bits = 8;
  args.a = &code;
  args.b = &code;
  args.c = &out;
  args.m = 3;
  args.n = 4;
  args.k = 5;
  return args;
}

TEST(LutGemmCudaArgs, ErrorsNameTheField) {
  auto run = [](auto change) {
    LutGemmArgs args = valid_gemm();
    change(args);
    lut_gemm_cuda(args);
  };
  expect_error([&] { run([](LutGemmArgs& a) { a.bits = 1; }); }, "LutGemmArgs.bits = 1");
  expect_error([&] { run([](LutGemmArgs& a) { a.bits = 9; }); }, "LutGemmArgs.bits = 9");
  expect_error([&] { run([](LutGemmArgs& a) { a.table = nullptr; }); },
               "LutGemmArgs.table is null");
  expect_error([&] { run([](LutGemmArgs& a) { a.a = nullptr; }); }, "LutGemmArgs.a is null");
  expect_error([&] { run([](LutGemmArgs& a) { a.b = nullptr; }); }, "LutGemmArgs.b is null");
  expect_error([&] { run([](LutGemmArgs& a) { a.c = nullptr; }); }, "LutGemmArgs.c is null");
  expect_error([&] { run([](LutGemmArgs& a) { a.m = 0; }); }, "LutGemmArgs.m = 0");
  expect_error([&] { run([](LutGemmArgs& a) { a.k = 0; }); }, "LutGemmArgs.k = 0");
  expect_error([&] { run([](LutGemmArgs& a) { a.n = -1; }); }, "LutGemmArgs.n = -1");
  expect_error([&] { run([](LutGemmArgs& a) { a.m = int64_t{1} << 31; }); }, "LutGemmArgs.m =");
  expect_error([&] { run([](LutGemmArgs& a) { a.lda = 4; }); },
               "LutGemmArgs.lda = 4: expected 0 (dense) or k = 5");
  expect_error([&] { run([](LutGemmArgs& a) { a.ldb = 3; }); }, "LutGemmArgs.ldb = 3");
  expect_error([&] { run([](LutGemmArgs& a) { a.ldc = 2; }); }, "LutGemmArgs.ldc = 2");
  expect_error([&] { run([](LutGemmArgs& a) { a.batch = -1; }); }, "LutGemmArgs.batch = -1");
  expect_error([&] { run([](LutGemmArgs& a) { a.batch_stride_b = -1; }); },
               "LutGemmArgs.batch_stride_a/b/c");
  expect_error(
      [&] {
        run([](LutGemmArgs& a) {
          a.batch = 2;
          a.batch_stride_a = 15;
        });
      },
      "LutGemmArgs.batch_stride_c = 0 with batch = 2");
  expect_error(
      [&] {
        run([](LutGemmArgs& a) {
          a.table_min = 3;
          a.table_max = -3;
        });
      },
      "LutGemmArgs.table_min = 3 exceeds table_max = -3");
}

MaddnessEncodeArgs valid_encode() {
  static const float x = 0;
  static const int32_t split = 0;
  static uint8_t code = 0;
  MaddnessEncodeArgs args;
  args.x = &x;
  args.n = 2;
  args.d = 3;
  args.c = 4;
  args.depth = 4;
  args.split_dims = &split;
  args.thresholds = &x;
  args.codes = &code;
  return args;
}

TEST(MaddnessEncodeCudaArgs, ErrorsNameTheField) {
  auto run = [](auto change) {
    MaddnessEncodeArgs args = valid_encode();
    change(args);
    maddness_encode_cuda(args);
  };
  expect_error([&] { run([](MaddnessEncodeArgs& a) { a.depth = 0; }); },
               "MaddnessEncodeArgs.depth = 0");
  expect_error([&] { run([](MaddnessEncodeArgs& a) { a.depth = 5; }); },
               "MaddnessEncodeArgs.depth = 5");
  expect_error([&] { run([](MaddnessEncodeArgs& a) { a.c = 0; }); }, "MaddnessEncodeArgs.c = 0");
  expect_error([&] { run([](MaddnessEncodeArgs& a) { a.d = 0; }); }, "MaddnessEncodeArgs.d = 0");
  expect_error([&] { run([](MaddnessEncodeArgs& a) { a.n = -2; }); }, "MaddnessEncodeArgs.n = -2");
  expect_error([&] { run([](MaddnessEncodeArgs& a) { a.ldx = 2; }); },
               "MaddnessEncodeArgs.ldx = 2: expected 0 (dense) or d = 3");
  expect_error([&] { run([](MaddnessEncodeArgs& a) { a.ldcodes = 3; }); },
               "MaddnessEncodeArgs.ldcodes = 3");
  expect_error([&] { run([](MaddnessEncodeArgs& a) { a.x = nullptr; }); },
               "MaddnessEncodeArgs.x is null");
  expect_error([&] { run([](MaddnessEncodeArgs& a) { a.split_dims = nullptr; }); },
               "MaddnessEncodeArgs.split_dims is null");
  expect_error([&] { run([](MaddnessEncodeArgs& a) { a.thresholds = nullptr; }); },
               "MaddnessEncodeArgs.thresholds is null");
  expect_error([&] { run([](MaddnessEncodeArgs& a) { a.codes = nullptr; }); },
               "MaddnessEncodeArgs.codes is null");
}

MaddnessDecodeArgs valid_decode() {
  static const uint8_t code = 0;
  static const int8_t lut = 0;
  static int32_t out = 0;
  MaddnessDecodeArgs args;
  args.codes = &code;
  args.n = 5;
  args.c = 8;
  args.m = 3;
  args.lut_int8 = &lut;
  args.dst_int32 = &out;
  return args;
}

TEST(MaddnessDecodeCudaArgs, ErrorsNameTheField) {
  static const float lut = 0;
  static float out = 0;
  auto run = [](auto change) {
    MaddnessDecodeArgs args = valid_decode();
    change(args);
    maddness_decode_cuda(args);
  };
  expect_error([&] { run([](MaddnessDecodeArgs& a) { a.lut_fp32 = &lut; }); }, "both are set");
  expect_error([&] { run([](MaddnessDecodeArgs& a) { a.lut_int8 = nullptr; }); }, "neither is set");
  expect_error([&] { run([](MaddnessDecodeArgs& a) { a.dst_int32 = nullptr; }); },
               "MaddnessDecodeArgs.dst_int32 is null");
  expect_error(
      [&] {
        run([](MaddnessDecodeArgs& a) {
          a.lut_int8 = nullptr;
          a.lut_fp32 = &lut;
        });
      },
      "MaddnessDecodeArgs.dst_fp32 is null");
  expect_error(
      [&] {
        run([](MaddnessDecodeArgs& a) {
          a.lut_int8 = nullptr;
          a.lut_fp32 = &lut;
          a.dst_fp32 = &out;
          a.average_levels = 1;
        });
      },
      "only int8 tables are averaged");
  expect_error([&] { run([](MaddnessDecodeArgs& a) { a.average_levels = 5; }); },
               "MaddnessDecodeArgs.average_levels = 5: expected 0..4");
  expect_error([&] { run([](MaddnessDecodeArgs& a) { a.average_levels = 4; }); },
               "c = 8 is not divisible by 2^4 = 16");
  expect_error([&] { run([](MaddnessDecodeArgs& a) { a.c = 0; }); }, "MaddnessDecodeArgs.c = 0");
  expect_error([&] { run([](MaddnessDecodeArgs& a) { a.m = 0; }); }, "MaddnessDecodeArgs.m = 0");
  expect_error([&] { run([](MaddnessDecodeArgs& a) { a.ldcodes = 7; }); },
               "MaddnessDecodeArgs.ldcodes = 7: expected 0 (dense) or c = 8");
  expect_error([&] { run([](MaddnessDecodeArgs& a) { a.ldd = 4; }); },
               "MaddnessDecodeArgs.ldd = 4");
  expect_error([&] { run([](MaddnessDecodeArgs& a) { a.codes = nullptr; }); },
               "MaddnessDecodeArgs.codes is null");
}

// Valid arguments on a machine without a device: the launch fails and says so (with a device the
// dummy host pointers would be handed to a kernel, so this only runs without one).
TEST(CudaLaunch, WithoutDeviceThrowsTheCudaError) {
  if (device_available()) GTEST_SKIP() << "a CUDA device is present";
  expect_error([] { lut_gemm_cuda(valid_gemm()); }, "lut_gemm_cuda: CUDA error");
  expect_error([] { lut_conv2d_cuda(valid_conv()); }, "lut_conv2d_cuda: CUDA error");
  expect_error([] { maddness_encode_cuda(valid_encode()); }, "maddness_encode_cuda: CUDA error");
  expect_error([] { maddness_decode_cuda(valid_decode()); }, "maddness_decode_cuda: CUDA error");
}

// Empty work (n = 0, batch = 0) is accepted and launches nothing, GPU or not.
TEST(CudaLaunch, EmptyWorkIsANoOp) {
  LutGemmArgs gemm = valid_gemm();
  gemm.n = 0;
  EXPECT_NO_THROW(lut_gemm_cuda(gemm));
  gemm = valid_gemm();
  gemm.batch = 0;
  EXPECT_NO_THROW(lut_gemm_cuda(gemm));
  MaddnessEncodeArgs encode = valid_encode();
  encode.n = 0;
  EXPECT_NO_THROW(maddness_encode_cuda(encode));
  MaddnessDecodeArgs decode = valid_decode();
  decode.n = 0;
  EXPECT_NO_THROW(maddness_decode_cuda(decode));
}

}  // namespace
}  // namespace axnn::kernels::cuda
