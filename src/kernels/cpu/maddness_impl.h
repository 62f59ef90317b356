// Internal interface between MaddnessEncoder / MaddnessDecoder and their per-ISA implementations.
//
// The dispatcher (maddness.cpp) validates every argument, splits the rows of a run over the OpenMP
// team and hands each thread one contiguous range with its own scratch, so an impl is
// single-threaded code over rows [0, n) that never throws.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>

#include "kernels/maddness.h"

namespace axnn::kernels {

// Packed trees, ready to run. Built once by a factory; encode() is const and may be called
// concurrently.
class MaddnessEncoder::Impl {
 public:
  Impl(int64_t d, int64_t c) : d_(d), c_(c) {}
  virtual ~Impl() = default;
  virtual std::string_view name() const = 0;
  // n >= 1 rows; ldx >= d and ldcodes >= c are resolved.
  virtual void encode(const float* x, int64_t n, int64_t ldx, uint8_t* codes,
                      int64_t ldcodes) const = 0;
  int64_t d() const { return d_; }
  int64_t c() const { return c_; }

 private:
  int64_t d_;
  int64_t c_;
};

// Packed tables, ready to run. Only the decode() overload of the table type is ever called.
class MaddnessDecoder::Impl {
 public:
  Impl(int64_t c, int64_t m, bool fp32) : c_(c), m_(m), fp32_(fp32) {}
  virtual ~Impl() = default;
  virtual std::string_view name() const = 0;
  // Bytes of 64-byte aligned per-thread scratch that decode() may use; the same for every call.
  virtual int64_t scratch_bytes() const = 0;
  // n >= 1 rows of codes; dst holds output columns 0 .. n - 1 of its m rows; ldcodes >= c and
  // ldd >= n are resolved.
  virtual void decode(const uint8_t* codes, int64_t n, int64_t ldcodes, int32_t* dst, int64_t ldd,
                      uint8_t* scratch) const = 0;
  virtual void decode(const uint8_t* codes, int64_t n, int64_t ldcodes, float* dst, int64_t ldd,
                      uint8_t* scratch) const = 0;
  int64_t c() const { return c_; }
  int64_t m() const { return m_; }
  bool fp32() const { return fp32_; }

 private:
  int64_t c_;
  int64_t m_;
  bool fp32_;
};

// Throw axnn::Error naming the field at fault; shared by create() and the _ref functions.
void check_maddness_desc(const MaddnessEncoderDesc& desc);
void check_maddness_desc(const MaddnessDecoderDesc& desc);

// Factories, one per ISA file, over a validated desc. The AVX-512 decoder sums the looked-up bytes
// with vpdpbusd when `vnni` (the CPU has AVX512_VNNI, which the kAvx512 level does not imply), else
// with an exact vpmaddubsw + vpmaddwd pair.
std::shared_ptr<const MaddnessEncoder::Impl> make_maddness_encoder_avx512(
    const MaddnessEncoderDesc& desc);
std::shared_ptr<const MaddnessEncoder::Impl> make_maddness_encoder_avx2(
    const MaddnessEncoderDesc& desc);
std::shared_ptr<const MaddnessEncoder::Impl> make_maddness_encoder_ref(
    const MaddnessEncoderDesc& desc);
std::shared_ptr<const MaddnessDecoder::Impl> make_maddness_decoder_avx512(
    const MaddnessDecoderDesc& desc, bool vnni);
std::shared_ptr<const MaddnessDecoder::Impl> make_maddness_decoder_avx2(
    const MaddnessDecoderDesc& desc);
std::shared_ptr<const MaddnessDecoder::Impl> make_maddness_decoder_ref(
    const MaddnessDecoderDesc& desc);

}  // namespace axnn::kernels
