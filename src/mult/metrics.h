// Error metrics of a multiplier against the exact product of the same width and signedness, exactly
// as DESIGN.md section 2 defines them: e = approx - exact over all 4^b code pairs, operand values
// two's complement for signed multipliers. These reproduce EvoApprox's published figures.
#pragma once

#include "mult/multiplier.h"

namespace axnn {

struct ErrorMetrics {
  double mae_pct = 0;   // mean|e| / 2^(2b) * 100
  double wce_pct = 0;   // max|e| / 2^(2b) * 100
  double ep_pct = 0;    // share of pairs with e != 0, in percent
  double mre_pct = 0;   // mean |e|/|exact| over exact != 0, in percent
  double wcre_pct = 0;  // max |e|/|exact| over exact != 0, in percent
  double mse = 0;       // mean e^2
  double bias = 0;      // mean e
  double nmed = 0;      // mean|e| / 2^(2b)
  double mred = 0;      // mean |e| / max(|exact|, 1) over all pairs
};

ErrorMetrics compute_metrics(const Multiplier& mult);

}  // namespace axnn
