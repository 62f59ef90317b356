#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "common/error_of.h"
#include "core/subprocess.h"
#include "mult/formats.h"
#include "mult/generators.h"
#include "mult/metrics.h"
#include "netlist/blif.h"
#include "netlist/simulate.h"
#include "netlist/yosys.h"
#include "tram/columns.h"
#include "tram/map.h"

namespace axnn::tram {
namespace {

using test_util::error_of;
using ::testing::HasSubstr;

std::vector<int32_t> table(const Multiplier& m) { return {m.lut().begin(), m.lut().end()}; }

MapOptions no_cost(netlist::Architecture arch = netlist::Architecture::kWallace) {
  return {arch, /*estimate_cost=*/false};
}

class TempDir {
 public:
  explicit TempDir(const std::string& name)
      : path_(std::filesystem::temp_directory_path() /
              fmt::format("axnn_test_{}_{}", name, ::getpid())) {
    std::filesystem::remove_all(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// A 0/1 gamma needs no forcing: both greedies end where they start, at make_columns.
TEST(TramMap, ZeroOneGammasAreTheColumnMultipliers) {
  for (const netlist::Architecture arch :
       {netlist::Architecture::kWallace, netlist::Architecture::kDadda,
        netlist::Architecture::kArray}) {
    SCOPED_TRACE(netlist::architecture_name(arch));
    const Mapping exact = map_structure(std::vector<double>(8, 0.0), 8, false, no_cost(arch));
    EXPECT_EQ(table(exact.axnn.mult), table(make_exact(8, false)));
    const Mapping trunc = map_structure(std::vector<double>(8, 1.0), 8, false, no_cost(arch));
    EXPECT_EQ(table(trunc.axnn.mult), table(make_truncated(8, false, 8)));
    for (const Mapping* m : {&exact, &trunc}) {
      EXPECT_TRUE(m->axnn.circuit.forced.empty());
      EXPECT_TRUE(m->tram.circuit.forced.empty());
      EXPECT_EQ(m->axnn.target_mse, 0);
    }
  }
  const std::vector<double> gamma = {1, 0, 1, 1, 0, 0, 1};
  std::vector<bool> keep(7, true);
  for (size_t c = 0; c < gamma.size(); ++c) keep[c] = gamma[c] == 0;
  const Mapping cols = map_structure(gamma, 4, true, no_cost());
  EXPECT_EQ(table(cols.axnn.mult), table(make_columns(4, true, keep)));
  EXPECT_EQ(table(cols.tram.mult), table(make_columns(4, true, keep)));
  EXPECT_EQ(table(map_structure({1, 1, 1}, 4, true, no_cost()).axnn.mult),
            table(make_truncated(4, true, 3)));
  EXPECT_EQ(table(map_structure({0, 0}, 4, true, no_cost()).axnn.mult), table(make_exact(4, true)));
}

// Replays a greedy's kept changes from its cells: each one strictly lowered the target MSE. A
// change is one entry (TRAM's sum or carry) or, with `per_adder`, the entries of one adder (axnn's
// joint step).
void expect_each_change_lowers(const MappedCircuit& mapped, double start_mse,
                               std::span<const double> target, bool per_adder) {
  const std::vector<netlist::ForcedAdder>& all = mapped.circuit.forced;
  netlist::MultiplierCircuit c = mapped.circuit;
  c.forced.clear();
  // axnn's may start from fewer cells (columns dropped whole), never from a worse start.
  double mse = target_mse(netlist::simulate_circuit(c), target);
  EXPECT_LE(mse, start_mse);
  for (size_t i = 0; i < all.size(); ++i) {
    c.forced.push_back(all[i]);
    if (per_adder && i + 1 < all.size() && all[i + 1].id == all[i].id) continue;
    const double next = target_mse(netlist::simulate_circuit(c), target);
    EXPECT_LT(next, mse) << netlist::circuit_name(c);
    mse = next;
  }
  EXPECT_DOUBLE_EQ(mse, mapped.target_mse);
}

struct Case {
  std::vector<double> gamma;
  int bits;
  bool is_signed;
  bool ones_pay;  // forcing to 1 halves the error at least
};

// The mapped table is what the written BLIF and Verilog compute; forcing to 0 or 1 never does
// worse than forcing to 0 alone, and neither greedy leaves the error above its start.
TEST(TramMap, AxnnDropsAColumnWholeWhereThatIsCloser) {
  // Column 0 holds one cell and no adder: only dropping the cell reaches a gamma near 1.
  const std::vector<double> gamma = {0.999, 1, 0.2, 0, 0, 0, 0, 0};
  const Mapping m = map_structure(gamma, 8, false, no_cost());
  std::vector<bool> keep(15, true);
  keep[0] = keep[1] = false;
  EXPECT_TRUE(m.tram.circuit.keep_columns[0]);
  EXPECT_FALSE(m.axnn.circuit.keep_columns[0]);
  EXPECT_LT(m.axnn.target_mse, m.tram.target_mse);
  // With column 2 kept, the rest is make_columns' function but for column 2's forced outputs.
  EXPECT_EQ(m.axnn.circuit.keep_columns, keep);
}

TEST(TramMap, FractionalGammasMapToTheWrittenCircuits) {
  const bool yosys = find_program("yosys").has_value();
  const TempDir dir("tram_map");
  // The last two reach columns of negative cells, where forcing to 1 pays.
  for (const Case& k : {Case{{1, 1, 1, 0.6, 0, 0, 0, 0}, 8, false, false},
                        Case{{0.5, 0.5, 0.5, 0.5, 0.25, 0, 0, 0}, 8, false, false},
                        Case{{1, 0.5, 0.3, 0}, 4, true, false},
                        Case{{1, 1, 1, 1, 1, 1, 1, 0.7, 0.2}, 8, true, true},
                        Case{{1, 1, 1, 0.7, 0.3}, 4, true, true}}) {
    SCOPED_TRACE(fmt::format("gamma {} at {} bits", fmt::join(k.gamma, ","), k.bits));
    const Mapping m = map_structure(k.gamma, k.bits, k.is_signed, no_cost());
    const std::vector<double> target = structure_table(k.bits, k.is_signed, k.gamma);
    EXPECT_LE(m.tram.target_mse, m.start_mse);
    EXPECT_LE(m.axnn.target_mse, m.tram.target_mse);
    EXPECT_FALSE(m.axnn.circuit.forced.empty()) << "nothing forced: a weak test case";
    for (const netlist::ForcedAdder& f : m.tram.circuit.forced) EXPECT_EQ(f.value, 0);
    expect_each_change_lowers(m.tram, m.start_mse, target, false);
    expect_each_change_lowers(m.axnn, m.start_mse, target, true);
    EXPECT_DOUBLE_EQ(target_mse(m.axnn.mult, target), m.axnn.target_mse);
    if (k.ones_pay) {
      EXPECT_LT(m.axnn.target_mse, 0.5 * m.tram.target_mse);
      EXPECT_TRUE(std::any_of(m.axnn.circuit.forced.begin(), m.axnn.circuit.forced.end(),
                              [](const netlist::ForcedAdder& f) { return f.value == 1; }));
    }

    const nlohmann::ordered_json j = write_mapping(m, dir.path());
    const std::string name = m.axnn.mult.name();
    EXPECT_EQ(j["axnn"]["circuit"], name);
    EXPECT_EQ(j["tram"]["circuit"], m.tram.mult.name());
    EXPECT_EQ(j["axnn"]["forced"].size(), m.axnn.circuit.forced.size());
    EXPECT_DOUBLE_EQ(j["axnn"]["metrics"]["mse"].get<double>(), compute_metrics(m.axnn.mult).mse);
    EXPECT_TRUE(j["axnn"]["cost"].is_null());
    EXPECT_EQ(table(read_multiplier(dir.path() / (name + ".axm"))), table(m.axnn.mult));
    const netlist::Netlist blif = netlist::read_blif(dir.path() / (name + ".blif"));
    EXPECT_EQ(table(netlist::simulate_multiplier(blif, {}, k.is_signed, name)), table(m.axnn.mult));
    if (!yosys) continue;
    const netlist::Netlist verilog = netlist::import_verilog(dir.path() / (name + ".v"));
    EXPECT_EQ(table(netlist::simulate_multiplier(verilog, {}, k.is_signed, name)),
              table(m.axnn.mult));
  }
  if (!yosys) GTEST_SKIP() << "yosys is not on PATH (Debian package yosys): Verilog unchecked";
}

// More columns removed: less power, more error against the exact product; a fractional column
// lies in between.
TEST(TramMap, PowerFallsAndErrorRisesWithTheColumnsRemoved) {
  if (!find_program("berkeley-abc") && !find_program("yosys-abc"))
    GTEST_SKIP() << "berkeley-abc (or yosys-abc) is not on PATH: Debian package berkeley-abc";
  double power = 1.01, mse = -1;
  for (const std::vector<double>& gamma : {std::vector<double>{1, 1, 1, 0, 0, 0, 0, 0},
                                           {1, 1, 1, 0.6, 0, 0, 0, 0},
                                           {1, 1, 1, 1, 0, 0, 0, 0},
                                           {1, 1, 1, 1, 1, 0, 0, 0}}) {
    const Mapping m = map_structure(gamma, 8, false);
    SCOPED_TRACE(m.axnn.mult.name());
    ASSERT_TRUE(m.axnn.cost && m.tram.cost);
    const double p = m.axnn.cost->relative.power;
    EXPECT_EQ(m.axnn.mult.meta().relative_power, p);
    EXPECT_LT(p, power);
    const double e = compute_metrics(m.axnn.mult).mse;
    EXPECT_GT(e, mse);
    power = p;
    mse = e;
    EXPECT_LT(m.axnn.cost->relative.area, 1);
  }
}

TEST(TramMap, ErrorsNameTheValueAtFault) {
  EXPECT_THAT(error_of([] {
                map_structure({1, 1.5}, 8, false, no_cost());
              }),
              HasSubstr("gamma of column 1 is 1.5, outside [0, 1]"));
  EXPECT_THAT(error_of([] { map_structure(std::vector<double>(8, 0.0), 4, false, no_cost()); }),
              HasSubstr("8 gamma values given, a 4-bit multiplier has 7"));
  EXPECT_THAT(error_of([] { map_structure({0}, 9, false, no_cost()); }), HasSubstr("bits = 9"));
}

}  // namespace
}  // namespace axnn::tram
