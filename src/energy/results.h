// Measurement results in the seeds' layout:
//   DIR/energy/<workload>/cap<label>/results.csv  id,perf(GFLOP/s),energy(mJ),EDP(ms*mJ),...
//   DIR/energy/<workload>/cap<label>/info.json    probe, device, limits read, method
//   DIR/energy/<workload>/all.csv                 id, then the three columns of every cap
// The label is the cap in watts ("cap300") or "current" when the limit was only read.
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "energy/measure.h"

namespace axnn::energy {

struct KernelResult {
  int64_t id = 0;     // 1-based position in the workload's selected records
  int64_t trial = 0;  // the record's trial number
  Measurement measurement;
  std::optional<double> power_limit_watts;  // read just before measuring this kernel
};

struct CapResults {
  std::optional<double> cap_watts;  // empty: the current limit, only read
  std::vector<KernelResult> kernels;
  nlohmann::json info = nlohmann::json::object();  // written as info.json
};

std::string cap_label(const std::optional<double>& cap_watts);  // "cap300", "cap162.5", "current"

// The first four columns exactly as the seeds; then time, spreads (min and max over the repeats),
// average power, the limit read, iterations per window, repeats, trial and energy source. Energy
// columns are empty when energy was not available.
std::string results_csv(const std::vector<KernelResult>& kernels);
// id, then perf, energy and EDP of each cap, headers suffixed with the cap label
// ("perf(GFLOP/s)[cap300]"); a kernel missing under a cap has empty fields there.
std::string all_csv(const std::vector<CapResults>& caps);

// Writes every cap's results.csv and info.json and the workload's all.csv; returns the folder
// DIR/energy/<workload>.
std::filesystem::path write_energy_results(const std::filesystem::path& dir,
                                           std::string_view workload,
                                           const std::vector<CapResults>& caps);

}  // namespace axnn::energy
