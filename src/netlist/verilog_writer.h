// Structural Verilog for a netlist, readable by yosys (read_verilog) and other tools.
//
//   module NAME (A, B, O);
//     input [7:0] A;  ...  output [15:0] O;
//     wire n12;  ...
//     assign n12 = (A[0] & B[1]) | (~A[1] & B[0]);
//   endmodule
//
// Ports named x[0], x[1], ... x[n-1] of one direction become the vector x; every other net is a
// scalar wire, escaped (\name followed by a space) when its name is not a plain Verilog identifier
// or is a keyword. Each node is one assign of its cover as a sum of products (an OFF-set cover
// negated as a whole); constants are 1'b0 and 1'b1. A net nothing drives that a node or an output
// reads gets 1'b0, as the simulator and the BLIF reader read it.
#pragma once

#include <filesystem>
#include <string>

#include "netlist/netlist.h"

namespace axnn::netlist {

// Throws axnn::Error naming the net when a name cannot be written (it holds white space, or a
// net is both an input and an output).
std::string format_verilog(const Netlist& netlist);
// Throws axnn::Error naming the path when it cannot be written.
void write_verilog(const Netlist& netlist, const std::filesystem::path& path);

}  // namespace axnn::netlist
