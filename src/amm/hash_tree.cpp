// MADDness hash-tree learning (Blalock & Guttag, ICML 2021, Algorithm 2) for one codebook.
//
// Level l holds 2^l buckets (the tree's nodes at that level). Per level: the candidate columns are
// the group's columns of largest remaining SSE (summed over the buckets); for each candidate every
// bucket gets its best threshold on that column, and the candidate whose thresholds leave the
// lowest total SSE (over all the group's columns) is the level's split column. Rows then move to
// child 2 i + (x > t), the encode kernel's rule, so the training leaves are the encoded leaves.
//
// Best threshold of a bucket on column j: its rows sorted by column j, every boundary between two
// distinct values tried. With bucket mean mu and L the sum over the first n_l rows of (x - mu),
// SSE(left) + SSE(right) = SSE(bucket) - |L|^2 n / (n_l n_r): the prefix sums of the sums of
// squares cancel, so one running vector of centred sums (double) scores every boundary.
//
// Memory: per codebook a dense copy of the group's columns (scanned in sorted order, a random
// walk over the rows: from A's full rows that walk is bound by cache misses), the rows' bucket
// ids, one (value, row) key per row for the column being sorted, and per-bucket statistics.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>

#include "amm/learn_impl.h"

namespace axnn::amm::detail {
namespace {

// Float bits remapped so that unsigned order is float order (inputs are finite: learn checks).
uint32_t ordered_bits(float v) {
  uint32_t u;
  std::memcpy(&u, &v, sizeof u);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

float from_ordered_bits(uint32_t o) {
  const uint32_t u = (o & 0x80000000u) ? (o & 0x7fffffffu) : ~o;
  float v;
  std::memcpy(&v, &u, sizeof v);
  return v;
}

float key_value(uint64_t key) { return from_ordered_bits(static_cast<uint32_t>(key >> 32)); }
int64_t key_row(uint64_t key) { return static_cast<int64_t>(key & 0xffffffffu); }

// A threshold t with lo <= t < hi, so that x > t sends hi and above right and lo and below left:
// the midpoint when it rounds strictly below hi, else lo itself.
float threshold_between(float lo, float hi) {
  const float mid = static_cast<float>(0.5 * (static_cast<double>(lo) + hi));
  return (mid >= lo && mid < hi) ? mid : lo;
}

constexpr int64_t kPrefetch = 8;  // rows

// Sorts keys (value bits above, row below) into (value, row) order. Keys arrive in row order,
// so a stable sort on the value bits alone suffices: LSD radix, 11 bits a pass, passes whose
// digit all keys share skipped; small runs go to std::sort (the same order).
void sort_keys(uint64_t* keys, int64_t m, std::vector<uint64_t>& scratch) {
  if (m < 1024) {
    std::sort(keys, keys + m);
    return;
  }
  scratch.resize(m);
  uint64_t* src = keys;
  uint64_t* dst = scratch.data();
  for (int shift = 32; shift < 64; shift += 11) {
    int64_t start[2049] = {};
    for (int64_t i = 0; i < m; ++i) ++start[((src[i] >> shift) & 2047) + 1];
    if (*std::max_element(start + 1, start + 2049) == m) continue;
    for (int digit = 0; digit < 2048; ++digit) start[digit + 1] += start[digit];
    for (int64_t i = 0; i < m; ++i) dst[start[(src[i] >> shift) & 2047]++] = src[i];
    std::swap(src, dst);
  }
  if (src != keys) std::copy(src, src + m, keys);
}

struct Split {
  double gain = 0;  // SSE removed
  float threshold = 0;
};

// The best split of one bucket: keys [m] sorted (value, row); mean [w] the bucket's column means.
// Without any boundary (fewer than 2 rows or a constant column) every row stays left.
Split best_split(const Rows& g, int64_t w, const uint64_t* keys, int64_t m, const double* mean,
                 std::vector<double>& run) {
  Split best;
  if (m == 0) return best;
  best.threshold = key_value(keys[m - 1]);
  std::fill(run.begin(), run.end(), 0.0);
  float value = key_value(keys[0]);
  for (int64_t i = 0; i + 1 < m; ++i) {
    // Rows come in sorted, not memory, order: fetch ahead to hide the cache misses.
    if (i + kPrefetch < m) {
      const float* ahead = g.row(key_row(keys[i + kPrefetch]));
      for (int64_t q = 0; q < w; q += 16) __builtin_prefetch(ahead + q);
      __builtin_prefetch(ahead + w - 1);
    }
    const float* x = g.row(key_row(keys[i]));
    // Four partial sums (a fixed order, so still deterministic) let the loop vectorize.
    double norm[4] = {};
    int64_t q = 0;
    for (; q + 4 <= w; q += 4)
      for (int64_t r = 0; r < 4; ++r) {
        run[q + r] += static_cast<double>(x[q + r]) - mean[q + r];
        norm[r] += run[q + r] * run[q + r];
      }
    for (; q < w; ++q) {
      run[q] += static_cast<double>(x[q]) - mean[q];
      norm[0] += run[q] * run[q];
    }
    const float next = key_value(keys[i + 1]);
    if (value < next) {
      const double left = static_cast<double>(i + 1), right = static_cast<double>(m - i - 1);
      const double gain =
          ((norm[0] + norm[1]) + (norm[2] + norm[3])) * static_cast<double>(m) / (left * right);
      if (gain > best.gain) best = {gain, threshold_between(value, next)};
    }
    value = next;
  }
  return best;
}

}  // namespace

std::vector<int64_t> nearest_occupied(const std::vector<int64_t>& counts) {
  const int64_t size = static_cast<int64_t>(counts.size());
  std::vector<int64_t> source(counts.size());
  for (int64_t i = 0; i < size; ++i) {
    source[i] = i;
    // Widen the block of leaves sharing i's path prefix until it holds an occupied one.
    for (int64_t block = 1; counts[i] == 0 && block < size * 2; block *= 2) {
      const int64_t start = (i / block) * block, end = std::min(start + block, size);
      const auto it = std::find_if(counts.begin() + start, counts.begin() + end,
                                   [](int64_t count) { return count > 0; });
      if (it != counts.begin() + end) {
        source[i] = it - counts.begin();
        break;
      }
    }
  }
  return source;
}

HashTree learn_hash_tree(const Rows& a, int64_t lo, int64_t hi, int depth,
                         int64_t candidate_columns, uint8_t* codes, int64_t ldcodes) {
  const int64_t n = a.n, w = hi - lo, leaves = int64_t{1} << depth;
  HashTree tree;
  tree.split_dims.resize(depth);
  tree.thresholds.resize(leaves - 1);
  // The group's columns, contiguous: every level and candidate reads them in sorted order.
  std::vector<float> group(n * w);
  for (int64_t i = 0; i < n; ++i) std::copy(a.row(i) + lo, a.row(i) + hi, &group[i * w]);
  const Rows g{group.data(), n, w, w};
  std::vector<uint8_t> bucket(n, 0);
  std::vector<uint64_t> keys(n), scratch;
  std::vector<double> run(w);

  // Per-bucket counts, column means and column SSEs (two passes: centred sums stay accurate).
  std::vector<int64_t> count;
  std::vector<double> mean, sse;
  auto bucket_stats = [&](int64_t buckets) {
    count.assign(buckets, 0);
    mean.assign(buckets * w, 0.0);
    sse.assign(buckets * w, 0.0);
    for (int64_t i = 0; i < n; ++i) {
      const float* x = g.row(i);
      double* s = &mean[bucket[i] * w];
      ++count[bucket[i]];
      for (int64_t q = 0; q < w; ++q) s[q] += x[q];
    }
    for (int64_t b = 0; b < buckets; ++b)
      for (int64_t q = 0; q < w; ++q) mean[b * w + q] /= std::max<int64_t>(count[b], 1);
    for (int64_t i = 0; i < n; ++i) {
      const float* x = g.row(i);
      const double* mu = &mean[bucket[i] * w];
      double* s = &sse[bucket[i] * w];
      for (int64_t q = 0; q < w; ++q) {
        const double e = x[q] - mu[q];
        s[q] += e * e;
      }
    }
  };

  for (int level = 0; level < depth; ++level) {
    const int64_t buckets = int64_t{1} << level;
    bucket_stats(buckets);
    std::vector<int64_t> offset(buckets + 1, 0);
    for (int64_t b = 0; b < buckets; ++b) offset[b + 1] = offset[b] + count[b];
    std::vector<double> column_sse(w, 0.0), bucket_sse(buckets, 0.0);
    for (int64_t b = 0; b < buckets; ++b)
      for (int64_t q = 0; q < w; ++q) {
        column_sse[q] += sse[b * w + q];
        bucket_sse[b] += sse[b * w + q];
      }
    std::vector<int64_t> candidates(w);
    std::iota(candidates.begin(), candidates.end(), 0);
    std::stable_sort(candidates.begin(), candidates.end(),
                     [&](int64_t x, int64_t y) { return column_sse[x] > column_sse[y]; });
    candidates.resize(std::min(candidate_columns, w));

    double best_total = std::numeric_limits<double>::infinity();
    int64_t best_column = candidates[0];
    std::vector<float> best_thresholds(buckets), thresholds(buckets);
    std::vector<int64_t> fill(buckets);
    for (int64_t column : candidates) {
      // Keys grouped by bucket in one sequential pass over the rows, then sorted per bucket.
      std::copy(offset.begin(), offset.end() - 1, fill.begin());
      for (int64_t i = 0; i < n; ++i)
        keys[fill[bucket[i]]++] =
            (uint64_t{ordered_bits(g.row(i)[column])} << 32) | static_cast<uint64_t>(i);
      double total = 0;
      for (int64_t b = 0; b < buckets; ++b) {
        uint64_t* begin = keys.data() + offset[b];
        sort_keys(begin, count[b], scratch);
        const Split split = best_split(g, w, begin, count[b], &mean[b * w], run);
        thresholds[b] = split.threshold;
        total += std::max(0.0, bucket_sse[b] - split.gain);
      }
      if (total < best_total) {
        best_total = total;
        best_column = column;
        best_thresholds = thresholds;
      }
    }
    // An empty bucket sees no training row; it borrows the threshold of its nearest occupied one.
    const std::vector<int64_t> source = nearest_occupied(count);
    tree.split_dims[level] = static_cast<int32_t>(lo + best_column);
    for (int64_t b = 0; b < buckets; ++b)
      tree.thresholds[buckets - 1 + b] = best_thresholds[source[b]];
    const float* node_threshold = &tree.thresholds[buckets - 1];
    for (int64_t i = 0; i < n; ++i)
      bucket[i] =
          static_cast<uint8_t>(2 * bucket[i] + (g.row(i)[best_column] > node_threshold[bucket[i]]));
  }

  bucket_stats(leaves);
  tree.leaf_counts = count;
  tree.leaf_means.resize(leaves * w);
  const std::vector<int64_t> source = nearest_occupied(count);
  for (int64_t b = 0; b < leaves; ++b)
    for (int64_t q = 0; q < w; ++q)
      tree.leaf_means[b * w + q] = static_cast<float>(mean[source[b] * w + q]);
  for (int64_t i = 0; i < n; ++i) codes[i * ldcodes] = bucket[i];
  return tree;
}

}  // namespace axnn::amm::detail
