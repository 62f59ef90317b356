// Whole-file text I/O and CSV quoting, with errors that name the file.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace axnn {

// The file's bytes. Throws axnn::Error: "PATH: cannot be opened", or with `what` (e.g. "gate
// library") "cannot open the gate library PATH".
std::string read_text_file(const std::filesystem::path& path, std::string_view what = "");

// Replaces the file's content; throws axnn::Error "PATH: cannot be written".
void write_text_file(const std::filesystem::path& path, std::string_view text);

// The per-user cache folder $XDG_CACHE_HOME/axnn/<name>, else ~/.cache/axnn/<name>; nullopt when
// neither variable is set. Not created here.
std::optional<std::filesystem::path> user_cache_dir(std::string_view name);

// FNV-1a of the text, continuing from `hash`: the disk caches' keys (built kernels, circuit
// costs). Stable across runs and machines, unlike std::hash.
uint64_t fnv1a(std::string_view text, uint64_t hash = 0xcbf29ce484222325ull);

// A CSV field: as is, or quoted with doubled quotes when it holds a comma, quote or newline.
std::string csv_field(std::string_view text);

}  // namespace axnn
