// Multipliers by name: built-in generator names, .axm files in the search folders, or a file path.
//
// Built-in names (b = width 2..8, s = signed / u = unsigned; see generators.h for each structure,
// builtin_grammar_help() for the grammar with parameter ranges):
//   exact<b><s|u>                 exact8s, exact4u
//   trunc<b><s|u>_k<k>            trunc8s_k4: the k lowest partial-product columns removed
//   bam<b><s|u>_h<hbl>_v<vbl>     bam8u_h2_v4: broken array, hbl lowest rows, vbl lowest columns
//   drum<b><s|u>_k<k>             drum8u_k4: DRUM with k bits kept from the leading one
//   mitchell<b><s|u>              mitchell8s: Mitchell's logarithmic multiplier
//   cols<b><s|u>_<flags>          cols4u_0011111: column keep flags (1 keep, 0 discard) over the
//                                 2b-1 columns, column 0 (least significant) first; columns left
//                                 out at the end are kept
// Numbers are written without leading zeros: trunc8s_k04 is an error naming trunc8s_k4.
//
// Files: every *.axm in each folder of AXNN_MULT_PATH (colon-separated, in order), then in the user
// folder $XDG_DATA_HOME/axnn/multipliers (default ~/.local/share/axnn/multipliers), is known by its
// file stem and by the name written inside it (the .axm extension in any letter case). Lookup
// order: built-in name, then files (the first folder wins), then an existing file path in any
// format of formats.h.
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mult/multiplier.h"

namespace axnn {

// The built-in name grammar with parameter ranges and examples, several lines without a final
// newline: for help texts and the unknown-name error.
std::string_view builtin_grammar_help();
// Where names are looked up besides the built-ins (search folders, file paths and formats).
std::string lookup_help();

// The multiplier for a built-in name, or nullopt when the name does not follow the grammar above.
// Throws axnn::Error, naming the multiplier, when it follows the grammar with a bad parameter or a
// number with leading zeros.
std::optional<Multiplier> make_builtin(std::string_view name);

// Fills in what a built-in's table does not say, such as its relative power estimated from its
// circuit. The netlist library provides one (netlist::attach_builtin_circuit_cost) and the axnn
// command installs it; the registry itself does not depend on circuits. Lookups (get, and `axnn
// mult list`) call it on every built-in they return.
using BuiltinMetaHook = std::function<void(Multiplier&)>;
void set_builtin_meta_hook(BuiltinMetaHook hook);
// Runs the hook, if one is set, on a built-in (named as the registry names it).
void complete_builtin_meta(Multiplier& builtin);
// make_builtin, then complete_builtin_meta.
std::optional<Multiplier> lookup_builtin(std::string_view name);

// A curated set of built-in names for listings: widths 8 and 4, both signednesses.
std::vector<std::string> curated_builtin_names();

// Levenshtein distance, for suggesting names.
int edit_distance(std::string_view a, std::string_view b);

struct MultiplierFile {
  std::string stem;
  std::filesystem::path path;
};

class MultiplierRegistry {
 public:
  // Folders to search for *.axm files, in priority order; missing folders are skipped.
  explicit MultiplierRegistry(std::vector<std::filesystem::path> search_dirs);
  // AXNN_MULT_PATH folders, then the user folder.
  static MultiplierRegistry from_environment();
  // The user folder: $XDG_DATA_HOME/axnn/multipliers, else $HOME/.local/share/axnn/multipliers;
  // nullopt when neither variable is set.
  static std::optional<std::filesystem::path> user_dir();

  const std::vector<std::filesystem::path>& search_dirs() const { return search_dirs_; }
  // The .axm files found, sorted by folder priority then stem.
  const std::vector<MultiplierFile>& files() const { return files_; }

  // A built-in name, a file's stem or internal name, or a path to a multiplier file (format from
  // the extension). Unknown names throw axnn::Error listing the closest known names.
  Multiplier get(std::string_view name_or_path) const;

 private:
  std::vector<std::filesystem::path> search_dirs_;
  std::vector<MultiplierFile> files_;
};

// MultiplierRegistry::from_environment().get(name_or_path).
Multiplier get_multiplier(std::string_view name_or_path);

}  // namespace axnn
