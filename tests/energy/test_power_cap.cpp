// Power caps: only set when asked, inside the device's constraints, refused clearly without
// permission, and always put back: at scope exit, on an exception and on a fatal signal.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <csignal>
#include <functional>
#include <stdexcept>
#include <string>

#include "common/error_of.h"
#include "core/error.h"
#include "core/files.h"
#include "core/subprocess.h"
#include "energy/fake_nvml.h"
#include "energy/power_cap.h"

namespace axnn::energy {
namespace {

using testing::FakeNvml;
using ::testing::HasSubstr;

using test_util::error_of;

TEST(PowerCapGuard, WithoutSetChangesNothing) {
  FakeNvml& fake = FakeNvml::get();
  auto probe = make_nvml_probe(fake.path());
  {
    PowerCapGuard guard(*probe);
    EXPECT_DOUBLE_EQ(guard.original_watts(), 250.0);
    guard.check(100);
    guard.check(350);
  }
  EXPECT_EQ(fake.set_calls(), 0);
  EXPECT_EQ(fake.limit_mw(), 250000u);
}

TEST(PowerCapGuard, RestoresTheOriginalLimitAtScopeExit) {
  FakeNvml& fake = FakeNvml::get();
  auto probe = make_nvml_probe(fake.path());
  {
    PowerCapGuard guard(*probe);
    guard.set(200);
    EXPECT_EQ(fake.limit_mw(), 200000u);
    guard.set(300);
    EXPECT_EQ(fake.limit_mw(), 300000u);
  }
  EXPECT_EQ(fake.set_calls(), 3);
  EXPECT_EQ(fake.limit_mw(), 250000u);
}

TEST(PowerCapGuard, RestoresOnException) {
  FakeNvml& fake = FakeNvml::get();
  auto probe = make_nvml_probe(fake.path());
  EXPECT_THROW(
      {
        PowerCapGuard guard(*probe);
        guard.set(120);
        EXPECT_EQ(fake.limit_mw(), 120000u);
        throw std::runtime_error("measurement failed");
      },
      std::runtime_error);
  EXPECT_EQ(fake.limit_mw(), 250000u);
  EXPECT_EQ(fake.set_calls(), 2);
}

TEST(PowerCapGuard, RefusesCapsOutsideTheConstraints) {
  FakeNvml& fake = FakeNvml::get();
  auto probe = make_nvml_probe(fake.path());
  PowerCapGuard guard(*probe);
  EXPECT_EQ(error_of([&] { guard.set(400); }),
            "power cap 400 W is outside the limits of Fake GPU 9000: min 100 W, max 350 W");
  EXPECT_THAT(error_of([&] { guard.check(99.5); }), HasSubstr("min 100 W, max 350 W"));
  EXPECT_EQ(fake.set_calls(), 0);
}

TEST(PowerCapGuard, RefusesClearlyWithoutPermission) {
  FakeNvml& fake = FakeNvml::get();
  fake.configure("set_permitted", 0);
  auto probe = make_nvml_probe(fake.path());
  {
    PowerCapGuard guard(*probe);
    EXPECT_THAT(error_of([&] { guard.set(200); }),
                HasSubstr("setting the power limit of GPU 0 (Fake GPU 9000) to 200 W is not "
                          "permitted (NVML: Insufficient Permissions (code 4)): it needs root"));
  }
  EXPECT_EQ(fake.set_calls(), 1) << "nothing changed, so nothing to restore";
  EXPECT_EQ(fake.limit_mw(), 250000u);
}

TEST(PowerCapGuard, OneAtATimeAndOnlyWithAProbe) {
  FakeNvml& fake = FakeNvml::get();
  auto probe = make_nvml_probe(fake.path());
  {
    PowerCapGuard guard(*probe);
    EXPECT_THAT(error_of([&] { PowerCapGuard second(*probe); }),
                HasSubstr("another power cap guard is active"));
  }
  PowerCapGuard again(*probe);  // the first one released its claim
  auto null = make_null_probe("no GPU");
  EXPECT_EQ(error_of([&] { PowerCapGuard guard(*null); }),
            "cannot set power caps: energy probe null not available: no GPU");
}

// A child process capped at 200 W and killed by SIGTERM dies of SIGTERM, and its last act on the
// GPU was to put 250 W back (the fake logs every set call to a file the parent can read).
TEST(PowerCapGuardDeathTest, RestoresOnSigterm) {
  FakeNvml& fake = FakeNvml::get();
  TempDir tmp("axnn-power-cap");
  const std::string log_file = (tmp.path() / "set.log").string();
  fake.set_log(log_file);
  auto probe = make_nvml_probe(fake.path());
  EXPECT_EXIT(
      {
        PowerCapGuard guard(*probe);
        guard.set(200);
        std::raise(SIGTERM);
        std::_Exit(0);  // not reached: the handler re-raises with the default action
      },
      ::testing::KilledBySignal(SIGTERM), "");
  EXPECT_EQ(read_text_file(log_file), "set 200000\nset 250000\n");
  EXPECT_EQ(fake.set_calls(), 0) << "the parent never set anything";
}

TEST(ParsePowerCaps, ListsOfPositiveWatts) {
  EXPECT_EQ(parse_power_caps("300", "--set-power-caps"), std::vector<double>{300});
  EXPECT_EQ(parse_power_caps("150,200.5,300", "--set-power-caps"),
            (std::vector<double>{150, 200.5, 300}));
  EXPECT_EQ(error_of([] { parse_power_caps("150,,300", "--set-power-caps"); }),
            "--set-power-caps: expected positive watts separated by commas (e.g. 200,250,300), "
            "got ''");
  EXPECT_THAT(error_of([] { parse_power_caps("150W", "--set-power-caps"); }),
              HasSubstr("got '150W'"));
  EXPECT_THAT(error_of([] { parse_power_caps("-5", "--set-power-caps"); }), HasSubstr("'-5'"));
  EXPECT_EQ(error_of([] { parse_power_caps("200,300,200", "--set-power-caps"); }),
            "--set-power-caps: cap 200 W repeated");
}

}  // namespace
}  // namespace axnn::energy
