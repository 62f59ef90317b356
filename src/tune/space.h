// A schedule space: named integer knobs, each with its list of allowed values, and the constraints
// between them. A configuration gives every knob one of its values; only configurations the space
// accepts are ever turned into source code, so nothing but these checked integers reaches a
// generated kernel.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace axnn::tune {

using Config = std::map<std::string, int64_t>;

struct Knob {
  std::string name;
  std::vector<int64_t> values;  // allowed values, ascending
};

class Space {
 public:
  // `constraint` returns an empty string for a valid configuration (knob values already checked),
  // else why it is not; `features` maps a valid configuration to the cost model's inputs.
  Space(std::vector<Knob> knobs, std::function<std::string(const Config&)> constraint,
        std::function<std::vector<float>(const Config&)> features);

  const std::vector<Knob>& knobs() const { return knobs_; }
  // Empty if the configuration sets exactly the knobs to allowed values and meets the constraint.
  std::string why_invalid(const Config& config) const;
  bool valid(const Config& config) const { return why_invalid(config).empty(); }
  std::vector<float> features(const Config& config) const { return features_(config); }
  // The number of knob combinations before constraints (a double: it can be large).
  double size() const;

  // A valid configuration drawn uniformly over knob values (rejection sampling); throws
  // axnn::Error if none is found in many draws (an empty space).
  Config random(std::mt19937_64& rng) const;
  // A valid neighbour: one or two knobs moved to an adjacent or random value.
  Config mutate(const Config& config, std::mt19937_64& rng) const;
  // A valid child taking each knob from one of the parents (falls back to a mutation of `a`).
  Config crossover(const Config& a, const Config& b, std::mt19937_64& rng) const;

  // Configuration <-> JSON object; from_json throws axnn::Error naming `what` and the knob at fault
  // unless the result is valid.
  static nlohmann::json to_json(const Config& config);
  Config from_json(const nlohmann::json& json, std::string_view what) const;

 private:
  std::vector<Knob> knobs_;
  std::function<std::string(const Config&)> constraint_;
  std::function<std::vector<float>(const Config&)> features_;
};

}  // namespace axnn::tune
