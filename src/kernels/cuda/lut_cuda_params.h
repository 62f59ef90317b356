// The parameters of the CUDA kernels (resolved and checked by lut_cuda.cpp) and the tile
// constants, without any CUDA header: the kernels (*.cuh), the launch code (*.cu), the host API
// and the host emulation of the kernels (tests/cuda/emulated) all include it.
#pragma once

#include <cstdint>

namespace axnn::kernels::cuda::detail {

// Table storage, as LutStorage in lut_cuda.h (same values).
enum class Storage : int { kOffset16 = 0, kShared32 = 1, kGlobal32 = 2 };

// The block tile of the LUT-GEMM / LUT-conv kernels (lut_gemm_cuda.cu describes the tiling).
inline constexpr int kTileM = 64;
inline constexpr int kTileN = 128;
inline constexpr int kTileK = 32;
inline constexpr int kThreads = 256;

struct GemmParams {
  const int32_t* table;
  int bits;
  Storage storage;
  int32_t base;  // table_min, subtracted from every entry of an offset16 table
  const uint8_t* a;
  const uint8_t* b;
  int32_t* c;
  int64_t m, n, k, lda, ldb, ldc;
  int64_t batch, batch_stride_a, batch_stride_b, batch_stride_c;
};

struct ConvParams {
  const int32_t* table;
  int bits;
  Storage storage;
  int32_t base;
  int pad_code;
  const uint8_t* src;
  const uint8_t* weights;
  int32_t* dst;
  int64_t batch, channels, height, width, out_channels, kh, kw, groups;
  int64_t stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w;
  int64_t out_h, out_w;
};

struct EncodeParams {
  const float* x;
  int64_t n, d, c, ldx, ldcodes;
  int depth;
  const int32_t* split_dims;
  const float* thresholds;
  uint8_t* codes;
};

struct DecodeParams {
  const uint8_t* codes;
  int64_t n, c, m, ldcodes, ldd;
  const int8_t* lut_int8;
  const float* lut_fp32;
  int average_levels;
  int32_t* dst_int32;
  float* dst_fp32;
};

// The storage of a table with these extremes (lut_storage in lut_cuda.h): uint16 offsets when the
// span allows, else int32 in shared memory up to 7 bits (64 KiB), else through the L1 cache.
inline Storage choose_storage(int bits, int32_t table_min, int32_t table_max) {
  const int64_t span = int64_t{table_max} - int64_t{table_min};
  if (span <= 65535) return Storage::kOffset16;
  if (bits <= 7) return Storage::kShared32;
  return Storage::kGlobal32;
}

}  // namespace axnn::kernels::cuda::detail
