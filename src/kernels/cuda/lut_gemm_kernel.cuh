// The LUT-GEMM kernels (lut_gemm_cuda.cu has the layout and tiling): GemmOp, the operand policy
// of the tile engine, the zeroing kernel of split-K, and the launch geometry as plain functions.
// Included by lut_gemm_cuda.cu and by the host emulation (tests/cuda/emulated), which launches the
// same templates with the same geometry.
#pragma once

#include "kernels/cuda/lut_tile.cuh"

namespace axnn::kernels::cuda::detail {
namespace {  // internal linkage, as in the one .cu file that includes it

struct GemmOp {
  static constexpr int kExtraBytes = 0;

  const int32_t* table;
  int bits;
  int32_t base;
  int64_t k;  // the engine reads op.k and op.table / op.bits / op.base
  GemmParams p;
  // Per tile.
  const uint8_t* a;
  const uint8_t* b;
  int32_t* c;
  int64_t m0, n0;

  __device__ void begin_tile(int64_t slice, int64_t tile_m0, int64_t tile_n0, unsigned char*, int) {
    a = p.a + slice * p.batch_stride_a;
    b = p.b + slice * p.batch_stride_b;
    c = p.c + slice * p.batch_stride_c;
    m0 = tile_m0;
    n0 = tile_n0;
  }

  __device__ void prepare_k(int64_t, int, unsigned char*, int) {}

  template <int kEntry>
  __device__ void load(int64_t k0, int, const unsigned char*, int tid,
                       uint32_t (&ra)[kARowsPerThread], uint32_t (&rb)[kBRowsPerThread]) const {
    const uint32_t mask = (1u << bits) - 1;
    const int64_t m = m0 + tid % kTileM;
    const bool m_ok = m < p.m;
    const uint8_t* a_row = a + m * p.lda;
#pragma unroll
    for (int i = 0; i < kARowsPerThread; ++i) {
      const int64_t kk = k0 + tid / kTileM + i * (kThreads / kTileM);
      const uint32_t code = m_ok && kk < p.k ? __ldg(a_row + kk) & mask : 0u;
      ra[i] = (code << bits) * kEntry;
    }
    const int64_t n = n0 + tid % kTileN;
    const bool n_ok = n < p.n;
#pragma unroll
    for (int i = 0; i < kBRowsPerThread; ++i) {
      const int64_t kk = k0 + tid / kTileN + i * (kThreads / kTileN);
      const uint32_t code = n_ok && kk < p.k ? __ldg(b + kk * p.ldb + n) & mask : 0u;
      rb[i] = code * kEntry;
    }
  }

  __device__ void store(int64_t m, int col, int64_t tile_n0, uint32_t value, bool atomic,
                        const unsigned char*) const {
    const int64_t n = tile_n0 + col;
    if (m < p.m && n < p.n) put(c + m * p.ldc + n, value, atomic);
  }
};

// Zeroes C (every slice) before a split-K launch adds into it.
__global__ void zero_gemm_output(GemmParams p) {
  const int64_t total = p.batch * p.m * p.n;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < total;
       i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t n = i % p.n, rest = i / p.n;
    const int64_t m = rest % p.m, s = rest / p.m;
    p.c[s * p.batch_stride_c + m * p.ldc + n] = 0;
  }
}

// The tile engine's operand for a launch.
inline GemmOp make_gemm_op(const GemmParams& p) {
  GemmOp op{};
  op.table = p.table;
  op.bits = p.bits;
  op.base = p.base;
  op.k = p.k;
  op.p = p;
  return op;
}

inline Work plan_gemm_work(const GemmParams& p, int64_t slots) {
  return plan_work(p.batch, p.m, p.n, p.k, slots);
}

// Blocks of 256 threads for zero_gemm_output.
inline int64_t zero_gemm_grid(const GemmParams& p, int64_t slots) {
  const int64_t blocks = (p.batch * p.m * p.n + 255) / 256;
  return blocks < slots * 4 ? blocks : slots * 4;
}

}  // namespace
}  // namespace axnn::kernels::cuda::detail
