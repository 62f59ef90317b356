// LUT-GEMM on the GPU: C[s][m][n] = sum_k table[A[s][m][k]][B[s][k][n]] for every batch slice s,
// bit-exact to lut_gemm_ref (uint32 accumulation, wrapping modulo 2^32).
//
// Layout. A [M][K] and B [K][N] are row-major byte codes (row strides lda, ldb; only the low
// `bits` bits of a code are read), C [M][N] int32 (row stride ldc); slice s starts at
// s * batch_stride_{a,b,c} (a stride of 0 shares the operand). The table is int32
// [2^bits][2^bits] indexed [a code][b code].
//
// Blocking: the tile engine of lut_tile.cuh (64 x 128 outputs per block of 256 threads, 4 x 8 per
// thread, k steps of 32 staged through shared memory, the table in shared memory, persistent
// blocks, split-K with wrapping atomics when the tiles are few). GemmOp stages A[m0 + m][k] at
// shared a_s[k][m] (A is read column by column per step: the weights are small and stay in L2)
// and B[k][n0 + n] at b_s[k][n] (consecutive threads read consecutive bytes of a row of B).
// The whole batch is one launch: the slice is part of the tile index.
#include "kernels/cuda/lut_tile.cuh"

namespace axnn::kernels::cuda::detail {
namespace {

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

}  // namespace

cudaError_t launch_lut_gemm(const GemmParams& p, cudaStream_t stream) {
  if (p.batch == 0 || p.m == 0 || p.n == 0) return cudaSuccess;
  void (*kernel)(const GemmOp, const Work) = nullptr;
  int shared_bytes = 0;
  int64_t slots = 0;
  cudaError_t err = prepare_launch<GemmOp>(p.storage, p.bits, &kernel, &shared_bytes, &slots);
  if (err != cudaSuccess) return err;
  const Work work = plan_work(p.batch, p.m, p.n, p.k, slots);
  if (work.splits > 1) {
    const int64_t total = p.batch * p.m * p.n;
    const int64_t blocks = (total + 255) / 256;
    zero_gemm_output<<<static_cast<unsigned>(blocks < slots * 4 ? blocks : slots * 4), 256, 0,
                       stream>>>(p);
    err = cudaGetLastError();
    if (err != cudaSuccess) return err;
  }
  GemmOp op{};
  op.table = p.table;
  op.bits = p.bits;
  op.base = p.base;
  op.k = p.k;
  op.p = p;
  const int64_t grid = work.total < slots ? work.total : slots;
  kernel<<<static_cast<unsigned>(grid), kThreads, shared_bytes, stream>>>(op, work);
  return cudaGetLastError();
}

}  // namespace axnn::kernels::cuda::detail
