#include "tune/cuda_api.h"

#include <dlfcn.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "core/error.h"

namespace axnn::tune::cuda {
namespace {

std::string last_dlerror() {
  const char* text = dlerror();
  return text ? text : "unknown dlopen error";
}

// The first of `names` that dlopen finds; null with the reasons of every attempt in `why`.
void* open_first(const std::vector<std::string>& names, std::string& why) {
  for (const std::string& name : names) {
    if (void* handle = dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL)) {
      spdlog::debug("cuda: opened {}", name);
      return handle;
    }
    why += (why.empty() ? "" : "; ") + last_dlerror();
  }
  return nullptr;
}

// Sets `pointer` to the symbol `name` of `handle`; throws naming the library and the symbol.
template <class F>
void bind(void* handle, const char* library, const char* name, F& pointer) {
  pointer = reinterpret_cast<F>(dlsym(handle, name));
  AXNN_CHECK(pointer != nullptr, "{} has no symbol {} (too old?): {}", library, name,
             last_dlerror());
}

constexpr const char* kDriverLibrary = "libcuda.so.1";

}  // namespace

Driver::Driver() {
  std::string why;
  void* handle = open_first({kDriverLibrary}, why);
  AXNN_CHECK(handle != nullptr, "CUDA not available: {} not found (no NVIDIA driver): {}",
             kDriverLibrary, why);
  // The _v2 names are the 64-bit entry points that cuda.h maps the plain names to.
  bind(handle, kDriverLibrary, "cuInit", cuInit);
  bind(handle, kDriverLibrary, "cuDriverGetVersion", cuDriverGetVersion);
  bind(handle, kDriverLibrary, "cuDeviceGetCount", cuDeviceGetCount);
  bind(handle, kDriverLibrary, "cuDeviceGet", cuDeviceGet);
  bind(handle, kDriverLibrary, "cuDeviceGetName", cuDeviceGetName);
  bind(handle, kDriverLibrary, "cuDeviceGetAttribute", cuDeviceGetAttribute);
  bind(handle, kDriverLibrary, "cuDevicePrimaryCtxRetain", cuDevicePrimaryCtxRetain);
  bind(handle, kDriverLibrary, "cuDevicePrimaryCtxRelease_v2", cuDevicePrimaryCtxRelease);
  bind(handle, kDriverLibrary, "cuCtxSetCurrent", cuCtxSetCurrent);
  bind(handle, kDriverLibrary, "cuCtxSynchronize", cuCtxSynchronize);
  bind(handle, kDriverLibrary, "cuModuleLoadData", cuModuleLoadData);
  bind(handle, kDriverLibrary, "cuModuleUnload", cuModuleUnload);
  bind(handle, kDriverLibrary, "cuModuleGetFunction", cuModuleGetFunction);
  bind(handle, kDriverLibrary, "cuMemAlloc_v2", cuMemAlloc);
  bind(handle, kDriverLibrary, "cuMemFree_v2", cuMemFree);
  bind(handle, kDriverLibrary, "cuMemcpyHtoD_v2", cuMemcpyHtoD);
  bind(handle, kDriverLibrary, "cuMemcpyDtoH_v2", cuMemcpyDtoH);
  bind(handle, kDriverLibrary, "cuMemsetD32_v2", cuMemsetD32);
  bind(handle, kDriverLibrary, "cuLaunchKernel", cuLaunchKernel);
  bind(handle, kDriverLibrary, "cuGetErrorName", cuGetErrorName);
  bind(handle, kDriverLibrary, "cuGetErrorString", cuGetErrorString);
  // The handle stays open for the life of the process: kernels and contexts outlive any owner.
  try {
    check(cuInit(0), "cuInit");
  } catch (const Error& e) {
    throw Error(fmt::format("CUDA not available: {}", e.what()));
  }
}

const Driver& Driver::get() {
  static const Driver driver;  // a throwing constructor leaves it unset: the next call retries
  return driver;
}

void Driver::check(CUresult result, const char* function) const {
  if (result == 0) return;
  const char* name = nullptr;
  const char* text = nullptr;
  if (cuGetErrorName(result, &name) != 0) name = nullptr;
  if (cuGetErrorString(result, &text) != 0) text = nullptr;
  throw Error(fmt::format("{} failed: {}: {}", function,
                          name ? name : fmt::format("CUresult {}", result),
                          text ? text : "unknown error"));
}

namespace {

// Newest first; the unversioned name is the toolkit's development link.
const std::vector<std::string> kNvrtcLibraries = {
    "libnvrtc.so",      "libnvrtc.so.13",   "libnvrtc.so.12",
    "libnvrtc.so.11.2", "libnvrtc.so.11.1", "/usr/local/cuda/lib64/libnvrtc.so",
};
constexpr const char* kNvrtcName = "libnvrtc";

}  // namespace

Nvrtc::Nvrtc() {
  std::string why;
  void* handle = open_first(kNvrtcLibraries, why);
  AXNN_CHECK(handle != nullptr, "NVRTC not available: libnvrtc.so not found (no CUDA toolkit): {}",
             why);
  bind(handle, kNvrtcName, "nvrtcGetErrorString", get_error_string_);
  bind(handle, kNvrtcName, "nvrtcVersion", version_);
  bind(handle, kNvrtcName, "nvrtcGetNumSupportedArchs", get_num_supported_archs_);
  bind(handle, kNvrtcName, "nvrtcGetSupportedArchs", get_supported_archs_);
  bind(handle, kNvrtcName, "nvrtcCreateProgram", create_program_);
  bind(handle, kNvrtcName, "nvrtcDestroyProgram", destroy_program_);
  bind(handle, kNvrtcName, "nvrtcCompileProgram", compile_program_);
  bind(handle, kNvrtcName, "nvrtcGetPTXSize", get_ptx_size_);
  bind(handle, kNvrtcName, "nvrtcGetPTX", get_ptx_);
  bind(handle, kNvrtcName, "nvrtcGetCUBINSize", get_cubin_size_);
  bind(handle, kNvrtcName, "nvrtcGetCUBIN", get_cubin_);
  bind(handle, kNvrtcName, "nvrtcGetProgramLogSize", get_program_log_size_);
  bind(handle, kNvrtcName, "nvrtcGetProgramLog", get_program_log_);
  // Optional: older NVRTC cannot stop a compilation (the backend then stops waiting for it).
  set_flow_callback_ =
      reinterpret_cast<decltype(set_flow_callback_)>(dlsym(handle, "nvrtcSetFlowCallback"));
}

const Nvrtc& Nvrtc::get() {
  static const Nvrtc nvrtc;
  return nvrtc;
}

void Nvrtc::check(int result, const char* function) const {
  if (result == 0) return;
  throw Error(fmt::format("{} failed: {}", function, get_error_string_(result)));
}

std::string Nvrtc::version() const {
  int major = 0, minor = 0;
  check(version_(&major, &minor), "nvrtcVersion");
  return fmt::format("{}.{}", major, minor);
}

std::vector<int> Nvrtc::supported_archs() const {
  int count = 0;
  check(get_num_supported_archs_(&count), "nvrtcGetNumSupportedArchs");
  std::vector<int> archs(static_cast<size_t>(std::max(count, 0)));
  if (count > 0) check(get_supported_archs_(archs.data()), "nvrtcGetSupportedArchs");
  return archs;
}

namespace {

int cancel_callback(void* payload, void*) {
  return static_cast<const std::atomic<bool>*>(payload)->load() ? 1 : 0;
}

constexpr int kNvrtcErrorCompilation = 6;
constexpr int kNvrtcErrorCancelled = 16;

}  // namespace

NvrtcOutput Nvrtc::compile(const std::string& source, const std::string& name,
                           const std::vector<std::string>& options,
                           const std::atomic<bool>* cancel) const {
  Program program = nullptr;
  check(create_program_(&program, source.c_str(), name.c_str(), 0, nullptr, nullptr),
        "nvrtcCreateProgram");
  // Destroys the program on every path out, exceptions included.
  struct Guard {
    const Nvrtc* nvrtc;
    Program* program;
    ~Guard() { nvrtc->destroy_program_(program); }
  } guard{this, &program};
  if (cancel && set_flow_callback_) {
    check(set_flow_callback_(program, cancel_callback, const_cast<std::atomic<bool>*>(cancel)),
          "nvrtcSetFlowCallback");
  }
  std::vector<const char*> argv;
  bool cubin = false;
  for (const std::string& option : options) {
    argv.push_back(option.c_str());
    if (option.find("arch=sm_") != std::string::npos) cubin = true;
  }
  const int result = compile_program_(program, static_cast<int>(argv.size()), argv.data());

  NvrtcOutput output;
  size_t log_size = 0;
  check(get_program_log_size_(program, &log_size), "nvrtcGetProgramLogSize");
  if (log_size > 1) {
    output.log.resize(log_size);
    check(get_program_log_(program, output.log.data()), "nvrtcGetProgramLog");
    output.log.resize(log_size - 1);  // the terminating NUL
  }
  if (result == kNvrtcErrorCompilation) return output;
  if (result == kNvrtcErrorCancelled) {
    output.cancelled = true;
    return output;
  }
  check(result, "nvrtcCompileProgram");

  size_t size = 0;
  if (cubin) {
    check(get_cubin_size_(program, &size), "nvrtcGetCUBINSize");
    output.binary.resize(size);
    check(get_cubin_(program, output.binary.data()), "nvrtcGetCUBIN");
  } else {
    check(get_ptx_size_(program, &size), "nvrtcGetPTXSize");
    output.binary.resize(size);
    check(get_ptx_(program, output.binary.data()), "nvrtcGetPTX");
  }
  output.ok = true;
  return output;
}

}  // namespace axnn::tune::cuda
