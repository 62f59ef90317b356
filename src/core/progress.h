// A one-line progress display for long loops (batches, rate, loss, ETA) on a terminal; silent
// when stderr is not one, so logs and CI output stay clean.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace axnn {

class Progress {
 public:
  // `what` heads the line, `total` steps of `unit` (e.g. "img").
  Progress(std::string what, int64_t total, std::string unit);
  ~Progress();
  // `done` steps so far; `extra` is appended (e.g. "loss 0.41").
  void update(int64_t done, const std::string& extra = "");
  void finish();

 private:
  std::string what_, unit_;
  int64_t total_;
  bool enabled_, finished_ = false;
  std::chrono::steady_clock::time_point start_, last_;
};

}  // namespace axnn
