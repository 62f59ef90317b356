// axnn: approximate multipliers in quantized DNNs. One subcommand per task, thin over the library.
#include <cstdio>
#include <exception>

#include "commands.h"
#include "core/error.h"
#include "mult/registry.h"
#include "netlist/multiplier_cost.h"

int main(int argc, char** argv) {
  CLI::App app{
      "axnn: design deep neural networks for approximate hardware multipliers.\n"
      "Keeps a library of approximate multipliers (generated, imported, tables) with exact error\n"
      "metrics, emulates them bit-exactly in fast CPU LUT-GEMM kernels and in approximate\n"
      "Conv2d/Linear/attention layers; trains, calibrates, evaluates, retrains and sweeps models,\n"
      "searches a multiplier per layer and learns multiplier structures with the network (tram).\n"
      "Environment: AXNN_ISA=ref|avx2|avx512 caps the kernel ISA, AXNN_LOG_LEVEL=debug|info|...,\n"
      "AXNN_MULT_PATH=dir[:dir...] adds folders of .axm multipliers to the registry.",
      "axnn"};
  app.require_subcommand(1);
  // Built-in multipliers with a circuit get their estimated relative power (cached on disk).
  axnn::set_builtin_meta_hook(axnn::netlist::attach_builtin_circuit_cost);
  app.set_version_flag("--version", AXNN_VERSION);
  app.set_help_all_flag("--help-all", "Print help for every subcommand");
  axnn::cli::add_mult_command(app);
  axnn::cli::add_bench_command(app);
  axnn::cli::add_model_commands(app);
#ifdef AXNN_HAVE_ONNX
  axnn::cli::add_import_command(app);
#endif
  axnn::cli::add_sweep_command(app);
  axnn::cli::add_netlist_commands(app);
  axnn::cli::add_search_command(app);
  axnn::cli::add_tram_command(app);
  axnn::cli::add_halut_command(app);
  axnn::cli::add_tune_command(app);
  axnn::cli::add_energy_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const axnn::Error& e) {
    std::fprintf(stderr, "axnn: error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "axnn: internal error: %s\n", e.what());
    return 2;
  }
  return 0;
}
