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
#include "kernels/cuda/lut_gemm_kernel.cuh"
#include "kernels/cuda/lut_tile_launch.cuh"

namespace axnn::kernels::cuda::detail {

cudaError_t launch_lut_gemm(const GemmParams& p, cudaStream_t stream) {
  if (p.batch == 0 || p.m == 0 || p.n == 0) return cudaSuccess;
  void (*kernel)(const GemmOp, const Work) = nullptr;
  int shared_bytes = 0;
  int64_t slots = 0;
  cudaError_t err = prepare_launch<GemmOp>(p.storage, p.bits, &kernel, &shared_bytes, &slots);
  if (err != cudaSuccess) return err;
  const Work work = plan_gemm_work(p, slots);
  if (work.splits > 1) {
    zero_gemm_output<<<static_cast<unsigned>(zero_gemm_grid(p, slots)), 256, 0, stream>>>(p);
    err = cudaGetLastError();
    if (err != cudaSuccess) return err;
  }
  const GemmOp op = make_gemm_op(p);
  kernel<<<static_cast<unsigned>(tile_grid(work, slots)), kThreads, shared_bytes, stream>>>(op,
                                                                                            work);
  return cudaGetLastError();
}

}  // namespace axnn::kernels::cuda::detail
