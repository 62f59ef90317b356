// Verilog import through yosys (Debian package `yosys`), run as a subprocess:
//   read_verilog F; synth -flatten -top NAME (or -auto-top); opt_clean -purge; write_blif
// The BLIF it writes is read back with read_blif.
#pragma once

#include <filesystem>
#include <string>

#include "netlist/netlist.h"

namespace axnn::netlist {

// Throws axnn::Error when yosys is missing (naming the package) or fails (with its log).
// top: the module to synthesize; empty lets yosys pick the one no other module instantiates.
Netlist import_verilog(const std::filesystem::path& path, const std::string& top = "");

// A circuit file by its extension: .v/.sv through yosys, .blif read directly. `top` picks the
// module or model (empty: yosys's choice, or the first BLIF model).
Netlist read_circuit(const std::filesystem::path& path, const std::string& top = "");

}  // namespace axnn::netlist
