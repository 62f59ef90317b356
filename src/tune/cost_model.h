// The learned cost model that guides the search: gradient-boosted trees (XGBoost's C API, Debian
// libxgboost-dev) from a configuration's features to a score, retrained every round on all trials
// measured so far. Higher score = faster; the tuner uses it only to rank candidates.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

namespace axnn::tune {

class CostModel {
 public:
  explicit CostModel(uint64_t seed = 0);
  ~CostModel();
  CostModel(const CostModel&) = delete;
  CostModel& operator=(const CostModel&) = delete;

  // Replaces the model by one trained on these rows (all the same length) and labels (higher is
  // better; failed trials as 0). Throws axnn::Error on ragged or empty input or an XGBoost error.
  void fit(const std::vector<std::vector<float>>& features, const std::vector<float>& labels);
  bool trained() const;
  // One score per row; throws axnn::Error if not trained or a row has the wrong length.
  std::vector<float> predict(const std::vector<std::vector<float>>& features) const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace axnn::tune
