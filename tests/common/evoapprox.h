// The EvoApprox test data in shared/data/evoapprox beside the repository (README.md there):
// 11 Verilog netlists and metrics.csv with their published figures.
#pragma once

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace axnn::test_util {

struct EvoApproxCircuit {
  std::string file, name;
  bool is_signed = false;
  // MAE%, WCE%, WCRE%, EP%, MRE%, MSE as printed (their rounding matters).
  std::vector<std::string> printed_metrics;
  double power_mw = 0, area_um2 = 0, delay_ns = 0;  // published 45 nm synthesis figures
  std::string lut_sha256;
};

inline std::filesystem::path evoapprox_dir() {
  return std::filesystem::path(AXNN_SOURCE_DIR) / ".." / "shared" / "data" / "evoapprox";
}

// The rows of metrics.csv; empty when the data is not there.
inline std::vector<EvoApproxCircuit> read_evoapprox() {
  std::ifstream in(evoapprox_dir() / "metrics.csv");
  std::vector<EvoApproxCircuit> rows;
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();  // the file has CRLF ends
    std::vector<std::string> f;
    std::stringstream fields(line);
    for (std::string x; std::getline(fields, x, ',');) f.push_back(x);
    if (f.size() != 13) continue;
    rows.push_back({f[0],
                    f[1],
                    f[2] == "1",
                    {f[3], f[4], f[5], f[6], f[7], f[8]},
                    std::stod(f[9]),
                    std::stod(f[10]),
                    std::stod(f[11]),
                    f[12]});
  }
  return rows;
}

}  // namespace axnn::test_util
