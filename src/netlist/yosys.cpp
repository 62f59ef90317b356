#include "netlist/yosys.h"

#include "core/error.h"
#include "core/subprocess.h"
#include "netlist/blif.h"

namespace axnn::netlist {

Netlist import_verilog(const std::filesystem::path& path, const std::string& top) {
  AXNN_CHECK(std::filesystem::is_regular_file(path), "{}: not found", path.string());
  AXNN_CHECK(find_program("yosys"),
             "{}: importing Verilog needs yosys, which is not on PATH (Debian package yosys; "
             "scripts/install-deps.sh installs it)",
             path.string());
  // The module name goes into a yosys script: only plain identifiers are passed through.
  AXNN_CHECK(top.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                   "0123456789_$") == std::string::npos,
             "{}: '{}' is not a Verilog module name", path.string(), top);
  const TempDir dir("axnn-yosys");
  const std::filesystem::path source = dir.path() / "in.v", blif = dir.path() / "out.blif";
  std::filesystem::copy_file(path, source);  // yosys sees a fixed, safe file name
  const std::string script =
      fmt::format("read_verilog in.v; synth -flatten {}; opt_clean -purge; write_blif out.blif",
                  top.empty() ? "-auto-top" : "-top " + top);
  const ProcessResult result = run_process({"yosys", "-q", "-p", script}, dir.path());
  AXNN_CHECK(result.exit_code == 0 && std::filesystem::is_regular_file(blif),
             "{}: yosys failed (exit code {}) running \"{}\"; its log:\n{}", path.string(),
             result.exit_code, script, result.output);
  try {
    return read_blif(blif);
  } catch (const Error& e) {
    throw Error(
        fmt::format("{}: the BLIF yosys wrote does not read back: {}", path.string(), e.what()));
  }
}

Netlist read_circuit(const std::filesystem::path& path, const std::string& top) {
  const std::string ext = path.extension().string();
  if (ext == ".v" || ext == ".sv") return import_verilog(path, top);
  AXNN_CHECK(ext == ".blif", "{}: unknown circuit format '{}' (.v, .sv or .blif)", path.string(),
             ext);
  return read_blif(path, {top, nullptr});
}

}  // namespace axnn::netlist
