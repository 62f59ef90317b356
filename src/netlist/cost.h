// The cost of a multiplier circuit: area, delay and switching power, estimated by mapping the
// netlist to a gate library with berkeley-abc and simulating the mapped circuit.
//
// Flow (map_with_abc): the netlist is written as BLIF and abc runs
//   read_library LIB; read_blif IN; strash; <optimization>; map -a; print_stats; write_blif OUT
// Area, delay and levels come from print_stats; the mapped BLIF is read back with the library.
//
// Power (switching_power): the mapped circuit is simulated over a sequence of operand pairs, one
// after the other in time, and every net's toggles counted. A toggle charges or discharges the
// net's capacitance: the input loads of the gate pins it drives, plus `net_load` for the driver's
// own output and the wire (every net that drives something or is driven by a gate), plus
// `output_load` for each primary output it is. power = sum over nets of toggles x capacitance,
// divided by the number of operations: the capacitance switched per multiplication, in the
// library's load units. The model has zero delay: it counts no glitches, which deep exact arrays
// have more of than small approximate circuits, so it overestimates the relative power of the
// latter (EvoApprox mul8s_1L12: 0.24 estimated, 0.12 published) while ranking them right. Operand
// pairs are uniform random codes, or each operand drawn
// independently from a histogram of its codes (OperandDistribution); a fixed seed makes every
// figure reproducible.
//
// The units are the library's (share/axnn/axnn.genlib: area in gate equivalents, delay in tau,
// loads in minimum transistor gates). Only ratios mean anything: relative_to divides by the
// figures of the exact multiplier of the same width and signedness through the same flow.
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "netlist/gate_library.h"
#include "netlist/netlist.h"
#include "netlist/simulate.h"

namespace axnn::netlist {

// The genlib axnn ships: $AXNN_GENLIB if set, else <directory of the running program>/../share/
// axnn/axnn.genlib if that exists (an installed axnn), else share/axnn/axnn.genlib of the source
// tree it was built from.
std::filesystem::path default_genlib_path();

// Optimization abc runs on the AIG before mapping: dc2 (abc's combined balancing, rewriting and
// refactoring, for fewer AND nodes at no more depth) then dch (structural choices, so the mapper
// can pick among equivalent forms). With `map -a` (area-oriented mapping) this ranks the 11
// EvoApprox circuits of tests/netlist/test_cost.cpp by area exactly as their published 45 nm
// figures and, of the scripts tried (none, resyn2, dch, resyn2 + dch, dc2: all within one swap of
// that ranking), gives relative power closest to the published (mean error 0.03).
inline constexpr std::string_view kDefaultAbcOptimization = "dc2; dch";

struct AbcOptions {
  std::filesystem::path library;  // genlib file; empty: default_genlib_path()
  // ';'-separated abc commands; abc.rc's aliases (resyn2, b, rw, ...) are not defined.
  std::string optimization = std::string(kDefaultAbcOptimization);
};

// The figures of one circuit. Power is 0 until switching_power fills it in.
struct CircuitCost {
  double area = 0;         // sum of gate areas (axnn.genlib: gate equivalents, NAND2 = 1)
  double delay = 0;        // the longest path by the library's block delays (axnn.genlib: tau); 0
                           // when no gate lies on an input-output path
  int64_t levels = 0;      // gates on the longest path
  int64_t gates = 0;       // gates in the mapped circuit
  double power = 0;        // capacitance switched per operation (axnn.genlib: transistor gates)
  double toggle_rate = 0;  // mean toggles per net per operation
  std::string library;     // the genlib file
  std::string flow;        // the abc script, with file names as abc saw them
  std::string operands;    // "uniform" or "distribution", with the number of operations
};

struct MappedCircuit {
  Netlist netlist;  // every node a library gate (Node::gate)
  GateLibrary library;
  CircuitCost cost;  // area, delay, levels, gates, library, flow
  std::string log;   // abc's output
};

// Runs abc on the netlist (berkeley-abc, else yosys-abc, from PATH). Throws axnn::Error naming
// the tool and the Debian package berkeley-abc if neither is there, and with abc's output when
// it fails.
MappedCircuit map_with_abc(const Netlist& netlist, const AbcOptions& options = {});

// Weights of each operand's codes 0..2^b-1 (any non-negative scale, not all zero): how often a
// multiplier sees each activation code (a) and weight code (b), e.g. histograms of a quantized
// network's codes. JSON file format, with exactly these two keys:
//   {"a": [w_0, w_1, ..., w_{2^b-1}], "b": [w_0, ..., w_{2^b-1}]}
// Both arrays have the same length 2^b, b = 2..8.
struct OperandDistribution {
  std::vector<double> a, b;
};
// Throws axnn::Error naming the file and the key at fault: a missing or unknown key, a length
// that is not 2^b or differs between a and b, a negative or non-finite weight, all weights zero.
OperandDistribution read_operand_distribution(const std::filesystem::path& path);
OperandDistribution parse_operand_distribution(std::string_view json_text, std::string_view source);

struct PowerOptions {
  MultiplierPorts ports;  // which buses are the operands (empty: found as resolve_ports does)
  std::optional<OperandDistribution> operands;  // empty: uniform random codes
  int64_t operations = int64_t{1} << 16;        // operand pairs in the sequence
  uint64_t seed = 0x5eed;
  // Per net, for the driver's output diffusion and the wire: about one gate input's worth.
  double net_load = 2;
  // Per primary output, for what the product drives (a register or adder input).
  double output_load = 2;
};

// Counts each net's toggles over a sequence of patterns simulated in one or more runs.
class ToggleCounter {
 public:
  explicit ToggleCounter(size_t nets) : toggles_(nets), last_(nets) {}
  // Adds the first `patterns` patterns of the simulator's last run, pattern t following t-1 in
  // time and pattern 0 following the last pattern added before.
  void add(const Simulator& simulator, size_t patterns);
  const std::vector<int64_t>& toggles() const { return toggles_; }
  int64_t patterns() const { return patterns_; }

 private:
  std::vector<int64_t> toggles_;
  std::vector<uint8_t> last_;  // each net's value under the last pattern added
  int64_t patterns_ = 0;
};

// Fills in power and toggle_rate (and operands) of a mapped circuit. Nodes without a library
// gate (in a netlist not mapped with `library`) load each of their inputs with `net_load`.
// Throws if the operand buses differ in width or the distribution does not match it.
void switching_power(const Netlist& mapped, const GateLibrary& library, const PowerOptions& options,
                     CircuitCost& cost);

struct CostOptions {
  AbcOptions abc;
  PowerOptions power;
};

// map_with_abc, then switching_power on the mapped circuit.
CircuitCost estimate_cost(const Netlist& netlist, const CostOptions& options = {});

// Each figure over the same figure of the exact multiplier (same width, signedness and flow).
struct RelativeCost {
  double area = 0, delay = 0, power = 0;
};
// Throws axnn::Error if a figure of `exact` is not positive.
RelativeCost relative_to(const CircuitCost& cost, const CircuitCost& exact);

// {"area": ..., "delay": ..., "levels": ..., "gates": ..., "power": ..., "toggle_rate": ...,
//  "library": ..., "flow": ..., "operands": ..., "relative": {"area", "delay", "power"}}, the last
// only when given.
nlohmann::ordered_json cost_to_json(const CircuitCost& cost,
                                    const std::optional<RelativeCost>& relative = std::nullopt);

}  // namespace axnn::netlist
