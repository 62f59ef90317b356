// `axnn mult`: list, show, generate and convert approximate multipliers.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "commands.h"
#include "core/error.h"
#include "mult/formats.h"
#include "mult/generators.h"
#include "mult/metrics.h"
#include "mult/registry.h"

namespace axnn::cli {
namespace {

constexpr const char* kNamesHelp =
    "Multiplier names (b = width 2..8, s = signed two's complement, u = unsigned):\n"
    "  exact<b><s|u>              exact product, e.g. exact8s, exact4u\n"
    "  trunc<b><s|u>_k<k>         k least significant partial-product columns removed: trunc8s_k4\n"
    "  bam<b><s|u>_h<hbl>_v<vbl>  broken-array multiplier (Mahdiani): hbl lowest rows and vbl\n"
    "                             lowest columns omitted: bam8u_h2_v4\n"
    "  drum<b><s|u>_k<k>          DRUM (Hashemi): k bits kept from the leading one: drum8u_k4\n"
    "  mitchell<b><s|u>           Mitchell's logarithmic multiplier: mitchell8s\n"
    "  cols<b><s|u>_<flags>       column discarding (TRAM): one 0/1 keep flag per partial-product\n"
    "                             column, column 0 (least significant) first; columns left out\n"
    "                             at the end are kept. cols8u_0000 = trunc8u_k4\n"
    "Unsigned arrays have 2b-1 columns (AND cells a_j&w_i in column i+j); signed ones are\n"
    "Baugh-Wooley with 2b columns (inverted sign cells, constant 1s in columns b and 2b-1).\n"
    "Also: the stem or internal name of any .axm file in AXNN_MULT_PATH (colon-separated\n"
    "folders) or $XDG_DATA_HOME/axnn/multipliers (default ~/.local/share/axnn/multipliers),\n"
    "or a path to a multiplier file: .axm, .h/.hpp/.cuh (TransAxx header), .bin (TFApprox),\n"
    ".txt (TRAM LUT), .csv.";

constexpr const char* kFormatsHelp = "axm, header, tfapprox, tram or csv";

std::string signedness(bool is_signed) { return is_signed ? "signed" : "unsigned"; }

std::string optional_number(const std::optional<double>& v, const char* unit = "") {
  return v ? fmt::format("{:g}{}", *v, unit) : "unknown";
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

nlohmann::ordered_json to_json(const Multiplier& m, const ErrorMetrics& e) {
  auto opt = [](const std::optional<double>& v) {
    return v ? nlohmann::ordered_json(*v) : nullptr;
  };
  return {{"name", m.name()},
          {"bits", m.bits()},
          {"signed", m.is_signed()},
          {"mae_pct", e.mae_pct},
          {"wce_pct", e.wce_pct},
          {"ep_pct", e.ep_pct},
          {"mre_pct", e.mre_pct},
          {"wcre_pct", e.wcre_pct},
          {"mse", e.mse},
          {"bias", e.bias},
          {"nmed", e.nmed},
          {"mred", e.mred},
          {"relative_power", opt(m.meta().relative_power)},
          {"area_um2", opt(m.meta().area_um2)},
          {"delay_ns", opt(m.meta().delay_ns)},
          {"power_mw", opt(m.meta().power_mw)},
          {"source", m.meta().source},
          {"description", m.meta().description}};
}

void print_show(const Multiplier& m, const ErrorMetrics& e) {
  const auto& meta = m.meta();
  fmt::print("name            {}\n", m.name());
  fmt::print("width           {}-bit {}\n", m.bits(), signedness(m.is_signed()));
  fmt::print("source          {}\n", meta.source.empty() ? "-" : meta.source);
  fmt::print("description     {}\n", meta.description.empty() ? "-" : meta.description);
  fmt::print("relative power  {}\n", optional_number(meta.relative_power));
  fmt::print("power           {}\n", optional_number(meta.power_mw, " mW"));
  fmt::print("area            {}\n", optional_number(meta.area_um2, " um^2"));
  fmt::print("delay           {}\n", optional_number(meta.delay_ns, " ns"));
  fmt::print("error over all {} code pairs (e = approx - exact):\n", m.codes() * m.codes());
  fmt::print(
      "  MAE%   {:.6g}\n  WCE%   {:.6g}\n  EP%    {:.6g}\n  MRE%   {:.6g}\n  WCRE%  {:.6g}\n",
      e.mae_pct, e.wce_pct, e.ep_pct, e.mre_pct, e.wcre_pct);
  fmt::print("  MSE    {:.6g}\n  bias   {:.6g}\n  NMED   {:.6g}\n  MRED   {:.6g}\n", e.mse, e.bias,
             e.nmed, e.mred);
}

void print_list_row(const Multiplier& m) {
  const ErrorMetrics e = compute_metrics(m);
  const auto& p = m.meta().relative_power;
  fmt::print("  {:<26} {:>4} {:>3} {:>9.4f} {:>9.4f} {:>7.2f} {:>9.5f} {:>10.2f} {:>6}\n", m.name(),
             m.bits(), m.is_signed() ? "s" : "u", e.mae_pct, e.wce_pct, e.ep_pct, e.mred, e.bias,
             p ? fmt::format("{:.3f}", *p) : "-");
}

void run_list() {
  const std::string header =
      fmt::format("  {:<26} {:>4} {:>3} {:>9} {:>9} {:>7} {:>9} {:>10} {:>6}\n", "name", "bits",
                  "s/u", "MAE%", "WCE%", "EP%", "MRED", "bias", "power");
  fmt::print("Built-in multipliers (a selection; every width 2..8 and parameter works):\n{}",
             header);
  for (const auto& name : curated_builtin_names()) print_list_row(*make_builtin(name));

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
      Multiplier m = read_multiplier(file.path);
      // Known by stem and internal name; show both when they differ.
      if (m.name() != file.stem) m.set_name(fmt::format("{} ({})", file.stem, m.name()));
      print_list_row(m);
    } catch (const Error& e) {
      fmt::print("  {:<26} unreadable: {}\n", file.stem, e.what());
    }
  }
  fmt::print("\n{}\n", kNamesHelp);
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
std::vector<bool> parse_columns(const std::string& text, int bits, bool is_signed) {
  std::vector<bool> keep;
  for (const char c : text) {
    if (c == ',' || c == ' ') continue;
    AXNN_CHECK(c == '0' || c == '1', "--columns '{}': '{}' is not a 0/1 keep flag", text, c);
    keep.push_back(c == '1');
  }
  AXNN_CHECK(!keep.empty(), "--columns '{}' has no flags", text);
  const size_t columns = static_cast<size_t>(partial_product_columns(bits, is_signed));
  if (keep.size() < columns) keep.resize(columns, true);
  return keep;
}

void run_generate(const GenerateOptions& o) {
  const bool is_signed = o.signedness_opt.value().value_or(true);
  const std::string& kind = o.kind;
  // Each kind takes exactly its own parameters, so a misplaced one is not silently ignored.
  const bool wants_k = kind == "trunc" || kind == "drum";
  const bool wants_bam = kind == "bam";
  const bool wants_columns = kind == "columns";
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
  if (kind == "columns")
    m = make_columns(o.bits, is_signed, parse_columns(o.columns, o.bits, is_signed));
  if (!o.name.empty()) m->set_name(o.name);
  write_multiplier(*m, o.output, optional_format(o.format));
  const ErrorMetrics e = compute_metrics(*m);
  fmt::print("wrote {} ({}-bit {}, MAE% {:.4g}, WCE% {:.4g}, EP% {:.4g}) to {}\n", m->name(),
             m->bits(), signedness(m->is_signed()), e.mae_pct, e.wce_pct, e.ep_pct, o.output);
}

struct ConvertOptions {
  std::string input, output, from, to, name;
  Signedness signedness_opt;
};

void run_convert(const ConvertOptions& o) {
  Multiplier m = load(o.input, o.from, o.signedness_opt);
  if (!o.name.empty()) m.set_name(o.name);
  write_multiplier(m, o.output, optional_format(o.to));
  fmt::print("wrote {} ({}-bit {}) to {}\n", m.name(), m.bits(), signedness(m.is_signed()),
             o.output);
}

}  // namespace

void add_mult_command(CLI::App& app) {
  CLI::App* mult = app.add_subcommand(
      "mult", "Approximate multipliers: list, show metrics, generate and convert tables");
  mult->require_subcommand(1);
  mult->footer(std::string("\n") + kNamesHelp);

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
  show->add_option("--from", show_opts->format,
                   std::string("File format when the extension does not say: ") + kFormatsHelp);
  show_opts->signedness_opt.add_to(*show, "Read a file's operands as signed (formats without it)",
                                   "Read a file's operands as unsigned (formats without it)");
  show->footer(std::string("\n") + kNamesHelp);
  show->callback([show_opts] {
    const Multiplier m = load(show_opts->name, show_opts->format, show_opts->signedness_opt);
    const ErrorMetrics e = compute_metrics(m);
    if (show_opts->json) {
      fmt::print("{}\n", to_json(m, e).dump(2));
    } else {
      print_show(m, e);
    }
  });

  auto gen = std::make_shared<GenerateOptions>();
  CLI::App* generate = mult->add_subcommand(
      "generate", "Generate a multiplier table by enumerating all code pairs and write it");
  generate->add_option("kind", gen->kind, "exact, trunc, bam, drum, mitchell or columns")
      ->required()
      ->check(CLI::IsMember({"exact", "trunc", "bam", "drum", "mitchell", "columns"}));
  generate->add_option("--bits", gen->bits, "Operand width 2..8")->default_val(8);
  gen->signedness_opt.add_to(*generate, "Signed two's complement operands (the default)",
                             "Unsigned operands");
  generate->add_option("--k", gen->k,
                       "trunc: partial-product columns removed (0..2b-1 unsigned, 0..2b signed); "
                       "drum: bits kept from the leading one (1..b)");
  generate->add_option("--hbl", gen->hbl,
                       "bam: horizontal break level, lowest rows omitted (0..b)");
  generate->add_option("--vbl", gen->vbl,
                       "bam: vertical break level, lowest columns omitted (0..2b-1 / 0..2b)");
  generate->add_option("--columns", gen->columns,
                       "columns: keep flags 1/0, column 0 first, e.g. 0,0,1,1 or 0011; columns "
                       "left out at the top are kept");
  generate->add_option("-o,--output", gen->output, "Output file")->required();
  generate->add_option("--to,--format", gen->format,
                       std::string("Output format (default from the extension): ") + kFormatsHelp);
  generate->add_option("--name", gen->name, "Name stored in the file (default: the registry name)");
  generate->footer(
      "\nExamples:\n"
      "  axnn mult generate trunc --bits 8 --signed --k 4 -o trunc8s_k4.axm\n"
      "  axnn mult generate bam --bits 8 --unsigned --hbl 2 --vbl 4 -o bam.h\n"
      "  axnn mult generate columns --bits 4 --unsigned --columns 0,0,1,0 -o c.txt\n"
      "Unsigned arrays have 2b-1 partial-product columns, signed (Baugh-Wooley) ones 2b.");
  generate->callback([gen] { run_generate(*gen); });

  auto conv = std::make_shared<ConvertOptions>();
  CLI::App* convert = mult->add_subcommand(
      "convert", "Convert a multiplier between formats (axm, header, tfapprox, tram, csv)");
  convert->add_option("input", conv->input, "Input file, or a registry name to export a built-in")
      ->required();
  convert->add_option("-o,--output", conv->output, "Output file")->required();
  convert->add_option("--from", conv->from,
                      std::string("Input format (default from the extension): ") + kFormatsHelp);
  convert->add_option("--to", conv->to,
                      std::string("Output format (default from the extension): ") + kFormatsHelp);
  conv->signedness_opt.add_to(
      *convert, "Read the input's operands as signed (formats without it; header's default)",
      "Read the input's operands as unsigned (formats without it; tfapprox's default)");
  convert->add_option("--name", conv->name, "Name for the converted multiplier");
  convert->callback([conv] { run_convert(*conv); });
}

}  // namespace axnn::cli
