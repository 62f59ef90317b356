#include <gtest/gtest.h>

#include <sstream>
#include <string>

#include "bench/problems.h"
#include "core/error.h"

namespace axnn::bench {
namespace {

std::vector<Problem> parse(const std::string& text) {
  std::istringstream in(text);
  return parse_problems(in, "batch.txt");
}

// The message of the axnn::Error that parsing `text` throws; empty if it parses.
std::string error_of(const std::string& text) {
  try {
    parse(text);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Problems, ParsesShapesNamesAndComments) {
  const auto problems = parse(
      "# header comment\n"
      "\n"
      "64 576 3136 resnet.layer1   # trailing comment\n"
      "   256\t2304 196\n"
      "1 2 3#glued comment\n");
  ASSERT_EQ(problems.size(), 3u);
  EXPECT_EQ(problems[0].m, 64);
  EXPECT_EQ(problems[0].k, 576);
  EXPECT_EQ(problems[0].n, 3136);
  EXPECT_EQ(problems[0].name, "resnet.layer1");
  EXPECT_EQ(problems[1].m, 256);
  EXPECT_EQ(problems[1].k, 2304);
  EXPECT_EQ(problems[1].n, 196);
  EXPECT_EQ(problems[1].name, "");
  EXPECT_EQ(problems[2].n, 3);
}

TEST(Problems, MalformedLinesNameTheLine) {
  EXPECT_NE(error_of("64 576 3136\n# ok\n64 576\n").find("batch.txt:3:"), std::string::npos);
  EXPECT_NE(error_of("64 x 3136\n").find("batch.txt:1: K must be an integer, got 'x'"),
            std::string::npos);
  EXPECT_NE(error_of("\n64 576 3136abc\n").find("batch.txt:2: N must be an integer"),
            std::string::npos);
  EXPECT_NE(error_of("0 5 5\n").find("batch.txt:1: M, K and N must be positive"),
            std::string::npos);
  EXPECT_NE(error_of("1 -5 5\n").find("batch.txt:1:"), std::string::npos);
  EXPECT_NE(error_of("1 2 3 name extra\n").find("batch.txt:1: expected 'M K N [name]'"),
            std::string::npos);
}

TEST(Problems, CrlfLineEndings) {
  const auto problems = parse("# comment\r\n64 576 3136 resnet.layer1\r\n\r\n1 2 3\r\n");
  ASSERT_EQ(problems.size(), 2u);
  EXPECT_EQ(problems[0].name, "resnet.layer1");
  EXPECT_EQ(problems[1].n, 3);
  // The carriage return is not quoted back in messages either.
  const std::string error = error_of("1 2\r\n");
  EXPECT_NE(error.find("batch.txt:1: expected 'M K N [name]', got 2 fields in '1 2'"),
            std::string::npos)
      << error;
}

TEST(Problems, HugeDimensionsAreErrors) {
  // Beyond int64.
  EXPECT_NE(error_of("64 99999999999999999999 3136\n")
                .find("batch.txt:1: K = '99999999999999999999' is out of range"),
            std::string::npos);
  EXPECT_NE(error_of("1 1 -99999999999999999999\n").find("batch.txt:1: N = "), std::string::npos);
  // Within int64 but beyond LutGemm's bound of 2^31 - 1.
  EXPECT_NE(error_of("1 1 1\n2147483648 1 1\n").find("batch.txt:2: M, K and N must be at most"),
            std::string::npos);
  EXPECT_NE(error_of("1 9223372036854775807 1\n").find("batch.txt:1: M, K and N must be at most"),
            std::string::npos);
  // Each dimension within the bound, but A, B and C beyond the memory budget.
  EXPECT_NE(error_of("65536 65536 65536\n").find("batch.txt:1: shape 65536x65536x65536 needs"),
            std::string::npos);
  EXPECT_NE(error_of("2147483647 1 1\n"), "");  // 8 GiB of C alone
  // The largest dimension is fine when the rest is small.
  EXPECT_EQ(parse("1 2147483647 1\n")[0].k, kMaxDim);
}

TEST(Problems, CheckProblemNamesTheSource) {
  try {
    check_problem({1, 1, 1LL << 40, ""}, "--m/--k/--n");
    FAIL() << "expected axnn::Error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).rfind("--m/--k/--n: ", 0), 0u) << e.what();
  }
  EXPECT_LE(operand_bytes({64, 576, 3136, ""}), kMaxOperandBytes);
  EXPECT_DOUBLE_EQ(operand_bytes({2, 3, 5, ""}), 2 * 3 + 3 * 5 + 4 * 2 * 5);
}

TEST(Problems, EmptyBatchIsAnError) {
  EXPECT_NE(error_of("# only comments\n\n").find("batch.txt: no shapes"), std::string::npos);
}

TEST(Problems, UnreadableFileIsAnError) {
  try {
    load_problems("/nonexistent/shapes.txt");
    FAIL() << "expected axnn::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/shapes.txt"), std::string::npos);
  }
}

// The shipped batch files parse, and the two reference conv shapes are in resnet.txt.
TEST(Problems, ShippedBatchFilesParse) {
  const std::string dir = std::string(AXNN_SOURCE_DIR) + "/bench/problems/";
  for (const char* file : {"resnet.txt", "tvm_conv.txt", "vit.txt", "smoke.txt"})
    EXPECT_FALSE(load_problems(dir + file).empty()) << file;
  bool conv_56 = false, conv_14 = false;
  for (const Problem& p : load_problems(dir + "resnet.txt")) {
    conv_56 |= p.m == 64 && p.k == 576 && p.n == 3136;
    conv_14 |= p.m == 256 && p.k == 2304 && p.n == 196;
  }
  EXPECT_TRUE(conv_56 && conv_14);
}

}  // namespace
}  // namespace axnn::bench
