// What a benchmark figure was measured on, printed with every result.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace axnn::bench {

struct MachineInfo {
  std::string cpu_model;     // "model name" from /proc/cpuinfo; "unknown" if absent
  int logical_cpus = 0;      // online logical CPUs
  std::string detected_isa;  // what this CPU supports (axnn::detected_isa)
  // Which of the flags that decide the kernels' and oneDNN's paths /proc/cpuinfo lists (oneDNN
  // picks AMX for int8 where amx_int8 is present).
  std::vector<std::string> cpu_features;
  std::string onednn_version;
  std::string torch_version;
  std::string torch_blas;  // library providing LibTorch's sgemm, links resolved; "unknown" if none
};

// Collected once and cached.
const MachineInfo& machine_info();

nlohmann::ordered_json to_json(const MachineInfo& info);

}  // namespace axnn::bench
