// Scalar ground truth for the MADDness kernels: plain loops over the unpacked trees and tables.
#include <array>
#include <vector>

#include "core/error.h"
#include "kernels/cpu/maddness_impl.h"

namespace axnn::kernels {

void maddness_encode_ref(const MaddnessEncoderDesc& desc, const float* x, int64_t n, int64_t ldx,
                         uint8_t* codes, int64_t ldcodes) {
  check_maddness_desc(desc);
  if (ldx == 0) ldx = desc.d;
  if (ldcodes == 0) ldcodes = desc.c;
  const int64_t nodes = (int64_t{1} << desc.depth) - 1;  // internal nodes per tree
  for (int64_t i = 0; i < n; ++i) {
    const float* row = x + i * ldx;
    for (int64_t c = 0; c < desc.c; ++c) {
      int64_t node = 0;  // heap index
      for (int l = 0; l < desc.depth; ++l) {
        const float v = row[desc.split_dims[c * desc.depth + l]];
        node = 2 * node + 1 + (v > desc.thresholds[c * nodes + node] ? 1 : 0);
      }
      codes[i * ldcodes + c] = static_cast<uint8_t>(node - nodes);
    }
  }
}

void maddness_decode_ref(const MaddnessDecoderDesc& desc, const uint8_t* codes, int64_t n,
                         int64_t ldcodes, int32_t* dst, int64_t ldd) {
  check_maddness_desc(desc);
  AXNN_CHECK(!desc.lut_int8.empty(), "maddness_decode_ref: int32 output needs lut_int8");
  if (ldcodes == 0) ldcodes = desc.c;
  if (ldd == 0) ldd = n;
  const int64_t group = int64_t{1} << desc.average_levels;
  std::array<int32_t, kMaddnessLeaves> avg{};
  for (int64_t i = 0; i < n; ++i) {
    const uint8_t* code = codes + i * ldcodes;
    for (int64_t j = 0; j < desc.m; ++j) {
      int64_t sum = 0;  // of the groups' averages of u = e + 128
      for (int64_t g = 0; g < desc.c; g += group) {
        for (int64_t t = 0; t < group; ++t) {
          const int64_t c = g + t;
          avg[t] = desc.lut_int8[(c * kMaddnessLeaves + (code[c] & 15)) * desc.m + j] + 128;
        }
        for (int64_t width = group; width > 1; width /= 2)
          for (int64_t t = 0; t < width / 2; ++t) avg[t] = (avg[2 * t] + avg[2 * t + 1] + 1) >> 1;
        sum += avg[0];
      }
      dst[j * ldd + i] = static_cast<int32_t>(group * sum - 128 * desc.c);
    }
  }
}

void maddness_decode_ref(const MaddnessDecoderDesc& desc, const uint8_t* codes, int64_t n,
                         int64_t ldcodes, float* dst, int64_t ldd) {
  check_maddness_desc(desc);
  AXNN_CHECK(!desc.lut_fp32.empty(), "maddness_decode_ref: fp32 output needs lut_fp32");
  if (ldcodes == 0) ldcodes = desc.c;
  if (ldd == 0) ldd = n;
  for (int64_t i = 0; i < n; ++i) {
    const uint8_t* code = codes + i * ldcodes;
    for (int64_t j = 0; j < desc.m; ++j) {
      float sum = 0.0f;
      for (int64_t c = 0; c < desc.c; ++c)
        sum += desc.lut_fp32[(c * kMaddnessLeaves + (code[c] & 15)) * desc.m + j];
      dst[j * ldd + i] = sum;
    }
  }
}

namespace {

// The ref impls own copies of the trees and tables and run the functions above on them.
class MaddnessEncoderRef final : public MaddnessEncoder::Impl {
 public:
  explicit MaddnessEncoderRef(const MaddnessEncoderDesc& desc)
      : Impl(desc.d, desc.c),
        depth_(desc.depth),
        split_dims_(desc.split_dims.begin(), desc.split_dims.end()),
        thresholds_(desc.thresholds.begin(), desc.thresholds.end()) {}

  std::string_view name() const override { return "ref"; }

  void encode(const float* x, int64_t n, int64_t ldx, uint8_t* codes,
              int64_t ldcodes) const override {
    MaddnessEncoderDesc desc;
    desc.d = d();
    desc.c = c();
    desc.depth = depth_;
    desc.split_dims = split_dims_;
    desc.thresholds = thresholds_;
    maddness_encode_ref(desc, x, n, ldx, codes, ldcodes);
  }

 private:
  int depth_;
  std::vector<int32_t> split_dims_;
  std::vector<float> thresholds_;
};

class MaddnessDecoderRef final : public MaddnessDecoder::Impl {
 public:
  explicit MaddnessDecoderRef(const MaddnessDecoderDesc& desc)
      : Impl(desc.c, desc.m, !desc.lut_fp32.empty()),
        average_levels_(desc.average_levels),
        lut_int8_(desc.lut_int8.begin(), desc.lut_int8.end()),
        lut_fp32_(desc.lut_fp32.begin(), desc.lut_fp32.end()) {}

  std::string_view name() const override { return "ref"; }
  int64_t scratch_bytes() const override { return 0; }

  void decode(const uint8_t* codes, int64_t n, int64_t ldcodes, int32_t* dst, int64_t ldd,
              uint8_t*) const override {
    maddness_decode_ref(desc(), codes, n, ldcodes, dst, ldd);
  }
  void decode(const uint8_t* codes, int64_t n, int64_t ldcodes, float* dst, int64_t ldd,
              uint8_t*) const override {
    maddness_decode_ref(desc(), codes, n, ldcodes, dst, ldd);
  }

 private:
  MaddnessDecoderDesc desc() const {
    MaddnessDecoderDesc desc;
    desc.c = c();
    desc.m = m();
    desc.lut_int8 = lut_int8_;
    desc.lut_fp32 = lut_fp32_;
    desc.average_levels = average_levels_;
    return desc;
  }

  int average_levels_;
  std::vector<int8_t> lut_int8_;
  std::vector<float> lut_fp32_;
};

}  // namespace

std::shared_ptr<const MaddnessEncoder::Impl> make_maddness_encoder_ref(
    const MaddnessEncoderDesc& desc) {
  return std::make_shared<const MaddnessEncoderRef>(desc);
}

std::shared_ptr<const MaddnessDecoder::Impl> make_maddness_decoder_ref(
    const MaddnessDecoderDesc& desc) {
  return std::make_shared<const MaddnessDecoderRef>(desc);
}

}  // namespace axnn::kernels
