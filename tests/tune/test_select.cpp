#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "common/error_of.h"
#include "core/files.h"
#include "core/subprocess.h"
#include "tune/select.h"

namespace axnn::tune {
namespace {

namespace fs = std::filesystem;
using test_util::error_of;
using Picked = std::vector<std::pair<int64_t, std::string>>;  // rank, group

Record timed(int64_t trial, double seconds) {
  Record r;
  r.workload_name = "case5";
  r.shape = {1, 56, 56, 64, 64, 3, 3, 1, 1};  // 231211008 flops
  r.costs = {seconds * 1.01, seconds, seconds * 0.99};
  r.trial = trial;
  return r;
}

// n valid records, the one of rank r taking (r + 1) ms, stored in a scrambled order (trial = the
// position in the run) with a failed trial after every fourth.
std::vector<Record> run_of(int64_t n) {
  std::vector<Record> records;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t rank = (i * 37 + 11) % n;  // 37 is prime to every n used here
    records.push_back(timed(static_cast<int64_t>(records.size()), (rank + 1) * 1e-3));
    if (i % 4 == 3) {
      Record bad = timed(static_cast<int64_t>(records.size()), 1e-6);
      bad.costs.clear();
      bad.error_code = ErrorCode::kWrongAnswer;
      records.push_back(bad);
    }
  }
  return records;
}

Picked picked(const Selection& s) {
  Picked out;
  for (const Pick& p : s.picks) {
    out.emplace_back(p.rank, p.group);
    // Rank r is the (r + 1)-ms record: the picks are the sorted valid records.
    EXPECT_DOUBLE_EQ(p.record.seconds(), (p.rank + 1) * 1e-3);
  }
  return out;
}

// Ranks first..last of one group.
Picked ranks(int64_t first, int64_t last, const std::string& group) {
  Picked out;
  for (int64_t r = first; r <= last; ++r) out.emplace_back(r, group);
  return out;
}

Picked operator+(Picked a, const Picked& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

TEST(Select, HundredValidRecordsGiveTwentyFive) {
  const std::vector<Record> records = run_of(100);
  const Selection s = select_representatives(records, SelectMode::kNormal);
  EXPECT_EQ(s.trials, 125);
  EXPECT_EQ(s.valid, 100);
  EXPECT_EQ(picked(s), ranks(0, 4, "top") + ranks(8, 12, "p10") + ranks(23, 27, "p25") +
                           ranks(48, 52, "p50") + ranks(73, 77, "p75"));
}

TEST(Select, ThirtyRecordsOverlapTheTopAndP10Windows) {
  // p10: centre 3, window 1..5 (1..4 already top); p25: centre 7, 5..9 (5 already p10);
  // p50: centre 15, 13..17; p75: centre 22, 20..24.
  EXPECT_EQ(picked(select_representatives(run_of(30), SelectMode::kNormal)),
            ranks(0, 4, "top") + ranks(5, 5, "p10") + ranks(6, 9, "p25") + ranks(13, 17, "p50") +
                ranks(20, 24, "p75"));
}

TEST(Select, SmallRunsPickFewer) {
  // n = 10: p10 and p25 windows 0..4; p50 centre 5, 3..7; p75 centre 7, 5..9.
  EXPECT_EQ(picked(select_representatives(run_of(10), SelectMode::kNormal)),
            ranks(0, 4, "top") + ranks(5, 7, "p50") + ranks(8, 9, "p75"));
  // n = 7: p50 centre 3, window 1..5; p75 centre 5, window 3..7 shifted left to 2..6.
  EXPECT_EQ(picked(select_representatives(run_of(7), SelectMode::kNormal)),
            ranks(0, 4, "top") + ranks(5, 5, "p50") + ranks(6, 6, "p75"));
  EXPECT_EQ(picked(select_representatives(run_of(3), SelectMode::kNormal)), ranks(0, 2, "top"));
  EXPECT_TRUE(select_representatives(run_of(0), SelectMode::kNormal).picks.empty());
}

TEST(Select, TestModeKeepsTheTwoFastest) {
  EXPECT_EQ(picked(select_representatives(run_of(100), SelectMode::kTest)), ranks(0, 1, "top"));
  EXPECT_EQ(picked(select_representatives(run_of(1), SelectMode::kTest)), ranks(0, 0, "top"));
}

TEST(Select, DropsFailuresAndBreaksTiesByTrial) {
  std::vector<Record> records = {timed(0, 5e-3), timed(1, 2e-3), timed(2, 2e-3), timed(3, 1e-3),
                                 timed(4, 2e-3)};
  records.push_back(timed(5, 2e9));  // TVM's failure cost without an error code
  records[3].trial = 9;              // the fastest, whatever its trial
  records[1].trial = 7;              // ties at 2 ms: trials 2, 4, 7
  EXPECT_FALSE(selectable(records[5]));
  const Selection s = select_representatives(records, SelectMode::kNormal);
  EXPECT_EQ(s.valid, 5);
  std::vector<int64_t> trials;
  for (const Pick& p : s.picks) trials.push_back(p.record.trial);
  EXPECT_EQ(trials, (std::vector<int64_t>{9, 2, 4, 7, 0}));
}

TEST(Select, SelectAndPerfOnADirectory) {
  const TempDir dir("axnn_select");
  for (const Record& r : run_of(30)) append_record(records_file(dir.path(), "case5"), r);
  EXPECT_EQ(error_of([&] { workload_perf(dir.path(), "case5"); }),
            selected_file(dir.path(), "case5").string() +
                ": workload 'case5' has no selection; run `axnn tune select " +
                dir.path().string() + "` first");

  const Selection s = select_workload(dir.path(), "case5", SelectMode::kNormal);
  EXPECT_EQ(s.trials, 37);
  ASSERT_EQ(s.picks.size(), 20u);
  const std::vector<Record> selected = load_records(selected_file(dir.path(), "case5"));
  ASSERT_EQ(selected.size(), 20u);
  EXPECT_DOUBLE_EQ(selected[19].seconds(), 25e-3);  // rank 24

  const std::vector<PerfRow> rows = workload_perf(dir.path(), "case5");
  ASSERT_EQ(rows.size(), 20u);
  EXPECT_EQ(rows[5].id, 6);
  EXPECT_EQ(rows[5].group, "p10");
  EXPECT_EQ(rows[5].rank, 5);
  EXPECT_EQ(rows[5].trial, selected[5].trial);
  EXPECT_DOUBLE_EQ(rows[5].median_ms, 6.0);
  EXPECT_NEAR(rows[5].gflops, 231211008 / 6e-3 / 1e9, 1e-9);  // 38.535168
  const std::string csv = perf_csv(rows);
  EXPECT_EQ(csv.substr(0, csv.find('\n', csv.find('\n') + 1) + 1),
            "id,group,rank,trial,median_ms,gflops\n1,top,0," + std::to_string(rows[0].trial) +
                ",1,231.21\n");
  EXPECT_NE(csv.find("\n6,p10,5," + std::to_string(rows[5].trial) + ",6,38.54\n"),
            std::string::npos);
  EXPECT_EQ(perf_file(dir.path(), "case5"), dir.path() / "perf" / "case5.csv");

  // A test-mode selection is recognised as one.
  select_workload(dir.path(), "case5", SelectMode::kTest);
  EXPECT_EQ(workload_perf(dir.path(), "case5").size(), 2u);

  // Records added after the selection make it stale.
  append_record(records_file(dir.path(), "case5"), timed(99, 1e-4));
  EXPECT_NE(
      error_of([&] { workload_perf(dir.path(), "case5"); }).find(": the selection does not match "),
      std::string::npos);
  EXPECT_NE(error_of([&] {
              select_workload(dir.path(), "case9", SelectMode::kNormal);
            }).find("no records for workload 'case9'"),
            std::string::npos);
}

}  // namespace
}  // namespace axnn::tune
