// `axnn tram run`: TRAM's three phases for each of a list of lambdas, resumable, with a report
// that also places library multipliers of the same width and signedness, each applied to every
// layer and retrained as long as phase 3 retrains, for comparison.
//
// The output folder:
//   run.json            the problem (checkpoint, width, signedness, options); a resumed run must
//                       match it
//   baseline.json       fp32 and exact-multiplier top-1 of the checkpoint
//   lambda_<L>/         per lambda: structure.json and explore.pt (phase 1; structure.json is
//                       rewritten after every epoch), explore.json (phase 1 done), the mapped
//                       multiplier files and mapping.json (phase 2 done), recovered.pt and
//                       recover.json (phase 3 done)
//   library.jsonl       one line per library multiplier, appended as each finishes
//   report.json, report.csv, README.md, front.svg (gnuplot; skipped with a notice without it)
// A killed run continues at the phase it was in: a phase's closing file is written last, and a
// phase without it starts over.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "data/datasets.h"
#include "train/train.h"
#include "tram/explore.h"
#include "tram/map.h"

namespace axnn::tram {

// What the phases work on.
struct Problem {
  std::filesystem::path checkpoint;   // calibrated (axnn calibrate)
  train::CheckpointInfo info;         // its dataset: what the phases' checkpoints record
  data::Dataset train_set, test_set;  // what the phases train and evaluate on
  ExploreOptions explore;
  MapOptions map;
  train::TrainOptions recover;
  at::Device device = at::kCPU;  // where the phases train and evaluate
};
// The checkpoint and its info; the caller loads the datasets and sets the phases' options.
Problem make_problem(const std::filesystem::path& checkpoint);

// Each phase into a folder, skipped (saying so) when its closing file is there; each returns that
// file's content. Phase 1: structure.json, explore.pt, explore.json (phase-1 top-1 and relative
// power); phase 2 (from structure.json): the mapped multipliers' files and mapping.json
// (layers.yaml for a per-layer structure); phase 3 (from explore.pt and the mapping):
// recovered.pt and recover.json (top-1 with the mapped multipliers before and after, power).
nlohmann::ordered_json explore_phase(const Problem& problem, const std::filesystem::path& dir);
nlohmann::ordered_json map_phase(const Problem& problem, const std::filesystem::path& dir);
nlohmann::ordered_json recover_phase(const Problem& problem, const std::filesystem::path& dir);

struct RunOptions {
  Problem problem;  // its explore.lambda is each of lambdas in turn
  std::filesystem::path output;
  std::vector<double> lambdas;
  std::vector<std::string> library;  // multipliers to compare with
};

// Runs what is not done yet and writes the report; returns report.json's content.
nlohmann::ordered_json run_tram(const RunOptions& options);

}  // namespace axnn::tram
