// The cpu target's schedule space and code generator for fp32 Conv2D.
//
// Generated kernel (one self-contained C++ file, compiled with -O3 -march=native):
// - Layouts: src is plain NCHW; weights are packed once (axnn_conv_pack_weights) from OIHW into
//   [CO/OB][CI][KH][KW][OB], OB = vec * oc_vecs output channels, channels past CO zero; dst is
//   NCHW[vec]c, [N][ceil(CO/vec)][OH][OW][vec] (oneDNN's nChw16c for vec 16), with
//   axnn_conv_unpack_dst to plain NCHW. With padding, each image is first copied into a zeroed
//   [CI][H+2P][W+2P] workspace (timed: it is part of the convolution).
// - Register tile: oh_tile rows x ow_tile columns x oc_vecs vectors of accumulators; per
//   (ci, kh, kw) it loads oc_vecs weight vectors and broadcasts one input value per output
//   position, oc_vecs FMAs each. Tails of OH and OW get their own, smaller tiles.
// - Loop nest over one image (order knob): 0: oc block > ci tile > rows > columns; 1: rows > ci
//   tile > oc block > columns; 2: oc block > rows > ci tile > columns. ci tiles (ic_tile) after
//   the first accumulate into dst. With threads > 1 the outermost loop is split by OpenMP (order
//   2 collapses its two outer loops).
// - Inner loops over kh and kw are runtime loops or unrolled (unroll: 0 none, 1 kw, 2 kh and kw).
#pragma once

#include <string>

#include "tune/space.h"
#include "tune/workload.h"

namespace axnn::tune {

struct CpuInfo {
  int max_vec = 16;   // widest vector in floats: 16 (AVX-512), 8 (AVX2), 4
  int registers = 32; // vector registers
  int cores = 1;
};

// The schedule space of one shape. threads > 0 fixes the thread count knob to that value.
Space cpu_space(const Conv2dShape& shape, const CpuInfo& cpu, int threads);

// The kernel source for a configuration valid in cpu_space(shape, ...). Exports (extern "C"):
// axnn_conv_shape, axnn_conv_{packed_weight,dst,workspace}_floats, axnn_conv_pack_weights,
// axnn_conv_run, axnn_conv_unpack_dst (see kCpuKernelApi).
std::string cpu_kernel_source(const Conv2dShape& shape, const Config& config);

// The declarations of the generated kernel's interface, shared by the loader and the exported
// driver.
extern const char* const kCpuKernelApi;

}  // namespace axnn::tune
