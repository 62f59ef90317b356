// `axnn import MODEL.onnx -o MODEL.pt`: an ONNX model (src/onnx/graph_model.h) as an axnn
// checkpoint, for calibrate, eval, retrain, sweep, search and the rest.
#include <ATen/ATen.h>
#include <fmt/format.h>

#include <string>
#include <vector>

#include "commands.h"
#include "core/error.h"
#include "model_options.h"
#include "nn/configure.h"
#include "onnx/graph_model.h"

namespace axnn::cli {

void add_import_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "import",
      "Import an ONNX model (torch.onnx.export, opsets 11..18) as an fp32 checkpoint: its Conv,\n"
      "Gemm and MatMul nodes become approximate layers named by their torch module paths");
  struct Args {
    std::string input, output, dataset = "fashion-mnist";
    std::vector<double> mean, std;
  };
  auto args = std::make_shared<Args>();
  cmd->add_option("model", args->input, "The .onnx file (weights inside it)")->required();
  cmd->add_option("-o,--output", args->output, "Checkpoint to write")->required();
  cmd->add_option("--mean", args->mean,
                  "Per-channel mean the images (in [0, 1]) are normalized by, (x - mean) / std "
                  "(default 0)")
      ->delimiter(',');
  cmd->add_option("--std", args->std, "Per-channel standard deviation (default 1)")->delimiter(',');
  cmd->add_option("--dataset,--data", args->dataset,
                  std::string("The dataset later commands use. ") + kDataHelp)
      ->capture_default_str();
  cmd->callback([args] {
    check_output(args->output);
    const auto model = onnx::import_file(args->input, {args->mean, args->std});
    const models::InputSpec& spec = model->spec();
    model->eval();
    {  // one sample through the graph: it runs, and the layers count their MACs
      torch::NoGradGuard no_grad;
      model->forward(at::zeros({1, spec.channels, spec.image_size, spec.image_size}));
    }
    train::save_checkpoint(*model, {"onnx", spec, args->dataset}, args->output);
    const auto table = nn::layer_table(*model);
    int64_t macs = 0;
    for (const auto& l : table) macs += l.macs_per_sample;
    fmt::print(
        "imported {}: {} x {} x {} images, {} classes, {} approximate layers, {} MACs per "
        "sample; wrote {}\n",
        args->input, spec.channels, spec.image_size, spec.image_size, spec.classes, table.size(),
        macs, args->output);
    fmt::print("  {:<40} {:<7} {:>12}\n", "layer", "type", "MACs/sample");
    for (const auto& l : table)
      fmt::print("  {:<40} {:<7} {:>12}\n", l.name, l.type, l.macs_per_sample);
  });
}

}  // namespace axnn::cli
