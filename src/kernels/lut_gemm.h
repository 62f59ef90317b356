// LUT-GEMM: C[m][n] = sum_k table[A[m][k]][B[k][n]], bit-exact, for operand codes of width 2..8.
//
// A (M x K) is the stationary operand, packed once with the table by LutGemm::create (in a layer it
// is the weight: the conv im2col GEMM W[CO][CI*KH*KW] x cols[CI*KH*KW][OH*OW], so M is the output
// channels and N the output positions). B (K x N) streams through run(). The packed table is an
// object of its own, LutTable: where A changes per call (attention's Q K^T and A V, one LutGemm per
// image and head; linears over activations), pack the table once and create each LutGemm from it,
// which packs only A. Codes are bytes of which
// only the low `bits` bits are read, so int8 values in range can be passed as their raw bytes.
// table[a][b] has 2^bits x 2^bits int32 entries and is indexed by A's code first: for a
// Multiplier (lut[x_code][w_code], the activation first) with the weights in A, pass its
// transpose. Accumulation wraps modulo 2^32 like int32 hardware: the result is exact whenever the
// true sum fits in int32.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "core/cpu.h"

namespace axnn::kernels {

struct LutGemmDesc {
  std::span<const int32_t> table;  // 2^bits x 2^bits, row-major [a_code][b_code]
  int bits = 8;
  const uint8_t* a = nullptr;  // M x K codes
  int64_t m = 0;
  int64_t k = 0;
  int64_t lda = 0;  // row stride of A in elements; 0 means k
  // Highest ISA level to use; default active_isa(). The best impl at or below it that supports the
  // table is chosen (an impl may decline a table, e.g. one whose entries span more than 16 bits).
  std::optional<Isa> isa;
  // The chosen impl's loop schedule ("table-load-over-m", "planes-over-n", ...); empty
  // lets the impl choose per run from the shape. A name the impl lacks is an error.
  std::string schedule;
};

// A table packed for one impl: immutable, cheap to copy (shared_ptr inside), and safe to share
// between threads and between any number of LutGemms, which keep it alive.
class LutTable {
 public:
  // Packs `table` (2^bits x 2^bits, row-major [a_code][b_code], copied) for the best impl at or
  // below `isa` (default active_isa()) that supports it, as LutGemm::create(desc) chooses. Throws
  // axnn::Error on a bad size, width or level.
  static LutTable create(std::span<const int32_t> table, int bits,
                         std::optional<Isa> isa = std::nullopt);

  std::string_view impl_name() const;  // "ref", "avx2" or "avx512"
  int bits() const;

  class Impl;  // one per ISA, in src/kernels/cpu

 private:
  friend class LutGemm;
  explicit LutTable(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
};

class LutGemm {
 public:
  // Packs the table and A. Throws axnn::Error on bad sizes, widths or pointers. The packed tables
  // of the last few distinct tables (compared in full) are kept and reused.
  static LutGemm create(const LutGemmDesc& desc);
  // Packs only A (M x K codes, row stride lda, 0 meaning k) against an already packed table: a few
  // microseconds for a small A. schedule as LutGemmDesc::schedule, for table.impl_name()'s impl.
  static LutGemm create(const LutTable& table, const uint8_t* a, int64_t m, int64_t k,
                        int64_t lda = 0, std::string_view schedule = {});

  // B: K x N codes with row stride ldb (0 means n); C: M x N int32 with row stride ldc (0 means n).
  // threads: how many OpenMP threads to use; 0 means omp_get_max_threads().
  void run(const uint8_t* b, int64_t n, int32_t* c, int64_t ldb = 0, int64_t ldc = 0,
           int threads = 0) const;

  std::string_view impl_name() const;  // "ref", "avx2" or "avx512"
  // The impl's loop schedule for n columns of B, e.g. "table-load-over-m", "planes-over-n".
  std::string_view schedule(int64_t n) const;
  int64_t m() const;
  int64_t k() const;

  class Impl;  // one per ISA, in src/kernels/cpu

 private:
  explicit LutGemm(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
};

// The ground truth: plain loops over the unpacked operands, same contract as LutGemm.
void lut_gemm_ref(std::span<const int32_t> table, int bits, const uint8_t* a, const uint8_t* b,
                  int32_t* c, int64_t m, int64_t k, int64_t n, int64_t lda, int64_t ldb,
                  int64_t ldc);

}  // namespace axnn::kernels
