// Each subcommand group of the axnn executable registers itself on the top-level app.
#pragma once

#include <CLI/CLI.hpp>

namespace axnn::cli {

void add_mult_command(CLI::App& app);    // mult_command.cpp
void add_bench_command(CLI::App& app);   // bench_command.cpp
void add_model_commands(CLI::App& app);  // model_command.cpp: train, calibrate, eval, retrain
void add_sweep_command(CLI::App& app);   // sweep_command.cpp
// netlist_command.cpp: `netlist sim|stats|...` and `mult import` (after add_mult_command)
void add_netlist_commands(CLI::App& app);
void add_search_command(CLI::App& app);  // search_command.cpp
// tune_command.cpp: `tune conv2d|export` (and the analysis commands below under `tune`)
void add_tune_command(CLI::App& app);
void add_tune_analysis_commands(CLI::App& tune);  // tune_analysis_command.cpp: select, perf, import
void add_energy_command(CLI::App& app);           // energy_command.cpp: energy measure|probe
// tram_command.cpp: `tram explore|recover|run` (and `tram map` below under `tram`)
void add_tram_command(CLI::App& app);
void add_tram_map_command(CLI::App& tram);  // tram_map_command.cpp
void add_halut_command(CLI::App& app);      // halut_command.cpp: `halut learn`
void add_import_command(CLI::App& app);     // import_command.cpp: `import` (with AXNN_HAVE_ONNX)

}  // namespace axnn::cli
