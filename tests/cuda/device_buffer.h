// Test helpers for the CUDA kernels: device buffers copied from and to host vectors, and the skip
// every GPU test starts with.
#pragma once

#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/cuda/lut_cuda.h"

// Skips the test (with the reason) when no CUDA device is usable.
#define AXNN_SKIP_WITHOUT_CUDA_DEVICE()                                                  \
  do {                                                                                   \
    std::string axnn_why_;                                                               \
    if (!::axnn::kernels::cuda::device_available(&axnn_why_)) GTEST_SKIP() << axnn_why_; \
  } while (0)

namespace axnn::test {

inline void cuda_ok(cudaError_t err, const char* what) {
  if (err != cudaSuccess)
    throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(err));
}

// A device copy of a host vector (or `count` elements filled with the byte `fill`).
template <class T>
class DeviceBuffer {
 public:
  explicit DeviceBuffer(const std::vector<T>& host) : count_(host.size()) {
    cuda_ok(cudaMalloc(&ptr_, alloc_bytes()), "cudaMalloc");
    if (count_ > 0)
      cuda_ok(cudaMemcpy(ptr_, host.data(), bytes(), cudaMemcpyHostToDevice), "cudaMemcpy H2D");
  }
  DeviceBuffer(size_t count, int fill) : count_(count) {
    cuda_ok(cudaMalloc(&ptr_, alloc_bytes()), "cudaMalloc");
    cuda_ok(cudaMemset(ptr_, fill, alloc_bytes()), "cudaMemset");
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() { cudaFree(ptr_); }

  T* get() const { return static_cast<T*>(ptr_); }
  // Waits for the device, then copies everything back.
  std::vector<T> to_host() const {
    cuda_ok(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
    std::vector<T> host(count_);
    if (count_ > 0)
      cuda_ok(cudaMemcpy(host.data(), ptr_, bytes(), cudaMemcpyDeviceToHost), "cudaMemcpy D2H");
    return host;
  }

 private:
  size_t bytes() const { return count_ * sizeof(T); }
  size_t alloc_bytes() const { return count_ == 0 ? 1 : bytes(); }
  void* ptr_ = nullptr;
  size_t count_;
};

}  // namespace axnn::test
