// Tuning logs of TVM as axnn records, so that trials tuned with TVM go through the same selection,
// performance and energy analysis. One JSON object per line, in either of TVM's formats:
//
// auto-scheduler (Ansor), "v": "v0.6" (or "v0.5"):
//   {"i": [[WORKLOAD_KEY, TARGET, hardware params, ...], STATE], "r": [[costs], error_no,
//    all_cost, timestamp], "v": "v0.6"}
//   WORKLOAD_KEY is the JSON text '["conv2d_layer", N, H, W, CO, CI, KH, KW, stride, padding]'
//   (the function the seeds register; stride and padding an integer or a list of two equal ones).
// AutoTVM, "version": 0.2:
//   {"input": [TARGET, TASK, ARGS, KWARGS], "config": {...}, "result": [[costs], error_no,
//    all_cost, timestamp], "version": 0.2, "tvm_version": "..."}
//   TASK an NCHW conv2d template ("conv2d_nchw.cuda", "conv2d_nchw_winograd.cuda",
//   "conv2d_NCHWc.x86", ...) with ARGS [["TENSOR", [N, C, H, W], dtype], ["TENSOR", [CO, CI, KH,
//   KW], dtype], strides, padding, dilation, ...].
//
// TARGET "cuda ..." gives target "cuda", "llvm ..." target "cpu"; the device is the target's
// -model (unless "unknown"), else -mcpu, else -arch, else empty. The record's config is the
// auto-scheduler STATE or the AutoTVM "config" object as in the log. A failed trial (error_no
// != 0, or a cost >= 1e9 s: TVM writes 1e10 or 1e9 for failures) becomes a failed record: no
// costs, TVM's error_no as error_code (TVM's numbering is axnn's; "unknown" for a failure cost
// with error_no 0), and an error text giving TVM's error_no and cost.
//
// A line of another workload than a float32 conv2d that a Conv2dShape describes (dense,
// depthwise, grouped, dilated, NHWC, unequal strides or padding, other targets than cuda and llvm,
// auto-scheduler keys of Relay tasks) is skipped and counted by reason. A line that is not
// valid JSON of either format is an error naming "FILE:LINE".
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "tune/records.h"

namespace axnn::tune {

// Failure costs of TVM (auto-scheduler 1e10, AutoTVM 1e9), and the seeds' validity cut.
inline constexpr double kTvmFailureCost = 1e9;

struct TvmImport {
  std::vector<Record> records;  // in log order; trial = 0-based position among its workload's
  int64_t lines = 0;            // non-blank lines read
  int64_t failed = 0;           // records of failed trials
  // Skipped lines by reason ("AutoTVM task dense_small_batch.cuda", "target opencl", ...).
  std::map<std::string, int64_t> skipped;
};

// Imports one log. Each record's workload name is `workload_name` if not empty (it must then
// pass check_workload_name), else the shape's key() (the seeds' file naming).
TvmImport import_tvm_log(const std::filesystem::path& file, const std::string& workload_name = "");

}  // namespace axnn::tune
