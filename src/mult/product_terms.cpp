#include "mult/product_terms.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <utility>

#include "core/error.h"
#include "mult/multiplier.h"

namespace axnn {

namespace {

// Kept cells: rows[p] has bit q set when the cell a_p & b_q is in the sum.
using Cells = std::array<uint32_t, Multiplier::kMaxBits>;

struct Cover {
  std::vector<ProductTerm> terms;
  bool found = false;
};

int32_t bit_weight(int p, int bits, bool is_signed) {
  return is_signed && p == bits - 1 ? -(1 << p) : (1 << p);
}

// The cell matrix from the table's bilinear Moebius coefficients on single-bit codes, or nullopt
// when a constant or linear coefficient is nonzero or a cell's coefficient is neither 0 nor the
// product of its two bits' weights. Higher-order terms are left to the final check on every entry.
std::optional<Cells> kept_cells(std::span<const int32_t> table, int bits, bool is_signed) {
  const auto at = [&](int a, int b) { return static_cast<int64_t>(table[(a << bits) | b]); };
  if (at(0, 0) != 0) return std::nullopt;
  for (int p = 0; p < bits; ++p) {
    if (at(1 << p, 0) != 0 || at(0, 1 << p) != 0) return std::nullopt;
  }
  Cells cells{};
  for (int p = 0; p < bits; ++p) {
    for (int q = 0; q < bits; ++q) {
      const int64_t coefficient = at(1 << p, 1 << q);
      const int64_t weight =
          int64_t{bit_weight(p, bits, is_signed)} * bit_weight(q, bits, is_signed);
      if (coefficient == weight) {
        cells[p] |= 1u << q;
      } else if (coefficient != 0) {
        return std::nullopt;
      }
    }
  }
  return cells;
}

Cells transpose(const Cells& cells, int bits) {
  Cells out{};
  for (int p = 0; p < bits; ++p) {
    for (int q = 0; q < bits; ++q) {
      if ((cells[p] >> q) & 1) out[q] |= 1u << p;
    }
  }
  return out;
}

int real_rank(const Cells& cells, int bits) {
  std::array<std::array<double, Multiplier::kMaxBits>, Multiplier::kMaxBits> m{};
  for (int p = 0; p < bits; ++p) {
    for (int q = 0; q < bits; ++q) m[p][q] = (cells[p] >> q) & 1;
  }
  int rank = 0;
  for (int col = 0; col < bits && rank < bits; ++col) {
    int pivot = rank;
    for (int r = rank + 1; r < bits; ++r) {
      if (std::abs(m[r][col]) > std::abs(m[pivot][col])) pivot = r;
    }
    if (std::abs(m[pivot][col]) < 1e-9) continue;
    std::swap(m[pivot], m[rank]);
    for (int r = rank + 1; r < bits; ++r) {
      const double f = m[r][col] / m[rank][col];
      for (int c = col; c < bits; ++c) m[r][c] -= f * m[rank][c];
    }
    ++rank;
  }
  return rank;
}

// A signed column pattern: a term's b_mask with its sign.
struct Pattern {
  uint32_t mask;
  int sign;
};

// Byte q of the result holds bit q of mask: integer sums of spread patterns stay per byte.
int64_t spread(uint32_t mask) {
  int64_t out = 0;
  for (int q = 0; q < Multiplier::kMaxBits; ++q) {
    if ((mask >> q) & 1) out |= int64_t{1} << (8 * q);
  }
  return out;
}

// The terms that write every row as a sum of a subset of `basis` (rows[p] = sum over the terms
// whose a_mask holds p of sign * b_mask), or found = false when some row has no such subset.
Cover cover_from_basis(const Cells& cells, int bits, const std::vector<Pattern>& basis) {
  const int k = static_cast<int>(basis.size());
  std::vector<int64_t> sums(size_t{1} << k, 0);
  for (size_t s = 1; s < sums.size(); ++s) {
    const int low = std::countr_zero(s);
    sums[s] = sums[s & (s - 1)] + basis[low].sign * spread(basis[low].mask);
  }
  Cover cover;
  cover.terms.resize(k);
  for (int g = 0; g < k; ++g) cover.terms[g] = {0, basis[g].mask, basis[g].sign};
  for (int p = 0; p < bits; ++p) {
    if (cells[p] == 0) continue;
    const auto it = std::find(sums.begin(), sums.end(), spread(cells[p]));
    if (it == sums.end()) return {};
    const size_t subset = static_cast<size_t>(it - sums.begin());
    for (int g = 0; g < k; ++g) {
      if ((subset >> g) & 1) cover.terms[g].a_mask |= 1u << p;
    }
  }
  std::erase_if(cover.terms, [](const ProductTerm& t) { return t.a_mask == 0; });
  cover.found = true;
  return cover;
}

// The best cover found with the rows (a bits) as the grouping axis: the distinct row patterns
// as the basis, the support rectangle minus each row's complement, then a bounded search over
// small bases drawn from the rows, the support, complements and differences of nested rows,
// from the rank (no cover is smaller) up.
Cover best_row_cover(const Cells& cells, int bits, int rank) {
  std::vector<uint32_t> rows;
  uint32_t support = 0;
  for (int p = 0; p < bits; ++p) {
    support |= cells[p];
    if (cells[p] != 0 && std::find(rows.begin(), rows.end(), cells[p]) == rows.end()) {
      rows.push_back(cells[p]);
    }
  }
  std::vector<Pattern> grouped;
  for (uint32_t r : rows) grouped.push_back({r, 1});
  Cover best = cover_from_basis(cells, bits, grouped);

  std::vector<Pattern> complement{{support, 1}};
  for (uint32_t r : rows) {
    const uint32_t rest = support & ~r;
    if (rest != 0 && std::none_of(complement.begin() + 1, complement.end(),
                                  [&](const Pattern& c) { return c.mask == rest; })) {
      complement.push_back({rest, -1});
    }
  }
  if (Cover c = cover_from_basis(cells, bits, complement);
      c.found && c.terms.size() < best.terms.size()) {
    best = std::move(c);
  }
  if (static_cast<int>(best.terms.size()) <= rank) return best;

  std::vector<Pattern> candidates = complement;
  for (uint32_t r : rows) {
    if (r != support) candidates.push_back({r, 1});
    for (uint32_t s : rows) {
      if (s != r && (s & r) == s) {  // s strictly inside r: r = s + (r \ s), s = r - (r \ s)
        candidates.push_back({r & ~s, 1});
        candidates.push_back({r & ~s, -1});
      }
    }
  }
  std::sort(candidates.begin(), candidates.end(), [](const Pattern& x, const Pattern& y) {
    return std::pair(x.mask, x.sign) < std::pair(y.mask, y.sign);
  });
  candidates.erase(std::unique(candidates.begin(), candidates.end(),
                               [](const Pattern& x, const Pattern& y) {
                                 return x.mask == y.mask && x.sign == y.sign;
                               }),
                   candidates.end());
  // Bounds the search: the ASan test run decomposes every generated array.
  int64_t budget = 4000;
  const int n = static_cast<int>(candidates.size());
  for (int k = std::max(rank, 1); k < static_cast<int>(best.terms.size()) && k <= n; ++k) {
    std::vector<int> pick(k);
    for (int i = 0; i < k; ++i) pick[i] = i;
    while (budget-- > 0) {
      std::vector<Pattern> basis;
      for (int i : pick) basis.push_back(candidates[i]);
      if (Cover c = cover_from_basis(cells, bits, basis); c.found) return c;
      int i = k - 1;
      while (i >= 0 && pick[i] == n - k + i) --i;
      if (i < 0) break;
      ++pick[i];
      for (int j = i + 1; j < k; ++j) pick[j] = pick[j - 1] + 1;
    }
    if (budget <= 0) break;
  }
  return best;
}

bool reproduces(std::span<const int32_t> table, const ProductTerms& terms) {
  const int codes = 1 << terms.bits;
  std::vector<int32_t> a_values, b_values;
  for (const ProductTerm& t : terms.terms) {
    for (int c = 0; c < codes; ++c) {
      a_values.push_back(t.sign * masked_value(c, t.a_mask, terms.bits, terms.is_signed));
      b_values.push_back(masked_value(c, t.b_mask, terms.bits, terms.is_signed));
    }
  }
  for (int a = 0; a < codes; ++a) {
    for (int b = 0; b < codes; ++b) {
      int64_t sum = 0;
      for (size_t g = 0; g < terms.terms.size(); ++g) {
        sum += int64_t{a_values[g * codes + a]} * b_values[g * codes + b];
      }
      if (sum != table[(a << terms.bits) | b]) return false;
    }
  }
  return true;
}

void check_table(std::span<const int32_t> table, int bits) {
  AXNN_CHECK(bits >= Multiplier::kMinBits && bits <= Multiplier::kMaxBits,
             "product_terms: bits = {} is outside {}..{}", bits, Multiplier::kMinBits,
             Multiplier::kMaxBits);
  AXNN_CHECK(table.size() == size_t{1} << (2 * bits),
             "product_terms: table has {} entries, expected 2^(2*{}) = {}", table.size(), bits,
             size_t{1} << (2 * bits));
}

}  // namespace

int64_t ProductTerms::evaluate(int a_code, int b_code) const {
  int64_t sum = 0;
  for (const ProductTerm& t : terms) {
    sum += int64_t{t.sign} * masked_value(a_code, t.a_mask, bits, is_signed) *
           masked_value(b_code, t.b_mask, bits, is_signed);
  }
  return sum;
}

ProductTerms ProductTerms::transposed() const {
  ProductTerms out = *this;
  for (ProductTerm& t : out.terms) std::swap(t.a_mask, t.b_mask);
  return out;
}

std::optional<ProductTerms> product_terms(std::span<const int32_t> table, int bits,
                                          bool is_signed) {
  check_table(table, bits);
  const std::optional<Cells> cells = kept_cells(table, bits, is_signed);
  if (!cells) return std::nullopt;
  const int rank = real_rank(*cells, bits);
  Cover best = best_row_cover(*cells, bits, rank);
  if (static_cast<int>(best.terms.size()) > rank) {
    Cover by_columns = best_row_cover(transpose(*cells, bits), bits, rank);
    if (by_columns.terms.size() < best.terms.size()) {
      for (ProductTerm& t : by_columns.terms) std::swap(t.a_mask, t.b_mask);
      best = std::move(by_columns);
    }
  }
  ProductTerms out{bits, is_signed, std::move(best.terms)};
  if (!reproduces(table, out)) return std::nullopt;
  return out;
}

std::optional<int> product_terms_lower_bound(std::span<const int32_t> table, int bits,
                                             bool is_signed) {
  check_table(table, bits);
  const std::optional<Cells> cells = kept_cells(table, bits, is_signed);
  if (!cells || !product_terms(table, bits, is_signed)) return std::nullopt;
  return real_rank(*cells, bits);
}

}  // namespace axnn
