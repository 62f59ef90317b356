// The multiplier model: a b-bit (2..8) signed or unsigned multiplier known exactly by its table.
//
// Codes are raw bit patterns 0..2^b-1; for a signed multiplier value(code) is two's complement.
// lut[x_code][w_code] is the product, the first operand the activation (EvoApprox port A, TRAM
// IN1), the second the weight (port B). See DESIGN.md section 2.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace axnn {

// "signed" or "unsigned": the one spelling of a signedness in names, messages and help texts.
constexpr std::string_view signedness_name(bool is_signed) {
  return is_signed ? "signed" : "unsigned";
}

struct MultiplierMeta {
  std::optional<double> relative_power;  // the exact multiplier of same width and signedness = 1.0
  std::optional<double> power_mw;
  std::optional<double> area_um2;
  std::optional<double> delay_ns;
  std::string source;       // where it came from: generator call, file, library and branch
  std::string description;  // free text
};

class Multiplier {
 public:
  static constexpr int kMinBits = 2;
  static constexpr int kMaxBits = 8;

  // lut has 2^bits * 2^bits entries, row-major [x_code][w_code]. Throws axnn::Error on a bad width
  // or table size, naming the multiplier.
  Multiplier(std::string name, int bits, bool is_signed, std::vector<int32_t> lut,
             MultiplierMeta meta = {});

  const std::string& name() const { return name_; }
  int bits() const { return bits_; }
  bool is_signed() const { return signed_; }
  int codes() const { return 1 << bits_; }  // 2^bits
  std::span<const int32_t> lut() const { return lut_; }
  int32_t at(int x_code, int w_code) const { return lut_[(x_code << bits_) | w_code]; }
  const MultiplierMeta& meta() const { return meta_; }
  MultiplierMeta& meta() { return meta_; }
  void set_name(std::string name) { name_ = std::move(name); }

  // The operand value a code stands for (two's complement for signed multipliers).
  int value(int code) const { return code_value(code, bits_, signed_); }
  // The code of an operand value; the value must lie in [min_value(), max_value()].
  int code(int value) const { return value & (codes() - 1); }
  int min_value() const { return signed_ ? -(1 << (bits_ - 1)) : 0; }
  int max_value() const { return signed_ ? (1 << (bits_ - 1)) - 1 : (1 << bits_) - 1; }

  static int code_value(int code, int bits, bool is_signed) {
    return (is_signed && code >= (1 << (bits - 1))) ? code - (1 << bits) : code;
  }

 private:
  std::string name_;
  int bits_;
  bool signed_;
  std::vector<int32_t> lut_;
  MultiplierMeta meta_;
};

}  // namespace axnn
