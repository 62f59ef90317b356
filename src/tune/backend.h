// A target's code generator, builder and runner behind one interface: the tuner, export and the
// energy measurement know nothing of CPUs or GPUs. Backends: cpu (generated C++ compiled with the
// system compiler, loaded with dlopen) and cuda (generated CUDA C compiled with NVRTC, loaded with
// the driver API; both libraries opened with dlopen).
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tune/records.h"
#include "tune/space.h"
#include "tune/workload.h"

namespace axnn::tune {

struct BuildOptions {
  std::filesystem::path cache_dir;  // built kernels, by hash of source and flags; empty: default
  int jobs = 0;                     // parallel builds; 0: the number of cores
  double timeout_seconds = 60;      // per build
};

// The default kernel cache: $XDG_CACHE_HOME/axnn/kernels, else ~/.cache/axnn/kernels.
std::filesystem::path default_kernel_cache();

// One kernel with its operands: integer-valued random input and weights (so that every partial sum
// is exact in fp32 and the output must equal the reference bit for bit), output allocated.
class Kernel {
 public:
  virtual ~Kernel() = default;
  virtual void run() = 0;  // one convolution; may return before a GPU finishes
  virtual void sync() {}   // waits for the runs in flight
  // Runs once and compares the output with the reference convolution: empty if equal, else the
  // first differing output position and both values.
  virtual std::string check() = 0;
};

// The outcome of building and checking one candidate (its timing is the tuner's job).
struct Built {
  ErrorCode error_code = ErrorCode::kNone;
  std::string error;
  std::unique_ptr<Kernel> kernel;  // null unless error_code is kNone
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual Target target() const = 0;
  // What the records call the workload's op and data type: "conv2d" in exact "float32" here, or
  // e.g. "lut-conv2d" with a multiplier's name for axnn's LUT kernels.
  virtual std::string op() const { return "conv2d"; }
  virtual std::string dtype() const { return "float32"; }
  virtual std::string device() const = 0;  // "Intel(R) Xeon(R) ... (vec 16, 2 cores)", GPU name
  // The schedule space for this shape on this device. `threads` > 0 fixes the thread count knob
  // (cpu); 0 lets it be tuned.
  virtual Space space(const Conv2dShape& shape, int threads) const = 0;
  // The kernel source for a valid configuration.
  virtual std::string generate(const Conv2dShape& shape, const Config& config) const = 0;
  // Builds the candidates in parallel (options.jobs) and loads and checks each against the
  // reference; never throws for a candidate's failure, which is returned with its code.
  virtual std::vector<Built> build(const Conv2dShape& shape, const std::vector<Config>& configs,
                                   const BuildOptions& options) = 0;
  // Standalone files for one kernel (file name -> content): its source, a driver that times it,
  // and the CMake lines that build them (key "CMakeLists.part"), in a folder named `name`.
  virtual std::map<std::string, std::string> export_files(const Conv2dShape& shape,
                                                          const Config& config,
                                                          const std::string& name) const = 0;
};

// The backend of a target; throws axnn::Error if the target cannot be used here (cuda without
// libnvrtc / libcuda or without a GPU), saying what is missing.
std::unique_ptr<Backend> make_backend(Target target);

// The backend that rebuilds a record's kernel: make_backend(target) for conv2d float32, the LUT
// backend of the multiplier named by the dtype (looked up like any --mult) for lut-conv2d.
std::unique_ptr<Backend> make_backend_for(const Record& record);

}  // namespace axnn::tune
