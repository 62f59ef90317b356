#include "netlist/import.h"

#include <regex>

#include "core/error.h"
#include "netlist/generate.h"
#include "netlist/yosys.h"

namespace axnn::netlist {

std::optional<bool> signedness_from_name(const std::string& name) {
  static const std::regex evoapprox(R"(mul\d+([su])_.*)");
  std::smatch match;
  if (std::regex_match(name, match, evoapprox)) return match[1] == "s";
  try {
    return parse_circuit_name(name).is_signed;
  } catch (const Error&) {
    return std::nullopt;
  }
}

bool resolve_signedness(const std::optional<bool>& given, const Netlist& netlist,
                        const std::string& source) {
  const std::optional<bool> is_signed = given ? given : signedness_from_name(netlist.name);
  AXNN_CHECK(is_signed,
             "{}: is {} signed or unsigned? Its name does not say (mul8s_*, mul8u_*, dadda8s, "
             "...); give --signed or --unsigned",
             source, netlist.name);
  return *is_signed;
}

ImportedCircuit import_multiplier(const std::filesystem::path& path, const ImportOptions& options) {
  Netlist netlist = read_circuit(path, options.top);
  const bool is_signed = resolve_signedness(options.is_signed, netlist, path.string());
  Multiplier m = simulate_multiplier(netlist, options.ports, is_signed,
                                     options.name.empty() ? netlist.name : options.name);
  m.meta().source = fmt::format("imported from {}: {}", path.filename().string(), m.meta().source);
  m.meta().description = fmt::format("{}-bit {} multiplier circuit, {} gates", m.bits(),
                                     signedness_name(m.is_signed()), netlist.nodes.size());
  return {std::move(netlist), std::move(m)};
}

}  // namespace axnn::netlist
