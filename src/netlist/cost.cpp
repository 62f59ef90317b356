#include "netlist/cost.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <random>
#include <regex>
#include <sstream>

#include "core/error.h"
#include "core/files.h"
#include "core/subprocess.h"
#include "netlist/blif.h"

#ifndef AXNN_SHARE_DIR
#define AXNN_SHARE_DIR "share/axnn"
#endif

namespace axnn::netlist {

std::filesystem::path default_genlib_path() {
  if (const char* env = std::getenv("AXNN_GENLIB"); env && *env) return env;
  std::error_code ec;
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const std::filesystem::path installed =
        exe.parent_path().parent_path() / "share" / "axnn" / "axnn.genlib";
    if (std::filesystem::is_regular_file(installed, ec)) return installed;
  }
  return std::filesystem::path(AXNN_SHARE_DIR) / "axnn.genlib";
}

namespace {

// abc's output without its terminal colour codes.
std::string strip_ansi(const std::string& text) {
  static const std::regex escape("\x1b\\[[0-9;]*[A-Za-z]");
  return std::regex_replace(text, escape, "");
}

// The figures of print_stats's last line, e.g.
//   top : i/o = 16/ 16 lat = 0 nd = 206 edge = 353 area =437.00 delay =27.00 lev = 23
void parse_print_stats(const std::string& log, CircuitCost& cost) {
  const std::string text = strip_ansi(log);
  std::string line;
  std::istringstream lines(text);
  for (std::string l; std::getline(lines, l);)
    if (l.find("i/o =") != std::string::npos && l.find("area =") != std::string::npos) line = l;
  AXNN_CHECK(!line.empty(), "abc printed no statistics of the mapped circuit; its output:\n{}",
             log);
  const auto field = [&](const char* name) {
    const std::regex re(std::string(name) + R"(\s*=\s*([-+0-9.eE]+))");
    std::smatch m;
    AXNN_CHECK(std::regex_search(line, m, re), "abc's statistics have no '{}': {}", name, line);
    return std::stod(m[1].str());
  };
  cost.area = field("area");
  // abc reports -1e9 (minus its infinity) when no gate lies on a path, e.g. constant outputs.
  cost.delay = std::max(0.0, field("delay"));
  cost.levels = static_cast<int64_t>(field("lev"));
  cost.gates = static_cast<int64_t>(field("nd"));
}

}  // namespace

MappedCircuit map_with_abc(const Netlist& netlist, const AbcOptions& options) {
  std::string abc = "berkeley-abc";
  if (!find_program(abc)) abc = "yosys-abc";
  AXNN_CHECK(find_program(abc),
             "netlist {}: estimating its cost needs abc, and neither berkeley-abc nor yosys-abc is "
             "on PATH (Debian package berkeley-abc; scripts/install-deps.sh installs it)",
             netlist.name);
  const std::filesystem::path library_path =
      options.library.empty() ? default_genlib_path() : options.library;
  AXNN_CHECK(options.optimization.find_first_of("\"\n") == std::string::npos,
             "abc optimization '{}': quotes and newlines are not allowed", options.optimization);
  MappedCircuit mapped;
  mapped.library = read_genlib(library_path);

  // abc sees fixed file names in a fresh directory, so no path needs quoting in its script.
  const TempDir dir("axnn-abc");
  std::filesystem::copy_file(library_path, dir.path() / "lib.genlib");
  write_blif(netlist, dir.path() / "in.blif");
  const std::string optimization = options.optimization.empty() ? "" : options.optimization + "; ";
  const std::string script = "read_library lib.genlib; read_blif in.blif; strash; " + optimization +
                             "map -a; print_stats; write_blif out.blif";
  const ProcessResult result = run_process({abc, "-c", script}, dir.path());
  mapped.log = result.output;
  const std::filesystem::path out = dir.path() / "out.blif";
  AXNN_CHECK(result.exit_code == 0 && std::filesystem::is_regular_file(out),
             "netlist {}: {} failed (exit code {}) running \"{}\"; its output:\n{}", netlist.name,
             abc, result.exit_code, script, result.output);
  try {
    parse_print_stats(result.output, mapped.cost);
    mapped.netlist = parse_blif(read_text_file(out, "mapped netlist"), "abc's mapped netlist",
                                BlifOptions{"", &mapped.library});
  } catch (const Error& e) {
    throw Error(
        fmt::format("netlist {}: {} ran \"{}\" but: {}", netlist.name, abc, script, e.what()));
  }
  mapped.netlist.name = netlist.name;
  mapped.cost.library = library_path.string();
  mapped.cost.flow = abc + " -c \"" + script + "\"";
  return mapped;
}

// --- Operand distributions ---------------------------------------------------------------------

OperandDistribution parse_operand_distribution(std::string_view json_text,
                                               std::string_view source) {
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(json_text);
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("{}: not valid JSON: {}", source, e.what()));
  }
  AXNN_CHECK(json.is_object(), "{}: expected an object {{\"a\": [...], \"b\": [...]}}", source);
  for (const auto& [key, value] : json.items())
    AXNN_CHECK(key == "a" || key == "b",
               "{}: unknown key \"{}\" (an operand distribution has \"a\" and \"b\")", source, key);
  const auto weights = [&](const char* key) {
    AXNN_CHECK(json.contains(key), "{}: no \"{}\": the weights of the codes of operand {}", source,
               key, key);
    const nlohmann::json& array = json[key];
    AXNN_CHECK(array.is_array(), "{}: \"{}\" is not an array of weights", source, key);
    const size_t n = array.size();
    AXNN_CHECK(n >= 4 && n <= 256 && std::has_single_bit(n),
               "{}: \"{}\" has {} weights; expected 2^b, one per code of a b-bit operand (b = "
               "2..8: 4 to 256)",
               source, key, n);
    std::vector<double> out;
    double total = 0;
    for (size_t i = 0; i < n; ++i) {
      AXNN_CHECK(array[i].is_number(), "{}: \"{}\"[{}] is not a number: {}", source, key, i,
                 array[i].dump());
      const double w = array[i].get<double>();
      AXNN_CHECK(std::isfinite(w) && w >= 0, "{}: \"{}\"[{}] = {} is not a non-negative weight",
                 source, key, i, w);
      out.push_back(w);
      total += w;
    }
    AXNN_CHECK(total > 0, "{}: all weights of \"{}\" are zero", source, key);
    return out;
  };
  OperandDistribution d{weights("a"), weights("b")};
  AXNN_CHECK(d.a.size() == d.b.size(),
             "{}: \"a\" has {} weights and \"b\" {}; both operands have the same width", source,
             d.a.size(), d.b.size());
  return d;
}

OperandDistribution read_operand_distribution(const std::filesystem::path& path) {
  return parse_operand_distribution(read_text_file(path, "operand distribution"), path.string());
}

// --- Switching power -------------------------------------------------------------------------

void ToggleCounter::add(const Simulator& simulator, size_t patterns) {
  AXNN_CHECK(patterns <= simulator.words() * 64,
             "ToggleCounter: {} patterns asked of a run of {} words", patterns, simulator.words());
  AXNN_CHECK(simulator.netlist().net_count() == toggles_.size(),
             "ToggleCounter: counting {} nets of a netlist with {}", toggles_.size(),
             simulator.netlist().net_count());
  if (patterns == 0) return;
  const size_t full = patterns / 64, rest = patterns % 64;
  for (size_t net = 0; net < toggles_.size(); ++net) {
    const std::span<const uint64_t> v = simulator.values(static_cast<NetId>(net));
    // Bit t of (v ^ v shifted up by one) is pattern t against pattern t-1; the bit shifted in at
    // the bottom of a word is the previous word's top bit, or the last pattern added before.
    uint64_t carry = last_[net];
    int64_t count = 0;
    for (size_t w = 0; w < full; ++w) {
      count += std::popcount(v[w] ^ ((v[w] << 1) | carry));
      carry = v[w] >> 63;
    }
    if (rest) {
      const uint64_t mask = (uint64_t{1} << rest) - 1;
      count += std::popcount((v[full] ^ ((v[full] << 1) | carry)) & mask);
      carry = (v[full] >> (rest - 1)) & 1;
    }
    // The first pattern ever has nothing before it: whatever it is, it is no toggle.
    if (patterns_ == 0) count -= static_cast<int64_t>((v[0] & 1) != 0);
    toggles_[net] += count;
    last_[net] = static_cast<uint8_t>(carry);
  }
  patterns_ += static_cast<int64_t>(patterns);
}

namespace {

// Draws codes of one operand: uniform (no weights) or by the weights' cumulative distribution.
class CodeSampler {
 public:
  CodeSampler(const std::vector<double>* weights, int bits) : bits_(bits) {
    if (!weights) return;
    double total = 0;
    for (const double w : *weights) cumulative_.push_back(total += w);
    for (double& c : cumulative_) c /= total;
    // From the last code of non-zero weight on, exactly 1: a draw u < 1 never lands past it.
    const auto last =
        std::find_if(weights->rbegin(), weights->rend(), [](double w) { return w > 0; });
    std::fill(cumulative_.begin() + (weights->rend() - last) - 1, cumulative_.end(), 1.0);
  }
  // Plain arithmetic on the generator's output, so the sequence is the same everywhere (the
  // standard distributions may differ between library implementations).
  uint32_t operator()(std::mt19937_64& rng) const {
    const uint64_t r = rng();
    if (cumulative_.empty()) return static_cast<uint32_t>(r >> (64 - bits_));
    const double u = static_cast<double>(r >> 11) * 0x1.0p-53;
    // The first code whose cumulative weight exceeds u: never one of zero weight, whose
    // cumulative equals its predecessor's.
    return static_cast<uint32_t>(std::upper_bound(cumulative_.begin(), cumulative_.end(), u) -
                                 cumulative_.begin());
  }

 private:
  int bits_;
  std::vector<double> cumulative_;
};

}  // namespace

void switching_power(const Netlist& mapped, const GateLibrary& library, const PowerOptions& options,
                     CircuitCost& cost) {
  const ResolvedPorts ports = resolve_ports(mapped, options.ports);
  const size_t bits = ports.a.size();
  AXNN_CHECK(bits == ports.b.size() && bits >= 1 && bits <= 16,
             "netlist {}: operands of {} and {} bits ({}); power estimation needs equal widths of "
             "at most 16 bits",
             mapped.name, ports.a.size(), ports.b.size(), ports.how);
  if (options.operands) {
    AXNN_CHECK(options.operands->a.size() == (size_t{1} << bits) &&
                   options.operands->b.size() == (size_t{1} << bits),
               "netlist {}: the operand distribution has {} and {} weights, the circuit's {}-bit "
               "operands have {} codes",
               mapped.name, options.operands->a.size(), options.operands->b.size(), bits,
               size_t{1} << bits);
  }
  AXNN_CHECK(options.operations >= 2, "power estimation: {} operations; at least 2 are needed",
             options.operations);

  // Capacitance of every net: the pins it drives, its own output and wire, the outputs it is.
  std::vector<double> load(mapped.net_count(), 0.0);
  std::vector<bool> used(mapped.net_count(), false);
  for (const Node& node : mapped.nodes) {
    used[static_cast<size_t>(node.output)] = true;
    const LibraryGate* gate = node.gate.empty() ? nullptr : library.find(node.gate);
    AXNN_CHECK(node.gate.empty() || gate, "netlist {}: gate {} is not in the library {}",
               mapped.name, node.gate, library.source);
    AXNN_CHECK(!gate || gate->pins.size() == node.inputs.size(),
               "netlist {}: a {} node has {} inputs, the library's gate {}", mapped.name, node.gate,
               node.inputs.size(), gate ? gate->pins.size() : 0);
    for (size_t i = 0; i < node.inputs.size(); ++i) {
      const auto net = static_cast<size_t>(node.inputs[i]);
      load[net] += gate ? gate->pins[i].input_load : options.net_load;
      used[net] = true;
    }
  }
  for (const NetId out : mapped.outputs) {
    load[static_cast<size_t>(out)] += options.output_load;
    used[static_cast<size_t>(out)] = true;
  }
  for (size_t net = 0; net < load.size(); ++net)
    if (used[net]) load[net] += options.net_load;

  std::vector<size_t> row(mapped.net_count(), SIZE_MAX);  // input row of each primary input net
  for (size_t i = 0; i < mapped.inputs.size(); ++i) row[static_cast<size_t>(mapped.inputs[i])] = i;

  const CodeSampler sample_a(options.operands ? &options.operands->a : nullptr,
                             static_cast<int>(bits));
  const CodeSampler sample_b(options.operands ? &options.operands->b : nullptr,
                             static_cast<int>(bits));
  std::mt19937_64 rng(options.seed);
  Simulator simulator(mapped);
  ToggleCounter counter(mapped.net_count());
  constexpr size_t kChunkWords = 1024;  // 65536 operations per run
  std::vector<uint64_t> inputs;
  for (int64_t done = 0; done < options.operations;) {
    const auto n = static_cast<size_t>(
        std::min<int64_t>(options.operations - done, static_cast<int64_t>(kChunkWords * 64)));
    const size_t words = (n + 63) / 64;
    inputs.assign(mapped.inputs.size() * words, 0);
    for (size_t t = 0; t < n; ++t) {
      const uint32_t a = sample_a(rng), b = sample_b(rng);
      const uint64_t bit = uint64_t{1} << (t % 64);
      for (size_t i = 0; i < bits; ++i) {
        if ((a >> i) & 1) inputs[row[static_cast<size_t>(ports.a[i])] * words + t / 64] |= bit;
        if ((b >> i) & 1) inputs[row[static_cast<size_t>(ports.b[i])] * words + t / 64] |= bit;
      }
    }
    simulator.run(inputs, words);
    counter.add(simulator, n);
    done += static_cast<int64_t>(n);
  }

  double switched = 0;
  int64_t toggles = 0, nets = 0;
  for (size_t net = 0; net < load.size(); ++net) {
    switched += static_cast<double>(counter.toggles()[net]) * load[net];
    if (used[net]) toggles += counter.toggles()[net], ++nets;
  }
  const auto transitions = static_cast<double>(options.operations - 1);
  cost.power = switched / transitions;
  cost.toggle_rate =
      nets ? static_cast<double>(toggles) / transitions / static_cast<double>(nets) : 0.0;
  cost.operands =
      fmt::format("{}, {} operations, seed {}", options.operands ? "distribution" : "uniform",
                  options.operations, options.seed);
}

CircuitCost estimate_cost(const Netlist& netlist, const CostOptions& options) {
  MappedCircuit mapped = map_with_abc(netlist, options.abc);
  switching_power(mapped.netlist, mapped.library, options.power, mapped.cost);
  return mapped.cost;
}

RelativeCost relative_to(const CircuitCost& cost, const CircuitCost& exact) {
  const auto ratio = [](double value, double reference, const char* what) {
    AXNN_CHECK(reference > 0,
               "relative cost: the exact multiplier's {} is {}; it must be positive to divide by",
               what, reference);
    return value / reference;
  };
  return {ratio(cost.area, exact.area, "area"), ratio(cost.delay, exact.delay, "delay"),
          ratio(cost.power, exact.power, "power")};
}

nlohmann::ordered_json cost_to_json(const CircuitCost& cost,
                                    const std::optional<RelativeCost>& relative) {
  nlohmann::ordered_json j;
  j["area"] = cost.area;
  j["delay"] = cost.delay;
  j["levels"] = cost.levels;
  j["gates"] = cost.gates;
  j["power"] = cost.power;
  j["toggle_rate"] = cost.toggle_rate;
  j["library"] = cost.library;
  j["flow"] = cost.flow;
  j["operands"] = cost.operands;
  if (relative) {
    j["relative"] = {
        {"area", relative->area}, {"delay", relative->delay}, {"power", relative->power}};
  }
  return j;
}

}  // namespace axnn::netlist
