// What is tuned: a Conv2D problem in the seeds' notation [N, H, W, CO, CI, KH, KW, stride, padding]
// (NCHW input, OIHW weights, no bias, no dilation, no groups), and where it runs.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace axnn::tune {

struct Conv2dShape {
  int64_t n = 1, h = 0, w = 0, co = 0, ci = 0, kh = 0, kw = 0, stride = 1, pad = 0;

  int64_t oh() const { return (h + 2 * pad - kh) / stride + 1; }
  int64_t ow() const { return (w + 2 * pad - kw) / stride + 1; }
  // 2 * N * CO * OH * OW * CI * KH * KW: a multiply and an add per MAC, as the seeds count them.
  double flops() const;
  // "conv2d_N_1_H_56_W_56_CO_64_CI_64_KH_3_KW_3_strides_1_padding_1", the seeds' file naming.
  std::string key() const;
  // "1,56,56,64,64,3,3,1,1"
  std::string str() const;
  std::vector<int64_t> values() const;  // the nine numbers in the seeds' order
  bool operator==(const Conv2dShape&) const = default;
};

// Bound on every dimension and on the tensors' element counts: shapes beyond it are refused.
inline constexpr int64_t kMaxConvDim = 1 << 16;
inline constexpr int64_t kMaxConvElements = int64_t{1} << 30;

// Throws axnn::Error naming `what` (a flag, "FILE:LINE") unless every field is positive (padding
// non-negative), the kernel fits the padded input and the tensors are within the bounds above.
void check_conv2d_shape(const Conv2dShape& shape, std::string_view what);
// From the nine numbers in the seeds' order; checked.
Conv2dShape conv2d_shape_from_values(const std::vector<int64_t>& values, std::string_view what);
// "N,H,W,CO,CI,KH,KW,S,P" (commas or spaces); checked.
Conv2dShape parse_conv2d_shape(std::string_view text, std::string_view what);

struct NamedConv2d {
  std::string name;  // from the batch file, or "caseI" (1-based line order) when a line has none
  Conv2dShape shape;
};

// A batch file (bench/problems/conv2d_*.txt): one shape per line, nine numbers separated by commas
// or spaces, optionally followed by a name ([A-Za-z0-9_.-]); '#' starts a comment. Errors name
// "FILE:LINE"; a file without shapes or with a repeated name is an error.
std::vector<NamedConv2d> load_conv2d_batch(const std::string& path);

// A workload name is used in file names: [A-Za-z0-9_.-]+, at most 100 characters. Throws
// axnn::Error naming `what` otherwise.
void check_workload_name(std::string_view name, std::string_view what);

enum class Target { kCpu, kCuda };
std::string_view target_name(Target target);  // "cpu", "cuda"
Target parse_target(std::string_view name);    // throws axnn::Error listing the targets

}  // namespace axnn::tune
