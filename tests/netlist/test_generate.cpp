#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "common/error_of.h"
#include "core/error.h"
#include "mult/generators.h"
#include "netlist/generate.h"
#include "netlist/simulate.h"

namespace axnn::netlist {
namespace {

using test_util::error_of;
using ::testing::HasSubstr;

constexpr Architecture kArchitectures[] = {Architecture::kArray, Architecture::kWallace,
                                           Architecture::kDadda};

MultiplierCircuit spec(int bits, bool is_signed, Architecture arch) {
  MultiplierCircuit c;
  c.bits = bits;
  c.is_signed = is_signed;
  c.architecture = arch;
  return c;
}

// The nets a node or an output reads are driven or inputs; each net has at most one driver;
// every node reaches an output (no dead logic); constants drive outputs only; every node is one
// of the gates generate.h names.
void expect_clean(const Netlist& n) {
  SCOPED_TRACE(n.name);
  std::set<NetId> inputs(n.inputs.begin(), n.inputs.end());
  std::map<NetId, int> driver;
  for (size_t i = 0; i < n.nodes.size(); ++i) {
    ASSERT_FALSE(inputs.count(n.nodes[i].output)) << n.net_name(n.nodes[i].output);
    ASSERT_TRUE(driver.emplace(n.nodes[i].output, static_cast<int>(i)).second)
        << "two drivers of " << n.net_name(n.nodes[i].output);
  }
  const auto defined = [&](NetId net) { return inputs.count(net) || driver.count(net); };
  std::set<NetId> read;
  for (const Node& node : n.nodes) {
    for (const NetId in : node.inputs) {
      EXPECT_TRUE(defined(in)) << "undriven " << n.net_name(in);
      read.insert(in);
    }
    const std::string kind = node_kind(node);
    EXPECT_TRUE(kind == "AND2" || kind == "NAND2" || kind == "OR2" || kind == "XOR2" ||
                kind == "XNOR2" || kind == "NOT" || kind == "BUF" || kind == "CONST0" ||
                kind == "CONST1")
        << kind << " drives " << n.net_name(node.output);
    if (node.inputs.empty()) {
      EXPECT_FALSE(read.count(node.output));
    }
  }
  std::set<NetId> outputs(n.outputs.begin(), n.outputs.end());
  for (const NetId out : n.outputs) EXPECT_TRUE(defined(out)) << n.net_name(out);
  // Live = reaches an output, walking back from the outputs.
  std::set<NetId> live;
  std::vector<NetId> stack(n.outputs.begin(), n.outputs.end());
  while (!stack.empty()) {
    const NetId net = stack.back();
    stack.pop_back();
    if (!live.insert(net).second || !driver.count(net)) continue;
    for (const NetId in : n.nodes[static_cast<size_t>(driver[net])].inputs) stack.push_back(in);
  }
  for (const Node& node : n.nodes) {
    EXPECT_TRUE(live.count(node.output)) << "dead " << n.net_name(node.output);
    if (node.inputs.empty()) {
      EXPECT_TRUE(outputs.count(node.output)) << n.net_name(node.output);
    }
  }
}

std::vector<int32_t> table(const Multiplier& m) { return {m.lut().begin(), m.lut().end()}; }

// The acceptance test: every circuit's simulated table equals its functional twin bit for bit.
void expect_twin(MultiplierCircuit c, const Multiplier& twin) {
  for (const Architecture arch : kArchitectures) {
    c.architecture = arch;
    const Netlist n = generate_multiplier(c);
    const Multiplier m = simulate_multiplier(n, {"A", "B", "O"}, c.is_signed, n.name);
    ASSERT_EQ(table(m), table(twin)) << n.name << " vs " << twin.name();
    ASSERT_NO_FATAL_FAILURE(expect_clean(n));
  }
}

TEST(Generate, ExactTruncatedBamAndColumnsEqualTheirFunctionalTwins) {
  std::mt19937 rng(20240611);
  for (int b = 2; b <= 8; ++b) {
    for (const bool s : {false, true}) {
      SCOPED_TRACE(testing::Message() << b << (s ? "s" : "u"));
      MultiplierCircuit c = spec(b, s, Architecture::kArray);
      expect_twin(c, make_exact(b, s));
      c.cells = CellSelection::kTruncated;
      for (int k = 0; k <= 2 * b - 1; ++k) {
        c.truncate = k;
        expect_twin(c, make_truncated(b, s, k));
      }
      c.cells = CellSelection::kBrokenArray;
      for (int h = 0; h <= b; ++h) {
        for (int v = 0; v <= 2 * b - 1; ++v) {
          // Every pair up to 4 bits, a spread above.
          if (b > 4 && (h + v) % 3 != 0) continue;
          c.hbl = h;
          c.vbl = v;
          expect_twin(c, make_bam(b, s, h, v));
        }
      }
      c.cells = CellSelection::kColumns;
      for (int trial = 0; trial < 6; ++trial) {
        c.keep_columns.assign(static_cast<size_t>(2 * b - 1), trial == 1);
        if (trial >= 2)
          for (size_t i = 0; i < c.keep_columns.size(); ++i) c.keep_columns[i] = rng() % 3 != 0;
        expect_twin(c, make_columns(b, s, c.keep_columns));
      }
    }
  }
}

// Adder counts of the textbook structures, exact 8x8 unsigned, reduction stages only (Townsend,
// Swartzlander and Abraham, "A comparison of Dadda and Wallace multiplier delays", SPIE 2003:
// Dadda 35 full and 7 half adders, Wallace 38 and 15, both in 4 stages), and the array's b(b-2)
// full and b half adders in all.
TEST(Generate, AdderCountsMatchTheTextbookStructures) {
  const auto count = [](const std::vector<AdderInfo>& adders, int stage_limit, bool full) {
    int n = 0;
    for (const AdderInfo& a : adders) n += a.stage < stage_limit && a.full == full;
    return n;
  };
  const auto dadda = circuit_adders(spec(8, false, Architecture::kDadda));
  EXPECT_EQ(dadda.back().stage, 4);
  EXPECT_EQ(count(dadda, 4, true), 35);
  EXPECT_EQ(count(dadda, 4, false), 7);
  const auto wallace = circuit_adders(spec(8, false, Architecture::kWallace));
  EXPECT_EQ(wallace.back().stage, 4);
  EXPECT_EQ(count(wallace, 4, true), 38);
  EXPECT_EQ(count(wallace, 4, false), 15);
  for (int b = 2; b <= 8; ++b) {
    const auto array = circuit_adders(spec(b, false, Architecture::kArray));
    EXPECT_EQ(count(array, 99, true), b * (b - 2)) << b;
    EXPECT_EQ(count(array, 99, false), b) << b;
  }
}

TEST(Generate, AdderIdsAndNamesAreCreationOrderAndStableUnderForcing) {
  MultiplierCircuit c = spec(6, true, Architecture::kDadda);
  const auto adders = circuit_adders(c);
  std::set<std::string> names;
  std::map<int, int> per_column;
  for (size_t i = 0; i < adders.size(); ++i) {
    const AdderInfo& a = adders[i];
    EXPECT_EQ(a.id, static_cast<int>(i));
    EXPECT_EQ(a.name, (a.full ? "fa_c" : "ha_c") + std::to_string(a.column) + "_" +
                          std::to_string(per_column[a.column]++));
    EXPECT_TRUE(names.insert(a.name).second);
    if (i) {
      EXPECT_GE(a.stage, adders[i - 1].stage);
    }
  }
  c.forced = {{3, true, true}, {static_cast<int32_t>(adders.size()) - 1, true, false}};
  const GeneratedCircuit forced = generate_circuit(c);
  ASSERT_EQ(forced.adders.size(), adders.size());
  for (size_t i = 0; i < adders.size(); ++i) EXPECT_EQ(forced.adders[i].name, adders[i].name);
  EXPECT_EQ(forced.adders[3].sum.constant, 0);
  EXPECT_EQ(forced.adders[3].carry.constant, 0);
  EXPECT_EQ(forced.adders.back().sum.constant, 0);
  EXPECT_LT(forced.netlist.nodes.size(),
            generate_multiplier(spec(6, true, Architecture::kDadda)).nodes.size());
  expect_clean(forced.netlist);
}

// Hand-written 2x2 array circuits (the plan generate.h describes, worked out on paper), each adder
// summing plain integers, with any outputs forced to 0.
struct HandAdder {
  int sum = 0, carry = 0;
};
HandAdder add(std::initializer_list<int> in, bool force_sum, bool force_carry) {
  int total = 0;
  for (const int x : in) total += x;
  return {force_sum ? 0 : total & 1, force_carry ? 0 : total >> 1};
}
using Forcing = std::map<int, std::pair<bool, bool>>;  // id -> sum, carry

int64_t hand_2x2(int a, int w, bool is_signed, const Forcing& f) {
  const auto forced = [&](int id) { return f.count(id) ? f.at(id) : std::pair{false, false}; };
  const int a0 = a & 1, a1 = (a >> 1) & 1, w0 = w & 1, w1 = (w >> 1) & 1;
  if (!is_signed) {
    // Cells p00 (col 0), a1w0 and a0w1 (col 1), a1w1 (col 2). Row 1: ha_c1_0 (id 0) adds the
    // column-1 cells; final adder: ha_c2_0 (id 1) adds a1w1 and id 0's carry.
    const HandAdder h0 = add({a1 & w0, a0 & w1}, forced(0).first, forced(0).second);
    const HandAdder h1 = add({a1 & w1, h0.carry}, forced(1).first, forced(1).second);
    return (a0 & w0) + 2 * h0.sum + 4 * h1.sum + 8 * h1.carry;
  }
  // Negative cells a1w0, a0w1 as NANDs; correction -4 mod 16 = 12: ones in columns 2 and 3.
  // Row 1: ha_c1_0 (id 0) adds the NANDs, ha_c2_0 (id 1) adds the column-2 one and a1w1; final
  // adder: ha_c2_1 (id 2) adds id 1's sum and id 0's carry, fa_c3_0 (id 3) the column-3 one, id
  // 1's carry and id 2's carry (its carry leaves the 4 bits).
  const HandAdder h0 = add({1 - (a1 & w0), 1 - (a0 & w1)}, forced(0).first, forced(0).second);
  const HandAdder h1 = add({1, a1 & w1}, forced(1).first, forced(1).second);
  const HandAdder h2 = add({h1.sum, h0.carry}, forced(2).first, forced(2).second);
  const HandAdder h3 = add({1, h1.carry, h2.carry}, forced(3).first, forced(3).second);
  const int64_t raw = (a0 & w0) + 2 * h0.sum + 4 * h2.sum + 8 * h3.sum;
  return raw >= 8 ? raw - 16 : raw;
}

TEST(Generate, ForcedOutputsOfTwoBitArraysMatchAHandSimulation) {
  for (const bool s : {false, true}) {
    MultiplierCircuit c = spec(2, s, Architecture::kArray);
    const auto adders = circuit_adders(c);
    ASSERT_EQ(adders.size(), s ? 4u : 2u);
    EXPECT_EQ(adders[0].name, "ha_c1_0");
    EXPECT_EQ(adders[1].name, "ha_c2_0");
    if (s) {
      EXPECT_EQ(adders[2].name, "ha_c2_1");
      EXPECT_EQ(adders[3].name, "fa_c3_0");
    }
    // Every single forcing and every pair of them.
    std::vector<ForcedAdder> singles;
    for (int id = 0; id < static_cast<int>(adders.size()); ++id)
      for (const auto& [sum, carry] : {std::pair{true, false}, {false, true}, {true, true}})
        singles.push_back({id, sum, carry});
    for (size_t i = 0; i <= singles.size(); ++i) {
      for (size_t j = i; j <= singles.size(); ++j) {
        c.forced.clear();
        Forcing f;
        for (const size_t k : {i, j}) {
          if (k == singles.size()) continue;
          c.forced.push_back(singles[k]);
          f[singles[k].id].first |= singles[k].sum;
          f[singles[k].id].second |= singles[k].carry;
        }
        const Multiplier m = simulate_circuit(c);
        SCOPED_TRACE(m.name());
        for (int a = 0; a < 4; ++a)
          for (int w = 0; w < 4; ++w) ASSERT_EQ(m.at(a, w), hand_2x2(a, w, s, f)) << a << " " << w;
        expect_clean(generate_multiplier(c));
      }
    }
  }
}

// Per pattern t = a << b | w, the value of each net of a netlist.
class NetValues {
 public:
  NetValues(const Netlist& n, int bits) : sim_(n) {
    const size_t patterns = size_t{1} << (2 * bits), words = (patterns + 63) / 64;
    std::vector<uint64_t> in(n.inputs.size() * words, 0);
    for (size_t t = 0; t < patterns; ++t)
      for (int i = 0; i < bits; ++i) {
        in[static_cast<size_t>(i) * words + t / 64] |= uint64_t((t >> (bits + i)) & 1) << (t % 64);
        in[static_cast<size_t>(bits + i) * words + t / 64] |= uint64_t((t >> i) & 1) << (t % 64);
      }
    sim_.run(in, words);
  }
  int at(const AdderSignal& s, size_t t) const {
    if (s.constant >= 0) return s.constant;
    const auto net = sim_.netlist().find_net(s.net);
    return static_cast<int>((sim_.values(*net)[t / 64] >> (t % 64)) & 1);
  }

 private:
  Simulator sim_;
};

// Forcing an output to 0 subtracts the value it had times its weight, modulo 2^(2b): the adders
// after it still add exactly. Checked for random adders of many circuits.
TEST(Generate, ForcingSubtractsTheForcedOutputsWeight) {
  std::mt19937 rng(7);
  for (int b = 3; b <= 8; ++b) {
    for (const bool s : {false, true}) {
      for (const Architecture arch : kArchitectures) {
        for (const CellSelection cells : {CellSelection::kAll, CellSelection::kBrokenArray}) {
          MultiplierCircuit c = spec(b, s, arch);
          c.cells = cells;
          c.hbl = 1;
          c.vbl = b - 1;
          const GeneratedCircuit plain = generate_circuit(c);
          const Multiplier exact = simulate_multiplier(plain.netlist, {}, s, "plain");
          const NetValues values(plain.netlist, b);
          const int64_t modulus = int64_t{1} << (2 * b);
          for (int trial = 0; trial < 4; ++trial) {
            const AdderInfo& adder = plain.adders[rng() % plain.adders.size()];
            const bool fs = trial != 1, fc = trial != 0;
            c.forced = {{adder.id, fs, fc}};
            const Multiplier m = simulate_circuit(c);
            SCOPED_TRACE(m.name());
            // A carry nothing reads is the one out of the top column: weight 2^(2b) = 0.
            const bool carry_read = !adder.carry.net.empty() || adder.carry.constant >= 0;
            ASSERT_TRUE(carry_read || adder.column == 2 * b - 1);
            for (size_t t = 0; t < size_t(modulus); ++t) {
              int64_t delta = 0;
              if (fs) delta += int64_t{values.at(adder.sum, t)} << adder.column;
              if (fc && carry_read)
                delta += int64_t{values.at(adder.carry, t)} << (adder.column + 1);
              int64_t want = ((exact.lut()[t] - delta) % modulus + modulus) % modulus;
              if (s && want >= modulus / 2) want -= modulus;
              ASSERT_EQ(m.lut()[t], want) << "t=" << t;
            }
            expect_clean(generate_multiplier(c));
          }
        }
      }
    }
  }
}

// Forcing an output to 1 adds (1 - the value it had) times its weight, modulo 2^(2b); so the
// forced-to-1 table is the forced-to-0 one plus the weight. Sum and carry may take different
// constants (two entries for one adder).
TEST(Generate, ForcingToOneAddsTheMissingWeight) {
  std::mt19937 rng(11);
  for (int b = 3; b <= 8; b += 5) {
    for (const bool s : {false, true}) {
      for (const Architecture arch : kArchitectures) {
        MultiplierCircuit c = spec(b, s, arch);
        const GeneratedCircuit plain = generate_circuit(c);
        const Multiplier exact = simulate_multiplier(plain.netlist, {}, s, "plain");
        const NetValues values(plain.netlist, b);
        const int64_t modulus = int64_t{1} << (2 * b);
        const auto wrap = [&](int64_t v) {
          v = (v % modulus + modulus) % modulus;
          return s && v >= modulus / 2 ? v - modulus : v;
        };
        // (sum constant, carry constant), -1 for not forced.
        for (const auto& [vs, vc] : {std::pair{1, -1}, {-1, 1}, {1, 1}, {0, 1}, {1, 0}}) {
          const AdderInfo& adder = plain.adders[rng() % plain.adders.size()];
          c.forced.clear();
          for (const int value : {0, 1})
            if (vs == value || vc == value)
              c.forced.push_back({adder.id, vs == value, vc == value, value});
          const Multiplier m = simulate_circuit(c);
          SCOPED_TRACE(m.name());
          const bool carry_read = !adder.carry.net.empty() || adder.carry.constant >= 0;
          for (size_t t = 0; t < size_t(modulus); ++t) {
            int64_t delta = 0;
            if (vs >= 0) delta += int64_t{vs - values.at(adder.sum, t)} << adder.column;
            if (vc >= 0 && carry_read)
              delta += int64_t{vc - values.at(adder.carry, t)} << (adder.column + 1);
            ASSERT_EQ(m.lut()[t], wrap(exact.lut()[t] + delta)) << "t=" << t;
          }
          expect_clean(generate_multiplier(c));
          if (vs != 1 || vc != -1) continue;
          c.forced = {{adder.id, true, false, 0}};
          const Multiplier zero = simulate_circuit(c);
          for (size_t t = 0; t < size_t(modulus); ++t)
            ASSERT_EQ(m.lut()[t], wrap(zero.lut()[t] + (int64_t{1} << adder.column))) << "t=" << t;
        }
      }
    }
  }
}

TEST(Generate, ConstantsAreFoldedAway) {
  // A fully truncated multiplier is constant 0: no gates but the output constants.
  MultiplierCircuit c = spec(4, true, Architecture::kWallace);
  c.cells = CellSelection::kTruncated;
  c.truncate = 7;
  const Netlist zero = generate_multiplier(c);
  EXPECT_EQ(zero.nodes.size(), 8u);
  for (const Node& node : zero.nodes) EXPECT_EQ(node_kind(node), "CONST0");
  // The signed correction enters as folded adders: an exact signed array has NOT gates and
  // XNOR2/OR2 pairs where the ones are, and no constant nodes.
  const NetlistStats stats =
      netlist_stats(generate_multiplier(spec(8, true, Architecture::kArray)));
  std::map<std::string, int64_t> kinds(stats.kinds.begin(), stats.kinds.end());
  EXPECT_EQ(kinds.count("CONST0") + kinds.count("CONST1"), 0u);
  EXPECT_EQ(kinds["NAND2"], 14) << "the 14 negative cells";
  EXPECT_GE(kinds["NOT"], 1) << "a half adder with the column-8 one";
}

TEST(Generate, NamesRoundTrip) {
  EXPECT_EQ(circuit_name(spec(8, true, Architecture::kDadda)), "dadda8s");
  MultiplierCircuit c = spec(8, false, Architecture::kArray);
  c.cells = CellSelection::kTruncated;
  c.truncate = 4;
  EXPECT_EQ(circuit_name(c), "array8u_k4");
  c = spec(8, true, Architecture::kWallace);
  c.cells = CellSelection::kBrokenArray;
  c.hbl = 1;
  c.vbl = 6;
  EXPECT_EQ(circuit_name(c), "wallace8s_h1_v6");
  c = spec(4, false, Architecture::kArray);
  c.forced = {{7, true, true}, {3, true, false}, {7, false, true}, {5, false, true}};
  EXPECT_EQ(circuit_name(c), "array4u_f3s_f5c_f7sc");
  c.forced = {{7, false, true, 1},
              {3, true, false},
              {7, true, false},
              {3, false, true, 1},
              {2, true, true, 1}};
  EXPECT_EQ(circuit_name(c), "array4u_f2sc1_f3s_f3c1_f7s_f7c1");
  for (const std::string name :
       {"dadda8s", "array8u_k4", "wallace8s_h1_v6", "dadda8s_cols000010111111111",
        "array4u_f3s_f5c_f7sc", "wallace2u_k0", "dadda5s_h0_v9_f12c", "array3s_cols01011_f0sc",
        "array4u_f2sc1_f3s_f3c1_f7s_f7c1", "wallace8u_cols111000000000000_f11s1_f12c1"})
    EXPECT_EQ(circuit_name(parse_circuit_name(name)), name);
  const MultiplierCircuit ones = parse_circuit_name("wallace8u_f3s_f3c1_f9sc1");
  ASSERT_EQ(ones.forced.size(), 3u);
  EXPECT_EQ(ones.forced[0].value, 0);
  EXPECT_TRUE(ones.forced[1].carry && !ones.forced[1].sum);
  EXPECT_EQ(ones.forced[1].value, 1);
  EXPECT_TRUE(ones.forced[2].sum && ones.forced[2].carry);
  EXPECT_EQ(ones.forced[2].value, 1);
  const MultiplierCircuit cols = parse_circuit_name("dadda8s_cols000010111111111");
  EXPECT_EQ(cols.cells, CellSelection::kColumns);
  EXPECT_EQ(cols.keep_columns.size(), 15u);
  EXPECT_FALSE(cols.keep_columns[0]);
  EXPECT_TRUE(cols.keep_columns[4]);
}

TEST(Generate, ErrorsNameTheValueAtFault) {
  EXPECT_THAT(error_of([] { parse_architecture("booth"); }),
              HasSubstr("unknown multiplier architecture 'booth' (known: array, wallace, dadda)"));
  EXPECT_EQ(parse_architecture("wallace"), Architecture::kWallace);
  MultiplierCircuit c = spec(9, true, Architecture::kDadda);
  EXPECT_THAT(error_of([&] { generate_multiplier(c); }), HasSubstr("bits = 9 is outside 2..8"));
  c = spec(4, true, Architecture::kDadda);
  c.cells = CellSelection::kTruncated;
  c.truncate = 8;
  EXPECT_THAT(error_of([&] { generate_multiplier(c); }), HasSubstr("truncate = 8 is outside 0..7"));
  c.cells = CellSelection::kBrokenArray;
  c.hbl = 5;
  EXPECT_THAT(error_of([&] { generate_multiplier(c); }), HasSubstr("hbl = 5 is outside 0..4"));
  c.hbl = 0;
  c.vbl = -1;
  EXPECT_THAT(error_of([&] { generate_multiplier(c); }), HasSubstr("vbl = -1 is outside 0..7"));
  c.cells = CellSelection::kColumns;
  c.keep_columns.assign(6, true);
  EXPECT_THAT(error_of([&] { generate_multiplier(c); }),
              HasSubstr("keep_columns has 6 flags, a 4-bit multiplier has 7"));
  c = spec(4, true, Architecture::kArray);
  const size_t n = circuit_adders(c).size();
  c.forced = {{static_cast<int32_t>(n), true, false}};
  EXPECT_THAT(error_of([&] { generate_multiplier(c); }),
              HasSubstr(fmt::format("forced adder id {} does not exist (it has {} adders, ids "
                                    "0..{})",
                                    n, n, n - 1)));
  c.forced = {{2, false, false}};
  EXPECT_THAT(error_of([&] { generate_multiplier(c); }),
              HasSubstr("forced adder 2 forces neither its sum nor its carry"));
  c.forced = {{-1, true, false}};
  EXPECT_THAT(error_of([&] { generate_multiplier(c); }), HasSubstr("forced adder id -1"));
  c.forced = {{2, true, false, 2}};
  EXPECT_THAT(error_of([&] { generate_multiplier(c); }),
              HasSubstr("forced adder 2 forces its outputs to 2, not 0 or 1"));
  c.forced = {{4, true, true}, {4, false, true, 1}};
  EXPECT_THAT(error_of([&] { circuit_name(c); }),
              HasSubstr("forced adder 4 forces its carry to both 0 and 1"));
  EXPECT_THAT(error_of([] { parse_circuit_name("dadda8s_f3s_f3sc1"); }),
              HasSubstr("forced adder 3 forces its sum to both 0 and 1"));
  EXPECT_THAT(error_of([] { parse_circuit_name("booth8s"); }),
              HasSubstr("'booth8s': unknown architecture 'booth'"));
  EXPECT_THAT(error_of([] { parse_circuit_name("dadda8x"); }),
              HasSubstr("'dadda8x' is not <architecture><bits><s|u>"));
  EXPECT_THAT(error_of([] { parse_circuit_name("dadda8s_cols0001"); }),
              HasSubstr("keep_columns has 4 flags, a 8-bit multiplier has 15"));
  EXPECT_THAT(error_of([] { parse_circuit_name("dadda2s_cols0a1"); }),
              HasSubstr("column flags '0a1' are not all 0 or 1"));
  EXPECT_THAT(error_of([] { parse_circuit_name("dadda8s_h1"); }),
              HasSubstr("'_h1' is not followed by _v<vbl>"));
  EXPECT_THAT(error_of([] { parse_circuit_name("dadda8s_k4_f3x"); }),
              HasSubstr("'f3x' does not end in s, c, sc, s1, c1 or sc1"));
  EXPECT_THAT(error_of([] { parse_circuit_name("dadda8s_f3"); }),
              HasSubstr("'f3' does not end in s, c, sc, s1, c1 or sc1"));
  EXPECT_THAT(error_of([] { parse_circuit_name("dadda8s_z"); }), HasSubstr("unknown part 'z'"));
  EXPECT_THAT(error_of([] { parse_circuit_name("dadda8s_k"); }), HasSubstr("unknown part 'k'"));
}

}  // namespace
}  // namespace axnn::netlist
