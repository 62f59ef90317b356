#include "tune/cpu_backend.h"

#include <dlfcn.h>
#include <fmt/format.h>
#include <omp.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <limits>
#include <map>
#include <mutex>
#include <thread>

#include "core/cpu.h"
#include "core/error.h"
#include "core/files.h"
#include "core/subprocess.h"
#include "tune/reference.h"

namespace axnn::tune {

namespace {

constexpr uint64_t kOperandSeed = 1;

// -march=native ties a built kernel to this CPU: its model is part of the cache key.
const std::vector<std::string> kFlags = {"-std=c++17",
                                         "-O3",
                                         "-march=native",
                                         "-ffp-contract=fast",
                                         "-fno-math-errno",
                                         "-fopenmp",
                                         "-fPIC",
                                         "-shared",
                                         "-w"};

std::string compiler() {
  const char* cxx = std::getenv("CXX");
  return cxx && *cxx ? cxx : "c++";
}

// The compiler's identity (its --version banner, asked once per compiler and bounded like a build)
// and the CPU.
std::string build_identity(double timeout_seconds) {
  static std::mutex mutex;
  static std::map<std::string, std::string> identities;
  const std::string cxx = compiler();
  std::lock_guard<std::mutex> lock(mutex);
  std::string& identity = identities[cxx];
  if (identity.empty()) {
    const ProcessResult version = run_process(
        {"timeout", "--kill-after=5", fmt::format("{}", timeout_seconds), cxx, "--version"});
    identity = cxx + "\n" + (version.exit_code == 0 ? version.output : "unknown version") + "\n" +
               cpuinfo_field("model name") + "\n" + cpuinfo_field("flags");
  }
  return identity;
}

struct AlignedFloats {
  explicit AlignedFloats(int64_t count)
      : data(static_cast<float*>(std::aligned_alloc(64, (count * sizeof(float) + 63) / 64 * 64))) {
    AXNN_CHECK(data != nullptr, "cannot allocate {} floats for a kernel buffer", count);
    std::fill(data, data + count, 0.0f);
  }
  ~AlignedFloats() { std::free(data); }
  AlignedFloats(const AlignedFloats&) = delete;
  AlignedFloats& operator=(const AlignedFloats&) = delete;
  float* data;
};

// A loaded kernel library and its entry points (kCpuKernelApi).
struct Library {
  void* handle = nullptr;
  void (*shape)(long*) = nullptr;
  long (*packed_weight_floats)() = nullptr;
  long (*dst_floats)() = nullptr;
  long (*workspace_floats)() = nullptr;
  void (*pack_weights)(const float*, float*) = nullptr;
  void (*run)(const float*, const float*, float*, float*) = nullptr;
  void (*unpack_dst)(const float*, float*) = nullptr;

  ~Library() {
    if (handle) ::dlclose(handle);
  }
};

// Opens the library; an error message (empty on success) otherwise.
std::string open_library(const std::filesystem::path& path, Library& lib) {
  lib.handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!lib.handle) return fmt::format("dlopen {}: {}", path.string(), ::dlerror());
  const auto bind = [&](auto& fn, const char* name) {
    fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(::dlsym(lib.handle, name));
    return fn != nullptr;
  };
  if (!bind(lib.shape, "axnn_conv_shape") ||
      !bind(lib.packed_weight_floats, "axnn_conv_packed_weight_floats") ||
      !bind(lib.dst_floats, "axnn_conv_dst_floats") ||
      !bind(lib.workspace_floats, "axnn_conv_workspace_floats") ||
      !bind(lib.pack_weights, "axnn_conv_pack_weights") || !bind(lib.run, "axnn_conv_run") ||
      !bind(lib.unpack_dst, "axnn_conv_unpack_dst"))
    return fmt::format("{}: a kernel entry point is missing", path.string());
  return "";
}

// The operands and expected output of one shape, shared by all its candidates.
struct Problem {
  Conv2dShape shape;
  ConvOperands operands;
  std::vector<float> expected;
};

class CpuKernel final : public Kernel {
 public:
  CpuKernel(std::unique_ptr<Library> lib, std::shared_ptr<const Problem> problem)
      : lib_(std::move(lib)),
        problem_(std::move(problem)),
        packed_(lib_->packed_weight_floats()),
        dst_(lib_->dst_floats()),
        workspace_(lib_->workspace_floats()),
        plain_(problem_->expected.size()) {
    lib_->pack_weights(problem_->operands.weights.data(), packed_.data);
  }

  void run() override {
    lib_->run(problem_->operands.src.data(), packed_.data, dst_.data, workspace_.data);
  }

  std::string check() override {
    // An output the kernel fails to write cannot pass: NaN equals nothing.
    std::fill(dst_.data, dst_.data + lib_->dst_floats(), std::numeric_limits<float>::quiet_NaN());
    run();
    lib_->unpack_dst(dst_.data, plain_.data());
    return compare_conv2d(problem_->shape, problem_->expected, plain_.data());
  }

 private:
  std::unique_ptr<Library> lib_;
  std::shared_ptr<const Problem> problem_;
  AlignedFloats packed_, dst_, workspace_;
  std::vector<float> plain_;
};

// Compiles `source` into `library` unless the cache has it; the failure's code and log tail.
std::pair<ErrorCode, std::string> compile(const std::string& source,
                                          const std::filesystem::path& library,
                                          double timeout_seconds) {
  if (std::filesystem::exists(library)) return {ErrorCode::kNone, ""};
  // Unique names for this process and thread, renamed into place when complete: another process
  // may build the same kernel at the same time.
  const std::string unique =
      fmt::format(".{}.{}", ::getpid(), std::hash<std::thread::id>{}(std::this_thread::get_id()));
  std::filesystem::path source_file = library;
  source_file.replace_extension(".cpp");
  const std::filesystem::path tmp_source = source_file.string() + unique + ".cpp";
  const std::filesystem::path tmp_library = library.string() + unique;
  write_text_file(tmp_source, source);
  std::vector<std::string> argv = {"timeout", "--kill-after=5", fmt::format("{}", timeout_seconds),
                                   compiler()};
  argv.insert(argv.end(), kFlags.begin(), kFlags.end());
  argv.insert(argv.end(), {"-o", tmp_library.string(), tmp_source.string()});
  const ProcessResult result = run_process(argv);
  std::error_code ignored;
  if (result.exit_code == 0) {
    std::filesystem::rename(tmp_source, source_file, ignored);
    std::error_code renamed;
    std::filesystem::rename(tmp_library, library, renamed);
    if (renamed)
      return {ErrorCode::kCompileHost, fmt::format("cannot move the built kernel to {}: {}",
                                                   library.string(), renamed.message())};
    return {ErrorCode::kNone, ""};
  }
  std::filesystem::remove(tmp_source, ignored);
  std::filesystem::remove(tmp_library, ignored);
  if (result.exit_code == 124 || result.exit_code == 128 + 9)
    return {ErrorCode::kBuildTimeout, fmt::format("compiling took over {} s", timeout_seconds)};
  const std::string& log = result.output;
  return {ErrorCode::kCompileHost,
          fmt::format("{} exited with {}: {}", compiler(), result.exit_code,
                      log.size() > 2000 ? log.substr(log.size() - 2000) : log)};
}

class CpuBackend final : public Backend {
 public:
  CpuBackend() : cpu_(host_cpu_info()) {
    AXNN_CHECK(find_program(compiler()),
               "the cpu target compiles kernels with '{}', which is not on PATH (install Debian's "
               "build-essential, or set CXX)",
               compiler());
    AXNN_CHECK(find_program("timeout"),
               "the cpu target bounds each build with 'timeout', which is not on PATH (Debian's "
               "coreutils)");
  }

  Target target() const override { return Target::kCpu; }

  std::string device() const override {
    const std::string model = cpuinfo_field("model name");
    return fmt::format("{} (vec {}, {} cores)", model.empty() ? "unknown CPU" : model, cpu_.max_vec,
                       cpu_.cores);
  }

  Space space(const Conv2dShape& shape, int threads) const override {
    return cpu_space(shape, cpu_, threads);
  }

  std::string generate(const Conv2dShape& shape, const Config& config) const override {
    const std::string why = space(shape, 0).why_invalid(config);
    AXNN_CHECK(why.empty(), "conv2d {}: invalid cpu configuration: {}", shape.str(), why);
    return cpu_kernel_source(shape, config);
  }

  std::vector<Built> build(const Conv2dShape& shape, const std::vector<Config>& configs,
                           const BuildOptions& options) override {
    AXNN_CHECK(options.timeout_seconds > 0, "the build timeout must be positive, not {} s",
               options.timeout_seconds);
    const std::filesystem::path cache =
        options.cache_dir.empty() ? default_kernel_cache() : options.cache_dir;
    std::filesystem::create_directories(cache);
    std::vector<std::string> sources(configs.size());
    std::vector<std::filesystem::path> libraries(configs.size());
    std::vector<std::pair<ErrorCode, std::string>> outcomes(configs.size());
    const Space space = this->space(shape, 0);
    for (size_t i = 0; i < configs.size(); ++i) {
      if (const std::string why = space.why_invalid(configs[i]); !why.empty()) {
        outcomes[i] = {ErrorCode::kInstantiation, why};
        continue;
      }
      sources[i] = cpu_kernel_source(shape, configs[i]);
      uint64_t hash = fnv1a(build_identity(options.timeout_seconds));
      for (const std::string& flag : kFlags) hash = fnv1a(flag + "\n", hash);
      libraries[i] = cache / fmt::format("conv2d_{:016x}.so", fnv1a(sources[i], hash));
    }
    // Parallel builds: each worker takes the next candidate.
    std::atomic<size_t> next{0};
    const auto worker = [&] {
      for (size_t i; (i = next++) < configs.size();) {
        if (sources[i].empty()) continue;
        try {
          outcomes[i] = compile(sources[i], libraries[i], options.timeout_seconds);
        } catch (const std::exception& e) {  // no compiler, a file not written
          outcomes[i] = {ErrorCode::kCompileHost, e.what()};
        }
      }
    };
    const int jobs = std::max(1, std::min<int>(options.jobs > 0 ? options.jobs : cpu_.cores,
                                               static_cast<int>(configs.size())));
    std::vector<std::thread> workers;
    for (int j = 0; j < jobs; ++j) workers.emplace_back(worker);
    for (std::thread& t : workers) t.join();

    std::vector<Built> built(configs.size());
    for (size_t i = 0; i < configs.size(); ++i) {
      built[i].error_code = outcomes[i].first;
      built[i].error = outcomes[i].second;
      if (built[i].error_code != ErrorCode::kNone) continue;
      auto lib = std::make_unique<Library>();
      if (std::string why = open_library(libraries[i], *lib); !why.empty()) {
        built[i].error_code = ErrorCode::kCompileHost;
        built[i].error = std::move(why);
        continue;
      }
      auto kernel = std::make_unique<CpuKernel>(std::move(lib), problem(shape));
      if (std::string wrong = kernel->check(); !wrong.empty()) {
        built[i].error_code = ErrorCode::kWrongAnswer;
        built[i].error = std::move(wrong);
        continue;
      }
      built[i].kernel = std::move(kernel);
    }
    return built;
  }

  std::map<std::string, std::string> export_files(const Conv2dShape& shape, const Config& config,
                                                  const std::string& name) const override {
    std::string flags;
    for (const std::string& flag : kFlags)
      if (flag != "-fPIC" && flag != "-shared" && flag != "-w" && flag != "-std=c++17" &&
          flag != "-fopenmp")
        flags += " " + flag;
    return {
        {"kernel.cpp", generate(shape, config)},
        {"driver.cpp", std::string(kDriverHead) + kCpuKernelApi + kDriverBody},
        {"CMakeLists.part", fmt::format("add_executable({0} {0}/kernel.cpp {0}/driver.cpp)\n"
                                        "target_compile_options({0} PRIVATE{1})\n"
                                        "target_link_libraries({0} PRIVATE OpenMP::OpenMP_CXX)\n",
                                        name, flags)},
    };
  }

 private:
  static constexpr const char* kDriverHead =
      "// Times one kernel exported by `axnn tune export`: warm-up, then ITERATIONS runs "
      "(argument\n"
      "// 1, default 100). Prints the lines the seeds' energy scripts parse.\n"
      "#include <chrono>\n#include <cstdio>\n#include <cstdlib>\n#include <random>\n\n";
  static constexpr const char* kDriverBody = R"(
static float* buffer(long count) {
  float* data = static_cast<float*>(std::aligned_alloc(64, (count * sizeof(float) + 63) / 64 * 64));
  if (!data) { std::fprintf(stderr, "out of memory\n"); std::exit(1); }
  for (long i = 0; i < count; ++i) data[i] = 0.0f;
  return data;
}

int main(int argc, char** argv) {
  const long iterations = argc > 1 ? std::atol(argv[1]) : 100;
  if (iterations < 1) { std::fprintf(stderr, "usage: %s [ITERATIONS >= 1]\n", argv[0]); return 2; }
  long s[9];
  axnn_conv_shape(s);
  const long n = s[0], h = s[1], w = s[2], co = s[3], ci = s[4], kh = s[5], kw = s[6];
  const long oh = (h + 2 * s[8] - kh) / s[7] + 1, ow = (w + 2 * s[8] - kw) / s[7] + 1;
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> value(-1.0f, 1.0f);
  float* src = buffer(n * ci * h * w);
  float* weights = buffer(co * ci * kh * kw);
  for (long i = 0; i < n * ci * h * w; ++i) src[i] = value(rng);
  for (long i = 0; i < co * ci * kh * kw; ++i) weights[i] = value(rng);
  float* packed = buffer(axnn_conv_packed_weight_floats());
  float* dst = buffer(axnn_conv_dst_floats());
  float* workspace = buffer(axnn_conv_workspace_floats());
  axnn_conv_pack_weights(weights, packed);
  axnn_conv_run(src, packed, dst, workspace);  // warm-up
  const auto start = std::chrono::steady_clock::now();
  for (long i = 0; i < iterations; ++i) axnn_conv_run(src, packed, dst, workspace);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / iterations;
  const double flops = 2.0 * n * co * oh * ow * ci * kh * kw;
  std::printf("GFLOP/s: %.2f\n", flops / seconds / 1e9);
  std::printf("Mean time per iteration: %.4f ms\n", seconds * 1e3);
  return 0;
}
)";

  std::shared_ptr<const Problem> problem(const Conv2dShape& shape) {
    return problems_.get(shape, [&] {
      auto p = std::make_shared<Problem>();
      p->shape = shape;
      p->operands = conv2d_operands(shape, kOperandSeed);
      p->expected = conv2d_ref(shape, p->operands);
      return p;
    });
  }

  CpuInfo cpu_;
  ProblemCache<Problem> problems_;
};

}  // namespace

CpuInfo host_cpu_info() {
  CpuInfo info;
  const Isa isa = active_isa();
  info.max_vec = isa == Isa::kAvx512 ? 16 : isa == Isa::kAvx2 ? 8 : 4;
  info.registers = isa == Isa::kAvx512 ? 32 : 16;
  // Through libgomp, which also keeps it loaded for the whole process: kernels run OpenMP
  // threads, and unloading libgomp with the last kernel library would leave its idle threads
  // without code.
  info.cores = std::max(1, omp_get_num_procs());
  return info;
}

std::unique_ptr<Backend> make_cpu_backend() { return std::make_unique<CpuBackend>(); }

}  // namespace axnn::tune
