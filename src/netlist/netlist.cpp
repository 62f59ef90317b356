#include "netlist/netlist.h"

#include <algorithm>
#include <array>
#include <map>
#include <numeric>

#include "core/error.h"

namespace axnn::netlist {

NetId Netlist::net(std::string_view name) {
  const auto it = net_ids_.find(std::string(name));
  if (it != net_ids_.end()) return it->second;
  const auto id = static_cast<NetId>(net_names_.size());
  net_names_.emplace_back(name);
  net_ids_.emplace(net_names_.back(), id);
  return id;
}

std::optional<NetId> Netlist::find_net(std::string_view name) const {
  const auto it = net_ids_.find(std::string(name));
  if (it == net_ids_.end()) return std::nullopt;
  return it->second;
}

NetId Netlist::new_net(std::string_view prefix) {
  std::string name;
  do {
    name = std::string(prefix) + std::to_string(fresh_++);
  } while (net_ids_.count(name));
  return net(name);
}

NetId Netlist::add_node(std::vector<NetId> node_inputs, std::vector<std::string> cubes, bool onset,
                        NetId output) {
  for (const std::string& cube : cubes)
    AXNN_CHECK(cube.size() == node_inputs.size(),
               "netlist {}: a cube '{}' of net {} has {} literals for {} inputs", name, cube,
               net_name(output), cube.size(), node_inputs.size());
  nodes.push_back({std::move(node_inputs), std::move(cubes), onset, output, {}, 0});
  return output;
}

std::vector<int32_t> Netlist::drivers() const {
  std::vector<int32_t> driver(net_count(), -1);
  for (size_t i = 0; i < nodes.size(); ++i)
    driver[static_cast<size_t>(nodes[i].output)] = static_cast<int32_t>(i);
  return driver;
}

std::vector<int32_t> topological_order(const Netlist& netlist, std::string_view source) {
  const std::vector<int32_t> driver = netlist.drivers();
  // Iterative depth-first search; state 1 = on the stack, 2 = done.
  std::vector<uint8_t> state(netlist.nodes.size(), 0);
  std::vector<int32_t> order;
  order.reserve(netlist.nodes.size());
  std::vector<std::pair<int32_t, size_t>> stack;  // node, next input to visit
  for (size_t root = 0; root < netlist.nodes.size(); ++root) {
    if (state[root]) continue;
    stack.emplace_back(static_cast<int32_t>(root), 0);
    state[root] = 1;
    while (!stack.empty()) {
      auto& [node, next] = stack.back();
      const Node& n = netlist.nodes[static_cast<size_t>(node)];
      if (next == n.inputs.size()) {
        state[static_cast<size_t>(node)] = 2;
        order.push_back(node);
        stack.pop_back();
        continue;
      }
      const int32_t d = driver[static_cast<size_t>(n.inputs[next++])];
      if (d < 0 || state[static_cast<size_t>(d)] == 2) continue;
      const Node& dn = netlist.nodes[static_cast<size_t>(d)];
      AXNN_CHECK(state[static_cast<size_t>(d)] == 0, "{}{}combinational loop through net '{}'{}",
                 source, source.empty() ? "" : ": ", netlist.net_name(dn.output),
                 dn.line ? " (defined on line " + std::to_string(dn.line) + ")" : "");
      state[static_cast<size_t>(d)] = 1;
      stack.emplace_back(d, 0);
    }
  }
  return order;
}

namespace {

// The truth table of a node of at most 6 inputs: bit m is the output for input minterm m (input
// i is bit i of m).
uint64_t truth_table(const Node& node) {
  const size_t k = node.inputs.size();
  uint64_t table = 0;
  for (uint64_t m = 0; m < (uint64_t{1} << k); ++m) {
    bool hit = false;
    for (const std::string& cube : node.cubes) {
      bool match = true;
      for (size_t i = 0; i < k && match; ++i)
        match = cube[i] == '-' || (cube[i] == '1') == (((m >> i) & 1) != 0);
      if (match) {
        hit = true;
        break;
      }
    }
    if (hit == node.onset) table |= uint64_t{1} << m;
  }
  return table;
}

// Named functions by fan-in, as truth tables of inputs in order. Symmetric functions match any
// input order; MUX2 is tried under every permutation below.
const std::map<std::pair<size_t, uint64_t>, std::string>& named_functions() {
  static const std::map<std::pair<size_t, uint64_t>, std::string> names = {
      {{0, 0x0}, "CONST0"}, {{0, 0x1}, "CONST1"},    {{1, 0x2}, "BUF"},   {{1, 0x1}, "NOT"},
      {{2, 0x8}, "AND2"},   {{2, 0x7}, "NAND2"},     {{2, 0xE}, "OR2"},   {{2, 0x1}, "NOR2"},
      {{2, 0x6}, "XOR2"},   {{2, 0x9}, "XNOR2"},     {{2, 0x2}, "ANDN2"}, {{2, 0x4}, "ANDN2"},
      {{2, 0xB}, "ORN2"},   {{2, 0xD}, "ORN2"},      {{3, 0x80}, "AND3"}, {{3, 0x7F}, "NAND3"},
      {{3, 0xFE}, "OR3"},   {{3, 0x01}, "NOR3"},     {{3, 0x96}, "XOR3"}, {{3, 0x69}, "XNOR3"},
      {{3, 0xE8}, "MAJ3"},  {{3, 0x17}, "MINORITY3"}};
  return names;
}

// The table of the same function with its three inputs permuted by perm (new input i is old
// input perm[i]).
uint64_t permute3(uint64_t table, const std::array<int, 3>& perm) {
  uint64_t out = 0;
  for (int m = 0; m < 8; ++m) {
    int old = 0;
    for (int i = 0; i < 3; ++i) old |= ((m >> i) & 1) << perm[i];
    if ((table >> old) & 1) out |= uint64_t{1} << m;
  }
  return out;
}

}  // namespace

std::string node_kind(const Node& node) {
  if (!node.gate.empty()) return node.gate;
  const size_t k = node.inputs.size();
  if (k > 6) return "COVER" + std::to_string(k);
  const uint64_t table = truth_table(node);
  const auto& names = named_functions();
  if (const auto it = names.find({k, table}); it != names.end()) return it->second;
  if (k == 3) {
    // MUX2 (s ? b : a with inputs a, b, s) = 0xCA, in any input order.
    std::array<int, 3> perm = {0, 1, 2};
    do {
      if (permute3(table, perm) == 0xCA) return "MUX2";
    } while (std::next_permutation(perm.begin(), perm.end()));
  }
  return "COVER" + std::to_string(k);
}

NetlistStats netlist_stats(const Netlist& netlist) {
  NetlistStats stats;
  stats.inputs = static_cast<int64_t>(netlist.inputs.size());
  stats.outputs = static_cast<int64_t>(netlist.outputs.size());
  stats.nodes = static_cast<int64_t>(netlist.nodes.size());
  const std::vector<int32_t> driver = netlist.drivers();
  std::vector<int64_t> level(netlist.nodes.size(), 0);
  std::map<std::string, int64_t> kinds;
  for (const int32_t i : topological_order(netlist, netlist.name)) {
    const Node& node = netlist.nodes[static_cast<size_t>(i)];
    int64_t deepest = 0;
    for (const NetId in : node.inputs)
      if (const int32_t d = driver[static_cast<size_t>(in)]; d >= 0)
        deepest = std::max(deepest, level[static_cast<size_t>(d)]);
    level[static_cast<size_t>(i)] = deepest + 1;
    stats.depth = std::max(stats.depth, deepest + 1);
    ++kinds[node_kind(node)];
  }
  stats.kinds.assign(kinds.begin(), kinds.end());
  std::stable_sort(stats.kinds.begin(), stats.kinds.end(),
                   [](const auto& x, const auto& y) { return x.second > y.second; });
  return stats;
}

}  // namespace axnn::netlist
