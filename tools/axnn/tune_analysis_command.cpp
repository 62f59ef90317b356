// `axnn tune select|perf|import`: the seeds' analysis of a tuning directory (src/tune/select.h for
// the selection rule, src/tune/tvm_import.h for the TVM formats).
#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "commands.h"
#include "core/error.h"
#include "core/files.h"
#include "tune/records.h"
#include "tune/select.h"
#include "tune/tvm_import.h"

namespace axnn::cli {
namespace {

namespace fs = std::filesystem;

struct AnalysisOptions {
  std::string dir;
  std::string workload;
  bool test = false;
};

// The workloads with a file under DIR/<sub>/, or the one asked for.
std::vector<std::string> workloads(const AnalysisOptions& o, std::string_view sub,
                                   std::string_view first_step) {
  if (!o.workload.empty()) return {o.workload};
  std::vector<std::string> names = tune::list_workloads(o.dir, sub, ".jsonl");
  AXNN_CHECK(!names.empty(), "{}: no {}/*.jsonl files; {} first", o.dir, sub, first_step);
  return names;
}

void run_select(const AnalysisOptions& o) {
  const tune::SelectMode mode = o.test ? tune::SelectMode::kTest : tune::SelectMode::kNormal;
  for (const std::string& w :
       workloads(o, "records", "run `axnn tune conv2d` or `axnn tune import`")) {
    const tune::Selection s = tune::select_workload(o.dir, w, mode);
    fmt::print("{}: {} trials, {} valid, {} selected -> {}\n", w, s.trials, s.valid, s.picks.size(),
               tune::selected_file(o.dir, w).string());
  }
}

void run_perf(const AnalysisOptions& o) {
  for (const std::string& w : workloads(o, "selected", "run `axnn tune select DIR`")) {
    const std::vector<tune::PerfRow> rows = tune::workload_perf(o.dir, w);
    const fs::path file = tune::perf_file(o.dir, w);
    std::error_code ec;
    fs::create_directories(file.parent_path(), ec);
    AXNN_CHECK(!ec, "{}: cannot create the folder: {}", file.parent_path().string(), ec.message());
    write_text_file(file, tune::perf_csv(rows));
    fmt::print("{} -> {}\n{:>4} {:>5} {:>6} {:>6} {:>12} {:>10}\n", w, file.string(), "id", "group",
               "rank", "trial", "median_ms", "GFLOP/s");
    for (const tune::PerfRow& r : rows) {
      fmt::print("{:>4} {:>5} {:>6} {:>6} {:>12.6g} {:>10.2f}\n", r.id, r.group, r.rank, r.trial,
                 r.median_ms, r.gflops);
    }
  }
}

struct ImportOptions {
  std::vector<std::string> logs;
  std::string output;
  std::string name;
};

// Adds the records of one workload to DIR/records/<workload>.jsonl after those already there,
// numbering their trials on; one shape and one target per file.
void add_records(const fs::path& file, std::vector<tune::Record> added) {
  std::vector<tune::Record> all = tune::load_records(file);
  int64_t next = 0;
  for (const tune::Record& r : all) next = std::max(next, r.trial + 1);
  for (tune::Record& r : added) {
    const tune::Record& first = all.empty() ? r : all.front();
    AXNN_CHECK(r.shape == first.shape && r.target == first.target,
               "{}: holds {} conv2d {}; the log's record is {} conv2d {} (give another --name)",
               file.string(), first.target, first.shape.str(), r.target, r.shape.str());
    r.trial = next++;
    all.push_back(std::move(r));
  }
  // One atomic rewrite: an import is added whole or not at all.
  tune::write_records(file, all);
}

void run_import(const ImportOptions& o) {
  for (const std::string& log : o.logs) {
    const tune::TvmImport in = tune::import_tvm_log(log, o.name);
    fmt::print("{}: {} lines, {} records ({} failed trials), {} skipped\n", log, in.lines,
               in.records.size(), in.failed, in.lines - static_cast<int64_t>(in.records.size()));
    for (const auto& [reason, count] : in.skipped) fmt::print("  skipped {}: {}\n", count, reason);
    std::map<std::string, std::vector<tune::Record>> by_workload;
    for (const tune::Record& r : in.records) by_workload[r.workload_name].push_back(r);
    for (auto& [w, records] : by_workload) {
      const fs::path file = tune::records_file(o.output, w);
      const size_t count = records.size();
      add_records(file, std::move(records));
      fmt::print("  + {} records -> {}\n", count, file.string());
    }
  }
}

}  // namespace

void add_tune_analysis_commands(CLI::App& tune) {
  auto s = std::make_shared<AnalysisOptions>();
  CLI::App* select = tune.add_subcommand(
      "select",
      "Pick the representative kernels of each workload in a tuning directory, as the seeds do:\n"
      "failed trials dropped, the rest sorted by median time, then the 5 fastest and 5 around\n"
      "each of the 10th, 25th, 50th and 75th percentiles (--test: the 2 fastest). Reads\n"
      "DIR/records/<workload>.jsonl, writes DIR/selected/<workload>.jsonl.");
  select->add_option("DIR", s->dir, "Tuning directory")->required();
  select->add_flag("--test", s->test, "Keep only the 2 fastest kernels");
  select->add_option("--workload", s->workload, "Only this workload (default: all)");
  select->callback([s] { run_select(*s); });

  auto p = std::make_shared<AnalysisOptions>();
  CLI::App* perf = tune.add_subcommand(
      "perf",
      "GFLOP/s of the selected kernels (axnn tune select first): writes DIR/perf/<workload>.csv\n"
      "(id,group,rank,trial,median_ms,gflops) and prints it.");
  perf->add_option("DIR", p->dir, "Tuning directory")->required();
  perf->add_option("--workload", p->workload, "Only this workload (default: all selected)");
  perf->callback([p] { run_perf(*p); });

  auto i = std::make_shared<ImportOptions>();
  CLI::App* import_logs = tune.add_subcommand(
      "import",
      "Add the conv2d trials of TVM tuning logs (auto-scheduler v0.6 or AutoTVM 0.2 JSON lines)\n"
      "to DIR/records/<workload>.jsonl; other workloads in the logs are skipped and counted.");
  import_logs->add_option("LOG", i->logs, "TVM log files")->required()->check(CLI::ExistingFile);
  import_logs->add_option("-o,--output", i->output, "Tuning directory")->required();
  import_logs->add_option("--name", i->name,
                          "Workload name for the records (default: the seeds' file naming, "
                          "conv2d_N_1_H_56_..._padding_1)");
  import_logs->footer(
      "\nExample:\n  axnn tune import case5.json -o tuning --name case5\n"
      "  axnn tune select tuning && axnn tune perf tuning");
  import_logs->callback([i] { run_import(*i); });
}

}  // namespace axnn::cli
