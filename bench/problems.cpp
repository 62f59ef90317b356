#include "bench/problems.h"

#include <charconv>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace axnn::bench {

namespace {

bool parse_dim(const std::string& token, int64_t& value) {
  const char* end = token.data() + token.size();
  auto [ptr, ec] = std::from_chars(token.data(), end, value);
  return ec == std::errc() && ptr == end;
}

}  // namespace

void check_problem(const Problem& problem, std::string_view what) {
  AXNN_CHECK(problem.m > 0 && problem.k > 0 && problem.n > 0,
             "{}: M, K and N must be positive, got {}x{}x{}", what, problem.m, problem.k,
             problem.n);
}

std::vector<Problem> parse_problems(std::istream& in, std::string_view source) {
  std::vector<Problem> problems;
  std::string line;
  for (int line_number = 1; std::getline(in, line); ++line_number) {
    const std::string text = line.substr(0, line.find('#'));
    std::istringstream fields(text);
    std::vector<std::string> tokens;
    for (std::string token; fields >> token;) tokens.push_back(std::move(token));
    if (tokens.empty()) continue;
    const std::string where = fmt::format("{}:{}", source, line_number);
    AXNN_CHECK(tokens.size() == 3 || tokens.size() == 4,
               "{}: expected 'M K N [name]', got {} fields in '{}'", where, tokens.size(), line);
    Problem problem;
    int64_t* dims[] = {&problem.m, &problem.k, &problem.n};
    for (int i = 0; i < 3; ++i)
      AXNN_CHECK(parse_dim(tokens[i], *dims[i]), "{}: {} must be an integer, got '{}'", where,
                 "MKN"[i], tokens[i]);
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
