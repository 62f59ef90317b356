#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <dlfcn.h>
#include <fmt/format.h>
#include <torch/version.h>

#include <random>

#include "bench/baselines.h"

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

}  // namespace axnn::bench
