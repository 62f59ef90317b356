#include "mult/metrics.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>

namespace axnn {

ErrorMetrics compute_metrics(const Multiplier& mult) {
  const int codes = mult.codes();
  const double pairs = double(codes) * codes;  // 2^(2b), also the normalizer of MAE/WCE/NMED
  // Integer sums stay exact for any int32 table: |e| < 2^32, e^2 < 2^64, at most 2^16 pairs.
  int64_t sum_abs = 0, sum_e = 0, max_abs = 0, nonzero = 0, nonzero_exact = 0;
  unsigned __int128 sum_sq = 0;
  double sum_rel = 0, max_rel = 0, sum_red = 0;
  for (int xc = 0; xc < codes; ++xc) {
    const int64_t x = mult.value(xc);
    for (int wc = 0; wc < codes; ++wc) {
      const int64_t exact = x * mult.value(wc);
      const int64_t e = mult.at(xc, wc) - exact;
      const int64_t abs_e = std::abs(e);
      sum_abs += abs_e;
      sum_e += e;
      sum_sq += static_cast<unsigned __int128>(abs_e) * static_cast<uint64_t>(abs_e);
      max_abs = std::max(max_abs, abs_e);
      nonzero += e != 0;
      const int64_t abs_exact = std::abs(exact);
      sum_red += double(abs_e) / double(std::max<int64_t>(abs_exact, 1));
      if (abs_exact != 0) {
        const double rel = double(abs_e) / double(abs_exact);
        sum_rel += rel;
        max_rel = std::max(max_rel, rel);
        ++nonzero_exact;
      }
    }
  }
  ErrorMetrics m;
  m.nmed = double(sum_abs) / pairs / pairs;
  m.mae_pct = m.nmed * 100;
  m.wce_pct = double(max_abs) / pairs * 100;
  m.ep_pct = double(nonzero) / pairs * 100;
  m.mre_pct = nonzero_exact ? sum_rel / double(nonzero_exact) * 100 : 0;
  m.wcre_pct = max_rel * 100;
  m.mse = static_cast<double>(sum_sq) / pairs;
  m.bias = double(sum_e) / pairs;
  m.mred = sum_red / pairs;
  return m;
}

}  // namespace axnn
