#include "nn/halut.h"

#include <ATen/ATen.h>
#include <fmt/ranges.h>
#include <torch/types.h>

#include <bit>

#include "amm/maddness.h"
#include "core/error.h"
#include "kernels/maddness.h"
#include "nn/device.h"
#include "ops/maddness_ops.h"

namespace axnn::nn {
namespace {

// What halut_learned records.
enum State : int64_t { kNotLearned = 0, kTrees = 1, kCentroids = 2 };

State state_for(const HalutConfig& config) {
  return config.encoder == "maddness" ? kTrees : kCentroids;
}

// Registers `name` on the owner, or gives the tensor registered before this value (and shape), on
// the owner's device.
at::Tensor attach(torch::nn::Module& owner, const std::string& name, at::Tensor value,
                  bool parameter) {
  value = value.to(device_of(owner));
  auto registered = parameter ? owner.named_parameters(/*recurse=*/false)
                              : owner.named_buffers(/*recurse=*/false);
  if (at::Tensor* t = registered.find(name)) {
    torch::NoGradGuard no_grad;
    t->set_(value);
    return *t;
  }
  return parameter ? owner.register_parameter(name, value) : owner.register_buffer(name, value);
}

// The table as the int8 decode sees it, straight through: each entry rounded as quantize_lut
// rounds it, with the offset spread over the codebooks, so that a sum over the codebooks is the
// int8 sum decoded.
at::Tensor fake_quantized(const at::Tensor& lut) {
  const amm::QuantizedLut q = amm::quantize_lut(lut.detach());
  const at::Tensor decoded =
      q.table.to(at::kFloat) / q.scale + q.offset / static_cast<double>(lut.size(0));
  return lut + (decoded - lut).detach();
}

}  // namespace

void HalutProduct::configure(torch::nn::Module& owner, const std::string& layer,
                             const HalutConfig& config, int64_t groups, int64_t d, int64_t m) {
  AXNN_CHECK(config.c <= d, "layer '{}': halut c = {} exceeds the {} input columns{} it encodes",
             layer, config.c, d, groups > 1 ? " per group" : "");
  const bool same_sizes = lut_.defined() && groups == groups_ && d == d_ && m == m_ &&
                          config.c == config_.c && config.k == config_.k;
  layer_ = layer;
  config_ = config;
  groups_ = groups;
  d_ = d;
  m_ = m;
  if (!same_sizes) {
    const int64_t c = config.c, k = config.k;
    const int depth = std::countr_zero(static_cast<uint64_t>(k));
    split_dims_ = attach(owner, "halut_split_dims", at::zeros({groups, c, depth}, at::kInt), false);
    thresholds_ = attach(owner, "halut_thresholds", at::zeros({groups, c, k - 1}), false);
    centroids_ = attach(owner, "halut_centroids", at::zeros({groups, c, k, d}), true);
    lut_ = attach(owner, "halut_lut", at::zeros({groups, c, k, m}), true);
    learned_ = attach(owner, "halut_learned", at::zeros({}, at::kLong), false);
    temperature_ = attach(owner, "halut_temperature", at::ones({}), false);
  }
  centroids_.requires_grad_(config.encoder == "learned");
  const std::vector<int64_t> bounds = amm::group_bounds(d, config.c);
  group_mask_ = at::zeros({config.c, d}, at::TensorOptions().device(device_of(owner)));
  for (int64_t i = 0; i < config.c; ++i) group_mask_[i].slice(0, bounds[i], bounds[i + 1]).fill_(1);
}

bool HalutProduct::learned() const {
  return learned_.defined() && learned_.item<int64_t>() == state_for(config_);
}

void HalutProduct::check_learned() const {
  AXNN_CHECK(learned(),
             "layer '{}' is configured halut with the {} encoder but has no learned {}: learn it "
             "first (axnn halut learn)",
             layer_, config_.encoder, state_for(config_) == kTrees ? "hash trees" : "centroids");
}

at::Tensor HalutProduct::forward(const at::Tensor& rows) const {
  check_learned();
  AXNN_CHECK(rows.dim() == 3 && rows.size(0) == groups_ && rows.size(2) == d_,
             "layer '{}': halut rows must be [{}, R, {}], got [{}]", layer_, groups_, d_,
             fmt::join(rows.sizes(), ", "));
  return at::GradMode::is_enabled() ? differentiable(rows) : inference(rows);
}

at::Tensor HalutProduct::codes_of(const at::Tensor& rows, int64_t g) const {
  if (config_.encoder == "maddness")
    return ops::maddness_encode(rows, split_dims_[g], thresholds_[g]);
  return ops::maddness_encode_nearest(rows, centroids_[g].detach());
}

at::Tensor HalutProduct::inference(const at::Tensor& rows) const {
  std::vector<at::Tensor> outputs;
  for (int64_t g = 0; g < groups_; ++g) {
    const at::Tensor codes = codes_of(rows[g].contiguous(), g);
    if (config_.lut == "fp32") {
      outputs.push_back(ops::maddness_decode(codes, lut_[g].detach(), 0).t());
      continue;
    }
    const amm::QuantizedLut q = amm::quantize_lut(lut_[g].detach());
    const at::Tensor sums = ops::maddness_decode(codes, q.table, config_.average).t();  // [Mg, R]
    // y = (S - bias) / scale + offset, the averaging trick's mean rounding excess removed.
    const at::Tensor inverse = (1 / q.scale).unsqueeze(1);
    const double bias = kernels::maddness_average_bias(config_.c, config_.average);
    outputs.push_back(
        at::addcmul(q.offset.unsqueeze(1) - bias * inverse, sums.to(at::kFloat), inverse));
  }
  return groups_ == 1 ? outputs[0].unsqueeze(0) : at::stack(outputs);
}

at::Tensor HalutProduct::differentiable(const at::Tensor& rows) const {
  const int64_t c = config_.c, k = config_.k, r = rows.size(1);
  std::vector<at::Tensor> outputs;
  for (int64_t g = 0; g < groups_; ++g) {
    const at::Tensor lut = config_.lut == "int8" ? fake_quantized(lut_[g]) : lut_[g];
    const at::Tensor flat = lut.reshape({c * k, m_});
    at::Tensor y;
    if (config_.encoder == "learned") {
      y = soft_codes(rows[g], g).reshape({r, c * k}).matmul(flat);
    } else {
      const at::Tensor codes = codes_of(rows[g].detach().contiguous(), g).to(at::kLong);
      const at::Tensor indices = (codes + at::arange(c, codes.options()) * k).reshape({-1});
      y = std::get<0>(at::embedding_bag(flat, indices, at::arange(0, r * c, c, codes.options()),
                                        /*scale_grad_by_freq=*/false, /*mode=sum*/ 0));
    }
    outputs.push_back(y.t());
  }
  return groups_ == 1 ? outputs[0].unsqueeze(0) : at::stack(outputs);
}

at::Tensor HalutProduct::soft_codes(const at::Tensor& x, int64_t g) const {
  const int64_t c = config_.c, k = config_.k, r = x.size(0);
  const at::Tensor& mask = on_device(group_mask_, x.device());
  // [C, K, Dg]: only the group's columns count (and learn), as in the nearest-centroid encode.
  const at::Tensor centroids = centroids_[g] * mask.unsqueeze(1);
  // Squared distances to every centroid of the row's group: |x_c|^2 - 2 x . z + |z|^2.
  const at::Tensor distances = (x * x).matmul(mask.t()).unsqueeze(2) -
                               2 * x.matmul(centroids.reshape({c * k, d_}).t()).reshape({r, c, k}) +
                               (centroids * centroids).sum(2).unsqueeze(0);
  const at::Tensor hard = at::one_hot(distances.detach().argmin(2), k).to(at::kFloat);
  // Normalized per row so that one temperature fits every layer's activation scale.
  const at::Tensor scaled = distances / distances.detach().mean(2, true).clamp_min(1e-12);
  const at::Tensor soft = at::softmax(-scaled / temperature_, 2);
  return hard + soft - soft.detach();
}

void HalutProduct::learn(const at::Tensor& rows, const at::Tensor& weights,
                         const HalutLearnOptions& options) {
  AXNN_CHECK(rows.dim() == 3 && rows.size(0) == groups_ && rows.size(2) == d_ &&
                 weights.dim() == 3 && weights.size(0) == groups_ && weights.size(1) == d_ &&
                 weights.size(2) == m_,
             "layer '{}': halut learning needs rows [{}, R, {}] and weights [{}, {}, {}], got [{}] "
             "and [{}]",
             layer_, groups_, d_, groups_, d_, m_, fmt::join(rows.sizes(), ", "),
             fmt::join(weights.sizes(), ", "));
  torch::NoGradGuard no_grad;
  amm::LearnOptions learn;
  learn.c = config_.c;
  learn.k = config_.k;
  learn.encoder = state_for(config_) == kTrees ? amm::Encoder::kHashTree : amm::Encoder::kKMeans;
  learn.ridge_lambda = options.ridge_lambda;
  learn.seed = options.seed;
  for (int64_t g = 0; g < groups_; ++g) {
    const amm::Maddness model = [&] {
      try {
        return amm::learn(rows[g].cpu().contiguous(), learn);
      } catch (const Error& e) {
        throw Error(fmt::format("layer '{}': {}", layer_, e.what()));
      }
    }();
    if (learn.encoder == amm::Encoder::kHashTree) {
      split_dims_[g].copy_(model.split_dims);
      thresholds_[g].copy_(model.thresholds);
    } else {
      centroids_[g].copy_(model.prototypes);
    }
    lut_[g].copy_(amm::make_lut(model, weights[g].to(at::kCPU, at::kFloat)));
  }
  learned_.fill_(state_for(config_));
  temperature_.fill_(1.0);
}

HalutOps HalutProduct::ops_per_row() const {
  const int64_t c = config_.c, k = config_.k;
  const bool trees = config_.encoder == "maddness";
  return {trees ? groups_ * c * std::countr_zero(static_cast<uint64_t>(k)) : 0, groups_ * c * m_,
          groups_ * (c - 1) * m_, trees ? 0 : groups_ * k * d_};
}

double HalutProduct::relative_power() const {
  return config_.encoder == "maddness" ? 0.0
                                       : static_cast<double>(config_.k) / static_cast<double>(m_);
}

void HalutProduct::set_temperature(double temperature) {
  AXNN_CHECK(temperature > 0, "layer '{}': halut temperature {} must be positive", layer_,
             temperature);
  temperature_.fill_(temperature);
}

}  // namespace axnn::nn
