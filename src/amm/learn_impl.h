// The per-codebook learners behind amm::learn and amm::encode (maddness.h). Private to src/amm.
#pragma once

#include <ATen/Tensor.h>

#include <cstdint>
#include <vector>

namespace axnn::amm::detail {

// Read-only rows of the training data: row i starts at data + i * ld, columns contiguous.
struct Rows {
  const float* data = nullptr;
  int64_t n = 0, d = 0, ld = 0;
  const float* row(int64_t i) const { return data + i * ld; }
};

// One codebook's hash tree over the group's columns [lo, hi).
struct HashTree {
  std::vector<int32_t> split_dims;   // [depth], columns of A
  std::vector<float> thresholds;     // [2^depth - 1], heap order
  std::vector<float> leaf_means;     // [2^depth][hi - lo]
  std::vector<int64_t> leaf_counts;  // [2^depth]: training rows per leaf
};

// Learns the tree of columns [lo, hi) and writes every row's leaf to codes[i * ldcodes] (the
// leaves encode() gives these rows).
HashTree learn_hash_tree(const Rows& a, int64_t lo, int64_t hi, int depth,
                         int64_t candidate_columns, uint8_t* codes, int64_t ldcodes);

// K-means centroids [k][hi - lo] of columns [lo, hi): k-means++ seeding from `seed`, then up to
// `iterations` Lloyd steps.
std::vector<float> learn_kmeans(const Rows& a, int64_t lo, int64_t hi, int64_t k,
                                int64_t iterations, uint64_t seed);

// Each row's nearest centroid in every group (squared distance summed in column order, ties to
// the lower index): prototypes float [c, k, d] hold the centroids on their groups' columns
// [bounds[g], bounds[g + 1]); codes [n][c].
void assign_nearest(const Rows& a, const at::Tensor& prototypes, const std::vector<int64_t>& bounds,
                    uint8_t* codes);

// MADDness's prototype refinement: P = (G^T G + lambda I)^-1 G^T A with G the one-hot codes
// (codes [n][c], each < k), built from the codes without forming G. float [c, k, d].
at::Tensor ridge_prototypes(const Rows& a, const uint8_t* codes, int64_t c, int64_t k,
                            double lambda);

// For each of `count` leaves, the leaf whose values an empty leaf takes: itself when occupied,
// else the occupied leaf sharing the longest path prefix (the lowest index among equals).
std::vector<int64_t> nearest_occupied(const std::vector<int64_t>& counts);

}  // namespace axnn::amm::detail
