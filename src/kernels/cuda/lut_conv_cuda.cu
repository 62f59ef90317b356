// LUT-conv on the GPU: dst[n][o][y][x] = sum_{c,i,j} table[w[o][c][i][j]][src[n][g Cg + c][iy][ix]]
// with iy = y S_h - P_h + i D_h, ix = x S_w - P_w + j D_w (pad_code outside the input), bit-exact
// to LutConv2d / lut_gemm_ref (uint32 accumulation, wrapping modulo 2^32).
//
// Implicit GEMM. Per group g: M = O / groups output channels (A = the group's OIHW weights, a
// dense [M][K] matrix), K = Cg KH KW (k = (c, i, j)), N = batch OH OW output positions of every
// image (q = (n, y, x)), B[k][q] the im2col matrix, never built in memory: ConvOp gathers each
// staged code from src directly. The groups are the slices of the tile engine (lut_tile.cuh), so
// the whole batch and every group is one launch.
//
// Gathering. At the start of a tile each thread decodes its staged column q = n0 + tid % 128 once
// into (image, y, x), the offset of its window's corner and the corner itself; per k step 32
// threads decode the step's 32 k into (channel offset + row offset + column offset, i D_h, j D_w)
// in shared memory (double-buffered, so that the next step's table can be written while this
// step's gathers read), and every staged code is one bounds test and one byte load. The output
// offset (n O + g M) OH OW + y OW + x of each column is kept in shared memory for the epilogue.
#include "kernels/cuda/lut_conv_kernel.cuh"
#include "kernels/cuda/lut_tile_launch.cuh"

namespace axnn::kernels::cuda::detail {

cudaError_t launch_lut_conv2d(const ConvParams& p, cudaStream_t stream) {
  void (*kernel)(const ConvOp, const Work) = nullptr;
  int shared_bytes = 0;
  int64_t slots = 0;
  cudaError_t err = prepare_launch<ConvOp>(p.storage, p.bits, &kernel, &shared_bytes, &slots);
  if (err != cudaSuccess) return err;
  const ConvOp op = make_conv_op(p);
  const Work work = plan_conv_work(op, slots);
  if (work.splits > 1) {
    err = cudaMemsetAsync(p.dst, 0, sizeof(int32_t) * conv_output_elements(p), stream);
    if (err != cudaSuccess) return err;
  }
  kernel<<<static_cast<unsigned>(tile_grid(work, slots)), kThreads, shared_bytes, stream>>>(op,
                                                                                            work);
  return cudaGetLastError();
}

}  // namespace axnn::kernels::cuda::detail
