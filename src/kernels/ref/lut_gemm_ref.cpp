// Scalar ground truth: plain loops over unpacked codes, uint32 accumulation (wraps, no UB).
#include <omp.h>

#include <algorithm>
#include <vector>

#include "kernels/cpu/lut_gemm_impl.h"

namespace axnn::kernels {

void lut_gemm_ref(std::span<const int32_t> table, int bits, const uint8_t* a, const uint8_t* b,
                  int32_t* c, int64_t m, int64_t k, int64_t n, int64_t lda, int64_t ldb,
                  int64_t ldc) {
  const unsigned mask = (1u << bits) - 1;
  if (lda == 0) lda = k;
  if (ldb == 0) ldb = n;
  if (ldc == 0) ldc = n;
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      uint32_t acc = 0;
      for (int64_t p = 0; p < k; ++p) {
        const unsigned x = a[i * lda + p] & mask;
        const unsigned w = b[p * ldb + j] & mask;
        acc += static_cast<uint32_t>(table[(x << bits) | w]);
      }
      c[i * ldc + j] = static_cast<int32_t>(acc);
    }
  }
}

namespace {

constexpr std::string_view kSchedules[] = {"rows"};

// The ref impl's table: a copy of the caller's.
class RefTable final : public LutTable::Impl {
 public:
  RefTable(std::span<const int32_t> table, int bits)
      : Impl(bits), table(table.begin(), table.end()) {}
  std::string_view name() const override { return "ref"; }
  std::span<const std::string_view> schedules() const override { return kSchedules; }
  std::shared_ptr<const LutGemm::Impl> pack(const StationaryA& a) const override;

  std::vector<int32_t> table;
};

// The ref impl as a LutGemm: owns a copy of A, shares the table, splits rows of C over threads.
class LutGemmRef final : public LutGemm::Impl {
 public:
  LutGemmRef(const StationaryA& a, std::shared_ptr<const RefTable> table)
      : Impl(a.m, a.k), table_(std::move(table)) {
    a_.resize(static_cast<size_t>(a.m * a.k));
    for (int64_t i = 0; i < a.m; ++i) std::copy_n(a.a + i * a.lda, a.k, a_.data() + i * a.k);
  }

  std::string_view name() const override { return "ref"; }
  std::string_view schedule(int64_t) const override { return kSchedules[0]; }

  void run(const uint8_t* b, int64_t n, int32_t* c, int64_t ldb, int64_t ldc,
           int threads) const override {
    const int64_t rows = m();
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t i = 0; i < rows; ++i)
      lut_gemm_ref(table_->table, table_->bits(), a_.data() + i * k(), b, c + i * ldc, 1, k(), n,
                   k(), ldb, ldc);
  }

 private:
  std::shared_ptr<const RefTable> table_;
  std::vector<uint8_t> a_;
};

std::shared_ptr<const LutGemm::Impl> RefTable::pack(const StationaryA& a) const {
  return std::make_shared<const LutGemmRef>(
      a, std::static_pointer_cast<const RefTable>(shared_from_this()));
}

}  // namespace

std::shared_ptr<const LutTable::Impl> make_lut_table_ref(std::span<const int32_t> table, int bits) {
  return std::make_shared<RefTable>(table, bits);
}

}  // namespace axnn::kernels
