// The block-tile engine shared by the LUT-GEMM and LUT-conv kernels (lut_gemm_cuda.cu,
// lut_conv_cuda.cu): C[m][n] = sum_k table[A[m][k]][B[k][n]] with uint32 accumulation.
//
// Work. The output of every slice (a GEMM batch slice, a convolution group) is cut into block
// tiles of kTileM x kTileN = 64 x 128 outputs; the reduction of a tile may be split in `splits`
// ranges of whole kTileK = 32 steps when there are too few tiles to fill the GPU (plan_work; each
// split adds its partial sum into the zeroed output with a 32-bit atomicAdd, which wraps modulo
// 2^32 exactly as the sequential sum does, so the result is the same bits). The grid is at most
// as many blocks as fit on the GPU at once (persistent blocks): block b takes tiles b, b + grid,
// ..., so the table is loaded into shared memory once per block and amortised over its tiles.
// Tile t is (slice, split, tm, tn) with tn fastest, so neighbouring blocks share rows of A.
//
// Threads. 256 threads as 16 x 16; thread (ty, tx) owns the 4 x 8 outputs rows ty*4 + i (i < 4)
// and columns tx*4 + j, 64 + tx*4 + j (j < 4), accumulated in 32 registers.
//
// Staging. Per k step of 32, the A tile [32][64] and the B tile [32][128] are loaded from global
// memory into registers (one code per load, masked to the low `bits` bits) while the previous step
// computes, then stored into shared memory as byte offsets into the table: a_s[k][m] = (a << bits)
// * entry_bytes and b_s[k][n] = b * entry_bytes, so that each lookup is one integer add and one
// load. Thread t stages A column m = t % 64 at rows k = t / 64 + 4 i, B column n = t % 128 at rows
// k = t / 128 + 2 i: consecutive threads write consecutive shared words (no bank conflicts). The
// compute step reads 4 A offsets (one 16-byte load, broadcast within the warp) and 8 B offsets
// (two 16-byte loads, contiguous over the half-warp) per k and does the 32 lookups.
//
// Table storage (Storage): kOffset16 keeps entry - base as uint16 in shared memory (128 KiB for
// 8 bits) and adds (k_end - k_begin) * base back to each output modulo 2^32; kShared32 keeps the
// int32 entries (at most 64 KiB: bits <= 7); kGlobal32 reads the int32 table from global memory
// through the read-only (L1) cache, for an 8-bit table whose span exceeds 16 bits.
//
// The operand policy Op (GemmOp, ConvOp) says where a tile's A and B codes come from and where
// its outputs go; the convolution's B is the implicit im2col matrix, gathered on the fly.
//
// No CUDA header: the built-ins come from nvcc (the .cu files) or from the host emulation
// (tests/common/cuda_emulation.h), which runs these kernels in CI. The launch geometry below
// (fitting_storage, tile_shared_bytes, plan_work, tile_grid) is plain host code for both;
// lut_tile_launch.cuh adds the CUDA runtime calls.
#pragma once

#include <algorithm>
#include <cstdint>

#include "kernels/cuda/lut_cuda_params.h"

namespace axnn::kernels::cuda::detail {

inline constexpr int kThreadsX = 16;  // threads over n
inline constexpr int kRowsPerThread = 4;
inline constexpr int kColsPerThread = 8;
inline constexpr int kARowsPerThread = kTileK * kTileM / kThreads;  // 8 staged A codes
inline constexpr int kBRowsPerThread = kTileK * kTileN / kThreads;  // 16 staged B codes
static_assert(kThreads == 256 && kTileM == 64 && kTileN == 128 && kTileK == 32,
              "the thread layout below assumes 256 threads over a 64 x 128 x 32 tile");

template <Storage S>
__host__ __device__ constexpr int entry_bytes() {
  return S == Storage::kOffset16 ? 2 : 4;
}

// Bytes of the table in shared memory (16-byte aligned; 0 for kGlobal32).
template <Storage S>
__host__ __device__ constexpr int table_shared_bytes(int bits) {
  return S == Storage::kGlobal32 ? 0 : (1 << (2 * bits)) * entry_bytes<S>();
}

// Shared memory after the table: the A and B stages, then the policy's own (Op::kExtraBytes).
inline constexpr int kStageBytes = (kTileK * kTileM + kTileK * kTileN) * 4;

// ConvOp's shared memory: two buffers of per-k gather offsets (KInfo, 24 bytes each) and the
// output offset of every column of the tile.
inline constexpr int kConvExtraBytes = 2 * kTileK * 24 + kTileN * 8;

// Work decomposition, computed by the host.
struct Work {
  int64_t tiles_m, tiles_n, splits;
  int64_t split_k;  // reduction depth of one split, a multiple of kTileK
  int64_t total;    // slices * splits * tiles_m * tiles_n
};

template <Storage S>
__device__ __forceinline__ uint32_t lookup(const unsigned char* shared_table,
                                           const unsigned char* global_table, uint32_t offset) {
  if constexpr (S == Storage::kOffset16) {
    return *reinterpret_cast<const uint16_t*>(shared_table + offset);
  } else if constexpr (S == Storage::kShared32) {
    return *reinterpret_cast<const uint32_t*>(shared_table + offset);
  } else {
    return __ldg(reinterpret_cast<const unsigned int*>(global_table + offset));
  }
}

// One k of the staged tile: 4 A offsets, 8 B offsets, 32 lookups.
template <Storage S>
__device__ __forceinline__ void lookup_step(int kk, const uint32_t* a_s, const uint32_t* b_s,
                                            const unsigned char* shared_table,
                                            const unsigned char* global_table, int tx, int ty,
                                            uint32_t (&acc)[kRowsPerThread][kColsPerThread]) {
  const uint4 av = *reinterpret_cast<const uint4*>(a_s + kk * kTileM + ty * kRowsPerThread);
  const uint4 b0 = *reinterpret_cast<const uint4*>(b_s + kk * kTileN + tx * 4);
  const uint4 b1 = *reinterpret_cast<const uint4*>(b_s + kk * kTileN + kTileN / 2 + tx * 4);
  const uint32_t a[kRowsPerThread] = {av.x, av.y, av.z, av.w};
  const uint32_t b[kColsPerThread] = {b0.x, b0.y, b0.z, b0.w, b1.x, b1.y, b1.z, b1.w};
#pragma unroll
  for (int i = 0; i < kRowsPerThread; ++i)
#pragma unroll
    for (int j = 0; j < kColsPerThread; ++j)
      acc[i][j] += lookup<S>(shared_table, global_table, a[i] + b[j]);
}

// Column of output j (0..7) of thread tx within the tile.
__device__ __forceinline__ int thread_col(int tx, int j) {
  return (j < 4 ? 0 : kTileN / 2) + tx * 4 + (j & 3);
}

template <Storage S, class Op>
__global__ void __launch_bounds__(kThreads, 1) lut_tile_kernel(const Op op_in, const Work work) {
  extern __shared__ __align__(16) unsigned char smem[];
  constexpr int kEntry = entry_bytes<S>();
  Op op = op_in;
  const int bits = op.bits;
  const int table_bytes = table_shared_bytes<S>(bits);
  unsigned char* shared_table = smem;
  const unsigned char* global_table = reinterpret_cast<const unsigned char*>(op.table);
  uint32_t* a_s = reinterpret_cast<uint32_t*>(smem + table_bytes);
  uint32_t* b_s = a_s + kTileK * kTileM;
  unsigned char* extra = reinterpret_cast<unsigned char*>(b_s + kTileK * kTileN);
  const int tid = threadIdx.x;
  const int tx = tid % kThreadsX, ty = tid / kThreadsX;

  // The table, once per block (the first tile's __syncthreads publishes it).
  if constexpr (S != Storage::kGlobal32) {
    const int entries = 1 << (2 * bits);
    for (int e = tid; e < entries; e += kThreads) {
      const uint32_t v = static_cast<uint32_t>(__ldg(op.table + e));
      if constexpr (S == Storage::kOffset16)
        reinterpret_cast<uint16_t*>(shared_table)[e] =
            static_cast<uint16_t>(v - static_cast<uint32_t>(op.base));
      else
        reinterpret_cast<uint32_t*>(shared_table)[e] = v;
    }
  }

  for (int64_t tile = blockIdx.x; tile < work.total; tile += gridDim.x) {
    const int64_t tn = tile % work.tiles_n;
    int64_t rest = tile / work.tiles_n;
    const int64_t tm = rest % work.tiles_m;
    rest /= work.tiles_m;
    const int64_t split = rest % work.splits;
    const int64_t slice = rest / work.splits;
    const int64_t m0 = tm * kTileM, n0 = tn * kTileN;
    const int64_t k_begin = split * work.split_k;
    const int64_t k_end = min(op.k, k_begin + work.split_k);

    __syncthreads();  // the previous tile's readers of the stages and of `extra` are done
    op.begin_tile(slice, m0, n0, extra, tid);
    uint32_t acc[kRowsPerThread][kColsPerThread];
#pragma unroll
    for (int i = 0; i < kRowsPerThread; ++i)
#pragma unroll
      for (int j = 0; j < kColsPerThread; ++j) acc[i][j] = 0;

    uint32_t ra[kARowsPerThread], rb[kBRowsPerThread];
    int buffer = 0;
    op.prepare_k(k_begin, buffer, extra, tid);
    __syncthreads();
    op.template load<kEntry>(k_begin, buffer, extra, tid, ra, rb);
    for (int64_t k0 = k_begin;; k0 += kTileK) {
      const int klen = static_cast<int>(min(static_cast<int64_t>(kTileK), k_end - k0));
#pragma unroll
      for (int i = 0; i < kARowsPerThread; ++i)
        a_s[(tid / kTileM + i * (kThreads / kTileM)) * kTileM + tid % kTileM] = ra[i];
#pragma unroll
      for (int i = 0; i < kBRowsPerThread; ++i)
        b_s[(tid / kTileN + i * (kThreads / kTileN)) * kTileN + tid % kTileN] = rb[i];
      const int64_t next = k0 + kTileK;
      const bool more = next < k_end;
      if (more) op.prepare_k(next, buffer ^ 1, extra, tid);
      __syncthreads();
      if (more) op.template load<kEntry>(next, buffer ^ 1, extra, tid, ra, rb);
      if (klen == kTileK) {
#pragma unroll 8
        for (int kk = 0; kk < kTileK; ++kk)
          lookup_step<S>(kk, a_s, b_s, shared_table, global_table, tx, ty, acc);
      } else {
#pragma unroll 1
        for (int kk = 0; kk < klen; ++kk)
          lookup_step<S>(kk, a_s, b_s, shared_table, global_table, tx, ty, acc);
      }
      __syncthreads();
      if (!more) break;
      buffer ^= 1;
    }

    // offset16 stored entry - base: add base back once per lookup of this split, modulo 2^32.
    const uint32_t correction = S == Storage::kOffset16 ? static_cast<uint32_t>(k_end - k_begin) *
                                                              static_cast<uint32_t>(op.base)
                                                        : 0u;
    const bool atomic = work.splits > 1;
#pragma unroll
    for (int i = 0; i < kRowsPerThread; ++i)
#pragma unroll
      for (int j = 0; j < kColsPerThread; ++j)
        op.store(m0 + ty * kRowsPerThread + i, thread_col(tx, j), n0, acc[i][j] + correction,
                 atomic, extra);
  }
}

// Writes (or, for split-K, adds) one output.
__device__ __forceinline__ void put(int32_t* dst, uint32_t value, bool atomic) {
  if (atomic)
    atomicAdd(reinterpret_cast<unsigned int*>(dst), value);
  else
    *dst = static_cast<int32_t>(value);
}

// The work of `slices` x ceil(m / kTileM) x ceil(n / kTileN) tiles of depth k, K cut into at
// most `splits` ranges of whole k steps (none empty).
inline Work make_work(int64_t slices, int64_t m, int64_t n, int64_t k, int64_t splits) {
  Work w;
  w.tiles_m = (m + kTileM - 1) / kTileM;
  w.tiles_n = (n + kTileN - 1) / kTileN;
  const int64_t steps = (k + kTileK - 1) / kTileK;
  const int64_t per_split = (steps + splits - 1) / splits;
  w.splits = (steps + per_split - 1) / per_split;  // no empty split
  w.split_k = per_split * kTileK;
  w.total = slices * w.tiles_m * w.tiles_n * w.splits;
  return w;
}

// Splits for `slices` x ceil(m / kTileM) x ceil(n / kTileN) tiles of depth k on a GPU holding
// `slots` blocks at once. The persistent blocks take the tiles in waves, so s splits take
// ceil(tiles s / slots) / s of the unsplit time: split-K is used when that saves at least 10%
// (few tiles: ResNet's last stage at batch 1 is 8 tiles of 512 x 4608 x 49) and each split keeps at
// least kMinStepsPerSplit k steps.
inline Work plan_work(int64_t slices, int64_t m, int64_t n, int64_t k, int64_t slots) {
  constexpr int64_t kMinStepsPerSplit = 8;
  constexpr int64_t kMaxSplits = 64;
  const int64_t tiles = slices * ((m + kTileM - 1) / kTileM) * ((n + kTileN - 1) / kTileN);
  const int64_t steps = (k + kTileK - 1) / kTileK;
  int64_t splits = 1;
  if (tiles < 4 * slots) {
    const int64_t most = std::min(kMaxSplits, steps / kMinStepsPerSplit);
    const auto cost = [&](int64_t s) {
      return double((tiles * s + slots - 1) / slots) / double(s);
    };
    double least = cost(1);
    for (int64_t s = 2; s <= most; ++s) least = std::min(least, cost(s));
    // The fewest splits within 3% of the least time, if that saves 10% of the unsplit time.
    if (least < 0.9 * cost(1))
      for (splits = 2; cost(splits) > 1.03 * least; ++splits) {
      }
  }
  return make_work(slices, m, n, k, splits);
}

// The tile kernel's dynamic shared memory: the table (none for kGlobal32), the stages, the
// policy's own.
inline int tile_shared_bytes(Storage storage, int bits, int extra_bytes) {
  const int table_bytes =
      storage == Storage::kOffset16
          ? table_shared_bytes<Storage::kOffset16>(bits)
          : (storage == Storage::kShared32 ? table_shared_bytes<Storage::kShared32>(bits) : 0);
  return table_bytes + kStageBytes + extra_bytes;
}

// The storage a GPU allowing `optin` bytes of shared memory per block uses for a table of
// `storage`: a block that cannot hold the shared table (sm_86 / sm_89 opt in to 99 KiB, the 8-bit
// offset16 tile needs 155 KiB) reads it from global memory instead (same results).
inline Storage fitting_storage(Storage storage, int bits, int extra_bytes, int optin) {
  return tile_shared_bytes(storage, bits, extra_bytes) > optin ? Storage::kGlobal32 : storage;
}

// Persistent blocks: at most as many as fit at once.
inline int64_t tile_grid(const Work& work, int64_t slots) {
  return work.total < slots ? work.total : slots;
}

}  // namespace axnn::kernels::cuda::detail
