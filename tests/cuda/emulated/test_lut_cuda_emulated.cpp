// The CUDA kernels of src/kernels/cuda run on the host by the fiber emulation of
// tests/common/cuda_emulation.h (every thread of a block a fiber, barriers enforced), against the
// CPU refs bit for bit: LUT-GEMM and LUT-conv for each table storage (offset16, shared32, global32
// and the fallback of a GPU with less shared memory), widths 2, 5, 8 of signed and unsigned
// multipliers, odd shapes, batches, split-K (forced and planned), conv stride / padding /
// dilation / groups / pad_code, MADDness encode (NaN rows, a split column outside the row) and
// decode (int8 with average_levels 0..4, fp32 order). The emulation launches the same kernel
// templates with the geometry of the kernels' own launch functions (emulated_kernels.inc); the
// last tests plant races by removing barriers and check that the emulation catches each one.
// Needs only a host compiler: runs in CI without a GPU or nvcc.
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "common/cuda_emulation.h"
#include "core/subprocess.h"
#include "cuda/cases.h"
#include "cuda/emulated/emulated_kernels.h"
#include "kernels/lut_conv.h"
#include "kernels/lut_gemm.h"
#include "kernels/maddness.h"

namespace axnn::kernels::cuda {
namespace {

using detail::Storage;
using emulated::Gpu;
using emulated::Launched;
using test::ConvOperands;
using test::CudaEmulation;
using test::GemmCase;
using test::GemmOperands;
using test::Geometry;
using test::GuardedBuffer;
using test::kSentinel;
using test::random_codes;
using test::Table;
using test::table_of;

// The emulation of the kernels, `edit` (header name, text) -> text applied to their headers.
template <class Edit>
std::unique_ptr<CudaEmulation> build_kernels(Edit edit) {
  const std::filesystem::path source = AXNN_SOURCE_DIR;
  TempDir staged("axnn_cuda_headers");
  test::stage_cuda_headers(source / "src/kernels/cuda", staged.path() / "kernels/cuda", edit);
  return CudaEmulation::build("#include \"cuda/emulated/emulated_kernels.inc\"\n",
                              {staged.path(), source / "tests"});
}

std::unique_ptr<CudaEmulation> build_kernels() {
  return build_kernels([](const std::string&, std::string text) { return text; });
}

// One build per test program (gtest_discover_tests runs each test in its own process, so the
// tests below are few and each covers many cases).
class Emulated : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (find_program("c++")) kernels_ = build_kernels();
  }
  static void TearDownTestSuite() { kernels_.reset(); }
  void SetUp() override {
    if (!kernels_) GTEST_SKIP() << "no c++ compiler to build the emulation";
  }
  static const CudaEmulation& kernels() { return *kernels_; }

 private:
  static inline std::unique_ptr<CudaEmulation> kernels_;
};

int64_t value(unsigned code, int bits, bool is_signed) {
  return is_signed && code >= (1u << (bits - 1)) ? int64_t(code) - (int64_t{1} << bits)
                                                 : int64_t(code);
}

// An approximate multiplier's table: the exact products (two's complement codes when signed),
// every 7th entry off by up to 40: a 16-bit span (offset16).
Table product_table(int bits, bool is_signed, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int32_t> entries(size_t{1} << (2 * bits));
  for (unsigned x = 0; x < (1u << bits); ++x)
    for (unsigned w = 0; w < (1u << bits); ++w) {
      int64_t v = value(x, bits, is_signed) * value(w, bits, is_signed);
      if (rng() % 7 == 0) v += int64_t(rng() % 81) - 40;
      entries[(x << bits) | w] = static_cast<int32_t>(v);
    }
  return table_of(std::move(entries));
}

// A table of 32-bit span (shared32 up to 7 bits, global32 at 8): the products scaled past 2^16
// plus noise, so sums wrap modulo 2^32.
Table wide_table(int bits, bool is_signed, uint32_t seed) {
  std::mt19937 rng(seed);
  const Table product = product_table(bits, is_signed, seed);
  std::vector<int32_t> entries(product.entries.size());
  for (size_t i = 0; i < entries.size(); ++i)
    entries[i] = static_cast<int32_t>(static_cast<uint32_t>(product.entries[i]) * 2654435761u +
                                      (rng() & 0xffffff));
  entries[0] = std::numeric_limits<int32_t>::min();
  entries[1] = std::numeric_limits<int32_t>::max();
  return table_of(std::move(entries));
}

// offset16 at the int32 edges: INT32_MAX minus an approximate product (sums wrap), or every
// entry INT32_MIN (span 0, base INT32_MIN).
Table edge_table(int bits, bool is_signed, uint32_t seed, bool constant_min) {
  const Table product = product_table(bits, is_signed, seed);
  std::vector<int32_t> entries(product.entries.size());
  for (size_t i = 0; i < entries.size(); ++i)
    entries[i] = constant_min
                     ? std::numeric_limits<int32_t>::min()
                     : std::numeric_limits<int32_t>::max() - (product.entries[i] - product.min);
  return table_of(std::move(entries));
}

const char* storage_name(int storage) {
  return storage == 0 ? "offset16" : storage == 1 ? "shared32" : "global32";
}

// ---------------------------------------------------------------------------------------------
// LUT-GEMM

// One emulated launch and lut_gemm_ref per slice; C's padding keeps its sentinel.
Launched check_gemm(const CudaEmulation& kernels, const Table& table, int bits, Storage storage,
                    const GemmCase& g, const Gpu& gpu, uint32_t seed) {
  std::mt19937 rng(seed);
  const GemmOperands o(g, rng);
  const GuardedBuffer<int32_t> d_table(table.entries);
  const GuardedBuffer<uint8_t> d_a(o.a), d_b(o.b);
  const GuardedBuffer<int32_t> d_c(std::vector<int32_t>(o.c_size(g), kSentinel));
  detail::GemmParams p{};
  p.table = d_table.data();
  p.bits = bits;
  p.storage = storage;
  p.base = table.min;
  p.a = d_a.data();
  p.b = d_b.data();
  p.c = d_c.data();
  p.m = g.m;
  p.n = g.n;
  p.k = g.k;
  p.lda = o.lda;
  p.ldb = o.ldb;
  p.ldc = o.ldc;
  p.batch = g.batch;
  p.batch_stride_a = g.share_a ? 0 : o.slice_a;
  p.batch_stride_b = g.share_b ? 0 : o.slice_b;
  p.batch_stride_c = o.slice_c;
  Launched launched;
  kernels.lookup<emulated::EmulateGemm>("emulate_lut_gemm")(&p, &gpu, &launched);
  EXPECT_EQ(launched.status, 0) << "barrier divergence";

  const int64_t mismatches = test::count_mismatches(
      d_c.to_vector(), test::gemm_ref(table, bits, g, o), [&](size_t i) { return o.c_element(i); });
  EXPECT_EQ(mismatches, 0) << g.m << "x" << g.k << "x" << g.n << " batch " << g.batch << " ("
                           << storage_name(launched.storage) << ", grid " << launched.grid
                           << ", splits " << launched.splits << ")";
  return launched;
}

// A table and the storage it is launched with, and the storage the launch must end up using.
struct StorageCase {
  const char* name;
  int kind;    // 0: product_table, 1: wide_table, 2: edge_table near INT32_MAX, 3: all INT32_MIN
  int forced;  // -1: choose_storage's, else this storage requested
  int optin;   // the GPU's shared memory per block
  int expected[3];  // the storage used at bits 2, 5, 8
};

const StorageCase kStorageCases[] = {
    {"offset16", 0, -1, 232448, {0, 0, 0}},
    {"32-bit span", 1, -1, 232448, {1, 1, 2}},  // shared32 up to 7 bits, global32 at 8
    {"global32 requested", 0, 2, 232448, {2, 2, 2}},
    {"offset16 on a 99 KiB GPU", 0, -1, 101376, {0, 0, 2}},  // sm_86: the 8-bit table falls back
    {"offset16 near INT32_MAX", 2, -1, 232448, {0, 0, 0}},
    {"offset16 all INT32_MIN", 3, -1, 232448, {0, 0, 0}},
};

Table make_table(const StorageCase& sc, int bits, bool is_signed, uint32_t seed) {
  switch (sc.kind) {
    case 1:
      return wide_table(bits, is_signed, seed);
    case 2:
    case 3:
      return edge_table(bits, is_signed, seed, sc.kind == 3);
    default:
      return product_table(bits, is_signed, seed);
  }
}

TEST_F(Emulated, LutGemmEveryStorageWidthAndSignedness) {
  const GemmCase shapes[] = {{1, 1, 1},    {3, 1, 7},    {65, 33, 129}, {64, 32, 128},
                             {37, 29, 53}, {100, 70, 1}, {1, 200, 5}};
  uint32_t seed = 1;
  for (const StorageCase& sc : kStorageCases)
    for (int bi = 0; bi < 3; ++bi)
      for (const bool is_signed : {false, true}) {
        const int bits = bi == 0 ? 2 : bi == 1 ? 5 : 8;
        SCOPED_TRACE(std::string(sc.name) + ", " + std::to_string(bits) + " bits " +
                     (is_signed ? "signed" : "unsigned"));
        const Table table = make_table(sc, bits, is_signed, seed);
        const Storage storage = sc.forced >= 0 ? static_cast<Storage>(sc.forced)
                                               : detail::choose_storage(bits, table.min, table.max);
        Gpu gpu;
        gpu.optin_shared = sc.optin;
        for (const GemmCase& g : shapes) {
          const Launched launched = check_gemm(kernels(), table, bits, storage, g, gpu, seed++);
          EXPECT_EQ(launched.storage, sc.expected[bi]);
        }
      }
}

TEST_F(Emulated, LutGemmBatchesAndStrides) {
  uint32_t seed = 100;
  for (const int bits : {2, 5, 8})
    for (const bool wide : {false, true}) {
      SCOPED_TRACE(std::to_string(bits) + " bits" + (wide ? ", 32-bit span" : ""));
      const Table table = wide ? wide_table(bits, true, seed) : product_table(bits, false, seed);
      const Storage storage = detail::choose_storage(bits, table.min, table.max);
      const Gpu gpu;  // 2 slots: blocks loop over several tiles
      check_gemm(kernels(), table, bits, storage, {45, 70, 90, 1, false, false, 3}, gpu, seed++);
      check_gemm(kernels(), table, bits, storage, {45, 70, 90, 3}, gpu, seed++);
      check_gemm(kernels(), table, bits, storage, {45, 70, 90, 3, true, false, 5}, gpu, seed++);
      check_gemm(kernels(), table, bits, storage, {20, 33, 17, 4, false, true}, gpu, seed++);
      check_gemm(kernels(), table, bits, storage, {70, 40, 130, 2, true, true, 1}, gpu, seed++);
      // No work at all: nothing is launched, C keeps its sentinel.
      const Launched none = check_gemm(kernels(), table, bits, storage, {5, 7, 3, 0}, gpu, seed++);
      EXPECT_EQ(none.grid, 0);
    }
}

TEST_F(Emulated, LutGemmSplitK) {
  uint32_t seed = 200;
  for (const int bits : {2, 5, 8})
    for (const bool wide : {false, true}) {
      SCOPED_TRACE(std::to_string(bits) + " bits" + (wide ? ", 32-bit span" : ""));
      const Table table = wide ? wide_table(bits, false, seed) : product_table(bits, true, seed);
      const Storage storage = detail::choose_storage(bits, table.min, table.max);
      // Forced: 19 k steps in 3 splits of 7, 7 and 5 (the last one short of a whole step).
      Gpu forced;
      forced.splits = 3;
      EXPECT_EQ(check_gemm(kernels(), table, bits, storage, {70, 600, 50}, forced, seed++).splits,
                3);
      forced.splits = 2;
      EXPECT_EQ(check_gemm(kernels(), table, bits, storage, {30, 100, 140, 2, false, true}, forced,
                           seed++)
                    .splits,
                2);
      // Planned: one tile of depth 1000 on a GPU of 2 slots splits in two.
      const Gpu planned;
      EXPECT_EQ(check_gemm(kernels(), table, bits, storage, {64, 1000, 49}, planned, seed++).splits,
                2);
    }
}

// ---------------------------------------------------------------------------------------------
// LUT-conv

const Geometry kGeometries[] = {
    {"same3x3", 2, 3, 9, 11, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, 0},
    {"strided_dilated_groups", 3, 4, 8, 7, 6, 3, 2, 2, 2, 1, 0, 2, 1, 2, 77},
    {"depthwise1x1", 1, 6, 5, 5, 6, 1, 1, 6, 1, 1, 0, 0, 1, 1, 3},
    {"wide_out", 2, 8, 13, 10, 70, 3, 3, 1, 2, 2, 2, 2, 2, 2, 255},
    {"single", 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 0},
    {"pad_beyond_kernel", 2, 2, 3, 3, 2, 2, 2, 1, 3, 3, 3, 3, 1, 1, 200},
    {"many_columns", 3, 2, 9, 10, 4, 3, 3, 2, 1, 1, 1, 1, 1, 1, 9},
};

// One emulated launch against LutConv2d's ref impl (on the masked codes).
Launched check_conv(const CudaEmulation& kernels, const Table& table, int bits, Storage storage,
                    const Geometry& g, const Gpu& gpu, uint32_t seed) {
  SCOPED_TRACE(g.name);
  std::mt19937 rng(seed);
  const int pad_code = g.pad_code % (1 << bits);
  const ConvOperands o(g, rng);
  const test::ConvRef ref = test::conv_ref(g, table.entries, bits, pad_code, o);

  const GuardedBuffer<int32_t> d_table(table.entries);
  const GuardedBuffer<uint8_t> d_src(o.src), d_w(o.weights);
  const GuardedBuffer<int32_t> d_dst(std::vector<int32_t>(ref.dst.size(), kSentinel));
  detail::ConvParams p{};
  p.table = d_table.data();
  p.bits = bits;
  p.storage = storage;
  p.base = table.min;
  p.pad_code = pad_code;
  p.src = d_src.data();
  p.weights = d_w.data();
  p.dst = d_dst.data();
  test::copy_conv_geometry(g, p);
  p.out_h = ref.out_h;
  p.out_w = ref.out_w;
  Launched launched;
  kernels.lookup<emulated::EmulateConv>("emulate_lut_conv2d")(&p, &gpu, &launched);
  EXPECT_EQ(launched.status, 0) << "barrier divergence";
  const int64_t mismatches = test::count_mismatches(
      d_dst.to_vector(), ref.dst, [](size_t i) { return "dst[" + std::to_string(i) + "]"; });
  EXPECT_EQ(mismatches, 0) << "(" << storage_name(launched.storage) << ", grid " << launched.grid
                           << ", splits " << launched.splits << ")";
  return launched;
}

TEST_F(Emulated, LutConvGeometriesEveryStorageAndWidth) {
  uint32_t seed = 300;
  for (const StorageCase& sc : kStorageCases)
    for (int bi = 0; bi < 3; ++bi) {
      const int bits = bi == 0 ? 2 : bi == 1 ? 5 : 8;
      const bool is_signed = bi != 1;
      SCOPED_TRACE(std::string(sc.name) + ", " + std::to_string(bits) + " bits");
      const Table table = make_table(sc, bits, is_signed, seed);
      const Storage storage = sc.forced >= 0 ? static_cast<Storage>(sc.forced)
                                             : detail::choose_storage(bits, table.min, table.max);
      Gpu gpu;
      gpu.optin_shared = sc.optin;
      for (const Geometry& g : kGeometries)
        EXPECT_EQ(check_conv(kernels(), table, bits, storage, g, gpu, seed++).storage,
                  sc.expected[bi]);
    }
}

TEST_F(Emulated, LutConvSplitK) {
  // K = 16 x 3 x 3 = 144 (per group too): 5 k steps, forced into 2 and 3 splits. Planned:
  // K = 64 x 3 x 3 = 576, 18 steps, one tile on a GPU of 2 slots splits in two.
  const Geometry deep = {"deep", 1, 16, 6, 5, 10, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1};
  const Geometry deep_groups = {"deep_groups", 2, 32, 4, 5, 6, 3, 3, 2, 1, 1, 1, 1, 1, 1, 5};
  const Geometry planned_geometry = {"planned", 1, 64, 5, 5, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 2};
  uint32_t seed = 400;
  for (const int bits : {2, 5, 8})
    for (const bool wide : {false, true}) {
      SCOPED_TRACE(std::to_string(bits) + " bits" + (wide ? ", 32-bit span" : ""));
      const Table table = wide ? wide_table(bits, true, seed) : product_table(bits, false, seed);
      const Storage storage = detail::choose_storage(bits, table.min, table.max);
      for (const int64_t splits : {2, 3}) {
        Gpu gpu;
        gpu.splits = splits;
        EXPECT_EQ(check_conv(kernels(), table, bits, storage, deep, gpu, seed++).splits, splits);
        EXPECT_EQ(check_conv(kernels(), table, bits, storage, deep_groups, gpu, seed++).splits,
                  splits);
      }
      EXPECT_EQ(check_conv(kernels(), table, bits, storage, planned_geometry, Gpu{}, seed++).splits,
                2);
    }
}

// ---------------------------------------------------------------------------------------------
// MADDness

TEST_F(Emulated, MaddnessEncodeMatchesRef) {
  std::mt19937 rng(500);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (const int depth : {1, 2, 3, 4})
    for (const int64_t c : {1, 5, 16}) {
      SCOPED_TRACE("depth " + std::to_string(depth) + ", c " + std::to_string(c));
      const int64_t n = 301, d = 9, ldx = d + 2, ldcodes = c + 3;
      const int64_t nodes = (int64_t{1} << depth) - 1;
      // Column d of each row is NaN: the kernel reads a split column outside [0, d) as NaN, the
      // ref (which needs valid columns) sees the same through d + 1 columns.
      std::vector<float> x(size_t(n * ldx));
      for (float& v : x) v = normal(rng);
      for (int64_t i = 0; i < n; ++i) {
        x[size_t(i * ldx + d)] = std::nanf("");
        if (i % 7 == 0) x[size_t(i * ldx + i % d)] = std::nanf("");  // NaN rows go left
      }
      std::vector<int32_t> dims(size_t(c * depth));
      for (int32_t& v : dims) v = static_cast<int32_t>(rng() % (d + 1));  // d: outside the row
      std::vector<float> thresholds(size_t(c * nodes));
      for (float& v : thresholds) v = normal(rng);

      MaddnessEncoderDesc desc;
      desc.d = d + 1;
      desc.c = c;
      desc.depth = depth;
      desc.split_dims = dims;
      desc.thresholds = thresholds;
      std::vector<uint8_t> want(size_t(n * ldcodes), 0xee);
      maddness_encode_ref(desc, x.data(), n, ldx, want.data(), ldcodes);

      const GuardedBuffer<float> d_x(x);
      const GuardedBuffer<int32_t> d_dims(dims);
      const GuardedBuffer<float> d_thresholds(thresholds);
      const GuardedBuffer<uint8_t> d_codes(std::vector<uint8_t>(want.size(), 0xee));
      detail::EncodeParams p{};
      p.x = d_x.data();
      p.n = n;
      p.d = d;
      p.c = c;
      p.ldx = ldx;
      p.ldcodes = ldcodes;
      p.depth = depth;
      p.split_dims = d_dims.data();
      p.thresholds = d_thresholds.data();
      p.codes = d_codes.data();
      const Gpu gpu;
      Launched launched;
      kernels().lookup<emulated::EmulateEncode>("emulate_maddness_encode")(&p, &gpu, &launched);
      EXPECT_EQ(launched.status, 0);
      EXPECT_EQ(d_codes.to_vector(), want);
    }
}

TEST_F(Emulated, MaddnessDecodeMatchesRef) {
  std::mt19937 rng(600);
  struct Case {
    int64_t n, c, m;
    int levels;  // -1: fp32
  };
  const Case cases[] = {{130, 32, 45, 0}, {130, 32, 45, 1},  {130, 32, 45, 2}, {130, 32, 45, 3},
                        {130, 32, 45, 4}, {70, 20, 33, 0},   {70, 20, 33, 2},  {1, 8, 1, 3},
                        {65, 48, 70, 4},  {130, 37, 45, -1}, {1, 1, 1, -1},    {64, 17, 32, -1}};
  for (const Case& cs : cases) {
    SCOPED_TRACE("n " + std::to_string(cs.n) + ", c " + std::to_string(cs.c) + ", m " +
                 std::to_string(cs.m) + ", levels " + std::to_string(cs.levels));
    const bool fp32 = cs.levels < 0;
    const int64_t ldcodes = cs.c + 1, ldd = cs.n + 2;
    const std::vector<uint8_t> codes = random_codes(size_t(cs.n * ldcodes), rng);  // & 15
    const size_t entries = size_t(cs.c * 16 * cs.m);
    std::vector<int8_t> lut8(entries);
    for (int8_t& v : lut8) v = static_cast<int8_t>(rng());
    // Magnitudes from 2^-20 to 2^20: the sum depends on the order of the additions.
    std::vector<float> lut32(entries);
    for (float& v : lut32)
      v = std::ldexp(float(rng() % 2000) / 1000.0f - 1.0f, int(rng() % 41) - 20);

    MaddnessDecoderDesc desc;
    desc.c = cs.c;
    desc.m = cs.m;
    if (fp32)
      desc.lut_fp32 = lut32;
    else
      desc.lut_int8 = lut8;
    desc.average_levels = fp32 ? 0 : cs.levels;
    const size_t out = size_t(cs.m * ldd);
    std::vector<int32_t> want_i(out, kSentinel);
    std::vector<float> want_f(out, -7.0f);

    const GuardedBuffer<uint8_t> d_codes(codes);
    const GuardedBuffer<int8_t> d_lut8(lut8);
    const GuardedBuffer<float> d_lut32(lut32);
    const GuardedBuffer<int32_t> d_dst_i(want_i);
    const GuardedBuffer<float> d_dst_f(want_f);
    detail::DecodeParams p{};
    p.codes = d_codes.data();
    p.n = cs.n;
    p.c = cs.c;
    p.m = cs.m;
    p.ldcodes = ldcodes;
    p.ldd = ldd;
    p.lut_int8 = fp32 ? nullptr : d_lut8.data();
    p.lut_fp32 = fp32 ? d_lut32.data() : nullptr;
    p.average_levels = desc.average_levels;
    p.dst_int32 = fp32 ? nullptr : d_dst_i.data();
    p.dst_fp32 = fp32 ? d_dst_f.data() : nullptr;
    const Gpu gpu;
    Launched launched;
    kernels().lookup<emulated::EmulateDecode>("emulate_maddness_decode")(&p, &gpu, &launched);
    EXPECT_EQ(launched.status, 0);
    if (fp32) {
      maddness_decode_ref(desc, codes.data(), cs.n, ldcodes, want_f.data(), ldd);
      EXPECT_EQ(test::count_mismatches(d_dst_f.to_vector(), want_f,
                                       [](size_t i) { return "dst[" + std::to_string(i) + "]"; }),
                0);
    } else {
      maddness_decode_ref(desc, codes.data(), cs.n, ldcodes, want_i.data(), ldd);
      EXPECT_EQ(d_dst_i.to_vector(), want_i);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The emulation catches races

// Removes the `nth` (0-based) "__syncthreads();" of `text`.
std::string remove_barrier(std::string text, int nth) {
  const std::string barrier = "__syncthreads();";
  size_t at = text.find(barrier);
  for (int i = 0; i < nth && at != std::string::npos; ++i) at = text.find(barrier, at + 1);
  AXNN_CHECK(at != std::string::npos, "no barrier #{}", nth);
  text.erase(at, barrier.size());
  return text;
}

// Every barrier of the tile engine is needed, and the emulation shows it: without any one of the
// four, the convolution (several tiles per block, several k steps) computes a wrong result.
TEST(EmulatedRace, EveryBarrierOfTheTileEngineIsNeeded) {
  if (!find_program("c++")) GTEST_SKIP() << "no c++ compiler to build the emulation";
  const Geometry g = {"racy", 2, 8, 9, 10, 70, 3, 3, 1, 1, 1, 1, 1, 1, 1, 3};  // K = 72: 3 steps
  const Table table = product_table(5, true, 7);
  const Storage storage = detail::choose_storage(5, table.min, table.max);
  Gpu gpu;
  gpu.multiprocessors = 3;  // 2 x 2 tiles on 3 blocks: block 0 takes tiles 0 and 3 (other columns)
  for (int nth = 0; nth < 4; ++nth) {
    SCOPED_TRACE("without barrier #" + std::to_string(nth) + " of lut_tile.cuh");
    const std::unique_ptr<CudaEmulation> racy =
        build_kernels([nth](const std::string& name, std::string text) {
          return name == "lut_tile.cuh" ? remove_barrier(std::move(text), nth) : text;
        });
    // Unwritten stages read as offset 0 (a valid lookup), not as wild 0xa5a5a5a5 offsets that
    // would crash the test instead of failing it.
    racy->lookup<void(int)>("emulate_poison_shared")(0);
    // check_conv reports the mismatches as failures: collect them instead.
    ::testing::TestPartResultArray failures;
    {
      ::testing::ScopedFakeTestPartResultReporter reporter(
          ::testing::ScopedFakeTestPartResultReporter::INTERCEPT_ONLY_CURRENT_THREAD, &failures);
      check_conv(*racy, table, 5, storage, g, gpu, 11);
    }
    EXPECT_GT(failures.size(), 0) << "the race went unnoticed";
  }
}

// The MADDness decoder's two barriers per chunk of 16 codebooks, likewise.
TEST(EmulatedRace, EveryBarrierOfTheDecoderIsNeeded) {
  if (!find_program("c++")) GTEST_SKIP() << "no c++ compiler to build the emulation";
  for (int nth = 0; nth < 2; ++nth) {
    SCOPED_TRACE("without barrier #" + std::to_string(nth) + " of maddness_kernel.cuh");
    const std::unique_ptr<CudaEmulation> racy =
        build_kernels([nth](const std::string& name, std::string text) {
          return name == "maddness_kernel.cuh" ? remove_barrier(std::move(text), nth) : text;
        });
    std::mt19937 rng(700);
    const int64_t n = 200, c = 48, m = 70;  // 3 chunks of 16 codebooks, 4 x 3 tiles
    const std::vector<uint8_t> codes = random_codes(size_t(n * c), rng);
    std::vector<int8_t> lut(size_t(c * 16 * m));
    for (int8_t& v : lut) v = static_cast<int8_t>(rng());
    MaddnessDecoderDesc desc;
    desc.c = c;
    desc.m = m;
    desc.lut_int8 = lut;
    std::vector<int32_t> want(size_t(m * n));
    maddness_decode_ref(desc, codes.data(), n, c, want.data(), n);
    const GuardedBuffer<uint8_t> d_codes(codes);
    const GuardedBuffer<int8_t> d_lut(lut);
    const GuardedBuffer<int32_t> d_dst(std::vector<int32_t>(want.size(), kSentinel));
    detail::DecodeParams p{};
    p.codes = d_codes.data();
    p.n = n;
    p.c = c;
    p.m = m;
    p.ldcodes = c;
    p.ldd = n;
    p.lut_int8 = d_lut.data();
    p.dst_int32 = d_dst.data();
    Gpu gpu;
    gpu.multiprocessors = 1;  // 8 blocks for 12 tiles: blocks loop
    Launched launched;
    racy->lookup<emulated::EmulateDecode>("emulate_maddness_decode")(&p, &gpu, &launched);
    EXPECT_EQ(launched.status, 0);
    EXPECT_NE(d_dst.to_vector(), want);
  }
}

}  // namespace
}  // namespace axnn::kernels::cuda
