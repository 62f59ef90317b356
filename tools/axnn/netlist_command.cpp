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
#include "netlist/import.h"
#include "netlist/netlist.h"
#include "netlist/yosys.h"

namespace axnn::cli {
namespace {

// The options every command reading a multiplier circuit takes.
struct CircuitOptions {
  std::string file, top, a, b, out, name;
  bool is_signed = false, is_unsigned = false;

  void add_to(CLI::App& app) {
    app.add_option("file", file, "Circuit: Verilog (.v/.sv, through yosys) or BLIF (.blif)")
        ->required();
    app.add_option("--top", top, "Module (Verilog) or model (BLIF) to read (default: the top)");
    auto* s = app.add_flag("--signed", is_signed, "Two's complement operands and product");
    auto* u = app.add_flag("--unsigned", is_unsigned, "Unsigned operands and product");
    s->excludes(u);
    app.add_option("--a", a, "Bus of the first operand, the activation (default: A, IN1 or the "
                   "first half of the inputs)");
    app.add_option("--b", b, "Bus of the second operand, the weight (default: B, IN2 or the "
                   "second half of the inputs)");
    app.add_option("--out", out, "Bus of the product (default: O, Out or all outputs)");
    app.add_option("--name", name, "Multiplier name (default: the module name)");
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

void run_import(const CircuitOptions& c, const std::string& output) {
  const netlist::ImportedCircuit imported = netlist::import_multiplier(c.file, c.import_options());
  const Multiplier& m = imported.multiplier;
  write_multiplier(m, output);
  fmt::print("wrote {} ({}-bit {}, {} gates; {}) to {}\n", m.name(), m.bits(),
             signedness_name(m.is_signed()), imported.netlist.nodes.size(),
             format_summary(compute_metrics(m)), output);
}

void run_sim(const CircuitOptions& c, const std::string& output, bool json) {
  const netlist::Netlist n = netlist::read_circuit(c.file, c.top);
  netlist::ImportOptions options = c.import_options();
  if (!options.is_signed) options.is_signed = netlist::signedness_from_name(n.name);
  AXNN_CHECK(options.is_signed, "{}: is {} signed or unsigned? Its name does not say; give "
             "--signed or --unsigned", c.file, n.name);
  const auto start = std::chrono::steady_clock::now();
  const Multiplier m = netlist::simulate_multiplier(
      n, options.ports, *options.is_signed, options.name.empty() ? n.name : options.name);
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
    const nlohmann::ordered_json j = {{"name", n.name},     {"inputs", s.inputs},
                                      {"outputs", s.outputs}, {"gates", s.nodes},
                                      {"depth", s.depth},   {"kinds", kinds}};
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
  auto import_opts = std::make_shared<CircuitOptions>();
  auto import_out = std::make_shared<std::string>();
  CLI::App* import = mult.add_subcommand(
      "import", "A multiplier from a circuit (Verilog through yosys, or BLIF): its exhaustive "
                "table by simulation, written as a multiplier file");
  import_opts->add_to(*import);
  import->add_option("-o,--output", *import_out, "Multiplier file to write (.axm, .csv, ...)")
      ->required();
  import->footer("\nExample:\n  axnn mult import mul8s_1L2N.v -o mul8s_1L2N.axm");
  import->callback([import_opts, import_out] { run_import(*import_opts, *import_out); });

  CLI::App* netlist = app.add_subcommand("netlist", "Multiplier circuits: simulate, count gates");
  netlist->require_subcommand(1);

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
}

}  // namespace axnn::cli
