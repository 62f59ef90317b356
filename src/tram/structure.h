// structure.json: what phase 1 (explore) learns and phase 2 (map) reads.
//   {"format": "axnn-tram-structure", "version": 1, "bits": 8, "signed": false,
//    "lambda": 0.3, "per_layer": false,
//    "gamma": [1, 1, 1, 0.6, 0, 0, 0, 0],             // the one structure (per_layer false)
//    "layers": {"conv1": [...], "fc1": [...]},        // a structure per layer (per_layer true)
//    "log": [{"epoch": 1, ...}, ...]}                 // the training log, as explore wrote it
// gamma lists the P lowest columns' values in [0, 1], column 0 first (tram/columns.h).
#pragma once

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace axnn::tram {

struct Structure {
  int bits = 8;
  bool is_signed = false;
  double lambda = 0;
  bool per_layer = false;
  std::vector<double> gamma;                          // !per_layer
  std::map<std::string, std::vector<double>> layers;  // per_layer: layer path -> gamma
  nlohmann::ordered_json log = nlohmann::ordered_json::array();
};

nlohmann::ordered_json to_json(const Structure& structure);
// Throws axnn::Error naming `source` and the key at fault.
Structure structure_from_json(const nlohmann::json& json, std::string_view source);
Structure read_structure(const std::filesystem::path& path);
void write_structure(const Structure& structure, const std::filesystem::path& path);

// A gamma list as "--gamma 1,1,1,0.6,0,0,0,0" gives it; throws axnn::Error naming the text.
std::vector<double> parse_gamma_list(std::string_view text);

}  // namespace axnn::tram
