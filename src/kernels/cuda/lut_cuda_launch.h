// Internal interface between the host API (lut_cuda.cpp, compiled by the C++ compiler, which
// validates every argument) and the kernels (*.cu, compiled by nvcc, which include nothing of
// axnn but this header, lut_cuda_params.h and the kernel headers *.cuh). Every launch function
// takes arguments already checked and resolved (strides filled in, storage chosen), enqueues its
// kernels on `stream` and returns the first CUDA error (cudaSuccess when all launches were
// accepted).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/cuda/lut_cuda_params.h"

namespace axnn::kernels::cuda::detail {

cudaError_t launch_lut_gemm(const GemmParams& p, cudaStream_t stream);
cudaError_t launch_lut_conv2d(const ConvParams& p, cudaStream_t stream);
cudaError_t launch_maddness_encode(const EncodeParams& p, cudaStream_t stream);
cudaError_t launch_maddness_decode(const DecodeParams& p, cudaStream_t stream);

}  // namespace axnn::kernels::cuda::detail
