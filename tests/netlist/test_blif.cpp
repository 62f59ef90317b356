#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/error_of.h"
#include "netlist/blif.h"
#include "netlist/simulate.h"

namespace axnn::netlist {
namespace {

using test_util::error_of;
using ::testing::HasSubstr;

// The value of every output under every input pattern (pattern t sets input i to bit i of t):
// outputs[o] bit t. At most 6 inputs, so one word per net.
std::vector<uint64_t> truth(const Netlist& n) {
  const size_t k = n.inputs.size();
  std::vector<uint64_t> inputs(k, 0);
  for (size_t t = 0; t < (size_t{1} << k); ++t)
    for (size_t i = 0; i < k; ++i) inputs[i] |= static_cast<uint64_t>((t >> i) & 1) << t;
  Simulator sim(n);
  sim.run(inputs, 1);
  std::vector<uint64_t> out;
  for (const NetId o : n.outputs) out.push_back(sim.values(o)[0] & ((uint64_t{1} << (1 << k)) - 1));
  return out;
}

TEST(Blif, CoversOnSetOffSetDontCaresAndAnyFanIn) {
  const Netlist n = parse_blif(R"(# a comment
.model m
.inputs a b c \
  d
.outputs and4 maj notx any
.names a b c d and4
1111 1
.names a b c maj   # carry
11- 1
1-1 1
-11 1
.names a b notx
11 0
00 0
.names a b c d t1
0000 0
.names t1 any
1 1
.end
)",
                               "t.blif");
  EXPECT_EQ(n.name, "m");
  ASSERT_EQ(n.inputs.size(), 4u);
  const std::vector<uint64_t> out = truth(n);
  for (int t = 0; t < 16; ++t) {
    const int a = t & 1, b = (t >> 1) & 1, c = (t >> 2) & 1, d = (t >> 3) & 1;
    EXPECT_EQ((out[0] >> t) & 1, static_cast<uint64_t>(a & b & c & d)) << t;
    EXPECT_EQ((out[1] >> t) & 1, static_cast<uint64_t>(a + b + c >= 2)) << t;
    EXPECT_EQ((out[2] >> t) & 1, static_cast<uint64_t>(a ^ b)) << t;
    EXPECT_EQ((out[3] >> t) & 1, static_cast<uint64_t>((a | b | c | d) != 0)) << t;
  }
}

TEST(Blif, YosysConstantsAndUndrivenNets) {
  const Netlist n = parse_blif(R"(.model m
.inputs a
.outputs z o u f x
.names $false z
1 1
.names $true o
1 1
.names $undef u
1 1
.names a floating f
11 1
.names $true a x
11 1
.end
)",
                               "c.blif");
  const std::vector<uint64_t> out = truth(n);
  EXPECT_EQ(out, (std::vector<uint64_t>{0, 3, 0, 0, 2}));
  // A model that defines $true itself keeps its definition.
  const Netlist d = parse_blif(
      ".model m\n.inputs a\n.outputs y\n.names a $true\n0 1\n"
      ".names $true y\n1 1\n.end\n",
      "d.blif");
  EXPECT_EQ(truth(d), std::vector<uint64_t>{1});
}

TEST(Blif, NetNamesWithSpecialCharacters) {
  const Netlist n = parse_blif(
      ".model m\n.inputs A[0] $abc$1.x:y/z\n.outputs O[0]\n"
      ".names A[0] $abc$1.x:y/z O[0]\n10 1\n01 1\n.end\n",
      "s.blif");
  EXPECT_EQ(truth(n), std::vector<uint64_t>{6});
  EXPECT_TRUE(n.find_net("$abc$1.x:y/z"));
}

constexpr const char* kHierarchy = R"(.model top
.inputs x y c
.outputs s co
.subckt fa a=x b=y ci=c s=s co=co
.end

.model unused
.inputs p
.outputs q
.names p q
0 1
.end

.model fa
.inputs a b ci
.outputs s co
.subckt ha a=a b=b s=t c=c1
.subckt ha a=t b=ci s=s c=c2
.names c1 c2 co
1- 1
-1 1
.end

.model ha
.inputs a b
.outputs s c
.names a b s
10 1
01 1
.names a b c
11 1
.end
)";

TEST(Blif, SubcircuitsFlattenAndTheFirstModelIsTheTop) {
  const Netlist n = parse_blif(kHierarchy, "h.blif");
  EXPECT_EQ(n.name, "top");
  const std::vector<uint64_t> out = truth(n);
  for (int t = 0; t < 8; ++t) {
    const int sum = (t & 1) + ((t >> 1) & 1) + ((t >> 2) & 1);
    EXPECT_EQ((out[0] >> t) & 1, static_cast<uint64_t>(sum & 1)) << t;
    EXPECT_EQ((out[1] >> t) & 1, static_cast<uint64_t>(sum >> 1)) << t;
  }
  EXPECT_EQ(n.nodes.size(), 5u);  // two half adders and the OR; `unused` is not instantiated
  const Netlist ha = parse_blif(kHierarchy, "h.blif", {"ha", nullptr});
  EXPECT_EQ(ha.name, "ha");
  EXPECT_EQ(truth(ha), (std::vector<uint64_t>{6, 8}));
}

TEST(Blif, MappedGatesNeedTheirLibrary) {
  GateLibrary library;
  library.source = "lib.genlib";
  LibraryGate nand;
  nand.name = "NAND2";
  nand.output = "O";
  nand.pins = {{"a", 1, 1}, {"b", 1, 1}};
  nand.cubes = {"0-", "-0"};
  library.gates.push_back(nand);
  const char* text = ".model m\n.inputs x y\n.outputs z\n.gate NAND2 a=x b=y O=z\n.end\n";
  const Netlist n = parse_blif(text, "g.blif", {"", &library});
  EXPECT_EQ(truth(n), std::vector<uint64_t>{7});
  EXPECT_EQ(n.nodes[0].gate, "NAND2");
  EXPECT_THAT(error_of([&] { parse_blif(text, "g.blif"); }),
              HasSubstr("g.blif:4: .gate NAND2 in a mapped netlist needs a gate library"));
  EXPECT_THAT(error_of([&] {
                parse_blif(".model m\n.inputs x\n.outputs z\n.gate NOR9 a=x O=z\n", "g.blif",
                           {"", &library});
              }),
              HasSubstr("g.blif:4: gate NOR9 is not in the library lib.genlib"));
  EXPECT_THAT(error_of([&] {
                parse_blif(".model m\n.inputs x\n.outputs z\n.gate NAND2 a=x O=z\n", "g.blif",
                           {"", &library});
              }),
              HasSubstr("g.blif:4: gate NAND2 has its pin b unconnected"));
}

TEST(Blif, ErrorsNameFileAndLine) {
  const auto error = [](const std::string& text) {
    return error_of([&] { parse_blif(text, "bad.blif"); });
  };
  EXPECT_THAT(error(".model m\n.inputs a b\n.outputs y\n.names a b y\n1x 1\n.end\n"),
              HasSubstr("bad.blif:5: '1x 1' is not a cube of 2 inputs"));
  EXPECT_THAT(error(".model m\n.inputs a b\n.outputs y\n.names a b y\n11 1\n00 0\n"),
              HasSubstr("bad.blif:6: a cover mixes ON-set and OFF-set lines"));
  EXPECT_THAT(error(".model m\n.inputs a\n.outputs y\n.latch a y re clk 0\n"),
              HasSubstr("bad.blif:4: .latch: sequential circuits are not supported"));
  EXPECT_THAT(error(".model m\n.inputs a\n.outputs y\n.frobnicate\n"),
              HasSubstr("bad.blif:4: unknown or unsupported directive .frobnicate"));
  EXPECT_THAT(error(".model m\n.inputs a\n.outputs y z\n.names a y\n1 1\n.end\n"),
              HasSubstr("bad.blif:3: output z of model m is driven by nothing"));
  EXPECT_THAT(error(".model m\n.inputs a\n.outputs y\n.names a t y\n11 1\n.names y t\n1 1\n"),
              HasSubstr("bad.blif: combinational loop through net"));
  EXPECT_THAT(error(".model m\n.inputs a\n.outputs y\n.names a y\n1 1\n.names a y\n0 1\n"),
              HasSubstr("bad.blif:6: net y is driven twice (first on line 4)"));
  EXPECT_THAT(error(".model m\n.inputs a\n.outputs y\n.subckt nope x=a\n"),
              HasSubstr("bad.blif:4: .subckt of model nope, which the file does not define"));
  EXPECT_THAT(error(".model m\n.inputs a\n.outputs y\n.subckt m a=a y=y\n.end\n"),
              HasSubstr("model m instantiates itself"));
  EXPECT_THAT(error("11 1\n"), HasSubstr("bad.blif:1: '11' is not a directive"));
  EXPECT_THAT(error_of([] {
                parse_blif(kHierarchy, "h.blif", {"nope", nullptr});
              }),
              HasSubstr("h.blif: no model nope (models: top, unused, fa, ha)"));
  EXPECT_THAT(error_of([] { read_blif("/nonexistent/x.blif"); }),
              HasSubstr("/nonexistent/x.blif: cannot be opened"));
}

TEST(Blif, WriteReadsBackToTheSameFunction) {
  Netlist n = parse_blif(kHierarchy, "h.blif");
  // An OFF-set cover without cubes (constant 1) must survive the trip.
  n.add_node({n.inputs[0]}, {}, false, n.net("one"));
  n.outputs.push_back(n.net("one"));
  const Netlist back = parse_blif(format_blif(n), "written.blif");
  EXPECT_EQ(truth(back), truth(n));
  EXPECT_EQ(truth(back)[2], 0xFFu);
}

TEST(NetlistStats, CountsKindsAndDepth) {
  const Netlist n = parse_blif(kHierarchy, "h.blif");
  const NetlistStats stats = netlist_stats(n);
  EXPECT_EQ(stats.inputs, 3);
  EXPECT_EQ(stats.outputs, 2);
  EXPECT_EQ(stats.nodes, 5);
  EXPECT_EQ(stats.depth, 3);  // XOR, AND, OR on the carry path
  EXPECT_EQ(stats.kinds,
            (std::vector<std::pair<std::string, int64_t>>{{"AND2", 2}, {"XOR2", 2}, {"OR2", 1}}));
}

}  // namespace
}  // namespace axnn::netlist
