#include "bench/problems.h"

#include <charconv>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace axnn::bench {

namespace {

// Parses a whole token as an int64; the error names the dimension, the token and `where`.
int64_t parse_dim(const std::string& token, char dim, const std::string& where) {
  const char* end = token.data() + token.size();
  int64_t value = 0;
  const auto [ptr, ec] = std::from_chars(token.data(), end, value);
  AXNN_CHECK(ec != std::errc::result_out_of_range || ptr != end,
             "{}: {} = '{}' is out of range (expected 1..{})", where, dim, token, kMaxDim);
  AXNN_CHECK(ec == std::errc() && ptr == end, "{}: {} must be an integer, got '{}'", where, dim,
             token);
  return value;
}

}  // namespace

double operand_bytes(const Problem& problem) {
  const double m = double(problem.m), k = double(problem.k), n = double(problem.n);
  return m * k + k * n + 4 * m * n;
}

void check_problem(const Problem& problem, std::string_view what) {
  AXNN_CHECK(problem.m > 0 && problem.k > 0 && problem.n > 0,
             "{}: M, K and N must be positive, got {}x{}x{}", what, problem.m, problem.k,
             problem.n);
  AXNN_CHECK(problem.m <= kMaxDim && problem.k <= kMaxDim && problem.n <= kMaxDim,
             "{}: M, K and N must be at most {} (2^31 - 1, LutGemm's bound), got {}x{}x{}", what,
             kMaxDim, problem.m, problem.k, problem.n);
  AXNN_CHECK(operand_bytes(problem) <= kMaxOperandBytes,
             "{}: shape {}x{}x{} needs {:.1f} GiB for A, B (1-byte codes) and C (int32), more than "
             "the benchmark's budget of {:.0f} GiB",
             what, problem.m, problem.k, problem.n, operand_bytes(problem) / double(1 << 30),
             kMaxOperandBytes / double(1 << 30));
}

std::vector<Problem> parse_problems(std::istream& in, std::string_view source) {
  std::vector<Problem> problems;
  std::string line;
  for (int line_number = 1; std::getline(in, line); ++line_number) {
    if (!line.empty() && line.back() == '\r') line.pop_back();  // CRLF line ending
    const std::string text = line.substr(0, line.find('#'));
    std::istringstream fields(text);
    std::vector<std::string> tokens;
    for (std::string token; fields >> token;) tokens.push_back(std::move(token));
    if (tokens.empty()) continue;
    const std::string where = fmt::format("{}:{}", source, line_number);
    AXNN_CHECK(tokens.size() == 3 || tokens.size() == 4,
               "{}: expected 'M K N [name]', got {} fields in '{}'", where, tokens.size(), line);
    Problem problem;
    problem.m = parse_dim(tokens[0], 'M', where);
    problem.k = parse_dim(tokens[1], 'K', where);
    problem.n = parse_dim(tokens[2], 'N', where);
    check_problem(problem, where);
    if (tokens.size() == 4) problem.name = tokens[3];
    problems.push_back(std::move(problem));
  }
  AXNN_CHECK(!in.bad(), "{}: read error", source);
  AXNN_CHECK(!problems.empty(), "{}: no shapes (expected lines 'M K N [name]')", source);
  return problems;
}

std::vector<Problem> load_problems(const std::string& path) {
  std::ifstream in(path);
  AXNN_CHECK(in.is_open(), "cannot open problem batch file '{}'", path);
  return parse_problems(in, path);
}

}  // namespace axnn::bench
