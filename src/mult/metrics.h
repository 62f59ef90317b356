// Error metrics of a multiplier against the exact product of the same width and signedness, exactly
// as DESIGN.md section 2 defines them: e = approx - exact over all 4^b code pairs, operand values
// two's complement for signed multipliers. These reproduce EvoApprox's published figures.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>

#include "mult/multiplier.h"

namespace axnn {

struct ErrorMetrics {
  double mae_pct = 0;   // mean|e| / 2^(2b) * 100
  double wce_pct = 0;   // max|e| / 2^(2b) * 100
  double ep_pct = 0;    // share of pairs with e != 0, in percent
  double mre_pct = 0;   // mean |e|/|exact| over exact != 0, in percent
  double wcre_pct = 0;  // max |e|/|exact| over exact != 0, in percent
  double mse = 0;       // mean e^2
  double bias = 0;      // mean e
  double nmed = 0;      // mean|e| / 2^(2b)
  double mred = 0;      // mean |e| / max(|exact|, 1) over all pairs
};

ErrorMetrics compute_metrics(const Multiplier& mult);

// One JSON object: name, bits, signed, the metrics in snake_case (mae_pct ... mred), then
// relative_power, area_um2, delay_ns, power_mw (null when unknown), source and description.
nlohmann::ordered_json to_json(const Multiplier& mult, const ErrorMetrics& metrics);

// The one text format of a metric or metadata number, six significant digits: 0.0123457, -3.25,
// 1.5e-05, 100.
std::string format_number(double value);

// Multi-line human-readable report of the metadata and every metric, ending with a newline.
std::string format_report(const Multiplier& mult, const ErrorMetrics& metrics);

// One-line summary of the main metrics: "MAE% 0.0123, WCE% 0.05, EP% 50".
std::string format_summary(const ErrorMetrics& metrics);

// A table of multipliers: the header line and one row per multiplier, each ending with a newline;
// `label` overrides the name column.
std::string format_table_header();
std::string format_table_row(const Multiplier& mult, const ErrorMetrics& metrics,
                             const std::string& label = "");

}  // namespace axnn
