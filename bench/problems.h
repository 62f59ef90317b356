// GEMM shape batch files (bench/problems/*.txt): one shape per line, `M K N [name]`, where M is the
// stationary operand's rows (output channels / out features), K the reduction length and N the
// streamed columns (output positions / tokens). `#` starts a comment; blank lines are skipped;
// CRLF line endings are accepted.
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

// Bound on each of M, K and N: LutGemm accepts dimensions below 2^31.
inline constexpr int64_t kMaxDim = (int64_t{1} << 31) - 1;
// Bound on operand_bytes(): the benchmark allocates A, B and C (and the baselines their own
// copies), so a shape beyond this is refused up front instead of failing in the allocator.
inline constexpr double kMaxOperandBytes = double(int64_t{8} << 30);  // 8 GiB

// Bytes of LUT-GEMM's A and B codes (1 byte each) and int32 C: M*K + K*N + 4*M*N, in double so
// that it cannot overflow.
double operand_bytes(const Problem& problem);

// Throws axnn::Error unless m, k and n are in 1..kMaxDim and operand_bytes() <= kMaxOperandBytes;
// `what` names the source in the message (a batch file line, a flag).
void check_problem(const Problem& problem, std::string_view what);

// Parses a batch; `source` names the input in errors ("<source>:<line>: ..."). An input without any
// shape is an error too.
std::vector<Problem> parse_problems(std::istream& in, std::string_view source);

// Reads and parses a batch file; throws axnn::Error if it cannot be opened or is malformed.
std::vector<Problem> load_problems(const std::string& path);

}  // namespace axnn::bench
