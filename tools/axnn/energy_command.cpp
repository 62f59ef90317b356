// `axnn energy probe|measure`: what the energy probes can read, and energy, time and EDP of the
// selected kernels of a tuning directory, per power cap, in the seeds' CSV layout. Power caps are
// a shared machine setting: they are only read unless --set-power-caps asks, and then the
// original limit is put back at the end, on error and on SIGINT / SIGTERM / SIGHUP.
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "commands.h"
#include "core/error.h"
#include "energy/measure.h"
#include "energy/power_cap.h"
#include "energy/probe.h"
#include "energy/results.h"
#include "tune/backend.h"
#include "tune/records.h"

namespace axnn::cli {
namespace {

namespace fs = std::filesystem;

std::string watts_text(const std::optional<double>& watts) {
  return watts ? fmt::format("{:g} W", *watts) : "unknown";
}

void run_probe(const std::string& target) {
  const std::vector<std::string> targets =
      target.empty() ? std::vector<std::string>{"cpu", "cuda"} : std::vector{target};
  for (const std::string& name : targets) {
    const std::unique_ptr<energy::EnergyProbe> probe = energy::make_probe(tune::parse_target(name));
    fmt::print("target: {}\n{}", name, energy::describe_probe(*probe));
  }
}

struct MeasureCommandOptions {
  std::string dir, target, caps, workload;
  energy::MeasureOptions measure;
};

// A selected record that can be measured: built from origin "axnn" on the chosen target.
struct Candidate {
  int64_t id = 0;  // 1-based position in the selected file
  tune::Record record;
  std::unique_ptr<tune::Kernel> kernel;
};

// The target of the records when not given: the one target of the selected axnn records.
tune::Target choose_target(const std::string& flag,
                           const std::map<std::string, std::vector<tune::Record>>& selected) {
  if (!flag.empty()) return tune::parse_target(flag);
  std::optional<std::string> found;
  for (const auto& [workload, records] : selected) {
    for (const tune::Record& r : records) {
      if (r.origin != "axnn") continue;
      AXNN_CHECK(!found || *found == r.target,
                 "the selected records are for more than one target ({} and {}); choose one "
                 "with --target",
                 *found, r.target);
      found = r.target;
    }
  }
  AXNN_CHECK(found.has_value(),
             "no selected record was tuned by axnn (imported TVM records cannot be rebuilt "
             "without TVM)");
  return tune::parse_target(*found);
}

std::vector<Candidate> build_candidates(tune::Backend& backend, tune::Target target,
                                        const std::string& workload,
                                        const std::vector<tune::Record>& records,
                                        const fs::path& file) {
  std::vector<Candidate> built;
  int64_t imported = 0;
  for (size_t i = 0; i < records.size(); ++i) {
    const tune::Record& r = records[i];
    const int64_t id = static_cast<int64_t>(i) + 1;
    if (r.origin != "axnn") {
      ++imported;
      continue;
    }
    if (r.target != tune::target_name(target)) {
      fmt::print("{} #{}: skipped, tuned for {} not {}\n", workload, id, r.target,
                 tune::target_name(target));
      continue;
    }
    const std::string what = fmt::format("{}:{}", file.string(), id);
    const tune::Config config = backend.space(r.shape, 0).from_json(r.config, what);
    std::vector<tune::Built> result = backend.build(r.shape, {config}, {});
    AXNN_CHECK(result.size() == 1, "{}: the backend built {} kernels for one configuration", what,
               result.size());
    if (result[0].error_code != tune::ErrorCode::kNone) {
      fmt::print("{} #{}: skipped, the kernel failed to build or check ({}): {}\n", workload, id,
                 tune::error_code_name(result[0].error_code), result[0].error);
      continue;
    }
    built.push_back({id, r, std::move(result[0].kernel)});
  }
  if (imported > 0)
    fmt::print("{}: skipped {} record{} imported from TVM (not rebuildable without TVM)\n",
               workload, imported, imported == 1 ? "" : "s");
  return built;
}

// "1234.50 GFLOP/s, 0.1234 ms, 15.67 mJ (15.2..16.1), EDP 1.934 ms*mJ, 127.0 W"
std::string summary(const energy::Measurement& m) {
  std::string text = fmt::format("{:.2f} GFLOP/s, {:.4g} ms", m.gflops.median, m.time_ms.median);
  if (m.energy_mj) {
    text +=
        fmt::format(", {:.4g} mJ ({:.4g}..{:.4g}), EDP {:.4g} ms*mJ, {:.1f} W", m.energy_mj->median,
                    m.energy_mj->min, m.energy_mj->max, m.edp->median, m.power_watts->median);
  }
  return text;
}

nlohmann::json cap_info(energy::EnergyProbe& probe, tune::Target target,
                        const std::optional<double>& cap, const energy::PowerLimits& at_start,
                        const std::string& energy_note, const energy::MeasureOptions& o) {
  const auto watts = [](const std::optional<double>& w) {
    return w ? nlohmann::json(*w) : nlohmann::json(nullptr);
  };
  return {{"target", tune::target_name(target)},
          {"probe", probe.name()},
          {"device", probe.device()},
          {"energy", energy_note},
          {"power_cap_set_w", watts(cap)},
          {"power_limit_at_start_w", watts(at_start.current)},
          {"power_limit_default_w", watts(at_start.default_limit)},
          {"power_limit_min_w", watts(at_start.min)},
          {"power_limit_max_w", watts(at_start.max)},
          {"min_window_s", o.min_window_seconds},
          {"repeats", o.repeats},
          {"warmup_s", o.warmup_seconds},
          {"statistic", "median over the repeats; spread: min and max"}};
}

void run_measure(const MeasureCommandOptions& o) {
  energy::check_measure_options(o.measure);
  const fs::path dir = o.dir;
  std::vector<std::string> workloads;
  if (!o.workload.empty()) {
    tune::check_workload_name(o.workload, "--workload");
    workloads = {o.workload};
  } else {
    workloads = tune::list_workloads(dir, "selected", "jsonl");
  }
  std::map<std::string, std::vector<tune::Record>> selected;
  for (const std::string& w : workloads) {
    const fs::path file = tune::selected_file(dir, w);
    selected[w] = tune::load_records(file);
    AXNN_CHECK(!selected[w].empty(), "{}: no selected records; run `axnn tune select {}` first",
               file.string(), o.dir);
  }
  AXNN_CHECK(!workloads.empty(), "{}: no selected records; run `axnn tune select {}` first",
             (dir / "selected").string(), o.dir);
  const tune::Target target = choose_target(o.target, selected);

  const std::unique_ptr<energy::EnergyProbe> probe = energy::make_probe(target);
  const energy::PowerLimits at_start = probe->power_limits();
  std::vector<std::optional<double>> caps = {std::nullopt};
  std::optional<energy::PowerCapGuard> guard;
  if (!o.caps.empty()) {
    std::vector<double> watts = energy::parse_power_caps(o.caps, "--set-power-caps");
    guard.emplace(*probe);
    for (const double w : watts) guard->check(w);  // all refused before anything changes
    caps.assign(watts.begin(), watts.end());
  }
  fmt::print("energy: {} probe{}{}; power limit {} ({})\n", probe->name(),
             probe->device().empty() ? "" : " on " + probe->device(),
             probe->available() ? "" : ", energy not available: " + probe->unavailable_reason(),
             watts_text(at_start.current),
             guard ? fmt::format("caps to measure: {}, restored afterwards", o.caps)
                   : "only read; --set-power-caps W1,W2,... sets caps");

  for (const std::string& workload : workloads) {
    // The backend of the first record it can rebuild: a workload's records are of one op and
    // dtype (the tuner refuses to mix them); imported ones and other targets are skipped below.
    const std::vector<tune::Record>& records = selected[workload];
    const auto rebuildable = std::find_if(records.begin(), records.end(), [&](const auto& r) {
      return r.origin == "axnn" && r.target == tune::target_name(target);
    });
    const std::unique_ptr<tune::Backend> backend =
        rebuildable == records.end() ? nullptr : tune::make_backend_for(*rebuildable);
    std::vector<Candidate> candidates;
    if (backend)
      candidates =
          build_candidates(*backend, target, workload, records, tune::selected_file(dir, workload));
    if (candidates.empty()) {
      fmt::print("{}: nothing to measure\n", workload);
      continue;
    }
    std::vector<energy::CapResults> results;
    for (const std::optional<double>& cap : caps) {
      if (cap) guard->set(*cap);
      energy::CapResults& out = results.emplace_back();
      out.cap_watts = cap;
      std::string note;
      for (Candidate& c : candidates) {
        energy::KernelResult k;
        k.id = c.id;
        k.trial = c.record.trial;
        k.power_limit_watts = probe->power_limits().current;
        tune::Kernel& kernel = *c.kernel;
        k.measurement = energy::measure([&kernel] { kernel.run(); }, [&kernel] { kernel.sync(); },
                                        c.record.shape.flops(), *probe, o.measure);
        const energy::Measurement& m = k.measurement;
        note = m.energy_note;
        fmt::print("{} {} #{} (trial {}): {}\n", workload, energy::cap_label(cap), c.id,
                   c.record.trial, summary(m));
        out.kernels.push_back(std::move(k));
      }
      out.info = cap_info(*probe, target, cap, at_start, note, o.measure);
    }
    const fs::path folder = energy::write_energy_results(dir, workload, results);
    fmt::print("{}: wrote {} (energy: {})\n", workload, (folder / "all.csv").string(),
               results.back().info["energy"].get<std::string>());
  }
}

}  // namespace

void add_energy_command(CLI::App& app) {
  CLI::App* energy = app.add_subcommand(
      "energy", "Energy probes (NVML, RAPL) and energy/EDP of tuned kernels under power caps");
  energy->require_subcommand(1);

  auto* probe = energy->add_subcommand("probe", "Show what the energy probes can read here");
  auto target = std::make_shared<std::string>();
  probe->add_option("--target", *target, "cpu (RAPL) or cuda (NVML); default: both")
      ->check(CLI::IsMember({"cpu", "cuda"}));
  probe->callback([target] { run_probe(*target); });

  auto* measure = energy->add_subcommand(
      "measure",
      "Measure energy per iteration, time and EDP of the selected kernels of a tuning directory "
      "(DIR/selected/<workload>.jsonl) into DIR/energy/<workload>/cap<W>|current/results.csv and "
      "DIR/energy/<workload>/all.csv");
  auto o = std::make_shared<MeasureCommandOptions>();
  measure->add_option("dir", o->dir, "Tuning directory (axnn tune conv2d -o, axnn tune select)")
      ->required();
  measure
      ->add_option("--target", o->target,
                   "cpu or cuda (default: the target of the selected records)")
      ->check(CLI::IsMember({"cpu", "cuda"}));
  measure->add_option("--set-power-caps", o->caps,
                      "Power caps in watts to measure under, e.g. 150,200,300 (needs root; the "
                      "original limit is restored). Default: only read the current limit");
  measure
      ->add_option("--min-window", o->measure.min_window_seconds,
                   "Shortest reading window in seconds")
      ->capture_default_str();
  measure->add_option("--repeats", o->measure.repeats, "Windows per kernel (median and min/max)")
      ->capture_default_str();
  measure->add_option("--warmup", o->measure.warmup_seconds, "Warm-up seconds per kernel")
      ->capture_default_str();
  measure->add_option("--workload", o->workload, "Only this workload (default: all selected)");
  measure->callback([o] { run_measure(*o); });
}

}  // namespace axnn::cli
