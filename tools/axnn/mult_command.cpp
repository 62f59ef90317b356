// `axnn mult`: list, show, generate and convert approximate multipliers.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "commands.h"
#include "core/error.h"
#include "mult/formats.h"
#include "mult/generators.h"
#include "mult/metrics.h"
#include "mult/registry.h"

namespace axnn::cli {
namespace {

// What `axnn mult --help` and friends say about multiplier names: the registry's own texts.
std::string names_help() { return fmt::format("{}\n{}", builtin_grammar_help(), lookup_help()); }

std::string formats_option_help(std::string_view what) {
  return fmt::format("{} (default from the extension): {}", what, formats_help());
}

std::string read_signedness_help(bool is_signed) {
  return fmt::format(
      "Read a file's operands as {}: required for tfapprox (.bin), which does not record it; "
      "tram/csv: the operands must fit; axm/header: must agree with the file",
      signedness_name(is_signed));
}

// --signed / --unsigned as a pair of exclusive flags; neither given leaves it open.
struct Signedness {
  bool is_signed = false;
  bool is_unsigned = false;
  std::optional<bool> value() const {
    if (is_signed) return true;
    if (is_unsigned) return false;
    return std::nullopt;
  }
  void add_to(CLI::App& app, const std::string& signed_help, const std::string& unsigned_help) {
    auto* s = app.add_flag("--signed", is_signed, signed_help);
    auto* u = app.add_flag("--unsigned", is_unsigned, unsigned_help);
    s->excludes(u);
  }
};

std::optional<MultFormat> optional_format(const std::string& name) {
  if (name.empty()) return std::nullopt;
  return parse_format(name);
}

// A registry name or path, or, with a format or signedness given, a file read with those.
Multiplier load(const std::string& name_or_path, const std::string& format,
                const Signedness& signedness_opt) {
  if (format.empty() && !signedness_opt.value()) return get_multiplier(name_or_path);
  AXNN_CHECK(std::filesystem::is_regular_file(name_or_path),
             "'{}' is not a file; --from/--signed/--unsigned apply to multiplier files only",
             name_or_path);
  ReadOptions options;
  options.is_signed = signedness_opt.value();
  return read_multiplier(name_or_path, optional_format(format), options);
}

void print_list_row(const Multiplier& m, const std::string& label = "") {
  fmt::print("{}", format_table_row(m, compute_metrics(m), label));
}

void run_list() {
  const std::string header = format_table_header();
  fmt::print("Built-in multipliers (a selection; every width 2..8 and parameter works):\n{}",
             header);
  for (const auto& name : curated_builtin_names()) print_list_row(*lookup_builtin(name));

  const MultiplierRegistry registry = MultiplierRegistry::from_environment();
  std::vector<std::string> dirs;
  for (const auto& dir : registry.search_dirs()) dirs.push_back(dir.string());
  fmt::print("\nMultiplier files (*.axm) in [{}]:\n", fmt::join(dirs, ", "));
  if (registry.files().empty())
    fmt::print("  none\n");
  else
    fmt::print("{}", header);
  for (const auto& file : registry.files()) {
    try {
      const Multiplier m = read_multiplier(file.path);
      // Known by stem and internal name; show both when they differ.
      print_list_row(m, m.name() == file.stem ? "" : fmt::format("{} ({})", file.stem, m.name()));
    } catch (const Error& e) {
      fmt::print("  {:<26} unreadable: {}\n", file.stem, e.what());
    }
  }
  fmt::print("\n{}\n", names_help());
}

struct GenerateOptions {
  std::string kind;
  int bits = 8;
  Signedness signedness_opt;
  std::optional<int> k, hbl, vbl;
  std::string columns;
  std::string output, format, name;
};

// "0,0,1,1" or "0011": keep flags, column 0 first; columns left out at the top are kept.
std::vector<bool> parse_columns(const std::string& text, int bits) {
  std::vector<bool> keep;
  for (const char c : text) {
    if (c == ',' || c == ' ') continue;
    AXNN_CHECK(c == '0' || c == '1', "--columns '{}': '{}' is not a 0/1 keep flag", text, c);
    keep.push_back(c == '1');
  }
  AXNN_CHECK(!keep.empty(), "--columns '{}' has no flags", text);
  const size_t columns = static_cast<size_t>(partial_product_columns(bits));
  if (keep.size() < columns) keep.resize(columns, true);
  return keep;
}

void run_generate(const GenerateOptions& o) {
  const bool is_signed = o.signedness_opt.value().value_or(true);
  const std::string& kind = o.kind;
  // Each kind takes exactly its own parameters, so a misplaced one is not silently ignored.
  const bool wants_k = kind == "trunc" || kind == "drum";
  const bool wants_bam = kind == "bam";
  const bool wants_columns = kind == "cols";
  AXNN_CHECK(wants_k == o.k.has_value(), "generate {}: --k is {}", kind,
             wants_k ? "required" : "not a parameter of this kind");
  AXNN_CHECK(wants_bam == o.hbl.has_value() && wants_bam == o.vbl.has_value(),
             "generate {}: --hbl and --vbl are {}", kind,
             wants_bam ? "both required" : "not parameters of this kind");
  AXNN_CHECK(wants_columns == !o.columns.empty(), "generate {}: --columns is {}", kind,
             wants_columns ? "required" : "not a parameter of this kind");

  std::optional<Multiplier> m;
  if (kind == "exact") m = make_exact(o.bits, is_signed);
  if (kind == "trunc") m = make_truncated(o.bits, is_signed, *o.k);
  if (kind == "drum") m = make_drum(o.bits, is_signed, *o.k);
  if (kind == "bam") m = make_bam(o.bits, is_signed, *o.hbl, *o.vbl);
  if (kind == "mitchell") m = make_mitchell(o.bits, is_signed);
  if (kind == "cols") m = make_columns(o.bits, is_signed, parse_columns(o.columns, o.bits));
  complete_builtin_meta(*m);  // relative power from its circuit, for the kinds that have one
  if (!o.name.empty()) m->set_name(o.name);
  write_multiplier(*m, o.output, optional_format(o.format));
  fmt::print("wrote {} ({}-bit {}, {}) to {}\n", m->name(), m->bits(),
             signedness_name(m->is_signed()), format_summary(compute_metrics(*m)), o.output);
}

struct ConvertOptions {
  std::string input, output, from, to, name;
  Signedness signedness_opt;
};

void run_convert(const ConvertOptions& o) {
  Multiplier m = load(o.input, o.from, o.signedness_opt);
  if (!o.name.empty()) m.set_name(o.name);
  write_multiplier(m, o.output, optional_format(o.to));
  fmt::print("wrote {} ({}-bit {}) to {}\n", m.name(), m.bits(), signedness_name(m.is_signed()),
             o.output);
}

}  // namespace

void add_mult_command(CLI::App& app) {
  CLI::App* mult = app.add_subcommand(
      "mult", "Approximate multipliers: list, show metrics, generate and convert tables");
  mult->require_subcommand(1);
  mult->footer("\n" + names_help());

  CLI::App* list = mult->add_subcommand(
      "list", "List a selection of built-in multipliers and every .axm file found, with metrics");
  list->callback(run_list);

  struct ShowOptions {
    std::string name, format;
    Signedness signedness_opt;
    bool json = false;
  };
  auto show_opts = std::make_shared<ShowOptions>();
  CLI::App* show = mult->add_subcommand(
      "show",
      "Print a multiplier's metadata and error metrics (MAE%, WCE%, EP%, MRE%, WCRE%, MSE, "
      "bias, NMED, MRED over all code pairs)");
  show->add_option("multiplier", show_opts->name, "Registry name (see `axnn mult list`) or file")
      ->required();
  show->add_flag("--json", show_opts->json,
                 "Print one JSON object (name, bits, signed, the metrics in snake_case, "
                 "relative_power, area_um2, delay_ns, power_mw: null when unknown, source, "
                 "description)");
  show->add_option("--from", show_opts->format, formats_option_help("File format"));
  show_opts->signedness_opt.add_to(*show, read_signedness_help(true), read_signedness_help(false));
  show->footer("\n" + names_help());
  show->callback([show_opts] {
    const Multiplier m = load(show_opts->name, show_opts->format, show_opts->signedness_opt);
    const ErrorMetrics e = compute_metrics(m);
    if (show_opts->json) {
      fmt::print("{}\n", to_json(m, e).dump(2));
    } else {
      fmt::print("{}", format_report(m, e));
    }
  });

  auto gen = std::make_shared<GenerateOptions>();
  CLI::App* generate = mult->add_subcommand(
      "generate", "Generate a multiplier table by enumerating all code pairs and write it");
  generate
      ->add_option("kind", gen->kind,
                   "exact, trunc, bam, drum, mitchell or cols (the registry names' prefixes)")
      ->required()
      ->check(CLI::IsMember({"exact", "trunc", "bam", "drum", "mitchell", "cols"}));
  generate->add_option("--bits", gen->bits, "Operand width 2..8")->default_val(8);
  gen->signedness_opt.add_to(*generate, "Signed two's complement operands (the default)",
                             "Unsigned operands");
  generate->add_option("--k", gen->k,
                       "trunc: partial-product columns removed (0..2b-1); drum: bits kept from the "
                       "leading one (1..b)");
  generate->add_option("--hbl", gen->hbl,
                       "bam: horizontal break level, lowest rows omitted (0..b)");
  generate->add_option("--vbl", gen->vbl,
                       "bam: vertical break level, lowest columns omitted (0..2b-1)");
  generate->add_option("--columns", gen->columns,
                       "cols: keep flags 1/0 over the 2b-1 columns, column 0 first, e.g. 0,0,1,1 "
                       "or 0011; columns left out at the top are kept");
  generate->add_option("-o,--output", gen->output, "Output file")->required();
  generate->add_option("--to,--format", gen->format, formats_option_help("Output format"));
  generate->add_option("--name", gen->name, "Name stored in the file (default: the registry name)");
  generate->footer(
      "\nExamples:\n"
      "  axnn mult generate trunc --bits 8 --signed --k 4 -o trunc8s_k4.axm\n"
      "  axnn mult generate bam --bits 8 --unsigned --hbl 2 --vbl 4 -o bam.h\n"
      "  axnn mult generate cols --bits 4 --unsigned --columns 0,0,1,0 -o c.txt\n\n" +
      std::string(builtin_grammar_help()));
  generate->callback([gen] { run_generate(*gen); });

  auto conv = std::make_shared<ConvertOptions>();
  CLI::App* convert =
      mult->add_subcommand("convert", "Convert a multiplier between formats: " + formats_help());
  convert->add_option("input", conv->input, "Input file, or a registry name to export a built-in")
      ->required();
  convert->add_option("-o,--output", conv->output, "Output file")->required();
  convert->add_option("--from", conv->from, formats_option_help("Input format"));
  convert->add_option("--to", conv->to, formats_option_help("Output format"));
  conv->signedness_opt.add_to(*convert, read_signedness_help(true), read_signedness_help(false));
  convert->add_option("--name", conv->name, "Name for the converted multiplier");
  convert->callback([conv] { run_convert(*conv); });
}

}  // namespace axnn::cli
