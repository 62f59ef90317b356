#include <gtest/gtest.h>

#include <cstdlib>

#include "core/files.h"
#include "core/subprocess.h"
#include "tune/cpu_backend.h"
#include "tune/reference.h"

namespace axnn::tune {
namespace {

// Odd shapes: strides, padding, 1x1 and 5x5 kernels, channel counts that are not vector
// multiples, batch 2.
const char* const kShapes[] = {"1,8,8,16,8,3,3,1,1", "2,9,7,24,5,3,3,2,1", "1,6,6,8,4,1,1,1,0",
                               "1,11,13,20,3,5,5,2,2", "1,5,5,3,7,3,3,1,0"};

TEST(CpuCodegen, RandomConfigurationsMatchTheReferenceBitForBit) {
  const TempDir cache("axnn-test-cpu-cache");
  const auto backend = make_cpu_backend();
  std::mt19937_64 rng(11);
  for (const char* text : kShapes) {
    const Conv2dShape shape = parse_conv2d_shape(text, "test");
    const Space space = backend->space(shape, 0);
    std::vector<Config> configs;
    for (int i = 0; i < 6; ++i) configs.push_back(space.random(rng));
    const std::vector<Built> built = backend->build(shape, configs, {cache.path(), 2, 120});
    for (size_t i = 0; i < built.size(); ++i) {
      EXPECT_EQ(built[i].error_code, ErrorCode::kNone)
          << text << " " << Space::to_json(configs[i]).dump() << ": " << built[i].error;
      if (built[i].kernel) {
        EXPECT_EQ(built[i].kernel->check(), "");  // again: a second run
      }
    }
  }
}

TEST(CpuCodegen, TheSpaceRespectsRegistersAndDivisibility) {
  const Conv2dShape shape = parse_conv2d_shape("1,56,56,64,64,3,3,1,1", "test");
  const CpuInfo cpu{16, 32, 2};
  const Space space = cpu_space(shape, cpu, 1);
  std::mt19937_64 rng(5);
  for (int i = 0; i < 300; ++i) {
    const Config c = space.random(rng);
    EXPECT_LE(c.at("oh_tile") * c.at("ow_tile") * c.at("oc_vecs") + c.at("oc_vecs") + 1, 32);
    EXPECT_EQ((64 / c.at("vec")) % c.at("oc_vecs"), 0);
    EXPECT_EQ(64 % c.at("ic_tile"), 0);
    EXPECT_EQ(c.at("threads"), 1);
  }
  EXPECT_FALSE(space.valid({{"vec", 16}, {"oc_vecs", 3}, {"ow_tile", 4}, {"oh_tile", 1},
                            {"ic_tile", 64}, {"order", 0}, {"unroll", 0}, {"threads", 1}}));
  const CpuInfo avx2{8, 16, 2};
  EXPECT_NE(cpu_space(shape, avx2, 1)
                .why_invalid({{"vec", 8}, {"oc_vecs", 2}, {"ow_tile", 7}, {"oh_tile", 1},
                              {"ic_tile", 64}, {"order", 0}, {"unroll", 0}, {"threads", 1}})
                .find("exceed 16 registers"),
            std::string::npos);
}

TEST(CpuCodegen, FailuresComeBackWithTheirCodes) {
  const TempDir cache("axnn-test-cpu-cache");
  const auto backend = make_cpu_backend();
  const Conv2dShape shape = parse_conv2d_shape("1,8,8,16,8,3,3,1,1", "test");
  std::mt19937_64 rng(1);
  Config bad = backend->space(shape, 0).random(rng);
  bad["ow_tile"] = 9;  // wider than the output
  const std::vector<Built> built = backend->build(shape, {bad}, {cache.path(), 1, 60});
  ASSERT_EQ(built.size(), 1u);
  EXPECT_EQ(built[0].error_code, ErrorCode::kInstantiation);
  EXPECT_NE(built[0].error.find("knob 'ow_tile' = 9"), std::string::npos);
}

TEST(CpuCodegen, ACompilerFailureIsRecordedNotThrown) {
  const TempDir cache("axnn-test-cpu-cache");
  const char* old = std::getenv("CXX");
  const std::string saved = old ? old : "";
  ::setenv("CXX", "false", 1);  // a "compiler" that always fails
  const auto backend = make_cpu_backend();
  const Conv2dShape shape = parse_conv2d_shape("1,8,8,16,8,3,3,1,1", "test");
  std::mt19937_64 rng(2);
  const std::vector<Built> built =
      backend->build(shape, {backend->space(shape, 0).random(rng)}, {cache.path(), 1, 60});
  if (old) {
    ::setenv("CXX", saved.c_str(), 1);
  } else {
    ::unsetenv("CXX");
  }
  ASSERT_EQ(built.size(), 1u);
  EXPECT_EQ(built[0].error_code, ErrorCode::kCompileHost);
  EXPECT_NE(built[0].error.find("false exited with 1"), std::string::npos) << built[0].error;
}

// Builds one configuration of a small shape with CXX set to `script` (a shell script written to a
// fresh folder), restoring CXX afterwards.
Built build_with_compiler(const std::string& script, double timeout_seconds) {
  const TempDir dir("axnn-test-cpu-cxx");
  const std::filesystem::path cxx = dir.path() / "cxx.sh";
  write_text_file(cxx, "#!/bin/sh\n" + script);
  std::filesystem::permissions(cxx, std::filesystem::perms::owner_all);
  const char* old = std::getenv("CXX");
  const std::string saved = old ? old : "";
  ::setenv("CXX", cxx.c_str(), 1);
  const auto backend = make_cpu_backend();
  const Conv2dShape shape = parse_conv2d_shape("1,8,8,16,8,3,3,1,1", "test");
  std::mt19937_64 rng(2);
  std::vector<Built> built = backend->build(shape, {backend->space(shape, 0).random(rng)},
                                            {dir.path() / "cache", 1, timeout_seconds});
  if (old) {
    ::setenv("CXX", saved.c_str(), 1);
  } else {
    ::unsetenv("CXX");
  }
  return std::move(built.at(0));
}

TEST(CpuCodegen, AWrongKernelIsCaughtByTheCheck) {
  // A "compiler" that breaks the source first: accumulators start at 1 instead of 0.
  const Built built = build_with_compiler(
      "for a; do last=$a; done\n"
      "sed 's/= vf{};/= vf{} + 1.0f;/' \"$last\" > \"$last.broken.cpp\"\n"
      "n=$#; i=0; for a; do i=$((i+1)); [ $i -lt $n ] && set -- \"$@\" \"$a\"; done\n"
      "shift $n\n"
      "exec c++ \"$@\" \"$last.broken.cpp\"\n",
      60);
  EXPECT_EQ(built.error_code, ErrorCode::kWrongAnswer) << built.error;
  EXPECT_NE(built.error.find("output [0, 0, 0, 0]: expected"), std::string::npos) << built.error;
}

TEST(CpuCodegen, ASlowBuildTimesOut) {
  const Built built = build_with_compiler("sleep 30\n", 1);
  EXPECT_EQ(built.error_code, ErrorCode::kBuildTimeout) << built.error;
}

TEST(Reference, MatchesAHandComputedConvolution) {
  // 1 image, 1 channel 3x3 input, one 2x2 all-ones filter, stride 1, padding 0: each output is the
  // sum of a 2x2 window.
  const Conv2dShape shape = parse_conv2d_shape("1,3,3,1,1,2,2,1,0", "test");
  ConvOperands ops;
  ops.src = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  ops.weights = {1, 1, 1, 1};
  EXPECT_EQ(conv2d_ref(shape, ops), (std::vector<float>{12, 16, 24, 28}));
  const std::vector<float> wrong = {12, 16, 24, 27};
  EXPECT_EQ(compare_conv2d(shape, conv2d_ref(shape, ops), wrong.data()),
            "output [0, 0, 1, 1]: expected 28, got 27");
}

}  // namespace
}  // namespace axnn::tune
