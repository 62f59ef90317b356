#include <gtest/gtest.h>

#include <set>

#include "common/error_of.h"
#include "tune/space.h"

namespace axnn::tune {
namespace {

// Two knobs whose product must stay at most 8.
Space small_space() {
  return Space({{"a", {1, 2, 4, 8}}, {"b", {1, 2, 3}}},
               [](const Config& c) {
                 return c.at("a") * c.at("b") <= 8 ? std::string() : std::string("too big");
               },
               [](const Config& c) {
                 return std::vector<float>{float(c.at("a")), float(c.at("b"))};
               });
}

TEST(Space, RandomMutateAndCrossoverStayValidAndCoverTheSpace) {
  const Space space = small_space();
  EXPECT_DOUBLE_EQ(space.size(), 12);
  std::mt19937_64 rng(3);
  std::set<std::string> seen;
  Config c = space.random(rng);
  for (int i = 0; i < 500; ++i) {
    const Config r = space.random(rng);
    const Config m = space.mutate(c, rng);
    const Config x = space.crossover(r, m, rng);
    for (const Config* each : {&r, &m, &x}) {
      ASSERT_TRUE(space.valid(*each)) << Space::to_json(*each).dump();
      seen.insert(Space::to_json(*each).dump());
    }
    EXPECT_NE(Space::to_json(m), Space::to_json(c));
    c = m;
  }
  EXPECT_EQ(seen.size(), 9u);  // every valid combination: a*b <= 8
}

TEST(Space, InvalidConfigurationsSayWhy) {
  const Space space = small_space();
  EXPECT_EQ(space.why_invalid({{"a", 8}, {"b", 2}}), "too big");
  EXPECT_EQ(space.why_invalid({{"a", 3}, {"b", 1}}), "knob 'a' = 3 is not one of 1,2,4,8");
  EXPECT_EQ(space.why_invalid({{"a", 1}}), "1 knobs given, the space has 2");
  EXPECT_EQ(space.why_invalid({{"a", 1}, {"c", 1}}), "knob 'b' is missing");
}

TEST(Space, JsonRoundTripAndErrors) {
  const Space space = small_space();
  const Config c{{"a", 4}, {"b", 2}};
  EXPECT_EQ(space.from_json(Space::to_json(c), "x"), c);
  EXPECT_NE(test_util::error_of([&] { space.from_json(nlohmann::json{{"a", 4}, {"b", "2"}}, "f:7"); })
                .find("f:7: knob 'b' is not an integer"),
            std::string::npos);
  EXPECT_NE(test_util::error_of([&] { space.from_json(nlohmann::json{{"a", 8}, {"b", 3}}, "f:7"); })
                .find("f:7: invalid configuration: too big"),
            std::string::npos);
}

TEST(Space, AnEmptySpaceIsAnError) {
  const Space none({{"a", {1}}}, [](const Config&) { return std::string("never"); },
                   [](const Config&) { return std::vector<float>{}; });
  std::mt19937_64 rng(1);
  EXPECT_NE(test_util::error_of([&] { none.random(rng); }).find("no valid configuration"),
            std::string::npos);
}

}  // namespace
}  // namespace axnn::tune
