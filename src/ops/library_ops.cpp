// What the Python front end needs of the C++ library besides the tensor ops, so that Python and
// the CLI share one implementation of each: the multiplier library (names, tables with metrics
// and metadata, circuit import), layer rules read, validated and matched as the CLI does, and the
// calibrators (torch.classes.axnn.Calibrator). Structured results travel as JSON strings; every
// failure is one axnn::Error, which reaches Python as a RuntimeError with its message.
//
// These take no tensors, so they are registered with their functions (catch-all kernels) here
// rather than as schemas in schema.cpp with per-backend impls.
#include <ATen/ATen.h>
#include <fmt/format.h>
#include <torch/custom_class.h>
#include <torch/library.h>

#include <nlohmann/json.hpp>

#include <mutex>
#include <set>

#include "core/error.h"
#include "mult/formats.h"
#include "mult/metrics.h"
#include "mult/registry.h"
#include "netlist/import.h"
#include "netlist/multiplier_cost.h"
#include "nn/rules.h"
#include "quant/calibrator.h"

namespace axnn::ops {
namespace {

// Built-ins get the relative power of their circuits, as in the axnn command (tools/axnn/main.cpp).
// Set by the lookups Python makes, not when the library loads: C++ programs linking the op
// library keep the registry as they set it.
void with_circuit_costs() {
  static std::once_flag once;
  std::call_once(once, [] { set_builtin_meta_hook(netlist::attach_builtin_circuit_cost); });
}

// The table [2^b, 2^b] and the JSON of metrics.h's to_json, plus `note` when one is given.
std::tuple<at::Tensor, std::string> table_and_info(const Multiplier& mult,
                                                   const std::string& note = "") {
  at::Tensor table =
      at::tensor(at::ArrayRef<int32_t>(mult.lut().data(), mult.lut().size()), at::kInt)
          .view({mult.codes(), mult.codes()});
  nlohmann::ordered_json info = to_json(mult, compute_metrics(mult));
  if (!note.empty()) info["note"] = note;
  return {table, info.dump()};
}

// The curated built-ins, then every .axm file of the search folders (as `axnn mult list`).
std::vector<std::string> mult_names() {
  std::vector<std::string> names = curated_builtin_names();
  std::set<std::string> seen(names.begin(), names.end());
  const MultiplierRegistry registry = MultiplierRegistry::from_environment();
  for (const MultiplierFile& file : registry.files())
    if (seen.insert(file.stem).second) names.push_back(file.stem);
  return names;
}

std::tuple<at::Tensor, std::string> mult_load(const std::string& name) {
  with_circuit_costs();
  return table_and_info(get_multiplier(name));
}

// A Verilog or BLIF multiplier simulated into its table; costed by abc unless `cost` is false (a
// missing abc only leaves the relative power unknown, with a note saying why); written to `output`
// unless it is empty.
std::tuple<at::Tensor, std::string> mult_import(const std::string& path, const std::string& output,
                                                c10::optional<bool> is_signed,
                                                const std::string& name, const std::string& top,
                                                bool cost) {
  netlist::ImportOptions options;
  if (is_signed) options.is_signed = *is_signed;
  options.name = name;
  options.top = top;
  netlist::ImportedCircuit imported = netlist::import_multiplier(path, options);
  Multiplier& mult = imported.multiplier;
  std::string note;
  if (const auto why = cost ? netlist::attach_circuit_cost(mult, imported.netlist) : std::nullopt)
    note = fmt::format("relative power unknown, the circuit was not costed: {}", *why);
  if (!output.empty()) write_multiplier(mult, output);
  return table_and_info(mult, note);
}

std::string layer_rules_file(const std::string& path) {
  return nn::to_json(nn::load_config_rules(path)).dump();
}

std::string layer_rules(const std::string& json, const std::string& where) {
  nlohmann::json parsed;
  try {
    parsed = nlohmann::json::parse(json);
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("{}: not valid JSON: {}", where, e.what()));
  }
  return nn::to_json(nn::rules_from_json(parsed, where)).dump();
}

// For each layer, the index of the first rule that matches it, or -1.
std::vector<int64_t> match_layer_rules(const std::string& rules_json,
                                       const std::vector<std::string>& names,
                                       const std::vector<std::string>& types) {
  AXNN_CHECK(names.size() == types.size(), "match_layer_rules: {} names but {} types",
             names.size(), types.size());
  const std::vector<nn::ConfigRule> rules =
      nn::rules_from_json(nlohmann::json::parse(rules_json), "match_layer_rules");
  std::vector<int64_t> matched;
  for (size_t i = 0; i < names.size(); ++i) {
    int64_t found = -1;
    for (size_t r = 0; r < rules.size() && found < 0; ++r)
      if (nn::rule_matches(rules[r], names[i], types[i])) found = static_cast<int64_t>(r);
    matched.push_back(found);
  }
  return matched;
}

// A calibrator (quant/calibrator.h) for a layer config's activation operand.
class CalibratorHolder : public torch::CustomClassHolder {
 public:
  CalibratorHolder(std::string method, double percentile, int64_t bits, bool narrow_range) {
    quant::CalibOptions options;
    options.method = quant::parse_calib_method(method);
    options.percentile = percentile;
    options.bits = static_cast<int>(bits);
    options.narrow_range = narrow_range;
    calibrator_ = quant::Calibrator(options);
  }
  void collect(const at::Tensor& x) { calibrator_.collect(x.detach()); }
  int64_t batches() const { return calibrator_.batches(); }
  double amax() const { return calibrator_.amax(); }

 private:
  quant::Calibrator calibrator_;
};

}  // namespace
}  // namespace axnn::ops

TORCH_LIBRARY_FRAGMENT(axnn, m) {
  using namespace axnn::ops;
  m.def("mult_names() -> str[]", &mult_names);
  m.def("mult_load(str name) -> (Tensor, str)", &mult_load);
  m.def(
      "mult_import(str path, str output, bool? is_signed, str name, str top, bool cost) -> "
      "(Tensor, str)",
      &mult_import);
  m.def("layer_rules_file(str path) -> str", &layer_rules_file);
  m.def("layer_rules(str json, str where) -> str", &layer_rules);
  m.def("match_layer_rules(str rules, str[] names, str[] types) -> int[]", &match_layer_rules);
  m.class_<CalibratorHolder>("Calibrator")
      .def(torch::init<std::string, double, int64_t, bool>())
      .def("collect", &CalibratorHolder::collect)
      .def("batches", &CalibratorHolder::batches)
      .def("amax", &CalibratorHolder::amax);
}
