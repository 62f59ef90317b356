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
#include "kernels/cuda/maddness_kernel.cuh"

namespace axnn::kernels::cuda::detail {
namespace {

// The current device's multiprocessors (1 if the query fails: the launch reports the error).
int multiprocessors() {
  int device = 0, sms = 1;
  if (cudaGetDevice(&device) != cudaSuccess ||
      cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device) != cudaSuccess)
    sms = 1;
  return sms;
}

}  // namespace

cudaError_t launch_maddness_encode(const EncodeParams& p, cudaStream_t stream) {
  if (p.n == 0) return cudaSuccess;
  maddness_encode_kernel<<<encode_grid(p, multiprocessors()), 256, 0, stream>>>(p);
  return cudaGetLastError();
}

cudaError_t launch_maddness_decode(const DecodeParams& p, cudaStream_t stream) {
  if (p.n == 0) return cudaSuccess;
  const int grid = decode_grid(p, multiprocessors());
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
