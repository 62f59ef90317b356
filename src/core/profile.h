// Stage timers of the layer path, for `axnn bench model --profile` (docs/performance.md): where a
// forward pass spends its time per layer (quantize, im2col, pack, kernel, dequantize, ...).
//
// Off by default, when a scope costs one relaxed atomic load. When on, a StageScope adds its wall
// time to (the calling thread's current layer, stage) and a LayerScope sets that layer for its
// lifetime and times the layer's whole call as the stage "total". Scopes belong on the thread
// that drives a layer (the OpenMP regions of a kernel are timed around, not inside).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace axnn::profile {

void set_enabled(bool on);
bool enabled();

class StageScope {
 public:
  explicit StageScope(std::string_view stage);
  ~StageScope();
  StageScope(const StageScope&) = delete;
  StageScope& operator=(const StageScope&) = delete;

 private:
  std::string_view stage_;  // a literal: stage names outlive the scope
  bool on_;
  std::chrono::steady_clock::time_point start_;
};

class LayerScope {
 public:
  explicit LayerScope(const std::string& layer);
  ~LayerScope();
  LayerScope(const LayerScope&) = delete;
  LayerScope& operator=(const LayerScope&) = delete;

 private:
  const std::string* previous_;
  bool on_;
  std::chrono::steady_clock::time_point start_;
};

struct Entry {
  std::string layer;  // "" for time spent outside any layer
  std::string stage;
  double seconds = 0;
  int64_t calls = 0;
};

// What the scopes recorded since the last take(), in the order each (layer, stage) first
// appeared; clears it.
std::vector<Entry> take();

}  // namespace axnn::profile
