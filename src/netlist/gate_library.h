// A standard-cell library in SIS genlib format (what berkeley-abc maps to): each gate's name,
// area, function (as a cover over its input pins) and pins with their input load and delays.
// axnn ships one (share/axnn/axnn.genlib); the BLIF reader uses a library to read the `.gate`
// lines of a mapped netlist, the cost estimator its areas and pin loads.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace axnn::netlist {

struct GatePin {
  std::string name;
  double input_load = 0;    // capacitance the pin presents to its driver, in library units
  double max_load = 0;      // the most load the gate may drive (genlib's field, not checked)
  double delay = 0;         // block delay (the larger of rise and fall), in library units
  double fanout_delay = 0;  // delay per unit of load driven (the larger of rise and fall)
};

struct LibraryGate {
  std::string name;
  double area = 0;
  std::string output;              // the output pin
  std::vector<GatePin> pins;       // input pins, in the order the cubes use
  std::vector<std::string> cubes;  // the function as an ON-set cover over pins (see Node)
  std::string expression;          // the function as the library writes it
};

struct GateLibrary {
  std::string source;  // the file it came from
  std::vector<LibraryGate> gates;
  const LibraryGate* find(std::string_view name) const;
};

// Reads a genlib file (the SIS format berkeley-abc reads):
//   GATE <name> <area> <output>=<expression>;
//   PIN <pin|*> <INV|NONINV|UNKNOWN> <input_load> <max_load> <rise_block_delay>
//       <rise_fanout_delay> <fall_block_delay> <fall_fanout_delay>
// Expressions as abc reads them: '!' before or '\'' after an operand negates, '*', '&' or
// juxtaposition is AND, '^' XOR, '+' or '|' OR (binding in that order), parentheses group,
// CONST0 and CONST1 are the constant gates. "PIN *" gives every input the same figures, the
// inputs in order of first appearance in the expression; named PIN lines keep their order and
// must name every input. '#' starts a comment. LATCH cells are rejected.
// Throws axnn::Error naming the file and line of anything malformed.
GateLibrary read_genlib(const std::filesystem::path& path);
GateLibrary parse_genlib(std::string_view text, std::string_view source);

}  // namespace axnn::netlist
