#include "tram/structure.h"

#include <fmt/format.h>

#include <charconv>
#include <cmath>

#include "core/error.h"
#include "core/files.h"
#include "mult/generators.h"
#include "mult/multiplier.h"

namespace axnn::tram {
namespace {

constexpr const char* kFormat = "axnn-tram-structure";
constexpr int kVersion = 1;

void check_gamma(const std::vector<double>& gamma, int bits, std::string_view where) {
  AXNN_CHECK(!gamma.empty() && std::ssize(gamma) <= partial_product_columns(bits),
             "{}: {} gamma values, a {}-bit multiplier takes 1..{}", where, gamma.size(), bits,
             partial_product_columns(bits));
  for (size_t c = 0; c < gamma.size(); ++c)
    AXNN_CHECK(std::isfinite(gamma[c]) && gamma[c] >= 0 && gamma[c] <= 1,
               "{}: gamma of column {} is {}, outside [0, 1]", where, c, gamma[c]);
}

std::vector<double> gamma_from_json(const nlohmann::json& json, int bits, std::string_view where) {
  AXNN_CHECK(json.is_array(), "{}: not a list of numbers", where);
  std::vector<double> gamma;
  for (const auto& v : json) {
    AXNN_CHECK(v.is_number(), "{}: '{}' is not a number", where, v.dump());
    gamma.push_back(v.get<double>());
  }
  check_gamma(gamma, bits, where);
  return gamma;
}

}  // namespace

nlohmann::ordered_json to_json(const Structure& s) {
  nlohmann::ordered_json out = {{"format", kFormat},  {"version", kVersion},
                                {"bits", s.bits},     {"signed", s.is_signed},
                                {"lambda", s.lambda}, {"per_layer", s.per_layer}};
  if (s.per_layer) {
    nlohmann::ordered_json layers = nlohmann::ordered_json::object();
    for (const auto& [name, gamma] : s.layers) layers[name] = gamma;
    out["layers"] = layers;
  } else {
    out["gamma"] = s.gamma;
  }
  out["log"] = s.log;
  return out;
}

Structure structure_from_json(const nlohmann::json& json, std::string_view source) {
  AXNN_CHECK(json.is_object() && json.value("format", "") == kFormat,
             "{}: not an axnn TRAM structure (no \"format\": \"{}\")", source, kFormat);
  AXNN_CHECK(json.value("version", 0) == kVersion, "{}: version {} (this axnn reads {})", source,
             json.value("version", 0), kVersion);
  const auto field = [&](const char* key) -> const nlohmann::json& {
    AXNN_CHECK(json.contains(key), "{}: missing \"{}\"", source, key);
    return json.at(key);
  };
  Structure s;
  AXNN_CHECK(field("bits").is_number_integer(), "{}: \"bits\" is not an integer", source);
  s.bits = field("bits").get<int>();
  AXNN_CHECK(s.bits >= Multiplier::kMinBits && s.bits <= Multiplier::kMaxBits,
             "{}: \"bits\" = {} is outside {}..{}", source, s.bits, Multiplier::kMinBits,
             Multiplier::kMaxBits);
  AXNN_CHECK(field("signed").is_boolean(), "{}: \"signed\" is not true or false", source);
  s.is_signed = field("signed").get<bool>();
  AXNN_CHECK(field("per_layer").is_boolean(), "{}: \"per_layer\" is not true or false", source);
  s.per_layer = field("per_layer").get<bool>();
  if (json.contains("lambda")) {
    AXNN_CHECK(json["lambda"].is_number(), "{}: \"lambda\" is not a number", source);
    s.lambda = json["lambda"].get<double>();
  }
  if (s.per_layer) {
    AXNN_CHECK(field("layers").is_object() && !json["layers"].empty(),
               "{}: \"layers\" is not an object of layer names to gamma lists", source);
    for (const auto& [name, gamma] : json["layers"].items())
      s.layers[name] = gamma_from_json(gamma, s.bits, fmt::format("{}: layer '{}'", source, name));
  } else {
    s.gamma = gamma_from_json(field("gamma"), s.bits, fmt::format("{}: \"gamma\"", source));
  }
  if (json.contains("log")) s.log = json["log"];
  return s;
}

Structure read_structure(const std::filesystem::path& path) {
  const std::string text = read_text_file(path, "TRAM structure");
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    throw Error(fmt::format("{}: not JSON: {}", path.string(), e.what()));
  }
  return structure_from_json(json, path.string());
}

void write_structure(const Structure& structure, const std::filesystem::path& path) {
  write_text_file(path, to_json(structure).dump(2) + "\n");
}

std::vector<double> parse_gamma_list(std::string_view text) {
  std::vector<double> gamma;
  for (size_t start = 0; start <= text.size();) {
    size_t end = text.find(',', start);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view item = text.substr(start, end - start);
    double v = 0;
    const auto [ptr, ec] = std::from_chars(item.data(), item.data() + item.size(), v);
    AXNN_CHECK(!item.empty() && ec == std::errc() && ptr == item.data() + item.size(),
               "--gamma '{}': '{}' is not a number", text, item);
    AXNN_CHECK(v >= 0 && v <= 1, "--gamma '{}': {} is outside [0, 1]", text, v);
    gamma.push_back(v);
    start = end + 1;
  }
  return gamma;
}

}  // namespace axnn::tram
