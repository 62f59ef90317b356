#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <map>

#include "common/error_of.h"
#include "netlist/cost.h"
#include "netlist/gate_library.h"

namespace axnn::netlist {
namespace {

using test_util::error_of;
using ::testing::HasSubstr;

// The gate's function under one assignment of its pins, from its cover.
bool eval_cubes(const LibraryGate& gate, const std::map<std::string, bool>& values) {
  for (const std::string& cube : gate.cubes) {
    bool match = true;
    for (size_t i = 0; i < cube.size(); ++i)
      if (cube[i] != '-' && (cube[i] == '1') != values.at(gate.pins[i].name)) match = false;
    if (match) return true;
  }
  return false;
}

using Function = std::function<bool(const std::map<std::string, bool>&)>;

// Every assignment of the gate's pins gives `expected`.
void expect_function(const LibraryGate& gate, const Function& expected) {
  const size_t n = gate.pins.size();
  for (uint32_t r = 0; r < (1u << n); ++r) {
    std::map<std::string, bool> values;
    for (size_t i = 0; i < n; ++i) values[gate.pins[i].name] = (r >> i) & 1;
    for (const std::string& cube : gate.cubes) ASSERT_EQ(cube.size(), n) << gate.name;
    EXPECT_EQ(eval_cubes(gate, values), expected(values)) << gate.name << " at row " << r;
  }
}

TEST(GateLibrary, ShippedLibraryHasEveryGateWithItsFunction) {
  const GateLibrary lib =
      read_genlib(std::filesystem::path(AXNN_SOURCE_DIR) / "share/axnn/axnn.genlib");
  using V = const std::map<std::string, bool>&;
  const std::map<std::string, std::pair<std::vector<std::string>, Function>> expected = {
      {"ZERO", {{}, [](V) { return false; }}},
      {"ONE", {{}, [](V) { return true; }}},
      {"INV", {{"a"}, [](V v) { return !v.at("a"); }}},
      {"BUF", {{"a"}, [](V v) { return v.at("a"); }}},
      {"NAND2", {{"a", "b"}, [](V v) { return !(v.at("a") && v.at("b")); }}},
      {"NAND3", {{"a", "b", "c"}, [](V v) { return !(v.at("a") && v.at("b") && v.at("c")); }}},
      {"NAND4",
       {{"a", "b", "c", "d"},
        [](V v) { return !(v.at("a") && v.at("b") && v.at("c") && v.at("d")); }}},
      {"NOR2", {{"a", "b"}, [](V v) { return !(v.at("a") || v.at("b")); }}},
      {"NOR3", {{"a", "b", "c"}, [](V v) { return !(v.at("a") || v.at("b") || v.at("c")); }}},
      {"AND2", {{"a", "b"}, [](V v) { return v.at("a") && v.at("b"); }}},
      {"OR2", {{"a", "b"}, [](V v) { return v.at("a") || v.at("b"); }}},
      {"AOI21", {{"a", "b", "c"}, [](V v) { return !((v.at("a") && v.at("b")) || v.at("c")); }}},
      {"OAI21", {{"a", "b", "c"}, [](V v) { return !((v.at("a") || v.at("b")) && v.at("c")); }}},
      {"AOI22",
       {{"a", "b", "c", "d"},
        [](V v) { return !((v.at("a") && v.at("b")) || (v.at("c") && v.at("d"))); }}},
      {"OAI22",
       {{"a", "b", "c", "d"},
        [](V v) { return !((v.at("a") || v.at("b")) && (v.at("c") || v.at("d"))); }}},
      {"XOR2", {{"a", "b"}, [](V v) { return v.at("a") != v.at("b"); }}},
      {"XNOR2", {{"a", "b"}, [](V v) { return v.at("a") == v.at("b"); }}},
      {"MUX2", {{"a", "b", "s"}, [](V v) { return v.at("s") ? v.at("b") : v.at("a"); }}},
      {"MAJ3", {{"a", "b", "c"}, [](V v) { return v.at("a") + v.at("b") + v.at("c") >= 2; }}},
  };
  EXPECT_EQ(lib.gates.size(), expected.size());
  for (const auto& [name, pins_function] : expected) {
    const LibraryGate* gate = lib.find(name);
    ASSERT_NE(gate, nullptr) << name;
    EXPECT_EQ(gate->output, "O") << name;
    std::vector<std::string> pins;
    for (const GatePin& pin : gate->pins) {
      pins.push_back(pin.name);
      EXPECT_GT(pin.input_load, 0) << name;
      EXPECT_GT(pin.delay, 0) << name;
    }
    EXPECT_EQ(pins, pins_function.first) << name;
    expect_function(*gate, pins_function.second);
    // Only the tie-offs are free; a gate's area grows with its inputs.
    if (pins.empty()) {
      EXPECT_EQ(gate->area, 0) << name;
    } else {
      EXPECT_GE(gate->area, 0.5 * static_cast<double>(pins.size())) << name;
    }
  }
  // The units the library documents: NAND2 = 1 gate equivalent, INV delay 2 tau, load 2.
  EXPECT_EQ(lib.find("NAND2")->area, 1.0);
  EXPECT_EQ(lib.find("INV")->pins[0].delay, 2.0);
  EXPECT_EQ(lib.find("INV")->pins[0].input_load, 2.0);
  EXPECT_EQ(lib.find("MUX2")->pins[2].input_load, 4.0);  // s also drives its inverter
  EXPECT_EQ(lib.find("nand2"), nullptr);                 // names are case-sensitive
}

TEST(GateLibrary, ExpressionsAsAbcReadsThem) {
  const GateLibrary lib = parse_genlib(R"(
# precedence: NOT, then AND (also by juxtaposition), then XOR, then OR
GATE G1 1 Y = a + b * c;        PIN * NONINV 1 999 1 0 1 0
GATE G2 1 Y=a b + c';           PIN * UNKNOWN 1 999 1 0 1 0
GATE G3 1 Y=(a|b)&!c ^ d;       PIN * UNKNOWN 1 999 1 0 1 0
GATE G4 1 Y=!(!(a))(b+c);       PIN * UNKNOWN 1 999 1 0 1 0
GATE G5 1 Y=a'';                PIN * NONINV 1 999 1 0 1 0
GATE G6 2.5 Z=x*y+CONST1*z;
  PIN z NONINV 3 999 1 0.5 2 0.25
  PIN x NONINV 1 999 1 0 1 0
  PIN y NONINV 1 999 1 0 1 0
)",
                                       "test.genlib");
  using V = const std::map<std::string, bool>&;
  expect_function(*lib.find("G1"), [](V v) { return v.at("a") || (v.at("b") && v.at("c")); });
  expect_function(*lib.find("G2"), [](V v) { return (v.at("a") && v.at("b")) || !v.at("c"); });
  expect_function(*lib.find("G3"),
                  [](V v) { return ((v.at("a") || v.at("b")) && !v.at("c")) != v.at("d"); });
  expect_function(*lib.find("G4"), [](V v) { return v.at("a") && (v.at("b") || v.at("c")); });
  expect_function(*lib.find("G5"), [](V v) { return v.at("a"); });
  const LibraryGate& g6 = *lib.find("G6");
  expect_function(g6, [](V v) { return (v.at("x") && v.at("y")) || v.at("z"); });
  // Named pins keep the PIN order, with their own figures.
  ASSERT_EQ(g6.pins.size(), 3u);
  EXPECT_EQ(g6.pins[0].name, "z");
  EXPECT_EQ(g6.output, "Z");
  EXPECT_EQ(g6.area, 2.5);
  EXPECT_EQ(g6.pins[0].input_load, 3);
  EXPECT_EQ(g6.pins[0].delay, 2);           // the larger of rise and fall block delays
  EXPECT_EQ(g6.pins[0].fanout_delay, 0.5);  // the larger of the fanout delays
  // PIN * orders the inputs as they first appear.
  EXPECT_EQ(lib.find("G3")->pins[2].name, "c");
  EXPECT_EQ(lib.find("G3")->pins[3].name, "d");
  // Prime covers: a + b*c is two cubes, not five minterms.
  EXPECT_EQ(lib.find("G1")->cubes.size(), 2u);
  EXPECT_EQ(lib.source, "test.genlib");
}

TEST(GateLibrary, ErrorsNameFileAndLine) {
  const auto err = [](const char* text) {
    return error_of([&] { parse_genlib(text, "lib.genlib"); });
  };
  EXPECT_THAT(err("GATE A 1 O=a;\nPIN * INV 1 999 1 0 1 0\nGATE B x O=a;"),
              HasSubstr("lib.genlib:3: the area of gate B 'x' is not a number"));
  EXPECT_THAT(
      err("GATE A 1 O=a*b;\n  PIN * FOO 1 999 1 0 1 0"),
      HasSubstr("lib.genlib:2: pin * of gate A: phase 'FOO' is not INV, NONINV or UNKNOWN"));
  EXPECT_THAT(
      err("\n\nGATE A 1 O=a*(b+c;\nPIN * INV 1 999 1 0 1 0"),
      HasSubstr("lib.genlib:3: the expression 'a*(b+c' of gate A: missing ')' at column 7"));
  EXPECT_THAT(err("GATE A 1 O=a+;\nPIN * INV 1 999 1 0 1 0"),
              HasSubstr("lib.genlib:1: the expression 'a+' of gate A: it ends where an operand"));
  EXPECT_THAT(
      err("GATE A 1 O=a)*b;\nPIN * INV 1 999 1 0 1 0"),
      HasSubstr("lib.genlib:1: the expression 'a)*b' of gate A: unexpected ')' at column 2"));
  EXPECT_THAT(err("GATE A 1 O=a*b;\nPIN a INV 1 999 1 0 1 0"),
              HasSubstr("lib.genlib:1: 'b' is in the expression of gate A but has no PIN line"));
  EXPECT_THAT(err("GATE A 1 O=a;\nPIN a INV 1 999 1 0 1 0\nPIN c INV 1 999 1 0 1 0"),
              HasSubstr("lib.genlib:3: pin c of gate A is not in its expression 'a'"));
  EXPECT_THAT(
      err("GATE A 1 O=a;\nPIN * INV 1 999 1 0 1 0\nGATE A 2 O=!a;\nPIN * INV 1 999 1 0 1 0"),
      HasSubstr("lib.genlib:3: gate A is defined twice"));
  EXPECT_THAT(err("GATE A 1 O=a\nPIN * INV 1 999 1 0 1 0"),
              HasSubstr("lib.genlib:2: the expression of gate A lacks its ending ';'"));
  EXPECT_THAT(err("GATE A 1 O=a;\nPIN * INV 1 999 1 0 1"),
              HasSubstr("the file ends where the fall fanout delay of pin * of gate A should"));
  EXPECT_THAT(err("GATE A 1 O=a;\nPIN * INV 1 999 1 0 1 0\nLATCH L 1 Q=D;"),
              HasSubstr("lib.genlib:3: LATCH: sequential cells are not supported"));
  EXPECT_THAT(err("GATE A 1 O=a;\nPIN * INV 1 999 1 0 1 0\n.end"),
              HasSubstr("lib.genlib:3: expected GATE, found '.end'"));
  EXPECT_THAT(err("GATE A 1 O=CONST1;\nPIN a INV 1 999 1 0 1 0"),
              HasSubstr("lib.genlib:2: a constant gate has no pins, found PIN a"));
  EXPECT_THAT(err("GATE A 1 a=!a;\nPIN * INV 1 999 1 0 1 0"),
              HasSubstr("the output a of gate A is also an input"));
  EXPECT_THAT(err("# only a comment\n"), HasSubstr("lib.genlib: the library has no gates"));
  EXPECT_THAT(error_of([] { read_genlib("/nonexistent/x.genlib"); }),
              HasSubstr("cannot open the gate library /nonexistent/x.genlib"));
}

TEST(GateLibrary, DefaultPathFollowsTheEnvironment) {
  EXPECT_TRUE(std::filesystem::is_regular_file(default_genlib_path())) << default_genlib_path();
  ::setenv("AXNN_GENLIB", "/some/where.genlib", 1);
  EXPECT_EQ(default_genlib_path(), "/some/where.genlib");
  ::unsetenv("AXNN_GENLIB");
}

}  // namespace
}  // namespace axnn::netlist
