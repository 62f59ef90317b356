// How one layer is approximated: which multiplier, how its operands are quantized, which gradient
// retraining uses. Read from JSON objects such as
//   {"mult": "trunc8s_k4", "per_channel": true, "narrow_range": true, "grad_mode": "ste",
//    "calib": "percentile", "percentile": 99.99, "dynamic": false}
// where every key is optional.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "quant/calibrator.h"

namespace axnn::nn {

struct LayerConfig {
  // "exact" leaves the layer in fp32; anything else is a multiplier name or file (registry.h).
  std::string mult = "exact";
  bool per_channel = true;        // weights: one amax per output channel, else one per tensor
  bool narrow_range = true;       // qmin = -qmax
  std::string grad_mode = "ste";  // ste, ste-clip or lut-grad
  quant::CalibOptions calib;      // activations; method default percentile 99.99
  bool dynamic = false;           // activation amax from each call instead of calibration

  bool is_fp32() const { return mult == "exact"; }
};

// Throws axnn::Error naming `where` (e.g. a file and a layer pattern) and the key at fault.
LayerConfig layer_config_from_json(const nlohmann::json& json, const std::string& where);
nlohmann::json to_json(const LayerConfig& config);

}  // namespace axnn::nn
