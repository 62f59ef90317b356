// The LUT-conv kernel's operand policy ConvOp (lut_conv_cuda.cu has the implicit GEMM and the
// gathering) and its launch geometry as plain functions. Included by lut_conv_cuda.cu and by the
// host emulation (tests/cuda/emulated), which launches the same templates with the same geometry.
#pragma once

#include "kernels/cuda/lut_tile.cuh"

namespace axnn::kernels::cuda::detail {
namespace {  // internal linkage, as in the one .cu file that includes it

struct KInfo {
  int64_t offset;  // c H W + i D_h W + j D_w
  int64_t ih;      // i D_h
  int64_t jw;      // j D_w
};
static_assert(sizeof(KInfo) == 24, "kConvExtraBytes assumes 24-byte KInfo");

struct ConvOp {
  static constexpr int kExtraBytes = kConvExtraBytes;

  const int32_t* table;
  int bits;
  int32_t base;
  int64_t k;  // Cg KH KW
  ConvParams p;
  int64_t group_channels, group_out, positions, columns;  // Cg, O / groups, OH OW, batch OH OW
  // Per tile.
  int64_t g, m0;
  const uint8_t* w;  // the group's weights, [group_out][k]
  int64_t q_base;    // offset in src of the column's window corner (for c = i = j = 0)
  int64_t iy0, ix0;  // the window corner
  bool q_ok;

  static __device__ KInfo* kinfo(unsigned char* extra, int buffer) {
    return reinterpret_cast<KInfo*>(extra) + buffer * kTileK;
  }
  static __device__ const KInfo* kinfo(const unsigned char* extra, int buffer) {
    return reinterpret_cast<const KInfo*>(extra) + buffer * kTileK;
  }
  static __device__ int64_t* out_offsets(unsigned char* extra) {
    return reinterpret_cast<int64_t*>(extra + 2 * kTileK * sizeof(KInfo));
  }
  static __device__ const int64_t* out_offsets(const unsigned char* extra) {
    return reinterpret_cast<const int64_t*>(extra + 2 * kTileK * sizeof(KInfo));
  }

  __device__ void begin_tile(int64_t slice, int64_t tile_m0, int64_t tile_n0, unsigned char* extra,
                             int tid) {
    g = slice;
    m0 = tile_m0;
    w = p.weights + g * group_out * k;
    const int64_t q = tile_n0 + tid % kTileN;
    q_ok = q < columns;
    int64_t out = -1;
    q_base = 0;
    iy0 = 0;
    ix0 = 0;
    if (q_ok) {
      const int64_t image = q / positions, pos = q % positions;
      const int64_t y = pos / p.out_w, x = pos % p.out_w;
      iy0 = y * p.stride_h - p.pad_h;
      ix0 = x * p.stride_w - p.pad_w;
      q_base = (image * p.channels + g * group_channels) * p.height * p.width + iy0 * p.width + ix0;
      out = (image * p.out_channels + g * group_out) * positions + pos;
    }
    if (tid < kTileN) out_offsets(extra)[tid] = out;
  }

  __device__ void prepare_k(int64_t k0, int buffer, unsigned char* extra, int tid) const {
    if (tid >= kTileK) return;
    const int64_t kk = k0 + tid;
    KInfo info{0, INT64_MIN / 2, 0};  // beyond K: never read into a sum
    if (kk < k) {
      const int64_t window = p.kh * p.kw;
      const int64_t c = kk / window, r = kk % window;
      const int64_t i = r / p.kw, j = r % p.kw;
      info.ih = i * p.dilation_h;
      info.jw = j * p.dilation_w;
      info.offset = c * p.height * p.width + info.ih * p.width + info.jw;
    }
    kinfo(extra, buffer)[tid] = info;
  }

  template <int kEntry>
  __device__ void load(int64_t k0, int buffer, const unsigned char* extra, int tid,
                       uint32_t (&ra)[kARowsPerThread], uint32_t (&rb)[kBRowsPerThread]) const {
    const uint32_t mask = (1u << bits) - 1;
    const int64_t m = m0 + tid % kTileM;
    const bool m_ok = m < group_out;
    const uint8_t* w_row = w + m * k;
#pragma unroll
    for (int i = 0; i < kARowsPerThread; ++i) {
      const int64_t kk = k0 + tid / kTileM + i * (kThreads / kTileM);
      const uint32_t code = m_ok && kk < k ? __ldg(w_row + kk) & mask : 0u;
      ra[i] = (code << bits) * kEntry;
    }
    const KInfo* info = kinfo(extra, buffer);
    const uint32_t pad = static_cast<uint32_t>(p.pad_code);
#pragma unroll
    for (int i = 0; i < kBRowsPerThread; ++i) {
      const int row = tid / kTileN + i * (kThreads / kTileN);
      const KInfo ki = info[row];
      uint32_t code = pad;
      if (q_ok && k0 + row < k) {
        const int64_t iy = iy0 + ki.ih, ix = ix0 + ki.jw;
        if (iy >= 0 && iy < p.height && ix >= 0 && ix < p.width)
          code = __ldg(p.src + q_base + ki.offset) & mask;
      }
      rb[i] = code * kEntry;
    }
  }

  __device__ void store(int64_t m, int col, int64_t tile_n0, uint32_t value, bool atomic,
                        const unsigned char* extra) const {
    const int64_t out = out_offsets(extra)[col];
    if (m < group_out && out >= 0) put(p.dst + out + m * positions, value, atomic);
  }
};

// The tile engine's operand for a launch.
inline ConvOp make_conv_op(const ConvParams& p) {
  ConvOp op{};
  op.table = p.table;
  op.bits = p.bits;
  op.base = p.base;
  op.p = p;
  op.group_channels = p.channels / p.groups;
  op.group_out = p.out_channels / p.groups;
  op.k = op.group_channels * p.kh * p.kw;
  op.positions = p.out_h * p.out_w;
  op.columns = p.batch * op.positions;
  return op;
}

// The groups are the slices.
inline Work plan_conv_work(const ConvOp& op, int64_t slots) {
  return plan_work(op.p.groups, op.group_out, op.columns, op.k, slots);
}

inline int64_t conv_output_elements(const ConvParams& p) {
  return p.batch * p.out_channels * p.out_h * p.out_w;
}

}  // namespace
}  // namespace axnn::kernels::cuda::detail
