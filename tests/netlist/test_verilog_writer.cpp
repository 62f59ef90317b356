#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "common/error_of.h"
#include "core/subprocess.h"
#include "netlist/blif.h"
#include "netlist/generate.h"
#include "netlist/simulate.h"
#include "netlist/verilog_writer.h"

namespace axnn::netlist {
namespace {

using test_util::error_of;
using ::testing::HasSubstr;
using ::testing::Not;

// A small netlist with every case the writer handles: vector ports, a scalar port, names that
// need escaping (punctuation, a keyword, a bracket that is no port bit), OFF-set covers, don't
// cares, constants and an undriven net.
Netlist odd_netlist() {
  Netlist n;
  n.name = "odd";
  for (const char* in : {"x[0]", "x[1]", "en"}) n.inputs.push_back(n.net(in));
  for (const char* out : {"y[0]", "y[1]", "y[2]", "y[3]", "flag"}) n.outputs.push_back(n.net(out));
  const NetId x0 = n.net("x[0]"), x1 = n.net("x[1]"), en = n.net("en");
  n.add_node({x0, x1}, {"10", "01"}, true, n.net("a.b"));              // XOR
  n.add_node({n.net("a.b"), en}, {"1-", "-0"}, false, n.net("wire"));  // ~(a.b | ~en)
  n.add_node({n.net("wire")}, {"0"}, true, n.net("t[9]"));             // NOT
  n.add_node({n.net("t[9]"), x0}, {"11"}, true, n.net("y[0]"));
  n.add_node({}, {""}, true, n.net("y[1]"));                            // 1
  n.add_node({}, {}, true, n.net("y[2]"));                              // 0
  n.add_node({}, {}, false, n.net("y[3]"));                             // 1 (empty OFF-set)
  n.add_node({n.net("ghost"), en}, {"1-", "-1"}, true, n.net("flag"));  // ghost is undriven
  return n;
}

TEST(VerilogWriter, WritesVectorsEscapedNamesAndSumsOfProducts) {
  const std::string v = format_verilog(odd_netlist());
  EXPECT_THAT(v, HasSubstr("module odd(x, en, y, flag);\n"));
  EXPECT_THAT(v, HasSubstr("  input [1:0] x;\n  input en;\n"));
  EXPECT_THAT(v, HasSubstr("  output [3:0] y;\n  output flag;\n"));
  EXPECT_THAT(v, HasSubstr("  wire \\a.b ;\n"));
  EXPECT_THAT(v, HasSubstr("  wire \\wire ;\n"));
  EXPECT_THAT(v, HasSubstr("  wire \\t[9] ;\n"));
  EXPECT_THAT(v, HasSubstr("  assign \\a.b  = (x[0] & ~x[1]) | (~x[0] & x[1]);\n"));
  EXPECT_THAT(v, HasSubstr("  assign \\wire  = ~(\\a.b  | ~en);\n"));
  EXPECT_THAT(v, HasSubstr("  assign \\t[9]  = ~\\wire ;\n"));
  EXPECT_THAT(v, HasSubstr("  assign y[0] = (\\t[9]  & x[0]);\n"));
  EXPECT_THAT(v, HasSubstr("  assign y[1] = 1'b1;\n"));
  EXPECT_THAT(v, HasSubstr("  assign y[2] = 1'b0;\n"));
  EXPECT_THAT(v, HasSubstr("  assign y[3] = 1'b1;\n"));
  EXPECT_THAT(v, HasSubstr("  assign ghost = 1'b0;  // undriven: reads as 0\n"));
  EXPECT_THAT(v, HasSubstr("endmodule\n"));
  EXPECT_THAT(v, Not(HasSubstr("wire x")));  // ports are not wires
}

TEST(VerilogWriter, PortsThatAreNoDenseBusStayScalars) {
  Netlist n;
  n.name = "module";                          // a keyword
  n.inputs = {n.net("p[1]"), n.net("p[2]")};  // no bit 0
  n.outputs = {n.net("q")};
  n.add_node({n.net("p[1]"), n.net("p[2]")}, {"11"}, true, n.net("q"));
  const std::string v = format_verilog(n);
  EXPECT_THAT(v, HasSubstr("module \\module (\\p[1] , \\p[2] , q);\n"));
  EXPECT_THAT(v, HasSubstr("  input \\p[1] ;\n"));
  EXPECT_THAT(v, HasSubstr("  assign q = (\\p[1]  & \\p[2] );\n"));
}

TEST(VerilogWriter, ErrorsNameTheNet) {
  Netlist n;
  n.name = "bad";
  n.inputs = {n.net("a")};
  n.outputs = {n.net("a")};
  EXPECT_THAT(error_of([&] { format_verilog(n); }),
              HasSubstr("net 'a' of netlist bad is both an input and an output"));
  Netlist m;
  m.name = "bad";
  m.inputs = {m.net("a b")};
  EXPECT_THAT(error_of([&] { format_verilog(m); }),
              HasSubstr("port 'a b' holds a character (0x20) no Verilog identifier can"));
  EXPECT_THAT(error_of([&] { write_verilog(odd_netlist(), "/nonexistent-dir/x.v"); }),
              HasSubstr("cannot write Verilog file /nonexistent-dir/x.v"));
}

// yosys reads the text back: synthesized to BLIF and read with read_blif, the circuit has the same
// table (generated multipliers) or the same outputs on every input (the odd netlist).
class VerilogThroughYosys : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!find_program("yosys")) GTEST_SKIP() << "yosys is not on PATH (Debian package yosys)";
  }
  Netlist round_trip(const Netlist& n) {
    const auto v = dir_.path() / (n.name + ".v"), blif = dir_.path() / (n.name + ".blif");
    write_verilog(n, v);
    const ProcessResult r = run_process(
        {"yosys", "-q", "-p",
         fmt::format("read_verilog {}; synth -flatten -top {}; opt_clean -purge; write_blif {}",
                     v.string(), n.name, blif.string())});
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return read_blif(blif);
  }
  TempDir dir_{"axnn-verilog"};
};

TEST_F(VerilogThroughYosys, GeneratedMultipliersKeepTheirTables) {
  for (const char* name : {"dadda4s_k2_f3c", "array3u", "wallace5s_h1_v3_f10sc"}) {
    const MultiplierCircuit c = parse_circuit_name(name);
    const Netlist n = generate_multiplier(c);
    const Netlist back = round_trip(n);
    const Multiplier want = simulate_multiplier(n, {"A", "B", "O"}, c.is_signed, name);
    const Multiplier got = simulate_multiplier(back, {"A", "B", "O"}, c.is_signed, name);
    EXPECT_TRUE(std::equal(want.lut().begin(), want.lut().end(), got.lut().begin())) << name;
  }
}

TEST_F(VerilogThroughYosys, EscapedNamesAndConstantsKeepTheirFunction) {
  const Netlist n = odd_netlist();
  const Netlist back = round_trip(n);
  // All 8 input patterns, outputs compared by name.
  const auto outputs = [](const Netlist& net) {
    std::vector<uint64_t> in(3, 0);
    for (uint64_t t = 0; t < 8; ++t)
      for (size_t i = 0; i < 3; ++i) in[i] |= ((t >> i) & 1) << t;
    // Inputs by name: x[0], x[1], en.
    std::vector<uint64_t> ordered;
    for (const NetId id : net.inputs) {
      const std::string& name = net.net_name(id);
      ordered.push_back(in[name == "x[0]" ? 0 : name == "x[1]" ? 1 : 2]);
    }
    Simulator sim(net);
    sim.run(ordered, 1);
    std::map<std::string, uint64_t> values;
    for (const NetId id : net.outputs) values[net.net_name(id)] = sim.values(id)[0] & 0xFF;
    return values;
  };
  ASSERT_EQ(back.inputs.size(), 3u);
  EXPECT_EQ(outputs(back), outputs(n));
}

}  // namespace
}  // namespace axnn::netlist
