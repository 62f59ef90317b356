// The CSV files in the seeds' layout.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "core/error.h"
#include "core/files.h"
#include "core/subprocess.h"
#include "energy/results.h"

namespace axnn::energy {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

KernelResult kernel(int64_t id, double gflops, std::optional<double> energy_mj, double time_ms) {
  KernelResult k;
  k.id = id;
  k.trial = 10 + id;
  Measurement& m = k.measurement;
  m.windows = {Window{1000, time_ms, std::nullopt}};
  m.time_ms = {time_ms, time_ms * 0.9, time_ms * 1.1};
  m.gflops = {gflops, gflops, gflops};
  if (energy_mj) {
    m.energy_source = EnergySource::kSampledPower;
    m.energy_mj = Spread{*energy_mj, *energy_mj - 1, *energy_mj + 1};
    m.edp = Spread{*energy_mj * time_ms, 0, 0};
    m.power_watts = Spread{*energy_mj / time_ms, 0, 0};
  }
  k.power_limit_watts = 250;
  return k;
}

TEST(Results, CapLabels) {
  EXPECT_EQ(cap_label(std::nullopt), "current");
  EXPECT_EQ(cap_label(300.0), "cap300");
  EXPECT_EQ(cap_label(162.5), "cap162.5");
}

TEST(Results, ResultsCsvKeepsTheSeedsFirstFourColumns) {
  const std::string csv = results_csv({kernel(1, 1234, 15.67, 0.123), kernel(2, 900, {}, 2)});
  EXPECT_THAT(csv, StartsWith("id,perf(GFLOP/s),energy(mJ),EDP(ms*mJ),time(ms),"));
  EXPECT_THAT(csv, HasSubstr("\n1,1234,15.67,1.92741,0.123,0.1107,0.1353,14.67,16.67,0,0,127.398,"
                             "250,1000,1,11,sampled power\n"));
  // No energy: perf and time only, energy columns empty.
  EXPECT_THAT(csv, HasSubstr("\n2,900,,,2,1.8,2.2,,,,,,250,1000,1,12,none\n"));
}

TEST(Results, AllCsvPutsCapsSideBySide) {
  CapResults low, high;
  low.cap_watts = 150;
  low.kernels = {kernel(1, 100, 10, 1), kernel(2, 50, 8, 2)};
  high.cap_watts = 300;
  high.kernels = {kernel(2, 60, 9, 1.5)};
  EXPECT_EQ(all_csv({low, high}),
            "id,perf(GFLOP/s)[cap150],energy(mJ)[cap150],EDP(ms*mJ)[cap150],"
            "perf(GFLOP/s)[cap300],energy(mJ)[cap300],EDP(ms*mJ)[cap300]\n"
            "1,100,10,10,,,\n"
            "2,50,8,16,60,9,13.5\n");
}

TEST(Results, WritesTheSeedsLayout) {
  TempDir tmp("axnn-energy-results");
  CapResults current;
  current.kernels = {kernel(1, 100, {}, 1)};
  current.info = {{"probe", "null"}};
  const std::filesystem::path folder = write_energy_results(tmp.path(), "case1", {current});
  EXPECT_EQ(folder, tmp.path() / "energy" / "case1");
  EXPECT_THAT(read_text_file(folder / "current" / "results.csv"), HasSubstr("\n1,100,,,1,"));
  EXPECT_EQ(read_text_file(folder / "current" / "info.json"), "{\n  \"probe\": \"null\"\n}\n");
  EXPECT_EQ(read_text_file(folder / "all.csv"),
            "id,perf(GFLOP/s)[current],energy(mJ)[current],EDP(ms*mJ)[current]\n1,100,,\n");
  EXPECT_THROW(write_energy_results(tmp.path(), "../escape", {current}), Error);
}

}  // namespace
}  // namespace axnn::energy
