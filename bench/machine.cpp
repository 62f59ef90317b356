#include "bench/machine.h"

#include <algorithm>
#include <filesystem>
#include <sstream>
#include <thread>

#include "bench/baselines.h"
#include "core/cpu.h"

namespace axnn::bench {

namespace {

std::vector<std::string> cpu_features() {
  std::istringstream flags(cpuinfo_field("flags"));
  std::vector<std::string> all;
  for (std::string flag; flags >> flag;) all.push_back(flag);
  std::vector<std::string> present;
  for (const char* wanted :
       {"avx2", "avx512f", "avx512bw", "avx512vl", "avx512vbmi", "avx512_vnni", "amx_int8"})
    if (std::find(all.begin(), all.end(), wanted) != all.end()) present.emplace_back(wanted);
  return present;
}

}  // namespace

const MachineInfo& machine_info() {
  static const MachineInfo info = [] {
    MachineInfo result;
    const std::string model = cpuinfo_field("model name");
    result.cpu_model = model.empty() ? "unknown" : model;
    result.logical_cpus = static_cast<int>(std::thread::hardware_concurrency());
    result.detected_isa = std::string(isa_name(detected_isa()));
    result.cpu_features = cpu_features();
    result.onednn_version = onednn_version();
    result.torch_version = torch_version();
    // Resolved, since Debian's libblas.so.3 is an alternatives link to the BLAS actually installed.
    const std::string blas = torch_blas_library();
    std::error_code error;
    const std::filesystem::path resolved = std::filesystem::canonical(blas, error);
    result.torch_blas = blas.empty() ? "unknown" : error ? blas : resolved.string();
    return result;
  }();
  return info;
}

nlohmann::ordered_json to_json(const MachineInfo& info) {
  return {{"cpu_model", info.cpu_model},           {"logical_cpus", info.logical_cpus},
          {"detected_isa", info.detected_isa},     {"cpu_features", info.cpu_features},
          {"onednn_version", info.onednn_version}, {"torch_version", info.torch_version},
          {"torch_blas", info.torch_blas}};
}

}  // namespace axnn::bench
