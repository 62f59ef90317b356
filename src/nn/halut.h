// The Halut (MADDness) product of an AxLinear or AxConv2d configured "mult": "halut": the layer's
// matrix product rows x W^T, with the rows its inputs (a Linear's feature vectors, a Conv2d's
// im2col patches, one problem per convolution group), becomes sum_c lut[c][code_c(row)][:]
// (amm/maddness.h), computed by the encode / decode kernels without a multiplication.
//
// State, registered on the layer (so checkpoints keep it) when it is first configured halut:
//   halut_split_dims  int32 [G, C, log2 K]   hash trees (encoder maddness)
//   halut_thresholds  float [G, C, K - 1]
//   halut_centroids   float [G, C, K, Dg]    k-means centroids, zero outside their column group
//                                            (encoders pq and learned; a parameter for learned)
//   halut_lut         float [G, C, K, Mg]    the tables, a parameter: retraining trains them
//   halut_learned     int64 []               0 not learned, 1 trees, 2 centroids
//   halut_temperature float []               the learned encoder's soft-assignment temperature
// Inference (no gradient): encode, then decode with the table quantized to int8 at every call
// (amm::quantize_lut, so retrained tables are re-quantized) or in fp32. Training (gradient on):
// the same codes and the same int8 rounding (straight through), summed differentiably in the
// tables; the learned encoder's codes are the nearest centroids forward and a softmax over
// -distance / temperature backward (LUT-NN).
#pragma once

#include <torch/nn/module.h>

#include <cstdint>
#include <string>

#include "nn/layer_config.h"

namespace axnn::nn {

// Operations per input row of the replaced product (all groups): the hash trees' comparisons, the
// decode's table reads and additions, and the multiplications of nearest-centroid encoders.
struct HalutOps {
  int64_t comparisons = 0, table_reads = 0, additions = 0, encoder_macs = 0;
};

struct HalutLearnOptions {
  double ridge_lambda = 1.0;
  uint64_t seed = 1;
};

class HalutProduct {
 public:
  // Registers the state on `owner` (first call) and sizes it for `groups` problems of d columns
  // and m outputs each; a learned state of the same sizes and encoder family is kept (so a layer
  // can switch between a multiplier and its learned Halut product), anything else starts
  // unlearned. Throws axnn::Error naming `layer` when c exceeds d.
  void configure(torch::nn::Module& owner, const std::string& layer, const HalutConfig& config,
                 int64_t groups, int64_t d, int64_t m);
  bool learned() const;
  const HalutConfig& config() const { return config_; }

  // rows float [G, R, Dg] -> float [G, Mg, R] (the decode kernels' transposed layout). Throws
  // axnn::Error naming the layer when the state is not learned for the configured encoder.
  at::Tensor forward(const at::Tensor& rows) const;

  // Learns the encoders from rows [G, R, Dg] and sets the tables for weights [G, Dg, Mg].
  void learn(const at::Tensor& rows, const at::Tensor& weights, const HalutLearnOptions& options);

  HalutOps ops_per_row() const;
  // Multiplications per replaced MAC, for the relative multiplier power: 0 for hash trees; a
  // nearest-centroid encoder computes K distances over d columns per row against the d m MACs it
  // replaces, K / m, counted at the power of exact multipliers.
  double relative_power() const;
  // The learned encoder's soft-assignment temperature (over distances normalized per row).
  void set_temperature(double temperature);

 private:
  void check_learned() const;
  at::Tensor codes_of(const at::Tensor& rows, int64_t g) const;  // uint8 [R, C]
  at::Tensor inference(const at::Tensor& rows) const;
  at::Tensor differentiable(const at::Tensor& rows) const;
  // The learned encoder's assignment [R, C, K]: one-hot nearest centroids forward, softmax over
  // -distance / temperature backward.
  at::Tensor soft_codes(const at::Tensor& x, int64_t g) const;

  std::string layer_;
  HalutConfig config_;
  int64_t groups_ = 0, d_ = 0, m_ = 0;
  at::Tensor split_dims_, thresholds_, centroids_, lut_, learned_, temperature_;
  // [C, d]: 1 on each codebook's columns (the learned encoder's); not a buffer, so moved to the
  // rows' device when first used there.
  mutable at::Tensor group_mask_;
};

}  // namespace axnn::nn
