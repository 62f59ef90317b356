#include "quant/calibrator.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "core/error.h"
#include "quant/quantize.h"

namespace axnn::quant {
namespace {

constexpr int64_t kMaxBinsFactor = 4;
constexpr double kSmoothing = 1e-4;  // entropy: probability given to each empty bin of Q

constexpr CalibMethod kMethods[] = {CalibMethod::kMax, CalibMethod::kPercentile, CalibMethod::kMse,
                                    CalibMethod::kEntropy};

}  // namespace

std::string_view calib_method_name(CalibMethod method) {
  switch (method) {
    case CalibMethod::kMax:
      return "max";
    case CalibMethod::kPercentile:
      return "percentile";
    case CalibMethod::kMse:
      return "mse";
    case CalibMethod::kEntropy:
      return "entropy";
  }
  return "?";
}

CalibMethod parse_calib_method(std::string_view name) {
  for (CalibMethod method : kMethods)
    if (name == calib_method_name(method)) return method;
  throw Error(fmt::format(
      "unknown calibration method '{}' (expected max, percentile, mse or entropy)", name));
}

Calibrator::Calibrator(CalibOptions options) : options_(options) {
  AXNN_CHECK(options_.percentile > 0 && options_.percentile <= 100,
             "calibrator: percentile = {} is outside (0, 100]", options_.percentile);
  AXNN_CHECK(options_.bins >= 16, "calibrator: bins = {} must be at least 16", options_.bins);
  symmetric_range(options_.bits, options_.narrow_range);  // checks bits
}

void Calibrator::collect(const at::Tensor& x) {
  AXNN_CHECK(at::isFloatingType(x.scalar_type()), "calibrator: data must be float, got {}",
             std::string(c10::toString(x.scalar_type())));
  if (x.numel() == 0) return;
  // On the host, where the histogram lives: the same statistics whatever the data's device.
  const at::Tensor v = x.detach().to(at::kCPU, at::kDouble);
  AXNN_CHECK(at::isfinite(v).all().item<bool>(), "calibrator: data holds NaN or infinity");
  const double lo = v.min().item<double>(), hi = v.max().item<double>();
  min_ = batches_ == 0 ? lo : std::min(min_, lo);
  max_ = batches_ == 0 ? hi : std::max(max_, hi);
  ++batches_;
  const at::Tensor a = v.abs();
  const double batch_max = a.max().item<double>();
  max_abs_ = std::max(max_abs_, batch_max);
  if (batch_max == 0) {
    if (bin_width_ == 0)
      zeros_ += a.numel();
    else
      hist_[0] += static_cast<double>(a.numel());
    return;
  }
  if (bin_width_ == 0) {
    bin_width_ = batch_max / static_cast<double>(options_.bins);
    hist_.assign(static_cast<size_t>(options_.bins), 0.0);
    hist_[0] += static_cast<double>(zeros_);
  }
  // Extend with bins of the same width to cover this batch; past kMaxBinsFactor times the
  // configured count, merge neighbours (doubling the width) so that mse and entropy stay cheap.
  auto needed = [&] { return static_cast<int64_t>(std::ceil(batch_max / bin_width_)); };
  while (needed() > kMaxBinsFactor * options_.bins) {
    for (size_t i = 0; i < hist_.size(); ++i) hist_[i / 2] = (i % 2 ? hist_[i / 2] : 0) + hist_[i];
    hist_.resize((hist_.size() + 1) / 2);
    bin_width_ *= 2;
  }
  if (needed() > static_cast<int64_t>(hist_.size())) hist_.resize(needed(), 0.0);
  const int64_t bins = static_cast<int64_t>(hist_.size());
  const at::Tensor counts =
      at::histc(a, bins, 0, bin_width_ * static_cast<double>(bins)).contiguous();
  const double* c = counts.data_ptr<double>();
  for (int64_t i = 0; i < bins; ++i) hist_[i] += c[i];
}

void Calibrator::check_collected() const {
  AXNN_CHECK(batches_ > 0, "calibrator: no data collected yet");
}

double Calibrator::min() const {
  check_collected();
  return min_;
}

double Calibrator::max() const {
  check_collected();
  return max_;
}

double Calibrator::amax() const {
  check_collected();
  if (options_.method == CalibMethod::kMax || bin_width_ == 0) return max_abs_;
  double amax = 0;
  switch (options_.method) {
    case CalibMethod::kPercentile:
      amax = percentile_amax();
      break;
    case CalibMethod::kMse:
      amax = mse_amax();
      break;
    default:
      amax = entropy_amax();
      break;
  }
  return std::min(amax, max_abs_);
}

double Calibrator::percentile_amax() const {
  const double total = std::accumulate(hist_.begin(), hist_.end(), 0.0);
  const double want = options_.percentile / 100 * total;
  double seen = 0;
  for (size_t i = 0; i < hist_.size(); ++i) {
    seen += hist_[i];
    if (seen >= want) return static_cast<double>(i + 1) * bin_width_;  // the bin's upper edge
  }
  return max_abs_;
}

double Calibrator::mse_amax() const {
  // The error of quantizing each bin's centre, weighted by its count, for every candidate amax
  // at a bin centre.
  const double qmax = static_cast<double>(symmetric_range(options_.bits, true).qmax);
  const int64_t bins = static_cast<int64_t>(hist_.size());
  double best = std::numeric_limits<double>::infinity(), best_amax = max_abs_;
  for (int64_t candidate = 0; candidate < bins; ++candidate) {
    const double amax = bin_center(candidate), scale = qmax / amax;
    double error = 0;
    for (int64_t i = 0; i < bins; ++i) {
      if (hist_[i] == 0) continue;
      const double x = bin_center(i);
      const double q = std::min(std::nearbyint(x * scale), qmax) / scale;
      error += hist_[i] * (x - q) * (x - q);
    }
    if (error < best) best = error, best_amax = amax;
  }
  return best_amax;
}

double Calibrator::entropy_amax() const {
  // TensorRT's method: for each cut i, the reference distribution P is the first i bins with the
  // rest folded into bin i - 1 (what clipping at the cut does to the data); Q is the first i bins
  // alone merged into `levels` groups and spread back evenly over each group's non-empty bins
  // (what quantizing them keeps). Empty bins of Q get kSmoothing of probability, taken evenly from
  // the others, so that clipped outliers landing in an empty bin cost a finite divergence. The cut
  // with the smallest KL(P || Q) gives amax.
  const int64_t levels = symmetric_range(options_.bits, true).qmax + 1;
  const int64_t bins = static_cast<int64_t>(hist_.size());
  if (bins <= levels) return max_abs_;
  double best = std::numeric_limits<double>::infinity(), best_amax = max_abs_;
  std::vector<double> p, q;
  const double tail_total = std::accumulate(hist_.begin(), hist_.end(), 0.0);
  double tail = tail_total;  // sum of hist_[i..]
  for (int64_t i = 0; i < levels; ++i) tail -= hist_[i];
  for (int64_t cut = levels; cut <= bins; ++cut) {
    p.assign(hist_.begin(), hist_.begin() + cut);
    p[cut - 1] += tail;  // outliers clipped into the last bin
    if (cut < bins) tail -= hist_[cut];
    q.assign(cut, 0.0);
    const int64_t per_group = cut / levels;
    for (int64_t g = 0; g < levels; ++g) {
      const int64_t begin = g * per_group, end = g + 1 == levels ? cut : begin + per_group;
      double mass = 0;
      int64_t nonzero = 0;
      for (int64_t j = begin; j < end; ++j) mass += hist_[j], nonzero += hist_[j] != 0;
      for (int64_t j = begin; j < end; ++j)
        if (hist_[j] != 0) q[j] = mass / static_cast<double>(nonzero);
    }
    const double p_sum = std::accumulate(p.begin(), p.end(), 0.0);
    const double q_sum = std::accumulate(q.begin(), q.end(), 0.0);
    if (p_sum == 0 || q_sum == 0) continue;
    const auto empty = static_cast<double>(std::count(q.begin(), q.end(), 0.0));
    const double taken = kSmoothing * empty / (static_cast<double>(cut) - empty);
    double kl = 0;
    for (int64_t j = 0; j < cut; ++j) {
      if (p[j] == 0) continue;
      const double pj = p[j] / p_sum, qj = q[j] == 0 ? kSmoothing : q[j] / q_sum - taken;
      kl += pj * std::log(pj / std::max(qj, kSmoothing));
    }
    if (kl < best) best = kl, best_amax = bin_center(cut - 1);
  }
  return best_amax;
}

}  // namespace axnn::quant
