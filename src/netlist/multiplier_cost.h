// What a multiplier circuit costs relative to the exact multiplier of the same width and
// signedness, and the relative power of built-in multipliers that have a circuit.
//
// The exact reference is the generated Dadda multiplier (dadda<b><s|u>) through the same abc flow
// and power model (cost.h). Built-in names with a circuit (exact, trunc, bam, cols: the cell
// selections of generate.h) are costed as their Dadda circuits; their figures are cached on disk
// in $XDG_CACHE_HOME/axnn/cost (else ~/.cache/axnn/cost), keyed by circuit, library content and
// flow, so each is mapped once per machine.
#pragma once

#include <optional>
#include <string>

#include "mult/multiplier.h"
#include "netlist/cost.h"
#include "netlist/generate.h"
#include "netlist/netlist.h"

namespace axnn::netlist {

// The circuit relative figures divide by.
MultiplierCircuit exact_reference(int bits, bool is_signed);

struct MultiplierCost {
  CircuitCost cost, exact;
  RelativeCost relative;
};

// The circuit's cost and the exact reference's under the same options (the reference is mapped
// once per process and options).
MultiplierCost multiplier_cost(const Netlist& netlist, int bits, bool is_signed,
                               const CostOptions& options = {});

// Stores the relative power in the multiplier's metadata and notes relative area and delay in
// its description.
void set_cost_meta(Multiplier& mult, const RelativeCost& relative);
// Costs an imported circuit of the multiplier and stores the result (set_cost_meta); when that
// fails (abc missing or failing), leaves the multiplier as it is and returns why, for a note.
std::optional<std::string> attach_circuit_cost(Multiplier& mult, const Netlist& circuit);

// The Dadda circuit of a built-in registry name (exact8s, trunc8u_k4, bam8s_h1_v6,
// cols4u_0010111), nullopt for names without one (drum, mitchell, files).
std::optional<MultiplierCircuit> builtin_circuit(const std::string& name);

// For a built-in with a circuit and no relative power yet: its estimated relative power under
// uniform operands, from the disk cache or by mapping. When abc is missing or fails it leaves
// the multiplier as it is and says why once on the log. Never throws.
void attach_builtin_circuit_cost(Multiplier& mult);

}  // namespace axnn::netlist
