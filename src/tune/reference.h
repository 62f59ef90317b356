// The ground truth every tuned kernel is checked against before its time counts: integer-valued
// operands small enough that every partial sum is an exact fp32 integer, so any summation order
// gives the same output and a kernel must match the plain loops bit for bit.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "tune/workload.h"

namespace axnn::tune {

struct ConvOperands {
  std::vector<float> src;      // N x CI x H x W
  std::vector<float> weights;  // CO x CI x KH x KW
};

// Random integers in [-r, r] with the largest r <= 3 for which r^2 * CI*KH*KW < 2^24. Throws
// axnn::Error if even r = 1 cannot keep the sums exact.
ConvOperands conv2d_operands(const Conv2dShape& shape, uint64_t seed);

// Plain loops over NCHW / OIHW with zero padding: N x CO x OH x OW.
std::vector<float> conv2d_ref(const Conv2dShape& shape, const ConvOperands& operands);

// Empty if equal, else the first differing position "[n, co, y, x]" and both values.
std::string compare_conv2d(const Conv2dShape& shape, const std::vector<float>& expected,
                           const float* actual);

// A backend's problems (operands and expected output), one per shape, made on first use and
// shared by every candidate of that shape: the reference runs once per shape, not per candidate.
template <typename Problem>
class ProblemCache {
 public:
  template <typename Make>
  std::shared_ptr<const Problem> get(const Conv2dShape& shape, Make&& make) {
    std::lock_guard<std::mutex> lock(mutex_);
    std::shared_ptr<const Problem>& cached = problems_[shape.key()];
    if (!cached) cached = make();
    return cached;
  }

 private:
  std::mutex mutex_;
  std::map<std::string, std::shared_ptr<const Problem>> problems_;
};

}  // namespace axnn::tune
