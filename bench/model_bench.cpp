#include "bench/model_bench.h"

#include <ATen/Parallel.h>
#include <fmt/format.h>
#include <torch/cuda.h>
#include <torch/torch.h>

#include <algorithm>
#include <functional>
#include <map>
#include <optional>

#include "core/error.h"
#include "core/profile.h"
#include "nn/ax_layers.h"
#include "nn/configure.h"
#include "train/train.h"

namespace axnn::bench {
namespace {

constexpr const char* kOutside = "(outside layers)";

// Per layer and stage, seconds per forward pass over `runs` passes with the stage timers on; the
// layer kOutside's "total" is the wall time less the layers' totals.
std::vector<profile::Entry> profile_forward(const std::function<void()>& forward, int runs) {
  profile::take();
  profile::set_enabled(true);
  const double start = now_seconds();
  for (int i = 0; i < runs; ++i) forward();
  const double wall = now_seconds() - start;
  profile::set_enabled(false);
  std::vector<profile::Entry> entries = profile::take();
  double layers = 0;
  for (profile::Entry& e : entries) {
    e.seconds /= runs;
    if (e.stage == "total") layers += e.seconds;
  }
  entries.push_back({kOutside, "total", wall / runs - layers, runs});
  return entries;
}

// The two runs' entries as one row per layer, in the approximate run's order.
std::vector<LayerProfile> merge_profiles(const std::vector<profile::Entry>& fp32,
                                         const std::vector<profile::Entry>& approx) {
  std::vector<LayerProfile> rows;
  std::map<std::string, size_t> row_of;
  const auto row = [&](const std::string& layer) -> LayerProfile& {
    auto [it, inserted] = row_of.try_emplace(layer, rows.size());
    if (inserted) rows.push_back({layer, 0, 0, {}});
    return rows[it->second];
  };
  for (const profile::Entry& e : approx) {
    LayerProfile& r = row(e.layer);
    if (e.stage == "total")
      r.approx = e.seconds;
    else
      r.stages.emplace_back(e.stage, e.seconds);
  }
  for (const profile::Entry& e : fp32)
    if (e.stage == "total") row(e.layer).fp32 = e.seconds;
  for (LayerProfile& r : rows) {
    double timed = 0;
    for (const auto& [stage, seconds] : r.stages) timed += seconds;
    if (r.layer != kOutside) r.stages.emplace_back("other", r.approx - timed);
  }
  return rows;
}

}  // namespace

ModelBenchResult run_model_bench(const ModelBenchOptions& options) {
  AXNN_CHECK(options.batch >= 1, "--batch must be >= 1, got {}", options.batch);
  AXNN_CHECK(options.threads >= 1, "--threads must be >= 1, got {}", options.threads);
  check_timing_options(options.timing);
  at::set_num_threads(options.threads);
  torch::manual_seed(options.seed);

  train::CheckpointInfo info;
  std::shared_ptr<models::Model> model;
  if (options.checkpoint.empty()) {
    model = models::make_model(options.model, options.spec);
    info.spec = options.spec;
  } else {
    model = train::load_checkpoint(options.checkpoint, &info);
  }
  model->eval();
  model->to(options.device);
  torch::NoGradGuard no_grad;
  const at::Tensor images =
      torch::randn({options.batch, info.spec.channels, info.spec.image_size, info.spec.image_size})
          .to(options.device);
  // A GPU runs the forward pass asynchronously: a timed run ends when the device is done.
  const auto forward = [&] {
    model->forward(images);
    if (options.device.is_cuda()) torch::cuda::synchronize(options.device.index());
  };

  ModelBenchResult result;
  result.model = std::string(model->model_name());
  result.mult = options.mult;
  result.batch = options.batch;
  result.threads = options.threads;
  result.device = options.device.str();

  AXNN_CHECK(options.profile_runs >= 0, "--profile must be >= 0, got {}", options.profile_runs);
  nn::configure_layers(*model, nn::rules_for_all("exact"));
  result.fp32 = measure(forward, options.timing);
  std::vector<profile::Entry> fp32_profile;
  if (options.profile_runs > 0) fp32_profile = profile_forward(forward, options.profile_runs);

  nn::configure_layers(*model, nn::rules_for_all(options.mult));
  if (options.checkpoint.empty()) {
    // Random weights have no calibration: take it from the benchmark batch.
    nn::set_calibrating(*model, true);
    model->forward(images);
    nn::set_calibrating(*model, false);
  }
  result.approx = measure(forward, options.timing);
  if (options.profile_runs > 0)
    result.profile = merge_profiles(fp32_profile, profile_forward(forward, options.profile_runs));

  const std::optional<double> power = nn::network_relative_power(*model);
  result.relative_power = power.value_or(-1);
  for (const auto& layer : nn::layer_table(*model))
    result.macs_per_image += static_cast<double>(layer.macs_per_sample);
  return result;
}

nlohmann::ordered_json profile_json(const std::vector<LayerProfile>& rows) {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const LayerProfile& r : rows) {
    nlohmann::ordered_json stages = nlohmann::ordered_json::object();
    for (const auto& [stage, seconds] : r.stages) stages[stage] = seconds;
    out.push_back({{"layer", r.layer},
                   {"fp32_seconds", r.fp32},
                   {"approx_seconds", r.approx},
                   {"approx_stages", stages}});
  }
  return out;
}

nlohmann::ordered_json to_json(const ModelBenchResult& r) {
  const auto timing = [&](const Timing& t) {
    return nlohmann::ordered_json{{"images_per_s", r.images_per_second(t)},
                                  {"images_per_s_median", r.batch / t.median},
                                  {"seconds_min", t.min},
                                  {"seconds_median", t.median},
                                  {"runs", t.samples.size()}};
  };
  return {{"model", r.model},
          {"mult", r.mult},
          {"batch", r.batch},
          {"threads", r.threads},
          {"device", r.device},
          {"macs_per_image", r.macs_per_image},
          {"relative_power", r.relative_power < 0 ? nlohmann::ordered_json(nullptr)
                                                  : nlohmann::ordered_json(r.relative_power)},
          {"approx", timing(r.approx)},
          {"fp32", timing(r.fp32)},
          {"slowdown", r.slowdown()},
          {"slowdown_median", r.slowdown_median()},
          {"profile", profile_json(r.profile)}};
}

std::string format_model_bench(const ModelBenchResult& r) {
  return fmt::format(
      "{} batch {} on {}, {:.1f} M MACs/image\n"
      "  approximate int8 ({}): {:9.1f} images/s (median {:.1f})\n"
      "  LibTorch fp32:{:>{}} {:9.1f} images/s (median {:.1f})\n"
      "  approximate / fp32 time: {:.2f}x (median {:.2f}x; target <= {})\n",
      r.model, r.batch, r.device == "cpu" ? fmt::format("{} thread(s)", r.threads) : r.device,
      r.macs_per_image * 1e-6, r.mult, r.images_per_second(r.approx), r.batch / r.approx.median, "",
      r.mult.size() + 7, r.images_per_second(r.fp32), r.batch / r.fp32.median, r.slowdown(),
      r.slowdown_median(), r.device == "cpu" ? "1.5x" : "3x");
}

std::string format_model_profile(const ModelBenchResult& r) {
  // Columns: every stage in order of first appearance, "other" last.
  std::vector<std::string> stages;
  for (const LayerProfile& row : r.profile)
    for (const auto& [stage, seconds] : row.stages)
      if (stage != "other" && std::find(stages.begin(), stages.end(), stage) == stages.end())
        stages.push_back(stage);
  stages.push_back("other");
  size_t width = 5;
  for (const LayerProfile& row : r.profile) width = std::max(width, row.layer.size());
  std::string out = fmt::format("milliseconds per forward pass (batch {}):\n{:<{}} {:>8} {:>8}",
                                r.batch, "layer", width, "fp32", "approx");
  for (const std::string& stage : stages) out += fmt::format(" {:>10}", stage);
  out += "\n";
  LayerProfile sum{"sum", 0, 0, {}};
  for (const std::string& stage : stages) sum.stages.emplace_back(stage, 0);
  for (const LayerProfile& row : r.profile) {
    out += fmt::format("{:<{}} {:8.3f} {:8.3f}", row.layer, width, row.fp32 * 1e3, row.approx * 1e3);
    sum.fp32 += row.fp32;
    sum.approx += row.approx;
    for (size_t i = 0; i < stages.size(); ++i) {
      const auto it = std::find_if(row.stages.begin(), row.stages.end(),
                                   [&](const auto& s) { return s.first == stages[i]; });
      if (it == row.stages.end()) {
        out += fmt::format(" {:>10}", "");
      } else {
        out += fmt::format(" {:10.3f}", it->second * 1e3);
        sum.stages[i].second += it->second;
      }
    }
    out += "\n";
  }
  out += fmt::format("{:<{}} {:8.3f} {:8.3f}", sum.layer, width, sum.fp32 * 1e3, sum.approx * 1e3);
  for (const auto& [stage, seconds] : sum.stages) out += fmt::format(" {:10.3f}", seconds * 1e3);
  return out + "\n";
}

}  // namespace axnn::bench
