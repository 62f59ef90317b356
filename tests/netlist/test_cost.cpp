#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <fstream>
#include <numeric>
#include <random>
#include <sstream>

#include "common/error_of.h"
#include "common/evoapprox.h"
#include "core/subprocess.h"
#include "netlist/cost.h"
#include "netlist/yosys.h"

namespace axnn::netlist {
namespace {

using test_util::error_of;
using ::testing::HasSubstr;

bool have_abc() { return find_program("berkeley-abc") || find_program("yosys-abc"); }

#define SKIP_WITHOUT_ABC()                                                      \
  if (!have_abc())                                                              \
  GTEST_SKIP() << "berkeley-abc (or yosys-abc) is not on PATH: Debian package " \
                  "berkeley-abc"

// x, y, z in; n = x AND y; o = n XOR z out.
Netlist tiny_netlist() {
  Netlist n;
  n.name = "tiny";
  const NetId x = n.net("x"), y = n.net("y"), z = n.net("z");
  n.inputs = {x, y, z};
  const NetId and_xy = n.add_node({x, y}, {"11"}, true, n.net("n"));
  n.outputs = {n.add_node({and_xy, z}, {"10", "01"}, true, n.net("o"))};
  return n;
}

TEST(ToggleCounter, MatchesAPerPatternCountAcrossWordsAndRuns) {
  const Netlist n = tiny_netlist();
  Simulator sim(n);
  ToggleCounter counter(n.net_count());
  std::mt19937_64 rng(7);
  std::vector<std::array<bool, 5>> sequence;  // x y z n o of every pattern, in time order
  // Runs of 100 (two words, the second partial), 64, 1 and 37 patterns follow one another.
  for (const size_t patterns : {100, 64, 1, 37}) {
    const size_t words = (patterns + 63) / 64;
    std::vector<uint64_t> inputs(3 * words);
    for (uint64_t& w : inputs) w = rng();  // bits past `patterns` are noise the count must skip
    sim.run(inputs, words);
    counter.add(sim, patterns);
    for (size_t t = 0; t < patterns; ++t) {
      const auto bit = [&](size_t row) {
        return ((inputs[row * words + t / 64] >> (t % 64)) & 1) != 0;
      };
      const bool x = bit(0), y = bit(1), z = bit(2);
      sequence.push_back({x, y, z, x && y, (x && y) != z});
    }
  }
  EXPECT_EQ(counter.patterns(), 202);
  const std::array<const char*, 5> names = {"x", "y", "z", "n", "o"};
  for (size_t k = 0; k < names.size(); ++k) {
    int64_t expected = 0;
    for (size_t t = 1; t < sequence.size(); ++t) expected += sequence[t][k] != sequence[t - 1][k];
    EXPECT_EQ(counter.toggles()[static_cast<size_t>(*n.find_net(names[k]))], expected) << names[k];
  }
}

// A library with one inverter whose input loads its driver with 3 units.
const GateLibrary& inverter_library() {
  static const GateLibrary lib =
      parse_genlib("GATE ZERO 0 O=CONST0;\nGATE INV 1 O=!a; PIN * INV 3 999 1 0 1 0\n", "inv");
  return lib;
}

TEST(SwitchingPower, ChargesPinLoadsNetAndOutputLoads) {
  // 2-bit operands; O[0] = !A[0], O[1..3] constant 0: only A[0] and O[0] toggle.
  Netlist n;
  n.name = "inv";
  for (const char* name : {"A[0]", "A[1]", "B[0]", "B[1]"}) n.inputs.push_back(n.net(name));
  const NetId o0 = n.add_node({n.inputs[0]}, {"0"}, true, n.net("O[0]"));
  n.nodes.back().gate = "INV";
  n.outputs = {o0};
  for (const char* name : {"O[1]", "O[2]", "O[3]"}) {
    n.outputs.push_back(n.add_node({}, {}, true, n.net(name)));
    n.nodes.back().gate = "ZERO";
  }
  PowerOptions options;
  options.operands = OperandDistribution{{1, 1, 0, 0}, {1, 2, 3, 4}};  // A[1] stays 0
  CircuitCost cost;
  switching_power(n, inverter_library(), options, cost);
  // A[0] and O[0] toggle with probability 1/2 per operation. A[0] carries the INV pin (3) and
  // its wire (net_load 2); O[0] its own output (2) and the output load (2).
  EXPECT_NEAR(cost.power, 0.5 * (3 + 2) + 0.5 * (2 + 2), 0.05);
  EXPECT_THAT(cost.operands, HasSubstr("distribution, 65536 operations"));
  // The mean counts the nets that drive or are driven (A[0], O[0..3]); two of the five toggle.
  EXPECT_NEAR(cost.toggle_rate, 0.5 * 2 / 5, 0.01);

  // The same seed gives the same figure; uniform operands toggle A[1] too, but it drives nothing.
  CircuitCost again;
  switching_power(n, inverter_library(), options, again);
  EXPECT_EQ(again.power, cost.power);
  options.operands.reset();
  switching_power(n, inverter_library(), options, again);
  EXPECT_NEAR(again.power, cost.power, 0.1);
  EXPECT_THAT(again.operands, HasSubstr("uniform"));

  options.operands = OperandDistribution{std::vector<double>(8, 1), std::vector<double>(8, 1)};
  EXPECT_THAT(error_of([&] { switching_power(n, inverter_library(), options, again); }),
              HasSubstr("netlist inv: the operand distribution has 8 and 8 weights, the circuit's "
                        "2-bit operands have 4 codes"));
  n.nodes.front().gate = "NAND2";
  options.operands.reset();
  EXPECT_THAT(error_of([&] { switching_power(n, inverter_library(), options, again); }),
              HasSubstr("netlist inv: gate NAND2 is not in the library inv"));
}

TEST(OperandDistribution, ReadsAndRejects) {
  const OperandDistribution d =
      parse_operand_distribution(R"({"a": [1, 0, 2.5, 0], "b": [0, 0, 0, 7]})", "d.json");
  EXPECT_EQ(d.a, (std::vector<double>{1, 0, 2.5, 0}));
  EXPECT_EQ(d.b, (std::vector<double>{0, 0, 0, 7}));
  const auto err = [](const char* text) {
    return error_of([&] { parse_operand_distribution(text, "d.json"); });
  };
  EXPECT_THAT(err("{\"a\": [1, 2, 3, 4]"), HasSubstr("d.json: not valid JSON"));
  EXPECT_THAT(err("[1, 2]"), HasSubstr("d.json: expected an object"));
  EXPECT_THAT(err(R"({"a": [1, 1, 1, 1]})"), HasSubstr("d.json: no \"b\""));
  EXPECT_THAT(err(R"({"a": [1, 1, 1, 1], "b": [1, 1, 1, 1], "c": 1})"),
              HasSubstr("d.json: unknown key \"c\""));
  EXPECT_THAT(err(R"({"a": 3, "b": [1, 1, 1, 1]})"), HasSubstr("d.json: \"a\" is not an array"));
  EXPECT_THAT(err(R"({"a": [1, 1, 1], "b": [1, 1, 1, 1]})"),
              HasSubstr("d.json: \"a\" has 3 weights; expected 2^b"));
  EXPECT_THAT(err(R"({"a": [1, 1], "b": [1, 1]})"), HasSubstr("\"a\" has 2 weights"));
  EXPECT_THAT(err(R"({"a": [1, 1, 1, 1], "b": [1, 1, 1, 1, 1, 1, 1, 1]})"),
              HasSubstr("d.json: \"a\" has 4 weights and \"b\" 8"));
  EXPECT_THAT(err(R"({"a": [1, -1, 1, 1], "b": [1, 1, 1, 1]})"),
              HasSubstr("d.json: \"a\"[1] = -1 is not a non-negative weight"));
  EXPECT_THAT(err(R"({"a": [1, 1, 1, 1], "b": [1, "x", 1, 1]})"),
              HasSubstr("d.json: \"b\"[1] is not a number: \"x\""));
  EXPECT_THAT(err(R"({"a": [1, 1, 1, 1], "b": [0, 0, 0, 0]})"),
              HasSubstr("d.json: all weights of \"b\" are zero"));
  EXPECT_THAT(error_of([] { read_operand_distribution("/nonexistent/d.json"); }),
              HasSubstr("cannot open the operand distribution /nonexistent/d.json"));
}

// An unsigned 4x4 array multiplier: AND partial products summed row by row with ripple-carry
// adders (full adders as XOR3 and majority covers).
Netlist multiplier4() {
  Netlist n;
  n.name = "mul4";
  std::vector<NetId> a, b;
  for (int i = 0; i < 4; ++i) a.push_back(n.net(fmt::format("A[{}]", i)));
  for (int i = 0; i < 4; ++i) b.push_back(n.net(fmt::format("B[{}]", i)));
  n.inputs = a;
  n.inputs.insert(n.inputs.end(), b.begin(), b.end());
  const auto gate = [&](std::vector<NetId> in, std::vector<std::string> cubes) {
    return n.add_node(std::move(in), std::move(cubes), true, n.new_net());
  };
  std::vector<NetId> acc;  // the sum so far, LSB first
  for (int j = 0; j < 4; ++j) {
    std::vector<NetId> row(static_cast<size_t>(j), -1);  // -1: a constant 0 bit
    for (int i = 0; i < 4; ++i) row.push_back(gate({a[i], b[j]}, {"11"}));
    std::vector<NetId> sum;
    NetId carry = -1;
    for (size_t k = 0; k < std::max(acc.size(), row.size()); ++k) {
      std::vector<NetId> in;
      for (const NetId x : {k < acc.size() ? acc[k] : -1, row[k], carry})
        if (x >= 0) in.push_back(x);
      if (in.size() == 1) {
        sum.push_back(in[0]);
        carry = -1;
      } else if (in.size() == 2) {
        sum.push_back(gate(in, {"10", "01"}));
        carry = gate(in, {"11"});
      } else {
        sum.push_back(gate(in, {"100", "010", "001", "111"}));
        carry = gate(in, {"11-", "1-1", "-11"});
      }
    }
    if (carry >= 0) sum.push_back(carry);
    acc = sum;
  }
  for (size_t bit = 0; bit < 8; ++bit) {
    const NetId out = n.net(fmt::format("O[{}]", bit));
    if (bit < acc.size())
      n.add_node({acc[bit]}, {"1"}, true, out);
    else
      n.add_node({}, {}, true, out);
    n.outputs.push_back(out);
  }
  return n;
}

TEST(MapWithAbc, MapsATinyMultiplierToLibraryGates) {
  SKIP_WITHOUT_ABC();
  const Netlist n = multiplier4();
  const MappedCircuit mapped = map_with_abc(n);
  // Every node a library gate, and the same function.
  for (const Node& node : mapped.netlist.nodes) EXPECT_NE(mapped.library.find(node.gate), nullptr);
  const Multiplier before = simulate_multiplier(n, {}, false, "before");
  const Multiplier after = simulate_multiplier(mapped.netlist, {}, false, "after");
  EXPECT_TRUE(std::equal(before.lut().begin(), before.lut().end(), after.lut().begin()));
  // 16 AND2 (1.5 GE each) and 12 adder cells (a full adder's XOR3 and MAJ3 about 9 GE): some
  // tens of gate equivalents.
  std::printf("4x4 array: area %.1f, delay %.1f, levels %ld, gates %ld\n", mapped.cost.area,
              mapped.cost.delay, static_cast<long>(mapped.cost.levels),
              static_cast<long>(mapped.cost.gates));
  EXPECT_GT(mapped.cost.area, 40);
  EXPECT_LT(mapped.cost.area, 150);
  EXPECT_GT(mapped.cost.delay, 10);
  EXPECT_LT(mapped.cost.delay, 100);
  EXPECT_GE(mapped.cost.levels, 4);
  EXPECT_GT(mapped.cost.gates, 20);
  EXPECT_THAT(mapped.cost.flow, HasSubstr("map -a; print_stats"));
  EXPECT_EQ(mapped.cost.library, default_genlib_path().string());
  double area = 0;
  for (const Node& node : mapped.netlist.nodes) area += mapped.library.find(node.gate)->area;
  EXPECT_NEAR(area, mapped.cost.area, 0.01);  // print_stats agrees with the netlist read back
}

TEST(MapWithAbc, PowerFollowsTheOperandDistribution) {
  SKIP_WITHOUT_ABC();
  const Netlist n = multiplier4();
  const CircuitCost uniform = estimate_cost(n);
  EXPECT_GT(uniform.power, 0);
  EXPECT_GT(uniform.toggle_rate, 0.1);
  // Mostly zero operands (as after ReLU and pruning) switch far less.
  CostOptions options;
  std::vector<double> mostly_zero(16, 1);
  mostly_zero[0] = 100;
  options.power.operands = OperandDistribution{mostly_zero, mostly_zero};
  const CircuitCost sparse = estimate_cost(n, options);
  EXPECT_EQ(sparse.area, uniform.area);
  EXPECT_LT(sparse.power, 0.5 * uniform.power);
  // Constant operands switch nothing.
  std::vector<double> only_five(16, 0);
  only_five[5] = 1;
  options.power.operands = OperandDistribution{only_five, only_five};
  EXPECT_EQ(estimate_cost(n, options).power, 0);

  const RelativeCost relative = relative_to(sparse, uniform);
  EXPECT_EQ(relative.area, 1);
  EXPECT_NEAR(relative.power, sparse.power / uniform.power, 1e-12);
  const nlohmann::ordered_json json = cost_to_json(sparse, relative);
  EXPECT_EQ(json["area"], sparse.area);
  EXPECT_EQ(json["power"], sparse.power);
  EXPECT_EQ(json["relative"]["power"], relative.power);
  EXPECT_EQ(json.begin().key(), "area");
  EXPECT_FALSE(cost_to_json(sparse).contains("relative"));
  CircuitCost zero = uniform;
  zero.power = 0;
  EXPECT_THAT(error_of([&] { relative_to(uniform, zero); }),
              HasSubstr("the exact multiplier's power is 0"));
}

TEST(MapWithAbc, ErrorsNameTheToolAndShowItsOutput) {
  SKIP_WITHOUT_ABC();
  AbcOptions options;
  options.optimization = "no_such_command";
  const std::string err = error_of([&] { map_with_abc(tiny_netlist(), options); });
  EXPECT_THAT(err, HasSubstr("netlist tiny:"));
  EXPECT_THAT(err, HasSubstr("no_such_command"));
  EXPECT_THAT(err, HasSubstr("its output:"));

  const TempDir empty("axnn-path");
  const std::string path = std::getenv("PATH");
  ::setenv("PATH", empty.path().c_str(), 1);
  const std::string missing = error_of([] { map_with_abc(tiny_netlist()); });
  ::setenv("PATH", path.c_str(), 1);
  EXPECT_THAT(missing, HasSubstr("neither berkeley-abc nor yosys-abc is on PATH (Debian package "
                                 "berkeley-abc"));
}

// --- The key check: estimates rank the EvoApprox circuits as their published figures ----------

std::vector<double> ranks(const std::vector<double>& v) {  // 1-based, ties get their mean rank
  std::vector<size_t> order(v.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t i, size_t j) { return v[i] < v[j]; });
  std::vector<double> r(v.size());
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    while (j + 1 < order.size() && v[order[j + 1]] == v[order[i]]) ++j;
    for (size_t k = i; k <= j; ++k) r[order[k]] = static_cast<double>(i + j) / 2 + 1;
    i = j + 1;
  }
  return r;
}

double pearson(const std::vector<double>& x, const std::vector<double>& y) {
  const double n = static_cast<double>(x.size());
  const double mx = std::accumulate(x.begin(), x.end(), 0.0) / n;
  const double my = std::accumulate(y.begin(), y.end(), 0.0) / n;
  double sxy = 0, sxx = 0, syy = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) * (x[i] - mx);
    syy += (y[i] - my) * (y[i] - my);
  }
  return sxy / std::sqrt(sxx * syy);
}

double spearman(const std::vector<double>& x, const std::vector<double>& y) {
  return pearson(ranks(x), ranks(y));
}

TEST(Spearman, RanksWithTies) {
  EXPECT_DOUBLE_EQ(spearman({1, 2, 3}, {10, 20, 30}), 1.0);
  EXPECT_DOUBLE_EQ(spearman({1, 2, 3}, {3, 2, 1}), -1.0);
  EXPECT_EQ(ranks({5, 1, 5, 0}), (std::vector<double>{3.5, 2, 3.5, 1}));
}

using test_util::EvoApproxCircuit;

TEST(EvoApprox, EstimatesRankAsThePublishedFigures) {
  SKIP_WITHOUT_ABC();
  if (!find_program("yosys")) GTEST_SKIP() << "yosys is not on PATH: Debian package yosys";
  const std::vector<EvoApproxCircuit> circuits = test_util::read_evoapprox();
  if (circuits.empty())
    GTEST_SKIP() << "no EvoApprox test data at " << test_util::evoapprox_dir().string();
  ASSERT_EQ(circuits.size(), 11u);

  std::vector<CircuitCost> costs;
  for (const EvoApproxCircuit& c : circuits) {
    const Netlist netlist = import_verilog(test_util::evoapprox_dir() / c.file, c.name);
    const MappedCircuit mapped = map_with_abc(netlist);
    // The mapped circuit computes what the imported one does.
    const Multiplier before = simulate_multiplier(netlist, {}, c.is_signed, c.name);
    const Multiplier after = simulate_multiplier(mapped.netlist, {}, c.is_signed, c.name);
    EXPECT_TRUE(std::equal(before.lut().begin(), before.lut().end(), after.lut().begin()))
        << c.name;
    CircuitCost cost = mapped.cost;
    switching_power(mapped.netlist, mapped.library, {}, cost);
    costs.push_back(cost);
  }

  const auto exact_of = [&](const EvoApproxCircuit& c) {
    const std::string exact = c.is_signed ? "mul8s_1KV6" : "mul8u_1JJQ";
    for (size_t i = 0; i < circuits.size(); ++i)
      if (circuits[i].name == exact) return i;
    ADD_FAILURE() << "no " << exact;
    return size_t{0};
  };
  std::vector<double> pub_area, pub_power, est_area, est_power;
  std::vector<double> pub_rel_area, pub_rel_power, est_rel_area, est_rel_power;
  for (size_t i = 0; i < circuits.size(); ++i) {
    const EvoApproxCircuit& c = circuits[i];
    const size_t e = exact_of(c);
    const RelativeCost rel = relative_to(costs[i], costs[e]);
    pub_area.push_back(c.area_um2);
    pub_power.push_back(c.power_mw);
    est_area.push_back(costs[i].area);
    est_power.push_back(costs[i].power);
    pub_rel_area.push_back(c.area_um2 / circuits[e].area_um2);
    pub_rel_power.push_back(c.power_mw / circuits[e].power_mw);
    est_rel_area.push_back(rel.area);
    est_rel_power.push_back(rel.power);
    std::printf(
        "%-11s area %6.1f um2 %6.1f GE (rel %.3f / %.3f)  power %.3f mW %7.1f (rel %.3f / "
        "%.3f)  delay %5.1f\n",
        c.name.c_str(), c.area_um2, costs[i].area, pub_rel_area.back(), rel.area, c.power_mw,
        costs[i].power, pub_rel_power.back(), rel.power, costs[i].delay);
  }
  const double area = spearman(pub_area, est_area), power = spearman(pub_power, est_power);
  const double rel_area = spearman(pub_rel_area, est_rel_area);
  const double rel_power = spearman(pub_rel_power, est_rel_power);
  std::printf("Spearman: area %.3f, power %.3f; relative area %.3f, relative power %.3f\n", area,
              power, rel_area, rel_power);
  EXPECT_GE(area, 0.9);
  EXPECT_GE(power, 0.9);
  EXPECT_GE(rel_area, 0.9);
  EXPECT_GE(rel_power, 0.9);
  // The constant-0 "multiplier" costs nothing.
  for (size_t i = 0; i < circuits.size(); ++i) {
    if (circuits[i].name != "mul8u_TD3") continue;
    EXPECT_EQ(costs[i].area, 0);
    EXPECT_EQ(costs[i].power, 0);
    EXPECT_EQ(costs[i].delay, 0);
  }
}

}  // namespace
}  // namespace axnn::netlist
