#include <gtest/gtest.h>

#include "core/cpu.h"
#include "core/error.h"

namespace axnn {

TEST(Cpu, IsaNamesRoundTrip) {
  for (Isa isa : {Isa::kRef, Isa::kAvx2, Isa::kAvx512}) EXPECT_EQ(parse_isa(isa_name(isa)), isa);
}

TEST(Cpu, UnknownIsaNameIsAnError) {
  try {
    parse_isa("sse9");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("sse9"), std::string::npos);
  }
}

TEST(Cpu, ActiveIsaNeverExceedsDetected) { EXPECT_LE(active_isa(), detected_isa()); }

TEST(Error, CheckFormatsTheMessage) {
  try {
    AXNN_CHECK(1 + 1 == 3, "shape {}x{} is wrong", 3, 4);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "shape 3x4 is wrong");
  }
}

}  // namespace axnn
