#include "netlist/generate.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <map>
#include <optional>

#include "core/error.h"
#include "netlist/simulate.h"

namespace axnn::netlist {
namespace {

constexpr std::array<std::pair<Architecture, std::string_view>, 3> kArchitectures = {{
    {Architecture::kArray, "array"},
    {Architecture::kWallace, "wallace"},
    {Architecture::kDadda, "dadda"},
}};

std::string known_architectures() {
  std::string out;
  for (const auto& [arch, name] : kArchitectures)
    out += fmt::format("{}{}", out.empty() ? "" : ", ", name);
  return out;
}

// ---------------------------------------------------------------------------------------------
// The plan: bits of the dot diagram and the adders that reduce them, from the cell mask alone.

struct PlanBit {
  enum Kind : uint8_t { kCell, kOne, kSum, kCarry } kind;
  int a = 0;  // kCell: row (weight bit i); kSum, kCarry: adder id
  int b = 0;  // kCell: activation bit j
};

struct PlanAdder {
  std::vector<int> in;  // plan bits
  int sum = -1, carry = -1;
  int column = 0, stage = 0;
  std::string name;
};

using Columns = std::vector<std::vector<int>>;  // plan bits per column, 2b columns

class Plan {
 public:
  explicit Plan(int columns) : per_column_(static_cast<size_t>(columns), 0) {}

  int add_bit(PlanBit bit) {
    bits_.push_back(bit);
    return static_cast<int>(bits_.size()) - 1;
  }

  // Returns the adder's id; its sum and carry are new bits.
  const PlanAdder& add_adder(std::vector<int> in, int column, int stage) {
    const int id = static_cast<int>(adders_.size());
    PlanAdder adder;
    adder.name = fmt::format("{}_c{}_{}", in.size() == 3 ? "fa" : "ha", column,
                             per_column_[static_cast<size_t>(column)]++);
    adder.in = std::move(in);
    adder.column = column;
    adder.stage = stage;
    adder.sum = add_bit({PlanBit::kSum, id, 0});
    adder.carry = add_bit({PlanBit::kCarry, id, 0});
    adders_.push_back(std::move(adder));
    return adders_.back();
  }

  const std::vector<PlanBit>& bits() const { return bits_; }
  const std::vector<PlanAdder>& adders() const { return adders_; }
  std::vector<int> result;  // per output column: the bit left there, or -1 (constant 0)

 private:
  std::vector<PlanBit> bits_;
  std::vector<PlanAdder> adders_;
  std::vector<int> per_column_;
};

// A column's bits through one adder: the sum stays in `column`, the carry goes to column + 1
// (dropped past the top column).
void reduce(Plan& plan, std::vector<int> in, int column, int stage, std::vector<int>& sums,
            std::vector<int>* next_column) {
  const PlanAdder& adder = plan.add_adder(std::move(in), column, stage);
  sums.push_back(adder.sum);
  if (next_column) next_column->push_back(adder.carry);
}

std::vector<int> take(const std::vector<int>& bits, size_t from, size_t n) {
  return {bits.begin() + static_cast<std::ptrdiff_t>(from),
          bits.begin() + static_cast<std::ptrdiff_t>(from + n)};
}

int max_height(const Columns& cols) {
  size_t h = 0;
  for (const auto& c : cols) h = std::max(h, c.size());
  return static_cast<int>(h);
}

// Wallace's grouping: the rows in threes, each group's columns reduced to a sum row (full adders
// on three bits, half adders on two) and a carry row; one or two rows left over pass.
using Rows = std::vector<std::vector<int>>;  // plan bit per row and column, -1 for none

void wallace_stage(Plan& plan, Rows& rows, int stage) {
  const size_t n = rows[0].size();
  Rows next;
  size_t r = 0;
  for (; r + 3 <= rows.size(); r += 3) {
    std::vector<int> sums(n, -1), carries(n, -1);
    for (size_t c = 0; c < n; ++c) {
      std::vector<int> in;
      for (size_t k = r; k < r + 3; ++k)
        if (rows[k][c] >= 0) in.push_back(rows[k][c]);
      if (in.size() < 2) {
        if (!in.empty()) sums[c] = in[0];
        continue;
      }
      const PlanAdder& adder = plan.add_adder(std::move(in), static_cast<int>(c), stage);
      sums[c] = adder.sum;
      if (c + 1 < n) carries[c + 1] = adder.carry;
    }
    next.push_back(std::move(sums));
    next.push_back(std::move(carries));
  }
  for (; r < rows.size(); ++r) next.push_back(std::move(rows[r]));
  rows = std::move(next);
}

void dadda_stage(Plan& plan, Columns& cols, int target, int stage) {
  const int n = static_cast<int>(cols.size());
  Columns next(cols.size());
  for (int c = 0; c < n; ++c) {
    const std::vector<int>& bits = cols[static_cast<size_t>(c)];
    std::vector<int>& dst = next[static_cast<size_t>(c)];
    std::vector<int>* carry_to = c + 1 < n ? &next[static_cast<size_t>(c) + 1] : nullptr;
    // The carries this stage sends into c (already in dst) count towards its height.
    int height = static_cast<int>(bits.size() + dst.size());
    std::vector<int> sums;
    size_t i = 0;
    while (height > target) {
      const size_t left = bits.size() - i;
      if (height - target >= 2 && left >= 3) {
        reduce(plan, take(bits, i, 3), c, stage, sums, carry_to);
        i += 3;
        height -= 2;
      } else {
        AXNN_CHECK(left >= 2, "dadda: column {} cannot reach height {} (internal error)", c,
                   target);
        reduce(plan, take(bits, i, 2), c, stage, sums, carry_to);
        i += 2;
        height -= 1;
      }
    }
    sums.insert(sums.end(), bits.begin() + static_cast<std::ptrdiff_t>(i), bits.end());
    dst.insert(dst.begin(), sums.begin(), sums.end());
  }
  cols = std::move(next);
}

// The ripple-carry final adder over columns of at most two bits.
void final_adder(Plan& plan, const Columns& cols, int stage) {
  const int n = static_cast<int>(cols.size());
  plan.result.assign(cols.size(), -1);
  int carry = -1;
  for (int c = 0; c < n; ++c) {
    std::vector<int> in = cols[static_cast<size_t>(c)];
    AXNN_CHECK(in.size() <= 2, "final adder: column {} holds {} bits (internal error)", c,
               in.size());
    if (carry >= 0) in.push_back(carry);
    carry = -1;
    if (in.size() >= 2) {
      const PlanAdder& adder = plan.add_adder(std::move(in), c, stage);
      plan.result[static_cast<size_t>(c)] = adder.sum;
      if (c + 1 < n) carry = adder.carry;
    } else if (in.size() == 1) {
      plan.result[static_cast<size_t>(c)] = in[0];
    }
  }
}

// The carry-save array: row 0 and the constants are the state; each further row is added into
// it, at most two bits per column kept (see the header comment).
int array_rows(Plan& plan, Columns& state, const Columns& rows_cells, int bits) {
  const int n = static_cast<int>(state.size());
  for (int r = 1; r < bits; ++r) {
    const int stage = r - 1;
    Columns next(state.size());
    int carry_in = -1;
    for (int c = 0; c < n; ++c) {
      std::vector<int> in = state[static_cast<size_t>(c)];
      const int cell = rows_cells[static_cast<size_t>(r)][static_cast<size_t>(c)];
      if (cell >= 0) in.push_back(cell);
      std::vector<int>& dst = next[static_cast<size_t>(c)];
      int carry_out = -1;
      if (in.size() == 3 || (in.size() == 2 && (cell >= 0 || carry_in >= 0))) {
        const PlanAdder& adder = plan.add_adder(std::move(in), c, stage);
        dst.push_back(adder.sum);
        carry_out = adder.carry;
      } else {
        dst = in;
      }
      if (carry_in >= 0) dst.push_back(carry_in);
      carry_in = c + 1 < n ? carry_out : -1;
    }
    state = std::move(next);
  }
  return bits - 1;
}

Plan make_plan(const MultiplierCircuit& circuit, const std::vector<std::vector<bool>>& mask) {
  const int b = circuit.bits;
  const int columns = 2 * b;
  Plan plan(columns);
  // rows_cells[i][c]: the plan bit of cell (i, c - i), or -1.
  Columns rows_cells(static_cast<size_t>(b), std::vector<int>(static_cast<size_t>(columns), -1));
  uint64_t negative = 0;  // sum of 2^c over the kept negative cells
  for (int i = 0; i < b; ++i) {
    for (int j = 0; j < b; ++j) {
      if (!mask[static_cast<size_t>(i)][static_cast<size_t>(i + j)]) continue;
      rows_cells[static_cast<size_t>(i)][static_cast<size_t>(i + j)] =
          plan.add_bit({PlanBit::kCell, i, j});
      if (circuit.is_signed && ((i == b - 1) != (j == b - 1))) negative += uint64_t{1} << (i + j);
    }
  }
  const uint64_t modulus = uint64_t{1} << columns;
  const uint64_t correction = (modulus - negative % modulus) % modulus;
  std::vector<int> ones(static_cast<size_t>(columns), -1);
  for (int c = 0; c < columns; ++c)
    if ((correction >> c) & 1) ones[static_cast<size_t>(c)] = plan.add_bit({PlanBit::kOne, 0, 0});

  Columns cols(static_cast<size_t>(columns));
  int stages = 0;
  if (circuit.architecture == Architecture::kArray) {
    for (int c = 0; c < columns; ++c) {
      if (const int cell = rows_cells[0][static_cast<size_t>(c)]; cell >= 0)
        cols[static_cast<size_t>(c)].push_back(cell);
      if (const int one = ones[static_cast<size_t>(c)]; one >= 0)
        cols[static_cast<size_t>(c)].push_back(one);
    }
    stages = array_rows(plan, cols, rows_cells, b);
  } else {
    // Each constant one goes into the first row with a free place in its column.
    Rows rows = rows_cells;
    for (int c = 0; c < columns; ++c) {
      const int one = ones[static_cast<size_t>(c)];
      if (one < 0) continue;
      size_t r = 0;
      while (r < rows.size() && rows[r][static_cast<size_t>(c)] >= 0) ++r;
      if (r == rows.size()) rows.emplace_back(static_cast<size_t>(columns), -1);
      rows[r][static_cast<size_t>(c)] = one;
    }
    if (circuit.architecture == Architecture::kWallace) {
      for (;;) {
        // Rows without bits (omitted rows, carry rows of nothing) take no place in a group.
        std::erase_if(rows, [](const auto& row) {
          return std::all_of(row.begin(), row.end(), [](int bit) { return bit < 0; });
        });
        if (rows.size() <= 2) break;
        wallace_stage(plan, rows, stages++);
      }
    }
    for (const auto& row : rows)  // rows in order: the oldest bits first in every column
      for (int c = 0; c < columns; ++c)
        if (row[static_cast<size_t>(c)] >= 0)
          cols[static_cast<size_t>(c)].push_back(row[static_cast<size_t>(c)]);
    if (circuit.architecture == Architecture::kDadda) {
      std::vector<int> targets = {2};
      while (targets.back() < max_height(cols)) targets.push_back(targets.back() * 3 / 2);
      targets.pop_back();  // the first one not below the height
      for (auto it = targets.rbegin(); it != targets.rend(); ++it)
        dadda_stage(plan, cols, *it, stages++);
    }
  }
  final_adder(plan, cols, stages);
  return plan;
}

// ---------------------------------------------------------------------------------------------
// Emission: gates over signals with constants folded, then the live ones become the netlist.

enum class Op : uint8_t { kAnd, kNand, kOr, kXor, kXnor, kNot, kBuf, kConst0, kConst1 };

struct Gate {
  Op op;
  int in0 = -1, in1 = -1;  // signals
  std::string name;
};

// A signal: kZero, kOne or a net (>= 0): the primary inputs A[0..b-1], B[0..b-1], then gate g
// is net 2b + g.
constexpr int kZero = -1;
constexpr int kOne = -2;

class Emitter {
 public:
  explicit Emitter(int bits) : inputs_(2 * bits) {}

  int gate(Op op, int in0, int in1, std::string name) {
    gates_.push_back({op, in0, in1, std::move(name)});
    return inputs_ + static_cast<int>(gates_.size()) - 1;
  }
  int invert(int x, std::string name) {
    if (x == kZero) return kOne;
    if (x == kOne) return kZero;
    if (const Gate* g = gate_of(x); g && g->op == Op::kNot) return g->in0;
    return gate(Op::kNot, x, -1, std::move(name));
  }

  // The sum and carry of in (2 or 3 signals), constants folded.
  std::pair<int, int> adder(const std::vector<int>& in, const std::string& name) {
    int ones = 0;
    std::vector<int> vars;
    for (const int s : in) {
      if (s == kOne) ++ones;
      if (s >= 0) vars.push_back(s);
    }
    const auto constant = [](int v) { return v ? kOne : kZero; };
    switch (vars.size()) {
      case 0:
        return {constant(ones & 1), constant(ones >> 1)};
      case 1:  // x + ones
        if (ones == 1) return {invert(vars[0], name + "_s"), vars[0]};
        return {vars[0], constant(ones == 2)};
      case 2:
        if (ones == 1)  // x + y + 1
          return {gate(Op::kXnor, vars[0], vars[1], name + "_s"),
                  gate(Op::kOr, vars[0], vars[1], name + "_c")};
        return {gate(Op::kXor, vars[0], vars[1], name + "_s"),
                gate(Op::kAnd, vars[0], vars[1], name + "_c")};
      default: {
        const int t = gate(Op::kXor, vars[0], vars[1], name + "_t");
        const int sum = gate(Op::kXor, t, vars[2], name + "_s");
        const int g = gate(Op::kAnd, vars[0], vars[1], name + "_g");
        const int p = gate(Op::kAnd, t, vars[2], name + "_p");
        return {sum, gate(Op::kOr, g, p, name + "_c")};
      }
    }
  }

  const Gate* gate_of(int signal) const {
    return signal >= inputs_ ? &gates_[static_cast<size_t>(signal - inputs_)] : nullptr;
  }
  Gate* gate_of(int signal) {
    return signal >= inputs_ ? &gates_[static_cast<size_t>(signal - inputs_)] : nullptr;
  }
  int inputs() const { return inputs_; }
  std::vector<Gate>& gates() { return gates_; }

 private:
  int inputs_;
  std::vector<Gate> gates_;
};

void add_cover(Netlist& netlist, Op op, std::vector<NetId> in, NetId out) {
  switch (op) {
    case Op::kAnd:
      netlist.add_node(std::move(in), {"11"}, true, out);
      return;
    case Op::kNand:
      netlist.add_node(std::move(in), {"11"}, false, out);
      return;
    case Op::kOr:
      netlist.add_node(std::move(in), {"1-", "-1"}, true, out);
      return;
    case Op::kXor:
      netlist.add_node(std::move(in), {"10", "01"}, true, out);
      return;
    case Op::kXnor:
      netlist.add_node(std::move(in), {"11", "00"}, true, out);
      return;
    case Op::kNot:
      netlist.add_node(std::move(in), {"0"}, true, out);
      return;
    case Op::kBuf:
      netlist.add_node(std::move(in), {"1"}, true, out);
      return;
    case Op::kConst0:
      netlist.add_node({}, {}, true, out);
      return;
    case Op::kConst1:
      netlist.add_node({}, {""}, true, out);
      return;
  }
}

std::string bool_list(const std::vector<bool>& flags) {
  std::string out;
  for (const bool f : flags) out += f ? '1' : '0';
  return out;
}

// Per forced adder id: the constants its sum and carry take, -1 where not forced. Throws naming
// the id when an output is forced to both 0 and 1.
std::map<int32_t, std::pair<int, int>> forced_values(const std::vector<ForcedAdder>& forced) {
  std::map<int32_t, std::pair<int, int>> values;
  for (const ForcedAdder& f : forced) {
    const auto it = values.try_emplace(f.id, -1, -1).first;
    const auto set = [&](int& value, std::string_view output) {
      AXNN_CHECK(value < 0 || value == f.value,
                 "multiplier circuit: forced adder {} forces its {} to both 0 and 1", f.id, output);
      value = f.value;
    };
    if (f.sum) set(it->second.first, "sum");
    if (f.carry) set(it->second.second, "carry");
  }
  return values;
}

// A non-negative decimal number, the whole of text; nullopt otherwise.
std::optional<int> parse_int(std::string_view text) {
  if (text.empty() || text.size() > 6) return std::nullopt;
  int value = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size()) return std::nullopt;
  return value;
}

}  // namespace

std::string_view architecture_name(Architecture architecture) {
  for (const auto& [arch, name] : kArchitectures)
    if (arch == architecture) return name;
  return "?";
}

Architecture parse_architecture(std::string_view name) {
  for (const auto& [arch, known] : kArchitectures)
    if (known == name) return arch;
  AXNN_CHECK(false, "unknown multiplier architecture '{}' (known: {})", name,
             known_architectures());
  return Architecture::kArray;
}

void validate(const MultiplierCircuit& circuit) {
  const int b = circuit.bits;
  AXNN_CHECK(b >= Multiplier::kMinBits && b <= Multiplier::kMaxBits,
             "multiplier circuit: bits = {} is outside {}..{}", b, Multiplier::kMinBits,
             Multiplier::kMaxBits);
  const int columns = 2 * b - 1;
  const std::string_view arch = architecture_name(circuit.architecture);
  AXNN_CHECK(arch != "?", "multiplier circuit: architecture {} is not one of {}",
             static_cast<int>(circuit.architecture), known_architectures());
  switch (circuit.cells) {
    case CellSelection::kAll:
      break;
    case CellSelection::kTruncated:
      AXNN_CHECK(circuit.truncate >= 0 && circuit.truncate <= columns,
                 "multiplier circuit: truncate = {} is outside 0..{} for {} bits", circuit.truncate,
                 columns, b);
      break;
    case CellSelection::kBrokenArray:
      AXNN_CHECK(circuit.hbl >= 0 && circuit.hbl <= b,
                 "multiplier circuit: hbl = {} is outside 0..{} for {} bits", circuit.hbl, b, b);
      AXNN_CHECK(circuit.vbl >= 0 && circuit.vbl <= columns,
                 "multiplier circuit: vbl = {} is outside 0..{} for {} bits", circuit.vbl, columns,
                 b);
      break;
    case CellSelection::kColumns:
      AXNN_CHECK(static_cast<int>(circuit.keep_columns.size()) == columns,
                 "multiplier circuit: keep_columns has {} flags, a {}-bit multiplier has {} "
                 "partial-product columns",
                 circuit.keep_columns.size(), b, columns);
      break;
    default:
      AXNN_CHECK(false, "multiplier circuit: cells = {} is not a cell selection",
                 static_cast<int>(circuit.cells));
  }
  for (const ForcedAdder& f : circuit.forced) {
    AXNN_CHECK(f.id >= 0, "multiplier circuit: forced adder id {} is negative", f.id);
    AXNN_CHECK(f.sum || f.carry,
               "multiplier circuit: forced adder {} forces neither its sum nor its carry", f.id);
    AXNN_CHECK(f.value == 0 || f.value == 1,
               "multiplier circuit: forced adder {} forces its outputs to {}, not 0 or 1", f.id,
               f.value);
  }
  forced_values(circuit.forced);
}

std::string circuit_name(const MultiplierCircuit& circuit) {
  validate(circuit);
  std::string name = fmt::format("{}{}{}", architecture_name(circuit.architecture), circuit.bits,
                                 circuit.is_signed ? 's' : 'u');
  switch (circuit.cells) {
    case CellSelection::kAll:
      break;
    case CellSelection::kTruncated:
      name += fmt::format("_k{}", circuit.truncate);
      break;
    case CellSelection::kBrokenArray:
      name += fmt::format("_h{}_v{}", circuit.hbl, circuit.vbl);
      break;
    case CellSelection::kColumns:
      name += "_cols" + bool_list(circuit.keep_columns);
      break;
  }
  for (const auto& [id, values] : forced_values(circuit.forced)) {
    for (const int value : {0, 1}) {
      const bool sum = values.first == value, carry = values.second == value;
      if (sum || carry)
        name += fmt::format("_f{}{}{}{}", id, sum ? "s" : "", carry ? "c" : "", value ? "1" : "");
    }
  }
  return name;
}

MultiplierCircuit parse_circuit_name(std::string_view name) {
  const auto fail = [&](std::string_view why) {
    AXNN_CHECK(false,
               "multiplier circuit name '{}': {} (expected <architecture><bits><s|u> as in "
               "dadda8s, then _k<k>, _h<hbl>_v<vbl> or _cols<flags>, then _f<id><s|c|sc>[1]...; "
               "architectures: {})",
               name, why, known_architectures());
  };
  std::vector<std::string_view> parts;
  for (size_t start = 0;;) {
    const size_t end = name.find('_', start);
    parts.push_back(name.substr(start, end == std::string_view::npos ? end : end - start));
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  MultiplierCircuit circuit;
  // The head: letters, digits, s or u.
  const std::string_view head = parts[0];
  size_t letters = 0;
  while (letters < head.size() && std::isalpha(static_cast<unsigned char>(head[letters])))
    ++letters;
  if (head.size() < letters + 2 || (head.back() != 's' && head.back() != 'u'))
    fail(fmt::format("'{}' is not <architecture><bits><s|u>", head));
  const std::string_view arch = head.substr(0, letters);
  const auto known = std::find_if(kArchitectures.begin(), kArchitectures.end(),
                                  [&](const auto& a) { return a.second == arch; });
  if (known == kArchitectures.end()) fail(fmt::format("unknown architecture '{}'", arch));
  circuit.architecture = known->first;
  const auto bits = parse_int(head.substr(letters, head.size() - letters - 1));
  if (!bits) fail(fmt::format("'{}' is not <architecture><bits><s|u>", head));
  circuit.bits = *bits;
  circuit.is_signed = head.back() == 's';
  size_t p = 1;
  const auto number_after = [&](std::string_view part, size_t prefix) {
    const auto v = parse_int(part.substr(prefix));
    if (!v) fail(fmt::format("'{}' has no number after '{}'", part, part.substr(0, prefix)));
    return *v;
  };
  if (p < parts.size()) {
    const std::string_view part = parts[p];
    if (part.size() > 4 && part.substr(0, 4) == "cols") {
      circuit.cells = CellSelection::kColumns;
      for (const char c : part.substr(4)) {
        if (c != '0' && c != '1')
          fail(fmt::format("column flags '{}' are not all 0 or 1", part.substr(4)));
        circuit.keep_columns.push_back(c == '1');
      }
      ++p;
    } else if (part.size() > 1 && part[0] == 'k') {
      circuit.cells = CellSelection::kTruncated;
      circuit.truncate = number_after(part, 1);
      ++p;
    } else if (part.size() > 1 && part[0] == 'h') {
      circuit.cells = CellSelection::kBrokenArray;
      circuit.hbl = number_after(part, 1);
      if (p + 1 >= parts.size() || parts[p + 1].empty() || parts[p + 1][0] != 'v')
        fail(fmt::format("'_{}' is not followed by _v<vbl>", part));
      circuit.vbl = number_after(parts[p + 1], 1);
      p += 2;
    }
  }
  for (; p < parts.size(); ++p) {
    const std::string_view part = parts[p];
    if (part.size() < 2 || part[0] != 'f') fail(fmt::format("unknown part '{}'", part));
    size_t digits = 1;
    while (digits < part.size() && std::isdigit(static_cast<unsigned char>(part[digits]))) ++digits;
    std::string_view what = part.substr(digits);
    ForcedAdder f;
    if (what.size() > 1 && what.back() == '1') {
      f.value = 1;
      what.remove_suffix(1);
    }
    if (what != "s" && what != "c" && what != "sc")
      fail(fmt::format("'{}' does not end in s, c, sc, s1, c1 or sc1", part));
    f.id = number_after(part.substr(0, digits), 1);
    f.sum = what != "c";
    f.carry = what != "s";
    circuit.forced.push_back(f);
  }
  validate(circuit);
  return circuit;
}

std::vector<std::vector<bool>> cell_mask(const MultiplierCircuit& circuit) {
  validate(circuit);
  const int b = circuit.bits;
  const int columns = 2 * b - 1;
  std::vector<bool> keep_column(static_cast<size_t>(columns), true);
  int drop_rows = 0;
  switch (circuit.cells) {
    case CellSelection::kAll:
      break;
    case CellSelection::kTruncated:
      for (int c = 0; c < circuit.truncate; ++c) keep_column[static_cast<size_t>(c)] = false;
      break;
    case CellSelection::kBrokenArray:
      drop_rows = circuit.hbl;
      for (int c = 0; c < circuit.vbl; ++c) keep_column[static_cast<size_t>(c)] = false;
      break;
    case CellSelection::kColumns:
      keep_column = circuit.keep_columns;
      break;
  }
  std::vector<std::vector<bool>> mask(static_cast<size_t>(b),
                                      std::vector<bool>(static_cast<size_t>(columns), false));
  for (int i = drop_rows; i < b; ++i)
    for (int j = 0; j < b; ++j)
      mask[static_cast<size_t>(i)][static_cast<size_t>(i + j)] =
          keep_column[static_cast<size_t>(i + j)];
  return mask;
}

GeneratedCircuit generate_circuit(const MultiplierCircuit& circuit) {
  const std::string name = circuit_name(circuit);  // validates
  const int b = circuit.bits;
  const Plan plan = make_plan(circuit, cell_mask(circuit));
  const auto& adders = plan.adders();
  // Per adder: the constants its sum and carry are forced to, -1 where not forced.
  std::vector<std::pair<int, int>> forced(adders.size(), {-1, -1});
  for (const auto& [id, values] : forced_values(circuit.forced)) {
    AXNN_CHECK(static_cast<size_t>(id) < adders.size(),
               "multiplier circuit {}: forced adder id {} does not exist (it has {} adders, ids "
               "0..{})",
               name, id, adders.size(), static_cast<int>(adders.size()) - 1);
    forced[static_cast<size_t>(id)] = values;
  }
  const auto force = [](int value, int signal) {
    return value < 0 ? signal : value ? kOne : kZero;
  };

  // Signals of the plan bits, in plan order (every adder after its inputs).
  Emitter emit(b);
  std::vector<int> signal(plan.bits().size(), kZero);
  for (size_t k = 0; k < plan.bits().size(); ++k) {
    const PlanBit& bit = plan.bits()[k];
    if (bit.kind == PlanBit::kOne) signal[k] = kOne;
    if (bit.kind != PlanBit::kCell) continue;
    const int i = bit.a, j = bit.b;
    const bool negative = circuit.is_signed && ((i == b - 1) != (j == b - 1));
    signal[k] =
        emit.gate(negative ? Op::kNand : Op::kAnd, j, b + i, fmt::format("pp_r{}_c{}", i, i + j));
  }
  for (size_t id = 0; id < adders.size(); ++id) {
    const PlanAdder& adder = adders[id];
    std::vector<int> in;
    for (const int bit : adder.in) in.push_back(signal[static_cast<size_t>(bit)]);
    auto [sum, carry] = emit.adder(in, adder.name);
    signal[static_cast<size_t>(adder.sum)] = force(forced[id].first, sum);
    signal[static_cast<size_t>(adder.carry)] = force(forced[id].second, carry);
  }
  std::vector<int> outputs;
  for (const int bit : plan.result)
    outputs.push_back(bit < 0 ? kZero : signal[static_cast<size_t>(bit)]);

  // Live gates: those an output reaches.
  std::vector<Gate>& gates = emit.gates();
  std::vector<bool> live(gates.size(), false);
  std::vector<int> stack;
  for (const int s : outputs)
    if (s >= emit.inputs()) stack.push_back(s);
  while (!stack.empty()) {
    const int s = stack.back();
    stack.pop_back();
    const size_t g = static_cast<size_t>(s - emit.inputs());
    if (live[g]) continue;
    live[g] = true;
    for (const int in : {gates[g].in0, gates[g].in1})
      if (in >= emit.inputs()) stack.push_back(in);
  }
  // Output O[k] takes over the name of the gate driving it, unless a constant, an input or an
  // earlier output has it: then a constant node or a buffer drives it.
  std::vector<bool> claimed(gates.size(), false);
  for (size_t k = 0; k < outputs.size(); ++k) {
    const std::string out = fmt::format("O[{}]", k);
    const int s = outputs[k];
    if (s == kZero || s == kOne) {
      outputs[k] = emit.gate(s == kOne ? Op::kConst1 : Op::kConst0, -1, -1, out);
    } else if (s >= emit.inputs() && !claimed[static_cast<size_t>(s - emit.inputs())]) {
      claimed[static_cast<size_t>(s - emit.inputs())] = true;
      gates[static_cast<size_t>(s - emit.inputs())].name = out;
      continue;
    } else {
      outputs[k] = emit.gate(Op::kBuf, s, -1, out);
    }
    live.push_back(true);
    claimed.push_back(true);
  }

  GeneratedCircuit result;
  Netlist& netlist = result.netlist;
  netlist.name = name;
  std::vector<NetId> net(static_cast<size_t>(emit.inputs()) + gates.size(), -1);
  for (int j = 0; j < b; ++j)
    netlist.inputs.push_back(net[static_cast<size_t>(j)] = netlist.net(fmt::format("A[{}]", j)));
  for (int i = 0; i < b; ++i)
    netlist.inputs.push_back(net[static_cast<size_t>(b + i)] =
                                 netlist.net(fmt::format("B[{}]", i)));
  // Outputs first, so their nets are numbered in port order.
  for (size_t k = 0; k < outputs.size(); ++k)
    netlist.outputs.push_back(net[static_cast<size_t>(outputs[k])] =
                                  netlist.net(fmt::format("O[{}]", k)));
  for (size_t g = 0; g < gates.size(); ++g) {
    if (!live[g]) continue;
    const size_t s = static_cast<size_t>(emit.inputs()) + g;
    if (net[s] < 0) net[s] = netlist.net(gates[g].name);
    std::vector<NetId> in;
    for (const int x : {gates[g].in0, gates[g].in1})
      if (x >= 0) in.push_back(net[static_cast<size_t>(x)]);
    add_cover(netlist, gates[g].op, std::move(in), net[s]);
  }

  const auto describe = [&](int s) {
    AdderSignal out;
    if (s == kZero || s == kOne) {
      out.constant = s == kOne ? 1 : 0;
    } else if (s < emit.inputs() || live[static_cast<size_t>(s - emit.inputs())]) {
      out.net = netlist.net_name(net[static_cast<size_t>(s)]);
    }
    return out;
  };
  for (size_t id = 0; id < adders.size(); ++id) {
    const PlanAdder& adder = adders[id];
    AdderInfo info;
    info.id = static_cast<int32_t>(id);
    info.name = adder.name;
    info.full = adder.in.size() == 3;
    info.column = adder.column;
    info.stage = adder.stage;
    info.sum = describe(signal[static_cast<size_t>(adder.sum)]);
    info.carry = describe(signal[static_cast<size_t>(adder.carry)]);
    result.adders.push_back(std::move(info));
  }
  return result;
}

Netlist generate_multiplier(const MultiplierCircuit& circuit) {
  return generate_circuit(circuit).netlist;
}

std::vector<AdderInfo> circuit_adders(const MultiplierCircuit& circuit) {
  MultiplierCircuit plain = circuit;
  plain.forced.clear();
  return generate_circuit(plain).adders;
}

Multiplier simulate_circuit(const MultiplierCircuit& circuit) {
  const Netlist netlist = generate_multiplier(circuit);
  MultiplierMeta meta;
  meta.source = fmt::format("axnn generate_circuit({})", netlist.name);
  meta.description =
      fmt::format("{}-bit {} {} multiplier circuit, simulated", circuit.bits,
                  signedness_name(circuit.is_signed), architecture_name(circuit.architecture));
  return simulate_multiplier(netlist, {"A", "B", "O"}, circuit.is_signed, netlist.name,
                             std::move(meta));
}

}  // namespace axnn::netlist
