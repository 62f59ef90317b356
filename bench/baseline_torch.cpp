#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <dlfcn.h>
#include <fmt/format.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include <functional>
#include <random>

#include "bench/baselines.h"
#include "core/error.h"

namespace axnn::bench {

struct TorchSgemm::State {
  at::Tensor a;
  at::Tensor b;
  at::Tensor c;
};

namespace {

// Small integers, as int8 operands would be, so the figure is for the same kind of data.
at::Tensor random_int8_valued(int64_t rows, int64_t cols, std::mt19937& rng) {
  at::Tensor t = at::empty({rows, cols}, at::kFloat);
  auto* data = t.data_ptr<float>();
  for (int64_t i = 0; i < rows * cols; ++i)
    data[i] = static_cast<float>(static_cast<int8_t>(rng()));
  return t;
}

}  // namespace

TorchSgemm::TorchSgemm(int64_t m, int64_t k, int64_t n, int threads, uint32_t seed)
    : state_(std::make_unique<State>()) {
  at::set_num_threads(threads);
  std::mt19937 rng(seed);
  state_->a = random_int8_valued(m, k, rng);
  state_->b = random_int8_valued(k, n, rng);
  state_->c = at::empty({m, n}, at::kFloat);
}

TorchSgemm::~TorchSgemm() = default;

void TorchSgemm::run() { at::mm_out(state_->c, state_->a, state_->b); }

std::string torch_version() {
  return fmt::format("{}.{}.{}", TORCH_VERSION_MAJOR, TORCH_VERSION_MINOR, TORCH_VERSION_PATCH);
}

std::string torch_blas_library() {
  void* symbol = dlsym(RTLD_DEFAULT, "sgemm_");
  Dl_info info{};
  if (symbol == nullptr || dladdr(symbol, &info) == 0 || info.dli_fname == nullptr) return "";
  return info.dli_fname;
}

void use_torch_cuda() {
  AXNN_CHECK(torch::cuda::is_available(),
             "the LibTorch baselines on the GPU need a LibTorch with CUDA and a GPU; this axnn's "
             "LibTorch {} has none",
             TORCH_VERSION);
  at::globalContext().setAllowTF32CuBLAS(false);
  at::globalContext().setAllowTF32CuDNN(false);
  at::globalContext().setBenchmarkCuDNN(true);
}

namespace {

// Seconds per call: each timed run is kCalls calls and one synchronisation, so the host's wait
// is spread over them.
Timing per_call(const std::function<void()>& call, const TimingOptions& timing) {
  constexpr int kCalls = 10;
  Timing runs = measure(
      [&] {
        for (int i = 0; i < kCalls; ++i) call();
        torch::cuda::synchronize();
      },
      timing);
  for (double& s : runs.samples) s /= kCalls;
  return summarize(std::move(runs.samples));
}

}  // namespace

TorchCudaTimes time_torch_cuda_gemm(int64_t m, int64_t k, int64_t n, const TimingOptions& timing) {
  use_torch_cuda();
  const auto on = at::TensorOptions().device(at::kCUDA);
  const at::Tensor a = at::randint(-128, 128, {m, k}, on), b = at::randint(-128, 128, {k, n}, on);
  at::Tensor c = at::empty({m, n}, on);
  TorchCudaTimes times;
  times.fp32 = per_call([&] { at::mm_out(c, a, b); }, timing);
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 1)
  try {
    const at::Tensor ai = a.to(at::kChar), bi = b.to(at::kChar);
    times.int8 = per_call([&] { at::_int_mm(ai, bi); }, timing);
  } catch (const c10::Error& e) {  // shapes it does not take (M <= 16, K or N not a multiple of 8)
    times.int8_missing = e.what_without_backtrace();
  }
#else
  times.int8_missing = fmt::format(
      "LibTorch {} has no int8 GEMM on CUDA (at::_int_mm: 2.1 and later)", TORCH_VERSION);
#endif
  return times;
}

TorchCudaTimes time_torch_cuda_conv2d(int64_t batch, int64_t channels, int64_t height,
                                      int64_t width, int64_t out_channels, int64_t kh, int64_t kw,
                                      int64_t stride, int64_t pad, const TimingOptions& timing) {
  use_torch_cuda();
  const auto on = at::TensorOptions().device(at::kCUDA);
  const at::Tensor x = at::randint(-128, 128, {batch, channels, height, width}, on);
  const at::Tensor w = at::randint(-128, 128, {out_channels, channels, kh, kw}, on);
  TorchCudaTimes times;
  times.fp32 = per_call([&] { at::conv2d(x, w, {}, {stride, stride}, {pad, pad}); }, timing);
  times.int8_missing = "LibTorch has no int8 convolution on CUDA";
  return times;
}

}  // namespace axnn::bench
