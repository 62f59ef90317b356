#include "tram/power.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <string>

#include "core/error.h"
#include "mult/generators.h"
#include "netlist/blif.h"
#include "netlist/cost.h"

namespace axnn::tram {
namespace {

// The three elements as the generator builds them (generate.h: a full adder is t = a ^ b,
// sum = t ^ c, carry = (a & b) | (t & c)), with multiplier-style ports so that the cost flow's
// power estimate drives them with uniform random operands.
constexpr const char* kGate = R"(.model and2
.inputs A[0] B[0]
.outputs O[0]
.names A[0] B[0] O[0]
11 1
.end
)";
constexpr const char* kHalfAdder = R"(.model half_adder
.inputs A[0] B[0]
.outputs O[0] O[1]
.names A[0] B[0] O[0]
10 1
01 1
.names A[0] B[0] O[1]
11 1
.end
)";
constexpr const char* kFullAdder = R"(.model full_adder
.inputs A[0] A[1] B[0] B[1]
.outputs O[0] O[1]
.names A[0] A[1] t
10 1
01 1
.names t B[0] O[0]
10 1
01 1
.names A[0] A[1] g
11 1
.names t B[0] p
11 1
.names g p O[1]
1- 1
-1 1
.end
)";

double element_power(const char* blif) {
  static std::mutex mutex;
  static std::map<std::string, double> cache;
  const std::lock_guard lock(mutex);
  const auto it = cache.find(blif);
  if (it != cache.end()) return it->second;
  const netlist::Netlist element = netlist::parse_blif(blif, "tram power element");
  const double power = netlist::estimate_cost(element).power;
  AXNN_CHECK(power > 0, "TRAM power model: the {} element switches no capacitance", element.name);
  return cache[blif] = power;
}

}  // namespace

ColumnPower column_power(int bits, bool is_signed, netlist::Architecture architecture) {
  ColumnPower p;
  p.bits = bits;
  p.is_signed = is_signed;
  p.architecture = architecture;
  p.gate_power = element_power(kGate);
  p.half_adder_power = element_power(kHalfAdder);
  p.full_adder_power = element_power(kFullAdder);
  // Output columns 0..2b-1: the top one holds no cells, only what carries and signed
  // corrections bring.
  const int columns = 2 * bits;
  p.gates.assign(static_cast<size_t>(columns), 0);
  p.half_adders = p.full_adders = p.gates;
  for (int c = 0; c < partial_product_columns(bits); ++c)
    p.gates[static_cast<size_t>(c)] = std::min(c, 2 * bits - 2 - c) + 1;  // cells with i + j = c
  netlist::MultiplierCircuit exact;
  exact.bits = bits;
  exact.is_signed = is_signed;
  exact.architecture = architecture;
  for (const netlist::AdderInfo& adder : netlist::circuit_adders(exact)) {
    ++(adder.full ? p.full_adders : p.half_adders)[static_cast<size_t>(adder.column)];
  }
  double total = 0;
  for (int c = 0; c < columns; ++c) {
    const auto k = static_cast<size_t>(c);
    p.share.push_back(p.gates[k] * p.gate_power + p.half_adders[k] * p.half_adder_power +
                      p.full_adders[k] * p.full_adder_power);
    total += p.share.back();
  }
  for (double& s : p.share) s /= total;
  return p;
}

at::Tensor relative_power(const ColumnPower& power, const at::Tensor& gamma) {
  const int64_t n = gamma.size(0);
  AXNN_CHECK(n <= std::ssize(power.share), "TRAM power model: {} gamma values, {} columns", n,
             power.share.size());
  const at::Tensor share =
      at::tensor(std::vector<double>(power.share.begin(), power.share.begin() + n), at::kFloat)
          .to(gamma.device());
  const at::Tensor clamped = gamma + (gamma.clamp(0, 1) - gamma).detach();
  return 1 - (clamped * share).sum();
}

double relative_power(const ColumnPower& power, const std::vector<double>& gamma) {
  AXNN_CHECK(gamma.size() <= power.share.size(), "TRAM power model: {} gamma values, {} columns",
             gamma.size(), power.share.size());
  double p = 1;
  for (size_t c = 0; c < gamma.size(); ++c) p -= std::clamp(gamma[c], 0.0, 1.0) * power.share[c];
  return p;
}

nlohmann::ordered_json to_json(const ColumnPower& p) {
  return {{"architecture", netlist::architecture_name(p.architecture)},
          {"bits", p.bits},
          {"signed", p.is_signed},
          {"element_power",
           {{"gate", p.gate_power},
            {"half_adder", p.half_adder_power},
            {"full_adder", p.full_adder_power}}},
          {"gates", p.gates},
          {"half_adders", p.half_adders},
          {"full_adders", p.full_adders},
          {"share", p.share}};
}

}  // namespace axnn::tram
