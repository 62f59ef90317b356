#include "train/halut_learn.h"

#include <ATen/CPUGeneratorImpl.h>
#include <fnmatch.h>
#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <limits>

#include "amm/maddness.h"
#include "core/error.h"
#include "core/progress.h"
#include "nn/ax_layers.h"

namespace axnn::train {
namespace {

constexpr int64_t kHeldOutEvery = 8;  // every eighth batch is held out

// Thrown by the row sink once it has the layer's rows: the rest of the network need not run.
struct RowsTaken {};

bool same_config(const nn::HalutConfig& a, const nn::HalutConfig& b) {
  return a.c == b.c && a.k == b.k && a.encoder == b.encoder && a.lut == b.lut &&
         a.average == b.average;
}

// The layer's rows from the images, `quota` per batch at random: learning rows and held-out rows,
// [groups, R, d] each.
struct Rows {
  at::Tensor learn, held_out;
};

Rows collect_rows(models::Model& model, nn::AxLayer& layer, const data::Dataset& set,
                  const HalutLearnRun& run, int64_t layer_index) {
  const int64_t images = std::min(run.images, set.size());
  const int64_t batches = (images + run.batch_size - 1) / run.batch_size;
  const int64_t held_out_batches = batches / kHeldOutEvery;
  const int64_t learn_quota = (run.rows + batches - held_out_batches - 1) /
                              std::max<int64_t>(1, batches - held_out_batches);
  const int64_t held_out_quota =
      held_out_batches > 0 ? (run.held_out + held_out_batches - 1) / held_out_batches : 0;
  at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(
      run.learn.seed * 1000003 + static_cast<uint64_t>(layer_index));
  std::vector<at::Tensor> learn, held_out;
  int64_t batch = 0;
  layer.set_row_sink([&](const at::Tensor& rows) {
    const bool held = batch % kHeldOutEvery == kHeldOutEvery - 1;
    const int64_t quota = held ? held_out_quota : learn_quota;
    const int64_t r = rows.size(1);
    const at::Tensor picked =
        quota >= r ? rows
                   : rows.index_select(1, at::randperm(r, generator, at::kLong).slice(0, 0, quota));
    (held ? held_out : learn).push_back(picked.contiguous());
    throw RowsTaken{};
  });
  Progress progress(fmt::format("rows of {}", layer.layer_name()), images, "img");
  torch::NoGradGuard no_grad;
  model.eval();
  try {
    for (int64_t begin = 0; begin < images; begin += run.batch_size, ++batch) {
      const int64_t end = std::min(begin + run.batch_size, images);
      try {
        model.forward(set.batch_images(begin, end));
      } catch (const RowsTaken&) {
      }
      progress.update(end);
    }
  } catch (...) {
    layer.set_row_sink({});
    throw;
  }
  layer.set_row_sink({});
  AXNN_CHECK(!learn.empty(), "halut learn: layer '{}' did not run in the model's forward pass",
             layer.layer_name());
  return {at::cat(learn, 1), held_out.empty() ? at::Tensor() : at::cat(held_out, 1)};
}

double held_out_nmse(nn::AxLayer& layer, const at::Tensor& rows) {
  if (!rows.defined()) return std::numeric_limits<double>::quiet_NaN();
  torch::NoGradGuard no_grad;
  const at::Tensor exact = at::bmm(rows, layer.halut_weights());  // [G, R, m]
  return amm::nmse(exact, layer.halut().forward(rows).transpose(1, 2));
}

}  // namespace

std::vector<HalutLayerReport> learn_halut(
    models::Model& model, const data::Dataset& set, const HalutLearnRun& run,
    const std::function<void(const HalutLayerReport&)>& on_layer) {
  AXNN_CHECK(run.rows >= run.config.k, "halut learn: rows = {} must be at least k = {}", run.rows,
             run.config.k);
  AXNN_CHECK(run.images >= 1 && run.batch_size >= 1,
             "halut learn: images = {} and batch size = {} must be positive", run.images,
             run.batch_size);
  nn::check_halut_config(run.config, "halut learn");
  std::vector<std::pair<std::string, nn::AxLayer*>> selected;
  for (const auto& [name, layer] : nn::ax_layers(model))
    if (layer->type() != "matmul" && fnmatch(run.layers.c_str(), name.c_str(), 0) == 0)
      selected.emplace_back(name, layer);
  AXNN_CHECK(!selected.empty(),
             "halut learn: no Linear or Conv2d layer matches --layers '{}' (layers: run axnn eval "
             "to list them)",
             run.layers);
  std::vector<HalutLayerReport> reports;
  for (size_t i = 0; i < selected.size(); ++i) {
    const auto& [name, layer] = selected[i];
    const auto start = std::chrono::steady_clock::now();
    HalutLayerReport report;
    report.name = name;
    report.index = static_cast<int64_t>(i) + 1;
    report.count = static_cast<int64_t>(selected.size());
    const nn::AxLayer::HalutShape shape = layer->halut_shape();
    report.groups = shape.groups;
    report.d = shape.d;
    report.m = shape.m;
    report.kept = layer->config().is_halut() && layer->halut().learned() &&
                  same_config(layer->config().halut, run.config);
    if (!report.kept) {
      nn::LayerConfig config = layer->config();
      config.mult = nn::kHalut;
      config.halut = run.config;
      layer->set_config(config);
      // Collected while the layer computes in fp32: its configuration does not matter yet.
      const Rows rows = collect_rows(model, *layer, set, run, static_cast<int64_t>(i));
      report.rows = rows.learn.size(1);
      report.held_out = rows.held_out.defined() ? rows.held_out.size(1) : 0;
      layer->halut().learn(rows.learn, layer->halut_weights(), run.learn);
      report.nmse = held_out_nmse(*layer, rows.held_out);
    } else {
      report.nmse = std::numeric_limits<double>::quiet_NaN();
    }
    report.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    reports.push_back(report);
    if (on_layer) on_layer(report);
  }
  return reports;
}

std::optional<ExtraObjective> halut_annealing(models::Model& model, const data::Dataset& set,
                                              const TrainOptions& options, double start,
                                              double end) {
  std::vector<nn::AxLayer*> layers;
  for (const auto& [name, layer] : nn::ax_layers(model))
    if (layer->config().is_halut() && layer->config().halut.encoder == "learned")
      layers.push_back(layer);
  if (layers.empty()) return std::nullopt;
  const double steps = static_cast<double>(
      options.epochs * ((set.size() + options.batch_size - 1) / options.batch_size));
  const auto set_all = [layers](double t) {
    for (nn::AxLayer* layer : layers) layer->halut().set_temperature(t);
  };
  set_all(start);
  ExtraObjective extra;
  extra.after_step = [set_all, steps, start, end, step = 0.0]() mutable {
    step += 1;
    set_all(start * std::pow(end / start, std::min(1.0, step / steps)));
  };
  return extra;
}

}  // namespace axnn::train
