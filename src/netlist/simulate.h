// Bit-parallel simulation of a combinational netlist and the exhaustive table of a multiplier
// circuit.
//
// Every net carries `words` 64-bit words: bit t of word w is the net's value under pattern
// 64 w + t. Nodes are evaluated once each, in topological order, a cover as the OR of its cubes'
// ANDs over whole word blocks (loops the compiler vectorizes). The 65536 patterns of an 8x8
// multiplier are 1024 words per net.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "mult/multiplier.h"
#include "netlist/netlist.h"

namespace axnn::netlist {

class Simulator {
 public:
  // Levelizes once; throws axnn::Error on a combinational loop.
  explicit Simulator(const Netlist& netlist);

  // Runs `words` words of patterns. inputs holds one row of `words` words per primary input, in
  // netlist.inputs order. Undriven nets that are not inputs read as 0.
  void run(std::span<const uint64_t> inputs, size_t words);

  // A net's words from the last run.
  std::span<const uint64_t> values(NetId net) const {
    return {values_.data() + static_cast<size_t>(net) * words_, words_};
  }
  size_t words() const { return words_; }
  const Netlist& netlist() const { return netlist_; }

 private:
  const Netlist& netlist_;
  std::vector<int32_t> order_;
  size_t words_ = 0;
  std::vector<uint64_t> values_;  // net-major, words_ per net
};

// Which buses of a netlist are a multiplier's operands and product. A bus is named by its base:
// the nets base[0], base[1], ... (index 0 the least significant bit). A single net named base is a
// one-bit bus.
struct MultiplierPorts {
  std::string a;    // the first operand, the activation (EvoApprox A, TRAM IN1)
  std::string b;    // the second operand, the weight (EvoApprox B, TRAM IN2)
  std::string out;  // the product (EvoApprox O, TRAM Out)
};

// The ports given, with each empty field found by name: A/B/O, then IN1/IN2/Out (any case),
// then the declared order (first half of the inputs A, second half B, LSB first; the outputs the
// product, LSB first). Throws naming the netlist and the buses it has when that fails.
struct ResolvedPorts {
  std::vector<NetId> a, b, out;  // LSB first
  std::string how;               // e.g. "ports A, B, O"
};
ResolvedPorts resolve_ports(const Netlist& netlist, const MultiplierPorts& ports);

// The exhaustive table of a b x b multiplier circuit, b = the operands' width (2..8, equal
// widths). The product bus is read as an unsigned or two's complement number of its width (up to
// 32 bits); every product must lie in the 2b-bit output range, else axnn::Error names the
// operands. meta.source records the netlist and the ports.
Multiplier simulate_multiplier(const Netlist& netlist, const MultiplierPorts& ports, bool is_signed,
                               std::string name, MultiplierMeta meta = {});

}  // namespace axnn::netlist
