// Multiplier file formats, read and write. Every malformed file gives one axnn::Error naming the
// file, the line (where the format has lines) and the problem. Rows are always the activation.
//
//   axm       our own, exact and diff-friendly: "axnn-multiplier 1", one line of JSON metadata
//             (name, bits, signed, relative_power, power_mw, area_um2, delay_ns, source,
//             description), then 2^b lines of 2^b integers, line x holding lut[x][0..2^b-1]
//   header    the TransAxx / AdaPT C header,
//             `const [__device__] short|int16_t lut[256][256] = {...};`, rows the activation's
//             uint8 bit pattern; short / int16_t elements hold signed tables, unsigned short /
//             uint16_t elements unsigned ones (axnn writes those so, as their products reach 65025)
//   tfapprox  TFApprox binary: 65536 little-endian uint16, index a*256+b; a signed table stores
//             the int16 bit pattern. Nothing in the file says which, so reading one needs
//             ReadOptions.is_signed
//   tram      TRAM text LUT: log lines, "LUT for approximate multiplier:", then 2^(2b) "a b p"
//             lines of operand values (signed: 0..2^(b-1)-1 then -2^(b-1)..-1)
//   csv       "x,w,product" then one row per code pair, operands as signed/unsigned values
// tram and csv take the width from the entry count and the signedness from negative operands;
// every pair must appear exactly once. The text formats must end with a newline. axm metadata
// quantities (relative_power, power_mw, area_um2, delay_ns) are finite numbers >= 0 or null, and
// no metadata key may appear twice.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "mult/multiplier.h"

namespace axnn {

enum class MultFormat { kAxm, kHeader, kTfApprox, kTram, kCsv };

std::string_view format_name(MultFormat format);
MultFormat parse_format(std::string_view name);  // throws naming the value and the known names
// Every format with its extensions, for help texts: "axm (.axm), header (.h/.hpp/.cuh), ...".
std::string formats_help();
// From the extension, in any letter case: .axm, .h/.hpp/.cuh, .bin (tfapprox), .txt (tram), .csv;
// nullopt for anything else.
std::optional<MultFormat> format_from_extension(const std::filesystem::path& path);
// format_from_extension, throwing naming the file and the known extensions for anything else.
MultFormat format_from_path(const std::filesystem::path& path);

// What the file cannot say by itself (formats without a width or signedness in them).
struct ReadOptions {
  // header: from the element type (short / int16_t signed, unsigned short / uint16_t unsigned), a
  // given value must agree with it; tfapprox: required, the file does not record it; tram, csv:
  // default from the operands, and a given value makes operands outside its range an error; axm:
  // must agree with the file.
  std::optional<bool> is_signed;
  std::optional<std::string> name;  // default: the name in an axm file, else the file's stem
};

Multiplier read_multiplier(const std::filesystem::path& path,
                           std::optional<MultFormat> format = std::nullopt,
                           const ReadOptions& options = {});
// Writes atomically (temp file beside the target + rename), so a failed write leaves any previous
// file as it was. Formats fixed at 8 bits (header, tfapprox) reject other widths, and the 16-bit
// ones reject products outside int16 (signed) or uint16 (unsigned), with a clear error. Only axm
// keeps the metadata; a table read from another format gets its file as the source.
void write_multiplier(const Multiplier& mult, const std::filesystem::path& path,
                      std::optional<MultFormat> format = std::nullopt);

}  // namespace axnn
