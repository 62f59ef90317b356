#include "tram/run.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <map>
#include <optional>
#include <set>

#include "core/error.h"
#include "core/files.h"
#include "core/subprocess.h"
#include "nn/ax_layers.h"
#include "nn/configure.h"
#include "tram/recover.h"
#include "tram/structure.h"

namespace axnn::tram {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;

// The drop after phase 3 within which the report compares learned and library multipliers.
constexpr double kComparedDropPts = 0.5;
// Relative powers this close count as a tie in the summary.
constexpr double kTiedPower = 0.01;

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

Json read_json(const fs::path& path) {
  try {
    return Json::parse(read_text_file(path));
  } catch (const nlohmann::json::parse_error& e) {
    throw Error(
        fmt::format("{}: not JSON ({}); delete it to redo its phase", path.string(), e.what()));
  }
}

void write_json(const fs::path& path, const Json& json) {
  write_text_file(path, json.dump(2) + "\n");
}

Json problem_of(const Problem& o) {
  return {{"checkpoint", fs::absolute(o.checkpoint).string()},
          {"model", o.info.model},
          {"dataset", o.info.dataset},
          {"train_images", o.train_set.size()},
          {"bits", o.explore.bits},
          {"signed", o.explore.is_signed},
          {"columns", o.explore.columns},
          {"initial_gamma", o.explore.initial_gamma},
          {"per_layer", o.explore.per_layer},
          {"explore_epochs", o.explore.train.epochs},
          {"explore_lr", o.explore.train.lr},
          {"gamma_lr", o.explore.gamma_lr},
          {"architecture", netlist::architecture_name(o.map.architecture)},
          {"recover_epochs", o.recover.epochs},
          {"recover_lr", o.recover.lr}};
}

std::string lambda_dir(double lambda) { return fmt::format("lambda_{:g}", lambda); }

void print_epoch(const char* phase, const train::EpochStats& e) {
  fmt::print("  {} epoch {}: loss {:.4f}, train top-1 {:.2f}%, {:.1f} s\n", phase, e.epoch, e.loss,
             100 * e.train_accuracy, e.seconds);
  std::fflush(stdout);
}

// A phase's closing file, read when the phase is done.
std::optional<Json> done_before(const fs::path& path, const char* phase) {
  if (!fs::exists(path)) return std::nullopt;
  fmt::print("{} is done in {} ({}; delete it to redo)\n", phase, path.parent_path().string(),
             path.filename().string());
  return read_json(path);
}

}  // namespace

Problem make_problem(const fs::path& checkpoint) {
  Problem p;
  p.checkpoint = checkpoint;
  train::load_checkpoint(checkpoint, &p.info);
  return p;
}

Json explore_phase(const Problem& o, const fs::path& dir) {
  const double lambda = o.explore.lambda;
  const fs::path done = dir / "explore.json";
  if (auto before = done_before(done, "phase 1")) return *before;
  fs::create_directories(dir);
  fmt::print("lambda {}: phase 1, structure exploration ({} epochs)\n", lambda,
             o.explore.train.epochs);
  const auto start = std::chrono::steady_clock::now();
  const auto model = train::load_checkpoint(o.checkpoint, nullptr, o.device);
  const Structure s = explore(*model, o.train_set, o.explore, [&](const Structure& so_far) {
    write_structure(so_far, dir / "structure.json");
    const Json& last = so_far.log.back();
    fmt::print(
        "  phase 1 epoch {}: loss {:.4f} (penalty {:.4f}), train top-1 {:.2f}%, relative "
        "power {:.4f}, {:.1f} s\n",
        last["epoch"].get<int64_t>(), last["loss"].get<double>(), last["penalty"].get<double>(),
        last["train_top1_pct"].get<double>(), last["relative_power"].get<double>(),
        last["seconds"].get<double>());
    std::fflush(stdout);
  });
  write_structure(s, dir / "structure.json");
  const double top1 = 100 * train::evaluate(*model, o.test_set);
  train::save_checkpoint(*model, o.info, dir / "explore.pt");
  double epoch_seconds = 0;
  for (const auto& e : s.log) epoch_seconds += e["seconds"].get<double>();
  const Json result = {{"top1_pct", top1},
                       {"relative_power", structure_power(*model, s, o.map.architecture)},
                       {"seconds_per_epoch", epoch_seconds / static_cast<double>(s.log.size())},
                       {"seconds", seconds_since(start)}};
  write_json(done, result);
  fmt::print("lambda {}: phase 1 top-1 {:.2f}%, relative power {:.4f}\n", lambda, top1,
             result["relative_power"].get<double>());
  return result;
}

Json map_phase(const Problem& o, const fs::path& dir) {
  if (auto before = done_before(dir / "mapping.json", "phase 2")) return *before;
  fmt::print("phase 2, circuit mapping: {}\n", dir.string());
  std::fflush(stdout);
  return map_into(read_structure(dir / "structure.json"), dir, o.map).summary;
}

Json recover_phase(const Problem& o, const fs::path& dir) {
  const fs::path done = dir / "recover.json";
  if (auto before = done_before(done, "phase 3")) return *before;
  const double lambda = read_structure(dir / "structure.json").lambda;
  fmt::print("lambda {}: phase 3, accuracy recovery ({} epochs)\n", lambda, o.recover.epochs);
  std::fflush(stdout);
  const auto model = train::load_checkpoint(dir / "explore.pt", nullptr, o.device);
  const Recovery r = recover(*model, mapped_rules(dir), o.train_set, o.test_set, o.recover,
                             [](const train::EpochStats& e) { print_epoch("phase 3", e); });
  train::save_checkpoint(*model, o.info, dir / "recovered.pt");
  const Json result = {{"mapped_top1_pct", r.mapped_top1_pct},
                       {"recovered_top1_pct", r.recovered_top1_pct},
                       {"relative_power", r.relative_power},
                       {"seconds", r.seconds}};
  write_json(done, result);
  fmt::print("lambda {}: mapped top-1 {:.2f}%, recovered {:.2f}%, relative power {:.4f}\n", lambda,
             r.mapped_top1_pct, r.recovered_top1_pct, r.relative_power);
  return result;
}

namespace {

// library.jsonl's complete lines by multiplier; a torn last line (a killed run) is dropped.
std::map<std::string, Json> read_library_log(const fs::path& path) {
  std::map<std::string, Json> done;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    try {
      const Json j = Json::parse(line);
      done[j.at("mult").get<std::string>()] = j;
    } catch (const std::exception&) {
      break;
    }
  }
  return done;
}

Json run_library(const RunOptions& run, const fs::path& dir) {
  const Problem& o = run.problem;
  const fs::path path = dir / "library.jsonl";
  std::map<std::string, Json> done = read_library_log(path);
  {
    // Rewrite without a torn tail before appending.
    std::string text;
    for (const std::string& mult : run.library)
      if (done.count(mult)) text += done[mult].dump() + "\n";
    write_text_file(path, text);
  }
  std::ofstream log(path, std::ios::app);
  Json rows = Json::array();
  for (const std::string& mult : run.library) {
    if (!done.count(mult)) {
      fmt::print("library: {} ({} epochs of retraining)\n", mult, o.recover.epochs);
      std::fflush(stdout);
      const auto model = train::load_checkpoint(o.checkpoint, nullptr, o.device);
      const Recovery r =
          recover(*model, nn::rules_for_all(mult), o.train_set, o.test_set, o.recover,
                  [](const train::EpochStats& e) { print_epoch("retraining", e); });
      done[mult] = {{"mult", mult},
                    {"top1_pct", r.mapped_top1_pct},
                    {"retrained_top1_pct", r.recovered_top1_pct},
                    {"relative_power", r.relative_power},
                    {"seconds", r.seconds}};
      log << done[mult].dump() << '\n';
      log.flush();
      AXNN_CHECK(log, "{}: write failed", path.string());
      fmt::print("library: {}: top-1 {:.2f}%, retrained {:.2f}%, relative power {:.4f}\n", mult,
                 r.mapped_top1_pct, r.recovered_top1_pct, r.relative_power);
    }
    rows.push_back(done[mult]);
  }
  return rows;
}

Json run_baseline(const Problem& o, const fs::path& dir) {
  const fs::path path = dir / "baseline.json";
  if (fs::exists(path)) return read_json(path);
  const auto model = train::load_checkpoint(o.checkpoint, nullptr, o.device);
  nn::configure_layers(*model, nn::rules_for_all("exact"));
  const double fp32 = 100 * train::evaluate(*model, o.test_set);
  const std::string exact = exact_multiplier_name(o.explore.bits, o.explore.is_signed);
  nn::configure_layers(*model, nn::rules_for_all(exact));
  const double quantized = 100 * train::evaluate(*model, o.test_set);
  const Json baseline = {
      {"fp32_top1_pct", fp32}, {"exact_mult", exact}, {"exact_top1_pct", quantized}};
  write_json(path, baseline);
  fmt::print("baseline: fp32 top-1 {:.2f}%, {} {:.2f}%\n", fp32, exact, quantized);
  return baseline;
}

// One report row per lambda from its phases' files.
Json lambda_row(double lambda, const Json& explored, const Json& mapping, const Json& recovered,
                double fp32) {
  Json row = {{"lambda", lambda},
              {"phase1_top1_pct", explored["top1_pct"]},
              {"phase1_relative_power", explored["relative_power"]},
              {"phase1_seconds_per_epoch", explored["seconds_per_epoch"]},
              {"mapped_top1_pct", recovered["mapped_top1_pct"]},
              {"recovered_top1_pct", recovered["recovered_top1_pct"]},
              {"drop_pts", fp32 - recovered["recovered_top1_pct"].get<double>()},
              {"relative_power", recovered["relative_power"]}};
  // A single structure's multiplier: its circuit, area, error metrics and the greedies' errors.
  if (mapping.contains("axnn")) {
    const Json& a = mapping["axnn"];
    row["gamma"] = mapping["gamma"];
    row["mult"] = a["circuit"];
    row["mult_relative_power"] = a["cost"].is_null() ? Json() : a["cost"]["relative"]["power"];
    row["relative_area"] = a["cost"].is_null() ? Json() : a["cost"]["relative"]["area"];
    row["mae_pct"] = a["metrics"]["mae_pct"];
    row["mse"] = a["metrics"]["mse"];
    row["target_mse"] = a["target_mse"];
    row["tram_greedy_target_mse"] = mapping["tram"]["target_mse"];
  } else {
    row["mult"] = "per layer";
  }
  return row;
}

std::string number(const Json& v, int decimals) {
  return v.is_number() ? fmt::format("{:.{}f}", v.get<double>(), decimals) : "-";
}

std::string report_csv(const Json& report) {
  std::string csv =
      "kind,name,lambda,phase1_top1_pct,mapped_top1_pct,top1_pct,drop_pts,relative_power,"
      "relative_area,mae_pct\n";
  for (const Json& r : report["lambdas"])
    csv += fmt::format("tram,{},{},{},{},{},{},{},{},{}\n", csv_field(r["mult"].get<std::string>()),
                       r["lambda"].get<double>(), number(r["phase1_top1_pct"], 2),
                       number(r["mapped_top1_pct"], 2), number(r["recovered_top1_pct"], 2),
                       number(r["drop_pts"], 2), number(r["relative_power"], 4),
                       number(r.value("relative_area", Json()), 4),
                       number(r.value("mae_pct", Json()), 4));
  for (const Json& r : report["library"])
    csv += fmt::format("library,{},,,{},{},{},{},,\n", csv_field(r["mult"].get<std::string>()),
                       number(r["top1_pct"], 2), number(r["retrained_top1_pct"], 2),
                       number(r["drop_pts"], 2), number(r["relative_power"], 4));
  return csv;
}

// The least power within kComparedDropPts of fp32 after retraining, among rows with `top1_key`.
const Json* best_within(const Json& rows) {
  const Json* best = nullptr;
  for (const Json& r : rows)
    if (r["drop_pts"].get<double>() <= kComparedDropPts &&
        (!best || r["relative_power"].get<double>() < (*best)["relative_power"].get<double>()))
      best = &r;
  return best;
}

std::string report_readme(const Json& report) {
  const Json& b = report["baseline"];
  std::string md = fmt::format(
      "# axnn tram run: {} on {}\n\n"
      "Checkpoint `{}`, {}-bit {} multipliers, {} training images. fp32 top-1 {:.2f}%, {} "
      "{:.2f}%. Phase 1 trains {} epoch(s) per lambda, phase 3 and every library multiplier "
      "{} epoch(s). Relative power: the network's multiplier power against the exact "
      "multiplier (1.0), phase 1's from the column power model, the mapped multiplier's from its "
      "circuit (abc). Target MSE: the mapped table's mean square error against the learned "
      "function, with TRAM's greedy (outputs tied to 0 only) in brackets. axnn {}.\n\n"
      "| lambda | phase-1 top-1 % | phase-1 power | mapped multiplier | relative power | "
      "relative area | MAE % | target MSE (TRAM's greedy) | top-1 mapped % | top-1 after phase 3 % "
      "| drop (pts) |\n"
      "|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|\n",
      report["problem"]["model"].get<std::string>(),
      report["problem"]["dataset"].get<std::string>(),
      report["problem"]["checkpoint"].get<std::string>(), report["problem"]["bits"].get<int>(),
      report["problem"]["signed"].get<bool>() ? "signed" : "unsigned",
      report["problem"]["train_images"].get<int64_t>(), b["fp32_top1_pct"].get<double>(),
      b["exact_mult"].get<std::string>(), b["exact_top1_pct"].get<double>(),
      report["problem"]["explore_epochs"].get<int64_t>(),
      report["problem"]["recover_epochs"].get<int64_t>(),
      report["axnn_version"].get<std::string>());
  for (const Json& r : report["lambdas"])
    md += fmt::format(
        "| {:g} | {} | {} | {} | {} | {} | {} | {} ({}) | {} | {} | {} |\n",
        r["lambda"].get<double>(), number(r["phase1_top1_pct"], 2),
        number(r["phase1_relative_power"], 4), r["mult"].get<std::string>(),
        number(r["relative_power"], 4), number(r.value("relative_area", Json()), 4),
        number(r.value("mae_pct", Json()), 4), number(r.value("target_mse", Json()), 2),
        number(r.value("tram_greedy_target_mse", Json()), 2), number(r["mapped_top1_pct"], 2),
        number(r["recovered_top1_pct"], 2), number(r["drop_pts"], 2));
  if (!report["library"].empty()) {
    md +=
        "\nLibrary multipliers on every layer, retrained as long as phase 3:\n\n"
        "| multiplier | relative power | top-1 % | retrained top-1 % | drop (pts) |\n"
        "|---|---:|---:|---:|---:|\n";
    for (const Json& r : report["library"])
      md += fmt::format("| {} | {} | {} | {} | {} |\n", r["mult"].get<std::string>(),
                        number(r["relative_power"], 4), number(r["top1_pct"], 2),
                        number(r["retrained_top1_pct"], 2), number(r["drop_pts"], 2));
  }
  const Json* tram = best_within(report["lambdas"]);
  const Json* library = best_within(report["library"]);
  md += fmt::format("\nWithin {:g} points of fp32 after retraining: ", kComparedDropPts);
  if (tram)
    md += fmt::format("the best learned structure (lambda {:g}, {}) has relative power {:.4f}",
                      (*tram)["lambda"].get<double>(), (*tram)["mult"].get<std::string>(),
                      (*tram)["relative_power"].get<double>());
  else
    md += "no learned structure";
  if (library)
    md += fmt::format("; the best library multiplier ({}) {:.4f}",
                      (*library)["mult"].get<std::string>(),
                      (*library)["relative_power"].get<double>());
  else if (!report["library"].empty())
    md += "; no library multiplier";
  if (tram && library) {
    const double t = (*tram)["relative_power"].get<double>(),
                 l = (*library)["relative_power"].get<double>();
    // Within 1%: the same structure on another architecture (e.g. a truncation learned on a
    // Wallace tree against the library's Dadda one) differs by that much.
    if (std::abs(t - l) <= kTiedPower * l)
      md += fmt::format(
          ": within {:g}% of each other, learning the structure finds what picking "
          "finds.",
          100 * kTiedPower);
    else
      md += t < l ? fmt::format(
                        ": learning the structure beats picking one by {:.1f}% of the "
                        "power.",
                        100 * (l - t) / l)
                  : ": picking from the library does better.";
  }
  md += "\n";
  return md;
}

void plot_front(const fs::path& dir, const Json& report) {
  if (!find_program("gnuplot")) {
    fmt::print("front.svg skipped: gnuplot is not installed (Debian package gnuplot-nox)\n");
    return;
  }
  std::string learned, library;
  for (const Json& r : report["lambdas"])
    learned += fmt::format("{} {} \"{:g}\"\n", r["relative_power"].get<double>(),
                           r["recovered_top1_pct"].get<double>(), r["lambda"].get<double>());
  for (const Json& r : report["library"])
    library += fmt::format("{} {} \"{}\"\n", r["relative_power"].get<double>(),
                           r["retrained_top1_pct"].get<double>(), r["mult"].get<std::string>());
  write_text_file(dir / "learned.dat", learned);
  write_text_file(dir / "library.dat", library);
  // No library plot without points: gnuplot crashes on an empty labels file.
  const std::string library_plots =
      library.empty() ? ""
                      : "'library.dat' using 1:2 with points pt 5 title 'library', "
                        "'' using 1:2:3 with labels offset 1,-1 font ',8' notitle, ";
  write_text_file(
      dir / "front.gp",
      fmt::format(
          "set terminal svg size 800,500\nset output 'front.svg'\n"
          "set xlabel 'relative multiplier power'\nset ylabel 'top-1 after retraining (%)'\n"
          "set key bottom right\nset grid\n"
          "plot 'learned.dat' using 1:2 with linespoints pt 7 lw 2 title 'TRAM (lambda)', "
          "'' using 1:2:3 with labels offset 1,1 notitle, {}"
          "{} with lines dt 2 title 'fp32 - {:g} pts'\n",
          library_plots, report["baseline"]["fp32_top1_pct"].get<double>() - kComparedDropPts,
          kComparedDropPts));
  const ProcessResult result = run_process({"gnuplot", "front.gp"}, dir);
  if (result.exit_code != 0)
    fmt::print("front.svg not drawn: gnuplot failed (exit code {}): {}\n", result.exit_code,
               result.output);
  for (const char* name : {"learned.dat", "library.dat", "front.gp"}) fs::remove(dir / name);
}

}  // namespace

Json run_tram(const RunOptions& o) {
  const auto start = std::chrono::steady_clock::now();
  AXNN_CHECK(!o.lambdas.empty(), "--lambdas: at least one");
  AXNN_CHECK(std::set<double>(o.lambdas.begin(), o.lambdas.end()).size() == o.lambdas.size(),
             "--lambdas: a value is listed twice");
  AXNN_CHECK(!fs::exists(o.output) || fs::is_directory(o.output),
             "-o {}: exists and is not a folder", o.output.string());
  // Every library name loads before the long work.
  for (const std::string& mult : o.library) {
    const auto model = train::load_checkpoint(o.problem.checkpoint);
    try {
      nn::configure_layers(*model, nn::rules_for_all(mult));
    } catch (const Error& e) {
      throw Error(fmt::format("--library: {}", e.what()));
    }
    AXNN_CHECK(nn::ax_layers(*model).front().second->relative_power().has_value(),
               "--library: {} has no relative power to compare by (import its circuit with axnn "
               "mult import, or pick one with a circuit)",
               mult);
  }

  fs::create_directories(o.output);
  const Json problem = problem_of(o.problem);
  const fs::path run_json = o.output / "run.json";
  if (fs::exists(run_json)) {
    const Json before = read_json(run_json);
    AXNN_CHECK(before == problem,
               "{}: this folder holds another run ({}); use another -o or delete it",
               run_json.string(), before.dump());
  } else {
    write_json(run_json, problem);
  }
  const Json baseline = run_baseline(o.problem, o.output);
  const double fp32 = baseline["fp32_top1_pct"].get<double>();

  Json lambdas = Json::array();
  for (const double lambda : o.lambdas) {
    const fs::path dir = o.output / lambda_dir(lambda);
    Problem p = o.problem;
    p.explore.lambda = lambda;
    const Json explored = explore_phase(p, dir);
    const Json mapping = map_phase(p, dir);
    const Json recovered = recover_phase(p, dir);
    lambdas.push_back(lambda_row(lambda, explored, mapping, recovered, fp32));
  }
  Json library = run_library(o, o.output);
  for (Json& r : library) r["drop_pts"] = fp32 - r["retrained_top1_pct"].get<double>();

  const Json report = {{"axnn_version", AXNN_VERSION},
                       {"problem", problem},
                       {"baseline", baseline},
                       {"lambdas", lambdas},
                       {"library", library},
                       {"compared_drop_pts", kComparedDropPts},
                       {"seconds", seconds_since(start)}};
  write_json(o.output / "report.json", report);
  write_text_file(o.output / "report.csv", report_csv(report));
  write_text_file(o.output / "README.md", report_readme(report));
  plot_front(o.output, report);
  fmt::print("wrote {}: report.json, report.csv, README.md, front.svg ({:.0f} s)\n",
             o.output.string(), seconds_since(start));
  return report;
}

}  // namespace axnn::tram
