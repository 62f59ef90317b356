// MADDness encode and decode on the GPU, bit-exact to maddness_encode_ref / maddness_decode_ref
// (maddness.h has the contracts).
//
// Encode. One thread per (row, codebook), a grid-stride loop over all n x c of them: the thread
// walks its codebook's tree from the root, comparing column split_dims[c][l] of its row with the
// threshold of the node reached (x > t goes right; NaN compares false and goes left), and writes
// the leaf index. A split column outside [0, d) (the host cannot check device memory) reads as NaN.
//
// Decode. dst [M][N] (row stride ldd) = sum over codebooks of lut[c][code[n][c]][m]. A block of
// 256 threads owns a tile of 32 output rows (m) x 64 output columns (n): thread t computes column
// t % 64 at the 8 rows (t / 64) * 8 .. + 7, so consecutive threads store consecutive columns.
// Codebooks are taken 16 at a time: their codes for the tile's 64 columns (masked to 4 bits) and
// their table rows for the tile's 32 rows ([16][16 leaves][32], int8 or fp32) are staged in shared
// memory, then each thread reads, per codebook, its code and the 8 entries of its rows (one 8-byte
// load for int8, two 16-byte loads for fp32). int8 entries are summed exactly in int32; with the
// averaging trick (kLevels = L > 0) each group of 2^L consecutive codebooks (a group never spans
// two chunks: 16 is a multiple of 2^L, and so is c) is reduced as maddness.h says, by the binary
// tree of rounding-up averages of u = e + 128, and dst = 2^L * sum of the groups' averages - 128 C.
// fp32 entries are added with __fadd_rn (never contracted, never reordered) in codebook order
// c = 0 .. C - 1 starting from 0.0f, as the ref does. Tiles are spread over a grid-stride loop.
#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/cuda/lut_cuda_launch.h"

namespace axnn::kernels::cuda::detail {
namespace {

constexpr int kLeaves = 16;
constexpr int kDecodeThreads = 256;
constexpr int kDecodeCols = 64;    // n per tile
constexpr int kDecodeRows = 32;    // m per tile
constexpr int kRowsPerThread = 8;  // kDecodeRows * kDecodeCols / kDecodeThreads
constexpr int kChunk = 16;         // codebooks staged at a time
static_assert(kDecodeRows * kDecodeCols / kDecodeThreads == kRowsPerThread, "tile layout");

int grid_for(int64_t work, int64_t per_sm) {
  int device = 0, sms = 1;
  if (cudaGetDevice(&device) != cudaSuccess ||
      cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device) != cudaSuccess)
    sms = 1;
  const int64_t cap = int64_t{sms} * per_sm;
  return static_cast<int>(work < cap ? (work < 1 ? 1 : work) : cap);
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

cudaError_t launch_maddness_encode(const EncodeParams& p, cudaStream_t stream) {
  if (p.n == 0) return cudaSuccess;
  const int64_t blocks = (p.n * p.c + 255) / 256;
  maddness_encode_kernel<<<grid_for(blocks, 32), 256, 0, stream>>>(p);
  return cudaGetLastError();
}

cudaError_t launch_maddness_decode(const DecodeParams& p, cudaStream_t stream) {
  if (p.n == 0) return cudaSuccess;
  const int64_t tiles =
      ((p.n + kDecodeCols - 1) / kDecodeCols) * ((p.m + kDecodeRows - 1) / kDecodeRows);
  const int grid = grid_for(tiles, 8);
  if (p.lut_fp32 != nullptr) {
    maddness_decode_kernel<0, true><<<grid, kDecodeThreads, 0, stream>>>(p);
  } else {
    switch (p.average_levels) {
      case 0:
        maddness_decode_kernel<0, false><<<grid, kDecodeThreads, 0, stream>>>(p);
        break;
      case 1:
        maddness_decode_kernel<1, false><<<grid, kDecodeThreads, 0, stream>>>(p);
        break;
      case 2:
        maddness_decode_kernel<2, false><<<grid, kDecodeThreads, 0, stream>>>(p);
        break;
      case 3:
        maddness_decode_kernel<3, false><<<grid, kDecodeThreads, 0, stream>>>(p);
        break;
      case 4:
        maddness_decode_kernel<4, false><<<grid, kDecodeThreads, 0, stream>>>(p);
        break;
      default:
        return cudaErrorInvalidValue;
    }
  }
  return cudaGetLastError();
}

}  // namespace axnn::kernels::cuda::detail
