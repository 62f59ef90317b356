// TRAM's view of a b x b multiplier: its partial-product columns (mult/generators.h: row i is the
// weight bit w_i, the activation bit a_j lies in row i, column i + j, a signed cell of exactly one
// sign bit weighs -2^(i+j)) and a learnable structure that removes a gamma_c in [0, 1] share of
// each of the P lowest columns:
//   f_gamma(x, w) = x * w - sum_{c < P} gamma_c S_c(x, w),
//   S_c(x, w) = sum over the cells of column c of their signed terms s_ij 2^c a_j w_i.
// With every gamma_c 0 or 1 this is make_columns with column c dropped iff gamma_c = 1.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace axnn::tram {

// The P TRAM learns by default: the b lowest of the 2b - 1 columns (P = 8 at b = 8, as TRAM).
int default_structure_columns(int bits);
// TRAM's initial structure: the lowest half of the P columns removed, [1,1,1,1,0,0,0,0] at P = 8.
std::vector<double> default_initial_gamma(int columns);

// S_c as a table [x code][w code] of 2^b x 2^b entries, by enumerating every code pair's bit
// planes. Throws axnn::Error for bits outside 2..8 or a column outside 0..2b-2.
std::vector<int32_t> column_table(int bits, bool is_signed, int column);

// f_gamma as a table [x code][w code]; gamma holds P <= 2b - 1 values, column 0 first. Throws
// axnn::Error naming the value for a gamma outside [0, 1] or too many of them.
std::vector<double> structure_table(int bits, bool is_signed, std::span<const double> gamma);

}  // namespace axnn::tram
