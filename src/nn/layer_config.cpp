#include "nn/layer_config.h"

#include <set>

#include "core/error.h"

namespace axnn::nn {

LayerConfig layer_config_from_json(const nlohmann::json& json, const std::string& where) {
  AXNN_CHECK(json.is_object(), "{}: a layer config must be a JSON object, got {}", where,
             json.dump());
  static const std::set<std::string> kKeys = {"mult",  "per_channel", "narrow_range", "grad_mode",
                                              "calib", "percentile",  "dynamic"};
  for (const auto& [key, value] : json.items())
    AXNN_CHECK(kKeys.count(key),
               "{}: unknown key '{}' (known: mult, per_channel, narrow_range, "
               "grad_mode, calib, percentile, dynamic)",
               where, key);
  LayerConfig config;
  try {
    config.mult = json.value("mult", config.mult);
    config.per_channel = json.value("per_channel", config.per_channel);
    config.narrow_range = json.value("narrow_range", config.narrow_range);
    config.grad_mode = json.value("grad_mode", config.grad_mode);
    config.dynamic = json.value("dynamic", config.dynamic);
    config.calib.percentile = json.value("percentile", config.calib.percentile);
    if (json.contains("calib"))
      config.calib.method = quant::parse_calib_method(json.at("calib").get<std::string>());
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("{}: {}", where, e.what()));
  } catch (const Error& e) {
    throw Error(fmt::format("{}: {}", where, e.what()));
  }
  AXNN_CHECK(
      config.grad_mode == "ste" || config.grad_mode == "ste-clip" || config.grad_mode == "lut-grad",
      "{}: grad_mode '{}' is not ste, ste-clip or lut-grad", where, config.grad_mode);
  AXNN_CHECK(config.calib.percentile > 0 && config.calib.percentile <= 100,
             "{}: percentile {} is outside (0, 100]", where, config.calib.percentile);
  return config;
}

nlohmann::json to_json(const LayerConfig& config) {
  return {{"mult", config.mult},
          {"per_channel", config.per_channel},
          {"narrow_range", config.narrow_range},
          {"grad_mode", config.grad_mode},
          {"calib", std::string(quant::calib_method_name(config.calib.method))},
          {"percentile", config.calib.percentile},
          {"dynamic", config.dynamic}};
}

}  // namespace axnn::nn
