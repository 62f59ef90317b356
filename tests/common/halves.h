// For training tests: a small task any model learns in a few epochs.
#pragma once

#include <ATen/ATen.h>
#include <torch/utils.h>

#include <cstdint>

#include "data/datasets.h"

namespace axnn::test_util {

// Two classes told apart by which half of the 12 x 12 image is bright.
inline data::Dataset halves(int64_t n, uint64_t seed) {
  torch::manual_seed(seed);
  data::Dataset d;
  d.labels = at::randint(0, 2, {n}, at::kLong);
  at::Tensor images = at::randint(0, 100, {n, 1, 12, 12}, at::kInt);
  for (int64_t i = 0; i < n; ++i)
    images[i].slice(2, d.labels[i].item<int64_t>() * 6, d.labels[i].item<int64_t>() * 6 + 6) += 150;
  d.images = images.to(at::kByte);
  d.classes = 2;
  d.name = "halves";
  return d;
}

}  // namespace axnn::test_util
