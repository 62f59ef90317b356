// Tuning records: one JSON line per trial, appended as each trial finishes, so a run that stops
// can be resumed and nothing measured is lost. Imported TVM logs become records of the same kind.
//
// A line: {"version": 1, "workload": {"name": "case5", "op": "conv2d", "dtype": "float32",
//   "shape": [1,56,56,64,64,3,3,1,1]}, "target": "cpu", "device": "...", "origin": "axnn",
//   "config": {...}, "costs": [seconds, ...], "error_code": 0, "error": "", "trial": 17,
//   "timestamp": 1795000000.5}
// "config" is the schedule (knob -> integer) for origin "axnn"; for imported records it is the
// TVM state or AutoTVM entity as found in the log, kept for analysis.
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tune/workload.h"

namespace axnn::tune {

// TVM's MeasureErrorNo numbering, so that imported records keep their codes.
enum class ErrorCode : int {
  kNone = 0,
  kInstantiation = 1,  // the configuration is invalid for the workload
  kCompileHost = 2,    // the generated host code did not compile
  kCompileDevice = 3,  // the generated device code did not compile (NVRTC) or load
  kRuntimeDevice = 4,  // the kernel failed while running
  kWrongAnswer = 5,    // its output differs from the reference convolution
  kBuildTimeout = 6,
  kRunTimeout = 7,
  kUnknown = 8,
};
std::string_view error_code_name(ErrorCode code);  // "none", "compile-host", ...

struct Record {
  std::string workload_name;  // file-name safe (check_workload_name)
  Conv2dShape shape;
  std::string op = "conv2d";     // or "lut-conv2d": axnn's LUT convolution
  std::string dtype = "float32"; // for lut-conv2d, the multiplier's name
  std::string target = "cpu";  // "cpu", "cuda"
  std::string device;          // CPU model or GPU name
  std::string origin = "axnn"; // "axnn", "tvm-auto-scheduler", "tvm-autotvm"
  nlohmann::json config = nlohmann::json::object();
  std::vector<double> costs;  // seconds per run; empty when the trial failed
  ErrorCode error_code = ErrorCode::kNone;
  std::string error;  // the failure's message (compiler log tail, mismatch position)
  int64_t trial = 0;  // 0-based position in its workload's run
  double timestamp = 0;  // seconds since the Unix epoch when the trial finished

  bool ok() const { return error_code == ErrorCode::kNone && !costs.empty(); }
  // Median of costs (the figure ranked by select and perf); +inf for a failed trial.
  double seconds() const;
  double gflops() const;  // shape.flops() / seconds() / 1e9; 0 for a failed trial
};

nlohmann::json record_to_json(const Record& record);
// Throws axnn::Error naming `what` (e.g. "FILE:LINE") and the field at fault.
Record record_from_json(const nlohmann::json& json, std::string_view what);

// Appends one line and flushes it to disk before returning.
void append_record(const std::filesystem::path& file, const Record& record);
// All records of a JSON-lines file; a missing file gives none. A truncated last line (a run killed
// while writing) is skipped with a warning; any other malformed line is an error naming
// "FILE:LINE".
std::vector<Record> load_records(const std::filesystem::path& file);
// Replaces the file with these records (select writes its picks this way).
void write_records(const std::filesystem::path& file, const std::vector<Record>& records);

// The layout of a tuning directory:
//   DIR/records/<workload>.jsonl   every trial
//   DIR/selected/<workload>.jsonl  the representatives (axnn tune select)
//   DIR/perf/<workload>.csv        GFLOP/s of the representatives (axnn tune perf)
//   DIR/energy/<workload>/...      axnn energy measure
std::filesystem::path records_file(const std::filesystem::path& dir, std::string_view workload);
std::filesystem::path selected_file(const std::filesystem::path& dir, std::string_view workload);
// The workload names that have a file under DIR/<sub>/ with extension `ext`, sorted.
std::vector<std::string> list_workloads(const std::filesystem::path& dir, std::string_view sub,
                                        std::string_view ext);

}  // namespace axnn::tune
