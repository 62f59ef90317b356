// GEMM shape batch files (bench/problems/*.txt): one shape per line, `M K N [name]`, where M is the
// stationary operand's rows (output channels / out features), K the reduction length and N the
// streamed columns (output positions / tokens). `#` starts a comment; blank lines are skipped.
#pragma once

#include <cstdint>
#include <istream>
#include <string>
#include <string_view>
#include <vector>

namespace axnn::bench {

struct Problem {
  int64_t m = 0;
  int64_t k = 0;
  int64_t n = 0;
  std::string name;  // empty when the line gives none
};

// Throws axnn::Error unless m, k and n are positive; `what` names the source in the message.
void check_problem(const Problem& problem, std::string_view what);

// Parses a batch; `source` names the input in errors ("<source>:<line>: ..."). An input without any
// shape is an error too.
std::vector<Problem> parse_problems(std::istream& in, std::string_view source);

// Reads and parses a batch file; throws axnn::Error if it cannot be opened or is malformed.
std::vector<Problem> load_problems(const std::string& path);

}  // namespace axnn::bench
