#include "kernels/term_gemm.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <mutex>
#include <oneapi/dnnl/dnnl.hpp>
#include <utility>
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
  int64_t cols = 0;                     // M + E: the extra columns sum the offset terms' slices
  int64_t block = 0;                    // columns of B per matmul call
  std::vector<detail::ByteMap> b_maps;  // per term: B's code -> u8 / s8 src value
  std::vector<int32_t> scales;          // d_e of each extra column
  dt src_type = dt::u8;
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::memory weights;  // G*K x M+E, packed

  const Matmul& matmul(int64_t rows, int threads) const {
    std::lock_guard<std::mutex> lock(mutex_);
    auto [it, inserted] = cache_.try_emplace({rows, threads});
    if (inserted) it->second = make(rows, threads, weights.get_desc());
    return it->second;
  }

  // A matmul of `rows` rows of expanded B; wei_md "any" lets oneDNN pick the packed layout.
  Matmul make(int64_t rows, int threads, const dnnl::memory::desc& wei_md) const {
    detail::ThreadsScope scope(threads);
    const dnnl::memory::desc src_md({rows, reduction}, src_type, {reduction, 1});
    const dnnl::memory::desc dst_md({rows, cols}, dt::s32, {cols, 1});
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    Matmul mm;
    mm.pd = dnnl::matmul::primitive_desc(dnnl::matmul::desc(src_md, wei_md, dst_md), attr, engine);
    mm.prim = dnnl::matmul(mm.pd);
    return mm;
  }

 private:
  mutable std::mutex mutex_;
  mutable std::map<std::pair<int64_t, int>, Matmul> cache_;
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
  if (g_count == 0) return TermGemm(std::move(state));

  std::vector<detail::WeightMap> a_maps;
  for (const ProductTerm& t : s.terms.terms) {
    s.b_maps.push_back(detail::plain_map(t.b_mask, bits, is_signed));
    a_maps.push_back(detail::weight_map(t.a_mask, t.sign, bits, is_signed));
    const int32_t d = a_maps.back().offset;
    if (d != 0 && std::find(s.scales.begin(), s.scales.end(), d) == s.scales.end()) {
      s.scales.push_back(d);
    }
  }
  s.cols = s.m + static_cast<int64_t>(s.scales.size());
  std::vector<int8_t> plain(s.reduction * s.cols, 0);  // [g*K + k][i]
  for (int64_t g = 0; g < g_count; ++g) {
    const detail::WeightMap& w = a_maps[g];
    const auto extra = std::find(s.scales.begin(), s.scales.end(), w.offset) - s.scales.begin();
    for (int64_t j = 0; j < s.k; ++j) {
      int8_t* row = plain.data() + (g * s.k + j) * s.cols;
      for (int64_t i = 0; i < s.m; ++i) row[i] = static_cast<int8_t>(w.map(desc.a[i * lda + j]));
      if (w.offset != 0) row[s.m + extra] = 1;
    }
  }
  const dnnl::memory::desc any_md({s.reduction, s.cols}, dt::s8, dnnl::memory::format_tag::any);
  const Matmul first = s.make(s.block, omp_get_max_threads(), any_md);
  s.weights = dnnl::memory(first.pd.weights_desc(), s.engine);
  dnnl::memory plain_mem({{s.reduction, s.cols}, dt::s8, {s.cols, 1}}, s.engine, plain.data());
  dnnl::stream stream(s.engine);
  dnnl::reorder(plain_mem, s.weights).execute(stream, plain_mem, s.weights);
  stream.wait();
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
  thread_local std::vector<int32_t> product;
  const int64_t rows = std::min(s.block, n);
  expanded.resize(s.reduction * rows);
  product.resize(s.cols * rows);
  // The caller's buffers, not each worker's thread_local copies.
  uint8_t* const src_data = expanded.data();
  int32_t* const dst_data = product.data();
  dnnl::stream stream(s.engine);
  for (int64_t n0 = 0; n0 < n; n0 += s.block) {
    const int64_t cols = std::min(s.block, n - n0);
    const int64_t tiles = (cols + 15) / 16;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t t = 0; t < tiles; ++t) {
      detail::expand_transposed(b + n0 + 16 * t, s.k, std::min<int64_t>(16, cols - 16 * t), ldb,
                                s.b_maps, src_data + 16 * t * s.reduction, s.reduction);
    }
    const Matmul& mm = s.matmul(cols, threads);
    scratch.resize(mm.pd.scratchpad_desc().get_size());
    const dnnl::memory src(mm.pd.src_desc(), s.engine, src_data);
    const dnnl::memory dst(mm.pd.dst_desc(), s.engine, dst_data);
    const dnnl::memory pad(mm.pd.scratchpad_desc(), s.engine, scratch.data());
    mm.prim.execute(stream, {{DNNL_ARG_SRC, src},
                             {DNNL_ARG_WEIGHTS, s.weights},
                             {DNNL_ARG_DST, dst},
                             {DNNL_ARG_SCRATCHPAD, pad}});
    stream.wait();
    const int64_t out_blocks = (cols + 63) / 64;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t t = 0; t < out_blocks; ++t) {
      detail::transpose_out(dst_data + 64 * t * s.cols, s.cols,
                            std::min<int64_t>(64, cols - 64 * t), s.m, s.scales, c + n0 + 64 * t,
                            ldc);
    }
  }
}

std::string TermGemm::impl_name(int threads) const {
  const State& s = *state_;
  if (s.reduction == 0) return "none";
  return s.matmul(s.block, detail::resolve_threads(threads)).pd.impl_info_str();
}

int64_t TermGemm::m() const { return state_->m; }
int64_t TermGemm::k() const { return state_->k; }
int64_t TermGemm::num_terms() const { return static_cast<int64_t>(state_->terms.terms.size()); }

bool term_gemm_available() {
  static const bool available = [] {
    try {
      detail::check_exact_int8("term_gemm_available");
      return true;
    } catch (const Error&) {
      return false;
    }
  }();
  return available;
}

}  // namespace axnn::kernels
