// Approximate layers: Linear, Conv2d and the attention MatMul with their multiplier products
// emulated through the LUT ops (ops/ax_ops.h), per-layer configs (layer_config.h), activation
// calibration stored as buffers, and the MACs and relative power that power accounting needs.
//
// Life of a layer: configure (set_config); calibrate (set_calibrating(true), run data, then
// set_calibrating(false) turns the statistics into the amax and range buffers); run or retrain.
// While calibrating, and for a config "exact", a layer computes in fp32. Weights are quantized at
// every call (per channel by default) from their current values, so retraining sees its own
// updates. A signed multiplier quantizes symmetrically (amax), an unsigned one asymmetrically
// (DESIGN.md section 2) from the range [max(min, -amax), min(max, amax)]: the observed extremes
// clipped by the calibrator's amax; narrow_range applies to symmetric codes only. A Linear or
// Conv2d configured "mult": "halut" computes its learned MADDness product instead (nn/halut.h):
// no quantization of its own, relative multiplier power 0 for hash-tree encoders (the
// nearest-centroid encoders' multiplications count), its operations counted apart.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include <array>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/error.h"
#include "nn/halut.h"
#include "nn/layer_config.h"
#include "quant/calibrator.h"

namespace axnn::nn {

// TRAM phase 1 (tram/columns.h): a layer's product becomes x * w - sum_c gamma_c S_c(x, w) over
// the P lowest partial-product columns of its (exact) multiplier, gamma learnable. A column with
// gamma 1 leaves the table (the LUT op computes it exactly); each other column's accumulator
// sum_k S_c[qx_k][qw_k] comes from a LUT op of its own table, weighted by gamma and scaled as the
// layer dequantizes. So with every gamma 0 or 1 the layer is the make_columns multiplier's, and
// d y / d gamma_c = -(dequantization factor) * that accumulator.
struct LearnedColumns {
  at::Tensor gamma;    // float [P], requires grad; clamped to [0, 1] straight-through
  at::Tensor columns;  // int32 [P, 2^b, 2^b]: S_0 .. S_{P-1}, [activation code][weight code]
};

class AxLayer : public torch::nn::Module {
 public:
  // "linear", "conv2d" or "matmul".
  virtual std::string_view type() const = 0;
  const std::string& layer_name() const { return layer_name_; }
  const LayerConfig& config() const { return config_; }
  // Loads the config's multiplier (registry.h); throws axnn::Error naming the layer.
  void set_config(const LayerConfig& config);

  bool calibrating() const { return calibrating_; }
  // Turning calibration off computes the amax buffers from the statistics collected.
  void set_calibrating(bool on);

  // The multiplier's relative power (1 for an fp32 layer); nullopt when the multiplier does not
  // say (DESIGN.md section 2).
  std::optional<double> relative_power() const { return relative_power_; }
  // Multiplications per sample (the first dimension) in the last forward; 0 before one.
  int64_t macs_per_sample() const { return macs_per_sample_; }

  // Puts a learned structure on the layer's multiplier, or takes it off (nullopt). Throws
  // axnn::Error naming the layer when it computes in fp32 or the tables do not fit its width.
  void set_learned_columns(std::optional<LearnedColumns> learned);
  const std::optional<LearnedColumns>& learned_columns() const { return learned_; }

  // The Halut product of a layer configured "mult": "halut" (nn/halut.h).
  const HalutProduct& halut() const { return halut_; }
  HalutProduct& halut() { return halut_; }
  // The problems a Halut product of this layer solves: per group, rows of d columns times the
  // weights [d, m]. Throws axnn::Error naming the layer for a MatMul (no fixed operand).
  struct HalutShape {
    int64_t groups, d, m;
  };
  virtual HalutShape halut_shape() const;
  // The layer's weights as the Halut product's B: [groups, d, m].
  virtual at::Tensor halut_weights() const;
  // Learns the Halut product from rows [groups, R, d] of the layer's inputs (nn/halut.h).
  void learn_halut(const at::Tensor& rows, const HalutLearnOptions& options) {
    halut_.learn(rows, halut_weights(), options);
  }
  // While set, every forward hands the rows its Halut product would encode ([groups, R, d],
  // detached) to `sink` and computes in fp32: what `axnn halut learn` learns from.
  void set_row_sink(std::function<void(const at::Tensor& rows)> sink) {
    row_sink_ = std::move(sink);
  }
  // The Halut product's operations per sample in the last forward; nullopt unless halut.
  std::optional<HalutOps> halut_ops_per_sample() const;

 protected:
  // `operands`: how many activation operands are quantized (1, or 2 for MatMul).
  AxLayer(std::string layer_name, int operands);

  // The amax of activation operand i for this call: from the call (dynamic) or the calibration.
  at::Tensor activation_amax(int i, const at::Tensor& x) const;
  // The same for an unsigned multiplier: the range (min, max) of operand i.
  std::pair<at::Tensor, at::Tensor> activation_range(int i, const at::Tensor& x) const;
  // The weight's amax (symmetric) or range (asymmetric), per output channel or per tensor.
  at::Tensor weight_amax(const at::Tensor& weight) const;
  std::pair<at::Tensor, at::Tensor> weight_range(const at::Tensor& weight) const;
  // While calibrating, adds x to operand i's statistics.
  void observe(int i, const at::Tensor& x);
  void check_calibrated(int i) const;
  bool runs_fp32() const { return calibrating_ || config_.is_fp32(); }
  Error no_fixed_operand() const;  // what halut_shape and halut_weights throw for a MatMul
  bool row_sink_set() const { return static_cast<bool>(row_sink_); }
  // Hands rows to the row sink when one is set (and returns true).
  bool sink_rows(const at::Tensor& rows);
  // The Halut product of rows [groups, R, d]: [groups, m, R]. Records the rows per sample.
  at::Tensor halut_forward(const at::Tensor& rows, int64_t samples);
  // What a Halut layer adds to its output so that the input gets the gradient of the exact product
  // `exact` (straight through the fixed encoders, whose codes have no gradient); undefined when no
  // gradient is wanted or the learned encoder passes one itself.
  at::Tensor halut_input_gradient(const std::function<at::Tensor()>& exact,
                                  const at::Tensor& x) const;

  // The table of this call on the inputs' device: the multiplier's, less the learned columns
  // whose gamma is 1.
  at::Tensor call_table(const at::Device& device);
  // The learned structure's fractional part of the output, -factor * sum_c frac_c
  // accumulate(S_c) with frac_c = gamma_c below 1 (else 0), differentiable in gamma; `factor`
  // (broadcast to the output) turns an accumulator into the layer's output scale. An undefined
  // tensor without a structure.
  at::Tensor learned_part(const std::function<at::Tensor(const at::Tensor& table)>& accumulate,
                          const at::Tensor& factor);
  // Codes of operand values and their quantizer scales, as the ops compute them, for
  // learned_part: symmetric (scale qmax / amax, factor 1 / (sx sw)) or asymmetric (factor sx sw).
  struct Codes {
    at::Tensor codes, scale, zero;  // zero: the code of 0.0 (asymmetric), else 0
  };
  Codes symmetric_codes(const at::Tensor& v, const at::Tensor& amax) const;
  Codes asymmetric_codes(const at::Tensor& v, const at::Tensor& min, const at::Tensor& max) const;
  static at::Tensor output_factor(const Codes& x, const Codes& w, bool is_signed);

  at::Tensor lut_;  // int32 [2^bits, 2^bits], [activation code][weight code]; moved as used
  int64_t bits_ = 8;
  bool signed_ = true;  // the multiplier's: symmetric quantization, else asymmetric
  int64_t macs_per_sample_ = 0;

 private:
  std::string layer_name_;
  LayerConfig config_;
  std::optional<double> relative_power_ = 1.0;
  bool calibrating_ = false;
  std::vector<quant::Calibrator> calibrators_;
  std::vector<double> observed_min_, observed_max_;  // while calibrating
  std::vector<at::Tensor> amax_;                     // buffers, -1 until calibrated
  std::vector<at::Tensor> min_, max_;                // buffers: the asymmetric ranges
  std::optional<LearnedColumns> learned_;
  HalutProduct halut_;
  int64_t halut_rows_per_sample_ = 0;
  std::function<void(const at::Tensor&)> row_sink_;
};

class AxLinearImpl : public AxLayer {
 public:
  std::string_view type() const override { return "linear"; }
  AxLinearImpl(int64_t in_features, int64_t out_features, bool bias = true,
               std::string layer_name = "linear", const LayerConfig& config = {});
  // x [..., in_features] -> [..., out_features].
  at::Tensor forward(const at::Tensor& x);
  HalutShape halut_shape() const override;
  at::Tensor halut_weights() const override;

  at::Tensor weight, bias;  // [out, in], [out] or undefined
};
TORCH_MODULE(AxLinear);

struct Conv2dShape {
  int64_t in_channels, out_channels;
  std::array<int64_t, 2> kernel, stride{1, 1}, padding{0, 0}, dilation{1, 1};
  int64_t groups = 1;
  bool bias = true;
};

class AxConv2dImpl : public AxLayer {
 public:
  std::string_view type() const override { return "conv2d"; }
  AxConv2dImpl(const Conv2dShape& shape, std::string layer_name = "conv",
               const LayerConfig& config = {});
  at::Tensor forward(const at::Tensor& x);  // [N, C, H, W] -> [N, O, OH, OW]
  HalutShape halut_shape() const override;
  at::Tensor halut_weights() const override;

  const Conv2dShape& shape() const { return shape_; }
  at::Tensor weight, bias;  // [O, C / groups, KH, KW], [O] or undefined

 private:
  // The Halut product's rows of x: its im2col patches [groups, N OH OW, d].
  at::Tensor halut_rows(const at::Tensor& x) const;
  int64_t out_size(const at::Tensor& x, int i) const;  // OH (i = 0) or OW (i = 1)

  Conv2dShape shape_;
};
TORCH_MODULE(AxConv2d);

// a @ b for two activations (attention's Q K^T and A V), both quantized per tensor.
class AxMatMulImpl : public AxLayer {
 public:
  std::string_view type() const override { return "matmul"; }
  explicit AxMatMulImpl(std::string layer_name = "matmul", const LayerConfig& config = {});
  at::Tensor forward(const at::Tensor& a, const at::Tensor& b);  // [..., M, K] @ [..., K, N]
};
TORCH_MODULE(AxMatMul);

// Every AxLayer below root (root included), with its path name.
std::vector<std::pair<std::string, AxLayer*>> ax_layers(torch::nn::Module& root);
void set_calibrating(torch::nn::Module& root, bool on);
// sum MACs_l p_l / sum MACs_l over the AxLayers (from their last forward); nullopt when a layer
// with MACs has no known relative power. Throws when no layer has run yet.
std::optional<double> network_relative_power(torch::nn::Module& root);

}  // namespace axnn::nn
