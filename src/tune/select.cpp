#include "tune/select.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "core/error.h"
#include "tune/tvm_import.h"

namespace axnn::tune {
namespace fs = std::filesystem;

namespace {

constexpr int64_t kTop = 5;      // fastest ranks in normal mode
constexpr int64_t kTopTest = 2;  // in test mode
constexpr int64_t kWindow = 5;   // ranks around each percentile
constexpr int64_t kPercentiles[] = {10, 25, 50, 75};

bool same_picks(const std::vector<Pick>& picks, const std::vector<Record>& selected) {
  return picks.size() == selected.size() && std::equal(picks.begin(), picks.end(), selected.begin(),
                                                       [](const Pick& p, const Record& r) {
                                                         return p.record.trial == r.trial &&
                                                                p.record.costs == r.costs;
                                                       });
}

}  // namespace

bool selectable(const Record& record) { return record.ok() && record.seconds() < kTvmFailureCost; }

Selection select_representatives(const std::vector<Record>& records, SelectMode mode) {
  std::vector<const Record*> valid;
  for (const Record& r : records) {
    if (selectable(r)) valid.push_back(&r);
  }
  std::stable_sort(valid.begin(), valid.end(), [](const Record* a, const Record* b) {
    const double sa = a->seconds(), sb = b->seconds();
    return sa != sb ? sa < sb : a->trial < b->trial;
  });
  const auto n = static_cast<int64_t>(valid.size());

  std::vector<std::pair<int64_t, std::string>> ranked;  // rank, group; first group wins
  std::set<int64_t> taken;
  const auto take = [&](int64_t begin, int64_t end, const std::string& group) {
    for (int64_t rank = begin; rank < end; ++rank) {
      if (taken.insert(rank).second) ranked.emplace_back(rank, group);
    }
  };
  if (mode == SelectMode::kTest) {
    take(0, std::min(kTopTest, n), "top");
  } else {
    take(0, std::min(kTop, n), "top");
    for (const int64_t p : kPercentiles) {
      const int64_t centre = p * n / 100;
      const int64_t begin =
          std::clamp(centre - kWindow / 2, int64_t{0}, std::max(n - kWindow, int64_t{0}));
      take(begin, std::min(begin + kWindow, n), fmt::format("p{}", p));
    }
  }
  std::sort(ranked.begin(), ranked.end());

  Selection selection;
  selection.trials = static_cast<int64_t>(records.size());
  selection.valid = n;
  for (const auto& [rank, group] : ranked)
    selection.picks.push_back({*valid[static_cast<size_t>(rank)], group, rank});
  return selection;
}

Selection select_workload(const fs::path& dir, const std::string& workload, SelectMode mode) {
  const fs::path records = records_file(dir, workload);
  AXNN_CHECK(fs::exists(records), "{}: no records for workload '{}'", records.string(), workload);
  Selection selection = select_representatives(load_records(records), mode);
  std::vector<Record> picked;
  for (const Pick& p : selection.picks) picked.push_back(p.record);
  write_records(selected_file(dir, workload), picked);
  return selection;
}

std::vector<PerfRow> workload_perf(const fs::path& dir, const std::string& workload) {
  const fs::path selected_path = selected_file(dir, workload);
  AXNN_CHECK(fs::exists(selected_path),
             "{}: workload '{}' has no selection; run `axnn tune select {}` first",
             selected_path.string(), workload, dir.string());
  const std::vector<Record> selected = load_records(selected_path);
  const fs::path records_path = records_file(dir, workload);
  const std::vector<Record> records = load_records(records_path);
  // The ranks and groups are those of the selection that gives this file.
  std::vector<Pick> picks;
  bool matched = false;
  for (const SelectMode mode : {SelectMode::kNormal, SelectMode::kTest}) {
    picks = select_representatives(records, mode).picks;
    matched = same_picks(picks, selected);
    if (matched) break;
  }
  AXNN_CHECK(matched,
             "{}: the selection does not match {} (records changed since `axnn tune select`); "
             "run `axnn tune select {}` again",
             selected_path.string(), records_path.string(), dir.string());
  std::vector<PerfRow> rows;
  for (const Pick& p : picks) {
    rows.push_back({static_cast<int64_t>(rows.size()) + 1, p.group, p.rank, p.record.trial,
                    p.record.seconds() * 1e3, p.record.gflops()});
  }
  return rows;
}

std::string perf_csv(const std::vector<PerfRow>& rows) {
  std::string csv = "id,group,rank,trial,median_ms,gflops\n";
  for (const PerfRow& r : rows) {
    csv += fmt::format("{},{},{},{},{:.6g},{:.2f}\n", r.id, r.group, r.rank, r.trial, r.median_ms,
                       r.gflops);
  }
  return csv;
}

fs::path perf_file(const fs::path& dir, std::string_view workload) {
  check_workload_name(workload, "perf file");
  return dir / "perf" / (std::string(workload) + ".csv");
}

}  // namespace axnn::tune
