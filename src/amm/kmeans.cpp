// Product quantization's encoder: k-means per column group (k-means++ seeding, Lloyd steps).
// Distances are float sums over the group's columns in column order, the same in learning and in
// encode, with ties to the lower centroid, so a row's code never depends on which one computed it.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cstring>
#include <random>

#include "amm/learn_impl.h"

namespace axnn::amm::detail {
namespace {

constexpr int64_t kMaxK = 16;

// Uniform in [0, 1) from the generator's bits alone (std's distributions differ between
// standard libraries; the same seed must give the same model everywhere).
double uniform(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

// Centroids [k][w] transposed to [w][k], so that one row's k distances are one vector loop.
std::vector<float> transpose(const float* centroids, int64_t k, int64_t w) {
  std::vector<float> t(w * k);
  for (int64_t j = 0; j < k; ++j)
    for (int64_t q = 0; q < w; ++q) t[q * k + j] = centroids[j * w + q];
  return t;
}

// Four float lanes (GCC/Clang vector extension): the compiler would rather vectorize across
// columns, which needs a transpose per step; one vector of centroids per step is the fast order.
using Float4 = float __attribute__((vector_size(16)));

// The nearest centroid to x [w] (centroids transposed, [w][K]) and its squared distance. Each
// lane sums its centroid's squares in column order, as the scalar loop for K = 2 does.
template <int K>
int64_t nearest_of(const float* x, const float* transposed, int64_t w, float* distance) {
  float acc[K] = {};
  if constexpr (K % 4 == 0) {
    Float4 lanes[K / 4] = {};
    for (int64_t q = 0; q < w; ++q) {
      const Float4 xq = {x[q], x[q], x[q], x[q]};
      for (int v = 0; v < K / 4; ++v) {
        Float4 c;
        std::memcpy(&c, transposed + q * K + 4 * v, sizeof c);
        const Float4 e = xq - c;
        lanes[v] += e * e;
      }
    }
    std::memcpy(acc, lanes, sizeof acc);
  } else {
    for (int64_t q = 0; q < w; ++q)
      for (int j = 0; j < K; ++j) {
        const float e = x[q] - transposed[q * K + j];
        acc[j] += e * e;
      }
  }
  int best = 0;
  for (int j = 1; j < K; ++j)
    if (acc[j] < acc[best]) best = j;
  *distance = acc[best];
  return best;
}

int64_t nearest(const float* x, const float* transposed, int64_t w, int64_t k, float* distance) {
  switch (k) {
    case 2:
      return nearest_of<2>(x, transposed, w, distance);
    case 4:
      return nearest_of<4>(x, transposed, w, distance);
    case 8:
      return nearest_of<8>(x, transposed, w, distance);
    default:
      return nearest_of<kMaxK>(x, transposed, w, distance);
  }
}

float squared_distance(const float* x, const float* y, int64_t w) {
  float s = 0;
  for (int64_t q = 0; q < w; ++q) {
    const float e = x[q] - y[q];
    s += e * e;
  }
  return s;
}

}  // namespace

std::vector<float> learn_kmeans(const Rows& a, int64_t lo, int64_t hi, int64_t k,
                                int64_t iterations, uint64_t seed) {
  const int64_t n = a.n, w = hi - lo;
  // The group's columns, contiguous: every Lloyd step reads them all.
  std::vector<float> x(n * w);
  for (int64_t i = 0; i < n; ++i) std::copy(a.row(i) + lo, a.row(i) + hi, &x[i * w]);
  auto row = [&](int64_t i) { return &x[i * w]; };

  // k-means++: the first centroid uniform, each next one drawn with probability proportional to
  // the squared distance to the nearest centroid so far (uniform again when all are covered).
  std::mt19937_64 rng(seed ^ (0x9e3779b97f4a7c15ull * static_cast<uint64_t>(lo + 1)));
  std::vector<float> centroids(k * w);
  std::vector<double> d2(n);
  auto pick_uniform = [&] { return std::min(n - 1, static_cast<int64_t>(uniform(rng) * n)); };
  int64_t chosen = pick_uniform();
  std::copy(row(chosen), row(chosen) + w, &centroids[0]);
  for (int64_t i = 0; i < n; ++i) d2[i] = squared_distance(row(i), &centroids[0], w);
  for (int64_t j = 1; j < k; ++j) {
    double total = 0;
    for (double v : d2) total += v;
    if (total > 0) {
      const double target = uniform(rng) * total;
      double cumulative = 0;
      chosen = -1;
      for (int64_t i = 0; i < n && chosen < 0; ++i) {
        cumulative += d2[i];
        if (cumulative > target && d2[i] > 0) chosen = i;
      }
      // Rounding can leave the target just past the sum: the last row with weight.
      for (int64_t i = n - 1; chosen < 0; --i)
        if (d2[i] > 0) chosen = i;
    } else {
      chosen = pick_uniform();
    }
    std::copy(row(chosen), row(chosen) + w, &centroids[j * w]);
    for (int64_t i = 0; i < n; ++i)
      d2[i] = std::min<double>(d2[i], squared_distance(row(i), &centroids[j * w], w));
  }

  std::vector<int64_t> assignment(n, -1);
  std::vector<float> distance(n);
  auto assign = [&] {
    const std::vector<float> t = transpose(centroids.data(), k, w);
    bool changed = false;
    for (int64_t i = 0; i < n; ++i) {
      const int64_t j = nearest(row(i), t.data(), w, k, &distance[i]);
      changed |= j != assignment[i];
      assignment[i] = j;
    }
    return changed;
  };
  assign();
  std::vector<double> sums(k * w);
  std::vector<int64_t> counts(k);
  for (int64_t it = 0; it < iterations; ++it) {
    std::fill(sums.begin(), sums.end(), 0.0);
    std::fill(counts.begin(), counts.end(), 0);
    for (int64_t i = 0; i < n; ++i) {
      double* s = &sums[assignment[i] * w];
      ++counts[assignment[i]];
      for (int64_t q = 0; q < w; ++q) s[q] += row(i)[q];
    }
    bool reseeded = false;
    for (int64_t j = 0; j < k; ++j) {
      if (counts[j] > 0) {
        for (int64_t q = 0; q < w; ++q)
          centroids[j * w + q] = static_cast<float>(sums[j * w + q] / counts[j]);
        continue;
      }
      // An empty cluster restarts at the row farthest from its centroid (the lowest such row);
      // with every row on a centroid there is nothing to take and it keeps its place.
      const int64_t far = std::max_element(distance.begin(), distance.end()) - distance.begin();
      if (distance[far] > 0) {
        std::copy(row(far), row(far) + w, &centroids[j * w]);
        distance[far] = 0;
        reseeded = true;
      }
    }
    if (!assign() && !reseeded) break;
  }
  return centroids;
}

void assign_nearest(const Rows& a, const at::Tensor& prototypes, const std::vector<int64_t>& bounds,
                    uint8_t* codes) {
  const int64_t c = prototypes.size(0), k = prototypes.size(1);
  std::vector<std::vector<float>> transposed(c);
  for (int64_t g = 0; g < c; ++g) {
    const int64_t w = bounds[g + 1] - bounds[g];
    const at::Tensor centroids = prototypes[g].narrow(1, bounds[g], w).contiguous();
    transposed[g] = transpose(centroids.data_ptr<float>(), k, w);
  }
  // All codebooks of a row while it is in cache: A is read once.
  at::parallel_for(0, a.n, 256, [&](int64_t begin, int64_t end) {
    float distance;
    for (int64_t i = begin; i < end; ++i)
      for (int64_t g = 0; g < c; ++g)
        codes[i * c + g] = static_cast<uint8_t>(nearest(a.row(i) + bounds[g], transposed[g].data(),
                                                        bounds[g + 1] - bounds[g], k, &distance));
  });
}

}  // namespace axnn::amm::detail
