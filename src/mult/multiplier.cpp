#include "mult/multiplier.h"

#include "core/error.h"

namespace axnn {

Multiplier::Multiplier(std::string name, int bits, bool is_signed, std::vector<int32_t> lut,
                       MultiplierMeta meta)
    : name_(std::move(name)),
      bits_(bits),
      signed_(is_signed),
      lut_(std::move(lut)),
      meta_(std::move(meta)) {
  AXNN_CHECK(bits >= kMinBits && bits <= kMaxBits,
             "multiplier '{}': bit width {} is outside {}..{}", name_, bits, kMinBits, kMaxBits);
  const size_t want = size_t{1} << (2 * bits);
  AXNN_CHECK(lut_.size() == want, "multiplier '{}': table has {} entries, a {}-bit one needs {}",
             name_, lut_.size(), bits, want);
}

}  // namespace axnn
