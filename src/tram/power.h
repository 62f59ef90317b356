// Phase 1's power model: how much of the exact multiplier's power each partial-product column
// holds, from the elements the exact circuit (netlist/generate.h, Wallace by default, as phase 2
// maps onto) has in that column: its partial-product gates (AND or, for signed cells, NAND) and
// the half and full adders whose sum lies in it. Each element kind weighs its switching power
// through axnn's own cost flow (netlist/cost.h: abc mapping onto the gate library, toggles under
// uniform inputs times the capacitance they drive), so no figure is typed in. A layer whose
// structure removes gamma_c of column c then has relative power 1 - sum_c gamma_c share_c.
#pragma once

#include <ATen/core/Tensor.h>

#include <nlohmann/json.hpp>
#include <vector>

#include "netlist/generate.h"

namespace axnn::tram {

struct ColumnPower {
  int bits = 8;
  bool is_signed = false;
  netlist::Architecture architecture = netlist::Architecture::kWallace;
  // Switching power of one element (capacitance per operation, the gate library's units).
  double gate_power = 0, half_adder_power = 0, full_adder_power = 0;
  // Per output column 0..2b-1 (the top one has no cells, only carries and signed corrections).
  std::vector<int> gates, half_adders, full_adders;
  std::vector<double> share;  // each column's power over the whole circuit's: sums to 1
};

// Maps the three elements with abc (once per process). Throws axnn::Error when abc is missing.
ColumnPower column_power(int bits, bool is_signed,
                         netlist::Architecture architecture = netlist::Architecture::kWallace);

// 1 - sum_{c < P} clamp(gamma_c, 0, 1) share_c as a differentiable scalar (straight through the
// clamp, as the layers see gamma).
at::Tensor relative_power(const ColumnPower& power, const at::Tensor& gamma);
double relative_power(const ColumnPower& power, const std::vector<double>& gamma);

nlohmann::ordered_json to_json(const ColumnPower& power);

}  // namespace axnn::tram
