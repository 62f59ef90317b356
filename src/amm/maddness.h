// Learning MADDness / Halut approximate matrix products A B with B fixed (Blalock & Guttag, ICML
// 2021; Halutmatmul): from training rows of A, C codebooks over disjoint column groups each learn
// an encoder that maps a row to one of K prototypes, and the product becomes a sum of table rows
// lut[c][code_c][:] = prototype_{c,code_c} . B. The kernels that run the encoders and tables are
// kernels/maddness.h; the layers are nn/ax_layers.h.
//
// Column groups: codebook c covers columns [bounds[c], bounds[c + 1]) of A; D not divisible by C
// gives the first D mod C groups one column more.
//
// Encoders:
//  - kHashTree (MADDness): per codebook a balanced binary tree of depth log2 K; level l splits on
//    one column of the group (the same at every node of the level), chosen among the group's
//    columns of largest remaining SSE by the lowest total SSE after the split; each node's threshold
//    minimizes that node's SSE (exhaustive search over the sorted values with prefix sums). The
//    trees are the kernels' layout: split_dims[c][l] (a column of A, not of the group) and
//    thresholds[c][2^l - 1 + i].
//  - kKMeans (classic product quantization): k-means with K centroids per group, a row's code the
//    nearest centroid of its group (squared distance; ties to the lower index).
// Prototypes: [C, K, D]. Hash trees start from the leaf means over the group's columns (zero
// elsewhere) and are refined over all D columns by ridge regression (MADDness's one linear solve:
// P = (G^T G + lambda I)^-1 G^T A with G the N x C K one-hot codes); k-means prototypes are the
// centroids (zero outside the group), as product quantization defines them.
#pragma once

#include <ATen/Tensor.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace axnn::amm {

enum class Encoder { kHashTree, kKMeans };
// "maddness" (hash trees) or "pq" (k-means); throws axnn::Error naming the value otherwise.
Encoder parse_encoder(std::string_view name);
std::string_view encoder_name(Encoder encoder);

// C + 1 column offsets: group c is [bounds[c], bounds[c + 1]). Throws axnn::Error when c < 1 or
// c > d.
std::vector<int64_t> group_bounds(int64_t d, int64_t c);

struct LearnOptions {
  int64_t c = 16;                  // codebooks
  int64_t k = 16;                  // prototypes per codebook: 2, 4, 8 or 16
  Encoder encoder = Encoder::kHashTree;
  double ridge_lambda = 1.0;       // hash trees: the ridge refinement's lambda; 0 skips it
  int64_t candidate_columns = 4;   // hash trees: columns tried per level (largest SSE first)
  int64_t kmeans_iterations = 25;  // k-means: Lloyd iterations (k-means++ seeding)
  uint64_t seed = 1;               // k-means seeding and any sampling: same seed, same result
};

// A learned encoder with its prototypes. Tensors on the CPU.
struct Maddness {
  Encoder encoder = Encoder::kHashTree;
  int64_t d = 0, c = 0, k = 0;
  at::Tensor split_dims;  // hash trees: int32 [C, log2 K]; undefined for k-means
  at::Tensor thresholds;  // hash trees: float [C, K - 1]; undefined for k-means
  at::Tensor prototypes;  // float [C, K, D]
  int depth() const;      // log2 K
};

// Learns from the rows of `a` (float [N, D], N >= K; read in place when its columns are
// contiguous, whatever the row stride); copies of `a` go no further than one group's columns per
// thread (N x D / C floats: the learners reread them in sorted or random row order, several times
// faster from a dense copy). Deterministic: the same options give the same model at any thread
// count. Throws axnn::Error naming the option, shape or training row at fault (NaN and infinite
// entries are refused).
Maddness learn(const at::Tensor& a, const LearnOptions& options);

// The codes of the rows of `a` (float [N, D]): uint8 [N, C], each < K. Hash trees run the encode
// kernel; k-means takes the nearest centroid.
at::Tensor encode(const Maddness& model, const at::Tensor& a);

// The tables for B (float [D, M]): float [C, K, M], lut[c][k][m] = prototypes[c][k] . B[:, m].
at::Tensor make_lut(const Maddness& model, const at::Tensor& b);

// A float table as int8 with one scale and offset per output column, shared by all codebooks
// (what one integer sum over the codebooks needs): per (c, m) the entries are shifted by their
// minimum over the K rows, scaled by scale[m] = 255 / (the largest such range over c) and rounded
// to 0..255, then stored minus 128. Decoding the int8 sum S[n][m] = sum_c table[c][code_c][m] as
// S / scale[m] + offset[m] reproduces the float sum up to the rounding: at most C / (2 scale[m]).
struct QuantizedLut {
  at::Tensor table;   // int8 [C, K, M]
  at::Tensor scale;   // float [M]
  at::Tensor offset;  // float [M]: sum_c min_c + 128 C / scale
};
// Computed on the CPU, returned on the table's device.
QuantizedLut quantize_lut(const at::Tensor& lut);

// ||exact - approx||^2 / ||exact||^2.
double nmse(const at::Tensor& exact, const at::Tensor& approx);

}  // namespace axnn::amm
