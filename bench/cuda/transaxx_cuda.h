// The TransAxx-style baseline for the GPU LUT kernels (bench only): the structure of TransAxx's
// approximate convolution kernel, one output per thread in 16 x 16 thread tiles, every MAC one
// read of the int32 table from global memory (and of both operand codes), one launch per image.
// Tables are in LUT-GEMM's orientation (indexed [weight / A code][activation / B code]), so the
// baseline computes exactly what lut_gemm_cuda / lut_conv2d_cuda compute.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace axnn::bench::cuda {

// C[m][n] = sum_k table[A[m][k]][B[k][n]] (dense, device pointers): thread (x, y) of block
// (bx, by) computes C[by 16 + y][bx 16 + x].
cudaError_t transaxx_gemm(const int32_t* table, int bits, const uint8_t* a, const uint8_t* b,
                          int32_t* c, int64_t m, int64_t k, int64_t n, cudaStream_t stream);

// NCHW codes, OIHW weights, no groups or dilation; a padded position reads pad_code. Thread (x,
// y) of block (bx, by, o) computes dst[image][o][by 16 + y][bx 16 + x]; one launch per image.
struct TransaxxConv {
  int64_t batch = 1, channels = 0, height = 0, width = 0, out_channels = 0, kh = 0, kw = 0;
  int64_t stride = 1, pad = 0;
  int bits = 8;
  int pad_code = 0;
  const int32_t* table = nullptr;
  const uint8_t* src = nullptr;
  const uint8_t* weights = nullptr;
  int32_t* dst = nullptr;
};
cudaError_t transaxx_conv2d(const TransaxxConv& conv, cudaStream_t stream);

}  // namespace axnn::bench::cuda
