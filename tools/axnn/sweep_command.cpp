// `axnn sweep`: what each multiplier of a list costs a trained network in accuracy and saves in
// multiplier power, against fp32, and what approximation-aware retraining wins back for the worst.
//
// Into the output folder: results.jsonl (one JSON object per evaluation, appended and flushed as
// each finishes, so a killed run keeps what it finished), retrained_<mult>.pt for each retraining,
// then at the end report.json (everything), report.csv (one row per multiplier, fp32 first) and
// README.md (a table and a summary).
#include <ATen/Parallel.h>
#include <fmt/chrono.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "commands.h"
#include "core/error.h"
#include "core/files.h"
#include "model_options.h"
#include "nn/ax_layers.h"
#include "nn/configure.h"

namespace axnn::cli {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;

// What `--mult exact` means: every layer in fp32, the reference the drops are measured from.
constexpr const char* kFp32 = "exact";
// A multiplier within this many points of fp32 counts as accurate enough in the summary.
constexpr double kAcceptableDropPts = 1.0;

struct SweepRow {
  std::string mult;
  double top1_pct = 0, drop_pts = 0, seconds = 0;
  std::optional<double> relative_power;  // unknown when a multiplier has no power figure
  std::optional<double> retrained_top1_pct;
  std::string retrained_checkpoint;

  std::optional<double> power_saving_pct() const {
    if (!relative_power) return std::nullopt;
    return 100 * (1 - *relative_power);
  }
  std::optional<double> recovered_pts() const {
    if (!retrained_top1_pct) return std::nullopt;
    return *retrained_top1_pct - top1_pct;
  }
};

Json optional_json(const std::optional<double>& value) {
  return value ? Json(*value) : Json(nullptr);
}

Json row_json(const SweepRow& row) {
  Json out = {{"mult", row.mult},
              {"top1_pct", row.top1_pct},
              {"drop_pts", row.drop_pts},
              {"relative_power", optional_json(row.relative_power)},
              {"power_saving_pct", optional_json(row.power_saving_pct())},
              {"retrained_top1_pct", optional_json(row.retrained_top1_pct)},
              {"recovered_pts", optional_json(row.recovered_pts())},
              {"seconds", row.seconds}};
  if (!row.retrained_checkpoint.empty()) out["retrained_checkpoint"] = row.retrained_checkpoint;
  return out;
}

// A results.jsonl line: what was evaluated ("fp32", "approximate") and the row so far.
Json evaluation_record(const char* kind, const SweepRow& row) {
  Json record = {{"kind", kind}};
  record.update(row_json(row));
  return record;
}

std::string fixed(const std::optional<double>& value, int decimals, const char* unknown) {
  return value ? fmt::format("{:.{}f}", *value, decimals) : unknown;
}

// results.jsonl: each evaluation on its own line, on disk as soon as it is known.
class ResultsLog {
 public:
  explicit ResultsLog(const fs::path& path) : path_(path), out_(path, std::ios::trunc) {
    AXNN_CHECK(out_, "{}: cannot be written", path.string());
  }
  void append(const Json& record) {
    out_ << record.dump() << '\n';
    out_.flush();
    AXNN_CHECK(out_, "{}: write failed", path_.string());
  }

 private:
  fs::path path_;
  std::ofstream out_;
};

std::string report_csv(const std::vector<SweepRow>& rows) {
  std::string csv =
      "mult,top1_pct,drop_pts,relative_power,power_saving_pct,retrained_top1_pct,recovered_pts\n";
  for (const SweepRow& r : rows)
    csv += fmt::format("{},{:.2f},{:.2f},{},{},{},{}\n", csv_field(r.mult), r.top1_pct, r.drop_pts,
                       fixed(r.relative_power, 4, ""), fixed(r.power_saving_pct(), 2, ""),
                       fixed(r.retrained_top1_pct, 2, ""), fixed(r.recovered_pts(), 2, ""));
  return csv;
}

std::string versus_fp32(double top1_pct, double fp32_top1_pct) {
  const double drop = fp32_top1_pct - top1_pct;
  return fmt::format("{:.2f} points {} fp32", std::abs(drop), drop >= 0 ? "below" : "above");
}

// The summary: a table by power saving, the best multiplier within kAcceptableDropPts of fp32,
// and what retraining recovered.
std::string report_readme(const Json& report, std::vector<SweepRow> rows, int64_t epochs) {
  // Largest saving first; multipliers without a power figure after those, most accurate first.
  std::stable_sort(rows.begin(), rows.end(), [](const SweepRow& a, const SweepRow& b) {
    const auto sa = a.power_saving_pct(), sb = b.power_saving_pct();
    if (sa.has_value() != sb.has_value()) return sa.has_value();
    if (sa && *sa != *sb) return *sa > *sb;
    return a.top1_pct > b.top1_pct;
  });
  const double fp32_top1 = report["fp32_top1_pct"].get<double>();
  std::string md = fmt::format(
      "# axnn sweep: {} on {}\n\n"
      "Checkpoint `{}`, top-1 on {} test images with every layer's multiplier replaced, against "
      "fp32 ({:.2f}%). Relative power: the network's multiplier power against exact multipliers "
      "(1.0; `?` where a multiplier has no power figure). axnn {}, {}.\n\n"
      "| multiplier | top-1 % | drop (pts) | relative power | power saving % | "
      "retrained top-1 % | recovered (pts) |\n"
      "|---|---:|---:|---:|---:|---:|---:|\n",
      report["model"].get<std::string>(), report["dataset"].get<std::string>(),
      report["checkpoint"].get<std::string>(), report["test_images"].get<int64_t>(), fp32_top1,
      report["axnn_version"].get<std::string>(), report["date"].get<std::string>());
  for (const SweepRow& r : rows)
    md += fmt::format("| {} | {:.2f} | {:.2f} | {} | {} | {} | {} |\n",
                      r.mult == kFp32 ? "exact (fp32)" : r.mult, r.top1_pct, r.drop_pts,
                      fixed(r.relative_power, 4, "?"), fixed(r.power_saving_pct(), 1, "?"),
                      fixed(r.retrained_top1_pct, 2, ""), fixed(r.recovered_pts(), 2, ""));
  md += "\n";

  // exact8s and the like save nothing: the best is the largest real saving.
  const SweepRow* best = nullptr;
  std::vector<std::string> accurate_unknown_power;
  for (const SweepRow& r : rows) {
    if (r.mult == kFp32 || r.drop_pts > kAcceptableDropPts) continue;
    if (!r.relative_power)
      accurate_unknown_power.push_back(r.mult);
    else if (!best && *r.power_saving_pct() > 0)
      best = &r;  // rows are sorted by saving
  }
  if (best)
    md += fmt::format(
        "Best within {:g} point of fp32: **{}**, saving {:.1f}% of the multiplier power at "
        "{:.2f}% top-1 ({}).",
        kAcceptableDropPts, best->mult, *best->power_saving_pct(), best->top1_pct,
        versus_fp32(best->top1_pct, fp32_top1));
  else
    md += fmt::format("No multiplier with a known power saving stays within {:g} point of fp32.",
                      kAcceptableDropPts);
  if (!accurate_unknown_power.empty())
    md += fmt::format(" Also within {:g} point, without a power figure to rank them by: {}.",
                      kAcceptableDropPts, fmt::join(accurate_unknown_power, ", "));
  md += "\n";
  for (const SweepRow& r : rows) {
    if (!r.retrained_top1_pct) continue;
    md += fmt::format(
        "\nRetraining {} for {} epoch{} recovered {:.2f} points: {:.2f}% -> {:.2f}% top-1 ({}).\n",
        r.mult, epochs, epochs == 1 ? "" : "s", *r.recovered_pts(), r.top1_pct,
        *r.retrained_top1_pct, versus_fp32(*r.retrained_top1_pct, fp32_top1));
  }
  return md;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Evaluates the model with `mult` on every layer: top-1 in percent and the relative power.
SweepRow evaluate_with(models::Model& model, const std::string& mult, const data::Dataset& test) {
  const auto start = std::chrono::steady_clock::now();
  nn::configure_layers(model, nn::rules_for_all(mult));
  SweepRow row;
  row.mult = mult;
  row.top1_pct = 100 * train::evaluate(model, test);
  row.relative_power = nn::network_relative_power(model);
  row.seconds = seconds_since(start);
  return row;
}

// Approximation-aware retraining of the checkpoint with row.mult on every layer; records the
// result in row, saves the retrained checkpoint into dir and returns the results.jsonl record.
Json retrain(SweepRow& row, const std::string& checkpoint_path, const train::CheckpointInfo& info,
             const data::Dataset& train_set, const data::Dataset& test_set,
             const train::TrainOptions& options, const fs::path& dir, const at::Device& device) {
  const auto start = std::chrono::steady_clock::now();
  const auto model = train::load_checkpoint(checkpoint_path, nullptr, device);
  nn::configure_layers(*model, nn::rules_for_all(row.mult));
  train::train(*model, train_set, options, print_epoch);
  row.retrained_top1_pct = 100 * train::evaluate(*model, test_set);
  const fs::path checkpoint =
      dir / fmt::format("retrained_{}.pt", fs::path(row.mult).stem().string());
  train::save_checkpoint(*model, info, checkpoint);
  row.retrained_checkpoint = checkpoint.string();
  return {{"kind", "retrained"},
          {"mult", row.mult},
          {"epochs", options.epochs},
          {"top1_before_pct", row.top1_pct},
          {"top1_pct", *row.retrained_top1_pct},
          {"recovered_pts", *row.recovered_pts()},
          {"checkpoint", row.retrained_checkpoint},
          {"seconds", seconds_since(start)}};
}

// Every name loads and configures the layers before the first long evaluation.
void check_mults(models::Model& model, const std::vector<std::string>& mults) {
  std::set<std::string> seen;
  for (const std::string& mult : mults) {
    AXNN_CHECK(mult != kFp32, "--mults: '{}' is the fp32 reference, which every sweep evaluates",
               mult);
    AXNN_CHECK(seen.insert(mult).second, "--mults: '{}' is listed twice", mult);
    try {
      nn::configure_layers(model, nn::rules_for_all(mult));
    } catch (const Error& e) {
      throw Error(fmt::format("--mults: {}", e.what()));
    }
  }
}

void check_dataset_fits(const data::Dataset& set, const train::CheckpointInfo& info) {
  AXNN_CHECK(set.images.size(1) == info.spec.channels &&
                 set.images.size(2) == info.spec.image_size && set.classes == info.spec.classes,
             "--data: {} images are {}x{}x{} in {} classes; the {} checkpoint takes {}x{}x{} in {}",
             set.name, set.images.size(1), set.images.size(2), set.images.size(3), set.classes,
             info.model, info.spec.channels, info.spec.image_size, info.spec.image_size,
             info.spec.classes);
}

}  // namespace

void add_sweep_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "sweep",
      "Accuracy drop and power saving of each of a list of multipliers on a calibrated "
      "checkpoint, against fp32; retrains the worst; writes a report folder");
  struct Args {
    std::string input, data, output;
    std::vector<std::string> mults;
    int64_t retrain_worst = 1;
    train::TrainOptions retrain = retrain_defaults();
    ComputeOptions compute;
  };
  auto args = std::make_shared<Args>();
  cmd->add_option("checkpoint", args->input,
                  "Trained and calibrated checkpoint (axnn train, then axnn calibrate)")
      ->required();
  cmd->add_option("--mults", args->mults,
                  "Multipliers, comma-separated (names or files, see `axnn mult list`), each "
                  "applied to every layer")
      ->delimiter(',')
      ->required();
  cmd->add_option("--retrain-worst", args->retrain_worst,
                  "Retrain this many multipliers, those with the largest drop (0: none)")
      ->capture_default_str();
  cmd->add_option("--retrain-epochs", args->retrain.epochs, "Epochs of each retraining")
      ->capture_default_str();
  cmd->add_option("--data", args->data,
                  "Dataset to evaluate and retrain on, a --data of axnn train (default: the "
                  "checkpoint's)");
  cmd->add_option("-o,--output", args->output,
                  "Report folder (created): results.jsonl, report.json, report.csv, README.md")
      ->required();
  args->compute.add_to(*cmd);
  cmd->callback([args] {
    const auto start = std::chrono::steady_clock::now();
    const at::Device device = args->compute.apply();
    const std::vector<std::string>& mults = args->mults;
    AXNN_CHECK(args->retrain_worst >= 0 && args->retrain_worst <= std::ssize(mults),
               "--retrain-worst {}: must be between 0 and the number of --mults ({})",
               args->retrain_worst, mults.size());
    AXNN_CHECK(args->retrain.epochs >= 1, "--retrain-epochs {}: at least 1", args->retrain.epochs);
    const fs::path dir = args->output;
    AXNN_CHECK(!fs::exists(dir) || fs::is_directory(dir), "-o {}: exists and is not a folder",
               dir.string());

    train::CheckpointInfo info;
    const auto model = train::load_checkpoint(args->input, &info, device);
    check_mults(*model, mults);
    if (!args->data.empty()) info.dataset = args->data;  // also what retrained checkpoints record
    const data::Dataset test_set = load_data(info.dataset, data::Split::kTest);
    check_dataset_fits(test_set, info);
    fs::create_directories(dir);
    ResultsLog log(dir / "results.jsonl");

    // fp32 first: every drop is measured from it.
    const size_t evaluations = mults.size() + 1;
    std::vector<SweepRow> rows = {evaluate_with(*model, kFp32, test_set)};
    log.append(evaluation_record("fp32", rows[0]));
    fmt::print("[1/{}] {} (fp32 reference): top-1 {:.2f}%, {:.1f} s\n", evaluations, kFp32,
               rows[0].top1_pct, rows[0].seconds);
    const double fp32_top1 = rows[0].top1_pct;
    for (size_t i = 0; i < mults.size(); ++i) {
      SweepRow row = evaluate_with(*model, mults[i], test_set);
      row.drop_pts = fp32_top1 - row.top1_pct;
      log.append(evaluation_record("approximate", row));
      fmt::print("[{}/{}] {}: top-1 {:.2f}% ({:+.2f} pts), relative power {}, {:.1f} s\n", i + 2,
                 evaluations, row.mult, row.top1_pct, -row.drop_pts,
                 fixed(row.relative_power, 4, "unknown"), row.seconds);
      std::fflush(stdout);
      rows.push_back(std::move(row));
    }

    // Retrain the largest drops, each from the checkpoint's weights.
    std::optional<data::Dataset> train_set;
    if (args->retrain_worst > 0) {
      train_set = load_data(info.dataset, data::Split::kTrain);
      check_dataset_fits(*train_set, info);
    }
    std::vector<SweepRow*> by_drop;
    for (size_t i = 1; i < rows.size(); ++i) by_drop.push_back(&rows[i]);
    std::stable_sort(by_drop.begin(), by_drop.end(), [](const SweepRow* a, const SweepRow* b) {
      return a->drop_pts > b->drop_pts;
    });
    for (int64_t i = 0; i < args->retrain_worst; ++i) {
      SweepRow& row = *by_drop[i];
      fmt::print("retraining {} ({} of {}, drop {:.2f} pts) for {} epoch(s)\n", row.mult, i + 1,
                 args->retrain_worst, row.drop_pts, args->retrain.epochs);
      std::fflush(stdout);
      log.append(retrain(row, args->input, info, *train_set, test_set, args->retrain, dir, device));
      fmt::print("{} retrained: top-1 {:.2f}% -> {:.2f}% ({:+.2f} pts); wrote {}\n", row.mult,
                 row.top1_pct, *row.retrained_top1_pct, *row.recovered_pts(),
                 row.retrained_checkpoint);
      std::fflush(stdout);
    }

    Json results = Json::array();
    for (const SweepRow& row : rows) results.push_back(row_json(row));
    Json retraining = {{"worst", args->retrain_worst}};
    if (train_set)
      retraining.update({{"epochs", args->retrain.epochs},
                         {"lr", args->retrain.lr},
                         {"batch_size", args->retrain.batch_size},
                         {"train_images", train_set->size()}});
    const Json report = {
        {"axnn_version", AXNN_VERSION},
        {"date", fmt::format("{:%Y-%m-%dT%H:%M:%SZ}", fmt::gmtime(std::time(nullptr)))},
        {"checkpoint", args->input},
        {"model", info.model},
        {"dataset", info.dataset},
        {"test_images", test_set.size()},
        {"threads", at::get_num_threads()},
        {"device", device.str()},
        {"fp32_top1_pct", fp32_top1},
        {"retraining", retraining},
        {"results", results},
        {"seconds", seconds_since(start)}};
    write_text_file(dir / "report.json", report.dump(2) + "\n");
    write_text_file(dir / "report.csv", report_csv(rows));
    write_text_file(dir / "README.md", report_readme(report, rows, args->retrain.epochs));
    fmt::print("wrote {}: results.jsonl, report.json, report.csv, README.md ({:.0f} s)\n",
               dir.string(), seconds_since(start));
  });
}

}  // namespace axnn::cli
