// TransAxx-style baseline kernels (see transaxx_cuda.h): deliberately the simple structure of
// TransAxx's approximate conv kernel, not tuned: one output per thread, 16 x 16 threads per
// block, every MAC reads both codes and the table entry from global memory.
#include "bench/cuda/transaxx_cuda.h"

namespace axnn::bench::cuda {
namespace {

constexpr int kTile = 16;

__global__ void transaxx_gemm_kernel(const int32_t* table, int bits, const uint8_t* a,
                                     const uint8_t* b, int32_t* c, int64_t m, int64_t k,
                                     int64_t n) {
  const int64_t col = blockIdx.x * int64_t{kTile} + threadIdx.x;
  const int64_t row = blockIdx.y * int64_t{kTile} + threadIdx.y;
  if (row >= m || col >= n) return;
  const unsigned mask = (1u << bits) - 1;
  uint32_t sum = 0;
  for (int64_t p = 0; p < k; ++p) {
    const unsigned w = a[row * k + p] & mask, x = b[p * n + col] & mask;
    sum += static_cast<uint32_t>(table[(w << bits) | x]);
  }
  c[row * n + col] = static_cast<int32_t>(sum);
}

__global__ void transaxx_conv2d_kernel(const TransaxxConv p, int64_t image, int64_t oh,
                                       int64_t ow) {
  const int64_t x = blockIdx.x * int64_t{kTile} + threadIdx.x;
  const int64_t y = blockIdx.y * int64_t{kTile} + threadIdx.y;
  const int64_t o = blockIdx.z;
  if (x >= ow || y >= oh) return;
  const unsigned mask = (1u << p.bits) - 1;
  uint32_t sum = 0;
  for (int64_t c = 0; c < p.channels; ++c)
    for (int64_t i = 0; i < p.kh; ++i)
      for (int64_t j = 0; j < p.kw; ++j) {
        const int64_t iy = y * p.stride - p.pad + i, ix = x * p.stride - p.pad + j;
        const unsigned xc =
            iy < 0 || iy >= p.height || ix < 0 || ix >= p.width
                ? static_cast<unsigned>(p.pad_code)
                : p.src[((image * p.channels + c) * p.height + iy) * p.width + ix] & mask;
        const unsigned wc = p.weights[((o * p.channels + c) * p.kh + i) * p.kw + j] & mask;
        sum += static_cast<uint32_t>(p.table[(wc << p.bits) | xc]);
      }
  p.dst[((image * p.out_channels + o) * oh + y) * ow + x] = static_cast<int32_t>(sum);
}

}  // namespace

cudaError_t transaxx_gemm(const int32_t* table, int bits, const uint8_t* a, const uint8_t* b,
                          int32_t* c, int64_t m, int64_t k, int64_t n, cudaStream_t stream) {
  const dim3 block(kTile, kTile);
  const dim3 grid(static_cast<unsigned>((n + kTile - 1) / kTile),
                  static_cast<unsigned>((m + kTile - 1) / kTile));
  transaxx_gemm_kernel<<<grid, block, 0, stream>>>(table, bits, a, b, c, m, k, n);
  return cudaGetLastError();
}

cudaError_t transaxx_conv2d(const TransaxxConv& conv, cudaStream_t stream) {
  const int64_t oh = (conv.height + 2 * conv.pad - conv.kh) / conv.stride + 1;
  const int64_t ow = (conv.width + 2 * conv.pad - conv.kw) / conv.stride + 1;
  const dim3 block(kTile, kTile);
  const dim3 grid(static_cast<unsigned>((ow + kTile - 1) / kTile),
                  static_cast<unsigned>((oh + kTile - 1) / kTile),
                  static_cast<unsigned>(conv.out_channels));
  for (int64_t image = 0; image < conv.batch; ++image) {
    transaxx_conv2d_kernel<<<grid, block, 0, stream>>>(conv, image, oh, ow);
    const cudaError_t err = cudaGetLastError();
    if (err != cudaSuccess) return err;
  }
  return cudaSuccess;
}

}  // namespace axnn::bench::cuda
