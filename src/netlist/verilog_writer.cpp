#include "netlist/verilog_writer.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <map>
#include <set>
#include <string_view>

#include "core/error.h"

namespace axnn::netlist {
namespace {

// Verilog-2005 reserved words (IEEE 1364-2005, annex B), plus SystemVerilog's common ones, which
// yosys also reserves in some modes.
const std::set<std::string_view>& keywords() {
  static const std::set<std::string_view> words = {"always",
                                                   "and",
                                                   "assign",
                                                   "automatic",
                                                   "begin",
                                                   "buf",
                                                   "bufif0",
                                                   "bufif1",
                                                   "case",
                                                   "casex",
                                                   "casez",
                                                   "cell",
                                                   "cmos",
                                                   "config",
                                                   "deassign",
                                                   "default",
                                                   "defparam",
                                                   "design",
                                                   "disable",
                                                   "edge",
                                                   "else",
                                                   "end",
                                                   "endcase",
                                                   "endconfig",
                                                   "endfunction",
                                                   "endgenerate",
                                                   "endmodule",
                                                   "endprimitive",
                                                   "endspecify",
                                                   "endtable",
                                                   "endtask",
                                                   "event",
                                                   "for",
                                                   "force",
                                                   "forever",
                                                   "fork",
                                                   "function",
                                                   "generate",
                                                   "genvar",
                                                   "highz0",
                                                   "highz1",
                                                   "if",
                                                   "ifnone",
                                                   "incdir",
                                                   "include",
                                                   "initial",
                                                   "inout",
                                                   "input",
                                                   "instance",
                                                   "integer",
                                                   "join",
                                                   "large",
                                                   "liblist",
                                                   "library",
                                                   "localparam",
                                                   "macromodule",
                                                   "medium",
                                                   "module",
                                                   "nand",
                                                   "negedge",
                                                   "nmos",
                                                   "nor",
                                                   "noshowcancelled",
                                                   "not",
                                                   "notif0",
                                                   "notif1",
                                                   "or",
                                                   "output",
                                                   "parameter",
                                                   "pmos",
                                                   "posedge",
                                                   "primitive",
                                                   "pull0",
                                                   "pull1",
                                                   "pulldown",
                                                   "pullup",
                                                   "pulsestyle_onevent",
                                                   "pulsestyle_ondetect",
                                                   "rcmos",
                                                   "real",
                                                   "realtime",
                                                   "reg",
                                                   "release",
                                                   "repeat",
                                                   "rnmos",
                                                   "rpmos",
                                                   "rtran",
                                                   "rtranif0",
                                                   "rtranif1",
                                                   "scalared",
                                                   "showcancelled",
                                                   "signed",
                                                   "small",
                                                   "specify",
                                                   "specparam",
                                                   "strong0",
                                                   "strong1",
                                                   "supply0",
                                                   "supply1",
                                                   "table",
                                                   "task",
                                                   "time",
                                                   "tran",
                                                   "tranif0",
                                                   "tranif1",
                                                   "tri",
                                                   "tri0",
                                                   "tri1",
                                                   "triand",
                                                   "trior",
                                                   "trireg",
                                                   "unsigned",
                                                   "use",
                                                   "uwire",
                                                   "vectored",
                                                   "wait",
                                                   "wand",
                                                   "weak0",
                                                   "weak1",
                                                   "while",
                                                   "wire",
                                                   "wor",
                                                   "xnor",
                                                   "xor",
                                                   "bit",
                                                   "byte",
                                                   "int",
                                                   "logic",
                                                   "longint",
                                                   "shortint",
                                                   "assert",
                                                   "property",
                                                   "type"};
  return words;
}

bool plain_identifier(std::string_view name) {
  if (name.empty()) return false;
  const auto c0 = static_cast<unsigned char>(name[0]);
  if (!std::isalpha(c0) && c0 != '_') return false;
  for (const char ch : name) {
    const auto c = static_cast<unsigned char>(ch);
    if (!std::isalnum(c) && c != '_' && c != '$') return false;
  }
  return !keywords().count(name);
}

// A name as a Verilog identifier: itself, or escaped (a backslash, the name, a space).
std::string identifier(std::string_view name, std::string_view what) {
  if (plain_identifier(name)) return std::string(name);
  AXNN_CHECK(!name.empty(), "Verilog: {} has an empty name", what);
  for (const char ch : name) {
    const auto c = static_cast<unsigned char>(ch);
    AXNN_CHECK(std::isgraph(c),
               "Verilog: {} '{}' holds a character ({:#04x}) no Verilog "
               "identifier can",
               what, name, static_cast<unsigned>(c));
  }
  return fmt::format("\\{} ", name);
}

// "x[12]" -> ("x", 12); anything else -> ("", -1).
std::pair<std::string_view, int> bus_bit(std::string_view name) {
  const size_t open = name.rfind('[');
  if (open == std::string_view::npos || open == 0 || name.back() != ']' ||
      open + 2 >= name.size() || name.size() - open > 8)
    return {"", -1};
  if (name[open + 1] == '0' && open + 3 < name.size()) return {"", -1};  // x[07] is no bit 7
  int index = 0;
  for (size_t i = open + 1; i + 1 < name.size(); ++i) {
    if (!std::isdigit(static_cast<unsigned char>(name[i]))) return {"", -1};
    index = index * 10 + (name[i] - '0');
  }
  return {name.substr(0, open), index};
}

struct Port {
  std::string decl;  // the identifier in the port list
  int width = 0;     // 0: a scalar
};

class Writer {
 public:
  explicit Writer(const Netlist& netlist) : netlist_(netlist), ref_(netlist.net_count()) {}

  std::string run() {
    const std::string module =
        identifier(netlist_.name.empty() ? "top" : netlist_.name, "the module name");
    std::set<NetId> inputs(netlist_.inputs.begin(), netlist_.inputs.end());
    for (const NetId out : netlist_.outputs)
      AXNN_CHECK(!inputs.count(out),
                 "Verilog: net '{}' of netlist {} is both an input and an "
                 "output",
                 netlist_.net_name(out), netlist_.name);
    const std::vector<Port> in_ports = ports(netlist_.inputs);
    const std::vector<Port> out_ports = ports(netlist_.outputs);
    for (NetId n = 0; n < static_cast<NetId>(netlist_.net_count()); ++n)
      if (ref_[static_cast<size_t>(n)].empty())
        ref_[static_cast<size_t>(n)] = identifier(netlist_.net_name(n), "net");

    std::string text =
        fmt::format("// Written by axnn from netlist {}.\nmodule {}(", netlist_.name, module);
    bool first = true;
    for (const auto* list : {&in_ports, &out_ports}) {
      for (const Port& p : *list) {
        text += fmt::format("{}{}", first ? "" : ", ", p.decl);
        first = false;
      }
    }
    text += ");\n";
    for (const auto& [list, dir] : {std::pair{&in_ports, "input"}, std::pair{&out_ports, "output"}})
      for (const Port& p : *list)
        text += p.width ? fmt::format("  {} [{}:0] {};\n", dir, p.width - 1, p.decl)
                        : fmt::format("  {} {};\n", dir, p.decl);

    // Internal wires: every net a node drives or reads, or an output reads, that is no port.
    std::vector<bool> is_port(netlist_.net_count(), false), used(netlist_.net_count(), false);
    for (const NetId n : netlist_.inputs) is_port[static_cast<size_t>(n)] = true;
    for (const NetId n : netlist_.outputs)
      is_port[static_cast<size_t>(n)] = used[static_cast<size_t>(n)] = true;
    const std::vector<int32_t> driver = netlist_.drivers();
    for (const Node& node : netlist_.nodes) {
      used[static_cast<size_t>(node.output)] = true;
      for (const NetId in : node.inputs) used[static_cast<size_t>(in)] = true;
    }
    for (NetId n = 0; n < static_cast<NetId>(netlist_.net_count()); ++n)
      if (used[static_cast<size_t>(n)] && !is_port[static_cast<size_t>(n)])
        text += fmt::format("  wire {};\n", ref_[static_cast<size_t>(n)]);

    for (const Node& node : netlist_.nodes) {
      if (!node.gate.empty()) text += fmt::format("  // gate {}\n", node.gate);
      text += fmt::format("  assign {} = {};\n", ref_[static_cast<size_t>(node.output)],
                          expression(node));
    }
    for (NetId n = 0; n < static_cast<NetId>(netlist_.net_count()); ++n) {
      if (used[static_cast<size_t>(n)] && driver[static_cast<size_t>(n)] < 0 && !inputs.count(n))
        text += fmt::format("  assign {} = 1'b0;  // undriven: reads as 0\n",
                            ref_[static_cast<size_t>(n)]);
    }
    text += "endmodule\n";
    return text;
  }

 private:
  // The ports of `nets`, in order of first appearance; fills ref_ of every port net.
  std::vector<Port> ports(const std::vector<NetId>& nets) {
    std::map<std::string_view, std::map<int, NetId>> buses;
    for (const NetId n : nets) {
      const auto [base, index] = bus_bit(netlist_.net_name(n));
      if (index >= 0) buses[base][index] = n;
    }
    std::set<std::string_view> vectors;
    for (const auto& [base, bits] : buses) {
      // A vector needs indices 0..n-1 and a base that names nothing else.
      const bool dense = bits.rbegin()->first == static_cast<int>(bits.size()) - 1;
      if (dense && plain_identifier(base) && !netlist_.find_net(base) && !bases_.count(base))
        vectors.insert(base);
    }
    std::vector<Port> out;
    for (const NetId n : nets) {
      const std::string& name = netlist_.net_name(n);
      const auto [base, index] = bus_bit(name);
      if (index >= 0 && vectors.count(base)) {
        ref_[static_cast<size_t>(n)] = fmt::format("{}[{}]", base, index);
        if (bases_.insert(base).second)
          out.push_back({std::string(base), static_cast<int>(buses[base].size())});
      } else {
        ref_[static_cast<size_t>(n)] = identifier(name, "port");
        out.push_back({ref_[static_cast<size_t>(n)], 0});
      }
    }
    return out;
  }

  // The node's cover as a sum of products over its inputs.
  std::string expression(const Node& node) const {
    std::vector<std::string> terms;
    bool tautology = false;
    for (const std::string& cube : node.cubes) {
      std::string term;
      int literals = 0;
      for (size_t i = 0; i < cube.size(); ++i) {
        if (cube[i] == '-') continue;
        term += fmt::format("{}{}{}", literals ? " & " : "", cube[i] == '0' ? "~" : "",
                            ref_[static_cast<size_t>(node.inputs[i])]);
        ++literals;
      }
      if (literals == 0) tautology = true;
      terms.push_back(literals > 1 ? "(" + term + ")" : term);
    }
    std::string sop;
    if (tautology) {
      sop = "1'b1";
    } else if (terms.empty()) {
      sop = "1'b0";
    } else {
      for (size_t t = 0; t < terms.size(); ++t) sop += (t ? " | " : "") + terms[t];
    }
    if (node.onset) return sop;
    if (tautology || terms.empty()) return tautology ? "1'b0" : "1'b1";
    return "~(" + sop + ")";
  }

  const Netlist& netlist_;
  std::vector<std::string> ref_;      // how each net is written
  std::set<std::string_view> bases_;  // vector ports declared so far
};

}  // namespace

std::string format_verilog(const Netlist& netlist) { return Writer(netlist).run(); }

void write_verilog(const Netlist& netlist, const std::filesystem::path& path) {
  const std::string text = format_verilog(netlist);
  std::ofstream out(path, std::ios::binary);
  AXNN_CHECK(out.good(), "cannot write Verilog file {}", path.string());
  out << text;
  out.flush();
  AXNN_CHECK(out.good(), "writing Verilog file {} failed", path.string());
}

}  // namespace axnn::netlist
