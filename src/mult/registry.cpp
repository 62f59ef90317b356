#include "mult/registry.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cstdlib>
#include <numeric>
#include <regex>
#include <system_error>

#include "core/error.h"
#include "core/log.h"
#include "mult/formats.h"
#include "mult/generators.h"

namespace axnn {
namespace {

constexpr size_t kSuggestions = 5;

// A number of the name as written: the digits must be canonical (no leading zeros), so that every
// built-in multiplier has one name. Widths and parameters are at most 3 digits (regex), so stoi
// cannot overflow; ranges are checked by the generators.
int parse_number(const std::string& digits, bool& canonical) {
  if (digits.size() > 1 && digits.front() == '0') canonical = false;
  return std::stoi(digits);
}

std::optional<Multiplier> parse_builtin(const std::string& name) {
  static const std::regex kPlain(R"((exact|mitchell)(\d{1,3})([su]))");
  static const std::regex kOneK(R"((trunc|drum)(\d{1,3})([su])_k(\d{1,3}))");
  static const std::regex kBam(R"(bam(\d{1,3})([su])_h(\d{1,3})_v(\d{1,3}))");
  static const std::regex kCols(R"(cols(\d{1,3})([su])_([01]+))");
  std::smatch m;
  bool canonical = true;
  auto num = [&m, &canonical](int i) { return parse_number(m[i].str(), canonical); };
  // Rejects "exact08s" and the like, naming the canonical spelling.
  auto check_canonical = [&](const std::string& canonical_name) {
    AXNN_CHECK(canonical, "numbers in built-in names have no leading zeros: write '{}'",
               canonical_name);
  };
  if (std::regex_match(name, m, kPlain)) {
    const int bits = num(2);
    const bool is_signed = m[3] == "s";
    check_canonical(fmt::format("{}{}{}", m[1].str(), bits, m[3].str()));
    return m[1] == "exact" ? make_exact(bits, is_signed) : make_mitchell(bits, is_signed);
  }
  if (std::regex_match(name, m, kOneK)) {
    const int bits = num(2), k = num(4);
    const bool is_signed = m[3] == "s";
    check_canonical(fmt::format("{}{}{}_k{}", m[1].str(), bits, m[3].str(), k));
    return m[1] == "trunc" ? make_truncated(bits, is_signed, k) : make_drum(bits, is_signed, k);
  }
  if (std::regex_match(name, m, kBam)) {
    const int bits = num(1), hbl = num(3), vbl = num(4);
    check_canonical(fmt::format("bam{}{}_h{}_v{}", bits, m[2].str(), hbl, vbl));
    return make_bam(bits, m[2] == "s", hbl, vbl);
  }
  if (std::regex_match(name, m, kCols)) {
    const int bits = num(1);
    const bool is_signed = m[2] == "s";
    const std::string flags = m[3].str();
    check_canonical(fmt::format("cols{}{}_{}", bits, m[2].str(), flags));
    // Columns the name leaves out at the top are kept; too many flags is make_columns' error.
    std::vector<bool> keep(std::max<size_t>(flags.size(), partial_product_columns(bits)), true);
    for (size_t c = 0; c < flags.size(); ++c) keep[c] = flags[c] == '1';
    return make_columns(bits, is_signed, keep);
  }
  return std::nullopt;
}

// Reads a multiplier file found in a search folder; a broken file is skipped with a warning so that
// one bad file does not hide the others.
std::optional<Multiplier> try_read(const std::filesystem::path& path) {
  try {
    return read_multiplier(path);
  } catch (const Error& e) {
    log().warn("skipping multiplier file {}: {}", path.string(), e.what());
    return std::nullopt;
  }
}

}  // namespace

std::string_view builtin_grammar_help() {
  return "Built-in multiplier names (b = width 2..8, s = signed two's complement, u = unsigned;\n"
         "numbers without leading zeros):\n"
         "  exact<b><s|u>              exact product: exact8s, exact4u\n"
         "  trunc<b><s|u>_k<k>         the k (0..2b-1) least significant partial-product columns\n"
         "                             removed: trunc8s_k4\n"
         "  bam<b><s|u>_h<hbl>_v<vbl>  broken array (Mahdiani): the hbl (0..b) lowest rows and\n"
         "                             the vbl (0..2b-1) lowest columns omitted: bam8u_h2_v4\n"
         "  drum<b><s|u>_k<k>          DRUM (Hashemi): k (1..b) bits kept from the leading one:\n"
         "                             drum8u_k4\n"
         "  mitchell<b><s|u>           Mitchell's logarithmic multiplier: mitchell8s\n"
         "  cols<b><s|u>_<flags>       column discarding (TRAM): one 0/1 keep flag per partial-\n"
         "                             product column, column 0 (least significant) first; "
         "columns\n"
         "                             left out at the end are kept: cols8u_0000 = trunc8u_k4\n"
         "Both signednesses have 2b-1 partial-product columns, column i+j holding the cell\n"
         "a_j & w_i; a signed array's cells weigh as the terms of the two's complement product\n"
         "(Baugh-Wooley: -2^(i+j) where exactly one of i, j is the sign bit b-1), so removing "
         "cells\n"
         "never makes x*0 or 0*w non-zero.";
}

std::string lookup_help() {
  return fmt::format(
      "Besides the built-in names: the stem or internal name of any .axm file in AXNN_MULT_PATH\n"
      "(colon-separated folders, searched in order) or $XDG_DATA_HOME/axnn/multipliers (default\n"
      "~/.local/share/axnn/multipliers), or a path to a multiplier file, in one of the formats\n"
      "{}.",
      formats_help());
}

std::optional<Multiplier> make_builtin(std::string_view name) {
  try {
    return parse_builtin(std::string(name));
  } catch (const Error& e) {
    throw Error(fmt::format("multiplier '{}': {}", name, e.what()));
  }
}

std::vector<std::string> curated_builtin_names() {
  std::vector<std::string> names;
  for (const int b : {8, 4}) {
    for (const char s : {'s', 'u'}) {
      const std::string w = fmt::format("{}{}", b, s);
      // A TRAM-style pattern: the b/2 lowest columns and column b/2+1 discarded.
      std::string flags(partial_product_columns(b), '1');
      flags.replace(0, b / 2, b / 2, '0');
      flags[b / 2 + 1] = '0';
      names.insert(names.end(),
                   {"exact" + w, fmt::format("trunc{}_k{}", w, b / 2),
                    fmt::format("trunc{}_k{}", w, b - b / 4), fmt::format("bam{}_h1_v{}", w, b - 2),
                    fmt::format("drum{}_k{}", w, b / 2), fmt::format("drum{}_k{}", w, b - b / 4),
                    "mitchell" + w, fmt::format("cols{}_{}", w, flags)});
    }
  }
  return names;
}

int edit_distance(std::string_view a, std::string_view b) {
  std::vector<int> row(b.size() + 1);
  std::iota(row.begin(), row.end(), 0);
  for (size_t i = 1; i <= a.size(); ++i) {
    int diagonal = row[0];
    row[0] = static_cast<int>(i);
    for (size_t j = 1; j <= b.size(); ++j) {
      const int up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1])});
      diagonal = up;
    }
  }
  return row[b.size()];
}

MultiplierRegistry::MultiplierRegistry(std::vector<std::filesystem::path> search_dirs)
    : search_dirs_(std::move(search_dirs)) {
  for (const auto& dir : search_dirs_) {
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec)) continue;
    std::vector<MultiplierFile> found;
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
      if (entry.is_regular_file(ec) && format_from_extension(entry.path()) == MultFormat::kAxm) {
        found.push_back({entry.path().stem().string(), entry.path()});
      }
    }
    std::sort(found.begin(), found.end(),
              [](const auto& l, const auto& r) { return l.stem < r.stem; });
    files_.insert(files_.end(), found.begin(), found.end());
  }
}

std::optional<std::filesystem::path> MultiplierRegistry::user_dir() {
  if (const char* xdg = std::getenv("XDG_DATA_HOME"); xdg && *xdg) {
    return std::filesystem::path(xdg) / "axnn" / "multipliers";
  }
  if (const char* home = std::getenv("HOME"); home && *home) {
    return std::filesystem::path(home) / ".local" / "share" / "axnn" / "multipliers";
  }
  return std::nullopt;
}

MultiplierRegistry MultiplierRegistry::from_environment() {
  std::vector<std::filesystem::path> dirs;
  if (const char* path = std::getenv("AXNN_MULT_PATH")) {
    std::string_view rest(path);
    while (!rest.empty()) {
      const size_t colon = rest.find(':');
      const std::string_view dir = rest.substr(0, colon);
      if (!dir.empty()) dirs.emplace_back(dir);
      rest = colon == std::string_view::npos ? std::string_view() : rest.substr(colon + 1);
    }
  }
  if (auto dir = user_dir()) dirs.push_back(*dir);
  return MultiplierRegistry(std::move(dirs));
}

namespace {

BuiltinMetaHook& builtin_meta_hook() {
  static BuiltinMetaHook hook;
  return hook;
}

}  // namespace

void set_builtin_meta_hook(BuiltinMetaHook hook) { builtin_meta_hook() = std::move(hook); }

void complete_builtin_meta(Multiplier& builtin) {
  if (builtin_meta_hook()) builtin_meta_hook()(builtin);
}

std::optional<Multiplier> lookup_builtin(std::string_view name) {
  std::optional<Multiplier> builtin = make_builtin(name);
  if (builtin) complete_builtin_meta(*builtin);
  return builtin;
}

Multiplier MultiplierRegistry::get(std::string_view name_or_path) const {
  AXNN_CHECK(!name_or_path.empty(), "empty multiplier name\n{}", builtin_grammar_help());
  if (auto builtin = lookup_builtin(name_or_path)) return std::move(*builtin);
  for (const auto& file : files_) {
    if (file.stem == name_or_path) return read_multiplier(file.path);
  }
  for (const auto& file : files_) {
    auto mult = try_read(file.path);
    if (mult && mult->name() == name_or_path) return std::move(*mult);
  }
  const std::filesystem::path path(name_or_path);
  std::error_code ec;
  if (std::filesystem::is_regular_file(path, ec)) return read_multiplier(path);

  std::vector<std::string> known = curated_builtin_names();
  for (const auto& file : files_) known.push_back(file.stem);
  std::sort(known.begin(), known.end());
  known.erase(std::unique(known.begin(), known.end()), known.end());
  std::stable_sort(known.begin(), known.end(), [&](const auto& l, const auto& r) {
    return edit_distance(name_or_path, l) < edit_distance(name_or_path, r);
  });
  known.resize(std::min(known.size(), kSuggestions));
  std::vector<std::string> dirs;
  for (const auto& dir : search_dirs_) dirs.push_back(dir.string());
  throw Error(fmt::format(
      "unknown multiplier '{}' (neither a built-in name, nor a .axm file in [{}], nor a file); "
      "closest known names: {}\n{}",
      name_or_path, fmt::join(dirs, ", "), fmt::join(known, ", "), builtin_grammar_help()));
}

Multiplier get_multiplier(std::string_view name_or_path) {
  return MultiplierRegistry::from_environment().get(name_or_path);
}

}  // namespace axnn
