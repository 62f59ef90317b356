#include "tram/columns.h"

#include "core/error.h"
#include "mult/generators.h"
#include "mult/multiplier.h"

namespace axnn::tram {

int default_structure_columns(int bits) { return bits; }

std::vector<double> default_initial_gamma(int columns) {
  std::vector<double> gamma(static_cast<size_t>(columns), 0.0);
  for (int c = 0; c < columns / 2; ++c) gamma[static_cast<size_t>(c)] = 1.0;
  return gamma;
}

std::vector<int32_t> column_table(int bits, bool is_signed, int column) {
  AXNN_CHECK(bits >= Multiplier::kMinBits && bits <= Multiplier::kMaxBits,
             "bits = {} is outside {}..{}", bits, Multiplier::kMinBits, Multiplier::kMaxBits);
  AXNN_CHECK(column >= 0 && column < partial_product_columns(bits),
             "column {} is outside 0..{} for a {}-bit multiplier", column,
             partial_product_columns(bits) - 1, bits);
  const int codes = 1 << bits;
  std::vector<int32_t> table(static_cast<size_t>(codes) * codes);
  for (int x = 0; x < codes; ++x) {
    for (int w = 0; w < codes; ++w) {
      int32_t sum = 0;
      for (int i = 0; i < bits; ++i) {  // weight bit, the cell's row
        const int j = column - i;       // activation bit
        if (j < 0 || j >= bits || !((x >> j) & 1) || !((w >> i) & 1)) continue;
        const bool negative = is_signed && ((i == bits - 1) != (j == bits - 1));
        sum += negative ? -(int32_t{1} << column) : int32_t{1} << column;
      }
      table[static_cast<size_t>(x) * codes + w] = sum;
    }
  }
  return table;
}

std::vector<double> structure_table(int bits, bool is_signed, std::span<const double> gamma) {
  AXNN_CHECK(std::ssize(gamma) <= partial_product_columns(bits),
             "{} gamma values given, a {}-bit multiplier has {} partial-product columns",
             gamma.size(), bits, partial_product_columns(bits));
  const Multiplier exact = make_exact(bits, is_signed);
  std::vector<double> table(exact.lut().begin(), exact.lut().end());
  for (size_t c = 0; c < gamma.size(); ++c) {
    AXNN_CHECK(gamma[c] >= 0 && gamma[c] <= 1, "gamma of column {} is {}, outside [0, 1]", c,
               gamma[c]);
    if (gamma[c] == 0) continue;
    const std::vector<int32_t> s = column_table(bits, is_signed, static_cast<int>(c));
    for (size_t k = 0; k < table.size(); ++k) table[k] -= gamma[c] * s[k];
  }
  return table;
}

}  // namespace axnn::tram
