#include "tram/map.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <map>
#include <string>
#include <system_error>

#include "core/error.h"
#include "core/files.h"
#include "mult/formats.h"
#include "mult/generators.h"
#include "mult/metrics.h"
#include "netlist/blif.h"
#include "netlist/cost.h"
#include "netlist/verilog_writer.h"
#include "tram/columns.h"

namespace axnn::tram {
namespace {

std::string gamma_text(std::span<const double> gamma) {
  return fmt::format("[{}]", fmt::join(gamma, ", "));
}

// Below this relative change two errors count as equal: tables of equal error can differ in the
// last bits of the sum, and such noise must not count as the strict fall the greedy asks for.
constexpr double kRelativeTolerance = 1e-12;

bool lower(double candidate, double current) {
  return candidate < current - kRelativeTolerance * std::max(current, 1.0);
}

// What one trial does to an adder: the constant its sum and its carry are forced to, -1 to keep.
struct Forcing {
  int sum = -1, carry = -1;
};
// Per adder, steps in order; each step tries its alternatives on the current circuit and keeps
// the one that lowers the error most, if any does.
using Steps = std::vector<std::vector<Forcing>>;

// TRAM: the sum to 0, then the carry to 0.
Steps tram_steps() { return {{{0, -1}}, {{-1, 0}}}; }

// axnn: one step over every way of keeping or forcing to 0 or 1 each output. Jointly, because
// the move that makes 1 pay is mostly "sum to 1, carry to 0": the adder becomes the constant
// 2^column, near its mean value, while the sum to 1 alone only raises the error and is not kept.
Steps axnn_steps() {
  std::vector<Forcing> all;
  for (const int sum : {-1, 0, 1})
    for (const int carry : {-1, 0, 1})
      if (sum >= 0 || carry >= 0) all.push_back({sum, carry});
  return {all};
}

// The greedy over the fractional columns, ascending, and their adders by id.
MappedCircuit greedy(const MappedCircuit& start, std::span<const double> gamma,
                     std::span<const double> target, const Steps& steps) {
  MappedCircuit best = start;
  const std::vector<netlist::AdderInfo> adders = netlist::circuit_adders(start.circuit);
  for (size_t c = 0; c < gamma.size(); ++c) {
    if (gamma[c] == 0 || gamma[c] == 1) continue;
    for (const netlist::AdderInfo& adder : adders) {
      if (adder.column != static_cast<int>(c)) continue;
      for (const std::vector<Forcing>& step : steps) {
        std::optional<MappedCircuit> kept;
        for (const Forcing& f : step) {
          netlist::MultiplierCircuit trial = best.circuit;
          if (f.sum >= 0) trial.forced.push_back({adder.id, true, false, f.sum});
          if (f.carry >= 0) trial.forced.push_back({adder.id, false, true, f.carry});
          Multiplier mult = netlist::simulate_circuit(trial);
          ++best.trials;
          const double mse = target_mse(mult, target);
          if (lower(mse, kept ? kept->target_mse : best.target_mse))
            kept = MappedCircuit{std::move(trial), std::move(mult), mse, 0, std::nullopt};
        }
        if (!kept) continue;
        best.circuit = std::move(kept->circuit);
        best.mult = std::move(kept->mult);
        best.target_mse = kept->target_mse;
      }
    }
  }
  return best;
}

// axnn's start: each fractional column's cells dropped whole where that is closer to the target
// than keeping them. A gamma just below 1 maps so, which forcing cannot reach where a column has
// no adder to force (column 0 holds one cell and no adder).
MappedCircuit drop_whole_columns(const MappedCircuit& start, std::span<const double> gamma,
                                 std::span<const double> target) {
  MappedCircuit best = start;
  for (size_t c = 0; c < gamma.size(); ++c) {
    if (gamma[c] == 0 || gamma[c] == 1) continue;
    netlist::MultiplierCircuit trial = best.circuit;
    trial.keep_columns[c] = false;
    Multiplier mult = netlist::simulate_circuit(trial);
    ++best.trials;
    const double mse = target_mse(mult, target);
    if (lower(mse, best.target_mse))
      best = MappedCircuit{std::move(trial), std::move(mult), mse, best.trials, std::nullopt};
  }
  return best;
}

// axnn's greedy from both starts, the better result (greedy paths from different starts can end
// either way round).
MappedCircuit axnn_greedy(const MappedCircuit& start, std::span<const double> gamma,
                          std::span<const double> target) {
  MappedCircuit kept = greedy(start, gamma, target, axnn_steps());
  const MappedCircuit dropped = drop_whole_columns(start, gamma, target);
  if (dropped.circuit.keep_columns == start.circuit.keep_columns) return kept;
  MappedCircuit other = greedy(dropped, gamma, target, axnn_steps());
  // Both ran from `start`: its trials count once.
  const int trials = kept.trials + other.trials - start.trials;
  MappedCircuit& best = lower(other.target_mse, kept.target_mse) ? other : kept;
  best.trials = trials;
  return best;
}

void describe(MappedCircuit& mapped, std::span<const double> gamma, std::string_view greedy_name) {
  MultiplierMeta& meta = mapped.mult.meta();
  meta.source = fmt::format("axnn tram map ({} greedy): {}", greedy_name,
                            netlist::circuit_name(mapped.circuit));
  meta.description = fmt::format("TRAM structure gamma {} mapped to a circuit, target MSE {}",
                                 gamma_text(gamma), format_number(mapped.target_mse));
}

nlohmann::ordered_json greedy_json(const MappedCircuit& mapped) {
  const std::vector<netlist::AdderInfo> adders = netlist::circuit_adders(mapped.circuit);
  nlohmann::ordered_json forced = nlohmann::ordered_json::array();
  for (const netlist::ForcedAdder& f : mapped.circuit.forced) {
    const netlist::AdderInfo& adder = adders[static_cast<size_t>(f.id)];
    forced.push_back({{"id", f.id},
                      {"adder", adder.name},
                      {"column", adder.column},
                      {"output", f.sum ? "sum" : "carry"},
                      {"value", f.value}});
  }
  nlohmann::ordered_json j = {{"circuit", netlist::circuit_name(mapped.circuit)},
                              {"forced", forced},
                              {"trials", mapped.trials},
                              {"target_mse", mapped.target_mse},
                              {"metrics", to_json(mapped.mult, compute_metrics(mapped.mult))}};
  j["cost"] = mapped.cost ? netlist::cost_to_json(mapped.cost->cost, mapped.cost->relative)
                          : nlohmann::ordered_json();
  return j;
}

}  // namespace

double target_mse(const Multiplier& mult, std::span<const double> target) {
  AXNN_CHECK(target.size() == mult.lut().size(),
             "target MSE of {}: the target has {} entries, the table {}", mult.name(),
             target.size(), mult.lut().size());
  double sum = 0;
  for (size_t t = 0; t < target.size(); ++t) {
    const double e = mult.lut()[t] - target[t];
    sum += e * e;
  }
  return sum / static_cast<double>(target.size());
}

Mapping map_structure(const std::vector<double>& gamma, int bits, bool is_signed,
                      const MapOptions& options) {
  const std::vector<double> target = structure_table(bits, is_signed, gamma);  // validates
  netlist::MultiplierCircuit start;
  start.bits = bits;
  start.is_signed = is_signed;
  start.architecture = options.architecture;
  start.cells = netlist::CellSelection::kColumns;
  start.keep_columns.assign(static_cast<size_t>(partial_product_columns(bits)), true);
  for (size_t c = 0; c < gamma.size(); ++c) start.keep_columns[c] = gamma[c] != 1;

  MappedCircuit first{start, netlist::simulate_circuit(start), 0, 1, std::nullopt};
  first.target_mse = target_mse(first.mult, target);
  Mapping mapping{bits,
                  is_signed,
                  gamma,
                  options.architecture,
                  first.target_mse,
                  greedy(first, gamma, target, tram_steps()),
                  axnn_greedy(first, gamma, target)};
  describe(mapping.tram, gamma, "TRAM's (forcing to 0)");
  describe(mapping.axnn, gamma, "axnn's (forcing to 0 or 1)");
  if (options.estimate_cost) {
    for (MappedCircuit* mapped : {&mapping.tram, &mapping.axnn}) {
      // Both greedies often end in the same circuit (always for a 0/1 gamma): cost it once.
      if (mapped == &mapping.axnn && mapping.tram.mult.name() == mapping.axnn.mult.name())
        mapped->cost = mapping.tram.cost;
      else
        mapped->cost = netlist::multiplier_cost(netlist::generate_multiplier(mapped->circuit), bits,
                                                is_signed);
      netlist::set_cost_meta(mapped->mult, mapped->cost->relative);
    }
  }
  return mapping;
}

nlohmann::ordered_json write_mapping(const Mapping& mapping, const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  AXNN_CHECK(!ec, "tram map: cannot create the folder {}: {}", dir.string(), ec.message());
  const netlist::Netlist netlist = netlist::generate_multiplier(mapping.axnn.circuit);
  const std::string& name = mapping.axnn.mult.name();
  const std::filesystem::path axm = dir / (name + ".axm"), blif = dir / (name + ".blif"),
                              verilog = dir / (name + ".v");
  write_multiplier(mapping.axnn.mult, axm);
  netlist::write_blif(netlist, blif);
  netlist::write_verilog(netlist, verilog);

  const double tram_mse = mapping.tram.target_mse;
  nlohmann::ordered_json j = {
      {"format", "axnn-tram-mapping"},
      {"version", 1},
      {"bits", mapping.bits},
      {"signed", mapping.is_signed},
      {"gamma", mapping.gamma},
      {"architecture", netlist::architecture_name(mapping.architecture)},
      {"start_target_mse", mapping.start_mse},
      {"tram", greedy_json(mapping.tram)},
      {"axnn", greedy_json(mapping.axnn)},
      // How much forcing to 1 as well lowers the error against the target.
      {"target_mse_reduction_pct",
       tram_mse > 0 ? (tram_mse - mapping.axnn.target_mse) / tram_mse * 100 : 0.0},
      {"files", {{"axm", axm.string()}, {"blif", blif.string()}, {"verilog", verilog.string()}}}};
  return j;
}

namespace {

std::string yaml_quote(const std::string& text) {
  std::string out = "\"";
  for (const char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

}  // namespace

StructureMapping map_into(const Structure& structure, const std::filesystem::path& dir,
                          const MapOptions& options) {
  StructureMapping result;
  std::map<std::vector<double>, nlohmann::ordered_json> written;  // summary by gamma
  const auto map_once = [&](const std::vector<double>& gamma) -> const nlohmann::ordered_json& {
    auto it = written.find(gamma);
    if (it == written.end()) {
      result.mappings.push_back(map_structure(gamma, structure.bits, structure.is_signed, options));
      it = written.emplace(gamma, write_mapping(result.mappings.back(), dir)).first;
    }
    return it->second;
  };
  if (!structure.per_layer) {
    result.summary = map_once(structure.gamma);
  } else {
    nlohmann::ordered_json layers = nlohmann::ordered_json::object();
    std::string yaml = "# axnn tram map: a mapped multiplier per layer\nlayers:\n";
    for (const auto& [layer, gamma] : structure.layers) {
      const nlohmann::ordered_json& summary = map_once(gamma);
      const std::string axm =
          std::filesystem::absolute(summary["files"]["axm"].get<std::string>()).string();
      layers[layer] = summary["axnn"]["circuit"];
      yaml += fmt::format("  - {{match: {}, mult: {}}}\n", yaml_quote(layer), yaml_quote(axm));
    }
    nlohmann::ordered_json list = nlohmann::ordered_json::array();
    for (const auto& [gamma, summary] : written) list.push_back(summary);
    result.summary = {{"format", "axnn-tram-mapping"},
                      {"version", 1},
                      {"per_layer", true},
                      {"layers", layers},
                      {"mappings", list}};
    write_text_file(dir / "layers.yaml", yaml);
  }
  // Written last: it marks the phase done (tram/run.h).
  write_text_file(dir / "mapping.json", result.summary.dump(2) + "\n");
  return result;
}

}  // namespace axnn::tram
