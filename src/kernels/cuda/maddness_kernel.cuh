// The MADDness encode and decode kernels (maddness_cuda.cu describes them) and their launch
// geometry as plain functions. Included by maddness_cuda.cu and by the host emulation
// (tests/cuda/emulated), which launches the same templates with the same geometry.
#pragma once

#include <cstdint>

#include "kernels/cuda/lut_cuda_params.h"

namespace axnn::kernels::cuda::detail {
namespace {  // internal linkage, as in the one .cu file that includes it

constexpr int kLeaves = 16;
constexpr int kDecodeThreads = 256;
constexpr int kDecodeCols = 64;    // n per tile
constexpr int kDecodeRows = 32;    // m per tile
constexpr int kRowsPerThread = 8;  // kDecodeRows * kDecodeCols / kDecodeThreads
constexpr int kChunk = 16;         // codebooks staged at a time
static_assert(kDecodeRows * kDecodeCols / kDecodeThreads == kRowsPerThread, "tile layout");

// A grid-stride loop over `work` blocks' worth of items on a GPU of `sms` multiprocessors:
// at most per_sm blocks per multiprocessor, at least one block.
inline int persistent_grid(int64_t work, int64_t per_sm, int sms) {
  const int64_t cap = int64_t{sms} * per_sm;
  return static_cast<int>(work < cap ? (work < 1 ? 1 : work) : cap);
}

inline int encode_grid(const EncodeParams& p, int sms) {
  return persistent_grid((p.n * p.c + 255) / 256, 32, sms);
}

inline int decode_grid(const DecodeParams& p, int sms) {
  const int64_t tiles =
      ((p.n + kDecodeCols - 1) / kDecodeCols) * ((p.m + kDecodeRows - 1) / kDecodeRows);
  return persistent_grid(tiles, 8, sms);
}

__global__ void maddness_encode_kernel(const EncodeParams p) {
  const int64_t total = p.n * p.c;
  const int64_t nodes = (int64_t{1} << p.depth) - 1;
  for (int64_t idx = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; idx < total;
       idx += int64_t{gridDim.x} * blockDim.x) {
    const int64_t row = idx / p.c, c = idx % p.c;
    const float* x = p.x + row * p.ldx;
    int64_t node = 0;
    for (int l = 0; l < p.depth; ++l) {
      const int32_t dim = __ldg(p.split_dims + c * p.depth + l);
      const float v = dim >= 0 && dim < p.d ? __ldg(x + dim) : __int_as_float(0x7fc00000);
      node = 2 * node + 1 + (v > __ldg(p.thresholds + c * nodes + node) ? 1 : 0);
    }
    p.codes[row * p.ldcodes + c] = static_cast<uint8_t>(node - nodes);
  }
}

template <bool kFp32>
struct Entry;
template <>
struct Entry<false> {
  using type = int8_t;
};
template <>
struct Entry<true> {
  using type = float;
};

// The 8 entries of this thread's rows in table row (codebook cc of the chunk, leaf `code`).
__device__ __forceinline__ void read_entries(const int8_t* lut_s, int cc, int code, int rg,
                                             int (&e)[kRowsPerThread]) {
  const uint2 v = *reinterpret_cast<const uint2*>(lut_s + (cc * kLeaves + code) * kDecodeRows +
                                                  rg * kRowsPerThread);
#pragma unroll
  for (int r = 0; r < 4; ++r) {
    e[r] = static_cast<int8_t>((v.x >> (8 * r)) & 0xff);
    e[r + 4] = static_cast<int8_t>((v.y >> (8 * r)) & 0xff);
  }
}

template <int kLevels, bool kFp32>
__global__ void __launch_bounds__(kDecodeThreads) maddness_decode_kernel(const DecodeParams p) {
  using T = typename Entry<kFp32>::type;
  __shared__ uint8_t codes_s[kChunk][kDecodeCols];
  __shared__ __align__(16) T lut_s[kChunk * kLeaves * kDecodeRows];
  constexpr int kGroup = 1 << kLevels;
  const int tid = threadIdx.x;
  const int col = tid % kDecodeCols, rg = tid / kDecodeCols;
  const int64_t tiles_n = (p.n + kDecodeCols - 1) / kDecodeCols;
  const int64_t tiles_m = (p.m + kDecodeRows - 1) / kDecodeRows;
  const T* lut =
      kFp32 ? reinterpret_cast<const T*>(p.lut_fp32) : reinterpret_cast<const T*>(p.lut_int8);

  for (int64_t tile = blockIdx.x; tile < tiles_n * tiles_m; tile += gridDim.x) {
    const int64_t n0 = (tile % tiles_n) * kDecodeCols, m0 = (tile / tiles_n) * kDecodeRows;
    float sum_f[kRowsPerThread];
    int sum_i[kRowsPerThread];
#pragma unroll
    for (int r = 0; r < kRowsPerThread; ++r) {
      sum_f[r] = 0.0f;
      sum_i[r] = 0;
    }
    for (int64_t c0 = 0; c0 < p.c; c0 += kChunk) {
      const int count = static_cast<int>(p.c - c0 < kChunk ? p.c - c0 : kChunk);
      __syncthreads();  // the previous chunk's readers are done
      for (int e = tid; e < kChunk * kDecodeCols; e += kDecodeThreads) {
        const int cc = e % kChunk, i = e / kChunk;
        const int64_t n = n0 + i;
        codes_s[cc][i] = cc < count && n < p.n ? __ldg(p.codes + n * p.ldcodes + c0 + cc) & 15 : 0;
      }
      for (int e = tid; e < count * kLeaves * kDecodeRows; e += kDecodeThreads) {
        const int j = e % kDecodeRows, row = e / kDecodeRows;  // row = cc * 16 + leaf
        const int64_t m = m0 + j;
        lut_s[e] = m < p.m ? lut[(c0 * kLeaves + row) * p.m + m] : T(0);
      }
      __syncthreads();
      if constexpr (kFp32) {
        for (int cc = 0; cc < count; ++cc) {
          const int code = codes_s[cc][col];
          const float4* v = reinterpret_cast<const float4*>(
              lut_s + (cc * kLeaves + code) * kDecodeRows + rg * kRowsPerThread);
          const float4 lo = v[0], hi = v[1];
          const float e[kRowsPerThread] = {lo.x, lo.y, lo.z, lo.w, hi.x, hi.y, hi.z, hi.w};
#pragma unroll
          for (int r = 0; r < kRowsPerThread; ++r) sum_f[r] = __fadd_rn(sum_f[r], e[r]);
        }
      } else if constexpr (kLevels == 0) {
        for (int cc = 0; cc < count; ++cc) {
          int e[kRowsPerThread];
          read_entries(reinterpret_cast<const int8_t*>(lut_s), cc, codes_s[cc][col], rg, e);
#pragma unroll
          for (int r = 0; r < kRowsPerThread; ++r) sum_i[r] += e[r];
        }
      } else {
        // Each group's tree, leaf by leaf: pending[l] holds the finished left subtree at level l
        // until its right sibling completes (leaf t closes one subtree per trailing 1 bit of t),
        // so the pairs and their order are those of the ref's level-by-level reduction.
        for (int g = 0; g < count; g += kGroup) {
          int pending[kLevels][kRowsPerThread];
#pragma unroll
          for (int t = 0; t < kGroup; ++t) {
            int v[kRowsPerThread];
            read_entries(reinterpret_cast<const int8_t*>(lut_s), g + t, codes_s[g + t][col], rg, v);
#pragma unroll
            for (int r = 0; r < kRowsPerThread; ++r) v[r] += 128;
            int level = 0;
#pragma unroll
            for (; level < kLevels && ((t >> level) & 1); ++level)
#pragma unroll
              for (int r = 0; r < kRowsPerThread; ++r) v[r] = (pending[level][r] + v[r] + 1) >> 1;
            if (level < kLevels) {
#pragma unroll
              for (int r = 0; r < kRowsPerThread; ++r) pending[level][r] = v[r];
            } else {  // t = 2^L - 1: the root
#pragma unroll
              for (int r = 0; r < kRowsPerThread; ++r) sum_i[r] += v[r];
            }
          }
        }
      }
    }
    const int64_t n = n0 + col;
    if (n < p.n) {
#pragma unroll
      for (int r = 0; r < kRowsPerThread; ++r) {
        const int64_t m = m0 + rg * kRowsPerThread + r;
        if (m >= p.m) continue;
        if constexpr (kFp32) {
          p.dst_fp32[m * p.ldd + n] = sum_f[r];
        } else if constexpr (kLevels == 0) {
          p.dst_int32[m * p.ldd + n] = sum_i[r];
        } else {
          // 2^L * sum of averages (each <= 255) - 128 C: |value| < 2^25 for C <= 2^16.
          p.dst_int32[m * p.ldd + n] = kGroup * sum_i[r] - 128 * static_cast<int>(p.c);
        }
      }
    }
  }
}

}  // namespace
}  // namespace axnn::kernels::cuda::detail
