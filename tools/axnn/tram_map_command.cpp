// `axnn tram map`: TRAM phase 2, a learned structure (structure.json or --gamma) mapped to a
// multiplier circuit by TRAM's greedy (forcing adder outputs to 0) and axnn's (to 0 or 1).
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "commands.h"
#include "core/error.h"
#include "core/files.h"
#include "mult/metrics.h"
#include "netlist/generate.h"
#include "tram/map.h"
#include "tram/structure.h"

namespace axnn::cli {

void add_tram_map_command(CLI::App& tram);

namespace {

struct MapCommandOptions {
  std::string structure, gamma, output, arch = "wallace";
  std::optional<int> bits;
  bool is_signed = false, is_unsigned = false, no_cost = false;
};

std::string relative(const tram::MappedCircuit& m, double netlist::RelativeCost::*figure) {
  return m.cost ? fmt::format("{:.3f}", m.cost->relative.*figure) : "-";
}

void print_mapping(const tram::Mapping& m) {
  fmt::print("gamma [{}], {}-bit {}, {}: start target MSE {}\n", fmt::join(m.gamma, ", "), m.bits,
             signedness_name(m.is_signed), netlist::architecture_name(m.architecture),
             format_number(m.start_mse));
  fmt::print("  {:<18} {:>12} {:>10} {:>10} {:>10} {:>7}  {}\n", "greedy", "target MSE", "MAE%",
             "rel.power", "rel.area", "forced", "circuit");
  for (const auto& [label, g] : {std::pair{"TRAM (to 0)", &m.tram}, {"axnn (to 0 or 1)", &m.axnn}})
    fmt::print("  {:<18} {:>12} {:>10} {:>10} {:>10} {:>7}  {}\n", label,
               format_number(g->target_mse), format_number(compute_metrics(g->mult).mae_pct),
               relative(*g, &netlist::RelativeCost::power),
               relative(*g, &netlist::RelativeCost::area), g->circuit.forced.size(),
               g->mult.name());
  if (m.tram.target_mse > 0)
    fmt::print("  forcing to 1 as well lowers the target MSE by {:.1f}%\n",
               (m.tram.target_mse - m.axnn.target_mse) / m.tram.target_mse * 100);
}

void run_map(const MapCommandOptions& o) {
  AXNN_CHECK(o.structure.empty() != o.gamma.empty(),
             "tram map: give either a structure file or --gamma, {}",
             o.structure.empty() ? "neither was given" : "not both");
  tram::Structure structure;
  if (o.structure.empty()) {
    structure.gamma = tram::parse_gamma_list(o.gamma);
    structure.bits = o.bits.value_or(8);
    structure.is_signed = o.is_signed;
  } else {
    AXNN_CHECK(!o.bits && !o.is_signed && !o.is_unsigned,
               "tram map {}: --bits, --signed and --unsigned go with --gamma (the structure file "
               "records them)",
               o.structure);
    structure = tram::read_structure(o.structure);
  }
  tram::MapOptions options;
  options.architecture = netlist::parse_architecture(o.arch);
  options.estimate_cost = !o.no_cost;
  const std::filesystem::path dir = o.output;

  const tram::StructureMapping result = tram::map_into(structure, dir, options);
  for (const tram::Mapping& m : result.mappings) print_mapping(m);
  if (structure.per_layer)
    fmt::print("wrote {} (axnn eval CKPT --config {})\n", (dir / "layers.yaml").string(),
               (dir / "layers.yaml").string());
  fmt::print("wrote {} mapped multiplier{} (.axm, .blif, .v) and mapping.json to {}\n",
             result.mappings.size(), result.mappings.size() == 1 ? "" : "s", dir.string());
}

}  // namespace

void add_tram_map_command(CLI::App& tram) {
  auto o = std::make_shared<MapCommandOptions>();
  CLI::App* map = tram.add_subcommand(
      "map",
      "TRAM phase 2: map a learned structure to a multiplier circuit. gamma = 1 columns lose "
      "their\npartial products; the adders of fractional columns get outputs forced to constants "
      "while that\nlowers the mean square error against the structure's function: TRAM's greedy "
      "(to 0) and\naxnn's (to 0 or 1), the result. Writes <circuit>.axm/.blif/.v and "
      "mapping.json (per-layer\nstructures: also layers.yaml for --config)");
  map->add_option("structure", o->structure, "structure.json from `axnn tram explore`");
  map->add_option("--gamma", o->gamma,
                  "A structure as a list instead: column 0 first, values in [0, 1], e.g. "
                  "1,1,1,0.6,0,0,0,0");
  map->add_option("--bits", o->bits, "With --gamma: operand width 2..8 (default 8)");
  auto* s = map->add_flag("--signed", o->is_signed, "With --gamma: signed operands");
  auto* u = map->add_flag("--unsigned", o->is_unsigned, "With --gamma: unsigned (the default)");
  s->excludes(u);
  map->add_option("--arch", o->arch, "Start circuit: wallace (default), dadda or array");
  map->add_option("-o,--output", o->output, "Folder to write into")->required();
  map->add_flag("--no-cost", o->no_cost, "Do not map the circuits with abc (power unknown)");
  map->footer(
      "\nExamples:\n"
      "  axnn tram map run/structure.json -o run/map\n"
      "  axnn tram map --gamma 1,1,1,0.6,0,0,0,0 --bits 8 --unsigned -o map");
  map->callback([o] { run_map(*o); });
}

}  // namespace axnn::cli
