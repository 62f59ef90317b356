#include <gtest/gtest.h>

#include "common/error_of.h"
#include "core/files.h"
#include "core/subprocess.h"
#include "tune/workload.h"

namespace axnn::tune {
namespace {

using test_util::error_of;

TEST(Conv2dShape, ParsesTheSeedsNotationAndDerivesSizes) {
  const Conv2dShape s = parse_conv2d_shape("1,56,56,64,64,3,3,1,1", "--shape");
  EXPECT_EQ(s.oh(), 56);
  EXPECT_EQ(s.ow(), 56);
  EXPECT_DOUBLE_EQ(s.flops(), 2.0 * 64 * 56 * 56 * 64 * 9);  // 231.2 MFLOP
  EXPECT_EQ(s.key(), "conv2d_N_1_H_56_W_56_CO_64_CI_64_KH_3_KW_3_strides_1_padding_1");
  EXPECT_EQ(s.str(), "1,56,56,64,64,3,3,1,1");
  const Conv2dShape strided = parse_conv2d_shape("2 224 224 64 3 7 7 2 3", "x");
  EXPECT_EQ(strided.oh(), 112);  // (224 + 6 - 7) / 2 + 1
  EXPECT_EQ(strided.n, 2);
}

TEST(Conv2dShape, BadShapesNameTheField) {
  EXPECT_NE(error_of([] { parse_conv2d_shape("1,56,56,64,64,3,3,1", "--shape"); })
                .find("--shape: a Conv2D shape has 9 numbers"),
            std::string::npos);
  EXPECT_NE(error_of([] { parse_conv2d_shape("1,56,56,0,64,3,3,1,1", "--shape"); })
                .find("CO = 0 is out of range"),
            std::string::npos);
  EXPECT_NE(error_of([] { parse_conv2d_shape("1,56,5x6,64,64,3,3,1,1", "--shape"); })
                .find("'5x6' is not an integer"),
            std::string::npos);
  EXPECT_NE(error_of([] { parse_conv2d_shape("1,2,2,4,4,5,5,1,1", "f:3"); })
                .find("f:3: the 5x5 kernel does not fit the 2x2 input padded by 1"),
            std::string::npos);
  EXPECT_NE(error_of([] { parse_conv2d_shape("1,65536,65536,64,64,3,3,1,1", "s"); })
                .find("more than"),
            std::string::npos);
}

TEST(Conv2dBatch, ReadsNamesCommentsAndDefaults) {
  const TempDir dir("axnn-test-batch");
  const auto file = dir.path() / "b.txt";
  write_text_file(file, "# comment\n\n1,8,8,16,8,3,3,1,1 small  # trailing\r\n2 9 7 24 5 3 3 2 1\n");
  const std::vector<NamedConv2d> batch = load_conv2d_batch(file.string());
  ASSERT_EQ(batch.size(), 2u);
  EXPECT_EQ(batch[0].name, "small");
  EXPECT_EQ(batch[1].name, "case2");
  EXPECT_EQ(batch[1].shape.str(), "2,9,7,24,5,3,3,2,1");
}

TEST(Conv2dBatch, ErrorsNameFileAndLine) {
  const TempDir dir("axnn-test-batch");
  const auto file = dir.path() / "b.txt";
  write_text_file(file, "1,8,8,16,8,3,3,1,1 a\n1,8,8,16,8,3,3,1,1 a\n");
  EXPECT_NE(error_of([&] { load_conv2d_batch(file.string()); }).find(":2: the name 'a' is used twice"),
            std::string::npos);
  write_text_file(file, "1,8,8,16,8,3,3,1 short\n");
  EXPECT_NE(error_of([&] { load_conv2d_batch(file.string()); }).find("b.txt:1: a Conv2D shape"),
            std::string::npos);
  write_text_file(file, "1,8,8,16,8,3,3,1,1 ../evil\n");
  EXPECT_NE(error_of([&] { load_conv2d_batch(file.string()); }).find("workload name '../evil'"),
            std::string::npos);
  write_text_file(file, "# nothing\n");
  EXPECT_NE(error_of([&] { load_conv2d_batch(file.string()); }).find("no Conv2D shape"),
            std::string::npos);
}

TEST(Conv2dBatch, TheShippedBatchFilesLoad) {
  const std::string dir = std::string(AXNN_SOURCE_DIR) + "/bench/problems/";
  EXPECT_EQ(load_conv2d_batch(dir + "conv2d_seed001.txt").size(), 7u);
  EXPECT_EQ(load_conv2d_batch(dir + "conv2d_resnet.txt").size(), 13u);
  EXPECT_EQ(load_conv2d_batch(dir + "conv2d_yolo.txt").size(), 10u);
  EXPECT_EQ(load_conv2d_batch(dir + "conv2d_seed001.txt")[4].shape.str(), "1,56,56,64,64,3,3,1,1");
}

TEST(Target, ParsesKnownNamesOnly) {
  EXPECT_EQ(parse_target("cpu"), Target::kCpu);
  EXPECT_EQ(target_name(parse_target("cuda")), "cuda");
  EXPECT_NE(error_of([] { parse_target("gpu"); }).find("unknown target 'gpu' (known: cpu, cuda)"),
            std::string::npos);
}

}  // namespace
}  // namespace axnn::tune
