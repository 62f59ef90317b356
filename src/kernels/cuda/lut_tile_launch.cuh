// The CUDA runtime side of the tile engine (lut_tile.cuh), for the launch code of
// lut_gemm_cuda.cu and lut_conv_cuda.cu.
#pragma once

#include <cuda_runtime.h>

#include "kernels/cuda/lut_cuda_launch.h"
#include "kernels/cuda/lut_tile.cuh"

namespace axnn::kernels::cuda::detail {

// The kernel of a storage (after fitting_storage's fallback), its shared memory made available,
// and how many blocks fit at once.
template <class Op>
cudaError_t prepare_launch(Storage storage, int bits, void (**kernel)(const Op, const Work),
                           int* shared_bytes, int64_t* slots) {
  int device = 0, sms = 0, per_sm = 0, optin = 0;
  cudaError_t err = cudaGetDevice(&device);
  if (err != cudaSuccess) return err;
  err = cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device);
  if (err != cudaSuccess) return err;
  err = cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device);
  if (err != cudaSuccess) return err;
  storage = fitting_storage(storage, bits, Op::kExtraBytes, optin);
  switch (storage) {
    case Storage::kOffset16:
      *kernel = lut_tile_kernel<Storage::kOffset16, Op>;
      break;
    case Storage::kShared32:
      *kernel = lut_tile_kernel<Storage::kShared32, Op>;
      break;
    default:
      *kernel = lut_tile_kernel<Storage::kGlobal32, Op>;
      break;
  }
  *shared_bytes = tile_shared_bytes(storage, bits, Op::kExtraBytes);
  err = cudaFuncSetAttribute(reinterpret_cast<const void*>(*kernel),
                             cudaFuncAttributeMaxDynamicSharedMemorySize, *shared_bytes);
  if (err != cudaSuccess) return err;
  err = cudaOccupancyMaxActiveBlocksPerMultiprocessor(
      &per_sm, reinterpret_cast<const void*>(*kernel), kThreads, *shared_bytes);
  if (err != cudaSuccess) return err;
  if (per_sm < 1) return cudaErrorInvalidConfiguration;
  *slots = int64_t{sms} * per_sm;
  return cudaSuccess;
}

}  // namespace axnn::kernels::cuda::detail
