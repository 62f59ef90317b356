// Representative kernels of a tuning run, as the seeds pick them (conv_tuning.py's
// filter_tuning_results / sort_json_file), and their performance (calculate_performance_metrics).
//
// Selection over one workload's records:
//  1. drop failed trials: error_code != 0, no costs, or a median time >= 1e9 s (TVM's failure
//     costs);
//  2. sort the rest by median time, fastest first (stable; equal times by trial); rank r is the
//     0-based position in this order and n the number of valid records;
//  3. test mode: ranks 0 and 1 ("top"). Normal mode: ranks 0..4 ("top"), then for each percentile
//     p of 10, 25, 50, 75 (groups "p10", "p25", "p50", "p75") the five ranks around it: the
//     centre c = floor(p * n / 100) and the window [c - 2, c + 2], shifted right or left by as
//     much as it sticks out of [0, n) (clipped to [0, n) when n < 5). A rank already picked keeps
//     its first group and is not repeated, so small runs give fewer than 25 picks
//     (n = 100: ranks 0-4 top, 8-12 p10, 23-27 p25, 48-52 p50, 73-77 p75; n = 30: 0-4 top, 5 p10,
//     6-9 p25, 13-17 p50, 20-24 p75; n = 7: 0-4 top, 5 p50, 6 p75). The picks are in rank order.
//
// The selected file (DIR/selected/<workload>.jsonl) holds the picked records, in rank order.
// perf recomputes the ranks and groups from DIR/records/ and checks that they give the selected
// file (in normal or test mode), so a stale selection is refused rather than mislabelled.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "tune/records.h"

namespace axnn::tune {

enum class SelectMode { kNormal, kTest };

struct Pick {
  Record record;
  std::string group;  // "top", "p10", "p25", "p50", "p75"
  int64_t rank = 0;   // position among the valid records, fastest first
};

struct Selection {
  int64_t trials = 0;  // records given
  int64_t valid = 0;   // records left after dropping the failed ones
  std::vector<Pick> picks;
};

// Valid for selection: a successful trial with a median time below TVM's failure cost.
bool selectable(const Record& record);

Selection select_representatives(const std::vector<Record>& records, SelectMode mode);

// Reads DIR/records/<workload>.jsonl and writes DIR/selected/<workload>.jsonl.
Selection select_workload(const std::filesystem::path& dir, const std::string& workload,
                          SelectMode mode);

struct PerfRow {
  int64_t id = 0;  // 1-based position in the selected file (the seeds' kernel id)
  std::string group;
  int64_t rank = 0;
  int64_t trial = 0;
  double median_ms = 0;
  double gflops = 0;
};

// The rows of DIR/selected/<workload>.jsonl, labelled from DIR/records/<workload>.jsonl; throws
// axnn::Error if there is no selected file (select first) or it no longer matches the records.
std::vector<PerfRow> workload_perf(const std::filesystem::path& dir, const std::string& workload);
// "id,group,rank,trial,median_ms,gflops" and a line per row.
std::string perf_csv(const std::vector<PerfRow>& rows);
// DIR/perf/<workload>.csv
std::filesystem::path perf_file(const std::filesystem::path& dir, std::string_view workload);

}  // namespace axnn::tune
