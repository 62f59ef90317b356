// CUDA kernels run on the host, for tests on machines without a GPU (CI): a prelude that gives
// the host compiler CUDA's built-ins, a rewrite of what the prelude cannot express
// (`extern __shared__` arrays), and the build of an emulation program into a library.
//
// Each CUDA thread of a block is a fiber (ucontext) that runs until __syncthreads or its end; the
// block moves on once every fiber has reached the barrier, so a kernel that reads shared memory
// before all threads wrote it, or overwrites it before all have read it, computes a wrong result
// here too. The fibers of a block run in thread order between two barriers, then in reverse order
// between the next two, so a race shows whichever thread of a pair gets ahead. Blocks run one
// after another, so atomics are plain read-modify-writes (exact). __shared__ arrays are function
// statics (one copy for the block, as on a GPU); the dynamic shared memory is one buffer per
// block, of the launch's size, filled with 0xa5 bytes (emu::shared_poison) at each block's start
// so that a kernel reading what it never wrote sees garbage. Warp-level intrinsics (__shfl_sync,
// __ballot_sync) are not provided: no kernel here uses them, and their lockstep semantics need a
// rendezvous of the 32 fibers that this scheduler does not have.
//
// The program is compiled with `c++ -O1` into a shared library and dlopen'ed: no sanitizer in the
// fiber code (ASan and swapcontext do not mix), and -std=c++17 as nvcc compiles the kernels.
// -fno-gnu-unique keeps the emulator's state (inline variables) and the kernels' static
// __shared__ arrays private to each library: several can be loaded one after another in a process.
#pragma once

#include <dlfcn.h>
#include <fmt/format.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/files.h"
#include "core/subprocess.h"

namespace axnn::test {

inline constexpr const char* kCudaEmulationPrelude = R"(
#include <ucontext.h>
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <vector>
struct uint3 { unsigned int x, y, z; };
struct dim3 {
  unsigned int x = 1, y = 1, z = 1;
  dim3(unsigned int x_ = 1, unsigned int y_ = 1, unsigned int z_ = 1) : x(x_), y(y_), z(z_) {}
};
struct alignas(8) uint2 { unsigned int x, y; };
struct alignas(16) uint4 { unsigned int x, y, z, w; };
struct alignas(8) int2 { int x, y; };
struct alignas(16) int4 { int x, y, z, w; };
struct alignas(4) uchar4 { unsigned char x, y, z, w; };
struct alignas(4) char4 { signed char x, y, z, w; };
struct alignas(8) float2 { float x, y; };
struct alignas(16) float4 { float x, y, z, w; };
namespace emu {
struct Fiber {
  ucontext_t context;
  std::unique_ptr<char[]> stack;
  size_t stack_bytes = 0;
  uint3 thread;
  bool done = false;
};
inline std::vector<Fiber> fibers;  // kept across launches: stacks are allocated once
inline ucontext_t scheduler;
inline Fiber* current = nullptr;
inline uint3 block_index;
inline dim3 grid_dim, block_dim;
inline const std::function<void()>* body = nullptr;
inline unsigned char* dynamic_shared_memory = nullptr;
inline unsigned char shared_poison = 0xa5;  // the dynamic shared memory's bytes at a block's start
inline void* dynamic_shared() { return dynamic_shared_memory; }
inline void sync() { swapcontext(&current->context, &scheduler); }
inline void entry() { (*body)(); current->done = true; }
// Runs `kernel` (a call of the __global__ function) over the grid; 0, or 1 if some threads of a
// block ended while others waited at a barrier.
inline int launch(const std::function<void()>& kernel, dim3 grid, dim3 block,
                  size_t shared_bytes = 0, size_t stack_bytes = size_t{1} << 16) {
  body = &kernel;
  grid_dim = grid;
  block_dim = block;
  const unsigned threads = block.x * block.y * block.z;
  if (fibers.size() < threads) fibers.resize(threads);
  for (unsigned t = 0; t < threads; ++t)
    if (fibers[t].stack_bytes < stack_bytes) {
      fibers[t].stack.reset(new char[stack_bytes]);
      fibers[t].stack_bytes = stack_bytes;
    }
  std::vector<unsigned char> shared(shared_bytes + 64);
  dynamic_shared_memory = shared.data() + (64 - reinterpret_cast<uintptr_t>(shared.data()) % 64);
  for (unsigned bz = 0; bz < grid.z; ++bz)
    for (unsigned by = 0; by < grid.y; ++by)
      for (unsigned bx = 0; bx < grid.x; ++bx) {
        block_index = uint3{bx, by, bz};
        std::memset(dynamic_shared_memory, shared_poison, shared_bytes);
        for (unsigned t = 0; t < threads; ++t) {
          Fiber& f = fibers[t];
          f.thread = uint3{t % block.x, t / block.x % block.y, t / (block.x * block.y)};
          f.done = false;
          getcontext(&f.context);
          f.context.uc_stack.ss_sp = f.stack.get();
          f.context.uc_stack.ss_size = f.stack_bytes;
          f.context.uc_link = &scheduler;
          makecontext(&f.context, entry, 0);
        }
        for (bool forward = true;; forward = !forward) {
          unsigned done = 0;
          for (unsigned i = 0; i < threads; ++i) {
            Fiber& f = fibers[forward ? i : threads - 1 - i];
            if (!f.done) {
              current = &f;
              swapcontext(&scheduler, &f.context);
            }
            done += f.done;
          }
          if (done == threads) break;
          if (done != 0) return 1;
        }
      }
  return 0;
}
}  // namespace emu
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__
#define __launch_bounds__(...)
#define __shared__ static
#define __constant__ static
#define __align__(n) __attribute__((aligned(n)))
#define __syncthreads() emu::sync()
#define blockIdx (emu::block_index)
#define threadIdx (emu::current->thread)
#define blockDim (emu::block_dim)
#define gridDim (emu::grid_dim)
#define warpSize 32
template <class T>
inline T __ldg(const T* p) { return *p; }
template <class T>
inline T min(T a, T b) { return b < a ? b : a; }
template <class T>
inline T max(T a, T b) { return a < b ? b : a; }
// Blocks run one after another and fibers switch only at barriers: a plain add is atomic.
inline unsigned int atomicAdd(unsigned int* p, unsigned int v) { unsigned int old = *p; *p = old + v; return old; }
inline int atomicAdd(int* p, int v) {
  unsigned int old = static_cast<unsigned int>(*p);
  *p = static_cast<int>(old + static_cast<unsigned int>(v));
  return static_cast<int>(old);
}
inline unsigned long long atomicAdd(unsigned long long* p, unsigned long long v) { unsigned long long old = *p; *p = old + v; return old; }
inline float atomicAdd(float* p, float v) { float old = *p; *p = old + v; return old; }
// Round-to-nearest fp32 (the library is compiled with -ffp-contract=off: never fused).
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __int_as_float(int v) { float f; std::memcpy(&f, &v, 4); return f; }
inline int __float_as_int(float f) { int v; std::memcpy(&v, &f, 4); return v; }
inline float __uint_as_float(unsigned int v) { float f; std::memcpy(&f, &v, 4); return f; }
inline unsigned int __float_as_uint(float f) { unsigned int v; std::memcpy(&v, &f, 4); return v; }
)";

// CUDA source the prelude can compile: each `extern __shared__ [__align__(n)] T name[];` (the
// dynamic shared memory, which a macro cannot turn into a static) becomes a pointer to the
// launch's buffer.
inline std::string cuda_emulation_source(const std::string& cuda) {
  static const std::regex dynamic_shared(
      R"(extern\s+__shared__\s+(?:__align__\s*\(\s*\d+\s*\)\s+)?([A-Za-z_][\w:]*(?:\s+[A-Za-z_][\w:]*)*)\s+([A-Za-z_]\w*)\s*\[\s*\]\s*;)");
  return std::regex_replace(cuda, dynamic_shared,
                            "$1* const $2 = static_cast<$1*>(emu::dynamic_shared());");
}

// Copies the CUDA headers (*.cuh, *.h) of `from` into `to` through cuda_emulation_source, after
// `edit` (name, text) -> text (planting bugs in tests). An emulation program includes the copies
// (-I above `to`), never the originals.
template <class Edit>
void stage_cuda_headers(const std::filesystem::path& from, const std::filesystem::path& to,
                        Edit edit) {
  std::filesystem::create_directories(to);
  for (const auto& entry : std::filesystem::directory_iterator(from)) {
    const std::string ext = entry.path().extension().string();
    if (ext != ".cuh" && ext != ".h") continue;
    const std::string name = entry.path().filename().string();
    write_text_file(to / name, cuda_emulation_source(edit(name, read_text_file(entry.path()))));
  }
}

inline void stage_cuda_headers(const std::filesystem::path& from, const std::filesystem::path& to) {
  stage_cuda_headers(from, to, [](const std::string&, std::string text) { return text; });
}

// An emulation program built into a shared library and loaded; lookup() finds its extern "C"
// functions.
class CudaEmulation {
 public:
  // `program` after the prelude; include_dirs are passed as -I.
  static std::unique_ptr<CudaEmulation> build(
      const std::string& program, const std::vector<std::filesystem::path>& include_dirs = {}) {
    std::unique_ptr<CudaEmulation> emulation(new CudaEmulation);
    const std::filesystem::path& dir = emulation->dir_.path();
    write_text_file(dir / "emulation.cpp", std::string(kCudaEmulationPrelude) + program);
    std::vector<std::string> argv = {"c++",
                                     "-std=c++17",
                                     "-O1",
                                     "-w",
                                     "-fPIC",
                                     "-shared",
                                     "-fno-strict-aliasing",
                                     "-ffp-contract=off",
                                     "-o",
                                     (dir / "emulation.so").string(),
                                     (dir / "emulation.cpp").string()};
    for (const auto& include : include_dirs) argv.push_back("-I" + include.string());
    // GCC's flag (clang emits no unique symbols and may not know it).
    static const bool gnu_unique =
        run_process({"c++", "-fno-gnu-unique", "-fsyntax-only", "-x", "c++", "/dev/null"})
            .exit_code == 0;
    if (gnu_unique) argv.push_back("-fno-gnu-unique");
    const ProcessResult compiled = run_process(argv);
    AXNN_CHECK(compiled.exit_code == 0, "emulation did not compile: {}", compiled.output);
    emulation->library_ = dlopen((dir / "emulation.so").c_str(), RTLD_NOW | RTLD_LOCAL);
    AXNN_CHECK(emulation->library_ != nullptr, "dlopen: {}", dlerror());
    return emulation;
  }

  ~CudaEmulation() {
    if (library_ != nullptr) dlclose(library_);
  }
  CudaEmulation(const CudaEmulation&) = delete;
  CudaEmulation& operator=(const CudaEmulation&) = delete;

  template <class Function>
  Function* lookup(const std::string& name) const {
    void* symbol = dlsym(library_, name.c_str());
    AXNN_CHECK(symbol != nullptr, "{} is missing from the emulation", name);
    return reinterpret_cast<Function*>(symbol);
  }

  const std::filesystem::path& dir() const { return dir_.path(); }

 private:
  CudaEmulation() : dir_("axnn_cuda_emulation") {}
  TempDir dir_;
  void* library_ = nullptr;
};

// Elements whose last one ends a page followed by an inaccessible one: a kernel reading or
// writing past the end crashes the test instead of passing unnoticed.
template <class T>
class GuardedBuffer {
 public:
  explicit GuardedBuffer(const std::vector<T>& values) : size_(values.size()) {
    const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    const size_t bytes = values.size() * sizeof(T);
    mapped_ = (bytes + page - 1) / page * page + page;
    base_ = mmap(nullptr, mapped_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    AXNN_CHECK(base_ != MAP_FAILED, "mmap of {} bytes failed", mapped_);
    AXNN_CHECK(mprotect(static_cast<char*>(base_) + mapped_ - page, page, PROT_NONE) == 0,
               "mprotect failed");
    data_ = reinterpret_cast<T*>(static_cast<char*>(base_) + mapped_ - page - bytes);
    std::copy(values.begin(), values.end(), data_);
  }
  ~GuardedBuffer() { munmap(base_, mapped_); }
  GuardedBuffer(const GuardedBuffer&) = delete;
  GuardedBuffer& operator=(const GuardedBuffer&) = delete;

  T* data() const { return data_; }
  std::vector<T> to_vector() const { return std::vector<T>(data_, data_ + size_); }

 private:
  size_t size_ = 0, mapped_ = 0;
  void* base_ = nullptr;
  T* data_ = nullptr;
};

}  // namespace axnn::test
