// LUT-conv on the GPU: dst[n][o][y][x] = sum_{c,i,j} table[w[o][c][i][j]][src[n][g Cg + c][iy][ix]]
// with iy = y S_h - P_h + i D_h, ix = x S_w - P_w + j D_w (pad_code outside the input), bit-exact
// to LutConv2d / lut_gemm_ref (uint32 accumulation, wrapping modulo 2^32).
//
// Implicit GEMM. Per group g: M = O / groups output channels (A = the group's OIHW weights, a
// dense [M][K] matrix), K = Cg KH KW (k = (c, i, j)), N = batch OH OW output positions of every
// image (q = (n, y, x)), B[k][q] the im2col matrix, never built in memory: ConvOp gathers each
// staged code from src directly. The groups are the slices of the tile engine (lut_tile.cuh), so
// the whole batch and every group is one launch.
//
// Gathering. At the start of a tile each thread decodes its staged column q = n0 + tid % 128 once
// into (image, y, x), the offset of its window's corner and the corner itself; per k step 32
// threads decode the step's 32 k into (channel offset + row offset + column offset, i D_h, j D_w)
// in shared memory (double-buffered, so that the next step's table can be written while this
// step's gathers read), and every staged code is one bounds test and one byte load. The output
// offset (n O + g M) OH OW + y OW + x of each column is kept in shared memory for the epilogue.
#include "kernels/cuda/lut_tile.cuh"

namespace axnn::kernels::cuda::detail {
namespace {

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

}  // namespace

cudaError_t launch_lut_conv2d(const ConvParams& p, cudaStream_t stream) {
  void (*kernel)(const ConvOp, const Work) = nullptr;
  int shared_bytes = 0;
  int64_t slots = 0;
  cudaError_t err = prepare_launch<ConvOp>(p.storage, p.bits, &kernel, &shared_bytes, &slots);
  if (err != cudaSuccess) return err;
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
  const Work work = plan_work(p.groups, op.group_out, op.columns, op.k, slots);
  if (work.splits > 1) {
    err = cudaMemsetAsync(p.dst, 0, sizeof(int32_t) * p.batch * p.out_channels * op.positions,
                          stream);
    if (err != cudaSuccess) return err;
  }
  const int64_t grid = work.total < slots ? work.total : slots;
  kernel<<<static_cast<unsigned>(grid), kThreads, shared_bytes, stream>>>(op, work);
  return cudaGetLastError();
}

}  // namespace axnn::kernels::cuda::detail
