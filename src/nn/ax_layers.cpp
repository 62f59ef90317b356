#include "nn/ax_layers.h"

#include <torch/nn/functional/linear.h>
#include <torch/nn/init.h>

#include <cmath>

#include "core/error.h"
#include "mult/registry.h"
#include "ops/ax_ops.h"
#include "quant/quantize.h"

namespace axnn::nn {
namespace {

// Like torch::nn::Linear / Conv2d: kaiming_uniform(a = sqrt(5)) weights, U(-1/sqrt(fan_in), ..)
// bias.
void init_parameters(at::Tensor& weight, at::Tensor& bias, int64_t fan_in) {
  torch::NoGradGuard no_grad;
  torch::nn::init::kaiming_uniform_(weight, std::sqrt(5.0));
  if (bias.defined()) {
    const double bound = 1 / std::sqrt(static_cast<double>(fan_in));
    torch::nn::init::uniform_(bias, -bound, bound);
  }
}

int64_t samples_of(const at::Tensor& t) { return t.dim() > 1 ? t.size(0) : 1; }

}  // namespace

AxLayer::AxLayer(std::string layer_name, int operands) : layer_name_(std::move(layer_name)) {
  for (int i = 0; i < operands; ++i) {
    calibrators_.emplace_back();
    amax_.push_back(register_buffer(operands == 1 ? "amax_x"
                                    : i == 0      ? "amax_a"
                                                  : "amax_b",
                                    torch::full({}, -1.0)));
  }
}

void AxLayer::set_config(const LayerConfig& config) {
  config_ = config;
  for (auto& calibrator : calibrators_) calibrator = quant::Calibrator(config.calib);
  if (config.is_fp32()) {
    lut_ = at::Tensor();
    relative_power_ = 1.0;
    return;
  }
  Multiplier mult = [&] {
    try {
      return get_multiplier(config.mult);
    } catch (const Error& e) {
      throw Error(fmt::format("layer '{}': {}", layer_name_, e.what()));
    }
  }();
  AXNN_CHECK(mult.is_signed(),
             "layer '{}': multiplier '{}' is unsigned; the layers quantize symmetrically and need "
             "a signed multiplier",
             layer_name_, mult.name());
  bits_ = mult.bits();
  lut_ = torch::tensor(std::vector<int32_t>(mult.lut().begin(), mult.lut().end()), torch::kInt)
             .view({mult.codes(), mult.codes()});
  relative_power_ = mult.meta().relative_power;
  for (auto& calibrator : calibrators_) {
    quant::CalibOptions options = config.calib;
    options.bits = bits_;
    options.narrow_range = config.narrow_range;
    calibrator = quant::Calibrator(options);
  }
}

void AxLayer::set_calibrating(bool on) {
  if (on && !calibrating_)
    for (auto& calibrator : calibrators_) calibrator = quant::Calibrator(calibrator.options());
  if (!on && calibrating_) {
    torch::NoGradGuard no_grad;
    for (size_t i = 0; i < calibrators_.size(); ++i)
      if (calibrators_[i].batches() > 0) amax_[i].fill_(calibrators_[i].amax());
  }
  calibrating_ = on;
}

void AxLayer::observe(int i, const at::Tensor& x) {
  if (calibrating_) calibrators_[i].collect(x.detach());
}

at::Tensor AxLayer::activation_amax(int i, const at::Tensor& x) const {
  if (config_.dynamic) return quant::amax_of(x.detach()).to(at::kFloat);
  AXNN_CHECK(amax_[i].item<double>() >= 0,
             "layer '{}' ({}) has no calibration: calibrate it first, or set \"dynamic\": true",
             layer_name_, config_.mult);
  return amax_[i].to(at::kFloat);
}

AxLinearImpl::AxLinearImpl(int64_t in_features, int64_t out_features, bool with_bias,
                           std::string layer_name, const LayerConfig& config)
    : AxLayer(std::move(layer_name), 1) {
  weight = register_parameter("weight", torch::empty({out_features, in_features}));
  if (with_bias) bias = register_parameter("bias", torch::empty({out_features}));
  init_parameters(weight, bias, in_features);
  set_config(config);
}

at::Tensor AxLinearImpl::forward(const at::Tensor& x) {
  macs_per_sample_ = x.numel() / samples_of(x) * weight.size(0);
  observe(0, x);
  if (runs_fp32()) return torch::nn::functional::linear(x, weight, bias);
  const at::Tensor w_amax = config().per_channel ? quant::amax_of(weight.detach(), 0).reshape({-1})
                                                 : quant::amax_of(weight.detach());
  return ops::ax_linear(x, weight, bias.defined() ? c10::optional<at::Tensor>(bias) : c10::nullopt,
                        lut_, activation_amax(0, x), w_amax, bits_, config().narrow_range,
                        config().grad_mode);
}

AxConv2dImpl::AxConv2dImpl(const Conv2dShape& shape, std::string layer_name,
                           const LayerConfig& config)
    : AxLayer(std::move(layer_name), 1), shape_(shape) {
  AXNN_CHECK(shape.groups >= 1 && shape.in_channels % shape.groups == 0 &&
                 shape.out_channels % shape.groups == 0,
             "layer '{}': groups = {} must divide {} input and {} output channels",
             this->layer_name(), shape.groups, shape.in_channels, shape.out_channels);
  weight = register_parameter(
      "weight", torch::empty({shape.out_channels, shape.in_channels / shape.groups, shape.kernel[0],
                              shape.kernel[1]}));
  if (shape.bias) bias = register_parameter("bias", torch::empty({shape.out_channels}));
  init_parameters(weight, bias,
                  shape.in_channels / shape.groups * shape.kernel[0] * shape.kernel[1]);
  set_config(config);
}

at::Tensor AxConv2dImpl::forward(const at::Tensor& x) {
  observe(0, x);
  at::Tensor y;
  if (runs_fp32()) {
    y = at::conv2d(x, weight, bias, shape_.stride, shape_.padding, shape_.dilation, shape_.groups);
  } else {
    const at::Tensor w_amax = config().per_channel
                                  ? quant::amax_of(weight.detach(), 0).reshape({-1})
                                  : quant::amax_of(weight.detach());
    y = ops::ax_conv2d(x, weight, bias.defined() ? c10::optional<at::Tensor>(bias) : c10::nullopt,
                       lut_, activation_amax(0, x), w_amax, shape_.stride, shape_.padding,
                       shape_.dilation, shape_.groups, bits_, config().narrow_range,
                       config().grad_mode);
  }
  // CO OH OW (CI / groups) KH KW per sample.
  macs_per_sample_ = y.numel() / samples_of(y) * weight.size(1) * weight.size(2) * weight.size(3);
  return y;
}

AxMatMulImpl::AxMatMulImpl(std::string layer_name, const LayerConfig& config)
    : AxLayer(std::move(layer_name), 2) {
  set_config(config);
}

at::Tensor AxMatMulImpl::forward(const at::Tensor& a, const at::Tensor& b) {
  macs_per_sample_ = a.numel() / samples_of(a) * b.size(-1);
  observe(0, a);
  observe(1, b);
  if (runs_fp32()) return torch::matmul(a, b);
  return ops::ax_matmul(a, b, lut_, activation_amax(0, a), activation_amax(1, b), bits_,
                        config().narrow_range, config().grad_mode);
}

std::vector<std::pair<std::string, AxLayer*>> ax_layers(torch::nn::Module& root) {
  std::vector<std::pair<std::string, AxLayer*>> layers;
  // Not named_modules(include_self = true): that needs the root to be held by a shared_ptr.
  if (auto* self = dynamic_cast<AxLayer*>(&root)) layers.emplace_back("", self);
  for (const auto& item : root.named_modules("", /*include_self=*/false))
    if (auto* layer = dynamic_cast<AxLayer*>(item.value().get()))
      layers.emplace_back(item.key(), layer);
  return layers;
}

void set_calibrating(torch::nn::Module& root, bool on) {
  for (auto& [name, layer] : ax_layers(root)) layer->set_calibrating(on);
}

std::optional<double> network_relative_power(torch::nn::Module& root) {
  double macs = 0, weighted = 0;
  for (const auto& [name, layer] : ax_layers(root)) {
    const auto m = static_cast<double>(layer->macs_per_sample());
    if (m == 0) continue;
    if (!layer->relative_power()) return std::nullopt;
    macs += m;
    weighted += m * *layer->relative_power();
  }
  AXNN_CHECK(macs > 0, "relative power: no approximate layer has run yet (run a forward first)");
  return weighted / macs;
}

}  // namespace axnn::nn
