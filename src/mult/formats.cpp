// Multiplier file formats. Every reader parses and checks the whole file before it builds the
// Multiplier, so a bad file gives one axnn::Error and never a partial or silently wrong table.
#include "mult/formats.h"

#include <fcntl.h>
#include <fmt/ranges.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>
#include <vector>

#include "core/error.h"

namespace axnn {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kAxmMagic = "axnn-multiplier";
constexpr int kAxmVersion = 1;
constexpr std::string_view kTramMarker = "LUT for approximate multiplier:";
constexpr std::string_view kCsvHeader = "x,w,product";
constexpr int kFixedBits = 8;  // header and tfapprox tables are always 256 x 256
constexpr int kFixedCodes = 1 << kFixedBits;
constexpr size_t kTfApproxBytes = size_t{2} * kFixedCodes * kFixedCodes;

// Every format once, in MultFormat order: its name and the extensions that select it.
struct FormatInfo {
  std::string_view name;
  std::vector<std::string_view> extensions;  // lower case, with the dot
};

const std::array<FormatInfo, 5>& format_table() {
  static const std::array<FormatInfo, 5> kFormats = {{{"axm", {".axm"}},
                                                      {"header", {".h", ".hpp", ".cuh"}},
                                                      {"tfapprox", {".bin"}},
                                                      {"tram", {".txt"}},
                                                      {"csv", {".csv"}}}};
  return kFormats;
}

std::string format_names() {
  std::vector<std::string_view> names;
  for (const FormatInfo& info : format_table()) names.push_back(info.name);
  return fmt::format("{}", fmt::join(names, ", "));
}

std::string format_extensions() {
  std::vector<std::string_view> extensions;
  for (const FormatInfo& info : format_table()) {
    extensions.insert(extensions.end(), info.extensions.begin(), info.extensions.end());
  }
  return fmt::format("{}", fmt::join(extensions, ", "));
}

// A place in a file for error messages; line 0 where the format has no lines.
struct Where {
  const fs::path& path;
  int line = 0;

  [[noreturn]] void fail(const std::string& what) const {
    if (line > 0) throw Error(fmt::format("file {}, line {}: {}", path.string(), line, what));
    throw Error(fmt::format("file {}: {}", path.string(), what));
  }
};

// Writing errors name the multiplier as well as the file.
[[noreturn]] void fail_write(const Multiplier& mult, const fs::path& path,
                             const std::string& what) {
  throw Error(
      fmt::format("writing multiplier '{}' to file {}: {}", mult.name(), path.string(), what));
}

// Quotes a piece of a file for a message, cut short so a binary or minified file stays readable.
std::string quote(std::string_view text) {
  constexpr size_t kMaxShown = 40;
  std::string out = "'";
  for (char c : text.substr(0, kMaxShown)) {
    out += std::isprint(static_cast<unsigned char>(c)) ? c : '?';
  }
  if (text.size() > kMaxShown) out += "...";
  return out + "'";
}

std::string_view trim(std::string_view s) {
  const auto is_space = [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; };
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

// Lines without their terminator ("\n" or "\r\n"); a final newline ends the last line.
std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    const size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines.push_back(line);
    if (end == std::string_view::npos) break;
    text.remove_prefix(end + 1);
  }
  return lines;
}

std::vector<std::string_view> split_words(std::string_view s) {
  std::vector<std::string_view> words;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
    const size_t start = i;
    while (i < s.size() && s[i] != ' ' && s[i] != '\t') ++i;
    if (i > start) words.push_back(s.substr(start, i - start));
  }
  return words;
}

bool is_blank(std::string_view s) { return trim(s).empty(); }

// Every writer of these text formats ends the file with a newline; without one, a file cut inside
// its last number would still parse, to a silently wrong entry.
void check_final_newline(const fs::path& path, std::string_view text, size_t line_count) {
  if (!text.empty() && text.back() != '\n') {
    Where{path, static_cast<int>(line_count)}.fail(
        "the last line does not end with a newline, so the file may be cut short (add the "
        "newline if the file is complete)");
  }
}

// A whole token as an integer (optional sign, decimal or, where allowed, 0x hex). `what` names
// the value in the message.
int64_t parse_int(const Where& where, std::string_view token, std::string_view what,
                  bool allow_hex = false) {
  std::string_view digits = token;
  const bool negative = !digits.empty() && digits.front() == '-';
  if (!digits.empty() && (digits.front() == '-' || digits.front() == '+')) digits.remove_prefix(1);
  int base = 10;
  if (allow_hex && digits.size() > 2 && digits[0] == '0' &&
      (digits[1] == 'x' || digits[1] == 'X')) {
    base = 16;
    digits.remove_prefix(2);
  }
  uint64_t magnitude = 0;
  const auto [end, ec] =
      std::from_chars(digits.data(), digits.data() + digits.size(), magnitude, base);
  if (digits.empty() || ec == std::errc::invalid_argument || end != digits.data() + digits.size()) {
    where.fail(fmt::format("{} {} is not an integer", what, quote(token)));
  }
  // Anything beyond 2^62 is out of every range a table accepts; the bound keeps negation safe.
  if (ec == std::errc::result_out_of_range || magnitude > (uint64_t{1} << 62)) {
    where.fail(fmt::format("{} {} is out of range", what, token));
  }
  const auto value = static_cast<int64_t>(magnitude);
  return negative ? -value : value;
}

int64_t check_range(const Where& where, int64_t value, int64_t lo, int64_t hi,
                    std::string_view what, std::string_view range_name) {
  if (value < lo || value > hi) {
    where.fail(
        fmt::format("{} {} is outside the {} range {}..{}", what, value, range_name, lo, hi));
  }
  return value;
}

std::string read_file(const fs::path& path) {
  const Where where{path};
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  if (status.type() == fs::file_type::not_found) where.fail("no such file");
  if (ec) where.fail(fmt::format("cannot look at the file: {}", ec.message()));
  if (fs::is_directory(status)) where.fail("is a directory, not a multiplier file");
  std::ifstream in(path, std::ios::binary);
  if (!in) where.fail(fmt::format("cannot open: {}", std::strerror(errno)));
  std::ostringstream content;
  content << in.rdbuf();
  if (in.bad()) where.fail("read error");
  return std::move(content).str();
}

// Writes beside the target and renames over it, so readers never see a half-written file and a
// failed write leaves any previous file untouched.
void write_atomic(const Multiplier& mult, const fs::path& path, std::string_view content) {
  static std::atomic<unsigned> counter{0};
  const fs::path dir = path.has_parent_path() ? path.parent_path() : fs::path(".");
  fs::path tmp;
  int fd = -1;
  while (fd < 0) {
    tmp = dir / fmt::format(".{}.tmp{}-{}", path.filename().string(), ::getpid(), counter++);
    fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 && errno != EEXIST) {
      fail_write(
          mult, path,
          fmt::format("cannot create temporary file {}: {}", tmp.string(), std::strerror(errno)));
    }
  }
  const auto abandon = [&](std::string_view step) {
    const int err = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    fail_write(mult, path, fmt::format("{} {}: {}", step, tmp.string(), std::strerror(err)));
  };
  size_t done = 0;
  while (done < content.size()) {
    const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) abandon("cannot write");
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) abandon("cannot sync");
  if (::close(fd) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    fail_write(mult, path, fmt::format("cannot close {}: {}", tmp.string(), std::strerror(err)));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    fail_write(mult, path,
               fmt::format("cannot rename {} to it: {}", tmp.string(), std::strerror(err)));
  }
}

std::string default_name(const fs::path& path, const ReadOptions& options) {
  return options.name ? *options.name : path.stem().string();
}

MultiplierMeta read_meta(const fs::path& path, MultFormat format) {
  MultiplierMeta meta;
  meta.source = fmt::format("{} file {}", format_name(format), path.string());
  return meta;
}

// ---- axm -----------------------------------------------------------------------------------
//
//   axnn-multiplier 1
//   {"name":"m","bits":2,"signed":true,"relative_power":0.5,...}   one line of JSON
//   0 0 0 0                                                          2^b rows of 2^b integers,
//   ...                                                              row x_code, column w_code

constexpr std::array<std::string_view, 9> kAxmKeys = {"name",           "bits",     "signed",
                                                      "relative_power", "power_mw", "area_um2",
                                                      "delay_ns",       "source",   "description"};

std::string write_axm(const Multiplier& mult, const fs::path& path) {
  nlohmann::ordered_json meta;
  meta["name"] = mult.name();
  meta["bits"] = mult.bits();
  meta["signed"] = mult.is_signed();
  const auto number = [&](std::string_view key, const std::optional<double>& value) {
    // JSON has no NaN or infinity; writing them as null would silently drop the value.
    if (value && !std::isfinite(*value)) {
      fail_write(mult, path, fmt::format("metadata {} is {}, which JSON cannot hold", key, *value));
    }
    meta[std::string(key)] = value ? nlohmann::ordered_json(*value) : nullptr;
  };
  number("relative_power", mult.meta().relative_power);
  number("power_mw", mult.meta().power_mw);
  number("area_um2", mult.meta().area_um2);
  number("delay_ns", mult.meta().delay_ns);
  meta["source"] = mult.meta().source;
  meta["description"] = mult.meta().description;

  std::string out = fmt::format("{} {}\n", kAxmMagic, kAxmVersion);
  try {
    out += meta.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::strict);
  } catch (const nlohmann::ordered_json::exception& e) {
    fail_write(mult, path, fmt::format("metadata is not valid UTF-8 text ({})", e.what()));
  }
  out += '\n';
  auto it = std::back_inserter(out);
  for (int x = 0; x < mult.codes(); ++x) {
    for (int w = 0; w < mult.codes(); ++w) {
      if (w > 0) out += ' ';
      fmt::format_to(it, "{}", mult.at(x, w));
    }
    out += '\n';
  }
  return out;
}

// A metadata quantity: a finite number >= 0, or null / absent for unknown.
std::optional<double> json_quantity(const Where& where, const nlohmann::json& meta,
                                    const char* key) {
  if (!meta.contains(key) || meta[key].is_null()) return std::nullopt;
  if (!meta[key].is_number()) {
    where.fail(fmt::format("metadata field '{}' must be a number or null, found {}", key,
                           meta[key].dump()));
  }
  const auto value = meta[key].get<double>();
  if (!std::isfinite(value) || value < 0) {
    where.fail(fmt::format("metadata field '{}' must be finite and >= 0, found {}", key,
                           meta[key].dump()));
  }
  return value;
}

std::string json_string(const Where& where, const nlohmann::json& meta, const char* key) {
  if (!meta.contains(key) || meta[key].is_null()) return {};
  if (!meta[key].is_string()) {
    where.fail(
        fmt::format("metadata field '{}' must be a string, found {}", key, meta[key].dump()));
  }
  return meta[key].get<std::string>();
}

struct AxmHeader {
  std::string name;
  int bits = 0;
  bool is_signed = false;
  MultiplierMeta meta;
};

// The metadata line of an axm file. nlohmann's own errors (bad JSON, a number out of range such as
// 1e999) come out as axnn::Error naming the file and line like every other problem.
AxmHeader parse_axm_meta(const fs::path& path, std::string_view line, const ReadOptions& options) {
  const Where meta_line{path, 2};
  try {
    // Keys are checked while parsing: nlohmann keeps the last of duplicated keys, silently.
    std::vector<std::string> keys;
    std::string duplicate;
    const nlohmann::json::parser_callback_t check_keys =
        [&](int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
          if (event == nlohmann::json::parse_event_t::key && depth == 1) {
            const auto& key = parsed.get_ref<const std::string&>();
            if (duplicate.empty() && std::find(keys.begin(), keys.end(), key) != keys.end()) {
              duplicate = key;
            }
            keys.push_back(key);
          }
          return true;
        };
    const nlohmann::json meta = nlohmann::json::parse(line, check_keys);
    if (!meta.is_object()) meta_line.fail("metadata must be a JSON object");
    if (!duplicate.empty()) {
      meta_line.fail(fmt::format("metadata field '{}' appears more than once", duplicate));
    }
    for (const auto& item : meta.items()) {
      // A misspelt key would otherwise drop its value without a word.
      if (std::find(kAxmKeys.begin(), kAxmKeys.end(), item.key()) == kAxmKeys.end()) {
        meta_line.fail(fmt::format("unknown metadata field '{}' (known: {})", item.key(),
                                   fmt::join(kAxmKeys, ", ")));
      }
    }
    if (!meta.contains("bits") || !meta["bits"].is_number_integer()) {
      meta_line.fail(fmt::format("metadata field 'bits' must be an integer, found {}",
                                 meta.contains("bits") ? meta["bits"].dump() : "nothing"));
    }
    AxmHeader header;
    header.bits =
        static_cast<int>(check_range(meta_line, meta["bits"].get<int64_t>(), Multiplier::kMinBits,
                                     Multiplier::kMaxBits, "bit width", "supported"));
    if (!meta.contains("signed") || !meta["signed"].is_boolean()) {
      meta_line.fail(fmt::format("metadata field 'signed' must be true or false, found {}",
                                 meta.contains("signed") ? meta["signed"].dump() : "nothing"));
    }
    header.is_signed = meta["signed"].get<bool>();
    if (options.is_signed && *options.is_signed != header.is_signed) {
      meta_line.fail(fmt::format("the file holds {} {} multiplier, but it was asked for as {}",
                                 header.is_signed ? "a" : "an", signedness_name(header.is_signed),
                                 signedness_name(*options.is_signed)));
    }
    header.name = json_string(meta_line, meta, "name");
    header.meta.relative_power = json_quantity(meta_line, meta, "relative_power");
    header.meta.power_mw = json_quantity(meta_line, meta, "power_mw");
    header.meta.area_um2 = json_quantity(meta_line, meta, "area_um2");
    header.meta.delay_ns = json_quantity(meta_line, meta, "delay_ns");
    header.meta.source = json_string(meta_line, meta, "source");
    header.meta.description = json_string(meta_line, meta, "description");
    return header;
  } catch (const nlohmann::json::parse_error& e) {
    meta_line.fail(fmt::format("metadata is not valid JSON ({})", e.what()));
  } catch (const nlohmann::json::exception& e) {
    meta_line.fail(fmt::format("metadata cannot be read ({})", e.what()));
  }
}

Multiplier read_axm(const fs::path& path, std::string_view text, const ReadOptions& options) {
  const std::vector<std::string_view> lines = split_lines(text);
  if (std::all_of(lines.begin(), lines.end(), is_blank)) Where{path}.fail("the file is empty");

  const Where first{path, 1};
  const std::vector<std::string_view> magic = split_words(lines[0]);
  if (magic.size() != 2 || magic[0] != kAxmMagic) {
    first.fail(fmt::format("expected '{} {}', found {}", kAxmMagic, kAxmVersion, quote(lines[0])));
  }
  const int64_t version = parse_int(first, magic[1], "axm version");
  if (version != kAxmVersion) {
    Where{path}.fail(fmt::format("axm version {} is not supported (this axnn reads version {})",
                                 version, kAxmVersion));
  }
  check_final_newline(path, text, lines.size());

  if (lines.size() < 2) Where{path, 2}.fail("the metadata line is missing");
  AxmHeader header = parse_axm_meta(path, lines[1], options);
  const int bits = header.bits;
  const bool is_signed = header.is_signed;
  std::string name = options.name ? *options.name : std::move(header.name);
  if (name.empty()) name = path.stem().string();

  const int codes = 1 << bits;
  std::vector<int32_t> lut(size_t{1} << (2 * bits));
  for (int x = 0; x < codes; ++x) {
    const Where where{path, 3 + x};
    if (static_cast<size_t>(x) + 2 >= lines.size()) {
      where.fail(fmt::format("the table ends after {} of {} rows", x, codes));
    }
    const std::vector<std::string_view> row = split_words(lines[2 + x]);
    if (row.size() != static_cast<size_t>(codes)) {
      where.fail(fmt::format("table row {} has {} values, a {}-bit table needs {}", x, row.size(),
                             bits, codes));
    }
    for (int w = 0; w < codes; ++w) {
      const std::string what = fmt::format("lut[{}][{}]", x, w);
      lut[(static_cast<size_t>(x) << bits) | w] = static_cast<int32_t>(
          check_range(where, parse_int(where, row[w], what), std::numeric_limits<int32_t>::min(),
                      std::numeric_limits<int32_t>::max(), what, "int32"));
    }
  }
  for (size_t i = 2 + codes; i < lines.size(); ++i) {
    if (!is_blank(lines[i])) {
      Where{path, static_cast<int>(i + 1)}.fail(
          fmt::format("unexpected text after the {} table rows: {}", codes, quote(lines[i])));
    }
  }
  return {std::move(name), bits, is_signed, std::move(lut), std::move(header.meta)};
}

// ---- header (TransAxx / AdaPT) ---------------------------------------------------------------
//
//   const [static] [__device__] short|int16_t NAME[256][256] = {{...}, ..., {...}};
//
// Rows are the raw uint8 pattern of the activation. unsigned short / uint16_t elements are read
// too and default to an unsigned multiplier (axnn writes unsigned tables that way, since their
// products reach 65025).

enum class TokenKind { kWord, kNumber, kPunct, kEnd };

struct Token {
  TokenKind kind;
  std::string_view text;
  int line;
};

// C tokens enough for one array definition; comments and preprocessor lines are skipped.
class HeaderLexer {
 public:
  HeaderLexer(const fs::path& path, std::string_view text) : path_(path), text_(text) {}

  Token next() {
    skip_space();
    if (pos_ >= text_.size()) return {TokenKind::kEnd, "end of file", line_};
    const size_t start = pos_;
    const char c = text_[pos_];
    const auto is_word_char = [](char ch) {
      return std::isalnum(static_cast<unsigned char>(ch)) != 0 || ch == '_';
    };
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      while (pos_ < text_.size() && (is_word_char(text_[pos_]) || text_.substr(pos_, 2) == "::")) {
        pos_ += text_.substr(pos_, 2) == "::" ? 2 : 1;
      }
      return {TokenKind::kWord, text_.substr(start, pos_ - start), line_};
    }
    if (std::isdigit(static_cast<unsigned char>(c)) || c == '-' || c == '+') {
      ++pos_;
      // Take the whole run, suffixes included, so "12abc" is reported as one bad number.
      while (pos_ < text_.size() && is_word_char(text_[pos_])) ++pos_;
      return {TokenKind::kNumber, text_.substr(start, pos_ - start), line_};
    }
    ++pos_;
    return {TokenKind::kPunct, text_.substr(start, 1), line_};
  }

 private:
  void skip_space() {
    while (pos_ < text_.size()) {
      const char c = text_[pos_];
      if (c == '\n') {
        ++line_;
        line_start_ = true;
        ++pos_;
      } else if (std::isspace(static_cast<unsigned char>(c))) {
        ++pos_;
      } else if (c == '#' && line_start_) {
        skip_directive();
      } else if (text_.substr(pos_, 2) == "//") {
        while (pos_ < text_.size() && text_[pos_] != '\n') ++pos_;
      } else if (text_.substr(pos_, 2) == "/*") {
        const int open_line = line_;
        const size_t end = text_.find("*/", pos_ + 2);
        if (end == std::string_view::npos) {
          Where{path_, open_line}.fail("the /* comment opened here is never closed");
        }
        for (size_t i = pos_; i < end; ++i) line_ += text_[i] == '\n';
        pos_ = end + 2;
      } else {
        line_start_ = false;
        return;
      }
    }
  }

  // #include, #pragma once, include guards: to the end of the line, backslash continuations too.
  void skip_directive() {
    while (pos_ < text_.size() && text_[pos_] != '\n') {
      if (text_[pos_] == '\\' && pos_ + 1 < text_.size() && text_[pos_ + 1] == '\n') {
        ++line_;
        ++pos_;
      }
      ++pos_;
    }
  }

  const fs::path& path_;
  std::string_view text_;
  size_t pos_ = 0;
  int line_ = 1;
  bool line_start_ = true;
};

class HeaderParser {
 public:
  HeaderParser(const fs::path& path, std::string_view text) : path_(path), lexer_(path, text) {
    advance();
  }

  Multiplier parse(const ReadOptions& options) {
    if (tok_.kind == TokenKind::kEnd) Where{path_}.fail("the file holds no table");
    const bool unsigned_elements = parse_declaration();
    // The element type is the signedness: reading int16 values as unsigned (or the reverse) would
    // silently give a different multiplier.
    if (options.is_signed && *options.is_signed == unsigned_elements) {
      Where{path_, declaration_line_}.fail(fmt::format(
          "the table's elements are {}, which hold a{} {} multiplier, but it was asked for as {}",
          element_type_, unsigned_elements ? "n" : "", signedness_name(!unsigned_elements),
          signedness_name(*options.is_signed)));
    }
    parse_dimension();
    parse_dimension();
    expect("=", "after the array dimensions");
    expect("{", "to open the table");
    const int64_t lo = unsigned_elements ? 0 : std::numeric_limits<int16_t>::min();
    const int64_t hi = unsigned_elements ? std::numeric_limits<uint16_t>::max()
                                         : std::numeric_limits<int16_t>::max();
    const std::string_view range_name = unsigned_elements ? "uint16" : "int16";
    std::vector<int32_t> lut(size_t{kFixedCodes} * kFixedCodes);
    for (int x = 0; x < kFixedCodes; ++x) {
      if (x > 0) expect(",", fmt::format("between rows {} and {}", x - 1, x));
      if (is("}")) fail_here(fmt::format("the table ends after {} of {} rows", x, kFixedCodes));
      expect("{", fmt::format("to open row {}", x));
      for (int w = 0; w < kFixedCodes; ++w) {
        if (w > 0) {
          if (is("}")) {
            fail_here(fmt::format("row {} ends after {} of {} values", x, w, kFixedCodes));
          }
          expect(",", fmt::format("between lut[{}][{}] and lut[{}][{}]", x, w - 1, x, w));
        }
        const std::string what = fmt::format("lut[{}][{}]", x, w);
        if (tok_.kind != TokenKind::kNumber) {
          fail_here(fmt::format("expected the integer {}, found {}", what, quote(tok_.text)));
        }
        const Where where{path_, tok_.line};
        lut[static_cast<size_t>(x) * kFixedCodes + w] = static_cast<int32_t>(
            check_range(where, parse_int(where, tok_.text, what, /*allow_hex=*/true), lo, hi, what,
                        range_name));
        advance();
      }
      if (is(",")) advance();  // trailing comma inside a row
      if (!is("}")) {
        fail_here(tok_.kind == TokenKind::kEnd
                      ? fmt::format("the file ends inside row {}", x)
                      : fmt::format("row {} has more than {} values", x, kFixedCodes));
      }
      advance();
    }
    if (is(",")) advance();  // trailing comma after the last row
    if (!is("}")) {
      fail_here(tok_.kind == TokenKind::kEnd
                    ? std::string("the file ends before the table's closing '}'")
                    : fmt::format("the table has more than {} rows", kFixedCodes));
    }
    advance();
    expect(";", "after the table");
    if (tok_.kind != TokenKind::kEnd) {
      fail_here(
          fmt::format("unexpected {} after the table (one table per file)", quote(tok_.text)));
    }
    return {default_name(path_, options), kFixedBits, !unsigned_elements, std::move(lut),
            read_meta(path_, MultFormat::kHeader)};
  }

 private:
  // The specifiers up to the variable name; returns whether the elements are unsigned and sets
  // element_type_ to their spelling for messages.
  bool parse_declaration() {
    std::vector<Token> words;
    while (tok_.kind == TokenKind::kWord) {
      words.push_back(tok_);
      advance();
    }
    if (words.empty() || !is("[")) {
      fail_here(
          fmt::format("expected a declaration like 'const short lut[256][256] = {{', found {}",
                      quote(tok_.text)));
    }
    words.pop_back();  // the variable name
    declaration_line_ = words.empty() ? tok_.line : words.front().line;
    bool is_short = false, is_unsigned = false, is_int16 = false, is_uint16 = false;
    for (const Token& word : words) {
      const std::string_view w = word.text;
      if (w == "const" || w == "static" || w == "__device__" || w == "__constant__" ||
          w == "constexpr" || w == "signed" || w == "int") {
        continue;
      }
      if (w == "short") {
        is_short = true;
      } else if (w == "unsigned") {
        is_unsigned = true;
      } else if (w == "int16_t" || w == "std::int16_t") {
        is_int16 = true;
      } else if (w == "uint16_t" || w == "std::uint16_t") {
        is_uint16 = true;
      } else {
        Where{path_, word.line}.fail(fmt::format(
            "unexpected {} in the table declaration (expected const, static, __device__, short "
            "or int16_t)",
            quote(w)));
      }
    }
    const int types = int{is_short} + int{is_int16} + int{is_uint16};
    if (types != 1 || (is_unsigned && !is_short)) {
      Where{path_, declaration_line_}.fail(
          "the table's element type must be one of short, int16_t, unsigned short, uint16_t");
    }
    element_type_ = is_int16      ? "int16_t"
                    : is_uint16   ? "uint16_t"
                    : is_unsigned ? "unsigned short"
                                  : "short";
    return is_uint16 || is_unsigned;
  }

  void parse_dimension() {
    expect("[", "for the array dimensions [256][256]");
    const Where where{path_, tok_.line};
    const int64_t size =
        tok_.kind == TokenKind::kNumber ? parse_int(where, tok_.text, "array dimension", true) : -1;
    if (size != kFixedCodes) {
      where.fail(fmt::format("array dimension {} is not {}: header tables are 8-bit, [256][256]",
                             quote(tok_.text), kFixedCodes));
    }
    advance();
    expect("]", "after the array dimension");
  }

  [[nodiscard]] bool is(std::string_view punct) const {
    return tok_.kind == TokenKind::kPunct && tok_.text == punct;
  }
  void expect(std::string_view punct, std::string_view context) {
    if (!is(punct)) {
      fail_here(fmt::format("expected '{}' {}, found {}", punct, context, quote(tok_.text)));
    }
    advance();
  }
  [[noreturn]] void fail_here(const std::string& what) const { Where{path_, tok_.line}.fail(what); }
  void advance() { tok_ = lexer_.next(); }

  const fs::path& path_;
  HeaderLexer lexer_;
  Token tok_{TokenKind::kEnd, {}, 1};
  int declaration_line_ = 1;
  std::string_view element_type_;
};

std::string write_header(const Multiplier& mult, const fs::path& path) {
  const int64_t lo = mult.is_signed() ? std::numeric_limits<int16_t>::min() : 0;
  const int64_t hi =
      mult.is_signed() ? std::numeric_limits<int16_t>::max() : std::numeric_limits<uint16_t>::max();
  std::string out = fmt::format(
      "// axnn multiplier {}: {}-bit {}. lut[x][w], x the activation's uint8 bit pattern, w the "
      "weight's.\n",
      quote(mult.name()), mult.bits(), signedness_name(mult.is_signed()));
  out += fmt::format("const __device__ {} lut[256][256] = {{\n",
                     mult.is_signed() ? "short" : "unsigned short");
  auto it = std::back_inserter(out);
  for (int x = 0; x < kFixedCodes; ++x) {
    out += '{';
    for (int w = 0; w < kFixedCodes; ++w) {
      const int32_t v = mult.at(x, w);
      if (v < lo || v > hi) {
        fail_write(mult, path,
                   fmt::format("lut[{}][{}] = {} does not fit the header's {} elements ({}..{})", x,
                               w, v, mult.is_signed() ? "short" : "unsigned short", lo, hi));
      }
      if (w > 0) out += ", ";
      fmt::format_to(it, "{}", v);
    }
    out += x + 1 < kFixedCodes ? "},\n" : "}\n";
  }
  out += "};\n";
  return out;
}

// ---- tfapprox --------------------------------------------------------------------------------
//
// 65536 little-endian uint16, index x*256+w; a signed table stores the int16 bit pattern.

Multiplier read_tfapprox(const fs::path& path, std::string_view bytes, const ReadOptions& options) {
  if (bytes.size() != kTfApproxBytes) {
    Where{path}.fail(fmt::format(
        "is {} bytes; a TFApprox table is exactly {} bytes (65536 little-endian uint16)",
        bytes.size(), kTfApproxBytes));
  }
  // The same bytes are a valid table either way, so guessing would silently give garbage.
  if (!options.is_signed) {
    Where{path}.fail("a TFApprox binary does not record signedness: pass --signed or --unsigned");
  }
  const bool is_signed = *options.is_signed;
  std::vector<int32_t> lut(size_t{kFixedCodes} * kFixedCodes);
  for (size_t i = 0; i < lut.size(); ++i) {
    const auto word = static_cast<uint16_t>(static_cast<uint8_t>(bytes[2 * i]) |
                                            (static_cast<uint8_t>(bytes[2 * i + 1]) << 8));
    lut[i] = is_signed ? static_cast<int16_t>(word) : word;
  }
  return {default_name(path, options), kFixedBits, is_signed, std::move(lut),
          read_meta(path, MultFormat::kTfApprox)};
}

std::string write_tfapprox(const Multiplier& mult, const fs::path& path) {
  const int64_t lo = mult.is_signed() ? std::numeric_limits<int16_t>::min() : 0;
  const int64_t hi =
      mult.is_signed() ? std::numeric_limits<int16_t>::max() : std::numeric_limits<uint16_t>::max();
  std::string out(kTfApproxBytes, '\0');
  for (int x = 0; x < kFixedCodes; ++x) {
    for (int w = 0; w < kFixedCodes; ++w) {
      const int32_t v = mult.at(x, w);
      if (v < lo || v > hi) {
        fail_write(mult, path,
                   fmt::format("lut[{}][{}] = {} does not fit a TFApprox table ({} {}..{})", x, w,
                               v, mult.is_signed() ? "int16" : "uint16", lo, hi));
      }
      const auto word = static_cast<uint16_t>(v);
      const size_t i = static_cast<size_t>(x) * kFixedCodes + w;
      out[2 * i] = static_cast<char>(word & 0xff);
      out[2 * i + 1] = static_cast<char>(word >> 8);
    }
  }
  return out;
}

// ---- tram and csv: one (x, w, product) entry per operand-value pair --------------------------

struct PairEntry {
  int64_t x;
  int64_t w;
  int32_t product;
  int line;
};

// Width from the count, signedness from the operands (or the options), then every pair exactly
// once within the range of that width. x_name and w_name are the format's words for the operands.
Multiplier table_from_pairs(const fs::path& path, MultFormat format,
                            const std::vector<PairEntry>& entries, int end_line,
                            std::string_view x_name, std::string_view w_name,
                            const ReadOptions& options) {
  int bits = 0;
  for (int b = Multiplier::kMinBits; b <= Multiplier::kMaxBits; ++b) {
    if (entries.size() == size_t{1} << (2 * b)) bits = b;
  }
  if (bits == 0) {
    Where{path, end_line}.fail(fmt::format(
        "the table has {} entries, but a b-bit table has 4^b (16, 64, 256, 1024, 4096, 16384 or "
        "65536 for b = 2..8)",
        entries.size()));
  }
  const PairEntry* negative = nullptr;
  for (const PairEntry& e : entries) {
    if (e.x < 0 || e.w < 0) {
      negative = &e;
      break;
    }
  }
  const bool is_signed = options.is_signed.value_or(negative != nullptr);
  const int codes = 1 << bits;
  const int64_t lo = is_signed ? -(codes / 2) : 0;
  const int64_t hi = is_signed ? codes / 2 - 1 : codes - 1;
  const std::string range_name = fmt::format(
      "{}-bit {}{}", bits, signedness_name(is_signed),
      options.is_signed ? " (as asked)"
      : negative ? fmt::format(" (signed since line {} has a negative operand)", negative->line)
                 : " (unsigned since no operand is negative)");
  std::vector<int32_t> lut(entries.size());
  std::vector<int> seen_line(entries.size(), 0);
  for (const PairEntry& e : entries) {
    const Where where{path, e.line};
    const int x_code = static_cast<int>(check_range(
                           where, e.x, lo, hi, fmt::format("operand {}", x_name), range_name)) &
                       (codes - 1);
    const int w_code = static_cast<int>(check_range(
                           where, e.w, lo, hi, fmt::format("operand {}", w_name), range_name)) &
                       (codes - 1);
    const size_t i = (static_cast<size_t>(x_code) << bits) | w_code;
    if (seen_line[i] != 0) {
      where.fail(fmt::format("pair {} = {}, {} = {} appears twice (also on line {})", x_name, e.x,
                             w_name, e.w, seen_line[i]));
    }
    seen_line[i] = e.line;
    lut[i] = e.product;
  }
  return {default_name(path, options), bits, is_signed, std::move(lut), read_meta(path, format)};
}

int32_t parse_product(const Where& where, std::string_view token) {
  return static_cast<int32_t>(check_range(where, parse_int(where, token, "product"),
                                          std::numeric_limits<int32_t>::min(),
                                          std::numeric_limits<int32_t>::max(), "product", "int32"));
}

// TRAM prints log lines, then the marker line, then "a b product" per pair in code order
// (for signed operands 0..2^(b-1)-1 then -2^(b-1)..-1).
Multiplier read_tram(const fs::path& path, std::string_view text, const ReadOptions& options) {
  const std::vector<std::string_view> lines = split_lines(text);
  if (std::all_of(lines.begin(), lines.end(), is_blank)) Where{path}.fail("the file is empty");
  check_final_newline(path, text, lines.size());
  size_t i = 0;
  while (i < lines.size() && !trim(lines[i]).ends_with(kTramMarker)) ++i;
  if (i == lines.size()) {
    Where{path}.fail(fmt::format("no '{}' line, so no TRAM table", kTramMarker));
  }
  std::vector<PairEntry> entries;
  for (++i; i < lines.size(); ++i) {
    if (is_blank(lines[i])) continue;
    const Where where{path, static_cast<int>(i + 1)};
    const std::vector<std::string_view> words = split_words(trim(lines[i]));
    if (words.size() != 3) {
      where.fail(fmt::format("expected 'a b product', found {}", quote(lines[i])));
    }
    entries.push_back({parse_int(where, words[0], "operand a"),
                       parse_int(where, words[1], "operand b"), parse_product(where, words[2]),
                       where.line});
  }
  return table_from_pairs(path, MultFormat::kTram, entries, static_cast<int>(lines.size()), "a",
                          "b", options);
}

std::string write_tram(const Multiplier& mult) {
  std::string out = fmt::format("{}\n", kTramMarker);
  auto it = std::back_inserter(out);
  // Code order is TRAM's order: 0..2^(b-1)-1 then the negatives for signed operands.
  for (int x = 0; x < mult.codes(); ++x) {
    for (int w = 0; w < mult.codes(); ++w) {
      fmt::format_to(it, "{} {} {}\n", mult.value(x), mult.value(w), mult.at(x, w));
    }
  }
  return out;
}

Multiplier read_csv(const fs::path& path, std::string_view text, const ReadOptions& options) {
  // Spreadsheets put a UTF-8 byte order mark in front of the header.
  if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);
  const std::vector<std::string_view> lines = split_lines(text);
  if (std::all_of(lines.begin(), lines.end(), is_blank)) Where{path}.fail("the file is empty");
  check_final_newline(path, text, lines.size());
  size_t i = 0;
  while (is_blank(lines[i])) ++i;
  std::string header;
  for (char c : lines[i]) {
    if (c != ' ' && c != '\t') header += c;
  }
  if (header != kCsvHeader) {
    Where{path, static_cast<int>(i + 1)}.fail(
        fmt::format("expected the header '{}', found {}", kCsvHeader, quote(lines[i])));
  }
  std::vector<PairEntry> entries;
  for (++i; i < lines.size(); ++i) {
    if (is_blank(lines[i])) continue;
    const Where where{path, static_cast<int>(i + 1)};
    std::vector<std::string_view> fields;
    std::string_view rest = lines[i];
    for (size_t comma; (comma = rest.find(',')) != std::string_view::npos;) {
      fields.push_back(trim(rest.substr(0, comma)));
      rest.remove_prefix(comma + 1);
    }
    fields.push_back(trim(rest));
    if (fields.size() != 3) {
      where.fail(fmt::format("expected 3 fields 'x,w,product', found {}: {}", fields.size(),
                             quote(lines[i])));
    }
    entries.push_back({parse_int(where, fields[0], "operand x"),
                       parse_int(where, fields[1], "operand w"), parse_product(where, fields[2]),
                       where.line});
  }
  return table_from_pairs(path, MultFormat::kCsv, entries, static_cast<int>(lines.size()), "x", "w",
                          options);
}

std::string write_csv(const Multiplier& mult) {
  std::string out = fmt::format("{}\n", kCsvHeader);
  auto it = std::back_inserter(out);
  for (int x = 0; x < mult.codes(); ++x) {
    for (int w = 0; w < mult.codes(); ++w) {
      fmt::format_to(it, "{},{},{}\n", mult.value(x), mult.value(w), mult.at(x, w));
    }
  }
  return out;
}

}  // namespace

std::string_view format_name(MultFormat format) {
  return format_table().at(static_cast<size_t>(format)).name;
}

MultFormat parse_format(std::string_view name) {
  for (size_t i = 0; i < format_table().size(); ++i) {
    if (format_table()[i].name == name) return static_cast<MultFormat>(i);
  }
  throw Error(fmt::format("unknown multiplier format '{}' (known: {})", name, format_names()));
}

std::string formats_help() {
  std::vector<std::string> items;
  for (const FormatInfo& info : format_table()) {
    items.push_back(fmt::format("{} ({})", info.name, fmt::join(info.extensions, "/")));
  }
  return fmt::format("{}", fmt::join(items, ", "));
}

std::optional<MultFormat> format_from_extension(const std::filesystem::path& path) {
  std::string ext = path.extension().string();
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (size_t i = 0; i < format_table().size(); ++i) {
    const auto& extensions = format_table()[i].extensions;
    if (std::find(extensions.begin(), extensions.end(), ext) != extensions.end()) {
      return static_cast<MultFormat>(i);
    }
  }
  return std::nullopt;
}

MultFormat format_from_path(const std::filesystem::path& path) {
  if (const auto format = format_from_extension(path)) return *format;
  throw Error(
      fmt::format("file {}: cannot tell the multiplier format from the extension '{}' (known: {}); "
                  "name the format",
                  path.string(), path.extension().string(), format_extensions()));
}

Multiplier read_multiplier(const std::filesystem::path& path, std::optional<MultFormat> format,
                           const ReadOptions& options) {
  const MultFormat file_format = format ? *format : format_from_path(path);
  const std::string text = read_file(path);
  switch (file_format) {
    case MultFormat::kAxm:
      return read_axm(path, text, options);
    case MultFormat::kHeader:
      return HeaderParser(path, text).parse(options);
    case MultFormat::kTfApprox:
      return read_tfapprox(path, text, options);
    case MultFormat::kTram:
      return read_tram(path, text, options);
    case MultFormat::kCsv:
      return read_csv(path, text, options);
  }
  throw Error(fmt::format("file {}: unknown multiplier format {}", path.string(),
                          static_cast<int>(file_format)));
}

void write_multiplier(const Multiplier& mult, const std::filesystem::path& path,
                      std::optional<MultFormat> format) {
  const MultFormat file_format = format ? *format : format_from_path(path);
  if ((file_format == MultFormat::kHeader || file_format == MultFormat::kTfApprox) &&
      mult.bits() != kFixedBits) {
    fail_write(mult, path,
               fmt::format("the {} format holds 8-bit tables only, this multiplier is {}-bit",
                           format_name(file_format), mult.bits()));
  }
  std::string content;
  switch (file_format) {
    case MultFormat::kAxm:
      content = write_axm(mult, path);
      break;
    case MultFormat::kHeader:
      content = write_header(mult, path);
      break;
    case MultFormat::kTfApprox:
      content = write_tfapprox(mult, path);
      break;
    case MultFormat::kTram:
      content = write_tram(mult);
      break;
    case MultFormat::kCsv:
      content = write_csv(mult);
      break;
  }
  write_atomic(mult, path, content);
}

}  // namespace axnn
