// Multiplier file formats, read and write. Every malformed file gives one axnn::Error naming the
// file, the line (where the format has lines) and the problem.
//
//   axm       our own: a versioned header line, JSON metadata, then the table
//   header    the TransAxx / AdaPT C header: `const [__device__] short|int16_t lut[256][256] = {...};`
//   tfapprox  TFApprox binary: 65536 little-endian uint16, index a*256+b
//   tram      TRAM text LUT: "LUT for approximate multiplier:" then 2^(2b) "a b p" lines
//   csv       one "x,w,product" row per code pair, values as signed/unsigned operand values
#pragma once

#include <filesystem>
#include <optional>
#include <string_view>

#include "mult/multiplier.h"

namespace axnn {

enum class MultFormat { kAxm, kHeader, kTfApprox, kTram, kCsv };

std::string_view format_name(MultFormat format);
MultFormat parse_format(std::string_view name);  // throws naming the value and the known names
// From the extension: .axm, .h/.hpp/.cuh, .bin, .txt (tram), .csv; throws for anything else.
MultFormat format_from_path(const std::filesystem::path& path);

// What the file cannot say by itself (formats without a width or signedness in them).
struct ReadOptions {
  std::optional<bool> is_signed;  // header: default signed; tfapprox: default unsigned
  std::optional<std::string> name;  // default: the file's stem
};

Multiplier read_multiplier(const std::filesystem::path& path,
                           std::optional<MultFormat> format = std::nullopt,
                           const ReadOptions& options = {});
// Writes atomically (temp file + rename). Formats fixed at 8 bits (header, tfapprox) reject other
// widths with a clear error.
void write_multiplier(const Multiplier& mult, const std::filesystem::path& path,
                      std::optional<MultFormat> format = std::nullopt);

}  // namespace axnn
