// The interface between test_lut_cuda_emulated.cpp and the emulation program it builds at run
// time (emulated_kernels.inc: the kernels of src/kernels/cuda under tests/common/cuda_emulation.h).
#pragma once

#include <cstdint>

#include "kernels/cuda/lut_cuda_params.h"

namespace axnn::kernels::cuda::emulated {

// The GPU whose launch geometry the emulation computes, as the launch code would query it.
struct Gpu {
  int multiprocessors = 2;
  int blocks_per_sm = 1;      // the tile kernel's occupancy: slots = multiprocessors * this
  int optin_shared = 232448;  // cudaDevAttrMaxSharedMemoryPerBlockOptin (H200: 227 KiB)
  int64_t splits = 0;         // 0: plan_work's choice; else K forced into this many ranges
};

// What a launch did.
struct Launched {
  int status = 0;  // 0; 1: some threads of a block ended while others waited at a barrier
  int storage = -1;
  int shared_bytes = 0;
  int64_t grid = 0;
  int64_t splits = 0;
};

extern "C" {
using EmulateGemm = void(const detail::GemmParams*, const Gpu*, Launched*);
using EmulateConv = void(const detail::ConvParams*, const Gpu*, Launched*);
using EmulateEncode = void(const detail::EncodeParams*, const Gpu*, Launched*);
using EmulateDecode = void(const detail::DecodeParams*, const Gpu*, Launched*);
}

}  // namespace axnn::kernels::cuda::emulated
