#include "bench/machine.h"

#include <filesystem>
#include <fstream>
#include <thread>

#include "bench/baselines.h"
#include "core/cpu.h"

namespace axnn::bench {

namespace {

std::string read_cpu_model() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  const std::string key = "model name";
  for (std::string line; std::getline(cpuinfo, line);) {
    if (line.compare(0, key.size(), key) != 0) continue;
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    const size_t start = line.find_first_not_of(" \t", colon + 1);
    return start == std::string::npos ? "unknown" : line.substr(start);
  }
  return "unknown";
}

}  // namespace

const MachineInfo& machine_info() {
  static const MachineInfo info = [] {
    MachineInfo result;
    result.cpu_model = read_cpu_model();
    result.logical_cpus = static_cast<int>(std::thread::hardware_concurrency());
    result.detected_isa = std::string(isa_name(detected_isa()));
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
  return {{"cpu_model", info.cpu_model},         {"logical_cpus", info.logical_cpus},
          {"detected_isa", info.detected_isa},   {"onednn_version", info.onednn_version},
          {"torch_version", info.torch_version}, {"torch_blas", info.torch_blas}};
}

}  // namespace axnn::bench
