// A flat combinational netlist: named nets, each driven by at most one node, every node one
// single-output logic function given as a BLIF cover (a list of cubes over its inputs, describing
// the ON-set or the OFF-set). What the BLIF reader builds, the generators emit and the simulator
// runs; hierarchy is flattened on reading.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace axnn::netlist {

using NetId = int32_t;

// One single-output function. Each cube has one character per input: '1' (the input is 1), '0'
// (it is 0) or '-' (either). The output is 1 where some cube matches (onset) or 0 where some cube
// matches (!onset). No input and one empty cube is the constant 1; no cube at all is the
// constant 0 (onset) or 1 (!onset).
struct Node {
  std::vector<NetId> inputs;
  std::vector<std::string> cubes;
  bool onset = true;
  NetId output = -1;
  std::string gate;  // the library gate of a mapped netlist (BLIF .gate), else empty
  int line = 0;      // where it was defined in its source file, 0 if generated
};

class Netlist {
 public:
  std::string name;            // the model name
  std::vector<NetId> inputs;   // primary inputs, in declaration order
  std::vector<NetId> outputs;  // primary outputs, in declaration order
  std::vector<Node> nodes;

  // The net of that name, created if new.
  NetId net(std::string_view name);
  std::optional<NetId> find_net(std::string_view name) const;
  const std::string& net_name(NetId id) const { return net_names_.at(static_cast<size_t>(id)); }
  size_t net_count() const { return net_names_.size(); }
  // A fresh net named prefix + a number, for generated internal nets.
  NetId new_net(std::string_view prefix = "n");

  // Adds a node driving `output`; returns it. Cube width must equal inputs.size().
  NetId add_node(std::vector<NetId> inputs, std::vector<std::string> cubes, bool onset,
                 NetId output);

  // The node driving each net (-1 for primary inputs and undriven nets).
  std::vector<int32_t> drivers() const;

 private:
  std::vector<std::string> net_names_;
  std::unordered_map<std::string, NetId> net_ids_;
  int64_t fresh_ = 0;
};

// The order the nodes can be evaluated in (every node after the drivers of its inputs). Throws
// axnn::Error naming a net on a combinational loop and the line of its node.
std::vector<int32_t> topological_order(const Netlist& netlist, std::string_view source = "");

// Gate counts: total nodes, logic depth (nodes on the longest input-to-output path) and the
// number of nodes of each kind: a mapped gate by its library name, a cover by its function
// (CONST0, CONST1, BUF, NOT, AND2, NAND2, OR2, NOR2, XOR2, XNOR2, AND3, OR3, MAJ3, MUX2, ...,
// else COVER<k> for a k-input function of no common name).
struct NetlistStats {
  int64_t inputs = 0, outputs = 0, nodes = 0, depth = 0;
  std::vector<std::pair<std::string, int64_t>> kinds;  // most frequent first
};
NetlistStats netlist_stats(const Netlist& netlist);
// The kind of one node, as netlist_stats counts it.
std::string node_kind(const Node& node);

}  // namespace axnn::netlist
