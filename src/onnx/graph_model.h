// ONNX import: a ModelProto (opsets 11..18, the operators of docs/onnx.md) interpreted with
// LibTorch ops, as a models::Model whose Conv, Gemm and MatMul nodes are axnn's approximate layers:
//   Conv                           -> nn::AxConv2d
//   Gemm, MatMul of a constant B   -> nn::AxLinear (a MatMul's following Add of a constant [N]
//                                     becomes its bias)
//   MatMul of two activations      -> nn::AxMatMul
//   BatchNormalization             -> torch::nn::BatchNorm2d (train() updates its statistics)
// Layers are named by their torch module paths, so rule files work here as in Python: from the
// weight initializer (`layer1.0.conv1.weight` -> `layer1.0.conv1`), else from the bias
// (`.bias`), else from the node's scope (`/features/features.0/features.0.0/Conv` ->
// `features.0.0`). Activation MatMuls of one scope are `<scope>.qk` and `<scope>.av` when there
// are exactly two (attention), else `<scope>.matmul`, `<scope>.matmul_1`, ... The modules form a
// hierarchy by path component, so nn::ax_layers reports these paths. Every other initializer is a
// parameter (float, torch-like name: LayerNorm weights, embeddings, class tokens) or a buffer of
// the model, so checkpoints keep them and retraining trains them.
//
// The graph takes images [N, C, H, W] (H == W, N dynamic or 1) and gives logits [N, classes];
// forward normalizes the images, (x - mean) / std per channel, before the graph.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "models/zoo.h"

namespace axnn::onnx {

// Per channel; empty: mean 0, std 1.
struct Normalization {
  std::vector<double> mean, std;
};

class GraphModel : public models::Model {
 public:
  // `model_bytes`: a serialized ModelProto, `source` names it in errors. With `with_weights` false
  // the initializers need no data (a checkpoint's stripped graph, graph_bytes()): their tensors
  // get the right shapes, zero-filled, for a checkpoint to load. Throws axnn::Error naming the
  // source and the node or field at fault.
  GraphModel(const std::string& model_bytes, std::string source, Normalization normalization,
             bool with_weights = true);
  ~GraphModel() override;

  at::Tensor forward(const at::Tensor& images) override;
  std::string_view model_name() const override { return "onnx"; }

  const models::InputSpec& spec() const { return spec_; }
  const Normalization& normalization() const { return normalization_; }
  // The ModelProto without its initializers' data (those live in the module's tensors).
  const std::string& graph_bytes() const { return graph_bytes_; }

  struct Program;  // the compiled graph (graph_model.cpp)

 private:
  std::string source_;
  Normalization normalization_;
  models::InputSpec spec_;
  std::string graph_bytes_;
  at::Tensor mean_, std_;  // [1, C, 1, 1], undefined when the normalization is the identity
  std::unique_ptr<Program> program_;
};

// Reads an .onnx file (a missing, unreadable or non-protobuf file is one axnn::Error naming it).
std::shared_ptr<GraphModel> import_file(const std::filesystem::path& path,
                                        Normalization normalization = {});

}  // namespace axnn::onnx
