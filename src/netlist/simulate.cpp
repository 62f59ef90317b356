#include "netlist/simulate.h"

#include <algorithm>
#include <cctype>
#include <map>

#include "core/error.h"

namespace axnn::netlist {
namespace {

constexpr size_t kBlock = 8;  // words per inner loop: 512 patterns, one AVX-512 register

// dst[0..n) = the node's output over words [0, n) of its inputs' values.
void evaluate(const Node& node, const std::vector<const uint64_t*>& in, uint64_t* dst, size_t n) {
  const uint64_t miss = node.onset ? 0 : ~uint64_t{0};  // an OFF-set cover inverts
  for (size_t w0 = 0; w0 < n; w0 += kBlock) {
    const size_t len = std::min(kBlock, n - w0);
    uint64_t any[kBlock] = {};
    for (const std::string& cube : node.cubes) {
      uint64_t match[kBlock];
      std::fill_n(match, kBlock, ~uint64_t{0});
      for (size_t i = 0; i < cube.size(); ++i) {
        if (cube[i] == '-') continue;
        const uint64_t flip = cube[i] == '0' ? ~uint64_t{0} : 0;
        const uint64_t* src = in[i] + w0;
        for (size_t w = 0; w < len; ++w) match[w] &= src[w] ^ flip;
      }
      for (size_t w = 0; w < kBlock; ++w) any[w] |= match[w];
    }
    for (size_t w = 0; w < len; ++w) dst[w0 + w] = any[w] ^ miss;
  }
}

}  // namespace

Simulator::Simulator(const Netlist& netlist)
    : netlist_(netlist), order_(topological_order(netlist, netlist.name)) {}

void Simulator::run(std::span<const uint64_t> inputs, size_t words) {
  AXNN_CHECK(inputs.size() == netlist_.inputs.size() * words,
             "simulate {}: {} input words given for {} inputs x {} words", netlist_.name,
             inputs.size(), netlist_.inputs.size(), words);
  words_ = words;
  values_.assign(netlist_.net_count() * words, 0);
  for (size_t i = 0; i < netlist_.inputs.size(); ++i)
    std::copy_n(inputs.data() + i * words, words,
                values_.data() + static_cast<size_t>(netlist_.inputs[i]) * words);
  std::vector<const uint64_t*> in;
  for (const int32_t index : order_) {
    const Node& node = netlist_.nodes[static_cast<size_t>(index)];
    in.clear();
    for (const NetId net : node.inputs) in.push_back(values(net).data());
    evaluate(node, in, values_.data() + static_cast<size_t>(node.output) * words, words);
  }
}

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// The buses among `nets`: base name (as written) -> bits by index. A net "x[3]" is bit 3 of x,
// any other net a one-bit bus.
std::map<std::string, std::map<int, NetId>> buses_of(const Netlist& netlist,
                                                     const std::vector<NetId>& nets) {
  std::map<std::string, std::map<int, NetId>> buses;
  for (const NetId net : nets) {
    const std::string& name = netlist.net_name(net);
    const size_t open = name.rfind('[');
    if (open != std::string::npos && name.back() == ']' && open + 2 < name.size() &&
        std::all_of(name.begin() + static_cast<std::ptrdiff_t>(open) + 1, name.end() - 1,
                    [](char c) { return std::isdigit(static_cast<unsigned char>(c)); })) {
      buses[name.substr(0, open)][std::stoi(name.substr(open + 1))] = net;
    } else {
      buses[name][0] = net;
    }
  }
  return buses;
}

// The bus's bits LSB first; throws if an index is missing.
std::vector<NetId> bus_bits(const Netlist& netlist, const std::string& base,
                            const std::map<int, NetId>& bits) {
  std::vector<NetId> out;
  for (const auto& [index, net] : bits) {
    AXNN_CHECK(index == static_cast<int>(out.size()), "netlist {}: bus {} has no bit {}",
               netlist.name, base, out.size());
    out.push_back(net);
  }
  return out;
}

std::string bus_list(const std::map<std::string, std::map<int, NetId>>& buses) {
  std::string out;
  for (const auto& [base, bits] : buses)
    out += fmt::format("{}{}[{}]", out.empty() ? "" : ", ", base, bits.size());
  return out;
}

}  // namespace

ResolvedPorts resolve_ports(const Netlist& netlist, const MultiplierPorts& ports) {
  const auto in_buses = buses_of(netlist, netlist.inputs);
  const auto out_buses = buses_of(netlist, netlist.outputs);
  // A bus by exact name, else by name in any case; empty if there is none.
  const auto find = [&](const auto& buses, const std::string& want) -> std::string {
    if (buses.count(want)) return want;
    for (const auto& [base, bits] : buses)
      if (lower(base) == lower(want)) return base;
    return {};
  };
  const auto take = [&](const auto& buses, const std::string& base, std::string_view role) {
    AXNN_CHECK(buses.count(base), "netlist {}: no {} bus '{}' (it has {})", netlist.name, role,
               base, bus_list(buses));
    return bus_bits(netlist, base, buses.at(base));
  };
  ResolvedPorts r;
  if (!ports.a.empty() || !ports.b.empty() || !ports.out.empty()) {
    AXNN_CHECK(!ports.a.empty() && !ports.b.empty() && !ports.out.empty(),
               "netlist {}: name all three ports (operand a, operand b, product) or none",
               netlist.name);
    r = {take(in_buses, ports.a, "input"), take(in_buses, ports.b, "input"),
         take(out_buses, ports.out, "output"),
         fmt::format("ports {}, {}, {} (given)", ports.a, ports.b, ports.out)};
    return r;
  }
  for (const auto& [a, b, o] : {std::array<std::string, 3>{"A", "B", "O"},
                                std::array<std::string, 3>{"IN1", "IN2", "Out"}}) {
    const std::string fa = find(in_buses, a), fb = find(in_buses, b), fo = find(out_buses, o);
    if (fa.empty() || fb.empty() || fo.empty()) continue;
    return {take(in_buses, fa, "input"), take(in_buses, fb, "input"), take(out_buses, fo, "output"),
            fmt::format("ports {}, {}, {}", fa, fb, fo)};
  }
  const size_t n = netlist.inputs.size();
  AXNN_CHECK(n >= 4 && n % 2 == 0 && !netlist.outputs.empty(),
             "netlist {}: cannot tell the operands apart: no A/B/O or IN1/IN2/Out buses and {} "
             "inputs, {} outputs (inputs: {}; outputs: {}); name the ports",
             netlist.name, n, netlist.outputs.size(), bus_list(in_buses), bus_list(out_buses));
  r.a.assign(netlist.inputs.begin(), netlist.inputs.begin() + static_cast<std::ptrdiff_t>(n / 2));
  r.b.assign(netlist.inputs.begin() + static_cast<std::ptrdiff_t>(n / 2), netlist.inputs.end());
  r.out = netlist.outputs;
  r.how = "declaration order (first half of the inputs a, second half b, LSB first)";
  return r;
}

Multiplier simulate_multiplier(const Netlist& netlist, const MultiplierPorts& ports, bool is_signed,
                               std::string name, MultiplierMeta meta) {
  const ResolvedPorts p = resolve_ports(netlist, ports);
  const int bits = static_cast<int>(p.a.size());
  AXNN_CHECK(p.b.size() == p.a.size(),
             "netlist {}: operands of {} and {} bits ({}); axnn's "
             "multipliers have equal widths",
             netlist.name, p.a.size(), p.b.size(), p.how);
  AXNN_CHECK(bits >= Multiplier::kMinBits && bits <= Multiplier::kMaxBits,
             "netlist {}: {}-bit operands ({}); widths {}..{} are supported", netlist.name, bits,
             p.how, Multiplier::kMinBits, Multiplier::kMaxBits);
  const size_t width = p.out.size();
  AXNN_CHECK(width <= 32, "netlist {}: a {}-bit product bus ({}); at most 32 bits are read",
             netlist.name, width, p.how);
  const size_t patterns = size_t{1} << (2 * bits);  // pattern = a_code << bits | b_code
  const size_t words = (patterns + 63) / 64;
  std::vector<uint64_t> inputs(netlist.inputs.size() * words, 0);
  std::map<NetId, size_t> row;  // input net -> its row in `inputs`
  for (size_t i = 0; i < netlist.inputs.size(); ++i) row[netlist.inputs[i]] = i;
  for (int i = 0; i < bits; ++i) {
    uint64_t* a_row = inputs.data() + row.at(p.a[static_cast<size_t>(i)]) * words;
    uint64_t* b_row = inputs.data() + row.at(p.b[static_cast<size_t>(i)]) * words;
    for (size_t t = 0; t < patterns; ++t) {
      a_row[t / 64] |= static_cast<uint64_t>((t >> (bits + i)) & 1) << (t % 64);
      b_row[t / 64] |= static_cast<uint64_t>((t >> i) & 1) << (t % 64);
    }
  }
  Simulator sim(netlist);
  sim.run(inputs, words);
  const int64_t lo = is_signed ? -(int64_t{1} << (2 * bits - 1)) : 0;
  const int64_t hi = is_signed ? (int64_t{1} << (2 * bits - 1)) - 1 : (int64_t{1} << 2 * bits) - 1;
  std::vector<uint64_t> raw(patterns, 0);  // the product bus per pattern, bit by bit
  for (size_t k = 0; k < width; ++k) {
    const std::span<const uint64_t> bit = sim.values(p.out[k]);
    for (size_t t = 0; t < patterns; ++t) raw[t] |= ((bit[t / 64] >> (t % 64)) & 1) << k;
  }
  std::vector<int32_t> lut(patterns);
  for (size_t t = 0; t < patterns; ++t) {
    int64_t value = static_cast<int64_t>(raw[t]);
    if (is_signed && width > 0 && ((raw[t] >> (width - 1)) & 1)) value -= int64_t{1} << width;
    AXNN_CHECK(value >= lo && value <= hi,
               "netlist {}: the product of codes a = {}, b = {} is {}, outside the {}-bit {} "
               "range of a {}x{} multiplier ({})",
               netlist.name, t >> bits, t & ((1u << bits) - 1), value, 2 * bits,
               signedness_name(is_signed), bits, bits, p.how);
    lut[t] = static_cast<int32_t>(value);
  }
  if (meta.source.empty()) meta.source = fmt::format("netlist {} ({})", netlist.name, p.how);
  return Multiplier(std::move(name), bits, is_signed, std::move(lut), std::move(meta));
}

}  // namespace axnn::netlist
