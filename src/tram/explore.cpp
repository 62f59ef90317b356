#include "tram/explore.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <map>
#include <string>

#include "core/error.h"
#include "mult/generators.h"
#include "nn/ax_layers.h"
#include "nn/configure.h"
#include "nn/device.h"
#include "tram/columns.h"
#include "tram/power.h"

namespace axnn::tram {
namespace {

at::Tensor column_tables(int bits, bool is_signed, int columns) {
  const int64_t codes = int64_t{1} << bits;
  at::Tensor tables = at::empty({columns, codes, codes}, at::kInt);
  for (int c = 0; c < columns; ++c) {
    const std::vector<int32_t> t = column_table(bits, is_signed, c);
    std::copy(t.begin(), t.end(), tables[c].data_ptr<int32_t>());
  }
  return tables;
}

std::vector<double> values_of(const at::Tensor& gamma) {
  const at::Tensor g = gamma.detach().clamp(0, 1).to(at::kCPU, at::kDouble).contiguous();
  return {g.data_ptr<double>(), g.data_ptr<double>() + g.numel()};
}

// Each layer's share of the model's MACs, from a forward of two training images.
std::vector<double> mac_shares(models::Model& model, const data::Dataset& set,
                               const std::vector<std::pair<std::string, nn::AxLayer*>>& layers) {
  {
    torch::NoGradGuard no_grad;
    model.forward(set.batch_images(0, std::min<int64_t>(2, set.size())).to(nn::device_of(model)));
  }
  double total = 0;
  for (const auto& [name, layer] : layers) total += static_cast<double>(layer->macs_per_sample());
  AXNN_CHECK(total > 0, "TRAM explore: the model's approximate layers run no multiplication");
  std::vector<double> shares;
  for (const auto& [name, layer] : layers)
    shares.push_back(static_cast<double>(layer->macs_per_sample()) / total);
  return shares;
}

// One gamma tensor per structure (one, or one per layer), and what each layer uses.
struct Gammas {
  std::vector<at::Tensor> tensors;
  std::vector<size_t> of_layer;
};

void record(Structure& s, const Gammas& g,
            const std::vector<std::pair<std::string, nn::AxLayer*>>& layers) {
  if (!s.per_layer) {
    s.gamma = values_of(g.tensors[0]);
    return;
  }
  for (size_t l = 0; l < layers.size(); ++l)
    s.layers[layers[l].first] = values_of(g.tensors[g.of_layer[l]]);
}

void configure_exact(models::Model& model, int bits, bool is_signed) {
  // The checkpoint's quantization keys (calibration, per channel, ...) stay; the multiplier is
  // the exact one the structure is learned on.
  for (const auto& [name, layer] : nn::ax_layers(model)) {
    nn::LayerConfig config = layer->config();
    config.mult = exact_multiplier_name(bits, is_signed);
    layer->set_config(config);
  }
}

}  // namespace

std::string exact_multiplier_name(int bits, bool is_signed) {
  return fmt::format("exact{}{}", bits, is_signed ? 's' : 'u');
}

Structure explore(models::Model& model, const data::Dataset& train_set, const ExploreOptions& o,
                  const std::function<void(const Structure&)>& on_epoch) {
  const int columns = o.columns == 0 ? default_structure_columns(o.bits) : o.columns;
  AXNN_CHECK(columns >= 1 && columns <= partial_product_columns(o.bits),
             "--columns {}: a {}-bit multiplier has 1..{} columns to learn", columns, o.bits,
             partial_product_columns(o.bits));
  const std::vector<double> initial =
      o.initial_gamma.empty() ? default_initial_gamma(columns) : o.initial_gamma;
  AXNN_CHECK(std::ssize(initial) == columns, "--init-gamma: {} values for {} columns",
             initial.size(), columns);
  AXNN_CHECK(o.lambda >= 0, "--lambda {}: must not be negative", o.lambda);
  const auto layers = nn::ax_layers(model);
  AXNN_CHECK(!layers.empty(), "TRAM explore: the model has no approximate layer");
  configure_exact(model, o.bits, o.is_signed);
  const ColumnPower power = column_power(o.bits, o.is_signed, o.architecture);
  const std::vector<double> shares = mac_shares(model, train_set, layers);

  // gamma and the tables where the model computes, so that the optimizer steps gamma there.
  const at::Device device = nn::device_of(model);
  const at::Tensor tables = column_tables(o.bits, o.is_signed, columns).to(device);
  const at::Tensor start = at::tensor(initial, at::kFloat).to(device);
  Gammas g;
  for (size_t l = 0; l < layers.size(); ++l) {
    if (o.per_layer || g.tensors.empty()) g.tensors.push_back(start.clone().requires_grad_(true));
    g.of_layer.push_back(g.tensors.size() - 1);
    layers[l].second->set_learned_columns(nn::LearnedColumns{g.tensors.back(), tables});
  }

  train::ExtraObjective extra;
  extra.parameters = g.tensors;
  extra.lr = o.gamma_lr;
  extra.penalty = [&] {
    at::Tensor sum = at::zeros({}, start.options());
    for (size_t l = 0; l < layers.size(); ++l)
      sum = sum + shares[l] * relative_power(power, g.tensors[g.of_layer[l]]);
    return o.lambda * sum;
  };
  extra.after_step = [&] {
    torch::NoGradGuard no_grad;
    for (at::Tensor& t : g.tensors) t.clamp_(0, 1);
  };

  Structure s;
  s.bits = o.bits;
  s.is_signed = o.is_signed;
  s.lambda = o.lambda;
  s.per_layer = o.per_layer;
  train::train(
      model, train_set, o.train,
      [&](const train::EpochStats& e) {
        record(s, g, layers);
        double network = 0;
        for (size_t l = 0; l < layers.size(); ++l)
          network += shares[l] * relative_power(power, values_of(g.tensors[g.of_layer[l]]));
        nlohmann::ordered_json entry = {
            {"epoch", e.epoch},     {"loss", e.loss},
            {"penalty", e.penalty}, {"train_top1_pct", 100 * e.train_accuracy},
            {"seconds", e.seconds}, {"relative_power", network}};
        if (!s.per_layer) entry["gamma"] = s.gamma;
        s.log.push_back(entry);
        if (on_epoch) on_epoch(s);
      },
      &extra);
  record(s, g, layers);
  apply_structure(model, s);  // gamma fixed from here on
  return s;
}

void apply_structure(models::Model& model, const Structure& s) {
  configure_exact(model, s.bits, s.is_signed);
  const at::Device device = nn::device_of(model);
  std::map<size_t, at::Tensor> tables;  // by column count (per-layer structures may differ)
  for (const auto& [name, layer] : nn::ax_layers(model)) {
    const auto it = s.layers.find(name);
    AXNN_CHECK(!s.per_layer || it != s.layers.end(),
               "TRAM structure: no gamma for layer '{}' (the structure has {} layers)", name,
               s.layers.size());
    const std::vector<double>& gamma = s.per_layer ? it->second : s.gamma;
    auto& t = tables[gamma.size()];
    if (!t.defined())
      t = column_tables(s.bits, s.is_signed, static_cast<int>(gamma.size())).to(device);
    layer->set_learned_columns(nn::LearnedColumns{at::tensor(gamma, at::kFloat).to(device), t});
  }
}

double structure_power(models::Model& model, const Structure& s,
                       netlist::Architecture architecture) {
  const ColumnPower power = column_power(s.bits, s.is_signed, architecture);
  double macs = 0, weighted = 0;
  for (const auto& [name, layer] : nn::ax_layers(model)) {
    const auto m = static_cast<double>(layer->macs_per_sample());
    const auto it = s.layers.find(name);
    const std::vector<double>& gamma = s.per_layer && it != s.layers.end() ? it->second : s.gamma;
    macs += m;
    weighted += m * (gamma.empty() ? 1.0 : relative_power(power, gamma));
  }
  AXNN_CHECK(macs > 0, "relative power: no approximate layer has run yet (run a forward first)");
  return weighted / macs;
}

}  // namespace axnn::tram
