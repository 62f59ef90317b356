#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <string>

#include "common/error_of.h"
#include "core/files.h"
#include "core/subprocess.h"
#include "tune/tvm_import.h"

namespace axnn::tune {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;
using test_util::error_of;

const fs::path kData = fs::path(AXNN_SOURCE_DIR) / "tests" / "tune" / "data";
const std::string kCase5Key = "conv2d_N_1_H_56_W_56_CO_64_CI_64_KH_3_KW_3_strides_1_padding_1";
const char* kCuda = "cuda -keys=cuda,gpu -arch=sm_80 -max_num_threads=1024 -thread_warp_size=32";

// One auto-scheduler v0.6 line for the workload key `key` (a JSON list).
std::string ansor_line(const Json& key, const Json& costs, int error_no,
                       const std::string& target = kCuda) {
  const Json task = {
      key.dump(), target, Json::parse("[-1, 16, 64, 49152, 2147483647, 1024, 8, 32]"),
      "",         0,      Json::array()};
  const Json state = Json::parse(R"([[], [["SP", 3, 0, 1, [1, 1, 1, 1], 1]]])");
  return Json{{"i", {task, state}}, {"r", {costs, error_no, 1.5, 1700000000.25}}, {"v", "v0.6"}}
      .dump();
}

// One AutoTVM 0.2 line of `task` with these arguments.
std::string autotvm_line(const std::string& task, const Json& args, const Json& costs, int error_no,
                         const std::string& target = kCuda) {
  const Json config = {{"index", 42},
                       {"code_hash", nullptr},
                       {"entity", Json::parse(R"([["tile_f", "sp", [-1, 2, 8, 1]]])")}};
  return Json{{"input", {target, task, args, Json::object()}},
              {"config", config},
              {"result", {costs, error_no, 0.7, 1690000000.5}},
              {"version", 0.2},
              {"tvm_version", "0.13.0"}}
      .dump();
}

Json nchw_args(const char* data, const char* kernel, const char* strides, const char* padding,
               const char* dilation, const char* dtype = "float32") {
  return {Json{"TENSOR", Json::parse(data), dtype},
          Json{"TENSOR", Json::parse(kernel), dtype},
          Json::parse(strides),
          Json::parse(padding),
          Json::parse(dilation),
          dtype};
}

const Json kCase5 = Json::parse(R"(["conv2d_layer", 1, 56, 56, 64, 64, 3, 3, [1, 1], [1, 1]])");
const Json kCase5Args =
    nchw_args("[1, 64, 56, 56]", "[64, 64, 3, 3]", "[1, 1]", "[1, 1, 1, 1]", "[1, 1]");

TEST(TvmImport, AutoSchedulerLog) {
  const TvmImport in = import_tvm_log(kData / "auto_scheduler_conv2d.json");
  EXPECT_EQ(in.lines, 33);
  ASSERT_EQ(in.records.size(), 32u);
  EXPECT_EQ(in.failed, 2);
  EXPECT_EQ(in.skipped,
            (std::map<std::string, int64_t>{{"auto-scheduler workload dense_layer", 1}}));

  const Record& first = in.records[0];
  EXPECT_EQ(first.workload_name, kCase5Key);
  EXPECT_EQ(first.shape, (Conv2dShape{1, 56, 56, 64, 64, 3, 3, 1, 1}));
  EXPECT_EQ(first.target, "cuda");
  EXPECT_EQ(first.device, "sm_86");
  EXPECT_EQ(first.origin, "tvm-auto-scheduler");
  EXPECT_EQ(first.config.at(1).at(1), Json::parse(R"(["SP", 3, 0, 1, [1, 1, 1, 1], 1])"));
  EXPECT_EQ(first.costs, (std::vector<double>{0.000184202, 0.000182454, 0.000183816}));
  EXPECT_DOUBLE_EQ(first.seconds(), 0.000183816);
  EXPECT_EQ(first.trial, 0);
  EXPECT_DOUBLE_EQ(first.timestamp, 1700000002.52);

  const Record& runtime = in.records[6];  // line 7
  EXPECT_FALSE(runtime.ok());
  EXPECT_TRUE(runtime.costs.empty());
  EXPECT_EQ(runtime.error_code, ErrorCode::kRuntimeDevice);
  EXPECT_EQ(runtime.error, "TVM trial failed: error_no 4 (runtime-device), cost 1e+10 s");
  EXPECT_EQ(in.records[19].error_code, ErrorCode::kRunTimeout);  // line 21, after the dense line
  EXPECT_EQ(in.records[12].costs, (std::vector<double>{0.000308461, 0.000308865, 0.000313089}));
  EXPECT_EQ(in.records[31].trial, 31);

  for (const Record& r : import_tvm_log(kData / "auto_scheduler_conv2d.json", "case5").records)
    EXPECT_EQ(r.workload_name, "case5");
}

TEST(TvmImport, AutoTvmLog) {
  const TvmImport in = import_tvm_log(kData / "autotvm_conv2d.log");
  EXPECT_EQ(in.lines, 10);
  ASSERT_EQ(in.records.size(), 9u);
  EXPECT_EQ(in.failed, 2);
  EXPECT_EQ(in.skipped,
            (std::map<std::string, int64_t>{{"AutoTVM task dense_small_batch.gpu", 1}}));

  const Record& first = in.records[0];
  EXPECT_EQ(first.workload_name, kCase5Key);
  EXPECT_EQ(first.target, "cuda");
  EXPECT_EQ(first.device, "sm_75");  // -model=unknown says nothing
  EXPECT_EQ(first.origin, "tvm-autotvm");
  EXPECT_EQ(first.config.at("index"), 6588713);
  EXPECT_EQ(first.costs, std::vector<double>{0.000435649});
  EXPECT_EQ(in.records[3].error_code, ErrorCode::kInstantiation);
  EXPECT_EQ(in.records[3].error, "TVM trial failed: error_no 1 (instantiation), cost 1e+09 s");
  EXPECT_EQ(in.records[5].error_code, ErrorCode::kBuildTimeout);
  EXPECT_EQ(in.records[7].trial, 7);

  const Record& cpu = in.records[8];  // conv2d_NCHWc.x86, stride 2, 128 output channels
  EXPECT_EQ(cpu.target, "cpu");
  EXPECT_EQ(cpu.device, "skylake-avx512");
  EXPECT_EQ(cpu.shape, (Conv2dShape{1, 56, 56, 128, 64, 3, 3, 2, 1}));
  EXPECT_EQ(cpu.workload_name, "conv2d_N_1_H_56_W_56_CO_128_CI_64_KH_3_KW_3_strides_2_padding_1");
  EXPECT_EQ(cpu.trial, 0);  // the first of its workload
  EXPECT_EQ(cpu.costs.size(), 3u);

  // One name cannot hold two shapes.
  const std::string error = error_of([] { import_tvm_log(kData / "autotvm_conv2d.log", "mixed"); });
  EXPECT_NE(error.find("autotvm_conv2d.log:9: conv2d 1,56,56,128,64,3,3,2,1 under the workload "
                       "name 'mixed', which "),
            std::string::npos)
      << error;
  EXPECT_NE(error.find("autotvm_conv2d.log:1 gave conv2d 1,56,56,64,64,3,3,1,1"), std::string::npos)
      << error;
}

class TvmImportLines : public ::testing::Test {
 protected:
  TvmImport import(const std::string& text) {
    write_text_file(file_, text);
    return import_tvm_log(file_);
  }
  std::string error(const std::string& text) {
    return error_of([&] { import(text); });
  }
  std::string where(int line) const { return file_.string() + ":" + std::to_string(line); }

  TempDir dir_{"axnn_tvm_import"};
  fs::path file_ = dir_.path() / "tvm.log";
};

TEST_F(TvmImportLines, FailureCostWithoutErrorNumberIsAFailure) {
  const TvmImport in = import(ansor_line(kCase5, {1e10}, 0) + "\n" +
                              autotvm_line("conv2d_nchw.cuda", kCase5Args, {1e9}, 0) + "\n");
  ASSERT_EQ(in.records.size(), 2u);
  EXPECT_EQ(in.failed, 2);
  for (const Record& r : in.records) {
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.error_code, ErrorCode::kUnknown);
  }
  EXPECT_EQ(in.records[0].error, "TVM trial failed: error_no 0 (none), cost 1e+10 s");
}

TEST_F(TvmImportLines, IntegerStridesAndPadding) {
  const Json key = Json::parse(R"(["conv2d_layer", 1, 28, 28, 128, 64, 1, 1, 2, 0])");
  const Json args = nchw_args("[1, 64, 28, 28]", "[128, 64, 1, 1]", "2", "0", "1");
  const TvmImport in = import(ansor_line(key, {1e-5}, 0) + "\n" +
                              autotvm_line("conv2d_nchw.cuda", args, {2e-5}, 0) + "\n");
  ASSERT_EQ(in.records.size(), 2u);
  for (const Record& r : in.records)
    EXPECT_EQ(r.shape, (Conv2dShape{1, 28, 28, 128, 64, 1, 1, 2, 0}));
  EXPECT_EQ(in.records[1].trial, 1);  // both formats, one workload
}

TEST_F(TvmImportLines, UnmappableWorkloadsAreSkippedAndCounted) {
  const std::string lines[] = {
      ansor_line(Json::parse(R"(["conv2d_layer", 1, 56, 56, 64, 64, 3, 3, [1, 2], [1, 1]])"),
                 {1e-4}, 0),
      ansor_line(Json::parse(R"(["6d1e0b7c3f2a", [1, 64, 56, 56], [64, 64, 3, 3]])"), {1e-4}, 0),
      ansor_line(kCase5, {1e-4}, 0, "opencl -device=mali"),
      autotvm_line(
          "conv2d_nchw.cuda",
          nchw_args("[1, 64, 56, 56]", "[64, 64, 3, 3]", "[1, 1]", "[1, 1, 1, 1]", "[2, 2]"),
          {1e-4}, 0),
      autotvm_line(
          "conv2d_nchw.cuda",
          nchw_args("[1, 64, 56, 56]", "[64, 32, 3, 3]", "[1, 1]", "[1, 1, 1, 1]", "[1, 1]"),
          {1e-4}, 0),
      autotvm_line(
          "conv2d_nchw.cuda",
          nchw_args("[1, 64, 56, 56]", "[64, 64, 3, 3]", "[1, 1]", "[0, 0, 1, 1]", "[1, 1]"),
          {1e-4}, 0),
      autotvm_line("conv2d_nchw_int8.cuda",
                   nchw_args("[1, 64, 56, 56]", "[64, 64, 3, 3]", "[1, 1]", "[1, 1, 1, 1]",
                             "[1, 1]", "int8"),
                   {1e-4}, 0),
      autotvm_line("conv2d_nchw.cuda", kCase5Args, {1e-4}, 0, "cuda -keys=cuda,gpu -model=t4"),
  };
  std::string text;
  for (const std::string& line : lines) text += line + "\n";
  const TvmImport in = import(text);
  EXPECT_EQ(in.lines, 8);
  ASSERT_EQ(in.records.size(), 1u);
  EXPECT_EQ(in.records[0].device, "t4");
  const std::map<std::string, int64_t> expected = {
      {"unequal strides", 1},
      {"auto-scheduler workload 6d1e0b7c3f2a", 1},
      {"target 'opencl'", 1},
      {"dilated conv2d", 1},
      {"grouped conv2d", 1},
      {"unequal padding", 1},
      {"AutoTVM task conv2d_nchw_int8.cuda", 1},
  };
  EXPECT_EQ(in.skipped, expected);
}

TEST_F(TvmImportLines, TruncatedLastLineIsSkipped) {
  const std::string line = ansor_line(kCase5, {1e-4}, 0);
  const TvmImport in = import(line + "\n" + line.substr(0, 60));
  EXPECT_EQ(in.records.size(), 1u);
  EXPECT_EQ(in.lines, 1);
}

TEST_F(TvmImportLines, MalformedLinesAreErrorsNamingFileAndLine) {
  const std::string good = ansor_line(kCase5, {1e-4}, 0);
  EXPECT_EQ(error(good + "\n" + good.substr(0, 60) + "\n" + good + "\n"),
            where(2) + ": not a JSON object");
  EXPECT_EQ(error(good + "\n\n{\"kind\": 1}\n"),
            where(3) +
                ": neither an auto-scheduler record (\"i\", \"r\", \"v\") nor an AutoTVM 0.2 "
                "record (\"input\", \"config\", \"result\", \"version\")");
  Json old = Json::parse(good);
  old["v"] = "v0.4";
  EXPECT_EQ(error(old.dump() + "\n"),
            where(1) + ": auto-scheduler log version \"v0.4\" is not supported (v0.5, v0.6)");
  Json autotvm = Json::parse(autotvm_line("conv2d_nchw.cuda", kCase5Args, {1e-4}, 0));
  autotvm["version"] = 0.1;
  EXPECT_EQ(error(autotvm.dump() + "\n"),
            where(1) + ": AutoTVM log version 0.1 is not supported (0.2)");
  EXPECT_EQ(
      error(ansor_line(Json::parse(R"(["conv2d_layer", 1, 56, 56, 64, 64, 3, 3, 1])"), {1e-4}, 0) +
            "\n"),
      where(1) +
          ": conv2d_layer takes N, H, W, CO, CI, KH, KW, stride, padding; the key has 8 "
          "arguments");
  EXPECT_EQ(error(ansor_line(kCase5, {1e-4}, 9) + "\n"),
            where(1) + ": error_no 9 is not one of TVM's 0..8");
  EXPECT_EQ(error(ansor_line(kCase5, Json::array(), 0) + "\n"),
            where(1) + ": the costs must be a non-empty list, not []");
  // A shape that cannot be a convolution: the 7x7 kernel does not fit the 5x5 input.
  const std::string shape_error = error(
      ansor_line(Json::parse(R"(["conv2d_layer", 1, 5, 5, 8, 8, 7, 7, 1, 0])"), {1e-4}, 0) + "\n");
  EXPECT_EQ(shape_error.rfind(where(1) + ": the 7x7 kernel does not fit", 0), 0u) << shape_error;
  EXPECT_EQ(error_of([] { import_tvm_log(kData / "auto_scheduler_conv2d.json", "a b"); }),
            "TVM import: workload name 'a b' must be 1-100 characters of A-Z a-z 0-9 _ . -");
}

}  // namespace
}  // namespace axnn::tune
