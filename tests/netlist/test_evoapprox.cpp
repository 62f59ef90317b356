// The 11 EvoApprox netlists in shared/data/evoapprox, imported through yosys: each table matches
// its published SHA-256 and each error metric its published value to the printed rounding.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "common/error_of.h"
#include "common/evoapprox.h"
#include "core/subprocess.h"
#include "mult/metrics.h"
#include "netlist/simulate.h"
#include "netlist/yosys.h"

namespace axnn::netlist {
namespace {

// Half a unit of the last printed digit: "0.0079" -> 0.00005, "72829.102e2" -> 0.05.
double rounding_of(const std::string& printed) {
  const size_t e = printed.find_first_of("eE");
  const std::string mantissa = printed.substr(0, e);
  const size_t dot = mantissa.find('.');
  const int decimals = dot == std::string::npos ? 0 : static_cast<int>(mantissa.size() - dot - 1);
  const int exponent = e == std::string::npos ? 0 : std::stoi(printed.substr(e + 1));
  return 0.5 * std::pow(10.0, exponent - decimals) * (1 + 1e-9);
}

std::string sha256_of_table(const Multiplier& m) {
  const TempDir dir("axnn-test");
  const std::filesystem::path path = dir.path() / "lut.bin";
  {
    std::ofstream out(path, std::ios::binary);
    for (const int32_t v : m.lut()) {
      const auto u = static_cast<uint32_t>(v);
      const char bytes[4] = {static_cast<char>(u & 0xFF), static_cast<char>((u >> 8) & 0xFF),
                             static_cast<char>((u >> 16) & 0xFF), static_cast<char>(u >> 24)};
      out.write(bytes, 4);
    }
  }
  return run_process({"sha256sum", path.string()}).output.substr(0, 64);
}

using test_util::evoapprox_dir;

bool have_data_and_yosys() { return !test_util::read_evoapprox().empty() && find_program("yosys"); }

TEST(EvoApprox, ImportedTablesAndMetricsMatchThePublishedOnes) {
  if (!have_data_and_yosys())
    GTEST_SKIP() << "needs yosys on PATH and " << evoapprox_dir().string();
  const std::vector<test_util::EvoApproxCircuit> rows = test_util::read_evoapprox();
  ASSERT_EQ(rows.size(), 11u);
  for (const test_util::EvoApproxCircuit& p : rows) {
    const Netlist netlist = import_verilog(evoapprox_dir() / p.file, p.name);
    EXPECT_EQ(netlist.name, p.name);
    const Multiplier m = simulate_multiplier(netlist, {}, p.is_signed, p.name);
    ASSERT_EQ(m.bits(), 8) << p.name;
    EXPECT_EQ(sha256_of_table(m), p.lut_sha256) << p.name;
    const ErrorMetrics e = compute_metrics(m);
    const double ours[6] = {e.mae_pct, e.wce_pct, e.wcre_pct, e.ep_pct, e.mre_pct, e.mse};
    const char* names[6] = {"MAE%", "WCE%", "WCRE%", "EP%", "MRE%", "MSE"};
    // EvoApprox derives MAE% from MAE printed to one decimal (mul8s_1KV8: MAE 1.25 printed as
    // 1.2, so MAE% 0.0018 where 1.25 gives 0.0019): MAE%'s tolerance includes that rounding.
    const double mae_rounding = 0.05 / 65536 * 100;
    for (int i = 0; i < 6; ++i)
      EXPECT_NEAR(
          ours[i], std::stod(p.printed_metrics[static_cast<size_t>(i)]),
          rounding_of(p.printed_metrics[static_cast<size_t>(i)]) + (i == 0 ? mae_rounding : 0))
          << p.name << " " << names[i];
  }
}

TEST(EvoApprox, TopModuleIsFoundWithoutBeingNamed) {
  if (!have_data_and_yosys())
    GTEST_SKIP() << "needs yosys on PATH and " << evoapprox_dir().string();
  // The signed files define their half/full adder cells after the multiplier.
  EXPECT_EQ(import_verilog(evoapprox_dir() / "mul8s_1L2N.v").name, "mul8s_1L2N");
}

TEST(YosysImport, ClearErrors) {
  using test_util::error_of;
  using ::testing::HasSubstr;
  if (!find_program("yosys")) GTEST_SKIP() << "needs yosys on PATH";
  const TempDir dir("axnn-test");
  const std::filesystem::path bad = dir.path() / "bad.v";
  std::ofstream(bad) << "module m(input a, output y); assign y = a &; endmodule\n";
  const std::string error = error_of([&] { import_verilog(bad); });
  EXPECT_THAT(error, HasSubstr("bad.v: yosys failed"));
  EXPECT_THAT(error, HasSubstr("syntax error"));  // yosys's log comes along
  EXPECT_THAT(error_of([&] { import_verilog(bad, "m; shell"); }),
              HasSubstr("'m; shell' is not a Verilog module name"));
  EXPECT_THAT(error_of([&] { import_verilog(dir.path() / "none.v"); }), HasSubstr("not found"));
  EXPECT_THAT(error_of([&] { read_circuit(dir.path() / "x.txt"); }),
              HasSubstr("unknown circuit format '.txt'"));
  // Without yosys on PATH the error says which package brings it.
  const std::string path = std::getenv("PATH");
  ::setenv("PATH", dir.path().c_str(), 1);
  const std::string missing = error_of([&] { import_verilog(bad); });
  ::setenv("PATH", path.c_str(), 1);
  EXPECT_THAT(missing, HasSubstr("importing Verilog needs yosys, which is not on PATH (Debian "
                                 "package yosys"));
}

}  // namespace
}  // namespace axnn::netlist
