// Product-term GEMM: LutGemm's C[m][n] = sum_k table[A[m][k]][B[k][n]] for a table that is a
// signed sum of masked-operand products (mult/product_terms.h), T[a][b] = sum_g s_g A_g(a) B_g(b),
// computed as ONE exact oneDNN int8 matmul over the terms concatenated along the reduction:
//   C^T = [B_1^T | ... | B_G^T] (N x G*K)  x  [s_1 A_1 - d_1 ; ... ; s_G A_G - d_G] (G*K x M+E)
// The streamed B is oneDNN's src (u8 for unsigned codes, s8 for signed), N rows of G*K bytes; the
// stationary A is its weights, masked, signed and offset into s8 and packed into oneDNN's blocked
// layout once by create(). d_g is 0 unless a term's weight values leave [-128, 127] (unsigned
// 8-bit masks above 127: d = max - 127; a negated -128: d = 1); the exact correction
// sum_g d_g sum_k B_g(B[k][n]) comes from E extra weight columns (one per distinct d, 1 on the
// slices of the terms with that d), so C[m][n] = C^T[n][m] + sum_e d_e C^T[n][M + e].
//
// Blocking: run() takes B in blocks of columns (`chunk_bytes` of expanded rows, so they stay in
// L2): 16 x 16 byte transposes (SSE2) turn 16 columns of B into 16 rows, each mapped into its G
// masked slices; the matmul (oneDNN brgemm: AMX tiles, or AVX-512 VNNI) writes the block's C^T,
// transposed into C in 4 x 4 int32 tiles with the correction added. One primitive per (rows,
// threads) is created on first use and cached.
//
// Exactness: oneDNN's s32 accumulators (AMX tdpbusd, VNNI vpdpbusd) wrap modulo 2^32 and its s32
// store keeps them, and the correction is added in uint32, so the result equals LutGemm's modulo
// 2^32, hence the true sum whenever that fits int32 (K < 2^16 always does). Requires VNNI or AMX
// (create() checks): AVX-512 without VNNI saturates pairs of u8 x s8 products to int16.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "mult/product_terms.h"

namespace axnn::kernels {

struct TermGemmDesc {
  // The table's decomposition in LutGemm's orientation: a_mask applies to A's codes, b_mask to
  // B's, so product_terms(table, bits, is_signed) of LutGemm's table as is. bits and
  // signedness come from here.
  ProductTerms terms;
  const uint8_t* a = nullptr;  // M x K codes, read by create() only
  int64_t m = 0;
  int64_t k = 0;
  int64_t lda = 0;  // row stride of A in elements; 0 means k
  // Bytes of expanded B (G*K rows) per matmul call; the column block is this / (G*K), rounded
  // to 64, at least 64.
  int64_t chunk_bytes = int64_t{256} << 10;
};

class TermGemm {
 public:
  // Expands A and computes the row corrections. Throws axnn::Error on bad sizes, pointers or
  // terms, or on a CPU without VNNI/AMX.
  static TermGemm create(const TermGemmDesc& desc);

  // As LutGemm::run: B K x N codes (row stride ldb, 0 means n), C M x N int32 (ldc, 0 means n),
  // every element written; threads 0 means omp_get_max_threads(). Thread-safe for concurrent runs.
  void run(const uint8_t* b, int64_t n, int32_t* c, int64_t ldb = 0, int64_t ldc = 0,
           int threads = 0) const;

  // oneDNN's implementation for a full column block on `threads` threads ("brg:avx512_core_amx"),
  // "none" without terms.
  std::string impl_name(int threads = 0) const;
  int64_t m() const;
  int64_t k() const;
  int64_t num_terms() const;

  class State;

 private:
  explicit TermGemm(std::shared_ptr<const State> state) : state_(std::move(state)) {}
  std::shared_ptr<const State> state_;
};

// Whether TermGemm runs here (oneDNN's int8 dot products exact: VNNI or AMX); where not, its
// create() throws and callers take the LUT kernels.
bool term_gemm_available();

}  // namespace axnn::kernels
