// TRAM phase 2: a learned structure gamma (tram/columns.h) mapped to a multiplier circuit.
//
// The start is the exact circuit of the chosen architecture (netlist/generate.h, Wallace by
// default) with the partial-product cells of every gamma_c = 1 column removed (cells kColumns), so
// a 0/1 gamma is exactly make_columns. Each fractional column (0 < gamma_c < 1) keeps its cells;
// then, column by column ascending and for each adder of that column by id (the adders of the
// start circuit), a greedy tries forcing the adder's outputs to constants, keeping a change only
// when the mean square error over all code pairs against the target f_gamma (structure_table)
// strictly falls.
//
// Two greedies run. TRAM's forces to 0 only, per adder the sum, then the carry (and so mostly
// matches the target's mean). axnn's tries per adder, in one step, every way of keeping or forcing
// to 0 or 1 its sum and its carry, and keeps the best of them if it lowers the error: forcing to
// 1 pays mostly as "sum 1, carry 0", the adder replaced by the constant 2^column, which neither
// output forced alone reaches. It runs from the start and, where that is closer to the target,
// from the start with fractional columns' cells dropped whole (a gamma just below 1, which no
// forcing reaches where a column has no adder: column 0), and keeps the better result. The axnn one is the mapped multiplier; both are reported, with
// their abc cost, so that the error the constant 1 saves can be read at the power each costs.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <vector>

#include "mult/multiplier.h"
#include "netlist/generate.h"
#include "netlist/multiplier_cost.h"
#include "tram/structure.h"

namespace axnn::tram {

struct MapOptions {
  netlist::Architecture architecture = netlist::Architecture::kWallace;
  bool estimate_cost = true;  // abc area / delay / power of both results (netlist/cost.h)
};

// One greedy's result.
struct MappedCircuit {
  netlist::MultiplierCircuit
      circuit;  // cells and forced outputs, in the order the greedy kept them
  // The table from exhaustive simulation, named circuit_name(circuit); meta: source, the gamma in
  // the description, and relative power (set_cost_meta) when the cost was estimated.
  Multiplier mult;
  double target_mse = 0;  // mean square error against structure_table over all code pairs
  int trials = 0;         // circuits simulated by the greedy
  std::optional<netlist::MultiplierCost> cost;  // unset when MapOptions::estimate_cost is false
};

struct Mapping {
  int bits = 8;
  bool is_signed = false;
  std::vector<double> gamma;
  netlist::Architecture architecture = netlist::Architecture::kWallace;
  double start_mse = 0;  // the start circuit's target MSE (both greedies start from it)
  MappedCircuit tram;    // forcing to 0 only (TRAM's greedy)
  MappedCircuit axnn;    // forcing to 0 or 1: the result
};

// Mean of (table - target)^2 over all code pairs; target as structure_table gives it.
double target_mse(const Multiplier& mult, std::span<const double> target);

// Both greedies. Throws axnn::Error for a bad gamma or width (naming it), and what the cost
// estimation throws (abc missing) when options.estimate_cost is set.
Mapping map_structure(const std::vector<double>& gamma, int bits, bool is_signed,
                      const MapOptions& options = {});

// Writes into dir (created if missing) the axnn result as <name>.axm (table and meta), <name>.blif
// and <name>.v, name = its circuit name, and returns the summary: gamma, the start, both
// greedies (circuit name, forced outputs, target MSE, error metrics as mult/metrics.h's to_json,
// cost and relative area / delay / power or null) and the files written.
nlohmann::ordered_json write_mapping(const Mapping& mapping, const std::filesystem::path& dir);

// A structure file's structures mapped into dir: each distinct gamma once (write_mapping), then
// dir/mapping.json, the summary: write_mapping's for one structure; for a per-layer structure
// each layer's multiplier and every mapping's summary, and dir/layers.yaml, rules for
// `axnn eval --config` naming each layer's .axm by its absolute path.
struct StructureMapping {
  std::vector<Mapping> mappings;  // by gamma
  nlohmann::ordered_json summary;
};
StructureMapping map_into(const Structure& structure, const std::filesystem::path& dir,
                          const MapOptions& options = {});

}  // namespace axnn::tram
