// The lut target's backend: axnn's own LUT-conv kernel (src/kernels/lut_conv.h) with a
// multiplier's table, for a Conv2dShape (groups 1, dilation 1). Nothing is generated or compiled:
// a configuration picks the library kernel's blocking parameters, and build() creates and checks
// a LutConv2d per configuration. Target cpu, op "lut-conv2d", dtype the multiplier's name.
//
// Knobs:
//   isa        0 ref, 1 avx2, 2 avx512: the highest ISA level, up to active_isa()
//   schedule   0 lets the impl choose per run; 1..S forces the S schedule names of the impl that
//              this multiplier's table gets at that level (kernels::lut_gemm_schedules), in order
//   chunk_kib  the im2col chunk, 64 .. 16384 KiB in powers of 2
//   threads    1 .. cores, or fixed by space()'s `threads` argument
// Operands: random activation and weight codes (fixed seed) over all 2^bits codes; a padded input
// is the code of 0.0: 0 for a signed multiplier; for an unsigned one 2^(bits-1), the zero point of
// an asymmetric range symmetric about 0 (DESIGN.md section 2), since random codes have no
// calibrated range. check() compares with plain table-lookup loops, bit for bit (int32).
#pragma once

#include <memory>

#include "mult/multiplier.h"
#include "tune/backend.h"

namespace axnn::tune {

std::unique_ptr<Backend> make_lut_backend(const Multiplier& mult);

// The code a padded input position reads for this multiplier (see above).
int lut_pad_code(const Multiplier& mult);

}  // namespace axnn::tune
