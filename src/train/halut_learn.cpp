#include "train/halut_learn.h"

#include <ATen/CPUGeneratorImpl.h>
#include <fmt/ranges.h>
#include <fnmatch.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

#include "amm/maddness.h"
#include "core/error.h"
#include "core/progress.h"
#include "nn/ax_layers.h"
#include "nn/device.h"

namespace axnn::train {
namespace {

constexpr int64_t kHeldOutShare = 8;  // the last eighth of the batches (at least one) is held out

// Thrown by the row sink once it has the layer's rows: the rest of the network need not run.
struct RowsTaken {};

// Runs images [begin, end) through the model in batches up to the layer, whose row sink
// throws RowsTaken once it has the batch's rows.
void run_to_layer(models::Model& model, const data::Dataset& set, int64_t begin, int64_t end,
                  int64_t batch_size, const std::function<void(int64_t done)>& after_batch) {
  const at::Device device = nn::device_of(model);
  for (int64_t b = begin; b < end; b += batch_size) {
    try {
      model.forward(set.batch_images(b, std::min(b + batch_size, end)).to(device));
    } catch (const RowsTaken&) {
    }
    if (after_batch) after_batch(std::min(b + batch_size, end));
  }
}

// The layer's rows from the first training images, sampled at random evenly over the batches:
// learning rows and held-out rows, [groups, R, d] each. As many images as the rows need (a
// Linear sees one row per image), at least run.images.
struct Rows {
  at::Tensor learn, held_out;
};

Rows collect_rows(models::Model& model, nn::AxLayer& layer, const data::Dataset& set,
                  const HalutLearnRun& run, int64_t layer_index) {
  torch::NoGradGuard no_grad;
  model.eval();
  int64_t rows_per_image = 0;
  std::vector<at::Tensor> learn, held_out;
  std::function<void(const at::Tensor&)> take;
  layer.set_row_sink([&](const at::Tensor& rows) {
    take(rows);
    throw RowsTaken{};
  });
  try {
    take = [&](const at::Tensor& rows) { rows_per_image = rows.size(1); };
    run_to_layer(model, set, 0, 1, 1, {});
    AXNN_CHECK(rows_per_image > 0, "halut learn: layer '{}' did not run in the model's forward",
               layer.layer_name());
    const int64_t needed = (run.rows + run.held_out + rows_per_image - 1) / rows_per_image;
    const int64_t images = std::min(set.size(), std::max(run.images, needed));
    const int64_t batches = (images + run.batch_size - 1) / run.batch_size;
    const int64_t held_out_batches =
        batches >= 2 && run.held_out > 0 ? std::max<int64_t>(1, batches / kHeldOutShare) : 0;
    const int64_t learn_batches = batches - held_out_batches;
    const int64_t learn_quota = (run.rows + learn_batches - 1) / learn_batches;
    const int64_t held_out_quota =
        held_out_batches > 0 ? (run.held_out + held_out_batches - 1) / held_out_batches : 0;
    at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(
        run.learn.seed * 1000003 + static_cast<uint64_t>(layer_index));
    int64_t batch = 0;
    take = [&](const at::Tensor& rows) {
      const bool held = batch++ >= batches - held_out_batches;
      const int64_t quota = held ? held_out_quota : learn_quota, r = rows.size(1);
      if (quota == 0) return;
      (held ? held_out : learn)
          .push_back(quota >= r ? rows
                                : rows.index_select(1, at::randperm(r, generator, at::kLong)
                                                           .slice(0, 0, quota)
                                                           .to(rows.device())));
    };
    Progress progress(fmt::format("rows of {}", layer.layer_name()), images, "img");
    run_to_layer(model, set, 0, images, run.batch_size,
                 [&](int64_t done) { progress.update(done); });
  } catch (...) {
    layer.set_row_sink({});
    throw;
  }
  layer.set_row_sink({});
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
  AXNN_CHECK(run.group_width >= 0, "halut learn: group width {} must not be negative",
             run.group_width);
  std::vector<std::pair<std::string, nn::AxLayer*>> selected;
  for (const auto& [name, layer] : nn::ax_layers(model)) {
    const auto matches = [&](const std::string& glob) {
      return fnmatch(glob.c_str(), name.c_str(), 0) == 0;
    };
    if (layer->type() != "matmul" && std::any_of(run.layers.begin(), run.layers.end(), matches))
      selected.emplace_back(name, layer);
  }
  AXNN_CHECK(!selected.empty(),
             "halut learn: no Linear or Conv2d layer matches --layers '{}' (axnn eval lists the "
             "layers)",
             fmt::join(run.layers, ","));
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
    nn::HalutConfig wanted = run.config;
    if (run.group_width > 0) wanted.c = (shape.d + run.group_width - 1) / run.group_width;
    report.c = wanted.c;
    report.kept =
        layer->config().is_halut() && layer->halut().learned() && layer->config().halut == wanted;
    if (!report.kept) {
      nn::LayerConfig config = layer->config();
      config.mult = nn::kHalut;
      config.halut = wanted;
      layer->set_config(config);
      // Collected while the layer computes in fp32: its configuration does not matter yet.
      const Rows rows = collect_rows(model, *layer, set, run, static_cast<int64_t>(i));
      report.rows = rows.learn.size(1);
      report.held_out = rows.held_out.defined() ? rows.held_out.size(1) : 0;
      layer->learn_halut(rows.learn, run.learn);
      report.nmse = held_out_nmse(*layer, rows.held_out);
      if (run.retrain_epochs > 0) {
        TrainOptions options = run.retrain;
        options.epochs = run.retrain_epochs;
        const auto annealing = halut_annealing(model, set, options);
        train(model, set, options, run.on_epoch, annealing ? &*annealing : nullptr);
      }
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
