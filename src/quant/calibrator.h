// Calibrators: statistics of a tensor collected over calibration batches, then the amax of a
// symmetric quantizer by one of four methods (TransAxx / pytorch-quantization's, TensorRT's):
//   max         the largest |x| seen
//   percentile  the |x| below which `percentile` % of the values lie (default 99.99)
//   mse         the amax whose quantize-dequantize error over the histogram is smallest
//   entropy     the amax whose quantized distribution is closest to the data in KL divergence
// and the observed [min, max] for an asymmetric quantizer. The histogram covers |x| over
// [0, range) in bins of one width; a batch with a larger |x| extends it with more bins of the
// same width, so statistics never need the data again.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string_view>
#include <vector>

namespace axnn::quant {

enum class CalibMethod { kMax, kPercentile, kMse, kEntropy };

std::string_view calib_method_name(CalibMethod method);
CalibMethod parse_calib_method(std::string_view name);  // throws naming the known ones

struct CalibOptions {
  CalibMethod method = CalibMethod::kPercentile;
  double percentile = 99.99;  // in (0, 100]
  int64_t bins = 2048;        // of the first batch's range
  int bits = 8;               // of the quantizer the amax is for (mse, entropy)
  bool narrow_range = true;
};

class Calibrator {
 public:
  explicit Calibrator(CalibOptions options = {});

  // Adds a float tensor's values to the statistics.
  void collect(const at::Tensor& x);
  int64_t batches() const { return batches_; }

  // By the method; throws when nothing was collected.
  double amax() const;
  double min() const;
  double max() const;

  const CalibOptions& options() const { return options_; }

 private:
  double bin_center(int64_t i) const { return (static_cast<double>(i) + 0.5) * bin_width_; }
  double percentile_amax() const;
  double mse_amax() const;
  double entropy_amax() const;
  void check_collected() const;

  CalibOptions options_;
  int64_t batches_ = 0;
  double min_ = 0, max_ = 0, max_abs_ = 0;
  int64_t zeros_ = 0;         // |x| = 0 values seen while the histogram has no width yet
  double bin_width_ = 0;      // 0 until a batch with some |x| > 0
  std::vector<double> hist_;  // counts of |x| per bin
};

}  // namespace axnn::quant
