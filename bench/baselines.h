// Exact GEMM baselines a LUT-GEMM figure is compared with, on the same shape and threads. The
// library headers (oneDNN, LibTorch) stay inside the .cpp files so that including this is cheap.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bench/timing.h"

namespace axnn::bench {

// oneDNN int8 matmul, u8 activations x s8 weights -> s32, the exact counterpart of LUT-GEMM:
// dst[N x M] = src[N x K] * wei[K x M], the weights reordered once into the primitive's preferred
// layout (as LutGemm::create packs A once). The primitive is created once; run() executes it.
// oneDNN runs on OpenMP, so it uses omp_get_max_threads() at run() time.
class OnednnInt8Gemm {
 public:
  OnednnInt8Gemm(int64_t m, int64_t k, int64_t n, uint32_t seed);
  ~OnednnInt8Gemm();
  OnednnInt8Gemm(const OnednnInt8Gemm&) = delete;
  OnednnInt8Gemm& operator=(const OnednnInt8Gemm&) = delete;

  void run();
  // The implementation oneDNN picked, e.g. "brg:avx512_core_vnni".
  [[nodiscard]] std::string impl_info() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// oneDNN fp32 direct convolution, forward inference: the exact baseline of a tuned Conv2D kernel.
// src [n, ci, h, w] (NCHW) * weights [co, ci, kh, kw] (OIHW) -> dst [n, co, oh, ow], no bias, the
// same stride and zero padding in both dimensions. src, weights and dst take the layouts oneDNN
// prefers (format any), as a tuned kernel is timed in its own layouts; src and weights are filled
// once in plain layout and reordered at construction. Their values are random integers in [-4, 4],
// so while CI*KH*KW < 2^20 every partial sum is an integer below 2^24 and the output is exact in
// fp32 whatever the summation order (fp32 speed does not depend on the values). run() uses
// omp_get_max_threads().
class OnednnConv2d {
 public:
  OnednnConv2d(int64_t n, int64_t h, int64_t w, int64_t co, int64_t ci, int64_t kh, int64_t kw,
               int64_t stride, int64_t pad, uint32_t seed);
  ~OnednnConv2d();
  OnednnConv2d(const OnednnConv2d&) = delete;
  OnednnConv2d& operator=(const OnednnConv2d&) = delete;

  void run();
  // The implementation oneDNN picked, e.g. "brgconv:avx512_core".
  [[nodiscard]] std::string impl_info() const;
  // Plain copies of the tensors, reordered back from the primitive's layouts (for checking).
  [[nodiscard]] std::vector<float> src_nchw() const;
  [[nodiscard]] std::vector<float> weights_oihw() const;
  [[nodiscard]] std::vector<float> dst_nchw() const;  // the output of the last run()

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// LibTorch fp32 GEMM C[M x N] = A[M x K] * B[K x N] through at::mm_out (no allocation per run) on
// at::set_num_threads(threads).
class TorchSgemm {
 public:
  TorchSgemm(int64_t m, int64_t k, int64_t n, int threads, uint32_t seed);
  ~TorchSgemm();
  TorchSgemm(const TorchSgemm&) = delete;
  TorchSgemm& operator=(const TorchSgemm&) = delete;

  void run();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// LibTorch's exact kernels on the current CUDA device, on a LUT figure's shape: cuBLAS's GEMM and
// cuDNN's convolution in fp32 (TF32 off, cuDNN's algorithm search on), and cuBLAS's int8 GEMM
// where LibTorch has one (at::_int_mm, LibTorch 2.1 and later) that takes the shape. Seconds per
// call, each timed run being 10 calls and a synchronisation. Throws axnn::Error without CUDA.
// Checks that LibTorch has CUDA and a GPU (else throws axnn::Error saying so) and sets it up for
// exact fp32 baselines: TF32 off, cuDNN's algorithm search on.
void use_torch_cuda();
struct TorchCudaTimes {
  Timing fp32;
  std::optional<Timing> int8;
  std::string int8_missing;  // why int8 is empty
};
TorchCudaTimes time_torch_cuda_gemm(int64_t m, int64_t k, int64_t n, const TimingOptions& timing);
TorchCudaTimes time_torch_cuda_conv2d(int64_t batch, int64_t channels, int64_t height,
                                      int64_t width, int64_t out_channels, int64_t kh, int64_t kw,
                                      int64_t stride, int64_t pad, const TimingOptions& timing);

std::string onednn_version();  // "2.6.3"
std::string torch_version();   // "1.13.0"
// The shared library that provides the BLAS sgemm LibTorch calls for fp32 at::mm (Debian's libtorch
// uses whichever libblas.so.3 alternative is installed, which decides the fp32 figure); empty if
// no sgemm_ symbol is loaded.
std::string torch_blas_library();

}  // namespace axnn::bench
