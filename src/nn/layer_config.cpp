#include "nn/layer_config.h"

#include <set>

#include "core/error.h"

namespace axnn::nn {

LayerConfig layer_config_from_json(const nlohmann::json& json, const std::string& where) {
  AXNN_CHECK(json.is_object(), "{}: a layer config must be a JSON object, got {}", where,
             json.dump());
  static const std::set<std::string> kKeys = {"mult",  "per_channel", "narrow_range", "grad_mode",
                                              "calib", "percentile",  "dynamic"};
  static const std::set<std::string> kHalutKeys = {"c", "k", "encoder", "lut", "average"};
  const bool halut = json.value("mult", std::string()) == kHalut;
  for (const auto& [key, value] : json.items())
    AXNN_CHECK(kKeys.count(key) || (halut && kHalutKeys.count(key)),
               "{}: unknown key '{}' (known: mult, per_channel, narrow_range, grad_mode, calib, "
               "percentile, dynamic; with \"mult\": \"halut\" also c, k, encoder, lut, average)",
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
    HalutConfig& h = config.halut;
    h.c = json.value("c", h.c);
    h.k = json.value("k", h.k);
    h.encoder = json.value("encoder", h.encoder);
    h.lut = json.value("lut", h.lut);
    h.average = json.value("average", h.average);
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
  if (halut) check_halut_config(config.halut, where);
  return config;
}

void check_halut_config(const HalutConfig& h, const std::string& where) {
  AXNN_CHECK(h.c >= 1, "{}: halut c = {} must be at least 1", where, h.c);
  AXNN_CHECK(h.k == 2 || h.k == 4 || h.k == 8 || h.k == 16, "{}: halut k = {} is not 2, 4, 8 or 16",
             where, h.k);
  AXNN_CHECK(h.encoder == "maddness" || h.encoder == "pq" || h.encoder == "learned",
             "{}: halut encoder '{}' is not maddness, pq or learned", where, h.encoder);
  AXNN_CHECK(h.lut == "int8" || h.lut == "fp32", "{}: halut lut '{}' is not int8 or fp32", where,
             h.lut);
  AXNN_CHECK(h.average >= 0 && h.average <= 4 && (h.average == 0 || h.lut == "int8") &&
                 h.c % (int64_t{1} << h.average) == 0,
             "{}: halut average = {} must be 0..4, with an int8 lut and c = {} divisible by 2^{}",
             where, h.average, h.c, h.average);
}

nlohmann::json to_json(const LayerConfig& config) {
  if (config.is_halut())
    return {{"mult", config.mult},     {"c", config.halut.c},
            {"k", config.halut.k},     {"encoder", config.halut.encoder},
            {"lut", config.halut.lut}, {"average", config.halut.average}};
  return {{"mult", config.mult},
          {"per_channel", config.per_channel},
          {"narrow_range", config.narrow_range},
          {"grad_mode", config.grad_mode},
          {"calib", std::string(quant::calib_method_name(config.calib.method))},
          {"percentile", config.calib.percentile},
          {"dynamic", config.dynamic}};
}

}  // namespace axnn::nn
