// Multiplier generators. Every table is built by enumerating all 2^b x 2^b code pairs through the
// circuit model or function (DESIGN.md section 2), never by symmetry or sign tricks. Widths 2..8,
// signed (two's complement) or unsigned. Each result carries the registry name that regenerates it
// (see registry.h) and meta.source describing the call.
//
// Partial-product arrays. Rows are indexed by the bits w_i of the second operand (the weight, port
// B), the bit a_j of the first operand (the activation, port A) lies in row i, column i + j; there
// are 2b-1 columns, 0..2b-2, for both signednesses. Every cell is the AND a_j & w_i of two operand
// code bits and carries a signed weight:
//   unsigned: +2^(i+j) for every cell.
//   signed:   the cell's term of the two's complement product: +2^(i+j) where neither or both of
//             i, j is the sign bit b-1 (a_{b-1} & w_{b-1} weighs +2^(2b-2)), -2^(i+j) where exactly
//             one of them is.
// The output is the sum of the kept cells' terms. A full array is the exact product. Removing a
// cell removes its own term: this is the (modified) Baugh-Wooley array, whose inverted sign cells
// and constant 1s are the hardware encoding of the negative terms, with the constant correction
// re-derived for the cells kept. So a zero operand always gives 0, and below column b-1, which
// holds no sign cell, signed and unsigned arrays remove the same plain cells. The sum of any subset
// of cells lies in the 2b-bit output range.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "mult/multiplier.h"

namespace axnn {

// What from_function does with a value outside the 2b-bit output range of a b x b multiplier
// (signed: [-2^(2b-1), 2^(2b-1)-1], unsigned: [0, 2^(2b)-1]). The range is what every file format
// and kernel can store (16 bits at b = 8).
enum class ProductOverflow {
  kSaturate,  // clamp to the range (the default)
  kWrap,      // keep the low 2b bits, as a 2b-bit output bus would
  kThrow,     // axnn::Error naming the operands and the value
};

using ProductFunction = std::function<int64_t(int x, int w)>;

// The product function evaluated on every pair of operand VALUES (x the activation, w the weight,
// two's complement for signed multipliers), each result brought into the output range by
// `overflow`. meta is stored as given.
Multiplier from_function(std::string name, int bits, bool is_signed, const ProductFunction& fn,
                         MultiplierMeta meta = {},
                         ProductOverflow overflow = ProductOverflow::kSaturate);

// The number of partial-product columns, 2b-1 for both signednesses.
int partial_product_columns(int bits);

// x * w. meta.relative_power = 1.0. Name exact<b><s|u>.
Multiplier make_exact(int bits, bool is_signed);

// The k least significant partial-product columns removed, k in 0..2b-1 (all columns removed gives
// the constant 0). Name trunc<b><s|u>_k<k>.
Multiplier make_truncated(int bits, bool is_signed, int k);

// Broken-array multiplier (Mahdiani et al., TCAS-I 2010): the cells of the hbl lowest rows
// (w_0..w_{hbl-1}) and every cell of the vbl lowest columns are omitted. hbl in 0..b, vbl in
// 0..2b-1. Name bam<b><s|u>_h<hbl>_v<vbl>.
Multiplier make_bam(int bits, bool is_signed, int hbl, int vbl);

// Column discarding (TRAM): keep[c] says whether column c (0 = least significant) is kept;
// keep.size() must be partial_product_columns(bits) = 2b-1. Truncation by k is keep[c] = c >= k.
// Name cols<b><s|u>_<flags>, flags one 0/1 per column, column 0 first.
Multiplier make_columns(int bits, bool is_signed, const std::vector<bool>& keep);

// DRUM-k (Hashemi et al., ICCAD 2015): each operand magnitude with more than k significant bits
// keeps the k bits from its leading one, the lowest kept bit set to 1, the rest zero; the two are
// multiplied exactly. Signed operands go through sign and magnitude (|-2^(b-1)| = 2^(b-1) has b
// significant bits). k in 1..b; k = b is exact. The products go through from_function's default
// saturation: only DRUM-2's (-2^(b-1))^2 = (1.5 * 2^(b-1))^2 exceeds the 2b-bit signed range.
// Name drum<b><s|u>_k<k>.
Multiplier make_drum(int bits, bool is_signed, int k);

// Mitchell's logarithmic multiplier (IRE Trans. 1962): log2 of each magnitude approximated by its
// leading-one position plus the linear fraction, the sum's antilog taken the same piecewise-linear
// way; exact in integer arithmetic, never above the exact magnitude. Signed through sign and
// magnitude; a zero operand gives 0. Name mitchell<b><s|u>.
Multiplier make_mitchell(int bits, bool is_signed);

}  // namespace axnn
