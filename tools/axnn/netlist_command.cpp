// `axnn netlist`: simulate circuits, count their gates. `axnn mult import` lives here too, as
// the bridge from a circuit to a multiplier file.
#include <fmt/format.h>

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "commands.h"
#include "core/error.h"
#include "mult/formats.h"
#include "mult/metrics.h"
#include "netlist/blif.h"
#include "netlist/cost.h"
#include "netlist/generate.h"
#include "netlist/import.h"
#include "netlist/multiplier_cost.h"
#include "netlist/netlist.h"
#include "netlist/verilog_writer.h"
#include "netlist/yosys.h"

namespace axnn::cli {
namespace {

// The options every command reading a multiplier circuit takes.
struct CircuitOptions {
  std::string file, top, a, b, out, name;
  bool is_signed = false, is_unsigned = false;

  void add_to(CLI::App& app, bool with_name = true) {
    app.add_option("file", file, "Circuit: Verilog (.v/.sv, through yosys) or BLIF (.blif)")
        ->required();
    app.add_option("--top", top, "Module (Verilog) or model (BLIF) to read (default: the top)");
    auto* s = app.add_flag("--signed", is_signed, "Two's complement operands and product");
    auto* u = app.add_flag("--unsigned", is_unsigned, "Unsigned operands and product");
    s->excludes(u);
    app.add_option("--a", a,
                   "Bus of the first operand, the activation (default: A, IN1 or the "
                   "first half of the inputs)");
    app.add_option("--b", b,
                   "Bus of the second operand, the weight (default: B, IN2 or the "
                   "second half of the inputs)");
    app.add_option("--out", out, "Bus of the product (default: O, Out or all outputs)");
    if (with_name) app.add_option("--name", name, "Multiplier name (default: the module name)");
  }
  netlist::ImportOptions import_options() const {
    netlist::ImportOptions o;
    if (is_signed || is_unsigned) o.is_signed = is_signed;
    o.name = name;
    o.top = top;
    o.ports = {a, b, out};
    return o;
  }
};

// The circuit's cost relative to the exact one stored in the multiplier, unless told not to;
// a missing abc only costs the figure, with a notice.
void attach_cost(Multiplier& m, const netlist::Netlist& circuit, bool skip) {
  if (skip) return;
  if (const auto why = netlist::attach_circuit_cost(m, circuit))
    fmt::print(stderr, "axnn: note: relative power unknown, the circuit was not costed: {}\n", *why);
}

void run_import(const CircuitOptions& c, const std::string& output, bool no_cost) {
  netlist::ImportedCircuit imported = netlist::import_multiplier(c.file, c.import_options());
  Multiplier& m = imported.multiplier;
  attach_cost(m, imported.netlist, no_cost);
  write_multiplier(m, output);
  fmt::print("wrote {} ({}-bit {}, {} gates; {}; relative power {}) to {}\n", m.name(), m.bits(),
             signedness_name(m.is_signed()), imported.netlist.nodes.size(),
             format_summary(compute_metrics(m)),
             m.meta().relative_power ? fmt::format("{:.3f}", *m.meta().relative_power) : "unknown",
             output);
}

// A circuit file, or the name of a generated circuit (generate.h) when no such file exists.
netlist::Netlist load_circuit(const std::string& file_or_name, const std::string& top) {
  if (!std::filesystem::exists(file_or_name) && file_or_name.find('.') == std::string::npos)
    return netlist::generate_multiplier(netlist::parse_circuit_name(file_or_name));
  return netlist::read_circuit(file_or_name, top);
}

struct GenerateOptions {
  std::string spec, output, table;
  bool adders = false, no_cost = false;
};

void run_generate(const GenerateOptions& o) {
  const netlist::MultiplierCircuit spec = netlist::parse_circuit_name(o.spec);
  const netlist::GeneratedCircuit circuit = netlist::generate_circuit(spec);
  if (o.adders) {
    fmt::print("{}: {} adders (id name kind column stage: sum, carry)\n", circuit.netlist.name,
               circuit.adders.size());
    const auto signal = [](const netlist::AdderSignal& s) {
      return s.constant >= 0 ? fmt::format("const {}", s.constant) : s.net.empty() ? "-" : s.net;
    };
    for (const netlist::AdderInfo& a : circuit.adders)
      fmt::print("  {:>3} {:<10} {} {:>2} {:>2}: {}, {}\n", a.id, a.name, a.full ? "full" : "half",
                 a.column, a.stage, signal(a.sum), signal(a.carry));
  }
  if (!o.output.empty()) {
    const std::string ext = std::filesystem::path(o.output).extension().string();
    AXNN_CHECK(ext == ".blif" || ext == ".v", "{}: write .blif or .v (structural Verilog)",
               o.output);
    if (ext == ".blif")
      netlist::write_blif(circuit.netlist, o.output);
    else
      netlist::write_verilog(circuit.netlist, o.output);
    fmt::print("wrote {} ({} gates) to {}\n", circuit.netlist.name, circuit.netlist.nodes.size(),
               o.output);
  }
  if (!o.table.empty()) {
    MultiplierMeta meta;
    meta.source = "axnn netlist generate " + circuit.netlist.name;
    Multiplier m = netlist::simulate_multiplier(circuit.netlist, {}, spec.is_signed,
                                                circuit.netlist.name, meta);
    attach_cost(m, circuit.netlist, o.no_cost);
    write_multiplier(m, o.table);
    fmt::print("wrote its table ({}) to {}\n", format_summary(compute_metrics(m)), o.table);
  }
}

struct CostCommandOptions {
  CircuitOptions circuit;
  std::string dist;
  bool json = false;
};

void run_cost(const CostCommandOptions& o) {
  const netlist::Netlist n = load_circuit(o.circuit.file, o.circuit.top);
  netlist::ImportOptions import = o.circuit.import_options();
  const netlist::ResolvedPorts ports = netlist::resolve_ports(n, import.ports);
  const bool is_signed = netlist::resolve_signedness(import.is_signed, n, o.circuit.file);
  netlist::CostOptions options;
  options.power.ports = import.ports;
  if (!o.dist.empty()) options.power.operands = netlist::read_operand_distribution(o.dist);
  const int bits = static_cast<int>(ports.a.size());
  const netlist::MultiplierCost cost = netlist::multiplier_cost(n, bits, is_signed, options);
  if (o.json) {
    nlohmann::ordered_json j = {{"name", n.name}, {"bits", bits}, {"signed", is_signed}};
    j.update(netlist::cost_to_json(cost.cost, cost.relative));
    j["reference"] = netlist::circuit_name(netlist::exact_reference(bits, is_signed));
    fmt::print("{}\n", j.dump(2));
    return;
  }
  const netlist::CircuitCost& c = cost.cost;
  const netlist::RelativeCost& r = cost.relative;
  fmt::print("{} ({}-bit {}), mapped to {}\n  operands: {}\n", n.name, bits,
             signedness_name(is_signed), c.library, c.operands);
  fmt::print("  area   {:>10.2f}   relative {:.3f}\n", c.area, r.area);
  fmt::print("  delay  {:>10.2f}   relative {:.3f}   ({} levels, {} gates)\n", c.delay, r.delay,
             c.levels, c.gates);
  fmt::print("  power  {:>10.2f}   relative {:.3f}   (toggle rate {:.3f})\n", c.power, r.power,
             c.toggle_rate);
  fmt::print("relative to {}, the exact multiplier through the same flow\n",
             netlist::circuit_name(netlist::exact_reference(bits, is_signed)));
}

void run_sim(const CircuitOptions& c, const std::string& output, bool json) {
  const netlist::Netlist n = netlist::read_circuit(c.file, c.top);
  netlist::ImportOptions options = c.import_options();
  const bool is_signed = netlist::resolve_signedness(options.is_signed, n, c.file);
  const auto start = std::chrono::steady_clock::now();
  const Multiplier m = netlist::simulate_multiplier(n, options.ports, is_signed,
                                                    options.name.empty() ? n.name : options.name);
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  if (!output.empty()) write_multiplier(m, output);
  const ErrorMetrics e = compute_metrics(m);
  if (json) {
    nlohmann::ordered_json j = to_json(m, e);
    j["patterns"] = int64_t{1} << (2 * m.bits());
    j["simulation_ms"] = ms;
    fmt::print("{}\n", j.dump(2));
    return;
  }
  fmt::print("{}", format_report(m, e));
  fmt::print("simulated {} patterns through {} gates in {:.2f} ms{}\n", 1 << (2 * m.bits()),
             n.nodes.size(), ms, output.empty() ? "" : ", table written to " + output);
}

void run_stats(const std::string& file, const std::string& top, bool json) {
  const netlist::Netlist n = netlist::read_circuit(file, top);
  const netlist::NetlistStats s = netlist::netlist_stats(n);
  if (json) {
    nlohmann::ordered_json kinds = nlohmann::ordered_json::object();
    for (const auto& [kind, count] : s.kinds) kinds[kind] = count;
    const nlohmann::ordered_json j = {{"name", n.name},       {"inputs", s.inputs},
                                      {"outputs", s.outputs}, {"gates", s.nodes},
                                      {"depth", s.depth},     {"kinds", kinds}};
    fmt::print("{}\n", j.dump(2));
    return;
  }
  fmt::print("{}: {} inputs, {} outputs, {} gates, depth {}\n", n.name, s.inputs, s.outputs,
             s.nodes, s.depth);
  for (const auto& [kind, count] : s.kinds) fmt::print("  {:<10} {}\n", kind, count);
}

}  // namespace

void add_netlist_commands(CLI::App& app) {
  CLI::App& mult = *app.get_subcommand("mult");
  struct ImportOptions {
    CircuitOptions circuit;
    std::string output;
    bool no_cost = false;
  };
  auto import_opts = std::make_shared<ImportOptions>();
  CLI::App* import = mult.add_subcommand(
      "import",
      "A multiplier from a circuit (Verilog through yosys, or BLIF): its exhaustive "
      "table by simulation and its relative power from `axnn netlist cost`, written as "
      "a multiplier file");
  import_opts->circuit.add_to(*import);
  import
      ->add_option("-o,--output", import_opts->output, "Multiplier file to write (.axm, .csv, ...)")
      ->required();
  import->add_flag("--no-cost", import_opts->no_cost,
                   "Do not map the circuit with abc (relative power stays unknown)");
  import->footer("\nExample:\n  axnn mult import mul8s_1L2N.v -o mul8s_1L2N.axm");
  import->callback([import_opts] {
    run_import(import_opts->circuit, import_opts->output, import_opts->no_cost);
});

CLI::App* netlist = app.add_subcommand(
    "netlist", "Multiplier circuits: generate, simulate, count gates, estimate their cost");
netlist->require_subcommand(1);

auto gen = std::make_shared<GenerateOptions>();
CLI::App* generate = netlist->add_subcommand(
    "generate", "A multiplier circuit of half and full adders, as BLIF or structural Verilog");
generate
    ->add_option("circuit", gen->spec,
                 "<array|wallace|dadda><b><s|u>[_k<k>|_h<hbl>_v<vbl>|_cols<flags>][_f<id><s|c|sc>"
                 "[1]...]: architecture, width 2..8, signedness (signed: Baugh-Wooley), then the "
                 "cells kept as the built-ins trunc/bam/cols keep them, then adder outputs forced "
                 "to 0, or to 1 with the trailing 1 (TRAM phase 2; ids from --adders)")
    ->required();
generate->add_option("-o,--output", gen->output, "Circuit file: .blif or .v");
generate->add_option("--table", gen->table,
                     "Also write its simulated table with its relative power (.axm, .csv, ...)");
generate->add_flag("--adders", gen->adders, "List the adders: id, name, column, stage, nets");
generate->add_flag("--no-cost", gen->no_cost, "With --table: do not map it with abc");
generate->footer(
    "\nExamples:\n"
    "  axnn netlist generate dadda8s_k4 -o dadda8s_k4.v\n"
    "  axnn netlist generate array8u --adders\n"
    "  axnn netlist generate wallace8s_h1_v6_f40s --table w.axm -o w.blif");
generate->callback([gen] {
  AXNN_CHECK(gen->adders || !gen->output.empty() || !gen->table.empty(),
             "netlist generate {}: nothing to do; give -o, --table or --adders", gen->spec);
  run_generate(*gen);
});

auto cost = std::make_shared<CostCommandOptions>();
CLI::App* cost_cmd = netlist->add_subcommand(
    "cost",
    "Area, delay and switching power of a multiplier circuit, mapped with berkeley-abc to axnn's\n"
    "gate library (share/axnn/axnn.genlib, $AXNN_GENLIB overrides), each also relative to the\n"
    "exact Dadda multiplier of the same width and signedness through the same flow. Power: the\n"
    "capacitance switched per multiplication over 65536 operand pairs, uniform or --dist.");
cost->circuit.add_to(*cost_cmd, /*with_name=*/false);
cost_cmd->get_option("file")->description(
    "Circuit: Verilog (.v/.sv), BLIF (.blif), or a generated circuit's name (dadda8s_k4)");
cost_cmd->add_option("--dist", cost->dist,
                     "Operand histograms, JSON {\"a\": [2^b weights], \"b\": [2^b weights]} "
                     "(e.g. a network's activation and weight codes)");
cost_cmd->add_flag("--json", cost->json, "One JSON object");
cost_cmd->callback([cost] { run_cost(*cost); });

auto sim_opts = std::make_shared<CircuitOptions>();
struct SimExtra {
  std::string output;
  bool json = false;
};
auto sim_extra = std::make_shared<SimExtra>();
CLI::App* sim = netlist->add_subcommand(
    "sim", "Simulate a multiplier circuit on every operand pair: error metrics and timing");
sim_opts->add_to(*sim);
sim->add_option("-o,--output", sim_extra->output, "Also write the table (.axm, .csv, ...)");
sim->add_flag("--json", sim_extra->json, "One JSON object: the metrics and the timing");
sim->callback([sim_opts, sim_extra] { run_sim(*sim_opts, sim_extra->output, sim_extra->json); });

struct StatsOptions {
  std::string file, top;
  bool json = false;
};
auto stats_opts = std::make_shared<StatsOptions>();
CLI::App* stats = netlist->add_subcommand(
    "stats", "Gate count, logic depth and the count of each kind of gate of a circuit");
stats->add_option("file", stats_opts->file, "Circuit: Verilog (.v/.sv) or BLIF (.blif)")
    ->required();
stats->add_option("--top", stats_opts->top, "Module or model to read (default: the top)");
stats->add_flag("--json", stats_opts->json, "One JSON object");
stats->callback([stats_opts] { run_stats(stats_opts->file, stats_opts->top, stats_opts->json); });
}  // namespace axnn::cli

}  // namespace axnn::cli
