// Gate-level b x b multiplier circuits (b = 2..8, signed or unsigned) built as netlists: the
// partial-product cells of mult/generators.h, reduced by a carry-save array or a Wallace or Dadda
// tree of half and full adders, then a ripple-carry final adder.
//
// Ports: inputs A[0..b-1] (the activation, LSB first) then B[0..b-1] (the weight), outputs
// O[0..2b-1], read as a 2b-bit two's complement number for signed circuits, unsigned otherwise.
//
// Cells. Row i, column i + j holds a_j & w_i (mult/generators.h). A cell mask (all, truncation,
// broken array, column flags) says which are kept, derived exactly as make_exact, make_truncated,
// make_bam and make_columns derive theirs. A signed cell of negative weight -2^c is built as the
// NAND ~(a_j & w_i) = 1 - a_j w_i of weight +2^c, and the constant correction C = sum of -2^c over
// the kept negative cells, mod 2^(2b), enters as constant-1 bits in the columns of C's set bits
// (modified Baugh-Wooley). The adders sum every bit modulo 2^(2b), and the functional model puts
// the sum of the kept terms inside the 2b-bit range, so the simulated table of a circuit without
// forced adders equals its functional twin bit for bit.
//
// Adders. The generator first plans the adder structure from the cell mask alone, then emits it.
// Every planned adder has a stable id, its creation index in the plan:
//   array:          rows 1..b-1 in order, each row's adders by ascending column, then the final
//                   adder. Row 0 and the correction constants start the carry-save state (at most
//                   two bits per column); row r's cell at column c is added to the state bits of
//                   c by a full adder (3 bits) or a half adder (2 bits); a column of two state
//                   bits and no cell gets a half adder only where a carry arrives from column c-1.
//   wallace:        stage by stage, Wallace's grouping: the rows (partial-product rows, each
//                   correction one in the first row with room in its column) in threes from the
//                   top, each group reduced column by column (3 bits a full adder, 2 a half
//                   adder) to a sum row and a carry row, rows left over passed, until at most two
//                   rows remain; rows without bits are dropped.
//   dadda:          stage by stage towards the heights 2, 3, 4, 6, 9 (d_{j+1} = floor(1.5 d_j)),
//                   each column reduced by as few adders as its target allows, ascending.
//   final adder:    then a ripple-carry adder from column 0 up: a column with 3 bits (two and the
//                   incoming carry) gets a full adder, 2 bits a half adder, fewer none.
// and a name "<fa|ha>_c<column>_<k>", k counting the adders of that column in creation order
// (so "fa_c5_0" is the first adder of column 5). The carry of column 2b-1 leaves the 2b-bit result
// and is dropped. The plan does not depend on the forced outputs, so ids are stable under forcing.
//
// Gates. Every node is a 2-input (or 1-input) cover: AND2/NAND2 cells; a full adder is
// t = a ^ b, sum = t ^ c, carry = (a & b) | (t & c) (XOR2, XOR2, AND2, AND2, OR2), a half adder
// sum = a ^ b, carry = a & b. Constants are folded while emitting (an adder input that is a
// constant-1 correction bit or a forced 0): a full adder with a constant 1 is XNOR2 and OR2, a half
// adder with a constant 1 is NOT and a wire, with a constant 0 a wire; logic that reaches no
// output is removed; an output that is constant is driven by a constant node. No net is undriven.
//
// Forcing (TRAM phase 2). A forced output of an adder is replaced by a constant, 0 (TRAM's choice)
// or 1: what read it reads the constant and is folded, and the adder's gates for it go away.
// Tables of forced circuits come from simulation only; the adders after a forced output still add
// exactly, so the product changes by (constant - the value the output had) times its column
// weight (2^column for the sum, 2^(column+1) for the carry), modulo 2^(2b).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "mult/multiplier.h"
#include "netlist/netlist.h"

namespace axnn::netlist {

enum class Architecture { kArray, kWallace, kDadda };

// "array", "wallace", "dadda".
std::string_view architecture_name(Architecture architecture);
// The inverse; throws axnn::Error naming the value and the known names.
Architecture parse_architecture(std::string_view name);

// Which partial-product cells are kept (mult/generators.h).
enum class CellSelection {
  kAll,          // the exact product
  kTruncated,    // the `truncate` least significant columns removed (make_truncated)
  kBrokenArray,  // the `hbl` lowest rows and `vbl` lowest columns removed (make_bam)
  kColumns,      // column c kept iff keep_columns[c] (make_columns)
};

// One adder's outputs forced to a constant.
struct ForcedAdder {
  int32_t id = 0;  // the adder's id (see the header comment)
  bool sum = false;
  bool carry = false;
  int value = 0;  // the constant (0 or 1) the forced outputs take
};

struct MultiplierCircuit {
  int bits = 8;  // 2..8
  bool is_signed = true;
  Architecture architecture = Architecture::kDadda;
  CellSelection cells = CellSelection::kAll;
  int truncate = 0;                // kTruncated: 0..2b-1
  int hbl = 0;                     // kBrokenArray: 0..b
  int vbl = 0;                     // kBrokenArray: 0..2b-1
  std::vector<bool> keep_columns;  // kColumns: 2b-1 flags, column 0 first
  std::vector<ForcedAdder> forced;
};

// The canonical name: <architecture><bits><s|u>, then "_k<k>" (truncated), "_h<hbl>_v<vbl>"
// (broken array) or "_cols<flags>" (one 0/1 per column, column 0 first), then "_f<id><s|c|sc>"
// for the outputs of an adder forced to 0 and "_f<id><s|c|sc>1" for those forced to 1, by
// ascending id, 0 before 1. E.g. "dadda8s", "array8u_k4", "wallace8s_h1_v6",
// "dadda8s_cols000010111111111", "array4u_f3s_f7sc", "wallace8u_f3s_f3c1_f9sc1". Throws what
// validate throws.
std::string circuit_name(const MultiplierCircuit& circuit);
// The inverse of circuit_name; throws axnn::Error naming the text and the part at fault.
MultiplierCircuit parse_circuit_name(std::string_view name);

// Throws axnn::Error naming the field at fault: bits, truncate, hbl, vbl, keep_columns (length),
// cells, forced entries that force nothing or to a value other than 0 and 1, and an output forced
// to both 0 and 1 (naming the adder id). Adder ids are checked where the adders are known (by
// generate_circuit).
void validate(const MultiplierCircuit& circuit);

// The kept cells: mask[row][column], row = weight bit i in 0..b-1, column in 0..2b-2 (cells outside
// the row's span i..i+b-1 are false).
std::vector<std::vector<bool>> cell_mask(const MultiplierCircuit& circuit);

// Where an adder output ended up in the generated netlist.
struct AdderSignal {
  std::string net;    // the net carrying it (it may be shared: a folded output is a wire), or empty
  int constant = -1;  // 0 or 1 when it is a constant (forced, or folded), else -1
};

struct AdderInfo {
  int32_t id = 0;
  std::string name;        // e.g. "fa_c5_0"
  bool full = false;       // a full adder (3 inputs) or a half adder (2)
  int column = 0;          // the sum's column; the carry goes to column + 1
  int stage = 0;           // reduction stage (array: row - 1), the final adder the last stage
  AdderSignal sum, carry;  // net empty and constant -1: nothing reads it (a dropped top carry)
};

struct GeneratedCircuit {
  Netlist netlist;                // named circuit_name(circuit)
  std::vector<AdderInfo> adders;  // by id
};

// The circuit and its adders. Throws axnn::Error on an invalid spec, or a forced id that does not
// exist (naming it and the number of adders).
GeneratedCircuit generate_circuit(const MultiplierCircuit& circuit);
// generate_circuit(circuit).netlist.
Netlist generate_multiplier(const MultiplierCircuit& circuit);
// The adders a circuit has (forcing ignored).
std::vector<AdderInfo> circuit_adders(const MultiplierCircuit& circuit);

// The exhaustive table of the generated circuit by simulation, named circuit_name(circuit), with
// meta.source describing the call.
Multiplier simulate_circuit(const MultiplierCircuit& circuit);

}  // namespace axnn::netlist
