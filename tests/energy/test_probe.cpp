// The probes: NVML against the fake library, RAPL against a fake powercap tree, the null probe,
// and the choice by target with its fallback.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <functional>
#include <string>

#include "common/error_of.h"
#include "core/error.h"
#include "core/files.h"
#include "core/subprocess.h"
#include "energy/fake_nvml.h"
#include "energy/probe.h"

namespace axnn::energy {
namespace {

namespace fs = std::filesystem;
using testing::FakeNvml;
using ::testing::HasSubstr;

using test_util::error_of;

TEST(NvmlProbe, ReadsCounterPowerAndLimitsInSiUnits) {
  FakeNvml& fake = FakeNvml::get();
  auto probe = make_nvml_probe(fake.path());
  ASSERT_TRUE(probe->available()) << probe->unavailable_reason();
  EXPECT_EQ(probe->name(), "nvml");
  EXPECT_EQ(probe->device(), "Fake GPU 9000");
  ASSERT_TRUE(probe->has_energy_counter());
  EXPECT_DOUBLE_EQ(probe->energy_joules(), 1000.0);
  fake.add_energy_mj(2500);
  EXPECT_DOUBLE_EQ(probe->energy_joules(), 1002.5);
  EXPECT_DOUBLE_EQ(*probe->power_watts(), 150.0);
  const PowerLimits limits = probe->power_limits();
  EXPECT_DOUBLE_EQ(*limits.current, 250.0);
  EXPECT_DOUBLE_EQ(*limits.default_limit, 300.0);
  EXPECT_DOUBLE_EQ(*limits.min, 100.0);
  EXPECT_DOUBLE_EQ(*limits.max, 350.0);
  const std::string text = describe_probe(*probe);
  EXPECT_THAT(text, HasSubstr("device: Fake GPU 9000"));
  EXPECT_THAT(text, HasSubstr("energy counter: yes (1002.500 J now)"));
  EXPECT_THAT(text, HasSubstr("power limit: 250 W (default 300 W, min 100 W, max 350 W)"));
  EXPECT_EQ(fake.set_calls(), 0) << "reading must never set a limit";
}

TEST(NvmlProbe, WithoutEnergyCounterSaysSo) {
  FakeNvml& fake = FakeNvml::get();
  fake.configure("energy_supported", 0);
  auto probe = make_nvml_probe(fake.path());
  ASSERT_TRUE(probe->available());
  EXPECT_FALSE(probe->has_energy_counter());
  EXPECT_THAT(error_of([&] { probe->energy_joules(); }), HasSubstr("has no NVML energy counter"));
  EXPECT_THAT(describe_probe(*probe), HasSubstr("integrated from sampled power"));
}

TEST(NvmlProbe, SetsMilliwattsAndExplainsRefusals) {
  FakeNvml& fake = FakeNvml::get();
  auto probe = make_nvml_probe(fake.path());
  probe->set_power_limit(200.5);
  EXPECT_EQ(fake.last_set_mw(), 200500u);
  fake.configure("set_permitted", 0);
  EXPECT_THAT(error_of([&] { probe->set_power_limit(200); }),
              HasSubstr("to 200 W is not permitted (NVML: Insufficient Permissions (code 4)): it "
                        "needs root"));
  EXPECT_FALSE(probe->set_power_limit_from_signal(250));
}

TEST(NvmlProbe, UnavailableWithTheReason) {
  auto missing = make_nvml_probe("/nonexistent/libnvidia-ml.so.1");
  EXPECT_FALSE(missing->available());
  EXPECT_THAT(missing->unavailable_reason(),
              HasSubstr("cannot open the NVML library /nonexistent/libnvidia-ml.so.1"));
  EXPECT_THAT(error_of([&] { missing->power_limits(); }), HasSubstr("NVML not available"));
  EXPECT_THAT(describe_probe(*missing), HasSubstr("available: no: cannot open the NVML library"));

  auto not_nvml = make_nvml_probe("libm.so.6");
  EXPECT_THAT(not_nvml->unavailable_reason(), HasSubstr("libm.so.6 has no nvmlInit_v2"));

  FakeNvml& fake = FakeNvml::get();
  fake.configure("init_fails", 1);
  EXPECT_EQ(make_nvml_probe(fake.path())->unavailable_reason(),
            "nvmlInit_v2 failed: Uninitialized (code 1)");
  EXPECT_THAT(make_nvml_probe(fake.path(), 3)->unavailable_reason(),
              HasSubstr("nvmlInit_v2 failed"));
  fake.configure("init_fails", 0);
  EXPECT_THAT(make_nvml_probe(fake.path(), 3)->unavailable_reason(),
              HasSubstr("no GPU 3 (nvmlDeviceGetHandleByIndex_v2: Invalid Argument"));
}

TEST(MakeProbe, CudaUsesNvmlFromTheEnvironmentOrFallsBackToNull) {
  FakeNvml& fake = FakeNvml::get();
  ASSERT_EQ(setenv("AXNN_NVML_LIBRARY", fake.path().c_str(), 1), 0);
  auto probe = make_probe(tune::Target::kCuda);
  EXPECT_EQ(probe->name(), "nvml");
  EXPECT_EQ(probe->device(), "Fake GPU 9000");
  ASSERT_EQ(setenv("AXNN_NVML_LIBRARY", "/nonexistent/nvml.so", 1), 0);
  probe = make_probe(tune::Target::kCuda);
  EXPECT_EQ(probe->name(), "null");
  EXPECT_THAT(probe->unavailable_reason(),
              HasSubstr("nvml: cannot open the NVML library /nonexistent/nvml.so"));
  unsetenv("AXNN_NVML_LIBRARY");
}

TEST(NullProbe, ReportsNotAvailableAndRefusesEverything) {
  auto probe = make_null_probe("no GPU here");
  EXPECT_FALSE(probe->available());
  EXPECT_EQ(probe->unavailable_reason(), "no GPU here");
  EXPECT_FALSE(probe->has_energy_counter());
  EXPECT_FALSE(probe->power_watts().has_value());
  EXPECT_FALSE(probe->power_limits().current.has_value());
  EXPECT_EQ(error_of([&] { probe->energy_joules(); }), "energy not available: no GPU here");
  EXPECT_THAT(error_of([&] { probe->set_power_limit(100); }),
              HasSubstr("cannot set a power limit of 100 W"));
  EXPECT_EQ(describe_probe(*probe), "probe: null\navailable: no: no GPU here\n");
}

// A powercap tree: packages 0 and 1, a core sub-zone of package 0 and a psys zone that must not
// be counted.
void write_zone(const fs::path& root, const std::string& dir, const std::string& name,
                uint64_t energy_uj, uint64_t range_uj) {
  fs::create_directories(root / dir);
  write_text_file(root / dir / "name", name + "\n");
  write_text_file(root / dir / "energy_uj", std::to_string(energy_uj) + "\n");
  write_text_file(root / dir / "max_energy_range_uj", std::to_string(range_uj) + "\n");
}

TEST(RaplProbe, SumsPackagesAndHandlesWraparound) {
  TempDir tmp("axnn-rapl");
  const fs::path root = tmp.path();
  write_zone(root, "intel-rapl:0", "package-0", 1'000'000, 10'000'000);
  write_zone(root, "intel-rapl:0:0", "core", 5'000'000, 10'000'000);
  write_zone(root, "intel-rapl:1", "package-1", 2'000'000, 20'000'000);
  write_zone(root, "intel-rapl:2", "psys", 7'000'000, 10'000'000);
  write_text_file(root / "intel-rapl:0" / "constraint_0_power_limit_uw", "65000000\n");
  write_text_file(root / "intel-rapl:1" / "constraint_0_power_limit_uw", "70000000\n");

  auto probe = make_rapl_probe(root);
  ASSERT_TRUE(probe->available()) << probe->unavailable_reason();
  EXPECT_EQ(probe->device(), "package-0+package-1");
  EXPECT_TRUE(probe->has_energy_counter());
  const double start = probe->energy_joules();
  EXPECT_DOUBLE_EQ(start, 3.0);  // the packages' counters: 1 J + 2 J
  write_text_file(root / "intel-rapl:0" / "energy_uj", "1500000\n");    // +0.5 J
  write_text_file(root / "intel-rapl:0:0" / "energy_uj", "9000000\n");  // sub-zone: ignored
  write_text_file(root / "intel-rapl:2" / "energy_uj", "9000000\n");    // psys: ignored
  EXPECT_DOUBLE_EQ(probe->energy_joules() - start, 0.5);
  // Package 1 wraps: from 2 J up to its 20 J range, then on to 1 J: 19 J.
  write_text_file(root / "intel-rapl:1" / "energy_uj", "1000000\n");
  EXPECT_DOUBLE_EQ(probe->energy_joules() - start, 19.5);
  write_text_file(root / "intel-rapl:1" / "energy_uj", "1250000\n");
  EXPECT_DOUBLE_EQ(probe->energy_joules() - start, 19.75);

  const PowerLimits limits = probe->power_limits();
  EXPECT_DOUBLE_EQ(*limits.current, 135.0);
  EXPECT_FALSE(limits.max.has_value());  // constraint_0_max_power_uw absent
  EXPECT_FALSE(probe->power_watts().has_value());
  EXPECT_THAT(error_of([&] { probe->set_power_limit(100); }),
              HasSubstr("axnn does not set RAPL power limits (asked for 100 W on package-0+"));

  write_text_file(root / "intel-rapl:1" / "energy_uj", "garbage\n");
  EXPECT_THAT(error_of([&] { probe->energy_joules(); }),
              HasSubstr("intel-rapl:1/energy_uj: expected a non-negative integer, read 'garbage'"));
}

TEST(RaplProbe, UnavailableWithTheReason) {
  TempDir tmp("axnn-rapl");
  EXPECT_THAT(make_rapl_probe(tmp.path() / "none")->unavailable_reason(),
              HasSubstr("none does not exist (no powercap support"));
  write_zone(tmp.path(), "intel-rapl:0:0", "core", 1, 10);
  EXPECT_THAT(make_rapl_probe(tmp.path())->unavailable_reason(),
              HasSubstr("has no RAPL package zones"));
  fs::create_directories(tmp.path() / "intel-rapl:0");
  write_text_file(tmp.path() / "intel-rapl:0" / "name", "package-0\n");
  EXPECT_THAT(make_rapl_probe(tmp.path())->unavailable_reason(),
              HasSubstr("max_energy_range_uj: cannot be opened (the RAPL counters are readable "
                        "by root only"));

  ASSERT_EQ(setenv("AXNN_POWERCAP_ROOT", (tmp.path() / "none").c_str(), 1), 0);
  auto probe = make_probe(tune::Target::kCpu);
  unsetenv("AXNN_POWERCAP_ROOT");
  EXPECT_EQ(probe->name(), "null");
  EXPECT_THAT(probe->unavailable_reason(), HasSubstr("rapl: "));
  EXPECT_THAT(probe->unavailable_reason(), HasSubstr("none does not exist"));
}

}  // namespace
}  // namespace axnn::energy
