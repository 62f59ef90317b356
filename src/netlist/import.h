// A multiplier from a circuit file (Verilog through yosys, or BLIF): its exhaustive table by
// simulation, with where it came from in its metadata.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "mult/multiplier.h"
#include "netlist/netlist.h"
#include "netlist/simulate.h"

namespace axnn::netlist {

struct ImportOptions {
  // Operand signedness; unset: from the module name (signedness_from_name), else an error asking
  // for it.
  std::optional<bool> is_signed;
  std::string name;       // default: the module / model name
  std::string top;        // the module or model to import (default: the top one)
  MultiplierPorts ports;  // default: found by name (see resolve_ports)
};

// The signedness a module name says, if any: EvoApprox's mul<b>s_* (signed) and mul<b>u_*
// (unsigned), or the name of a generated circuit (generate.h: dadda8s, array4u_k2, ...).
std::optional<bool> signedness_from_name(const std::string& name);

// `given` if set, else what the netlist's name says; throws axnn::Error naming `source` and asking
// for --signed or --unsigned when neither tells.
bool resolve_signedness(const std::optional<bool>& given, const Netlist& netlist,
                        const std::string& source);

struct ImportedCircuit {
  Netlist netlist;
  Multiplier multiplier;
};
ImportedCircuit import_multiplier(const std::filesystem::path& path, const ImportOptions& options);

}  // namespace axnn::netlist
