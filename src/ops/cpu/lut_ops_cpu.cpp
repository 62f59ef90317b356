// CPU impls of the axnn ops on codes, over the LUT-GEMM kernels (src/kernels).
//
// lut_matmul is one LUT-GEMM with a as the kernel's stationary operand (one per slice when b is
// batched too). lut_conv2d is the LutConv2d kernel (src/kernels/lut_conv.h: per group an im2col
// GEMM with the weights stationary, the im2col columns built 2 MiB at a time) on the op's threads.
// A lut that is a sum of product terms (exact multiplication, truncated and other partial-product
// arrays: mult/product_terms.h, found from the table alone) runs its GEMMs as exact oneDNN int8
// matmuls instead (kernels/term_gemm.h), bit-exact to the lookups.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <cstring>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <vector>

#include "core/profile.h"
#include "kernels/lut_conv.h"
#include "kernels/lut_gemm.h"
#include "kernels/term_gemm.h"
#include "mult/product_terms.h"
#include "ops/checks.h"

namespace axnn::ops {
namespace {

// Codes of either byte type as raw bit patterns.
const uint8_t* code_data(const at::Tensor& t) { return static_cast<const uint8_t*>(t.data_ptr()); }

// A lut in the kernels' orientations, kept per lut tensor while the tensor is alive and
// unmodified (same TensorImpl, same version): every layer of a model shares its multiplier's.
struct PackedTable {
  std::vector<int32_t> transposed;  // lut[x][w] transposed: the conv's weights stationary
  kernels::LutTable plain;          // lut[a][b] packed for LutGemm with a stationary
  // The lut as a sum of product terms (a_mask on a's codes), when it is one and oneDNN's int8
  // runs exactly here: exact and structured multipliers then run as int8 GEMMs, not lookups.
  std::optional<ProductTerms> terms;
};

// Most terms for which the int8 GEMMs beat the lookups, from `axnn bench model --profile` (batch 64,
// 1 thread, Sapphire Rapids with AMX): a linear's G-term matmul (depth G K) costs about G / 7 of
// the LUT-GEMM (vit-tiny: exact 1 term 0.45x, trunc8s_k6 7 terms 1.0x); a conv's im2col GEMM, whose
// columns are expanded per term, about 2 G / 3 (resnet20: 1 term 0.67x, 7 terms 1.6x).
constexpr size_t kMatmulMaxTerms = 6;
constexpr size_t kConvMaxTerms = 1;

// The lut's product terms for codes of either signedness (the table alone decides).
std::optional<ProductTerms> find_terms(std::span<const int32_t> lut, int bits) {
  if (!kernels::term_gemm_available()) return std::nullopt;
  const profile::StageScope timer("pack");
  for (const bool is_signed : {true, false})
    if (auto terms = product_terms(lut, bits, is_signed)) return terms;
  return std::nullopt;
}

std::shared_ptr<const PackedTable> pack_table(const at::Tensor& lut, int bits) {
  const at::Tensor plain = lut.contiguous();
  const std::span<const int32_t> entries(plain.data_ptr<int32_t>(),
                                         static_cast<size_t>(plain.numel()));
  kernels::LutTable packed_plain = kernels::LutTable::create(entries, bits);
  std::optional<ProductTerms> terms = find_terms(entries, bits);
  const profile::StageScope timer("pack");
  const at::Tensor transposed = lut.t().contiguous();
  return std::make_shared<const PackedTable>(PackedTable{
      std::vector<int32_t>(transposed.data_ptr<int32_t>(),
                           transposed.data_ptr<int32_t>() + transposed.numel()),
      std::move(packed_plain), std::move(terms)});
}

// A few most recently used entries, front first.
template <class Entry>
class RecentlyUsed {
 public:
  explicit RecentlyUsed(size_t capacity) : capacity_(capacity) {}

  // The value of the first entry `match` accepts (moved to the front), else make()'s, inserted.
  template <class Match, class Make>
  auto find_or_add(Match&& match, Make&& make) -> decltype(make().value) {
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      for (auto it = entries_.begin(); it != entries_.end(); ++it)
        if (match(*it)) {
          entries_.splice(entries_.begin(), entries_, it);
          return entries_.front().value;
        }
    }
    Entry entry = make();  // outside the lock: packing takes a while
    const std::lock_guard<std::mutex> lock(mutex_);
    entries_.push_front(entry);
    if (entries_.size() > capacity_) entries_.pop_back();
    return entry.value;
  }

 private:
  size_t capacity_;
  std::mutex mutex_;
  std::list<Entry> entries_;
};

struct TableEntry {
  c10::weak_intrusive_ptr<c10::TensorImpl> lut;
  int64_t version;
  std::shared_ptr<const PackedTable> value;
};

// lut: checked, 2^bits x 2^bits.
std::shared_ptr<const PackedTable> packed_table(const at::Tensor& lut, int bits) {
  // An inference tensor has no version counter to tell a modified table by: pack it every time.
  if (lut.is_inference()) return pack_table(lut, bits);
  // One entry per lut tensor, as every layer holds its own.
  static RecentlyUsed<TableEntry> tables(256);
  const int64_t version = lut._version();
  return tables.find_or_add(
      [&](const TableEntry& e) {
        return e.version == version && e.lut.lock().get() == lut.unsafeGetTensorImpl();
      },
      [&] {
        return TableEntry{c10::weak_intrusive_ptr<c10::TensorImpl>(lut.getIntrusivePtr()), version,
                          pack_table(lut, bits)};
      });
}

// A packed kernel per (table, geometry, stationary codes), compared in full, so an entry can
// never be stale: new weights (a training step) have new codes and pack anew. The codes are found
// by a hash and then compared byte for byte.
template <class Kernel>
struct PackedEntry {
  std::shared_ptr<const PackedTable> table;
  std::vector<int64_t> geometry;
  uint64_t hash;
  std::vector<uint8_t> codes;
  std::shared_ptr<const Kernel> value;
};

uint64_t hash_bytes(const uint8_t* data, size_t size) {
  uint64_t h = 14695981039346656037ull;  // FNV-1a over 8-byte words, then the tail bytes
  size_t i = 0;
  for (; i + 8 <= size; i += 8) {
    uint64_t word;
    std::memcpy(&word, data + i, 8);
    h = (h ^ word) * 1099511628211ull;
  }
  for (; i < size; ++i) h = (h ^ data[i]) * 1099511628211ull;
  return h;
}

template <class Kernel, class Make>
std::shared_ptr<const Kernel> packed_kernel(const std::shared_ptr<const PackedTable>& table,
                                            const std::vector<int64_t>& geometry,
                                            const uint8_t* codes, int64_t count, Make&& make) {
  static RecentlyUsed<PackedEntry<Kernel>> kernels(64);
  const auto size = static_cast<size_t>(count);
  const uint64_t hash = hash_bytes(codes, size);
  return kernels.find_or_add(
      [&](const PackedEntry<Kernel>& e) {
        return e.table == table && e.hash == hash && e.geometry == geometry &&
               std::memcmp(e.codes.data(), codes, size) == 0;
      },
      [&] {
        return PackedEntry<Kernel>{table, geometry, hash,
                                   std::vector<uint8_t>(codes, codes + size),
                                   std::make_shared<const Kernel>(make())};
      });
}

std::shared_ptr<const kernels::LutConv2d> packed_conv(const kernels::LutConv2dDesc& desc,
                                                      const std::shared_ptr<const PackedTable>& table,
                                                      int64_t weight_bytes) {
  const std::vector<int64_t> geometry = {
      desc.batch,    desc.channels,   desc.height,     desc.width,      desc.out_channels,
      desc.kh,       desc.kw,         desc.groups,     desc.stride_h,   desc.stride_w,
      desc.pad_h,    desc.pad_w,      desc.dilation_h, desc.dilation_w, desc.bits,
      desc.pad_code};
  return packed_kernel<kernels::LutConv2d>(table, geometry, desc.weights, weight_bytes,
                                           [&] { return kernels::LutConv2d::create(desc); });
}

// a [rows, k] x b [k, n] through the product terms with b^T (a layer's weights) stationary, so
// that it is packed once: C^T = TermGemm(b^T) x a^T, transposed into out.
void term_matmul(const at::Tensor& a, const at::Tensor& b, const std::shared_ptr<const PackedTable>& table,
                 int64_t rows, int64_t k, int64_t n, int32_t* out) {
  const at::Tensor bt = b.t().contiguous(), at_ = a.reshape({rows, k}).t().contiguous();
  const auto gemm = packed_kernel<kernels::TermGemm>(table, {n, k}, code_data(bt), n * k, [&] {
    kernels::TermGemmDesc desc;
    desc.terms = table->terms->transposed();  // a_mask on the weights' codes
    desc.a = code_data(bt);
    desc.m = n;
    desc.k = k;
    return kernels::TermGemm::create(desc);
  });
  at::Tensor ct = at::empty({n, rows}, at::TensorOptions(at::kInt));
  {
    const profile::StageScope timer("kernel");
    gemm->run(code_data(at_), rows, ct.data_ptr<int32_t>(), 0, 0, at::get_num_threads());
  }
  at::from_blob(out, {rows, n}, at::TensorOptions(at::kInt)).copy_(ct.t());
}

at::Tensor lut_matmul_cpu(const at::Tensor& a, const at::Tensor& b, const at::Tensor& lut) {
  const LutMatmulShape shape = check_lut_matmul(a, b, lut);
  const int64_t m = shape.m, k = shape.k, n = shape.n;
  // The kernels write every element: only an empty sum (k = 0) needs zeros.
  if (k == 0) return at::zeros(shape.out_sizes, a.options().dtype(at::kInt));
  at::Tensor out = at::empty(shape.out_sizes, a.options().dtype(at::kInt));
  if (out.numel() == 0) return out;

  const at::Tensor a_c = a.contiguous(), b_c = b.contiguous();
  const std::shared_ptr<const PackedTable> packed = packed_table(lut, shape.bits);
  // One product: the rows of every slice of a against b at once.
  auto product = [&](const uint8_t* a_codes, int64_t rows, const uint8_t* b_codes, int32_t* c,
                     int threads) {
    kernels::LutGemm::create(packed->plain, a_codes, rows, k).run(b_codes, n, c, 0, 0, threads);
  };
  if (b.dim() == 2 && packed->terms && packed->terms->terms.size() <= kMatmulMaxTerms) {
    term_matmul(a_c, b_c, packed, a.numel() / k, k, n, out.data_ptr<int32_t>());
    return out;
  }
  if (b.dim() == 2) {
    product(code_data(a_c), a.numel() / k, code_data(b_c), out.data_ptr<int32_t>(),
            at::get_num_threads());
    return out;
  }
  // Many small products (attention heads): one thread each; a few large ones: all threads each.
  const int64_t slices = a.numel() / (m * k);
  auto slice = [&](int64_t s, int threads) {
    product(code_data(a_c) + s * m * k, m, code_data(b_c) + s * k * n,
            out.data_ptr<int32_t>() + s * m * n, threads);
  };
  if (slices >= at::get_num_threads()) {
    at::parallel_for(0, slices, 1, [&](int64_t begin, int64_t end) {
      for (int64_t s = begin; s < end; ++s) slice(s, 1);
    });
  } else {
    for (int64_t s = 0; s < slices; ++s) slice(s, at::get_num_threads());
  }
  return out;
}

// lut_conv2d into int32, or dequantized into fp32 by `divisors` (defined).
at::Tensor run_lut_conv2d(const at::Tensor& x, const at::Tensor& w, const at::Tensor& lut,
                          const at::Tensor& divisors, at::IntArrayRef stride,
                          at::IntArrayRef padding, at::IntArrayRef dilation, int64_t groups,
                          int64_t pad_code) {
  const LutConv2dShape shape =
      check_lut_conv2d(x, w, lut, stride, padding, dilation, groups, pad_code);
  const at::Tensor x_c = x.contiguous(), w_c = w.contiguous();
  // The kernel's stationary operand is the weight, so its table is lut[x][w] transposed.
  const std::shared_ptr<const PackedTable> table = packed_table(lut, shape.bits);
  kernels::LutConv2dDesc desc;
  desc.batch = x.size(0), desc.channels = x.size(1), desc.height = x.size(2);
  desc.width = x.size(3);
  desc.out_channels = w.size(0), desc.kh = w.size(2), desc.kw = w.size(3), desc.groups = groups;
  desc.stride_h = stride[0], desc.stride_w = stride[1];
  desc.pad_h = padding[0], desc.pad_w = padding[1];
  desc.dilation_h = dilation[0], desc.dilation_w = dilation[1];
  desc.table = table->transposed;
  desc.bits = shape.bits;
  desc.weights = code_data(w_c);
  desc.pad_code = static_cast<int>(pad_code);
  if (table->terms && table->terms->terms.size() <= kConvMaxTerms)
    desc.terms = table->terms->transposed();
  const std::vector<int64_t> sizes = {desc.batch, desc.out_channels, shape.out_height,
                                      shape.out_width};
  const at::ScalarType type = divisors.defined() ? at::kFloat : at::kInt;
  if (w.numel() == 0) return at::zeros(sizes, x.options().dtype(type));
  at::Tensor out = at::empty(sizes, x.options().dtype(type));
  if (out.numel() == 0) return out;
  const std::shared_ptr<const kernels::LutConv2d> conv = packed_conv(desc, table, w.numel());
  if (divisors.defined()) {
    const at::Tensor d = divisors.contiguous();
    conv->run(code_data(x_c), out.data_ptr<float>(), d.data_ptr<float>(), at::get_num_threads());
  } else {
    conv->run(code_data(x_c), out.data_ptr<int32_t>(), at::get_num_threads());
  }
  return out;
}

at::Tensor lut_conv2d_cpu(const at::Tensor& x, const at::Tensor& w, const at::Tensor& lut,
                          at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation,
                          int64_t groups, int64_t pad_code) {
  return run_lut_conv2d(x, w, lut, {}, stride, padding, dilation, groups, pad_code);
}

at::Tensor lut_conv2d_dequantized_cpu(const at::Tensor& x, const at::Tensor& w,
                                      const at::Tensor& lut, const at::Tensor& divisors,
                                      at::IntArrayRef stride, at::IntArrayRef padding,
                                      at::IntArrayRef dilation, int64_t groups, int64_t pad_code) {
  check_divisors(divisors, w);
  return run_lut_conv2d(x, w, lut, divisors, stride, padding, dilation, groups, pad_code);
}

}  // namespace

TORCH_LIBRARY_IMPL(axnn, CPU, m) {
  m.impl("lut_matmul", lut_matmul_cpu);
  m.impl("lut_conv2d", lut_conv2d_cpu);
  m.impl("lut_conv2d_dequantized", lut_conv2d_dequantized_cpu);
}

}  // namespace axnn::ops
