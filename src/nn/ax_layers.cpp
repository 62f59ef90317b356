#include "nn/ax_layers.h"

#include <fmt/ranges.h>
#include <torch/nn/functional/linear.h>
#include <torch/nn/init.h>

#include <cmath>

#include "core/error.h"
#include "core/profile.h"
#include "mult/registry.h"
#include "nn/device.h"
#include "ops/ax_ops.h"
#include "ops/lut_ops.h"
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

AxLayer::AxLayer(std::string layer_name, int operands)
    : layer_name_(std::move(layer_name)), observed_min_(operands), observed_max_(operands) {
  for (int i = 0; i < operands; ++i) {
    const std::string operand = operands == 1 ? "x" : i == 0 ? "a" : "b";
    calibrators_.emplace_back();
    amax_.push_back(register_buffer("amax_" + operand, torch::full({}, -1.0)));
    min_.push_back(register_buffer("min_" + operand, torch::zeros({})));
    max_.push_back(register_buffer("max_" + operand, torch::zeros({})));
  }
}

void AxLayer::set_config(const LayerConfig& config) {
  if (config.is_halut()) {
    check_halut_config(config.halut, fmt::format("layer '{}'", layer_name_));
    const HalutShape shape = halut_shape();
    halut_.configure(*this, layer_name_, config.halut, shape.groups, shape.d, shape.m);
  }
  config_ = config;
  learned_.reset();  // a structure belongs to the multiplier it was put on
  for (auto& calibrator : calibrators_) calibrator = quant::Calibrator(config.calib);
  if (config.is_halut()) {
    lut_ = at::Tensor();
    relative_power_ = halut_.relative_power();
    return;
  }
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
  bits_ = mult.bits();
  signed_ = mult.is_signed();
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

void AxLayer::set_learned_columns(std::optional<LearnedColumns> learned) {
  if (learned) {
    AXNN_CHECK(!config_.is_fp32() && !config_.is_halut(),
               "layer '{}' computes {}: configure a multiplier before learning its structure",
               layer_name_, config_.is_halut() ? "a Halut product" : "in fp32");
    const int64_t codes = int64_t{1} << bits_;
    const at::Tensor& columns = learned->columns;
    AXNN_CHECK(columns.dim() == 3 && columns.size(1) == codes && columns.size(2) == codes &&
                   columns.scalar_type() == at::kInt && learned->gamma.dim() == 1 &&
                   learned->gamma.size(0) == columns.size(0),
               "layer '{}': a learned structure for {}-bit codes needs int32 column tables [P, {}, "
               "{}] and gamma [P], got [{}] and [{}]",
               layer_name_, bits_, codes, codes, fmt::join(columns.sizes(), ", "),
               fmt::join(learned->gamma.sizes(), ", "));
  }
  learned_ = std::move(learned);
}

Error AxLayer::no_fixed_operand() const {
  return Error(fmt::format(
      "layer '{}' ({}): a Halut product needs a fixed weight operand; configure a multiplier",
      layer_name_, type()));
}

AxLayer::HalutShape AxLayer::halut_shape() const { throw no_fixed_operand(); }

at::Tensor AxLayer::halut_weights() const { throw no_fixed_operand(); }

std::optional<HalutOps> AxLayer::halut_ops_per_sample() const {
  if (!config_.is_halut()) return std::nullopt;
  HalutOps ops = halut_.ops_per_row();
  for (int64_t* count : {&ops.comparisons, &ops.table_reads, &ops.additions, &ops.encoder_macs})
    *count *= halut_rows_per_sample_;
  return ops;
}

bool AxLayer::sink_rows(const at::Tensor& rows) {
  if (!row_sink_) return false;
  row_sink_(rows.detach());
  return true;
}

at::Tensor AxLayer::halut_forward(const at::Tensor& rows, int64_t samples) {
  halut_rows_per_sample_ = rows.size(1) / samples;
  return halut_.forward(rows);
}

at::Tensor AxLayer::halut_input_gradient(const std::function<at::Tensor()>& exact,
                                         const at::Tensor& x) const {
  if (!at::GradMode::is_enabled() || !x.requires_grad() || config_.halut.encoder == "learned")
    return {};
  const at::Tensor y = exact();
  return y - y.detach();
}

at::Tensor AxLayer::call_table(const at::Device& device) {
  const at::Tensor& lut = on_device(lut_, device);
  if (!learned_) return lut;
  const at::Tensor& columns = on_device(learned_->columns, device);
  const at::Tensor whole = learned_->gamma.detach().clamp(0, 1).eq(1).to(device);
  if (!whole.any().item<bool>()) return lut;
  return lut - columns.index_select(0, whole.nonzero().squeeze(1)).sum(0).to(at::kInt);
}

at::Tensor AxLayer::learned_part(
    const std::function<at::Tensor(const at::Tensor& table)>& accumulate,
    const at::Tensor& factor) {
  if (!learned_) return {};
  const at::Device device = factor.device();
  // A copy that passes the gradient back when gamma lives on another device.
  const at::Tensor gamma = learned_->gamma.to(device);
  const at::Tensor& columns = on_device(learned_->columns, device);
  const at::Tensor clamped = gamma.clamp(0, 1);
  // Straight-through clamp; the columns at 1 are in the table already.
  const at::Tensor frac = gamma + (clamped - gamma).detach() - clamped.eq(1).to(at::kFloat);
  // Without a gradient to compute, the columns at 0 add nothing.
  const bool all = gamma.requires_grad() && at::GradMode::is_enabled();
  const at::Tensor used =
      all ? at::arange(gamma.size(0), at::TensorOptions(at::kLong).device(device))
          : frac.detach().ne(0).nonzero().squeeze(1);
  const int64_t n = used.size(0);
  if (n == 0) return at::zeros({}, factor.options());
  std::vector<at::Tensor> accumulators;
  for (int64_t i = 0; i < n; ++i)
    accumulators.push_back(accumulate(columns[used[i].item<int64_t>()]));
  // One pass over the accumulators: frac [n] @ accumulators [n, outputs].
  const at::Tensor stacked = at::stack(accumulators).to(at::kFloat);
  const at::Tensor sum = at::matmul(frac.index_select(0, used), stacked.reshape({n, -1}));
  return -sum.reshape(stacked.sizes().slice(1)) * factor;
}

AxLayer::Codes AxLayer::symmetric_codes(const at::Tensor& v, const at::Tensor& amax) const {
  const at::Tensor a = amax.to(at::kFloat);
  const auto qmax = static_cast<float>((int64_t{1} << (bits_ - 1)) - 1);
  return {quant::quantize_symmetric(v.detach(), a, static_cast<int>(bits_), config_.narrow_range),
          at::where(a > 0, qmax / a, at::zeros_like(a)), at::zeros({}, a.options())};
}

AxLayer::Codes AxLayer::asymmetric_codes(const at::Tensor& v, const at::Tensor& min,
                                         const at::Tensor& max) const {
  const quant::AsymmetricTensors p = quant::asymmetric_params(min, max, static_cast<int>(bits_));
  return {quant::quantize_asymmetric(v.detach(), p, static_cast<int>(bits_)), p.scale,
          p.zero_point};
}

at::Tensor AxLayer::output_factor(const Codes& x, const Codes& w, bool is_signed) {
  if (!is_signed) return x.scale * w.scale;
  const at::Tensor s = x.scale * w.scale;
  return at::where(s > 0, 1 / s, at::zeros_like(s));
}

void AxLayer::set_calibrating(bool on) {
  if (on && !calibrating_) {
    for (auto& calibrator : calibrators_) calibrator = quant::Calibrator(calibrator.options());
    std::fill(observed_min_.begin(), observed_min_.end(), 0.0);
    std::fill(observed_max_.begin(), observed_max_.end(), 0.0);
  }
  if (!on && calibrating_) {
    torch::NoGradGuard no_grad;
    for (size_t i = 0; i < calibrators_.size(); ++i) {
      if (calibrators_[i].batches() == 0) continue;
      const double amax = calibrators_[i].amax();
      amax_[i].fill_(amax);
      min_[i].fill_(std::max(observed_min_[i], -amax));
      max_[i].fill_(std::min(observed_max_[i], amax));
    }
  }
  calibrating_ = on;
}

void AxLayer::observe(int i, const at::Tensor& x) {
  if (!calibrating_) return;
  calibrators_[i].collect(x.detach());
  const auto [lo, hi] = quant::min_max_of(x.detach());
  observed_min_[i] = std::min(observed_min_[i], lo.item<double>());
  observed_max_[i] = std::max(observed_max_[i], hi.item<double>());
}

at::Tensor AxLayer::activation_amax(int i, const at::Tensor& x) const {
  if (config_.dynamic) return quant::amax_of(x.detach()).to(at::kFloat);
  check_calibrated(i);
  return amax_[i].to(at::kFloat);
}

std::pair<at::Tensor, at::Tensor> AxLayer::activation_range(int i, const at::Tensor& x) const {
  if (config_.dynamic) {
    const auto [lo, hi] = quant::min_max_of(x.detach());
    return {lo.to(at::kFloat), hi.to(at::kFloat)};
  }
  check_calibrated(i);
  return {min_[i].to(at::kFloat), max_[i].to(at::kFloat)};
}

void AxLayer::check_calibrated(int i) const {
  AXNN_CHECK(amax_[i].item<double>() >= 0,
             "layer '{}' ({}) has no calibration: calibrate it first, or set \"dynamic\": true",
             layer_name_, config_.mult);
}

at::Tensor AxLayer::weight_amax(const at::Tensor& weight) const {
  return config_.per_channel ? quant::amax_of(weight.detach(), 0).reshape({-1})
                             : quant::amax_of(weight.detach());
}

std::pair<at::Tensor, at::Tensor> AxLayer::weight_range(const at::Tensor& weight) const {
  const auto [lo, hi] = quant::min_max_of(weight.detach(), config_.per_channel ? 0 : -1);
  return {lo.reshape({-1}), hi.reshape({-1})};
}

AxLinearImpl::AxLinearImpl(int64_t in_features, int64_t out_features, bool with_bias,
                           std::string layer_name, const LayerConfig& config)
    : AxLayer(std::move(layer_name), 1) {
  weight = register_parameter("weight", torch::empty({out_features, in_features}));
  if (with_bias) bias = register_parameter("bias", torch::empty({out_features}));
  init_parameters(weight, bias, in_features);
  set_config(config);
}

AxLayer::HalutShape AxLinearImpl::halut_shape() const {
  return {1, weight.size(1), weight.size(0)};
}

at::Tensor AxLinearImpl::halut_weights() const { return weight.detach().t().unsqueeze(0); }

at::Tensor AxLinearImpl::forward(const at::Tensor& x) {
  const profile::LayerScope timer(layer_name());
  macs_per_sample_ = x.numel() / samples_of(x) * weight.size(0);
  observe(0, x);
  const auto rows = [&] { return x.reshape({1, -1, x.size(-1)}); };
  if (sink_rows(rows()) || runs_fp32()) return torch::nn::functional::linear(x, weight, bias);
  if (config().is_halut()) {
    std::vector<int64_t> sizes(x.sizes().begin(), x.sizes().end());
    sizes.back() = weight.size(0);
    at::Tensor y = halut_forward(rows(), samples_of(x))[0].t().reshape(sizes);
    if (bias.defined()) y = y + bias;
    const at::Tensor through =
        halut_input_gradient([&] { return torch::nn::functional::linear(x, weight.detach()); }, x);
    return through.defined() ? y + through : y;
  }
  const auto b = bias.defined() ? c10::optional<at::Tensor>(bias) : c10::nullopt;
  const at::Tensor table = call_table(x.device());
  at::Tensor y;
  Codes qx, qw;
  if (!signed_) {
    const auto [x_min, x_max] = activation_range(0, x);
    const auto [w_min, w_max] = weight_range(weight);
    y = ops::ax_linear_asym(x, weight, b, table, x_min, x_max, w_min, w_max, bits_,
                            config().grad_mode);
    if (!learned_columns()) return y;
    qx = asymmetric_codes(x, x_min.reshape({}), x_max.reshape({}));
    qw = asymmetric_codes(weight, w_min.reshape({-1, 1}), w_max.reshape({-1, 1}));
  } else {
    const at::Tensor x_amax = activation_amax(0, x), w_amax = weight_amax(weight);
    y = ops::ax_linear(x, weight, b, table, x_amax, w_amax, bits_, config().narrow_range,
                       config().grad_mode);
    if (!learned_columns()) return y;
    qx = symmetric_codes(x, x_amax.reshape({}));
    qw = symmetric_codes(weight, w_amax.reshape({-1, 1}));
  }
  return y + learned_part(
                 [&](const at::Tensor& t) { return ops::lut_matmul(qx.codes, qw.codes.t(), t); },
                 output_factor(qx, qw, signed_).reshape({-1}));
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

AxLayer::HalutShape AxConv2dImpl::halut_shape() const {
  return {shape_.groups, weight.size(1) * weight.size(2) * weight.size(3),
          shape_.out_channels / shape_.groups};
}

at::Tensor AxConv2dImpl::halut_weights() const {
  const HalutShape s = halut_shape();
  return weight.detach().reshape({s.groups, s.m, s.d}).transpose(1, 2);
}

at::Tensor AxConv2dImpl::halut_rows(const at::Tensor& x) const {
  const HalutShape s = halut_shape();
  const at::Tensor columns = at::im2col(x, shape_.kernel, shape_.dilation, shape_.padding,
                                        shape_.stride);  // [N, G d, L], d ordered (c, kh, kw)
  const int64_t n = x.size(0), positions = columns.size(2);
  return columns.view({n, s.groups, s.d, positions})
      .permute({1, 0, 3, 2})
      .reshape({s.groups, n * positions, s.d});
}

int64_t AxConv2dImpl::out_size(const at::Tensor& x, int i) const {
  const auto u = static_cast<size_t>(i);
  return (x.size(2 + i) + 2 * shape_.padding[u] - shape_.dilation[u] * (shape_.kernel[u] - 1) - 1) /
             shape_.stride[u] +
         1;
}

at::Tensor AxConv2dImpl::forward(const at::Tensor& x) {
  const profile::LayerScope timer(layer_name());
  observe(0, x);
  const auto b = bias.defined() ? c10::optional<at::Tensor>(bias) : c10::nullopt;
  at::Tensor y;
  Codes qx, qw;
  const bool halut = config().is_halut() && !calibrating();
  if ((row_sink_set() || halut) && x.dim() != 4)
    throw Error(fmt::format("layer '{}': input must be [N, C, H, W], got [{}]", layer_name(),
                            fmt::join(x.sizes(), ", ")));
  if ((row_sink_set() && sink_rows(halut_rows(x))) || runs_fp32()) {
    y = at::conv2d(x, weight, bias, shape_.stride, shape_.padding, shape_.dilation, shape_.groups);
  } else if (halut) {
    const int64_t n = x.size(0), oh = out_size(x, 0), ow = out_size(x, 1);
    y = halut_forward(halut_rows(x), n)
            .view({shape_.groups, shape_.out_channels / shape_.groups, n, oh * ow})
            .permute({2, 0, 1, 3})
            .reshape({n, shape_.out_channels, oh, ow});
    if (bias.defined()) y = y + bias.view({1, -1, 1, 1});
    const at::Tensor through = halut_input_gradient(
        [&] {
          return at::conv2d(x, weight.detach(), {}, shape_.stride, shape_.padding, shape_.dilation,
                            shape_.groups);
        },
        x);
    if (through.defined()) y = y + through;
  } else if (!signed_) {
    const auto [x_min, x_max] = activation_range(0, x);
    const auto [w_min, w_max] = weight_range(weight);
    y = ops::ax_conv2d_asym(x, weight, b, call_table(x.device()), x_min, x_max, w_min, w_max,
                            shape_.stride, shape_.padding, shape_.dilation, shape_.groups, bits_,
                            config().grad_mode);
    if (learned_columns()) {
      qx = asymmetric_codes(x, x_min.reshape({}), x_max.reshape({}));
      qw = asymmetric_codes(weight, w_min.reshape({-1, 1, 1, 1}), w_max.reshape({-1, 1, 1, 1}));
    }
  } else {
    const at::Tensor x_amax = activation_amax(0, x), w_amax = weight_amax(weight);
    y = ops::ax_conv2d(x, weight, b, call_table(x.device()), x_amax, w_amax, shape_.stride,
                       shape_.padding, shape_.dilation, shape_.groups, bits_, config().narrow_range,
                       config().grad_mode);
    if (learned_columns()) {
      qx = symmetric_codes(x, x_amax.reshape({}));
      qw = symmetric_codes(weight, w_amax.reshape({-1, 1, 1, 1}));
    }
  }
  if (qx.codes.defined()) {
    // Zero padding is the code of 0.0, as in the LUT conv of the op.
    const int64_t pad = qx.zero.item<int64_t>();
    y = y + learned_part(
                [&](const at::Tensor& t) {
                  return ops::lut_conv2d(qx.codes, qw.codes, t, shape_.stride, shape_.padding,
                                         shape_.dilation, shape_.groups, pad);
                },
                output_factor(qx, qw, signed_).reshape({1, -1, 1, 1}));
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
  const profile::LayerScope timer(layer_name());
  macs_per_sample_ = a.numel() / samples_of(a) * b.size(-1);
  observe(0, a);
  observe(1, b);
  if (runs_fp32()) return torch::matmul(a, b);
  const at::Tensor table = call_table(a.device());
  at::Tensor y;
  Codes qa, qb;
  if (!signed_) {
    const auto [a_min, a_max] = activation_range(0, a);
    const auto [b_min, b_max] = activation_range(1, b);
    y = ops::ax_matmul_asym(a, b, table, a_min, a_max, b_min, b_max, bits_, config().grad_mode);
    if (!learned_columns()) return y;
    qa = asymmetric_codes(a, a_min.reshape({}), a_max.reshape({}));
    qb = asymmetric_codes(b, b_min.reshape({}), b_max.reshape({}));
  } else {
    const at::Tensor a_amax = activation_amax(0, a), b_amax = activation_amax(1, b);
    y = ops::ax_matmul(a, b, table, a_amax, b_amax, bits_, config().narrow_range,
                       config().grad_mode);
    if (!learned_columns()) return y;
    qa = symmetric_codes(a, a_amax.reshape({}));
    qb = symmetric_codes(b, b_amax.reshape({}));
  }
  return y +
         learned_part([&](const at::Tensor& t) { return ops::lut_matmul(qa.codes, qb.codes, t); },
                      output_factor(qa, qb, signed_));
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
