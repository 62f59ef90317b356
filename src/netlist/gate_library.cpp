#include "netlist/gate_library.h"

#include <fmt/ranges.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "core/files.h"

namespace axnn::netlist {

const LibraryGate* GateLibrary::find(std::string_view name) const {
  for (const LibraryGate& gate : gates)
    if (gate.name == name) return &gate;
  return nullptr;
}

namespace {

// Enough for any cell a mapper uses (abc's supergates stop at 6 inputs); keeps truth tables small.
constexpr size_t kMaxPins = 16;
// Up to this many pins the cover is made of prime implicants, beyond it of minterms.
constexpr size_t kMaxPrimePins = 8;

struct Token {
  std::string text;
  int line = 0;
};

// The genlib text as whitespace-separated words with their lines; '#' starts a comment. The
// characters '=' and ';' end a word and are words of their own, so "O=a*b;" splits as genlib
// writers intend whatever the spacing.
std::vector<Token> tokenize(std::string_view text) {
  std::vector<Token> tokens;
  int line = 1;
  std::string word;
  int word_line = 1;
  const auto flush = [&] {
    if (!word.empty()) tokens.push_back({std::move(word), word_line});
    word.clear();
  };
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '#') {
      while (i + 1 < text.size() && text[i + 1] != '\n') ++i;
      continue;
    }
    if (c == '\n') {
      flush();
      ++line;
    } else if (std::isspace(static_cast<unsigned char>(c))) {
      flush();
    } else if (c == '=' || c == ';') {
      flush();
      tokens.push_back({std::string(1, c), line});
    } else {
      if (word.empty()) word_line = line;
      word += c;
    }
  }
  flush();
  return tokens;
}

// A Boolean expression over pin names as abc reads it: '!' before or '\'' after an operand
// negates, '*', '&' or juxtaposition is AND, '^' XOR, '+' or '|' OR (binding in that order,
// tightest first), parentheses group, CONST0/CONST1 (and 0/1) are constants. Evaluated on truth
// tables of up to kMaxPins variables, one bit per assignment.
class ExpressionParser {
 public:
  ExpressionParser(std::string_view text, std::string_view where) : text_(text), where_(where) {}

  // The pin names in order of first appearance (the order genlib's "PIN *" gives them).
  std::vector<std::string> names() {
    std::vector<std::string> out;
    for (size_t i = 0; i < text_.size();) {
      if (is_name_char(text_[i])) {
        const size_t start = i;
        while (i < text_.size() && is_name_char(text_[i])) ++i;
        std::string name(text_.substr(start, i - start));
        if (!is_constant(name) && std::find(out.begin(), out.end(), name) == out.end())
          out.push_back(std::move(name));
      } else {
        ++i;
      }
    }
    return out;
  }

  std::vector<bool> evaluate(const std::vector<std::string>& vars) {
    vars_ = &vars;
    rows_ = size_t{1} << vars.size();
    pos_ = 0;
    std::vector<bool> result = parse_or();
    skip_space();
    AXNN_CHECK(pos_ == text_.size(), "{}: unexpected '{}' at column {}", where_, text_[pos_],
               pos_ + 1);
    return result;
  }

  static bool is_constant(std::string_view name) {
    return name == "CONST0" || name == "CONST1" || name == "0" || name == "1";
  }

 private:
  static bool is_name_char(char c) {
    return !std::isspace(static_cast<unsigned char>(c)) &&
           std::string_view("!'*&^+|()").find(c) == std::string_view::npos;
  }

  void skip_space() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
  }
  bool accept(std::string_view chars) {
    skip_space();
    if (pos_ < text_.size() && chars.find(text_[pos_]) != std::string_view::npos) {
      ++pos_;
      return true;
    }
    return false;
  }
  // Whether an operand starts here (then juxtaposition means AND).
  bool operand_ahead() {
    skip_space();
    return pos_ < text_.size() &&
           (text_[pos_] == '!' || text_[pos_] == '(' || is_name_char(text_[pos_]));
  }

  std::vector<bool> parse_or() {
    std::vector<bool> acc = parse_xor();
    while (accept("+|")) {
      const std::vector<bool> rhs = parse_xor();
      for (size_t r = 0; r < rows_; ++r) acc[r] = acc[r] || rhs[r];
    }
    return acc;
  }
  std::vector<bool> parse_xor() {
    std::vector<bool> acc = parse_and();
    while (accept("^")) {
      const std::vector<bool> rhs = parse_and();
      for (size_t r = 0; r < rows_; ++r) acc[r] = acc[r] != rhs[r];
    }
    return acc;
  }
  std::vector<bool> parse_and() {
    std::vector<bool> acc = parse_unary();
    while (accept("*&") || operand_ahead()) {
      const std::vector<bool> rhs = parse_unary();
      for (size_t r = 0; r < rows_; ++r) acc[r] = acc[r] && rhs[r];
    }
    return acc;
  }
  std::vector<bool> parse_unary() {
    if (accept("!")) return negate(parse_unary());
    std::vector<bool> value = parse_primary();
    while (accept("'")) value = negate(std::move(value));
    return value;
  }
  std::vector<bool> parse_primary() {
    skip_space();
    AXNN_CHECK(pos_ < text_.size(), "{}: it ends where an operand should follow", where_);
    if (accept("(")) {
      std::vector<bool> value = parse_or();
      AXNN_CHECK(accept(")"), "{}: missing ')' at column {}", where_, pos_ + 1);
      return value;
    }
    AXNN_CHECK(is_name_char(text_[pos_]), "{}: unexpected '{}' at column {}", where_, text_[pos_],
               pos_ + 1);
    const size_t start = pos_;
    while (pos_ < text_.size() && is_name_char(text_[pos_])) ++pos_;
    const std::string_view name = text_.substr(start, pos_ - start);
    if (is_constant(name)) return std::vector<bool>(rows_, name == "CONST1" || name == "1");
    const auto it = std::find(vars_->begin(), vars_->end(), name);
    AXNN_CHECK(it != vars_->end(), "{}: '{}' is no pin of the gate", where_, name);
    const size_t var = static_cast<size_t>(it - vars_->begin());
    std::vector<bool> value(rows_);
    for (size_t r = 0; r < rows_; ++r) value[r] = (r >> var) & 1;
    return value;
  }
  static std::vector<bool> negate(std::vector<bool> v) {
    v.flip();
    return v;
  }

  std::string_view text_;
  std::string_view where_;
  const std::vector<std::string>* vars_ = nullptr;
  size_t rows_ = 0;
  size_t pos_ = 0;
};

// A cube over n variables: bit i of `care` set means variable i is fixed to bit i of `value`.
struct Cube {
  uint32_t care = 0, value = 0;
};

std::string cube_text(const Cube& cube, size_t n) {
  std::string s(n, '-');
  for (size_t i = 0; i < n; ++i)
    if ((cube.care >> i) & 1) s[i] = ((cube.value >> i) & 1) ? '1' : '0';
  return s;
}

// An ON-set cover of the truth table: its prime implicants, picked greedily until every
// minterm is covered (small gates only; larger ones get one cube per minterm).
std::vector<std::string> cover_of(const std::vector<bool>& table, size_t n) {
  std::vector<std::string> cubes;
  const uint32_t rows = uint32_t{1} << n;
  if (n > kMaxPrimePins) {
    for (uint32_t r = 0; r < rows; ++r)
      if (table[r]) cubes.push_back(cube_text({rows - 1, r}, n));
    return cubes;
  }
  const auto implies = [&](const Cube& c) {  // every minterm of c is in the ON-set
    for (uint32_t r = 0; r < rows; ++r)
      if ((r & c.care) == c.value && !table[r]) return false;
    return true;
  };
  // Implicants by every care mask and value; prime = no literal can be dropped.
  std::vector<Cube> primes;
  for (uint32_t care = 0; care < rows; ++care) {
    for (uint32_t value = care;; value = (value - 1) & care) {
      const Cube c{care, value};
      if (implies(c)) {
        bool prime = true;
        for (size_t i = 0; i < n && prime; ++i)
          if ((care >> i) & 1) prime = !implies({care & ~(1u << i), value & ~(1u << i)});
        if (prime) primes.push_back(c);
      }
      if (value == 0) break;
    }
  }
  std::vector<bool> covered(rows);
  for (uint32_t r = 0; r < rows; ++r) covered[r] = !table[r];
  for (;;) {
    size_t best = primes.size(), best_gain = 0;
    for (size_t p = 0; p < primes.size(); ++p) {
      size_t gain = 0;
      for (uint32_t r = 0; r < rows; ++r)
        if (!covered[r] && (r & primes[p].care) == primes[p].value) ++gain;
      if (gain > best_gain) best = p, best_gain = gain;
    }
    if (best == primes.size()) break;
    for (uint32_t r = 0; r < rows; ++r)
      if ((r & primes[best].care) == primes[best].value) covered[r] = true;
    cubes.push_back(cube_text(primes[best], n));
  }
  return cubes;
}

class GenlibParser {
 public:
  GenlibParser(std::string_view text, std::string_view source)
      : tokens_(tokenize(text)), source_(source) {}

  GateLibrary run() {
    GateLibrary library;
    library.source = source_;
    while (pos_ < tokens_.size()) {
      const Token& head = tokens_[pos_];
      AXNN_CHECK(head.text != "LATCH", "{}:{}: LATCH: sequential cells are not supported", source_,
                 head.line);
      AXNN_CHECK(head.text == "GATE", "{}:{}: expected GATE, found '{}'", source_, head.line,
                 head.text);
      LibraryGate gate = parse_gate();
      AXNN_CHECK(!library.find(gate.name), "{}:{}: gate {} is defined twice", source_, head.line,
                 gate.name);
      library.gates.push_back(std::move(gate));
    }
    AXNN_CHECK(!library.gates.empty(), "{}: the library has no gates", source_);
    return library;
  }

 private:
  std::string where(int line) const { return fmt::format("{}:{}", source_, line); }

  const Token& next(std::string_view what) {
    AXNN_CHECK(pos_ < tokens_.size(), "{}: the file ends where {} should follow", source_, what);
    return tokens_[pos_++];
  }
  bool peek(std::string_view text) const {
    return pos_ < tokens_.size() && tokens_[pos_].text == text;
  }
  double number(std::string_view what) {
    const Token& t = next(what);
    double value = 0;
    const char* end = t.text.data() + t.text.size();
    const auto [ptr, ec] = std::from_chars(t.text.data(), end, value);
    AXNN_CHECK(ec == std::errc() && ptr == end, "{}: {} '{}' is not a number", where(t.line), what,
               t.text);
    return value;
  }

  LibraryGate parse_gate() {
    const int line = next("GATE").line;
    LibraryGate gate;
    gate.name = next("the gate name").text;
    const std::string what = fmt::format("{}: gate {}", where(line), gate.name);
    gate.area = number(fmt::format("the area of gate {}", gate.name));
    AXNN_CHECK(gate.area >= 0, "{}: negative area {}", what, gate.area);
    const Token& output = next("the output name");
    AXNN_CHECK(output.text != "=" && output.text != ";" && peek("="),
               "{}: expected OUTPUT=EXPRESSION; after the area, found '{}'", what, output.text);
    gate.output = output.text;
    ++pos_;  // '='
    // The expression: every word up to ';', rejoined with single spaces (juxtaposition is AND).
    std::string expression;
    int expression_line = output.line;
    while (!peek(";")) {
      const Token& t = next(fmt::format("the ';' ending the expression of gate {}", gate.name));
      AXNN_CHECK(t.text != "GATE" && t.text != "PIN",
                 "{}: the expression of gate {} lacks its ending ';'", where(t.line), gate.name);
      expression += (expression.empty() ? "" : " ") + t.text;
      expression_line = t.line;
    }
    ++pos_;  // ';'
    AXNN_CHECK(!expression.empty(), "{}: empty expression", what);

    struct PinLine {
      GatePin pin;
      int line;
    };
    std::vector<PinLine> pins;
    while (peek("PIN")) {
      const int pin_line = tokens_[pos_++].line;
      GatePin pin;
      pin.name = next("the pin name").text;
      const std::string of = fmt::format("pin {} of gate {}", pin.name, gate.name);
      const Token& phase = next("the pin phase");
      AXNN_CHECK(phase.text == "INV" || phase.text == "NONINV" || phase.text == "UNKNOWN",
                 "{}: {}: phase '{}' is not INV, NONINV or UNKNOWN", where(phase.line), of,
                 phase.text);
      pin.input_load = number(fmt::format("the input load of {}", of));
      pin.max_load = number(fmt::format("the max load of {}", of));
      const double rise_block = number(fmt::format("the rise block delay of {}", of));
      pin.fanout_delay = number(fmt::format("the rise fanout delay of {}", of));
      const double fall_block = number(fmt::format("the fall block delay of {}", of));
      pin.fanout_delay =
          std::max(pin.fanout_delay, number(fmt::format("the fall fanout delay of {}", of)));
      pin.delay = std::max(rise_block, fall_block);
      AXNN_CHECK(pin.input_load >= 0 && pin.delay >= 0, "{}: {}: negative load or delay",
                 where(pin_line), of);
      pins.push_back({std::move(pin), pin_line});
    }

    const std::string in_expression = fmt::format("{}: the expression '{}' of gate {}",
                                                  where(expression_line), expression, gate.name);
    ExpressionParser parser(expression, in_expression);
    const std::vector<std::string> names = parser.names();
    AXNN_CHECK(names.size() <= kMaxPins, "{} has {} inputs, more than the {} supported",
               in_expression, names.size(), kMaxPins);
    if (names.empty()) {
      AXNN_CHECK(pins.empty(), "{}: a constant gate has no pins, found PIN {}",
                 where(pins.empty() ? line : pins[0].line), pins.empty() ? "" : pins[0].pin.name);
    } else if (pins.size() == 1 && pins[0].pin.name == "*") {
      for (const std::string& name : names) {
        GatePin pin = pins[0].pin;
        pin.name = name;
        gate.pins.push_back(std::move(pin));
      }
    } else {
      // Named pins keep their PIN order (as abc binds them); each must be in the expression.
      AXNN_CHECK(!pins.empty(), "{}: gate {} has inputs ({}) but no PIN lines", where(line),
                 gate.name, fmt::join(names, ", "));
      for (const PinLine& p : pins) {
        AXNN_CHECK(p.pin.name != "*", "{}: PIN * must be the gate's only PIN line", where(p.line));
        AXNN_CHECK(std::find(names.begin(), names.end(), p.pin.name) != names.end(),
                   "{}: pin {} of gate {} is not in its expression '{}'", where(p.line), p.pin.name,
                   gate.name, expression);
        for (const GatePin& seen : gate.pins)
          AXNN_CHECK(seen.name != p.pin.name, "{}: pin {} of gate {} is listed twice",
                     where(p.line), p.pin.name, gate.name);
        gate.pins.push_back(p.pin);
      }
      for (const std::string& name : names) {
        const bool listed = std::any_of(gate.pins.begin(), gate.pins.end(),
                                        [&](const GatePin& pin) { return pin.name == name; });
        AXNN_CHECK(listed, "{}: '{}' is in the expression of gate {} but has no PIN line",
                   where(line), name, gate.name);
      }
    }
    AXNN_CHECK(std::none_of(gate.pins.begin(), gate.pins.end(),
                            [&](const GatePin& pin) { return pin.name == gate.output; }),
               "{}: the output {} of gate {} is also an input", where(line), gate.output,
               gate.name);

    std::vector<std::string> vars;
    for (const GatePin& pin : gate.pins) vars.push_back(pin.name);
    gate.expression = expression;
    gate.cubes = cover_of(parser.evaluate(vars), vars.size());
    return gate;
  }

  std::vector<Token> tokens_;
  std::string source_;
  size_t pos_ = 0;
};

}  // namespace

GateLibrary parse_genlib(std::string_view text, std::string_view source) {
  return GenlibParser(text, source).run();
}

GateLibrary read_genlib(const std::filesystem::path& path) {
  return parse_genlib(read_text_file(path, "gate library"), path.string());
}

}  // namespace axnn::netlist
