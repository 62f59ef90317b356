// BLIF (Berkeley Logic Interchange Format) as synthesis tools write it.
//
// Read: .model .inputs .outputs .names (single-output covers, ON-set or OFF-set, '-' don't cares,
// any fan-in) .end; .gate of a mapped netlist (with a GateLibrary); .subckt of models in the same
// file, flattened (a net x of instance i of model m is named "i/x" with i the instance's number
// and model, e.g. "subckt3_FA/x"); line continuations '\' and '#' comments; several models per
// file, the first the top unless another is named; models no one instantiates are ignored.
// `$false`, `$true` and `$undef` are constants 0, 1 and 0 unless a model defines them. A net
// nothing drives reads as 0 with a warning. Yosys's .attr/.param/.cname annotations are skipped.
// Errors (syntax, unknown directives, .latch, loops, outputs nothing drives, unknown models or
// gates) throw axnn::Error with the file and line.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "netlist/gate_library.h"
#include "netlist/netlist.h"

namespace axnn::netlist {

struct BlifOptions {
  std::string top;                       // the model to read; empty: the first in the file
  const GateLibrary* library = nullptr;  // needed for .gate lines
};

Netlist read_blif(const std::filesystem::path& path, const BlifOptions& options = {});
// `source` names the text in error messages (a file name).
Netlist parse_blif(std::string_view text, std::string_view source, const BlifOptions& options = {});

// One model; mapped nodes (Node::gate set) are written as covers all the same.
void write_blif(const Netlist& netlist, const std::filesystem::path& path);
std::string format_blif(const Netlist& netlist);

}  // namespace axnn::netlist
