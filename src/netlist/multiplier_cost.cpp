#include "netlist/multiplier_cost.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "core/error.h"
#include "core/files.h"

namespace axnn::netlist {

MultiplierCircuit exact_reference(int bits, bool is_signed) {
  MultiplierCircuit circuit;
  circuit.bits = bits;
  circuit.is_signed = is_signed;
  circuit.architecture = Architecture::kDadda;
  return circuit;
}

MultiplierCost multiplier_cost(const Netlist& netlist, int bits, bool is_signed,
                               const CostOptions& options) {
  // The reference under these options, mapped once per process.
  static std::mutex mutex;
  static std::map<std::string, CircuitCost> references;
  const std::string key =
      fmt::format("{}|{}|{}|{}|{}|{}", circuit_name(exact_reference(bits, is_signed)),
                  options.abc.library.string(), options.abc.optimization, options.power.operations,
                  options.power.seed, options.power.operands ? "dist" : "uniform");
  CircuitCost exact;
  {
    const std::lock_guard<std::mutex> lock(mutex);
    auto it = references.find(key);
    if (it == references.end() || options.power.operands) {
      const CircuitCost fresh =
          estimate_cost(generate_multiplier(exact_reference(bits, is_signed)), options);
      it = references.insert_or_assign(key, fresh).first;
    }
    exact = it->second;
  }
  const CircuitCost cost = estimate_cost(netlist, options);
  return {cost, exact, relative_to(cost, exact)};
}

void set_cost_meta(Multiplier& mult, const RelativeCost& relative) {
  mult.meta().relative_power = relative.power;
  const std::string note = fmt::format(
      "estimated relative to the exact Dadda circuit: power {:.3f}, area {:.3f}, delay {:.3f}",
      relative.power, relative.area, relative.delay);
  std::string& description = mult.meta().description;
  description += (description.empty() ? "" : "; ") + note;
}

std::optional<std::string> attach_circuit_cost(Multiplier& mult, const Netlist& circuit) {
  try {
    set_cost_meta(mult, multiplier_cost(circuit, mult.bits(), mult.is_signed()).relative);
  } catch (const Error& e) {
    return std::string(e.what());
  }
  return std::nullopt;
}

std::optional<MultiplierCircuit> builtin_circuit(const std::string& name) {
  static const std::regex pattern(
      R"((exact|trunc|bam|cols)(\d)([su])(?:_k(\d+)|_h(\d+)_v(\d+)|_([01]+))?)");
  std::smatch m;
  if (!std::regex_match(name, m, pattern)) return std::nullopt;
  MultiplierCircuit circuit = exact_reference(std::stoi(m[2]), m[3] == "s");
  const std::string kind = m[1];
  if (kind == "exact" && !m[4].matched && !m[5].matched && !m[7].matched) return circuit;
  if (kind == "trunc" && m[4].matched) {
    circuit.cells = CellSelection::kTruncated;
    circuit.truncate = std::stoi(m[4]);
  } else if (kind == "bam" && m[5].matched) {
    circuit.cells = CellSelection::kBrokenArray;
    circuit.hbl = std::stoi(m[5]);
    circuit.vbl = std::stoi(m[6]);
  } else if (kind == "cols" && m[7].matched) {
    circuit.cells = CellSelection::kColumns;
    for (const char c : m[7].str()) circuit.keep_columns.push_back(c == '1');
    circuit.keep_columns.resize(static_cast<size_t>(2 * circuit.bits - 1),
                                true);  // as the registry
  } else {
    return std::nullopt;
  }
  return circuit;
}

namespace {

// The circuit's relative figures from the disk cache, else by mapping it (and caching them).
RelativeCost cached_relative_cost(const MultiplierCircuit& circuit) {
  const CostOptions options;
  const std::string name = circuit_name(circuit);
  const uint64_t key = fnv1a(
      fmt::format("{}|{}|{}|{}|{}", name, read_text_file(default_genlib_path(), "gate library"),
                  options.abc.optimization, options.power.operations, options.power.seed));
  const std::optional<std::filesystem::path> dir = user_cache_dir("cost");
  const std::filesystem::path file =
      dir ? *dir / fmt::format("{}-{:016x}.json", name, key) : std::filesystem::path();
  if (!file.empty() && std::filesystem::is_regular_file(file)) {
    const nlohmann::json cached = nlohmann::json::parse(read_text_file(file), nullptr, false);
    if (cached.is_object() && cached.contains("relative")) {
      const auto& r = cached["relative"];
      return {r.value("area", 0.0), r.value("delay", 0.0), r.value("power", 0.0)};
    }
  }
  const MultiplierCost cost =
      multiplier_cost(generate_multiplier(circuit), circuit.bits, circuit.is_signed, options);
  if (!file.empty()) {
    std::error_code error;
    std::filesystem::create_directories(file.parent_path(), error);
    // A per-process temporary name: parallel runs may cost the same circuit at once.
    const std::filesystem::path tmp = fmt::format("{}.{}.tmp", file.string(), ::getpid());
    std::ofstream(tmp) << cost_to_json(cost.cost, cost.relative).dump(2) << '\n';
    std::filesystem::rename(tmp, file, error);
  }
  return cost.relative;
}

}  // namespace

void attach_builtin_circuit_cost(Multiplier& mult) {
  if (mult.meta().relative_power) return;
  const std::optional<MultiplierCircuit> circuit = builtin_circuit(mult.name());
  if (!circuit) return;
  // Every lookup of a built-in comes here (a search configures every layer per evaluation):
  // each circuit's figures are read from disk once per process.
  static std::mutex mutex;
  static std::map<std::string, RelativeCost> known;
  const std::lock_guard<std::mutex> lock(mutex);
  try {
    const std::string name = circuit_name(*circuit);
    auto it = known.find(name);
    if (it == known.end()) it = known.emplace(name, cached_relative_cost(*circuit)).first;
    set_cost_meta(mult, it->second);
  } catch (const std::exception& e) {
    static std::once_flag once;
    std::call_once(once, [&] {
      spdlog::warn(
          "relative power of built-in multipliers unknown (their circuits could not be "
          "costed): {}",
          e.what());
    });
  }
}

}  // namespace axnn::netlist
