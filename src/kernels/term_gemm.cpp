#include "kernels/term_gemm.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <mutex>
#include <oneapi/dnnl/dnnl.hpp>
#include <tuple>
#include <vector>

#include "core/error.h"
#include "kernels/term_operands.h"

namespace axnn::kernels {

namespace {

using dt = dnnl::memory::data_type;

struct Matmul {
  dnnl::matmul::primitive_desc pd;
  dnnl::matmul prim;
};

}  // namespace

class TermGemm::State {
 public:
  ProductTerms terms;
  int64_t m = 0, k = 0;
  int64_t reduction = 0;                // G * K
  int64_t block = 0;                    // columns of B per matmul call
  std::vector<uint8_t> a;               // M x G*K masked copies of A, u8 or s8
  std::vector<detail::ByteMap> b_maps;  // per term: B's code -> s8 weight
  std::vector<int32_t> row_fix;         // r[m], modulo 2^32
  bool any_fix = false;
  dt src_type = dt::u8;
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};

  // The matmul for `columns` columns into C with row stride ldc on `threads` threads.
  const Matmul& matmul(int64_t columns, int64_t ldc, int threads) const {
    std::lock_guard<std::mutex> lock(mutex_);
    auto [it, inserted] = cache_.try_emplace({columns, ldc, threads});
    if (inserted) {
      detail::ThreadsScope scope(threads);
      const dnnl::memory::desc src_md({m, reduction}, src_type, {reduction, 1});
      const dnnl::memory::desc wei_md({reduction, columns}, dt::s8, {columns, 1});
      const dnnl::memory::desc dst_md({m, columns}, dt::s32, {ldc, 1});
      dnnl::primitive_attr attr;
      attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
      it->second.pd =
          dnnl::matmul::primitive_desc(dnnl::matmul::desc(src_md, wei_md, dst_md), attr, engine);
      it->second.prim = dnnl::matmul(it->second.pd);
    }
    return it->second;
  }

 private:
  mutable std::mutex mutex_;
  mutable std::map<std::tuple<int64_t, int64_t, int>, Matmul> cache_;
};

TermGemm TermGemm::create(const TermGemmDesc& desc) {
  detail::check_terms(desc.terms, "TermGemmDesc");
  AXNN_CHECK(desc.m > 0 && desc.k > 0, "TermGemmDesc: m = {}, k = {} must be positive", desc.m,
             desc.k);
  const int64_t lda = desc.lda == 0 ? desc.k : desc.lda;
  AXNN_CHECK(lda >= desc.k, "TermGemmDesc: lda = {} is below k = {}", desc.lda, desc.k);
  AXNN_CHECK(desc.a != nullptr, "TermGemmDesc: a is null");
  AXNN_CHECK(desc.chunk_bytes > 0, "TermGemmDesc: chunk_bytes = {} must be positive",
             desc.chunk_bytes);
  detail::check_exact_int8("TermGemm");

  auto state = std::make_shared<State>();
  State& s = *state;
  s.terms = desc.terms;
  s.m = desc.m;
  s.k = desc.k;
  const int bits = s.terms.bits;
  const bool is_signed = s.terms.is_signed;
  const auto g_count = static_cast<int64_t>(s.terms.terms.size());
  s.reduction = g_count * s.k;
  s.block = std::max<int64_t>(64, desc.chunk_bytes / std::max<int64_t>(s.reduction, 1) / 64 * 64);
  s.src_type = is_signed ? dt::s8 : dt::u8;
  s.a.resize(s.m * s.reduction);
  s.row_fix.assign(s.m, 0);
  for (int64_t g = 0; g < g_count; ++g) {
    const ProductTerm& t = s.terms.terms[g];
    const detail::ByteMap a_map = detail::plain_map(t.a_mask, bits, is_signed);
    const detail::WeightMap w = detail::weight_map(t.b_mask, t.sign, bits, is_signed);
    s.b_maps.push_back(w.map);
    for (int64_t i = 0; i < s.m; ++i) {
      const uint8_t* src = desc.a + i * lda;
      detail::map_codes(src, s.a.data() + i * s.reduction + g * s.k, s.k, a_map);
      if (w.offset == 0) continue;
      int64_t sum = 0;
      for (int64_t j = 0; j < s.k; ++j) sum += masked_value(src[j], t.a_mask, bits, is_signed);
      s.row_fix[i] = static_cast<int32_t>(static_cast<uint32_t>(s.row_fix[i]) +
                                          static_cast<uint32_t>(sum * w.offset));
      s.any_fix = true;
    }
  }
  return TermGemm(std::move(state));
}

void TermGemm::run(const uint8_t* b, int64_t n, int32_t* c, int64_t ldb, int64_t ldc,
                   int threads) const {
  const State& s = *state_;
  ldb = ldb == 0 ? n : ldb;
  ldc = ldc == 0 ? n : ldc;
  AXNN_CHECK(n >= 0, "TermGemm::run: n = {} is negative", n);
  AXNN_CHECK(ldb >= n && ldc >= n, "TermGemm::run: ldb = {}, ldc = {} below n = {}", ldb, ldc, n);
  if (n == 0) return;
  AXNN_CHECK(b != nullptr && c != nullptr, "TermGemm::run: b or c is null");
  threads = detail::resolve_threads(threads);
  if (s.reduction == 0) {  // no terms: the zero table
    for (int64_t i = 0; i < s.m; ++i) std::memset(c + i * ldc, 0, n * sizeof(int32_t));
    return;
  }
  detail::ThreadsScope scope(threads);
  thread_local std::vector<uint8_t> expanded, scratch;
  expanded.resize(s.reduction * std::min(s.block, n));
  uint8_t* const weights = expanded.data();  // the caller's buffer, not each worker's
  dnnl::stream stream(s.engine);
  const dnnl::memory::desc src_md({s.m, s.reduction}, s.src_type, {s.reduction, 1});
  const dnnl::memory src(src_md, s.engine, const_cast<uint8_t*>(s.a.data()));
  for (int64_t n0 = 0; n0 < n; n0 += s.block) {
    const int64_t cols = std::min(s.block, n - n0);
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t r = 0; r < s.reduction; ++r) {
      detail::map_codes(b + (r % s.k) * ldb + n0, weights + r * cols, cols, s.b_maps[r / s.k]);
    }
    const Matmul& mm = s.matmul(cols, ldc, threads);
    scratch.resize(mm.pd.scratchpad_desc().get_size());
    const dnnl::memory wei(mm.pd.weights_desc(), s.engine, weights);
    const dnnl::memory dst(mm.pd.dst_desc(), s.engine, c + n0);
    const dnnl::memory pad(mm.pd.scratchpad_desc(), s.engine, scratch.data());
    mm.prim.execute(stream, {{DNNL_ARG_SRC, src},
                             {DNNL_ARG_WEIGHTS, wei},
                             {DNNL_ARG_DST, dst},
                             {DNNL_ARG_SCRATCHPAD, pad}});
    stream.wait();
    if (!s.any_fix) continue;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t i = 0; i < s.m; ++i) {
      auto* row = reinterpret_cast<uint32_t*>(c + i * ldc + n0);
      const auto fix = static_cast<uint32_t>(s.row_fix[i]);
      for (int64_t j = 0; j < cols; ++j) row[j] += fix;
    }
  }
}

std::string TermGemm::impl_name(int threads) const {
  const State& s = *state_;
  if (s.reduction == 0) return "none";
  return s.matmul(s.block, s.block, detail::resolve_threads(threads)).pd.impl_info_str();
}

int64_t TermGemm::m() const { return state_->m; }
int64_t TermGemm::k() const { return state_->k; }
int64_t TermGemm::num_terms() const { return static_cast<int64_t>(state_->terms.terms.size()); }

}  // namespace axnn::kernels
