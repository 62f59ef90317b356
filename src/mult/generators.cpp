#include "mult/generators.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstdlib>

#include "core/error.h"

namespace axnn {
namespace {

void check_bits(int bits) {
  AXNN_CHECK(bits >= Multiplier::kMinBits && bits <= Multiplier::kMaxBits,
             "bits = {} is outside {}..{}", bits, Multiplier::kMinBits, Multiplier::kMaxBits);
}

// The array a structure is cut from, for descriptions: "15 columns of the AND partial-product
// array".
std::string array_name(int bits, bool is_signed) {
  return fmt::format("{} columns of the {} partial-product array", partial_product_columns(bits),
                     is_signed ? "signed (Baugh-Wooley)" : "AND");
}

std::string base_name(std::string_view kind, int bits, bool is_signed) {
  return fmt::format("{}{}{}", kind, bits, is_signed ? 's' : 'u');
}

// Which cells of the partial-product array (see generators.h) survive: cell_[row][column].
class ArrayMask {
 public:
  ArrayMask(int bits, bool is_signed) : bits_(bits), signed_(is_signed) {
    for (auto& row : cell_) row.fill(true);
  }
  void drop_row(int row) { cell_[row].fill(false); }
  void drop_column(int column) {
    for (auto& row : cell_) row[column] = false;
  }

  // The sum of the kept cells' terms for operand codes a (activation) and w (weight).
  int64_t product(int a, int w) const {
    const int n = bits_;
    auto bit = [](int code, int i) { return (code >> i) & 1; };
    int64_t sum = 0;
    for (int i = 0; i < n; ++i) {    // row: weight bit
      for (int j = 0; j < n; ++j) {  // activation bit
        if (!cell_[i][i + j] || !(bit(a, j) & bit(w, i))) continue;
        // Two's complement: a sign bit paired with a non-sign bit weighs -2^(i+j).
        const bool negative = signed_ && ((i == n - 1) != (j == n - 1));
        sum += negative ? -(int64_t{1} << (i + j)) : int64_t{1} << (i + j);
      }
    }
    return sum;
  }

 private:
  int bits_;
  bool signed_;
  std::array<std::array<bool, 2 * Multiplier::kMaxBits - 1>, Multiplier::kMaxBits> cell_;
};

// Any subset of cells sums into the output range (generators.h), so kThrow never fires; it is
// there to say so loudly should the model ever change.
Multiplier from_array(std::string name, int bits, bool is_signed, const ArrayMask& mask,
                      MultiplierMeta meta) {
  const int code_mask = (1 << bits) - 1;
  return from_function(
      std::move(name), bits, is_signed,
      [&](int x, int w) { return mask.product(x & code_mask, w & code_mask); }, std::move(meta),
      ProductOverflow::kThrow);
}

// Applies a magnitude product to operand values through sign and magnitude.
ProductFunction sign_magnitude(std::function<int64_t(int64_t, int64_t)> magnitude_product) {
  return [f = std::move(magnitude_product)](int x, int w) -> int64_t {
    const int64_t m = f(std::abs(x), std::abs(w));
    return (x < 0) != (w < 0) ? -m : m;
  };
}

int64_t drum_operand(int64_t m, int k) {
  if (m < (int64_t{1} << k)) return m;
  const int shift = std::bit_width(static_cast<uint64_t>(m)) - k;
  return ((m >> shift) | 1) << shift;
}

int64_t mitchell_magnitude_product(int64_t a, int64_t b) {
  if (a == 0 || b == 0) return 0;
  const int ka = std::bit_width(static_cast<uint64_t>(a)) - 1;
  const int kb = std::bit_width(static_cast<uint64_t>(b)) - 1;
  // a = 2^ka (1 + fa/2^ka): log2(a) ~ ka + fa/2^ka. The fraction sum, scaled by 2^(ka+kb):
  const int64_t fraction = ((a - (int64_t{1} << ka)) << kb) + ((b - (int64_t{1} << kb)) << ka);
  const int64_t one = int64_t{1} << (ka + kb);
  return fraction < one ? one + fraction : 2 * fraction;
}

}  // namespace

Multiplier from_function(std::string name, int bits, bool is_signed, const ProductFunction& fn,
                         MultiplierMeta meta, ProductOverflow overflow) {
  check_bits(bits);
  AXNN_CHECK(fn != nullptr, "multiplier '{}': no product function given", name);
  const int codes = 1 << bits;
  const int64_t modulus = int64_t{1} << (2 * bits);
  const int64_t lo = is_signed ? -modulus / 2 : 0;
  const int64_t hi = is_signed ? modulus / 2 - 1 : modulus - 1;
  std::vector<int32_t> lut(size_t(codes) * codes);
  for (int xc = 0; xc < codes; ++xc) {
    const int x = Multiplier::code_value(xc, bits, is_signed);
    for (int wc = 0; wc < codes; ++wc) {
      const int w = Multiplier::code_value(wc, bits, is_signed);
      int64_t p = fn(x, w);
      if (p < lo || p > hi) {
        switch (overflow) {
          case ProductOverflow::kSaturate:
            p = std::clamp(p, lo, hi);
            break;
          case ProductOverflow::kWrap:
            p &= modulus - 1;
            if (is_signed && p > hi) p -= modulus;
            break;
          case ProductOverflow::kThrow:
            AXNN_CHECK(
                false,
                "multiplier '{}': f({}, {}) = {} is outside the {}-bit {} output range {}..{}",
                name, x, w, p, 2 * bits, signedness_name(is_signed), lo, hi);
        }
      }
      lut[size_t(xc) * codes + wc] = static_cast<int32_t>(p);
    }
  }
  return Multiplier(std::move(name), bits, is_signed, std::move(lut), std::move(meta));
}

int partial_product_columns(int bits) {
  check_bits(bits);
  return 2 * bits - 1;
}

Multiplier make_exact(int bits, bool is_signed) {
  check_bits(bits);
  MultiplierMeta meta;
  meta.relative_power = 1.0;
  meta.source = fmt::format("axnn make_exact(bits={}, signed={})", bits, is_signed);
  meta.description = fmt::format("exact {}-bit {} multiplier", bits, signedness_name(is_signed));
  return from_function(
      base_name("exact", bits, is_signed), bits, is_signed,
      [](int x, int w) { return int64_t{x} * w; }, std::move(meta));
}

Multiplier make_truncated(int bits, bool is_signed, int k) {
  const int columns = partial_product_columns(bits);
  AXNN_CHECK(k >= 0 && k <= columns,
             "truncation k = {} is outside 0..{} for a {}-bit {} multiplier", k, columns, bits,
             signedness_name(is_signed));
  ArrayMask mask(bits, is_signed);
  for (int c = 0; c < k; ++c) mask.drop_column(c);
  MultiplierMeta meta;
  meta.source = fmt::format("axnn make_truncated(bits={}, signed={}, k={})", bits, is_signed, k);
  meta.description =
      fmt::format("truncated {}-bit {} multiplier: the {} least significant of the {} removed",
                  bits, signedness_name(is_signed), k, array_name(bits, is_signed));
  return from_array(fmt::format("{}_k{}", base_name("trunc", bits, is_signed), k), bits, is_signed,
                    mask, std::move(meta));
}

Multiplier make_bam(int bits, bool is_signed, int hbl, int vbl) {
  const int columns = partial_product_columns(bits);
  AXNN_CHECK(hbl >= 0 && hbl <= bits, "BAM hbl = {} is outside 0..{} for a {}-bit multiplier", hbl,
             bits, bits);
  AXNN_CHECK(vbl >= 0 && vbl <= columns, "BAM vbl = {} is outside 0..{} for a {}-bit {} multiplier",
             vbl, columns, bits, signedness_name(is_signed));
  ArrayMask mask(bits, is_signed);
  for (int r = 0; r < hbl; ++r) mask.drop_row(r);
  for (int c = 0; c < vbl; ++c) mask.drop_column(c);
  MultiplierMeta meta;
  meta.source =
      fmt::format("axnn make_bam(bits={}, signed={}, hbl={}, vbl={})", bits, is_signed, hbl, vbl);
  meta.description = fmt::format(
      "broken-array {}-bit {} multiplier (Mahdiani et al.): the {} lowest rows and the {} lowest "
      "of the {} omitted",
      bits, signedness_name(is_signed), hbl, vbl, array_name(bits, is_signed));
  return from_array(fmt::format("{}_h{}_v{}", base_name("bam", bits, is_signed), hbl, vbl), bits,
                    is_signed, mask, std::move(meta));
}

Multiplier make_columns(int bits, bool is_signed, const std::vector<bool>& keep) {
  const int columns = partial_product_columns(bits);
  AXNN_CHECK(static_cast<int>(keep.size()) == columns,
             "column flags: {} given, a {}-bit {} multiplier has {} partial-product columns",
             keep.size(), bits, signedness_name(is_signed), columns);
  ArrayMask mask(bits, is_signed);
  std::string flags;
  for (int c = 0; c < columns; ++c) {
    flags += keep[c] ? '1' : '0';
    if (!keep[c]) mask.drop_column(c);
  }
  MultiplierMeta meta;
  meta.source =
      fmt::format("axnn make_columns(bits={}, signed={}, keep={})", bits, is_signed, flags);
  meta.description = fmt::format(
      "column-discarding {}-bit {} multiplier (TRAM structure): keep flags {} over the {}, column "
      "0 first",
      bits, signedness_name(is_signed), flags, array_name(bits, is_signed));
  return from_array(fmt::format("{}_{}", base_name("cols", bits, is_signed), flags), bits,
                    is_signed, mask, std::move(meta));
}

Multiplier make_drum(int bits, bool is_signed, int k) {
  check_bits(bits);
  AXNN_CHECK(k >= 1 && k <= bits, "DRUM k = {} is outside 1..{} for a {}-bit multiplier", k, bits,
             bits);
  MultiplierMeta meta;
  meta.source = fmt::format("axnn make_drum(bits={}, signed={}, k={})", bits, is_signed, k);
  meta.description = fmt::format(
      "DRUM-{} {}-bit {} multiplier (Hashemi et al.): {} bits kept from the leading one, the "
      "lowest kept bit set",
      k, bits, signedness_name(is_signed), k);
  return from_function(
      fmt::format("{}_k{}", base_name("drum", bits, is_signed), k), bits, is_signed,
      sign_magnitude([k](int64_t a, int64_t b) { return drum_operand(a, k) * drum_operand(b, k); }),
      std::move(meta));
}

Multiplier make_mitchell(int bits, bool is_signed) {
  check_bits(bits);
  MultiplierMeta meta;
  meta.source = fmt::format("axnn make_mitchell(bits={}, signed={})", bits, is_signed);
  meta.description =
      fmt::format("Mitchell logarithmic {}-bit {} multiplier", bits, signedness_name(is_signed));
  return from_function(base_name("mitchell", bits, is_signed), bits, is_signed,
                       sign_magnitude(mitchell_magnitude_product), std::move(meta));
}

}  // namespace axnn
