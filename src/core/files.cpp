#include "core/files.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace axnn {

std::string read_text_file(const std::filesystem::path& path, std::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw Error(what.empty() ? fmt::format("{}: cannot be opened", path.string())
                             : fmt::format("cannot open the {} {}", what, path.string()));
  }
  std::ostringstream text;
  text << in.rdbuf();
  AXNN_CHECK(!in.bad(), "{}: read error", path.string());
  return std::move(text).str();
}

void write_text_file(const std::filesystem::path& path, std::string_view text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  AXNN_CHECK(out, "{}: cannot be written", path.string());
}

std::string csv_field(std::string_view text) {
  if (text.find_first_of(",\"\n") == std::string_view::npos) return std::string(text);
  std::string quoted = "\"";
  for (const char c : text) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

std::optional<std::filesystem::path> user_cache_dir(std::string_view name) {
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg)
    return std::filesystem::path(xdg) / "axnn" / name;
  if (const char* home = std::getenv("HOME"); home && *home)
    return std::filesystem::path(home) / ".cache" / "axnn" / name;
  return std::nullopt;
}

uint64_t fnv1a(std::string_view text, uint64_t hash) {
  for (const unsigned char c : text) hash = (hash ^ c) * 0x100000001b3ull;
  return hash;
}

}  // namespace axnn
