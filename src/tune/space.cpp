#include "tune/space.h"

#include <fmt/format.h>

#include <algorithm>

#include "core/error.h"

namespace axnn::tune {

namespace {

constexpr int kMaxDraws = 100000;  // rejection sampling gives up after this many tries

size_t index_of(const Knob& knob, int64_t value) {
  return static_cast<size_t>(std::find(knob.values.begin(), knob.values.end(), value) -
                             knob.values.begin());
}

}  // namespace

Space::Space(std::vector<Knob> knobs, std::function<std::string(const Config&)> constraint,
             std::function<std::vector<float>(const Config&)> features)
    : knobs_(std::move(knobs)), constraint_(std::move(constraint)), features_(std::move(features)) {
  for (const Knob& knob : knobs_)
    AXNN_CHECK(!knob.values.empty(), "schedule space: knob '{}' has no values", knob.name);
}

std::string Space::why_invalid(const Config& config) const {
  if (config.size() != knobs_.size())
    return fmt::format("{} knobs given, the space has {}", config.size(), knobs_.size());
  for (const Knob& knob : knobs_) {
    const auto it = config.find(knob.name);
    if (it == config.end()) return fmt::format("knob '{}' is missing", knob.name);
    if (index_of(knob, it->second) == knob.values.size())
      return fmt::format("knob '{}' = {} is not one of {}", knob.name, it->second,
                         fmt::join(knob.values, ","));
  }
  return constraint_(config);
}

double Space::size() const {
  double size = 1;
  for (const Knob& knob : knobs_) size *= static_cast<double>(knob.values.size());
  return size;
}

Config Space::random(std::mt19937_64& rng) const {
  for (int draw = 0; draw < kMaxDraws; ++draw) {
    Config config;
    for (const Knob& knob : knobs_)
      config[knob.name] = knob.values[std::uniform_int_distribution<size_t>(
          0, knob.values.size() - 1)(rng)];
    if (constraint_(config).empty()) return config;
  }
  throw Error("schedule space: no valid configuration found (the constraints exclude all)");
}

Config Space::mutate(const Config& config, std::mt19937_64& rng) const {
  for (int draw = 0; draw < kMaxDraws; ++draw) {
    Config child = config;
    const int changes = std::uniform_int_distribution<int>(1, 2)(rng);
    for (int c = 0; c < changes; ++c) {
      const Knob& knob = knobs_[std::uniform_int_distribution<size_t>(0, knobs_.size() - 1)(rng)];
      const size_t n = knob.values.size();
      if (n == 1) continue;
      const size_t at = index_of(knob, child[knob.name]);
      size_t to = 0;
      if (at < n && std::bernoulli_distribution(0.7)(rng)) {  // mostly a step to a neighbour
        const bool up = at == 0 || (at + 1 < n && std::bernoulli_distribution(0.5)(rng));
        to = up ? at + 1 : at - 1;
      } else {
        to = std::uniform_int_distribution<size_t>(0, n - 1)(rng);
      }
      child[knob.name] = knob.values[to];
    }
    if (child != config && constraint_(child).empty()) return child;
  }
  return random(rng);  // a configuration without valid neighbours
}

Config Space::crossover(const Config& a, const Config& b, std::mt19937_64& rng) const {
  for (int draw = 0; draw < 16; ++draw) {
    Config child;
    for (const Knob& knob : knobs_)
      child[knob.name] = std::bernoulli_distribution(0.5)(rng) ? a.at(knob.name) : b.at(knob.name);
    if (constraint_(child).empty()) return child;
  }
  return mutate(a, rng);
}

nlohmann::json Space::to_json(const Config& config) {
  nlohmann::json json = nlohmann::json::object();
  for (const auto& [name, value] : config) json[name] = value;
  return json;
}

Config Space::from_json(const nlohmann::json& json, std::string_view what) const {
  AXNN_CHECK(json.is_object(), "{}: a configuration is a JSON object of knob values", what);
  Config config;
  for (const auto& [name, value] : json.items()) {
    AXNN_CHECK(value.is_number_integer(), "{}: knob '{}' is not an integer", what, name);
    config[name] = value.get<int64_t>();
  }
  const std::string why = why_invalid(config);
  AXNN_CHECK(why.empty(), "{}: invalid configuration: {}", what, why);
  return config;
}

}  // namespace axnn::tune
