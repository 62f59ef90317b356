// The cases and CPU references shared by the GPU tests of the CUDA kernels (tests/cuda) and their
// host-emulated twins (tests/cuda/emulated): tables, random codes, GEMM operands and conv
// geometries, the refs they are checked against, and the report of mismatching elements. Host
// code only (no CUDA header), so that the emulated tests build without CUDA.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "kernels/lut_conv.h"
#include "kernels/lut_gemm.h"

namespace axnn::test {

// What outputs start as, so that an element the kernel should not write shows.
inline constexpr int32_t kSentinel = 0x5a5a5a5a;

struct Table {
  std::vector<int32_t> entries;
  int32_t min = 0, max = 0;
};

inline Table table_of(std::vector<int32_t> entries) {
  Table t;
  t.min = *std::min_element(entries.begin(), entries.end());
  t.max = *std::max_element(entries.begin(), entries.end());
  t.entries = std::move(entries);
  return t;
}

enum class TableKind {
  kRandom16,   // uniform in [-32768, 32767]: offset16
  kExtremes,   // every entry INT32_MIN or INT32_MAX: shared32 (bits <= 7) or global32
  kConstMin,   // every entry INT32_MIN: offset16 with span 0, base INT32_MIN
  kNearMax,    // INT32_MAX - [0, 65535]: offset16, sums wrap modulo 2^32
  kWide,       // uniform int32: shared32 / global32, sums wrap
  kSpan65535,  // offset16 at its boundary (entries 0 and 65535 present)
  kSpan65536,  // just past it (entries -1 and 65535 present)
};

inline std::string kind_name(TableKind kind) {
  switch (kind) {
    case TableKind::kRandom16:
      return "random16";
    case TableKind::kExtremes:
      return "extremes";
    case TableKind::kConstMin:
      return "const_min";
    case TableKind::kNearMax:
      return "near_max";
    case TableKind::kWide:
      return "wide";
    case TableKind::kSpan65535:
      return "span65535";
    case TableKind::kSpan65536:
      return "span65536";
  }
  return "?";
}

inline Table make_table(TableKind kind, int bits, uint32_t seed) {
  constexpr int32_t kMin = std::numeric_limits<int32_t>::min();
  constexpr int32_t kMax = std::numeric_limits<int32_t>::max();
  std::mt19937 rng(seed);
  std::vector<int32_t> entries(size_t{1} << (2 * bits));
  for (int32_t& v : entries) {
    switch (kind) {
      case TableKind::kRandom16:
        v = static_cast<int32_t>(rng() % 65536) - 32768;
        break;
      case TableKind::kExtremes:
        v = rng() % 2 ? kMax : kMin;
        break;
      case TableKind::kConstMin:
        v = kMin;
        break;
      case TableKind::kNearMax:
        v = kMax - static_cast<int32_t>(rng() % 65536);
        break;
      case TableKind::kWide:
        v = static_cast<int32_t>(rng());
        break;
      case TableKind::kSpan65535:
        v = static_cast<int32_t>(rng() % 65536);
        break;
      case TableKind::kSpan65536:
        v = static_cast<int32_t>(rng() % 65537) - 1;
        break;
    }
  }
  if (kind == TableKind::kSpan65535) {
    entries.front() = 0;
    entries.back() = 65535;
  }
  if (kind == TableKind::kSpan65536) {
    entries.front() = -1;
    entries.back() = 65535;
  }
  return table_of(std::move(entries));
}

// Codes with random garbage above the low bits: the kernels must mask them.
inline std::vector<uint8_t> random_codes(size_t count, std::mt19937& rng) {
  std::vector<uint8_t> codes(count);
  for (uint8_t& c : codes) c = static_cast<uint8_t>(rng());
  return codes;
}

// Reports the first three elements whose bits differ (each named by `where(i)`); returns how
// many differ.
template <class T, class Where>
int64_t count_mismatches(const std::vector<T>& got, const std::vector<T>& want, Where&& where) {
  if (got.size() != want.size()) {
    ADD_FAILURE() << got.size() << " elements, expected " << want.size();
    return static_cast<int64_t>(std::max(got.size(), want.size()));
  }
  int64_t mismatches = 0;
  for (size_t i = 0; i < got.size(); ++i)
    if (std::memcmp(&got[i], &want[i], sizeof(T)) != 0 && mismatches++ < 3)
      ADD_FAILURE() << where(i) << " = " << got[i] << ", expected " << want[i];
  return mismatches;
}

// ---- LUT-GEMM

struct GemmCase {
  int64_t m, k, n;
  int64_t batch = 1;
  bool share_a = false, share_b = false;
  int64_t pad = 0;  // extra elements per row of A, B and C
};

// A batch of random A and B for `g`, with their leading dimensions and slice sizes.
struct GemmOperands {
  int64_t lda, ldb, ldc, slice_a, slice_b, slice_c;
  std::vector<uint8_t> a, b;

  GemmOperands(const GemmCase& g, std::mt19937& rng)
      : lda(g.k + g.pad), ldb(g.n + g.pad), ldc(g.n + g.pad) {
    slice_a = g.m * lda;
    slice_b = g.k * ldb;
    slice_c = g.m * ldc;
    a = random_codes(size_t(slice_a * (g.share_a ? 1 : g.batch)), rng);
    b = random_codes(size_t(slice_b * (g.share_b ? 1 : g.batch)), rng);
  }
  size_t c_size(const GemmCase& g) const { return size_t(slice_c * g.batch); }
  // Element i of C, as "C[slice][row][column]".
  std::string c_element(size_t i) const {
    return "C[slice " + std::to_string(i / slice_c) + "][" + std::to_string(i % slice_c / ldc) +
           "][" + std::to_string(i % ldc) + "]";
  }
};

// lut_gemm_ref per slice; C's padding keeps the sentinel.
inline std::vector<int32_t> gemm_ref(const Table& table, int bits, const GemmCase& g,
                                     const GemmOperands& o) {
  std::vector<int32_t> want(o.c_size(g), kSentinel);
  for (int64_t i = 0; i < g.batch; ++i)
    kernels::lut_gemm_ref(table.entries, bits, o.a.data() + (g.share_a ? 0 : i * o.slice_a),
                          o.b.data() + (g.share_b ? 0 : i * o.slice_b), want.data() + i * o.slice_c,
                          g.m, g.k, g.n, o.lda, o.ldb, o.ldc);
  return want;
}

// ---- LUT-conv

struct Geometry {
  const char* name;
  int64_t batch, channels, height, width, out_channels, kh, kw, groups;
  int64_t stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w;
  int pad_code;  // taken modulo 2^bits
};

// The geometry fields shared by Geometry, LutConv2dArgs, LutConv2dDesc and ConvParams.
template <class From, class To>
void copy_conv_geometry(const From& g, To& to) {
  to.batch = g.batch;
  to.channels = g.channels;
  to.height = g.height;
  to.width = g.width;
  to.out_channels = g.out_channels;
  to.kh = g.kh;
  to.kw = g.kw;
  to.groups = g.groups;
  to.stride_h = g.stride_h;
  to.stride_w = g.stride_w;
  to.pad_h = g.pad_h;
  to.pad_w = g.pad_w;
  to.dilation_h = g.dilation_h;
  to.dilation_w = g.dilation_w;
}

// Random source and weight codes for `g` (garbage above the low bits too).
struct ConvOperands {
  std::vector<uint8_t> src, weights;

  ConvOperands(const Geometry& g, std::mt19937& rng)
      : src(random_codes(size_t(g.batch * g.channels * g.height * g.width), rng)),
        weights(random_codes(size_t(g.out_channels * (g.channels / g.groups) * g.kh * g.kw), rng)) {
  }
};

struct ConvRef {
  int64_t out_h, out_w;
  std::vector<int32_t> dst;
};

// LutConv2d forced to its ref impl, on the codes masked as the kernels mask them.
inline ConvRef conv_ref(const Geometry& g, const std::vector<int32_t>& table, int bits,
                        int pad_code, const ConvOperands& o) {
  std::vector<uint8_t> src_masked(o.src), w_masked(o.weights);
  for (uint8_t& c : src_masked) c &= (1u << bits) - 1;
  for (uint8_t& c : w_masked) c &= (1u << bits) - 1;
  kernels::LutConv2dDesc desc;
  copy_conv_geometry(g, desc);
  desc.table = table;
  desc.bits = bits;
  desc.weights = w_masked.data();
  desc.pad_code = pad_code;
  desc.isa = Isa::kRef;
  const kernels::LutConv2d conv = kernels::LutConv2d::create(desc);
  ConvRef ref{conv.out_height(), conv.out_width(), {}};
  ref.dst.assign(size_t(g.batch * g.out_channels * ref.out_h * ref.out_w), kSentinel);
  conv.run(src_masked.data(), ref.dst.data(), 1);
  return ref;
}

}  // namespace axnn::test
