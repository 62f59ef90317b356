// NVRTC and the CUDA driver API, opened with dlopen on first use so that axnn builds and runs on
// machines without them. Only the few C entry points the CUDA backend needs are declared here (no
// CUDA header at build time); every failing call becomes an axnn::Error naming the function and
// the library's own error name and string.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

namespace axnn::tune::cuda {

// The driver API's types as the C ABI defines them.
using CUresult = int;
using CUdevice = int;
using CUdeviceptr = unsigned long long;
using CUcontext = struct CUctx_st*;
using CUmodule = struct CUmod_st*;
using CUfunction = struct CUfunc_st*;
using CUstream = struct CUstream_st*;

inline constexpr int kAttrMaxThreadsPerBlock = 1;
inline constexpr int kAttrMaxSharedMemoryPerBlock = 8;
inline constexpr int kAttrMultiprocessorCount = 16;
inline constexpr int kAttrComputeCapabilityMajor = 75;
inline constexpr int kAttrComputeCapabilityMinor = 76;

// The driver (libcuda.so.1), loaded and initialized (cuInit) once per process.
class Driver {
 public:
  // Throws axnn::Error "CUDA not available: libcuda.so.1 not found (no NVIDIA driver): ..." or
  // names the missing symbol or the failing cuInit.
  static const Driver& get();

  // Throws axnn::Error "<function> failed: <CUDA_ERROR_NAME>: <description>" unless `result` is 0.
  void check(CUresult result, const char* function) const;

  CUresult (*cuInit)(unsigned int flags);
  CUresult (*cuDriverGetVersion)(int* version);
  CUresult (*cuDeviceGetCount)(int* count);
  CUresult (*cuDeviceGet)(CUdevice* device, int ordinal);
  CUresult (*cuDeviceGetName)(char* name, int length, CUdevice device);
  CUresult (*cuDeviceGetAttribute)(int* value, int attribute, CUdevice device);
  CUresult (*cuDevicePrimaryCtxRetain)(CUcontext* context, CUdevice device);
  CUresult (*cuDevicePrimaryCtxRelease)(CUdevice device);
  CUresult (*cuCtxSetCurrent)(CUcontext context);
  CUresult (*cuCtxSynchronize)();
  CUresult (*cuModuleLoadData)(CUmodule* module, const void* image);
  CUresult (*cuModuleUnload)(CUmodule module);
  CUresult (*cuModuleGetFunction)(CUfunction* function, CUmodule module, const char* name);
  CUresult (*cuMemAlloc)(CUdeviceptr* pointer, size_t bytes);
  CUresult (*cuMemFree)(CUdeviceptr pointer);
  CUresult (*cuMemcpyHtoD)(CUdeviceptr dst, const void* src, size_t bytes);
  CUresult (*cuMemcpyDtoH)(void* dst, CUdeviceptr src, size_t bytes);
  CUresult (*cuMemsetD32)(CUdeviceptr dst, unsigned int value, size_t count);
  CUresult (*cuLaunchKernel)(CUfunction function, unsigned int grid_x, unsigned int grid_y,
                             unsigned int grid_z, unsigned int block_x, unsigned int block_y,
                             unsigned int block_z, unsigned int shared_bytes, CUstream stream,
                             void** params, void** extra);
  CUresult (*cuGetErrorName)(CUresult error, const char** text);
  CUresult (*cuGetErrorString)(CUresult error, const char** text);

 private:
  Driver();
};

// The outcome of one NVRTC compilation; a program that does not compile is not an exception.
struct NvrtcOutput {
  bool ok = false;
  bool cancelled = false;  // stopped through the cancel flag
  std::string log;         // the compiler's log (warnings, errors)
  std::string binary;      // CUBIN for an sm_XY architecture, else PTX (with its final NUL)
};

// NVRTC (libnvrtc.so, or the versioned names of CUDA 13 down to 11.2), loaded once per process.
class Nvrtc {
 public:
  // Throws axnn::Error "NVRTC not available: libnvrtc.so not found (no CUDA toolkit): ...".
  static const Nvrtc& get();

  void check(int result, const char* function) const;
  std::string version() const;               // "13.0"
  std::vector<int> supported_archs() const;  // 75, 80, ... (the sm_XY it can compile for)
  // Whether a compilation in progress can be stopped (nvrtcSetFlowCallback, NVRTC >= 12.8).
  bool can_cancel() const { return set_flow_callback_ != nullptr; }

  // Compiles one source. `options` must contain --gpu-architecture=compute_XY (PTX) or sm_XY
  // (CUBIN). A set `cancel` flag stops the compilation where NVRTC can be stopped. Throws only for
  // failures of NVRTC itself (out of memory, bad option).
  NvrtcOutput compile(const std::string& source, const std::string& name,
                      const std::vector<std::string>& options,
                      const std::atomic<bool>* cancel = nullptr) const;

 private:
  Nvrtc();
  using Program = struct _nvrtcProgram*;
  const char* (*get_error_string_)(int result);
  int (*version_)(int* major, int* minor);
  int (*get_num_supported_archs_)(int* count);
  int (*get_supported_archs_)(int* archs);
  int (*create_program_)(Program* program, const char* source, const char* name, int num_headers,
                         const char* const* headers, const char* const* include_names);
  int (*destroy_program_)(Program* program);
  int (*compile_program_)(Program program, int num_options, const char* const* options);
  int (*get_ptx_size_)(Program program, size_t* size);
  int (*get_ptx_)(Program program, char* ptx);
  int (*get_cubin_size_)(Program program, size_t* size);
  int (*get_cubin_)(Program program, char* cubin);
  int (*get_program_log_size_)(Program program, size_t* size);
  int (*get_program_log_)(Program program, char* log);
  int (*set_flow_callback_)(Program program, int (*callback)(void*, void*), void* payload);
};

}  // namespace axnn::tune::cuda
