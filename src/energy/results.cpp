#include "energy/results.h"

#include <fmt/format.h>

#include <map>
#include <set>

#include "core/error.h"
#include "core/files.h"
#include "tune/workload.h"

namespace axnn::energy {
namespace {

std::string number(double value) { return fmt::format("{:.6g}", value); }

std::string number(const std::optional<double>& value) {
  return value ? number(*value) : std::string();
}

// The three columns the seeds compare across caps.
std::string seed_columns(const Measurement& m) {
  return fmt::format("{},{},{}", number(m.gflops.median),
                     m.energy_mj ? number(m.energy_mj->median) : "",
                     m.edp ? number(m.edp->median) : "");
}

}  // namespace

std::string cap_label(const std::optional<double>& cap_watts) {
  return cap_watts ? fmt::format("cap{:g}", *cap_watts) : "current";
}

std::string results_csv(const std::vector<KernelResult>& kernels) {
  std::string csv =
      "id,perf(GFLOP/s),energy(mJ),EDP(ms*mJ),time(ms),time_min(ms),time_max(ms),"
      "energy_min(mJ),energy_max(mJ),EDP_min(ms*mJ),EDP_max(ms*mJ),power(W),power_limit(W),"
      "iterations,repeats,trial,energy_source\n";
  for (const KernelResult& k : kernels) {
    const Measurement& m = k.measurement;
    const auto field = [](const std::optional<Spread>& s, double Spread::*which) {
      return s ? number((*s).*which) : std::string();
    };
    AXNN_CHECK(!m.windows.empty(), "kernel {}: no measurement windows", k.id);
    csv += fmt::format("{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n", k.id, seed_columns(m),
                       number(m.time_ms.median), number(m.time_ms.min), number(m.time_ms.max),
                       field(m.energy_mj, &Spread::min), field(m.energy_mj, &Spread::max),
                       field(m.edp, &Spread::min), field(m.edp, &Spread::max),
                       field(m.power_watts, &Spread::median), number(k.power_limit_watts),
                       m.windows.front().iterations, m.windows.size(), k.trial,
                       csv_field(energy_source_name(m.energy_source)));
  }
  return csv;
}

std::string all_csv(const std::vector<CapResults>& caps) {
  std::string csv = "id";
  std::set<int64_t> ids;
  std::vector<std::map<int64_t, const KernelResult*>> by_id(caps.size());
  for (size_t c = 0; c < caps.size(); ++c) {
    const std::string label = cap_label(caps[c].cap_watts);
    csv += fmt::format(",perf(GFLOP/s)[{0}],energy(mJ)[{0}],EDP(ms*mJ)[{0}]", label);
    for (const KernelResult& k : caps[c].kernels) {
      ids.insert(k.id);
      by_id[c][k.id] = &k;
    }
  }
  csv += '\n';
  for (const int64_t id : ids) {
    csv += std::to_string(id);
    for (size_t c = 0; c < caps.size(); ++c) {
      const auto it = by_id[c].find(id);
      csv += ',';
      csv += it != by_id[c].end() ? seed_columns(it->second->measurement) : ",,";
    }
    csv += '\n';
  }
  return csv;
}

std::filesystem::path write_energy_results(const std::filesystem::path& dir,
                                           std::string_view workload,
                                           const std::vector<CapResults>& caps) {
  tune::check_workload_name(workload, "energy results");
  const std::filesystem::path folder = dir / "energy" / std::string(workload);
  for (const CapResults& cap : caps) {
    const std::filesystem::path cap_dir = folder / cap_label(cap.cap_watts);
    std::error_code ec;
    std::filesystem::create_directories(cap_dir, ec);
    AXNN_CHECK(!ec, "{}: cannot be created: {}", cap_dir.string(), ec.message());
    write_text_file(cap_dir / "results.csv", results_csv(cap.kernels));
    write_text_file(cap_dir / "info.json", cap.info.dump(2) + "\n");
  }
  write_text_file(folder / "all.csv", all_csv(caps));
  return folder;
}

}  // namespace axnn::energy
