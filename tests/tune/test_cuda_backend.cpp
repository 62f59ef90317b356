// The cuda target without a GPU: the schedule space's constraints, NVRTC compiling the generated
// source for many configurations, and the kernels run on the host by a fiber emulation of CUDA
// blocks (barriers included) against the reference convolution. With a GPU, the backend builds,
// checks and exports kernels.
#include <dlfcn.h>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <set>

#include "common/cuda_emulation.h"
#include "core/error.h"
#include "core/files.h"
#include "core/subprocess.h"
#include "tune/cuda_api.h"
#include "tune/cuda_backend.h"
#include "tune/reference.h"

namespace axnn::tune {
namespace {

const std::vector<Conv2dShape> kShapes = {
    {1, 7, 9, 5, 3, 3, 3, 2, 1},                                     // odd everything, stride 2
    {2, 10, 12, 20, 6, 3, 3, 1, 1},                                  // batch 2
    {1, 17, 17, 24, 10, 3, 3, 1, 1}, {1, 8, 8, 16, 16, 1, 1, 1, 0},  // pointwise
    {1, 12, 10, 7, 5, 5, 3, 2, 2},                                   // non-square kernel
    {1, 56, 56, 64, 64, 3, 3, 1, 1},                                 // the seeds' case5
};

class CudaShapes : public testing::TestWithParam<Conv2dShape> {};

int64_t at(const Config& c, const std::string& name) { return c.at(name); }

// The constraints recomputed from the knob values, independently of the space's own check.
void expect_constraints(const Conv2dShape& s, const Config& c) {
  const int64_t threads = at(c, "co_thread") * at(c, "oh_thread") * at(c, "ow_thread");
  EXPECT_LE(threads, 1024);
  EXPECT_GE(threads, std::min<int64_t>(32, s.co * s.oh() * s.ow()));
  int64_t accumulators = 1, blocks = s.n;
  for (const auto& [axis, extent] :
       {std::pair<std::string, int64_t>{"co", s.co}, {"oh", s.oh()}, {"ow", s.ow()}}) {
    const int64_t tile =
        at(c, axis + "_vthread") * at(c, axis + "_thread") * at(c, axis + "_inner");
    EXPECT_LT(tile, 2 * extent) << axis;
    accumulators *= at(c, axis + "_vthread") * at(c, axis + "_inner");
    blocks *= (extent + tile - 1) / tile;
  }
  EXPECT_LE(accumulators, 64);
  const int64_t boh = at(c, "oh_vthread") * at(c, "oh_thread") * at(c, "oh_inner");
  const int64_t bow = at(c, "ow_vthread") * at(c, "ow_thread") * at(c, "ow_inner");
  const int64_t bco = at(c, "co_vthread") * at(c, "co_thread") * at(c, "co_inner");
  const int64_t rc = at(c, "rc_inner");
  const int64_t shared = 4 * (at(c, "stage_input") * rc * ((boh - 1) * s.stride + s.kh) *
                                  ((bow - 1) * s.stride + s.kw) +
                              at(c, "stage_weight") * bco * rc * s.kh * s.kw);
  EXPECT_LE(shared, 48 * 1024);
  const CudaLaunch launch = cuda_conv2d_launch(s, c);
  EXPECT_EQ(launch.block, threads);
  EXPECT_EQ(launch.grid, blocks);
  EXPECT_EQ(launch.shared_bytes, shared);
}

TEST_P(CudaShapes, RandomAndMutatedConfigsMeetTheConstraints) {
  const Conv2dShape shape = GetParam();
  const Space space = cuda_conv2d_space(shape);
  std::mt19937_64 rng(7);
  const size_t features = space.features(space.random(rng)).size();
  std::set<Config> distinct;
  for (int i = 0; i < 200; ++i) {
    const Config config = space.random(rng);
    const Config child = space.mutate(config, rng);
    for (const Config& c : {config, child}) {
      ASSERT_EQ(space.why_invalid(c), "");
      expect_constraints(shape, c);
      EXPECT_EQ(space.features(c).size(), features);
      distinct.insert(c);
    }
  }
  EXPECT_GT(distinct.size(), 300u);
}

TEST(CudaSpace, RejectsWhatBreaksTheLimits) {
  const Conv2dShape shape{1, 56, 56, 64, 64, 3, 3, 1, 1};
  const Space space = cuda_conv2d_space(shape);
  Config config = {{"co_vthread", 1},       {"co_thread", 4},   {"co_inner", 4},
                   {"oh_vthread", 1},       {"oh_thread", 8},   {"oh_inner", 1},
                   {"ow_vthread", 1},       {"ow_thread", 8},   {"ow_inner", 2},
                   {"rc_inner", 8},         {"stage_input", 1}, {"stage_weight", 1},
                   {"unroll_max_step", 512}};
  ASSERT_EQ(space.why_invalid(config), "");
  Config c = config;
  c["co_thread"] = 16;
  c["oh_thread"] = 16;  // 16 x 16 x 8 threads
  EXPECT_NE(space.why_invalid(c).find("2048 threads per block exceed"), std::string::npos);
  c = config;
  c["co_inner"] = 8;
  c["ow_inner"] = 8;
  c["oh_inner"] = 2;  // 8 x 2 x 8 accumulators
  c["ow_thread"] = 4;
  c["oh_thread"] = 4;
  c["co_thread"] = 2;
  EXPECT_NE(space.why_invalid(c).find("accumulators"), std::string::npos) << space.why_invalid(c);
  c = config;
  c["rc_inner"] = 64;
  c["oh_thread"] = 16;  // input window 64 x 18 x 18 floats
  c["ow_thread"] = 2;
  EXPECT_NE(space.why_invalid(c).find("shared memory"), std::string::npos) << space.why_invalid(c);
  c = config;
  c["co_thread"] = 1;
  c["oh_thread"] = 4;
  c["ow_thread"] = 4;  // 16 threads for a plane of 200704 outputs
  EXPECT_NE(space.why_invalid(c).find("less than a warp"), std::string::npos);
  c = config;
  c["co_thread"] = 32;
  c["oh_thread"] = 1;  // co tile 128 for 64 channels
  EXPECT_NE(space.why_invalid(c).find("co tile 128"), std::string::npos);
  EXPECT_THROW(generate_cuda_conv2d(shape, c), Error);
  const std::string source = generate_cuda_conv2d(shape, config);
  EXPECT_NE(source.find("__launch_bounds__(256)"), std::string::npos);
  EXPECT_NE(source.find("__shared__ float s_src["), std::string::npos);
}

// Random configurations of `shape`, plus ones that force each staging mode and full unrolling.
std::vector<Config> sample(const Space& space, int count, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<Config> configs;
  for (int i = 0; i < count; ++i) {
    Config c = space.random(rng);
    if (i < 4) {  // every staging combination at least once where the limits allow it
      Config forced = c;
      forced["stage_input"] = i & 1;
      forced["stage_weight"] = (i >> 1) & 1;
      if (space.valid(forced)) c = forced;
    }
    configs.push_back(c);
  }
  return configs;
}

TEST_P(CudaShapes, GeneratedSourcesCompileWithNvrtc) {
  const cuda::Nvrtc* nvrtc = nullptr;
  try {
    nvrtc = &cuda::Nvrtc::get();
  } catch (const Error& e) {
    GTEST_SKIP() << e.what();
  }
  const Conv2dShape shape = GetParam();
  const Space space = cuda_conv2d_space(shape);
  for (const Config& config : sample(space, 4, 11)) {
    const std::string source = generate_cuda_conv2d(shape, config);
    const cuda::NvrtcOutput out =
        nvrtc->compile(source, "kernel.cu", cuda_compile_options(80, false));
    ASSERT_TRUE(out.ok) << out.log << "\n" << source;
    EXPECT_NE(out.binary.find(".entry axnn_conv2d"), std::string::npos);
  }
}

TEST(CudaNvrtc, ReportsCompileErrorsWithTheLog) {
  try {
    const cuda::NvrtcOutput out =
        cuda::Nvrtc::get().compile("extern \"C\" __global__ void f() { undeclared(); }", "bad.cu",
                                   cuda_compile_options(80, false));
    EXPECT_FALSE(out.ok);
    EXPECT_NE(out.log.find("undeclared"), std::string::npos) << out.log;
    EXPECT_THROW(cuda::Nvrtc::get().compile("", "x.cu", {"--no-such-option"}), Error);
  } catch (const Error& e) {
    GTEST_SKIP() << e.what();
  }
}

using test::CudaEmulation;
using GuardedFloats = test::GuardedBuffer<float>;

// Runs each source's kernel on the host with the operands of conv2d_operands(shape, 5); per
// source, compare_conv2d's verdict (empty: equal to the reference).
std::vector<std::string> emulate(const Conv2dShape& shape, const std::vector<std::string>& sources,
                                 const std::vector<CudaLaunch>& launches) {
  // One library with every kernel under its own name (tests/common/cuda_emulation.h).
  std::string program;
  const std::string name = kCudaKernelName;
  for (size_t i = 0; i < sources.size(); ++i) {
    std::string source = sources[i];
    source.replace(source.find(name), name.size(), name + "_" + std::to_string(i));
    program += test::cuda_emulation_source(source);
    program += fmt::format(
        "extern \"C\" int emulate_{0}(const float* s, const float* w, float* d, unsigned grid, "
        "unsigned block) {{ return emu::launch([=] {{ {1}_{0}(s, w, d); }}, grid, block); }}\n",
        i, name);
  }
  const std::unique_ptr<CudaEmulation> library = CudaEmulation::build(program);

  const ConvOperands operands = conv2d_operands(shape, 5);
  const std::vector<float> expected = conv2d_ref(shape, operands);
  const GuardedFloats src(operands.src), weight(operands.weights);
  std::vector<std::string> verdicts;
  for (size_t i = 0; i < sources.size(); ++i) {
    const auto run = library->lookup<int(const float*, const float*, float*, unsigned, unsigned)>(
        fmt::format("emulate_{}", i));
    const GuardedFloats dst(std::vector<float>(expected.size(), std::nanf("")));
    if (run(src.data(), weight.data(), dst.data(), static_cast<unsigned>(launches[i].grid),
            static_cast<unsigned>(launches[i].block)) != 0)
      verdicts.push_back("barrier divergence");
    else
      verdicts.push_back(compare_conv2d(shape, expected, dst.data()));
  }
  return verdicts;
}

TEST_P(CudaShapes, KernelsEmulatedOnTheHostMatchTheReference) {
  if (!find_program("c++")) GTEST_SKIP() << "no c++ compiler to build the emulation";
  const Conv2dShape shape = GetParam();
  if (shape.flops() > 1e8) GTEST_SKIP() << "too large to emulate";
  const std::vector<Config> configs = sample(cuda_conv2d_space(shape), 6, 23);
  std::vector<std::string> sources;
  std::vector<CudaLaunch> launches;
  for (const Config& config : configs) {
    sources.push_back(generate_cuda_conv2d(shape, config));
    launches.push_back(cuda_conv2d_launch(shape, config));
  }
  const std::vector<std::string> verdicts = emulate(shape, sources, launches);
  for (size_t i = 0; i < configs.size(); ++i)
    EXPECT_EQ(verdicts[i], "") << "config " << Space::to_json(configs[i]).dump();
}

// The emulation is strict enough to catch a kernel that overwrites shared memory before every
// thread has used it.
TEST(CudaEmulation, CatchesAMissingBarrier) {
  if (!find_program("c++")) GTEST_SKIP() << "no c++ compiler to build the emulation";
  const Conv2dShape shape{1, 17, 17, 24, 10, 3, 3, 1, 1};
  const Config config = {{"co_vthread", 1},     {"co_thread", 2},   {"co_inner", 4},
                         {"oh_vthread", 1},     {"oh_thread", 4},   {"oh_inner", 2},
                         {"ow_vthread", 2},     {"ow_thread", 4},   {"ow_inner", 1},
                         {"rc_inner", 2},       {"stage_input", 1}, {"stage_weight", 1},
                         {"unroll_max_step", 0}};
  const std::string source = generate_cuda_conv2d(shape, config);
  std::string racy = source;
  const std::string barrier = "__syncthreads();";
  racy.erase(racy.rfind(barrier), barrier.size());
  const CudaLaunch launch = cuda_conv2d_launch(shape, config);
  const std::vector<std::string> verdicts = emulate(shape, {source, racy}, {launch, launch});
  EXPECT_EQ(verdicts[0], "");
  EXPECT_NE(verdicts[1], "");
}

INSTANTIATE_TEST_SUITE_P(Shapes, CudaShapes, testing::ValuesIn(kShapes),
                         [](const testing::TestParamInfo<Conv2dShape>& info) {
                           std::string name = info.param.str();
                           std::replace(name.begin(), name.end(), ',', '_');
                           return name;
                         });

TEST(CudaBackend, MissingDriverIsAClearError) {
  if (void* driver = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL)) {
    dlclose(driver);
    GTEST_SKIP() << "libcuda.so.1 is present";
  }
  try {
    make_cuda_backend();
    FAIL() << "make_cuda_backend() succeeded without libcuda.so.1";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("libcuda.so.1 not found (no NVIDIA driver)"),
              std::string::npos)
        << e.what();
  }
}

std::unique_ptr<Backend> gpu_backend(std::string& why) {
  try {
    return make_cuda_backend();
  } catch (const Error& e) {
    why = e.what();
    return nullptr;
  }
}

TEST(CudaBackend, BuildsAndChecksOnTheGpu) {
  std::string why;
  const std::unique_ptr<Backend> backend = gpu_backend(why);
  if (!backend) GTEST_SKIP() << why;
  EXPECT_NE(backend->device().find("compute capability"), std::string::npos);
  TempDir cache("axnn_cuda_cache");
  for (const Conv2dShape& shape : kShapes) {
    const Space space = backend->space(shape, 0);
    std::vector<Config> configs = sample(space, 8, 31);
    Config invalid = configs.front();
    invalid["co_thread"] = 4096;
    configs.push_back(invalid);
    const std::vector<Built> built = backend->build(shape, configs, {cache.path(), 2, 60});
    ASSERT_EQ(built.size(), configs.size());
    for (size_t i = 0; i + 1 < built.size(); ++i) {
      ASSERT_EQ(built[i].error_code, ErrorCode::kNone)
          << shape.str() << " " << Space::to_json(configs[i]).dump() << ": " << built[i].error;
      EXPECT_EQ(built[i].kernel->check(), "");
      built[i].kernel->run();
      built[i].kernel->sync();
    }
    EXPECT_EQ(built.back().error_code, ErrorCode::kInstantiation);
    // The second build finds every kernel in the cache.
    const std::vector<Built> again =
        backend->build(shape, {configs.front()}, {cache.path(), 1, 60});
    ASSERT_EQ(again.front().error_code, ErrorCode::kNone) << again.front().error;
  }
}

TEST(CudaBackend, ExportedFilesBuildWithNvcc) {
  std::string why;
  const std::unique_ptr<Backend> backend = gpu_backend(why);
  if (!backend) GTEST_SKIP() << why;
  const Conv2dShape shape{1, 7, 9, 5, 3, 3, 3, 2, 1};
  std::mt19937_64 rng(3);
  const Config config = backend->space(shape, 0).random(rng);
  const auto files = backend->export_files(shape, config, "odd");
  ASSERT_EQ(files.size(), 3u);
  EXPECT_NE(files.at("CMakeLists.part").find("add_executable(odd odd/kernel.cu odd/driver.cu)"),
            std::string::npos);
  EXPECT_NE(files.at("driver.cu").find("GFLOP/s: "), std::string::npos);
  const auto nvcc =
      find_program("nvcc") ? find_program("nvcc") : find_program("/usr/local/cuda/bin/nvcc");
  if (!nvcc) GTEST_SKIP() << "no nvcc to build the exported files";
  TempDir dir("axnn_cuda_export");
  for (const auto& [name, text] : files) write_text_file(dir.path() / name, text);
  const std::string binary = (dir.path() / "odd").string();
  const ProcessResult built =
      run_process({nvcc->string(), "-O3", "-o", binary, (dir.path() / "kernel.cu").string(),
                   (dir.path() / "driver.cu").string()});
  ASSERT_EQ(built.exit_code, 0) << built.output;
  const ProcessResult ran = run_process({binary, "10", "--check"});
  ASSERT_EQ(ran.exit_code, 0) << ran.output;
  EXPECT_NE(ran.output.find("Check: ok"), std::string::npos) << ran.output;
  EXPECT_NE(ran.output.find("Mean time per iteration: "), std::string::npos) << ran.output;
}

}  // namespace
}  // namespace axnn::tune
