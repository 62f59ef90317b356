// Internal interface between LutGemm and its per-ISA implementations.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>

#include "kernels/lut_gemm.h"

namespace axnn::kernels {

// A packed operand A with its table, ready to run. Built once by a factory; run() is const and
// may be called concurrently. Arguments reaching run() have been validated by LutGemm.
class LutGemm::Impl {
 public:
  Impl(int64_t m, int64_t k) : m_(m), k_(k) {}
  virtual ~Impl() = default;
  virtual std::string_view name() const = 0;
  // threads >= 1; ldb >= n and ldc >= n are already resolved.
  virtual void run(const uint8_t* b, int64_t n, int32_t* c, int64_t ldb, int64_t ldc,
                   int threads) const = 0;
  int64_t m() const { return m_; }
  int64_t k() const { return k_; }

 private:
  int64_t m_;
  int64_t k_;
};

// Factories, one per ISA file. Each receives a validated desc (lda resolved) and returns nullptr
// when it cannot reproduce the table exactly, so that the next impl in the list is tried.
std::shared_ptr<const LutGemm::Impl> make_lut_gemm_avx512(const LutGemmDesc& desc);
std::shared_ptr<const LutGemm::Impl> make_lut_gemm_avx2(const LutGemmDesc& desc);
std::shared_ptr<const LutGemm::Impl> make_lut_gemm_ref(const LutGemmDesc& desc);

}  // namespace axnn::kernels
