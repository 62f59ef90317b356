// amm/maddness.h: checks, the per-codebook learners (hash_tree.cpp, kmeans.cpp, ridge.cpp) run
// over the column groups, encode through the kernels, tables and their int8 form.
#include "amm/maddness.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <mutex>

#include "amm/learn_impl.h"
#include "core/error.h"
#include "kernels/maddness.h"

namespace axnn::amm {
namespace {

std::string type_name(const at::Tensor& t) { return std::string(c10::toString(t.scalar_type())); }

// Rows of a float [N, D] CPU tensor, in place when its columns are contiguous.
detail::Rows rows_of(const at::Tensor& a, at::Tensor& holder, const char* what) {
  AXNN_CHECK(a.defined(), "MADDness: {} is undefined", what);
  AXNN_CHECK(a.dim() == 2, "MADDness: {} must be 2-D [N, D], got {}-D", what, a.dim());
  AXNN_CHECK(a.scalar_type() == at::kFloat, "MADDness: {} must be float32, got {}", what,
             type_name(a));
  AXNN_CHECK(a.device().is_cpu(), "MADDness: {} must be on the CPU", what);
  holder = (a.stride(1) == 1 || a.size(1) == 1) ? a : a.contiguous();
  return {holder.data_ptr<float>(), holder.size(0), holder.size(1),
          holder.size(0) > 1 ? holder.stride(0) : holder.size(1)};
}

// Throws naming the first (row, column) that is NaN or infinite.
void check_finite(const detail::Rows& rows) {
  int64_t first = std::numeric_limits<int64_t>::max();  // row * d + column
  std::mutex mutex;
  at::parallel_for(0, rows.n, 4096, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const float* x = rows.row(i);
      bool finite = true;
      for (int64_t j = 0; j < rows.d; ++j) finite &= std::isfinite(x[j]);
      if (finite) continue;
      const int64_t j = std::find_if(x, x + rows.d, [](float v) { return !std::isfinite(v); }) - x;
      std::lock_guard<std::mutex> lock(mutex);
      first = std::min(first, i * rows.d + j);
      return;
    }
  });
  if (first == std::numeric_limits<int64_t>::max()) return;
  const int64_t i = first / rows.d, j = first % rows.d;
  AXNN_CHECK(false, "MADDness: training row {} has {} in column {}", i,
             std::isnan(rows.row(i)[j]) ? "NaN" : "an infinity", j);
}

void check_model(const Maddness& model) {
  AXNN_CHECK(model.k == 2 || model.k == 4 || model.k == 8 || model.k == 16,
             "MADDness: the model's k = {}, expected 2, 4, 8 or 16", model.k);
  AXNN_CHECK(model.c >= 1 && model.d >= model.c && model.prototypes.defined() &&
                 model.prototypes.sizes() == at::IntArrayRef({model.c, model.k, model.d}),
             "MADDness: the model's prototypes must be [c = {}, k = {}, d = {}]", model.c, model.k,
             model.d);
  if (model.encoder == Encoder::kHashTree)
    AXNN_CHECK(model.split_dims.defined() && model.thresholds.defined() &&
                   model.split_dims.sizes() == at::IntArrayRef({model.c, model.depth()}) &&
                   model.thresholds.sizes() == at::IntArrayRef({model.c, model.k - 1}),
               "MADDness: the model's trees must be split_dims [{}, {}] and thresholds [{}, {}]",
               model.c, model.depth(), model.c, model.k - 1);
}

}  // namespace

Encoder parse_encoder(std::string_view name) {
  if (name == "maddness") return Encoder::kHashTree;
  if (name == "pq") return Encoder::kKMeans;
  AXNN_CHECK(false, "unknown MADDness encoder '{}': expected maddness (hash trees) or pq (k-means)",
             name);
  return Encoder::kHashTree;
}

std::string_view encoder_name(Encoder encoder) {
  return encoder == Encoder::kHashTree ? "maddness" : "pq";
}

std::vector<int64_t> group_bounds(int64_t d, int64_t c) {
  AXNN_CHECK(c >= 1, "MADDness: c = {} codebooks, need at least 1", c);
  AXNN_CHECK(c <= d, "MADDness: c = {} codebooks exceed d = {} columns (one column at least each)",
             c, d);
  std::vector<int64_t> bounds(c + 1, 0);
  for (int64_t g = 0; g < c; ++g) bounds[g + 1] = bounds[g] + d / c + (g < d % c ? 1 : 0);
  return bounds;
}

int Maddness::depth() const {
  int levels = 0;
  while ((int64_t{1} << levels) < k) ++levels;
  return levels;
}

Maddness learn(const at::Tensor& a, const LearnOptions& options) {
  at::Tensor holder;
  const detail::Rows rows = rows_of(a, holder, "training data a");
  const int64_t n = rows.n, d = rows.d, c = options.c, k = options.k;
  const std::vector<int64_t> bounds = group_bounds(d, c);
  AXNN_CHECK(k == 2 || k == 4 || k == 8 || k == 16,
             "MADDness: k = {} prototypes per codebook, expected 2, 4, 8 or 16", k);
  AXNN_CHECK(n >= k, "MADDness: N = {} training rows, need at least k = {}", n, k);
  AXNN_CHECK(n <= std::numeric_limits<int32_t>::max(),
             "MADDness: N = {} training rows, at most 2^31 - 1", n);
  AXNN_CHECK(options.candidate_columns >= 1, "MADDness: candidate_columns = {}, need at least 1",
             options.candidate_columns);
  AXNN_CHECK(options.kmeans_iterations >= 0, "MADDness: kmeans_iterations = {} is negative",
             options.kmeans_iterations);
  AXNN_CHECK(std::isfinite(options.ridge_lambda) && options.ridge_lambda >= 0,
             "MADDness: ridge_lambda = {}, need a finite value >= 0", options.ridge_lambda);
  check_finite(rows);

  Maddness model;
  model.encoder = options.encoder;
  model.d = d;
  model.c = c;
  model.k = k;
  if (options.encoder == Encoder::kKMeans) {
    model.prototypes = at::zeros({c, k, d}, at::kFloat);
    std::vector<std::vector<float>> centroids(c);
    at::parallel_for(0, c, 1, [&](int64_t begin, int64_t end) {
      for (int64_t g = begin; g < end; ++g)
        centroids[g] = detail::learn_kmeans(rows, bounds[g], bounds[g + 1], k,
                                            options.kmeans_iterations, options.seed);
    });
    for (int64_t g = 0; g < c; ++g) {
      const int64_t w = bounds[g + 1] - bounds[g];
      model.prototypes[g].narrow(1, bounds[g], w).copy_(at::from_blob(centroids[g].data(), {k, w}));
    }
    return model;
  }

  const int depth = model.depth();
  std::vector<uint8_t> codes(n * c);
  std::vector<detail::HashTree> trees(c);
  at::parallel_for(0, c, 1, [&](int64_t begin, int64_t end) {
    for (int64_t g = begin; g < end; ++g)
      trees[g] = detail::learn_hash_tree(rows, bounds[g], bounds[g + 1], depth,
                                         options.candidate_columns, codes.data() + g, c);
  });
  model.split_dims = at::empty({c, depth}, at::kInt);
  model.thresholds = at::empty({c, k - 1}, at::kFloat);
  for (int64_t g = 0; g < c; ++g) {
    std::copy(trees[g].split_dims.begin(), trees[g].split_dims.end(),
              model.split_dims.data_ptr<int32_t>() + g * depth);
    std::copy(trees[g].thresholds.begin(), trees[g].thresholds.end(),
              model.thresholds.data_ptr<float>() + g * (k - 1));
  }
  if (options.ridge_lambda > 0) {
    model.prototypes = detail::ridge_prototypes(rows, codes.data(), c, k, options.ridge_lambda);
  } else {
    model.prototypes = at::zeros({c, k, d}, at::kFloat);
    for (int64_t g = 0; g < c; ++g) {
      const int64_t w = bounds[g + 1] - bounds[g];
      model.prototypes[g]
          .narrow(1, bounds[g], w)
          .copy_(at::from_blob(trees[g].leaf_means.data(), {k, w}));
    }
  }
  return model;
}

at::Tensor encode(const Maddness& model, const at::Tensor& a) {
  check_model(model);
  at::Tensor holder;
  const detail::Rows rows = rows_of(a, holder, "encode input a");
  AXNN_CHECK(rows.d == model.d, "MADDness encode: a has {} columns, the model {}", rows.d, model.d);
  at::Tensor codes = at::empty({rows.n, model.c}, at::kByte);
  if (rows.n == 0) return codes;
  uint8_t* dst = codes.data_ptr<uint8_t>();
  if (model.encoder == Encoder::kHashTree) {
    const at::Tensor split_dims = model.split_dims.to(at::kInt).contiguous();
    const at::Tensor thresholds = model.thresholds.to(at::kFloat).contiguous();
    kernels::MaddnessEncoderDesc desc;
    desc.d = model.d;
    desc.c = model.c;
    desc.depth = model.depth();
    desc.split_dims = {split_dims.data_ptr<int32_t>(), static_cast<size_t>(split_dims.numel())};
    desc.thresholds = {thresholds.data_ptr<float>(), static_cast<size_t>(thresholds.numel())};
    kernels::MaddnessEncoder::create(desc).run(rows.data, rows.n, dst, rows.ld, model.c);
    return codes;
  }
  detail::assign_nearest(rows, model.prototypes.to(at::kFloat), group_bounds(model.d, model.c),
                         dst);
  return codes;
}

at::Tensor make_lut(const Maddness& model, const at::Tensor& b) {
  check_model(model);
  AXNN_CHECK(b.defined() && b.dim() == 2 && b.scalar_type() == at::kFloat,
             "MADDness make_lut: b must be a float [D, M] matrix");
  AXNN_CHECK(b.size(0) == model.d, "MADDness make_lut: b has {} rows, the model d = {}", b.size(0),
             model.d);
  return at::matmul(model.prototypes.reshape({model.c * model.k, model.d}), b)
      .view({model.c, model.k, b.size(1)});
}

QuantizedLut quantize_lut(const at::Tensor& lut) {
  AXNN_CHECK(lut.defined() && lut.dim() == 3 && lut.scalar_type() == at::kFloat,
             "MADDness quantize_lut: the table must be float [C, K, M]");
  const at::Tensor src = lut.to(at::kCPU).contiguous();  // the host loop below
  const int64_t c = src.size(0), k = src.size(1), m = src.size(2);
  AXNN_CHECK(k >= 1, "MADDness quantize_lut: the table has K = 0 rows per codebook");
  AXNN_CHECK(at::isfinite(src).all().item<bool>(),
             "MADDness quantize_lut: the table has NaN or infinite entries");
  const float* x = src.data_ptr<float>();
  auto at_ = [&](int64_t u, int64_t j, int64_t col) { return x[(u * k + j) * m + col]; };

  QuantizedLut q{at::empty({c, k, m}, at::kChar), at::empty({m}, at::kFloat),
                 at::empty({m}, at::kFloat)};
  int8_t* table = q.table.data_ptr<int8_t>();
  float* scale = q.scale.data_ptr<float>();
  float* offset = q.offset.data_ptr<float>();
  std::vector<double> minimum(c);
  for (int64_t col = 0; col < m; ++col) {
    double widest = 0, min_sum = 0;
    for (int64_t u = 0; u < c; ++u) {
      double lo = at_(u, 0, col), hi = lo;
      for (int64_t j = 1; j < k; ++j) {
        lo = std::min<double>(lo, at_(u, j, col));
        hi = std::max<double>(hi, at_(u, j, col));
      }
      minimum[u] = lo;
      min_sum += lo;
      widest = std::max(widest, hi - lo);
    }
    // A constant column (range 0) gets scale 1: every entry is its minimum, stored as -128.
    const double wanted = widest > 0 ? 255.0 / widest : 1.0;
    const float s = static_cast<float>(std::min<double>(wanted, std::numeric_limits<float>::max()));
    scale[col] = s;
    offset[col] = static_cast<float>(min_sum + 128.0 * static_cast<double>(c) / s);
    for (int64_t u = 0; u < c; ++u)
      for (int64_t j = 0; j < k; ++j) {
        const double level = std::nearbyint((at_(u, j, col) - minimum[u]) * s);
        table[(u * k + j) * m + col] = static_cast<int8_t>(std::clamp(level, 0.0, 255.0) - 128);
      }
  }
  return {q.table.to(lut.device()), q.scale.to(lut.device()), q.offset.to(lut.device())};
}

double nmse(const at::Tensor& exact, const at::Tensor& approx) {
  AXNN_CHECK(exact.defined() && approx.defined() && exact.sizes() == approx.sizes(),
             "MADDness nmse: exact and approx must have the same shape");
  const at::Tensor e = exact.to(at::kDouble);
  const double num = (e - approx.to(at::kDouble)).square().sum().item<double>();
  const double den = e.square().sum().item<double>();
  if (den == 0) return num == 0 ? 0.0 : std::numeric_limits<double>::infinity();
  return num / den;
}

}  // namespace axnn::amm
