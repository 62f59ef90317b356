// ONNX import against torch: models exported by tests/onnx/export_models.py (Debian's torch, run
// once per ctest run as the fixture onnx.export, into $AXNN_ONNX_MODELS) give torch's fp32
// outputs; layers carry the torch module paths; imported zoo twins with a zoo checkpoint's
// weights compute bit for bit what the zoo model does on approximate multipliers; imported
// checkpoints round-trip; malformed graphs give one clear error.
#include <ATen/ATen.h>
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/error_of.h"
#include "models/zoo.h"
#include "nn/ax_layers.h"
#include "nn/configure.h"
#include "onnx/graph_model.h"
#include "train/train.h"

namespace axnn::onnx {
namespace {

namespace fs = std::filesystem;
using test_util::error_of;
using ::testing::HasSubstr;

constexpr int64_t kBatch = 4;

// The exported models' folder, or empty (the test skips) when the export did not run.
fs::path models_dir() {
  const char* dir = std::getenv("AXNN_ONNX_MODELS");
  if (!dir || !fs::exists(fs::path(dir) / "input.bin")) return {};
  return dir;
}

#define REQUIRE_MODELS()             \
  const fs::path dir = models_dir(); \
  if (dir.empty())                   \
  GTEST_SKIP() << "no exported models (AXNN_ONNX_MODELS unset, or python3 torch/onnx missing)"

at::Tensor read_floats(const fs::path& path, at::IntArrayRef sizes) {
  std::ifstream in(path, std::ios::binary);
  at::Tensor t = at::empty(sizes, at::kFloat);
  in.read(reinterpret_cast<char*>(t.data_ptr<float>()), t.numel() * sizeof(float));
  EXPECT_TRUE(in.good()) << path;
  return t;
}

std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

fs::path temp_dir(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / fmt::format("axnn_onnx_{}_{}", name, getpid());
  fs::create_directories(d);
  return d;
}

class FloatOutputs : public ::testing::TestWithParam<std::string> {};

TEST_P(FloatOutputs, MatchTorch) {
  REQUIRE_MODELS();
  const std::string name = GetParam();
  const auto model = import_file(dir / (name + ".onnx"));
  model->eval();
  EXPECT_EQ(model->spec().channels, 1);
  EXPECT_EQ(model->spec().image_size, 28);
  EXPECT_EQ(model->spec().classes, 10);
  const at::Tensor x = read_floats(dir / "input.bin", {kBatch, 1, 28, 28});
  const at::Tensor expected = read_floats(dir / (name + ".out.bin"), {kBatch, 10});
  torch::NoGradGuard no_grad;
  const at::Tensor y = model->forward(x);
  const double diff = (y - expected).abs().max().item<double>();
  const double scale = expected.abs().max().item<double>();
  std::printf("%s: max |diff| %.3g, max |output| %.3g\n", name.c_str(), diff, scale);
  EXPECT_LE(diff, 1e-4 * scale) << name;
  // A batch of one (the twins are exported with batch 1 fixed) gives the same rows.
  EXPECT_LE((model->forward(x.slice(0, 1, 2)) - expected.slice(0, 1, 2)).abs().max().item<double>(),
            1e-4 * scale);
}

INSTANTIATE_TEST_SUITE_P(Models, FloatOutputs,
                         ::testing::Values("resnet18", "mobilenet_v2", "vit", "vit_opset13",
                                           "lenet5", "mlp", "resnet20", "vit-tiny"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n)
                             if (c == '-') c = '_';
                           return n;
                         });

std::map<std::string, std::string> layer_types(models::Model& model) {
  std::map<std::string, std::string> types;
  for (const auto& [path, layer] : nn::ax_layers(model)) {
    EXPECT_EQ(layer->layer_name(), path);
    types[path] = std::string(layer->type());
  }
  return types;
}

// The type of the layer at `path`, or a list of the paths there are.
std::string type_at(const std::map<std::string, std::string>& types, const std::string& path) {
  if (types.count(path)) return types.at(path);
  std::string all;
  for (const auto& [p, t] : types) all += " " + p;
  return "no layer " + path + " in" + all;
}

TEST(OnnxNames, AreTorchModulePaths) {
  REQUIRE_MODELS();
  {  // weight names; BN folded into the convs (onnx::Conv_* weights): the node scopes
    const auto types = layer_types(*import_file(dir / "resnet18.onnx"));
    EXPECT_EQ(types.size(), 21u);
    EXPECT_EQ(type_at(types, "conv1"), "conv2d");
    EXPECT_EQ(type_at(types, "layer1.0.conv1"), "conv2d");
    EXPECT_EQ(type_at(types, "layer2.0.downsample.0"), "conv2d");
    EXPECT_EQ(type_at(types, "fc"), "linear");
  }
  {
    const auto model = import_file(dir / "mobilenet_v2.onnx");
    const auto types = layer_types(*model);
    EXPECT_EQ(type_at(types, "features.0.0"), "conv2d");
    EXPECT_EQ(type_at(types, "features.1.conv.0.0"), "conv2d");
    EXPECT_EQ(type_at(types, "classifier.1"), "linear");
    // Batch norms are modules with their torch paths too.
    bool found = false;
    for (const auto& item : model->named_buffers())
      found = found || item.key() == "features.1.conv.0.1.running_mean";
    EXPECT_TRUE(found);
  }
  {
    const auto model = import_file(dir / "vit.onnx");
    const auto types = layer_types(*model);
    const std::string b = "encoder.layers.encoder_layer_0.";
    EXPECT_EQ(type_at(types, "conv_proj"), "conv2d");
    EXPECT_EQ(type_at(types, b + "self_attention.qk"), "matmul");
    EXPECT_EQ(type_at(types, b + "self_attention.av"), "matmul");
    // in_proj: named by its bias, in_proj_bias (its weight is a transposed copy, onnx::MatMul_*)
    EXPECT_EQ(type_at(types, b + "self_attention.in_proj"), "linear");
    EXPECT_EQ(type_at(types, b + "self_attention.out_proj"), "linear");
    EXPECT_EQ(type_at(types, b + "mlp.0"), "linear");
    EXPECT_EQ(type_at(types, b + "mlp.3"), "linear");
    EXPECT_EQ(type_at(types, "heads.head"), "linear");
    std::set<std::string> parameters;
    for (const auto& item : model->named_parameters()) parameters.insert(item.key());
    EXPECT_TRUE(parameters.count("class_token"));
    EXPECT_TRUE(parameters.count("encoder.pos_embedding"));
    EXPECT_TRUE(parameters.count(b + "ln_1.weight"));
  }
  {  // the zoo's own names
    const auto zoo = models::make_model("vit-tiny", {1, 28, 10});
    EXPECT_EQ(layer_types(*import_file(dir / "vit-tiny.onnx")), layer_types(*zoo));
    const auto resnet = models::make_model("resnet20", {1, 28, 10});
    EXPECT_EQ(layer_types(*import_file(dir / "resnet20.onnx")), layer_types(*resnet));
  }
}

// The zoo model and its imported twin on the same config, calibrated on the same images.
void expect_same_approximate_outputs(models::Model& zoo, models::Model& twin,
                                     const std::string& mult, const std::string& name) {
  torch::manual_seed(3);
  const at::Tensor calibration = at::rand({32, 1, 28, 28});
  const at::Tensor x = at::rand({8, 1, 28, 28});
  at::Tensor outputs[2];
  models::Model* models[2] = {&zoo, &twin};
  for (int i = 0; i < 2; ++i) {
    models[i]->eval();
    nn::configure_layers(*models[i], nn::rules_for_all(mult));
    torch::NoGradGuard no_grad;
    nn::set_calibrating(*models[i], true);
    models[i]->forward(calibration);
    nn::set_calibrating(*models[i], false);
    outputs[i] = models[i]->forward(x);
  }
  EXPECT_TRUE(at::equal(outputs[0], outputs[1]))
      << name << " on " << mult << ": max |diff| "
      << (outputs[0] - outputs[1]).abs().max().item<double>();
}

TEST(OnnxZooTwins, ApproximateOutputsBitForBit) {
  REQUIRE_MODELS();
  const fs::path tmp = temp_dir("twins");
  std::string command = fmt::format("/usr/bin/python3 {}/tests/onnx/export_models.py {}",
                                    AXNN_SOURCE_DIR, tmp.string());
  std::map<std::string, std::shared_ptr<models::Model>> zoo;
  for (const std::string name : {"lenet5", "mlp", "resnet20", "vit-tiny"}) {
    torch::manual_seed(7);
    zoo[name] = models::make_model(name, {1, 28, 10});
    train::save_checkpoint(*zoo[name], {name, {1, 28, 10}, "test"}, tmp / (name + ".pt"));
    command += fmt::format(" --checkpoint {}={}", name, (tmp / (name + ".pt")).string());
  }
  ASSERT_EQ(std::system((command + " 2>/dev/null").c_str()), 0) << command;
  for (const auto& [name, model] : zoo) {
    for (const std::string mult : {"trunc8s_k4", "drum8u_k4"}) {
      const auto twin = import_file(tmp / (name + ".ckpt.onnx"));
      expect_same_approximate_outputs(*model, *twin, mult, name);
    }
  }
  fs::remove_all(tmp);
}

TEST(OnnxCheckpoint, RoundTripsGraphWeightsConfigsAndNormalization) {
  REQUIRE_MODELS();
  const fs::path tmp = temp_dir("checkpoint");
  const auto model = import_file(dir / "resnet20.onnx", {{0.25}, {0.5}});
  model->eval();
  nn::configure_layers(*model, nn::rules_for_all("trunc8s_k4"));
  torch::manual_seed(5);
  const at::Tensor x = at::rand({kBatch, 1, 28, 28});
  {
    torch::NoGradGuard no_grad;
    nn::set_calibrating(*model, true);
    model->forward(x);
    nn::set_calibrating(*model, false);
  }
  const at::Tensor before = model->forward(x).detach();
  train::save_checkpoint(*model, {"onnx", model->spec(), "mnist:somewhere"}, tmp / "m.pt");
  train::CheckpointInfo info;
  const auto loaded = train::load_checkpoint(tmp / "m.pt", &info);
  EXPECT_EQ(info.model, "onnx");
  EXPECT_EQ(info.dataset, "mnist:somewhere");
  EXPECT_EQ(info.spec.classes, 10);
  const auto* graph = dynamic_cast<GraphModel*>(loaded.get());
  ASSERT_NE(graph, nullptr);
  EXPECT_EQ(graph->normalization().mean, std::vector<double>{0.25});
  EXPECT_EQ(graph->normalization().std, std::vector<double>{0.5});
  for (const auto& [path, layer] : nn::ax_layers(*loaded))
    EXPECT_EQ(layer->config().mult, "trunc8s_k4");
  EXPECT_TRUE(at::equal(loaded->forward(x), before));
  // The stored graph has no weights: the checkpoint is about the size of the tensors.
  EXPECT_LT(fs::file_size(tmp / "m.pt"), fs::file_size(dir / "resnet20.onnx") * 3 / 2);
  fs::remove_all(tmp);
}

TEST(OnnxTraining, BatchNormUpdatesAndParametersTrain) {
  REQUIRE_MODELS();
  const auto model = import_file(dir / "mobilenet_v2.onnx");
  at::Tensor mean;
  for (const auto& item : model->named_buffers())
    if (item.key() == "features.0.1.running_mean") mean = item.value();
  ASSERT_TRUE(mean.defined());
  const at::Tensor before = mean.clone();
  model->train();
  torch::manual_seed(2);
  const at::Tensor loss = model->forward(at::rand({kBatch, 1, 28, 28})).square().mean();
  loss.backward();
  EXPECT_FALSE(at::equal(mean, before));  // training-mode batch norm updates its statistics
  int with_grad = 0;
  for (const auto& p : model->parameters()) with_grad += p.grad().defined();
  EXPECT_EQ(with_grad, static_cast<int>(model->parameters().size()));
}

// lenet5.onnx edited by `edit`, written to a file; what importing it says.
std::string import_error(const fs::path& dir,
                         const std::function<void(::onnx::ModelProto&)>& edit) {
  ::onnx::ModelProto proto;
  EXPECT_TRUE(proto.ParseFromString(read_bytes(dir / "lenet5.onnx")));
  edit(proto);
  const fs::path path = temp_dir("errors") / "edited.onnx";
  std::ofstream(path, std::ios::binary) << proto.SerializeAsString();
  return error_of([&] { import_file(path); });
}

TEST(OnnxErrors, NameTheFileAndTheNode) {
  REQUIRE_MODELS();
  EXPECT_THAT(
      import_error(dir, [](auto& p) { p.mutable_graph()->mutable_node(1)->set_op_type("Fancy"); }),
      ::testing::AllOf(HasSubstr("edited.onnx"), HasSubstr("node '/Relu'"),
                       HasSubstr("operator Fancy is not supported")));
  EXPECT_THAT(import_error(dir,
                           [](auto& p) {
                             auto* a = p.mutable_graph()->mutable_node(0)->add_attribute();
                             a->set_name("auto_pad");
                             a->set_type(::onnx::AttributeProto::STRING);
                             a->set_s("SAME_UPPER");
                           }),
              ::testing::AllOf(HasSubstr("node '/conv1/Conv' (Conv)"),
                               HasSubstr("auto_pad SAME_UPPER is not supported")));
  EXPECT_THAT(import_error(dir,
                           [](auto& p) {
                             auto* inits = p.mutable_graph()->mutable_initializer();
                             inits->erase(inits->begin());  // conv1.weight
                           }),
              HasSubstr("node '/conv1/Conv' (Conv): input 'conv1.weight' is neither an "
                        "initializer nor the output of an earlier node"));
  EXPECT_THAT(import_error(dir,
                           [](auto& p) {
                             auto* dims = p.mutable_graph()
                                              ->mutable_input(0)
                                              ->mutable_type()
                                              ->mutable_tensor_type()
                                              ->mutable_shape();
                             dims->mutable_dim(3)->set_dim_value(30);
                           }),
              HasSubstr("is 28 x 30 pixels; axnn takes square images"));
  EXPECT_THAT(
      import_error(dir,
                   [](auto& p) { p.mutable_graph()->mutable_node(3)->set_input(0, "nowhere"); }),
      HasSubstr("node '/conv2/Conv' (Conv): input 'nowhere' is neither an initializer "
                "nor the output of an earlier node"));

  const fs::path tmp = temp_dir("garbage");
  std::ofstream(tmp / "garbage.onnx") << "this is not a protobuf \xff\xff\xff";
  EXPECT_THAT(error_of([&] { import_file(tmp / "garbage.onnx"); }),
              ::testing::AllOf(HasSubstr("garbage.onnx"), HasSubstr("not an ONNX model")));
  EXPECT_THAT(error_of([&] { import_file(tmp / "missing.onnx"); }),
              HasSubstr("missing.onnx: not found"));
  fs::remove_all(tmp);
}

}  // namespace
}  // namespace axnn::onnx
