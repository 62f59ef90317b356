// The cuda target: direct fp32 conv2d kernels generated from a schedule, compiled with NVRTC and
// run through the driver API (see cuda_api.h). The space and the generator are usable without a
// GPU (tests compile the generated source with NVRTC for a fixed architecture).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tune/backend.h"

namespace axnn::tune {

// The generated kernel's name (extern "C", so the driver finds it unmangled).
inline constexpr const char* kCudaKernelName = "axnn_conv2d";

// What a device allows one block; the defaults are those of every GPU since compute 2.0 for a
// kernel with static shared memory.
struct CudaLimits {
  int64_t max_threads_per_block = 1024;
  int64_t max_shared_bytes = 48 * 1024;
};

// The schedule space of the direct conv2d kernel for this shape (knobs in cuda_backend.cpp).
Space cuda_conv2d_space(const Conv2dShape& shape, const CudaLimits& limits = {});

// The launch of a configuration: a 1-D grid of 1-D blocks with static shared memory.
struct CudaLaunch {
  int64_t grid = 0;
  int64_t block = 0;
  int64_t shared_bytes = 0;
};
CudaLaunch cuda_conv2d_launch(const Conv2dShape& shape, const Config& config);

// The kernel source for a configuration; throws axnn::Error unless the space accepts it.
std::string generate_cuda_conv2d(const Conv2dShape& shape, const Config& config,
                                 const CudaLimits& limits = {});

// The NVRTC options the backend compiles with for compute capability `arch` (86 for 8.6): CUBIN for
// sm_XY when `cubin`, else PTX for compute_XY (JIT-compiled by the driver on load).
std::vector<std::string> cuda_compile_options(int arch, bool cubin);

// Throws axnn::Error naming what is missing: libcuda.so.1 (no NVIDIA driver), libnvrtc (no CUDA
// toolkit) or a device.
std::unique_ptr<Backend> make_cuda_backend();

}  // namespace axnn::tune
