// The axnn ops on CUDA tensors against the same ops on the CPU (themselves tested against naive
// loops in test_lut_ops.cpp, test_ax_ops*.cpp): codes, accumulators and layer outputs bit for bit,
// gradients to fp32 rounding (cuBLAS / cuDNN sum in another order). Skips without a CUDA device
// (and always with a LibTorch built without CUDA, such as Debian's).
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/cuda.h>

#include <climits>
#include <limits>
#include <string>
#include <tuple>

#include "ops/ax_ops.h"
#include "ops/lut_ops.h"
#include "ops/maddness_ops.h"

namespace axnn::ops {
namespace {

class OnCuda : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device for this LibTorch";
    at::manual_seed(7);
  }
  static at::Tensor gpu(const at::Tensor& t) { return t.to(at::kCUDA); }
  static void expect_equal(const at::Tensor& cpu, const at::Tensor& cuda, const std::string& what) {
    ASSERT_TRUE(cuda.is_cuda()) << what;
    EXPECT_TRUE(at::equal(cpu, cuda.cpu()))
        << what << ": max |diff| " << (cpu - cuda.cpu()).abs().max().item<double>();
  }
  static void expect_close(const at::Tensor& cpu, const at::Tensor& cuda, const std::string& what) {
    EXPECT_TRUE(at::allclose(cpu, cuda.cpu(), 1e-4, 1e-5)) << what;
  }
};

// Tables of each shared-memory storage: a narrow span (16-bit offsets), a span over 16 bits
// (32-bit, or read from global memory at 8 bits), and the int32 extremes (wrapping sums).
at::Tensor table(int bits, int kind) {
  const int64_t side = int64_t{1} << bits;
  if (kind == 0) return at::randint(-30000, 30000, {side, side}, at::kInt);
  if (kind == 1) return at::randint(-(int64_t{1} << 24), int64_t{1} << 24, {side, side}, at::kInt);
  return at::where(at::rand({side, side}) < 0.5, at::full({side, side}, INT32_MIN, at::kInt),
                   at::full({side, side}, INT32_MAX, at::kInt));
}

at::Tensor codes(at::IntArrayRef sizes, at::ScalarType type = at::kByte) {
  return at::randint(0, 256, sizes, at::kInt).to(at::kByte).to(type);
}

TEST_F(OnCuda, LutMatmulEqualsTheCpu) {
  for (int bits = 2; bits <= 8; ++bits)
    for (int kind = 0; kind < 3; ++kind) {
      const at::Tensor lut = table(bits, kind);
      const std::string what = "bits " + std::to_string(bits) + ", table " + std::to_string(kind);
      for (const auto& [m, k, n] : {std::tuple{1, 1, 1}, {7, 33, 5}, {130, 300, 257}}) {
        const at::Tensor a = codes({m, k}, at::kChar), b = codes({k, n});
        expect_equal(lut_matmul(a, b, lut), lut_matmul(gpu(a), gpu(b), gpu(lut)), what);
      }
      // Attention-style: batched operands on both sides, and slices against one b.
      const at::Tensor a = codes({2, 3, 17, 40}), b = codes({2, 3, 40, 19}), b2 = codes({40, 9});
      expect_equal(lut_matmul(a, b, lut), lut_matmul(gpu(a), gpu(b), gpu(lut)), what + " batched");
      expect_equal(lut_matmul(a, b2, lut), lut_matmul(gpu(a), gpu(b2), gpu(lut)),
                   what + " shared b");
    }
}

TEST_F(OnCuda, LutConv2dEqualsTheCpu) {
  struct Geometry {
    int64_t n, c, h, w, o, kh, kw, groups, stride, pad, dilation;
  };
  for (const Geometry& g :
       {Geometry{1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1}, Geometry{3, 16, 13, 11, 24, 3, 3, 1, 1, 1, 1},
        Geometry{2, 12, 15, 15, 12, 3, 3, 12, 2, 1, 1}, Geometry{2, 8, 20, 17, 6, 5, 3, 2, 1, 2, 2},
        Geometry{4, 64, 8, 8, 128, 1, 1, 1, 2, 0, 1}})
    for (int bits : {2, 5, 8})
      for (int kind = 0; kind < 3; ++kind) {
        const at::Tensor lut = table(bits, kind);
        const at::Tensor x = codes({g.n, g.c, g.h, g.w}),
                         w = codes({g.o, g.c / g.groups, g.kh, g.kw});
        const int64_t pad_code = (int64_t{1} << bits) - 1;
        const auto run = [&](const at::Tensor& xs, const at::Tensor& ws, const at::Tensor& l) {
          return lut_conv2d(xs, ws, l, {g.stride, g.stride}, {g.pad, g.pad},
                            {g.dilation, g.dilation}, g.groups, pad_code);
        };
        expect_equal(run(x, w, lut), run(gpu(x), gpu(w), gpu(lut)),
                     "conv c " + std::to_string(g.c) + " groups " + std::to_string(g.groups) +
                         " bits " + std::to_string(bits) + " table " + std::to_string(kind));
      }
}

// The float-level ops: forward bits equal (same codes, same accumulators, elementwise IEEE
// dequantization), gradients of every mode close.
TEST_F(OnCuda, AxOpsForwardEqualsAndGradientsMatchTheCpu) {
  const at::Tensor lut = table(8, 0);
  const at::Tensor ulut = at::randint(0, 60000, {256, 256}, at::kInt);
  for (const char* mode : {"ste", "ste-clip", "lut-grad"}) {
    const at::Tensor x = at::randn({5, 3, 9, 9}), w = at::randn({4, 3, 3, 3}),
                     bias = at::randn({4});
    const at::Tensor xa = x.abs().max() * 0.8, wa = w.abs().amax({1, 2, 3});
    const auto conv = [&](const at::Tensor& xs, const at::Tensor& ws, const at::Tensor& bs,
                          const at::Tensor& l, const at::Tensor& xam, const at::Tensor& wam) {
      return ax_conv2d(xs, ws, bs, l, xam, wam, {2, 1}, {1, 1}, {1, 1}, 1, 8, true, mode);
    };
    const at::Tensor xc = x.clone().requires_grad_(), wc = w.clone().requires_grad_();
    const at::Tensor xg = gpu(x).requires_grad_(), wg = gpu(w).requires_grad_();
    const at::Tensor y = conv(xc, wc, bias, lut, xa, wa);
    const at::Tensor yg = conv(xg, wg, gpu(bias), gpu(lut), gpu(xa), gpu(wa));
    expect_equal(y.detach(), yg.detach(), std::string("ax_conv2d ") + mode);
    const at::Tensor g = at::randn(y.sizes());
    y.backward(g);
    yg.backward(gpu(g));
    expect_close(xc.grad(), xg.grad(), std::string("ax_conv2d dx ") + mode);
    expect_close(wc.grad(), wg.grad(), std::string("ax_conv2d dw ") + mode);

    const at::Tensor a = at::randn({2, 6, 10}), b = at::randn({2, 10, 7});
    const at::Tensor am = a.abs().max(), bm = b.abs().max();
    expect_equal(ax_matmul(a, b, lut, am, bm, 8, true, mode),
                 ax_matmul(gpu(a), gpu(b), gpu(lut), gpu(am), gpu(bm), 8, true, mode),
                 std::string("ax_matmul ") + mode);

    const at::Tensor v = at::randn({9, 20}), lw = at::randn({6, 20});
    const at::Tensor vmin = v.min(), vmax = v.max(), lmin = lw.amin(1), lmax = lw.amax(1);
    const at::Tensor vc = v.clone().requires_grad_(), vg = gpu(v).requires_grad_();
    const at::Tensor z =
        ax_linear_asym(vc, lw, c10::nullopt, ulut, vmin, vmax, lmin, lmax, 8, mode);
    const at::Tensor zg = ax_linear_asym(vg, gpu(lw), c10::nullopt, gpu(ulut), gpu(vmin), gpu(vmax),
                                         gpu(lmin), gpu(lmax), 8, mode);
    expect_equal(z.detach(), zg.detach(), std::string("ax_linear_asym ") + mode);
    z.sum().backward();
    zg.sum().backward();
    expect_close(vc.grad(), vg.grad(), std::string("ax_linear_asym dx ") + mode);

    const at::Tensor xs = at::rand({2, 3, 8, 8}), ws = at::randn({6, 1, 3, 3});
    const auto conv_asym = [&](const at::Tensor& xi, const at::Tensor& wi, const at::Tensor& l) {
      return ax_conv2d_asym(xi, wi, c10::nullopt, l, xi.min(), xi.max(), wi.amin({1, 2, 3}),
                            wi.amax({1, 2, 3}), {1, 1}, {1, 1}, {1, 1}, 3, 8, mode);
    };
    expect_equal(conv_asym(xs, ws, ulut), conv_asym(gpu(xs), gpu(ws), gpu(ulut)),
                 std::string("ax_conv2d_asym ") + mode);
  }
}

TEST_F(OnCuda, MaddnessEncodeDecodeEqualTheCpu) {
  const int64_t n = 1000, d = 64, c = 16, m = 40, depth = 4;
  const at::Tensor x = at::randn({n, d});
  x[3][5] = std::numeric_limits<float>::quiet_NaN();  // NaN goes left on both
  const at::Tensor dims = at::randint(0, d, {c, depth}, at::kInt);
  const at::Tensor thresholds = at::randn({c, 15});
  const at::Tensor code = maddness_encode(x, dims, thresholds);
  expect_equal(code, maddness_encode(gpu(x), gpu(dims), gpu(thresholds)), "maddness_encode");
  const at::Tensor lut8 = at::randint(-128, 128, {c, 16, m}, at::kChar);
  const at::Tensor lut32 = at::randn({c, 16, m});
  for (int64_t average : {0, 1, 2, 4})
    expect_equal(maddness_decode(code, lut8, average),
                 maddness_decode(gpu(code), gpu(lut8), average),
                 "maddness_decode int8, averaging " + std::to_string(average));
  expect_equal(maddness_decode(code, lut32, 0), maddness_decode(gpu(code), gpu(lut32), 0),
               "maddness_decode fp32");
  // Codes of fewer leaves than 16 (K = 9 prototypes) and leading dimensions.
  const at::Tensor few = at::randint(0, 9, {3, 7, c}, at::kByte);
  const at::Tensor lut9 = at::randn({c, 9, m});
  expect_equal(maddness_decode(few, lut9, 0), maddness_decode(gpu(few), gpu(lut9), 0), "K = 9");
}

TEST_F(OnCuda, OperandsOnTwoDevicesAreAnError) {
  const at::Tensor a = codes({4, 4}), lut = table(8, 0);
  try {
    lut_matmul(gpu(a), a, gpu(lut));
    FAIL() << "mixed devices were accepted";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("lut_matmul: b is on cpu"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace axnn::ops
