#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>

#include "common/error_of.h"
#include "netlist/blif.h"
#include "netlist/simulate.h"

namespace axnn::netlist {
namespace {

using test_util::error_of;
using ::testing::HasSubstr;

// A random netlist: `gates` nodes of 0..5 inputs with random covers over earlier nets.
Netlist random_netlist(std::mt19937& rng, int inputs, int gates) {
  Netlist n;
  n.name = "random";
  for (int i = 0; i < inputs; ++i) n.inputs.push_back(n.net(fmt::format("i{}", i)));
  for (int g = 0; g < gates; ++g) {
    const int fan_in = static_cast<int>(rng() % 6);
    std::vector<NetId> in;
    for (int k = 0; k < fan_in; ++k) in.push_back(static_cast<NetId>(rng() % n.net_count()));
    std::vector<std::string> cubes(rng() % 4);
    for (std::string& cube : cubes)
      for (int k = 0; k < fan_in; ++k) cube += "01-"[rng() % 3];
    n.add_node(in, cubes, rng() % 2, n.new_net("g"));
    if (rng() % 3 == 0) n.outputs.push_back(n.nodes.back().output);
  }
  return n;
}

// One pattern through the netlist, node by node in creation order (random_netlist only reads
// earlier nets), cube by cube.
std::vector<bool> naive_eval(const Netlist& n, const std::vector<bool>& input_values) {
  std::vector<bool> value(n.net_count(), false);
  for (size_t i = 0; i < n.inputs.size(); ++i)
    value[static_cast<size_t>(n.inputs[i])] = input_values[i];
  for (const Node& node : n.nodes) {
    bool hit = false;
    for (const std::string& cube : node.cubes) {
      bool match = true;
      for (size_t k = 0; k < cube.size(); ++k)
        if (cube[k] != '-' && (cube[k] == '1') != value[static_cast<size_t>(node.inputs[k])])
          match = false;
      hit = hit || match;
    }
    value[static_cast<size_t>(node.output)] = node.onset ? hit : !hit;
  }
  return value;
}

TEST(Simulator, MatchesNaiveEvaluationOnRandomNetlists) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 20; ++trial) {
    const Netlist n = random_netlist(rng, 1 + trial % 7, 60);
    const size_t words = 1 + static_cast<size_t>(trial) * 3;  // blocks of 8 and remainders
    std::vector<uint64_t> inputs(n.inputs.size() * words);
    for (uint64_t& w : inputs) w = (static_cast<uint64_t>(rng()) << 32) | rng();
    Simulator sim(n);
    sim.run(inputs, words);
    for (size_t t = 0; t < words * 64; t += 13) {
      std::vector<bool> in;
      for (size_t i = 0; i < n.inputs.size(); ++i)
        in.push_back((inputs[i * words + t / 64] >> (t % 64)) & 1);
      const std::vector<bool> expect = naive_eval(n, in);
      for (size_t net = 0; net < n.net_count(); ++net)
        ASSERT_EQ(((sim.values(static_cast<NetId>(net))[t / 64] >> (t % 64)) & 1) != 0, expect[net])
            << "trial " << trial << " net " << n.net_name(static_cast<NetId>(net)) << " pattern "
            << t;
    }
  }
}

// A 2x2 multiplier as a BLIF with the given port names, each output bit a cover of its
// minterms (input order a0 a1 b0 b1): the 4-bit product, two's complement for signed operands.
std::string multiplier2(const std::string& a, const std::string& b, const std::string& o,
                        bool is_signed = false) {
  std::string text = fmt::format(
      ".model mul2\n.inputs {0}[0] {0}[1] {1}[0] {1}[1]\n"
      ".outputs {2}[0] {2}[1] {2}[2] {2}[3]\n",
      a, b, o);
  for (int bit = 0; bit < 4; ++bit) {
    text += fmt::format(".names {0}[0] {0}[1] {1}[0] {1}[1] {2}[{3}]\n", a, b, o, bit);
    for (int x = 0; x < 4; ++x)
      for (int w = 0; w < 4; ++w) {
        const int product =
            Multiplier::code_value(x, 2, is_signed) * Multiplier::code_value(w, 2, is_signed);
        if (((product & 15) >> bit) & 1)
          text += fmt::format("{}{}{}{} 1\n", x & 1, x >> 1, w & 1, w >> 1);
      }
  }
  return text + ".end\n";
}

TEST(SimulateMultiplier, ExhaustiveTableUnderEachPortConvention) {
  for (const auto& [a, b, o] :
       {std::array<std::string, 3>{"A", "B", "O"}, std::array<std::string, 3>{"in1", "in2", "out"},
        std::array<std::string, 3>{"x", "y", "p"}}) {
    const Netlist n = parse_blif(multiplier2(a, b, o), "mul2.blif");
    const Multiplier m = simulate_multiplier(n, {}, false, "mul2");
    ASSERT_EQ(m.bits(), 2) << a;
    for (int x = 0; x < 4; ++x)
      for (int w = 0; w < 4; ++w) EXPECT_EQ(m.at(x, w), x * w) << a << " " << x << "*" << w;
  }
  // Swapped ports give the table with its operands swapped (the function is symmetric, so
  // check the port order through the source note instead).
  const Netlist n = parse_blif(multiplier2("x", "y", "p"), "mul2.blif");
  const Multiplier given = simulate_multiplier(n, {"y", "x", "p"}, false, "mul2");
  EXPECT_THAT(given.meta().source, HasSubstr("ports y, x, p (given)"));
  EXPECT_THAT(simulate_multiplier(n, {}, false, "m").meta().source, HasSubstr("declaration order"));
}

TEST(SimulateMultiplier, SignedProductsAreTwosComplementOfTheBus) {
  const Multiplier m =
      simulate_multiplier(parse_blif(multiplier2("A", "B", "O", true), "s.blif"), {}, true, "s");
  for (int a = 0; a < 4; ++a)
    for (int b = 0; b < 4; ++b) EXPECT_EQ(m.at(a, b), m.value(a) * m.value(b));
}

TEST(SimulateMultiplier, ClearErrors) {
  const Netlist n = parse_blif(multiplier2("A", "B", "O"), "mul2.blif");
  EXPECT_THAT(error_of([&] {
                simulate_multiplier(n, {"A", "C", "O"}, false, "m");
              }),
              HasSubstr("no input bus 'C' (it has A[2], B[2])"));
  EXPECT_THAT(error_of([&] {
                simulate_multiplier(n, {"A", "", ""}, false, "m");
              }),
              HasSubstr("name all three ports"));
  const Netlist gap = parse_blif(
      ".model g\n.inputs A[0] A[2] B[0] B[1]\n.outputs O[0]\n"
      ".names A[0] O[0]\n1 1\n",
      "g.blif");
  EXPECT_THAT(error_of([&] { simulate_multiplier(gap, {}, false, "m"); }),
              HasSubstr("bus A has no bit 1"));
  const Netlist one =
      parse_blif(".model t\n.inputs p q\n.outputs r\n.names p q r\n11 1\n", "t.blif");
  EXPECT_THAT(error_of([&] { simulate_multiplier(one, {}, false, "m"); }),
              HasSubstr("cannot tell the operands apart"));
  // A 5-bit product bus: 8 is a 5-bit signed number but outside a 2x2 multiplier's 4-bit range.
  const Netlist wide = parse_blif(
      ".model w\n.inputs A[0] A[1] B[0] B[1]\n.outputs O[0] O[1] O[2] "
      "O[3] O[4]\n.names O[0]\n.names O[1]\n.names O[2]\n"
      ".names A[0] O[3]\n1 1\n.names O[4]\n",
      "w.blif");
  EXPECT_THAT(error_of([&] { simulate_multiplier(wide, {}, true, "m"); }),
              HasSubstr("codes a = 1, b = 0 is 8, outside the 4-bit signed range"));
}

}  // namespace
}  // namespace axnn::netlist
