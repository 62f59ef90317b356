// Product-term decomposition: recognizing a table that is exactly a signed sum of products of
// masked operands, T[a][b] = sum_g sign_g * A_g(a) * B_g(b), so that it can run as a few exact
// integer GEMMs instead of lookups.
//
// A_g(a) is the value of the code a with only the bits of a_mask_g kept: plain for unsigned codes,
// two's complement of (a & a_mask_g) as a b-bit code for signed ones (the sign bit keeps its weight
// -2^(b-1)); B_g likewise with b_mask_g. Exact multiplication is one term with full masks; every
// partial-product array of generators.h (truncated, broken-array, column discarding, TRAM cells
// with gamma in {0, 1}) is such a sum, since its cell (i, j) = a_j & w_i weighs the product of the
// two bits' signed weights. The table is the only input: names are never consulted.
//
// Orientation: a is the table's first index. For a Multiplier (lut[x_code][w_code]) a is the
// activation and b the weight; for LutGemm's table (indexed by A's code first) use transposed().
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace axnn {

struct ProductTerm {
  uint32_t a_mask = 0;  // bits of the first operand's code kept
  uint32_t b_mask = 0;  // bits of the second operand's code kept
  int sign = 1;         // +1 or -1
};

struct ProductTerms {
  int bits = 8;
  bool is_signed = true;
  std::vector<ProductTerm> terms;  // empty: the table is all zeros

  // sum_g sign_g * A_g(a) * B_g(b), exact.
  int64_t evaluate(int a_code, int b_code) const;
  // The same decomposition for the transposed table (a and b swapped).
  ProductTerms transposed() const;
};

// The value of `code` with only the bits of `mask` kept (two's complement for signed codes).
inline int32_t masked_value(int code, uint32_t mask, int bits, bool is_signed) {
  const int32_t kept =
      static_cast<int32_t>(static_cast<uint32_t>(code) & mask & ((1u << bits) - 1));
  return is_signed && ((kept >> (bits - 1)) & 1) ? kept - (1 << bits) : kept;
}

// The decomposition of a 2^bits x 2^bits table (row-major [a][b]) with the fewest terms found, or
// nullopt when the table is not such a sum. Checked against every entry. Throws axnn::Error on a
// bad width or table size.
std::optional<ProductTerms> product_terms(std::span<const int32_t> table, int bits, bool is_signed);

// The real rank of the kept-cell matrix of a decomposable table: no decomposition has fewer terms
// (each term is a rank-1 matrix of cells). nullopt when the table is not decomposable.
std::optional<int> product_terms_lower_bound(std::span<const int32_t> table, int bits,
                                             bool is_signed);

}  // namespace axnn
