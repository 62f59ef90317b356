#include <gtest/gtest.h>

#include <random>
#include <set>

#include "core/cpu.h"
#include "core/error.h"
#include "kernels/lut_conv.h"
#include "mult/registry.h"
#include "tune/lut_backend.h"

namespace axnn::tune {
namespace {

// Odd shapes: strides, padding, 1x1 and 5x5 kernels, channel counts that are not vector
// multiples, batch 2, more than 32 output channels.
const char* const kShapes[] = {"1,8,8,16,8,3,3,1,1", "2,9,7,24,5,3,3,2,1", "1,6,6,8,4,1,1,1,0",
                               "1,11,13,20,3,5,5,2,2", "1,5,5,37,7,3,3,1,0"};

TEST(LutBackend, NamesItsOpAndTheMultiplier) {
  const auto backend = make_lut_backend(get_multiplier("trunc8s_k6"));
  EXPECT_EQ(backend->target(), Target::kCpu);
  EXPECT_EQ(backend->op(), "lut-conv2d");
  EXPECT_EQ(backend->dtype(), "trunc8s_k6");
  EXPECT_NE(backend->device().find(isa_name(active_isa())), std::string::npos);
  EXPECT_EQ(lut_pad_code(get_multiplier("exact8s")), 0);
  EXPECT_EQ(lut_pad_code(get_multiplier("exact8u")), 128);
  EXPECT_EQ(lut_pad_code(get_multiplier("exact4u")), 8);
}

TEST(LutBackend, TheSpaceOffersEachIsaItsOwnSchedules) {
  const auto backend = make_lut_backend(get_multiplier("exact8s"));
  const Conv2dShape shape = parse_conv2d_shape("1,56,56,64,64,3,3,1,1", "test");
  const Space space = backend->space(shape, 0);
  std::vector<std::string> names;
  for (const Knob& knob : space.knobs()) names.push_back(knob.name);
  EXPECT_EQ(names, (std::vector<std::string>{"isa", "schedule", "chunk_kib", "threads"}));
  EXPECT_EQ(space.knobs()[0].values.back(), static_cast<int64_t>(active_isa()));
  EXPECT_EQ(space.knobs()[2].values.front(), 64);
  EXPECT_EQ(space.knobs()[2].values.back(), 16384);
  std::mt19937_64 rng(3);
  std::set<std::pair<int64_t, int64_t>> seen;
  for (int i = 0; i < 400; ++i) {
    const Config c = space.random(rng);
    const Isa isa = static_cast<Isa>(c.at("isa"));
    // exact8s spans 16 bits: every level runs its own impl.
    const auto schedules = kernels::lut_gemm_schedules(isa_name(isa));
    EXPECT_LE(c.at("schedule"), static_cast<int64_t>(schedules.size()));
    EXPECT_EQ(space.features(c).size(), 6u);
    seen.insert({c.at("isa"), c.at("schedule")});
  }
  size_t pairs = 0;
  for (int level = 0; level <= static_cast<int>(active_isa()); ++level)
    pairs += kernels::lut_gemm_schedules(isa_name(static_cast<Isa>(level))).size() + 1;
  EXPECT_EQ(seen.size(), pairs);
  const Space fixed = backend->space(shape, 3);
  EXPECT_EQ(fixed.knobs()[3].values, std::vector<int64_t>{3});
  EXPECT_FALSE(fixed.valid({{"isa", 0}, {"schedule", 2}, {"chunk_kib", 64}, {"threads", 3}}));
  EXPECT_TRUE(fixed.valid({{"isa", 0}, {"schedule", 1}, {"chunk_kib", 64}, {"threads", 3}}));
}

TEST(LutBackend, RandomConfigurationsMatchTableLookupLoopsBitForBit) {
  std::mt19937_64 rng(11);
  for (const char* name : {"exact8s", "trunc8s_k6", "exact8u"}) {
    const auto backend = make_lut_backend(get_multiplier(name));
    for (const char* text : kShapes) {
      const Conv2dShape shape = parse_conv2d_shape(text, "test");
      const Space space = backend->space(shape, 0);
      std::vector<Config> configs;
      for (int i = 0; i < 6; ++i) configs.push_back(space.random(rng));
      const std::vector<Built> built = backend->build(shape, configs, {});
      ASSERT_EQ(built.size(), configs.size());
      for (size_t i = 0; i < built.size(); ++i) {
        EXPECT_EQ(built[i].error_code, ErrorCode::kNone)
            << name << " " << text << " " << Space::to_json(configs[i]).dump() << ": "
            << built[i].error;
        if (built[i].kernel) {
          EXPECT_EQ(built[i].kernel->check(), "");  // again: a second run
        }
      }
    }
  }
}

TEST(LutBackend, EveryIsaAndScheduleBuildsWithSmallChunks) {
  const auto backend = make_lut_backend(get_multiplier("trunc8s_k6"));
  const Conv2dShape shape = parse_conv2d_shape("2,9,7,24,5,3,3,2,1", "test");
  std::vector<Config> configs;
  for (int level = 0; level <= static_cast<int>(active_isa()); ++level) {
    const auto count = kernels::lut_gemm_schedules(isa_name(static_cast<Isa>(level))).size();
    for (int64_t schedule = 0; schedule <= static_cast<int64_t>(count); ++schedule)
      configs.push_back(
          {{"isa", level}, {"schedule", schedule}, {"chunk_kib", 64}, {"threads", 2}});
  }
  const std::vector<Built> built = backend->build(shape, configs, {});
  for (size_t i = 0; i < built.size(); ++i)
    EXPECT_EQ(built[i].error_code, ErrorCode::kNone)
        << Space::to_json(configs[i]).dump() << ": " << built[i].error;
  const std::string text = backend->generate(shape, configs.back());
  EXPECT_NE(text.find("trunc8s_k6"), std::string::npos) << text;
  EXPECT_NE(text.find(std::string(kernels::lut_gemm_schedules(isa_name(active_isa())).back())),
            std::string::npos)
      << text;
}

TEST(LutBackend, InvalidConfigurationsFailWithInstantiation) {
  const auto backend = make_lut_backend(get_multiplier("exact8s"));
  const Conv2dShape shape = parse_conv2d_shape("1,6,6,8,4,1,1,1,0", "test");
  const std::vector<Config> configs = {
      {{"isa", 0}, {"schedule", 0}, {"chunk_kib", 100}, {"threads", 1}},  // not a knob value
      {{"isa", 0}, {"schedule", 0}, {"chunk_kib", 64}},                   // a knob missing
      {{"isa", static_cast<int64_t>(active_isa()) + 1},
       {"schedule", 0},
       {"chunk_kib", 64},
       {"threads", 1}},
  };
  for (const Built& b : backend->build(shape, configs, {})) {
    EXPECT_EQ(b.error_code, ErrorCode::kInstantiation);
    EXPECT_FALSE(b.error.empty());
    EXPECT_EQ(b.kernel, nullptr);
  }
  EXPECT_THROW(backend->generate(shape, configs[0]), Error);
  try {
    backend->export_files(shape, {{"isa", 0}, {"schedule", 0}, {"chunk_kib", 64}, {"threads", 1}},
                          "k");
    ADD_FAILURE() << "export_files returned";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("axnn bench lutgemm"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace axnn::tune
