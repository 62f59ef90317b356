// The CUDA kernel families (LUT-GEMM, LUT-conv, MADDness encode / decode) behind a host API that
// needs no CUDA header: every pointer is device memory, `stream` is a cudaStream_t (nullptr: the
// legacy default stream). The contracts are those of the CPU kernels and their _ref twins
// (lut_gemm.h, lut_conv.h, maddness.h), bit for bit; the layouts, tiling and table storage are in
// the block comments of the .cu files. Launches are asynchronous; a bad argument or a failed
// launch throws axnn::Error naming it (kernel faults surface at the caller's next synchronisation).
#pragma once

#include <cstdint>
#include <string>

namespace axnn::kernels::cuda {

// Whether a CUDA device is usable here; when not, `why` (if given) says what is missing (no
// driver, no device).
bool device_available(std::string* why = nullptr);

// How a 2^bits x 2^bits table is held in shared memory: entries minus `base` as uint16 when their
// span allows (the sum adds K * base back, exactly, modulo 2^32), int32 otherwise; an 8-bit
// int32 table (256 KiB) exceeds shared memory and is read through the L1 cache instead.
enum class LutStorage { kOffset16, kShared32, kGlobal32 };
LutStorage lut_storage(int bits, int32_t table_min, int32_t table_max);
const char* lut_storage_name(LutStorage storage);  // "offset16", "shared32", "global32"

// C[s][m][n] = sum_k table[A[s][m][k]][B[s][k][n]] for s < batch, as lut_gemm_ref per slice.
struct LutGemmArgs {
  const int32_t* table = nullptr;  // [2^bits][2^bits], indexed [a code][b code]
  int bits = 8;
  int32_t table_min = 0, table_max = 0;  // the table's extreme entries (they pick the storage)
  const uint8_t* a = nullptr;            // codes, only the low `bits` bits are read
  const uint8_t* b = nullptr;
  int32_t* c = nullptr;
  int64_t m = 0, n = 0, k = 0;
  int64_t lda = 0, ldb = 0, ldc = 0;  // row strides in elements; 0 means k, n, n
  int64_t batch = 1;
  int64_t batch_stride_a = 0, batch_stride_b = 0, batch_stride_c = 0;  // 0: shared by the slices
  void* stream = nullptr;
};
void lut_gemm_cuda(const LutGemmArgs& args);

// dst[n][o][y][x] = sum_{c,i,j} table[w[o][c][i][j]][src[n][g c][iy][ix]], as LutConv2d (the table
// indexed by the weight code first, a padded position reading pad_code): an implicit GEMM over
// the whole batch in one launch per call, no im2col in global memory.
struct LutConv2dArgs {
  int64_t batch = 0, channels = 0, height = 0, width = 0;
  int64_t out_channels = 0, kh = 0, kw = 0;
  int64_t groups = 1;
  int64_t stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, dilation_h = 1, dilation_w = 1;
  const int32_t* table = nullptr;  // [2^bits][2^bits], indexed [w code][x code]
  int bits = 8;
  int32_t table_min = 0, table_max = 0;
  int pad_code = 0;
  const uint8_t* src = nullptr;      // [batch][channels][height][width]
  const uint8_t* weights = nullptr;  // [out_channels][channels / groups][kh][kw]
  int32_t* dst = nullptr;            // [batch][out_channels][out_h][out_w]
  void* stream = nullptr;
};
int64_t lut_conv2d_out_height(const LutConv2dArgs& args);
int64_t lut_conv2d_out_width(const LutConv2dArgs& args);
void lut_conv2d_cuda(const LutConv2dArgs& args);

// MADDness encode, as maddness_encode_ref: x [n][d] fp32 (row stride ldx, 0 means d) to codes
// [n][c] (row stride ldcodes, 0 means c); split_dims [c][depth], thresholds [c][2^depth - 1].
struct MaddnessEncodeArgs {
  const float* x = nullptr;
  int64_t n = 0, d = 0, c = 0, ldx = 0, ldcodes = 0;
  int depth = 4;
  const int32_t* split_dims = nullptr;
  const float* thresholds = nullptr;
  uint8_t* codes = nullptr;
  void* stream = nullptr;
};
void maddness_encode_cuda(const MaddnessEncodeArgs& args);

// MADDness decode, as maddness_decode_ref: codes [n][c] to dst [m][n] (row stride ldd, 0 means
// n) from tables [c][16][m]: int8 entries summed exactly into int32 (optionally with the
// averaging trick over 2^average_levels codebooks), or fp32 entries added in codebook order.
struct MaddnessDecodeArgs {
  const uint8_t* codes = nullptr;
  int64_t n = 0, c = 0, m = 0, ldcodes = 0, ldd = 0;
  const int8_t* lut_int8 = nullptr;  // exactly one of the two tables
  const float* lut_fp32 = nullptr;
  int average_levels = 0;
  int32_t* dst_int32 = nullptr;  // with lut_int8
  float* dst_fp32 = nullptr;     // with lut_fp32
  void* stream = nullptr;
};
void maddness_decode_cuda(const MaddnessDecodeArgs& args);

}  // namespace axnn::kernels::cuda
