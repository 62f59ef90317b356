// axnn against TRAM's own published data (github.com/changmg/TRAM, tests/tram/data/NOTICE.md): its
// circuits import bit-exactly, its metrics are reproduced, and its learned demo structure maps to
// the circuit TRAM published.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/subprocess.h"
#include "mult/formats.h"
#include "mult/generators.h"
#include "mult/metrics.h"
#include "netlist/blif.h"
#include "netlist/multiplier_cost.h"
#include "netlist/simulate.h"
#include "tram/columns.h"
#include "tram/map.h"

namespace axnn::tram {
namespace {

std::filesystem::path data(const std::string& file) {
  return std::filesystem::path(AXNN_SOURCE_DIR) / "tests/tram/data" / file;
}

std::vector<int32_t> table(const Multiplier& m) { return {m.lut().begin(), m.lut().end()}; }

// TRAM's learned demo gamma, as transcribed from its phase 1 log.
std::vector<double> learned_gamma() {
  std::ifstream in(data("resnet18_w8a8_lbd0.3_gamma.json"));
  return nlohmann::json::parse(in).at("gamma").get<std::vector<double>>();
}

// TRAM writes its own error figures as "INFO: <what>: <value>" lines above the table.
std::map<std::string, double> tram_header(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::map<std::string, double> figures;
  for (std::string line; std::getline(in, line) && line.rfind("LUT for", 0) != 0;) {
    const size_t colon = line.rfind(": ");
    if (line.rfind("INFO: ", 0) == 0 && colon > 6)
      figures[line.substr(6, colon - 6)] = std::stod(line.substr(colon + 2));
  }
  return figures;
}

Multiplier simulate_blif(const std::string& file, std::string* how = nullptr) {
  const netlist::Netlist net = netlist::read_blif(data(file));
  if (how) *how = netlist::resolve_ports(net, {}).how;
  return netlist::simulate_multiplier(net, {}, /*is_signed=*/false, file);
}

bool have_abc() {
  return find_program("berkeley-abc").has_value() || find_program("yosys-abc").has_value();
}

struct Pair {
  std::string blif, lut;
};

// Both of TRAM's file kinds for the same circuit agree entry by entry, and axnn's metrics give
// back the figures TRAM printed: the ports, operand order and signedness are read as TRAM means.
TEST(TramReference, BlifAndLutTextAgreeBitExactly) {
  for (const Pair& p : {Pair{"resnet18_w8a8_lbd0.3.blif", "resnet18_w8a8_lbd0.3.lut.txt"},
                        Pair{"mul8u_GJM.blif", "mul8u_GJM.txt"}}) {
    SCOPED_TRACE(p.blif);
    std::string how;
    const Multiplier sim = simulate_blif(p.blif, &how);
    EXPECT_EQ(how, "ports IN1, IN2, Out");
    const Multiplier lut = read_multiplier(data(p.lut));
    // w8a8 is unsigned: no negative operand in the text (TRAM says "Unsigned" in the header).
    EXPECT_FALSE(lut.is_signed());
    ASSERT_EQ(lut.bits(), 8);
    int mismatches = 0;
    for (int x = 0; x < 256; ++x)
      for (int w = 0; w < 256; ++w)
        if (sim.at(x, w) != lut.at(x, w) && ++mismatches <= 5)
          ADD_FAILURE() << fmt::format("lut[{}][{}]: BLIF {}, text {}", x, w, sim.at(x, w),
                                       lut.at(x, w));
    EXPECT_EQ(mismatches, 0);

    const auto tram = tram_header(data(p.lut));
    const ErrorMetrics e = compute_metrics(lut);
    const double pairs = 65536;
    ASSERT_TRUE(tram.count("Mean error distance") && tram.count("Max error distance"));
    EXPECT_DOUBLE_EQ(e.wce_pct / 100 * pairs, tram.at("Max error distance"));  // an integer
    // TRAM prints the rest with 6 significant digits.
    EXPECT_NEAR(e.mae_pct / 100 * pairs / tram.at("Mean error distance"), 1, 1e-5);
    EXPECT_NEAR(e.ep_pct / 100, tram.at("Error rate"), 1e-5);
    EXPECT_NEAR(e.nmed / tram.at("Normalized mean error distance"), 1, 1e-5);
    EXPECT_NEAR(e.mse / tram.at("Mean square error"), 1, 1e-5);
    EXPECT_NEAR(e.mred / tram.at("Mean relative error distance"), 1, 1e-5);
  }
  // GJM is not symmetric, so its agreement pins IN1 as the row (the activation).
  const Multiplier gjm = read_multiplier(data("mul8u_GJM.txt"));
  bool symmetric = true;
  for (int x = 0; x < 256 && symmetric; ++x)
    for (int w = 0; w < x && symmetric; ++w) symmetric = gjm.at(x, w) == gjm.at(w, x);
  EXPECT_FALSE(symmetric);
}

// The claim, checked: TRAM's demo circuit for gamma = [1,1,1,1,.17,.20,.19,.15] is the
// 6-column truncation, and axnn's phase 2 maps the same gamma to the same table (both greedies),
// so it is no worse against the target f_gamma.
TEST(TramReference, LearnedDemoStructureIsTheSixColumnTruncation) {
  const std::vector<double> gamma = learned_gamma();
  ASSERT_EQ(gamma.size(), 8u);
  EXPECT_EQ(gamma[3], 1.0);
  EXPECT_NEAR(gamma[4], 0.174248, 1e-9);

  const Multiplier published = simulate_blif("resnet18_w8a8_lbd0.3.blif");
  const Multiplier trunc6 = make_truncated(8, false, 6);
  EXPECT_EQ(table(published), table(trunc6));
  std::vector<bool> keep(15, true);
  for (int c = 0; c < 6; ++c) keep[c] = false;
  EXPECT_EQ(table(published), table(make_columns(8, false, keep)));

  const ErrorMetrics e = compute_metrics(published);
  EXPECT_DOUBLE_EQ(e.mse, 9158.25);
  EXPECT_DOUBLE_EQ(e.mae_pct, 80.25 / 65536 * 100);  // 0.1225%: the columns' mean, 321 / 4

  const std::vector<double> target = structure_table(8, false, gamma);
  const double published_mse = target_mse(published, target);
  const Mapping m = map_structure(gamma, 8, false, {.estimate_cost = false});
  EXPECT_EQ(table(m.axnn.mult), table(published));
  EXPECT_EQ(table(m.tram.mult), table(published));
  EXPECT_LE(m.axnn.target_mse, published_mse + 1e-9);
  EXPECT_NEAR(published_mse, 772.68, 0.01);
  // The greedies improved on their start, the 4-column truncation (gamma's whole columns).
  EXPECT_DOUBLE_EQ(m.start_mse, target_mse(make_truncated(8, false, 4), target));
  EXPECT_NEAR(m.start_mse, 6892.80, 0.01);
  EXPECT_LT(m.axnn.target_mse, m.start_mse);
}

// From TRAM's initial gamma over its learned one to six whole columns: error against the exact
// product rises (the learned one already is the 6-column truncation) and power falls; TRAM's own
// circuit costs what axnn's mapping does.
TEST(TramReference, ErrorRisesAndPowerFallsAlongTramGammas) {
  if (!have_abc()) GTEST_SKIP() << "berkeley-abc (or yosys-abc) is not on PATH";
  const std::vector<std::vector<double>> gammas = {
      {1, 1, 1, 1, 0, 0, 0, 0}, learned_gamma(), {1, 1, 1, 1, 1, 1, 0, 0}};
  std::vector<double> mae, power;
  for (const std::vector<double>& gamma : gammas) {
    const Mapping m = map_structure(gamma, 8, false, {.estimate_cost = true});
    ASSERT_TRUE(m.axnn.cost.has_value());
    mae.push_back(compute_metrics(m.axnn.mult).mae_pct);
    power.push_back(m.axnn.cost->relative.power);
  }
  EXPECT_NEAR(mae[0], 0.018692, 1e-6);  // the 4-column truncation
  EXPECT_LT(mae[0], mae[1]);
  EXPECT_DOUBLE_EQ(mae[1], mae[2]);  // the same table
  EXPECT_LT(power[0], 1);
  EXPECT_LT(power[1], power[0]);
  // Same function through different netlists: abc may differ slightly, never by much.
  EXPECT_NEAR(power[2], power[1], 0.01);

  const netlist::MultiplierCost published =
      netlist::multiplier_cost(netlist::read_blif(data("resnet18_w8a8_lbd0.3.blif")), 8, false);
  EXPECT_NEAR(published.relative.power, power[1], 0.02);
  RecordProperty(
      "power", fmt::format("initial {:.4f}, learned {:.4f}, six {:.4f}, TRAM blif {:.4f}", power[0],
                           power[1], power[2], published.relative.power));
}

}  // namespace
}  // namespace axnn::tram
