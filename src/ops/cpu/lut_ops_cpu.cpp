// CPU impls of the axnn ops on codes, over the LUT-GEMM kernels (src/kernels).
//
// lut_matmul is one LUT-GEMM with a as the kernel's stationary operand (one per slice when b is
// batched too). lut_conv2d is the LutConv2d kernel (src/kernels/lut_conv.h: per group an im2col
// GEMM with the weights stationary, the im2col columns built 2 MiB at a time) on the op's threads.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <cstring>
#include <list>
#include <memory>
#include <mutex>
#include <vector>

#include "core/profile.h"
#include "kernels/lut_conv.h"
#include "kernels/lut_gemm.h"
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
};

std::shared_ptr<const PackedTable> pack_table(const at::Tensor& lut, int bits) {
  const at::Tensor plain = lut.contiguous();
  kernels::LutTable packed_plain = kernels::LutTable::create(
      {plain.data_ptr<int32_t>(), static_cast<size_t>(plain.numel())}, bits);
  const profile::StageScope timer("pack");
  const at::Tensor transposed = lut.t().contiguous();
  return std::make_shared<const PackedTable>(PackedTable{
      std::vector<int32_t>(transposed.data_ptr<int32_t>(),
                           transposed.data_ptr<int32_t>() + transposed.numel()),
      std::move(packed_plain)});
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

// A packed LutConv2d per (table, geometry, weight codes), compared in full, so an entry can never
// be stale: new weights (a training step) have new codes and pack anew. The weights are found by
// a hash of their codes and then compared byte for byte.
struct ConvEntry {
  std::shared_ptr<const PackedTable> table;
  std::vector<int64_t> geometry;
  uint64_t weight_hash;
  std::vector<uint8_t> weights;
  std::shared_ptr<const kernels::LutConv2d> value;
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

std::shared_ptr<const kernels::LutConv2d> packed_conv(const kernels::LutConv2dDesc& desc,
                                                      const std::shared_ptr<const PackedTable>& table,
                                                      int64_t weight_bytes) {
  static RecentlyUsed<ConvEntry> convs(64);
  const std::vector<int64_t> geometry = {
      desc.batch,    desc.channels,   desc.height,     desc.width,      desc.out_channels,
      desc.kh,       desc.kw,         desc.groups,     desc.stride_h,   desc.stride_w,
      desc.pad_h,    desc.pad_w,      desc.dilation_h, desc.dilation_w, desc.bits,
      desc.pad_code};
  const auto size = static_cast<size_t>(weight_bytes);
  const uint64_t hash = hash_bytes(desc.weights, size);
  return convs.find_or_add(
      [&](const ConvEntry& e) {
        return e.table == table && e.weight_hash == hash && e.geometry == geometry &&
               std::memcmp(e.weights.data(), desc.weights, size) == 0;
      },
      [&] {
        return ConvEntry{table, geometry, hash,
                         std::vector<uint8_t>(desc.weights, desc.weights + size),
                         std::make_shared<const kernels::LutConv2d>(kernels::LutConv2d::create(desc))};
      });
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
