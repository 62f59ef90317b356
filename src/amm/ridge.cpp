// MADDness's prototype refinement (ICML 2021, section 4.4): all prototypes jointly, over all D
// columns, by one ridge regression of A on the one-hot codes G (N x C K). Only G^T G (C K x C K:
// how often two leaves occur in one row) and G^T A (C K x D: the sum of the rows in each leaf) are
// needed, both accumulated straight from the codes in double.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include "amm/learn_impl.h"

namespace axnn::amm::detail {

at::Tensor ridge_prototypes(const Rows& a, const uint8_t* codes, int64_t c, int64_t k,
                            double lambda) {
  const int64_t n = a.n, d = a.d, ck = c * k;
  at::Tensor gram = at::zeros({ck, ck}, at::kDouble);
  at::Tensor rhs = at::zeros({ck, d}, at::kDouble);
  double* g = gram.data_ptr<double>();
  double* r = rhs.data_ptr<double>();
  // Threads own disjoint rows of G^T G (codebooks) and columns of G^T A, so sums keep row order.
  at::parallel_for(0, c, 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = 0; i < n; ++i) {
      const uint8_t* code = codes + i * c;
      for (int64_t u = begin; u < end; ++u) {
        double* dst = g + (u * k + code[u]) * ck;
        for (int64_t v = 0; v < c; ++v) dst[v * k + code[v]] += 1;
      }
    }
  });
  at::parallel_for(0, d, 16, [&](int64_t begin, int64_t end) {
    for (int64_t i = 0; i < n; ++i) {
      const float* x = a.row(i);
      const uint8_t* code = codes + i * c;
      for (int64_t u = 0; u < c; ++u) {
        double* dst = r + (u * k + code[u]) * d;
        for (int64_t j = begin; j < end; ++j) dst[j] += x[j];
      }
    }
  });

  std::vector<int64_t> counts(ck);
  for (int64_t i = 0; i < ck; ++i) counts[i] = static_cast<int64_t>(g[i * ck + i]);
  gram.diagonal().add_(lambda);
  at::Tensor prototypes = at::linalg_solve(gram, rhs).to(at::kFloat).view({c, k, d});

  // The solve sends an empty leaf's prototype to 0; like the leaf means, it takes its nearest
  // occupied leaf's instead (a row reaching it at inference is most like that leaf's rows).
  for (int64_t u = 0; u < c; ++u) {
    const std::vector<int64_t> source =
        nearest_occupied(std::vector<int64_t>(counts.begin() + u * k, counts.begin() + u * k + k));
    for (int64_t j = 0; j < k; ++j)
      if (source[j] != j) prototypes[u][j].copy_(prototypes[u][source[j]]);
  }
  return prototypes;
}

}  // namespace axnn::amm::detail
