#include "kernels/term_operands.h"

#include <algorithm>
#include <oneapi/dnnl/dnnl.hpp>

#include "core/error.h"
#include "mult/multiplier.h"

namespace axnn::kernels::detail {

namespace {

uint8_t low_mask(uint32_t mask, int bits) {
  return static_cast<uint8_t>(mask & ((1u << bits) - 1));
}

uint8_t sign_flip(uint32_t mask, int bits, bool is_signed) {
  const uint32_t sign_bit = 1u << (bits - 1);
  return is_signed && (mask & sign_bit) ? static_cast<uint8_t>(sign_bit) : 0;
}

}  // namespace

ByteMap plain_map(uint32_t mask, int bits, bool is_signed) {
  const uint8_t flip = sign_flip(mask, bits, is_signed);
  return {low_mask(mask, bits), flip, static_cast<uint8_t>(-flip), false};
}

WeightMap weight_map(uint32_t mask, int sign, int bits, bool is_signed) {
  int32_t lo = 0, hi = 0;
  for (int code = 0; code < (1 << bits); ++code) {
    const int32_t v = sign * masked_value(code, mask, bits, is_signed);
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  // A masked operand spans at most 2^bits - 1 <= 255, so one shift always fits.
  const int32_t offset = hi > 127 ? hi - 127 : (lo < -128 ? lo + 128 : 0);
  const uint8_t flip = sign_flip(mask, bits, is_signed);
  // sign +1: (x ^ flip) - flip - offset; sign -1: flip - offset - (x ^ flip).
  const int32_t add = sign > 0 ? -flip - offset : flip - offset;
  return {{low_mask(mask, bits), flip, static_cast<uint8_t>(add), sign < 0}, offset};
}

void check_exact_int8(const char* who) {
  const auto isa = static_cast<uint32_t>(dnnl::get_effective_cpu_isa());
  const bool vnni = (isa & static_cast<uint32_t>(dnnl::cpu_isa::avx512_core_vnni) &
                     ~static_cast<uint32_t>(dnnl::cpu_isa::avx512_core)) != 0 ||
                    (isa & static_cast<uint32_t>(dnnl::cpu_isa::avx2_vnni) &
                     ~static_cast<uint32_t>(dnnl::cpu_isa::avx2)) != 0;
  AXNN_CHECK(vnni,
             "{}: oneDNN's int8 ISA here (0x{:x}) has no VNNI or AMX, whose u8 x s8 pairs saturate "
             "to int16; use the LUT kernel",
             who, isa);
}

void check_terms(const ProductTerms& terms, const char* who) {
  AXNN_CHECK(terms.bits >= Multiplier::kMinBits && terms.bits <= Multiplier::kMaxBits,
             "{}: terms.bits = {} is outside {}..{}", who, terms.bits, Multiplier::kMinBits,
             Multiplier::kMaxBits);
  for (size_t g = 0; g < terms.terms.size(); ++g) {
    const ProductTerm& t = terms.terms[g];
    AXNN_CHECK(t.sign == 1 || t.sign == -1, "{}: terms[{}].sign = {}, expected +1 or -1", who, g,
               t.sign);
    AXNN_CHECK((t.a_mask >> terms.bits) == 0 && (t.b_mask >> terms.bits) == 0,
               "{}: terms[{}] masks 0x{:x}, 0x{:x} exceed {} bits", who, g, t.a_mask, t.b_mask,
               terms.bits);
  }
}

}  // namespace axnn::kernels::detail
