#include "mult/metrics.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>

namespace axnn {

ErrorMetrics compute_metrics(const Multiplier& mult) {
  const int codes = mult.codes();
  const double pairs = double(codes) * codes;  // 2^(2b), also the normalizer of MAE/WCE/NMED
  // Integer sums stay exact for any int32 table: |e| < 2^32, e^2 < 2^64, at most 2^16 pairs.
  int64_t sum_abs = 0, sum_e = 0, max_abs = 0, nonzero = 0, nonzero_exact = 0;
  unsigned __int128 sum_sq = 0;
  double sum_rel = 0, max_rel = 0, sum_red = 0;
  for (int xc = 0; xc < codes; ++xc) {
    const int64_t x = mult.value(xc);
    for (int wc = 0; wc < codes; ++wc) {
      const int64_t exact = x * mult.value(wc);
      const int64_t e = mult.at(xc, wc) - exact;
      const int64_t abs_e = std::abs(e);
      sum_abs += abs_e;
      sum_e += e;
      sum_sq += static_cast<unsigned __int128>(abs_e) * static_cast<uint64_t>(abs_e);
      max_abs = std::max(max_abs, abs_e);
      nonzero += e != 0;
      const int64_t abs_exact = std::abs(exact);
      sum_red += double(abs_e) / double(std::max<int64_t>(abs_exact, 1));
      if (abs_exact != 0) {
        const double rel = double(abs_e) / double(abs_exact);
        sum_rel += rel;
        max_rel = std::max(max_rel, rel);
        ++nonzero_exact;
      }
    }
  }
  ErrorMetrics m;
  m.nmed = double(sum_abs) / pairs / pairs;
  m.mae_pct = m.nmed * 100;
  m.wce_pct = double(max_abs) / pairs * 100;
  m.ep_pct = double(nonzero) / pairs * 100;
  m.mre_pct = nonzero_exact ? sum_rel / double(nonzero_exact) * 100 : 0;
  m.wcre_pct = max_rel * 100;
  m.mse = static_cast<double>(sum_sq) / pairs;
  m.bias = double(sum_e) / pairs;
  m.mred = sum_red / pairs;
  return m;
}

nlohmann::ordered_json to_json(const Multiplier& mult, const ErrorMetrics& metrics) {
  const auto optional = [](const std::optional<double>& v) {
    return v ? nlohmann::ordered_json(*v) : nlohmann::ordered_json(nullptr);
  };
  const MultiplierMeta& meta = mult.meta();
  return {{"name", mult.name()},
          {"bits", mult.bits()},
          {"signed", mult.is_signed()},
          {"mae_pct", metrics.mae_pct},
          {"wce_pct", metrics.wce_pct},
          {"ep_pct", metrics.ep_pct},
          {"mre_pct", metrics.mre_pct},
          {"wcre_pct", metrics.wcre_pct},
          {"mse", metrics.mse},
          {"bias", metrics.bias},
          {"nmed", metrics.nmed},
          {"mred", metrics.mred},
          {"relative_power", optional(meta.relative_power)},
          {"area_um2", optional(meta.area_um2)},
          {"delay_ns", optional(meta.delay_ns)},
          {"power_mw", optional(meta.power_mw)},
          {"source", meta.source},
          {"description", meta.description}};
}

std::string format_number(double value) { return fmt::format("{:.6g}", value); }

namespace {

std::string optional_number(const std::optional<double>& value, std::string_view unit = "") {
  return value ? format_number(*value) + std::string(unit) : "unknown";
}

}  // namespace

std::string format_report(const Multiplier& mult, const ErrorMetrics& metrics) {
  const MultiplierMeta& meta = mult.meta();
  std::string out;
  auto it = std::back_inserter(out);
  fmt::format_to(it, "name            {}\n", mult.name());
  fmt::format_to(it, "width           {}-bit {}\n", mult.bits(), signedness_name(mult.is_signed()));
  fmt::format_to(it, "source          {}\n", meta.source.empty() ? "-" : meta.source);
  fmt::format_to(it, "description     {}\n", meta.description.empty() ? "-" : meta.description);
  fmt::format_to(it, "relative power  {}\n", optional_number(meta.relative_power));
  fmt::format_to(it, "power           {}\n", optional_number(meta.power_mw, " mW"));
  fmt::format_to(it, "area            {}\n", optional_number(meta.area_um2, " um^2"));
  fmt::format_to(it, "delay           {}\n", optional_number(meta.delay_ns, " ns"));
  fmt::format_to(it, "error over all {} code pairs (e = approx - exact):\n",
                 mult.codes() * mult.codes());
  const std::pair<const char*, double> rows[] = {
      {"MAE%", metrics.mae_pct}, {"WCE%", metrics.wce_pct},   {"EP%", metrics.ep_pct},
      {"MRE%", metrics.mre_pct}, {"WCRE%", metrics.wcre_pct}, {"MSE", metrics.mse},
      {"bias", metrics.bias},    {"NMED", metrics.nmed},      {"MRED", metrics.mred}};
  for (const auto& [label, value] : rows) {
    fmt::format_to(it, "  {:<6} {}\n", label, format_number(value));
  }
  return out;
}

std::string format_summary(const ErrorMetrics& metrics) {
  return fmt::format("MAE% {}, WCE% {}, EP% {}", format_number(metrics.mae_pct),
                     format_number(metrics.wce_pct), format_number(metrics.ep_pct));
}

namespace {

// name, bits, s/u, MAE%, WCE%, EP%, MRED, bias, relative power.
constexpr const char* kTableRow =
    "  {:<26} {:>4} {:>3} {:>11} {:>11} {:>11} {:>11} {:>11} {:>11}\n";

}  // namespace

std::string format_table_header() {
  return fmt::format(kTableRow, "name", "bits", "s/u", "MAE%", "WCE%", "EP%", "MRED", "bias",
                     "power");
}

std::string format_table_row(const Multiplier& mult, const ErrorMetrics& metrics,
                             const std::string& label) {
  const auto& power = mult.meta().relative_power;
  return fmt::format(kTableRow, label.empty() ? mult.name() : label, mult.bits(),
                     mult.is_signed() ? "s" : "u", format_number(metrics.mae_pct),
                     format_number(metrics.wce_pct), format_number(metrics.ep_pct),
                     format_number(metrics.mred), format_number(metrics.bias),
                     power ? format_number(*power) : "-");
}

}  // namespace axnn
