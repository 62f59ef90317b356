// How one layer is approximated: which multiplier, how its operands are quantized, which gradient
// retraining uses. Read from JSON objects such as
//   {"mult": "trunc8s_k4", "per_channel": true, "narrow_range": true, "grad_mode": "ste",
//    "calib": "percentile", "percentile": 99.99, "dynamic": false}
// where every key is optional. "mult": "halut" makes the layer a multiplication-free MADDness
// product instead (nn/halut.h), with its own keys
//   {"mult": "halut", "c": 16, "k": 16, "encoder": "maddness", "lut": "int8", "average": 0}
// and the quantization keys unused.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "quant/calibrator.h"

namespace axnn::nn {

// The settings of a Halut layer (nn/halut.h).
struct HalutConfig {
  int64_t c = 16;                    // codebooks
  int64_t k = 16;                    // prototypes per codebook: 2, 4, 8 or 16
  std::string encoder = "maddness";  // maddness (hash trees), pq (k-means) or learned (trained)
  std::string lut = "int8";          // table type at inference: int8 or fp32
  int average = 0;                   // int8: levels of MADDness's averaging trick, 0 (exact) .. 4

  bool operator==(const HalutConfig&) const = default;
};

inline constexpr const char* kHalut = "halut";

struct LayerConfig {
  // "exact" leaves the layer in fp32; anything else is a multiplier name or file (registry.h).
  std::string mult = "exact";
  bool per_channel = true;        // weights: one amax per output channel, else one per tensor
  bool narrow_range = true;       // qmin = -qmax
  std::string grad_mode = "ste";  // ste, ste-clip or lut-grad
  quant::CalibOptions calib;      // activations; method default percentile 99.99
  bool dynamic = false;           // activation amax from each call instead of calibration
  HalutConfig halut;              // with mult "halut"

  bool is_fp32() const { return mult == "exact"; }
  bool is_halut() const { return mult == kHalut; }
};

// Throws axnn::Error naming `where` (e.g. a file and a layer pattern) and the key at fault.
LayerConfig layer_config_from_json(const nlohmann::json& json, const std::string& where);
nlohmann::json to_json(const LayerConfig& config);
// Throws axnn::Error naming `where` and the setting out of range.
void check_halut_config(const HalutConfig& config, const std::string& where);

}  // namespace axnn::nn
