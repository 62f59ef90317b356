// The search: an evolutionary search over a backend's schedule space guided by the XGBoost cost
// model (retrained every round on every trial so far), with a share of random picks per round and
// early stopping. Every trial is appended to the records file as it finishes; a run started again
// on the same file continues where it stopped.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <vector>

#include "bench/timing.h"
#include "tune/backend.h"
#include "tune/records.h"

namespace axnn::tune {

struct TuneOptions {
  int trials = 200;          // total for the workload, counting the records already in the file
  int batch = 16;            // candidates built in parallel and measured per round
  int early_stopping = 0;    // stop after this many trials without a faster kernel; 0: never
  int threads = 0;           // fixes the cpu thread count knob; 0: tuned
  uint64_t seed = 1;
  double random_share = 0.2; // share of each round drawn at random instead of from the model
  int population = 128;      // evolutionary population
  int generations = 4;       // evolution steps per round
  bench::TimingOptions timing{1, 3, 50, 0.1};
  BuildOptions build;
  // Records of earlier runs (same shape and target, from other folders): they train the model and
  // seed the population, but are not trials of this run.
  std::vector<Record> warm_start;
};

struct TuneSummary {
  int64_t trials = 0;      // records of this workload and target in the file
  int64_t new_trials = 0;  // measured by this call
  int64_t failed = 0;      // of all trials
  std::optional<Record> best;
  bool early_stopped = false;
  bool space_exhausted = false;  // every valid configuration has been tried
};

// Tunes one workload, appending to `records_file`. Throws axnn::Error if the file holds records
// of another shape under this workload's name, or on bad options.
TuneSummary tune_conv2d(Backend& backend, const NamedConv2d& workload, const TuneOptions& options,
                        const std::filesystem::path& records_file);

}  // namespace axnn::tune
