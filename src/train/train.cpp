#include "train/train.h"

#include <ATen/ATen.h>
#include <torch/optim/adam.h>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>

#include <chrono>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "core/progress.h"
#include "nn/ax_layers.h"
#include "nn/device.h"
#include "nn/layer_config.h"
#ifdef AXNN_HAVE_ONNX
#include "onnx/graph_model.h"
#endif

namespace axnn::train {
namespace {

constexpr int64_t kShift = 2;  // augmentation: crops move by up to this many pixels

// Each image shifted by a random (dy, dx) in [-kShift, kShift] (zero fill) and flipped
// horizontally with probability 1/2.
at::Tensor augment(const at::Tensor& images) {
  const int64_t n = images.size(0), h = images.size(2), w = images.size(3);
  const at::Tensor padded = at::constant_pad_nd(images, {kShift, kShift, kShift, kShift});
  const at::Tensor offsets = at::randint(0, 2 * kShift + 1, {n, 2}, at::kLong);
  const at::Tensor flips = at::randint(0, 2, {n}, at::kLong);
  const auto o = offsets.accessor<int64_t, 2>();
  const auto f = flips.accessor<int64_t, 1>();
  at::Tensor out = at::empty_like(images);
  for (int64_t i = 0; i < n; ++i) {
    const at::Tensor crop = padded[i].slice(1, o[i][0], o[i][0] + h).slice(2, o[i][1], o[i][1] + w);
    out[i].copy_(f[i] ? crop.flip({2}) : crop);
  }
  return out;
}

}  // namespace

void train(models::Model& model, const data::Dataset& set, const TrainOptions& options,
           const std::function<void(const EpochStats&)>& on_epoch, const ExtraObjective* extra) {
  AXNN_CHECK(options.epochs >= 1 && options.batch_size >= 1 && options.lr > 0,
             "train: epochs ({}), batch size ({}) and learning rate ({}) must be positive",
             options.epochs, options.batch_size, options.lr);
  AXNN_CHECK(set.size() > 0, "train: the dataset '{}' is empty", set.name);
  torch::manual_seed(options.seed);
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(
      model.parameters(),
      std::make_unique<torch::optim::AdamOptions>(
          torch::optim::AdamOptions(options.lr).weight_decay(options.weight_decay)));
  if (extra) {
    AXNN_CHECK(extra->lr > 0, "train: the extra parameters' learning rate {} must be positive",
               extra->lr);
    groups.emplace_back(extra->parameters, std::make_unique<torch::optim::AdamOptions>(extra->lr));
  }
  std::vector<double> base_lr = {options.lr};
  if (extra) base_lr.push_back(extra->lr);
  torch::optim::Adam optimizer(
      std::move(groups), torch::optim::AdamOptions(options.lr).weight_decay(options.weight_decay));
  const int64_t steps_per_epoch = (set.size() + options.batch_size - 1) / options.batch_size;
  const double total_steps = static_cast<double>(options.epochs * steps_per_epoch);
  const at::Device device = nn::device_of(model);
  int64_t step = 0;
  model.train();
  for (int64_t epoch = 1; epoch <= options.epochs; ++epoch) {
    const auto start = std::chrono::steady_clock::now();
    const at::Tensor order = at::randperm(set.size(), at::kLong);
    Progress progress(fmt::format("epoch {}/{}", epoch, options.epochs), set.size(), "img");
    double loss_sum = 0, penalty_sum = 0;
    int64_t correct = 0;
    for (int64_t begin = 0; begin < set.size(); begin += options.batch_size, ++step) {
      const int64_t end = std::min(begin + options.batch_size, set.size());
      const at::Tensor idx = order.slice(0, begin, end);
      // Prepared on the host, so that every device sees the same images.
      at::Tensor images = set.images.index_select(0, idx).to(at::kFloat) / 255;
      if (options.augment) images = augment(images);
      images = images.to(device);
      const at::Tensor labels = set.labels.index_select(0, idx).to(device);
      // Cosine decay of the learning rate over the whole run.
      const double decay = 0.5 * (1 + std::cos(M_PI * static_cast<double>(step) / total_steps));
      for (size_t g = 0; g < optimizer.param_groups().size(); ++g)
        static_cast<torch::optim::AdamOptions&>(optimizer.param_groups()[g].options())
            .lr(base_lr[g] * decay);
      const at::Tensor logits = model.forward(images);
      at::Tensor loss = at::cross_entropy_loss(logits, labels);
      if (extra && extra->penalty) {
        const at::Tensor penalty = extra->penalty();
        penalty_sum += penalty.item<double>() * static_cast<double>(end - begin);
        loss = loss + penalty;
      }
      optimizer.zero_grad();
      loss.backward();
      optimizer.step();
      if (extra && extra->after_step) extra->after_step();
      loss_sum += loss.item<double>() * static_cast<double>(end - begin);
      correct += logits.argmax(1).eq(labels).sum().item<int64_t>();
      progress.update(end, fmt::format("loss {:.4f}", loss_sum / static_cast<double>(end)));
    }
    progress.finish();
    if (on_epoch)
      on_epoch({epoch, loss_sum / static_cast<double>(set.size()),
                penalty_sum / static_cast<double>(set.size()),
                static_cast<double>(correct) / static_cast<double>(set.size()),
                std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()});
  }
  model.eval();
}

double evaluate(models::Model& model, const data::Dataset& set, int64_t batch_size,
                at::Tensor* logits) {
  AXNN_CHECK(set.size() > 0, "evaluate: the dataset '{}' is empty", set.name);
  torch::NoGradGuard no_grad;
  model.eval();
  Progress progress("eval", set.size(), "img");
  int64_t correct = 0;
  std::vector<at::Tensor> batches;
  const at::Device device = nn::device_of(model);
  for (int64_t begin = 0; begin < set.size(); begin += batch_size) {
    const int64_t end = std::min(begin + batch_size, set.size());
    const at::Tensor out = model.forward(set.batch_images(begin, end).to(device)).cpu();
    correct += out.argmax(1).eq(set.labels.slice(0, begin, end)).sum().item<int64_t>();
    if (logits) batches.push_back(out);
    progress.update(end);
  }
  if (logits) *logits = at::cat(batches);
  return static_cast<double>(correct) / static_cast<double>(set.size());
}

void calibrate(models::Model& model, const data::Dataset& set, int64_t batches,
               int64_t batch_size) {
  AXNN_CHECK(batches >= 1, "calibrate: batches = {} must be at least 1", batches);
  torch::NoGradGuard no_grad;
  model.eval();
  nn::set_calibrating(model, true);
  const int64_t n = std::min(set.size(), batches * batch_size);
  const at::Device device = nn::device_of(model);
  Progress progress("calibrate", n, "img");
  for (int64_t begin = 0; begin < n; begin += batch_size) {
    const int64_t end = std::min(begin + batch_size, n);
    model.forward(set.batch_images(begin, end).to(device));
    progress.update(end);
  }
  nn::set_calibrating(model, false);
}

namespace {

constexpr const char* kMetaKey = "axnn_checkpoint";
// An imported ONNX model (meta "model": "onnx") keeps its graph, without the initializers' data
// (the module's tensors), as a uint8 tensor attribute (not a buffer, so not in state_dict).
constexpr const char* kGraphKey = "axnn_onnx_graph";
// 2 added the approximate layers' activation ranges (min_*, max_*) for unsigned multipliers.
constexpr int kCheckpointVersion = 2;

// Module::save with every tensor on the CPU, so that a checkpoint loads on any device.
void save_on_cpu(const torch::nn::Module& module, torch::serialize::OutputArchive& archive) {
  const auto cpu = [](const at::Tensor& t) {
    return t.detach().cpu().requires_grad_(t.requires_grad());
  };
  for (const auto& parameter : module.named_parameters(/*recurse=*/false))
    archive.write(parameter.key(), cpu(parameter.value()));
  for (const auto& buffer : module.named_buffers(/*recurse=*/false))
    archive.write(buffer.key(), cpu(buffer.value()), /*is_buffer=*/true);
  for (const auto& child : module.named_children()) {
    if (!child.value()->is_serializable()) continue;
    torch::serialize::OutputArchive child_archive(archive.compilation_unit());
    save_on_cpu(*child.value(), child_archive);
    archive.write(child.key(), child_archive);
  }
}

}  // namespace

void save_checkpoint(models::Model& model, CheckpointInfo info, const std::filesystem::path& path) {
  info.layers = nlohmann::json::object();
  for (const auto& [name, layer] : nn::ax_layers(model))
    info.layers[name] = nn::to_json(layer->config());
  nlohmann::json meta = {{"version", kCheckpointVersion},  {"model", info.model},
                         {"channels", info.spec.channels}, {"image_size", info.spec.image_size},
                         {"classes", info.spec.classes},   {"dataset", info.dataset},
                         {"layers", info.layers}};
  torch::serialize::OutputArchive archive;
  save_on_cpu(model, archive);
#ifdef AXNN_HAVE_ONNX
  if (const auto* graph = dynamic_cast<const onnx::GraphModel*>(&model)) {
    meta["model"] = graph->model_name();
    meta["mean"] = graph->normalization().mean;
    meta["std"] = graph->normalization().std;
    const std::string& bytes = graph->graph_bytes();
    at::Tensor data = at::empty({static_cast<int64_t>(bytes.size())}, at::kByte);
    std::memcpy(data.data_ptr(), bytes.data(), bytes.size());
    archive.write(kGraphKey, c10::IValue(data));
  }
#endif
  archive.write(kMetaKey, c10::IValue(meta.dump()));
  const std::filesystem::path tmp = path.string() + ".tmp";
  try {
    archive.save_to(tmp.string());
  } catch (const c10::Error& e) {
    throw Error(fmt::format("checkpoint {}: cannot be written: {}", path.string(),
                            e.what_without_backtrace()));
  }
  std::error_code error;
  std::filesystem::rename(tmp, path, error);
  AXNN_CHECK(!error, "checkpoint {}: cannot be written: {}", path.string(), error.message());
}

namespace {

// Module::load for version 1 checkpoints, which predate the activation range buffers (min_*,
// max_*) of the approximate layers: those keep their defaults, every other tensor must be there.
void load_version_1(torch::nn::Module& module, torch::serialize::InputArchive& archive) {
  for (auto& parameter : module.named_parameters(/*recurse=*/false))
    archive.read(parameter.key(), parameter.value());
  for (auto& buffer : module.named_buffers(/*recurse=*/false)) {
    const std::string& key = buffer.key();
    const bool added_in_2 = dynamic_cast<nn::AxLayer*>(&module) != nullptr &&
                            (key.rfind("min_", 0) == 0 || key.rfind("max_", 0) == 0);
    if (!added_in_2) archive.read(key, buffer.value(), /*is_buffer=*/true);
  }
  for (const auto& child : module.named_children()) {
    torch::serialize::InputArchive child_archive;
    archive.read(child.key(), child_archive);
    load_version_1(*child.value(), child_archive);
  }
}

}  // namespace

std::shared_ptr<models::Model> load_checkpoint(const std::filesystem::path& path,
                                               CheckpointInfo* info_out, const at::Device& device) {
  AXNN_CHECK(std::filesystem::is_regular_file(path), "checkpoint {}: not found", path.string());
  torch::serialize::InputArchive archive;
  c10::IValue meta_value;
  try {
    archive.load_from(path.string(), at::Device(at::kCPU));  // any tensor saved elsewhere too
    AXNN_CHECK(archive.try_read(kMetaKey, meta_value),
               "checkpoint {}: not an axnn checkpoint (no {} record)", path.string(), kMetaKey);
  } catch (const c10::Error& e) {
    throw Error(fmt::format("checkpoint {}: cannot be read: {}", path.string(),
                            e.what_without_backtrace()));
  }
  CheckpointInfo info;
  std::shared_ptr<models::Model> model;
  int version = 0;
  try {
    const nlohmann::json meta = nlohmann::json::parse(meta_value.toStringRef());
    version = meta.at("version").get<int>();
    AXNN_CHECK(version == kCheckpointVersion || version == 1,
               "checkpoint {}: version {} (this axnn reads 1 and {})", path.string(), version,
               kCheckpointVersion);
    info.model = meta.at("model").get<std::string>();
    info.spec = {meta.at("channels").get<int64_t>(), meta.at("image_size").get<int64_t>(),
                 meta.at("classes").get<int64_t>()};
    info.dataset = meta.at("dataset").get<std::string>();
    info.layers = meta.at("layers");
    if (info.model == "onnx") {
#ifdef AXNN_HAVE_ONNX
      c10::IValue graph;
      AXNN_CHECK(archive.try_read(kGraphKey, graph) && graph.isTensor(),
                 "checkpoint {}: an imported ONNX model without its graph ({} record)",
                 path.string(), kGraphKey);
      const at::Tensor bytes = graph.toTensor().contiguous();
      model = std::make_shared<onnx::GraphModel>(
          std::string(static_cast<const char*>(bytes.data_ptr()), bytes.numel()),
          fmt::format("checkpoint {}: graph", path.string()),
          onnx::Normalization{meta.at("mean").get<std::vector<double>>(),
                              meta.at("std").get<std::vector<double>>()},
          /*with_weights=*/false);
#else
      throw Error(
          fmt::format("checkpoint {}: an imported ONNX model, and this axnn was built "
                      "without ONNX support (libonnx-dev)",
                      path.string()));
#endif
    } else {
      model = models::make_model(info.model, info.spec);
    }
    for (const auto& [name, layer] : nn::ax_layers(*model)) {
      if (info.layers.contains(name))
        layer->set_config(nn::layer_config_from_json(
            info.layers[name], fmt::format("checkpoint {}: layer {}", path.string(), name)));
    }
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("checkpoint {}: bad metadata: {}", path.string(), e.what()));
  }
  try {
    if (version == kCheckpointVersion) {
      model->load(archive);
    } else {
      load_version_1(*model, archive);
      for (const auto& [name, layer] : nn::ax_layers(*model))
        for (const auto& buffer : layer->named_buffers(/*recurse=*/false))
          AXNN_CHECK(buffer.key().rfind("amax_", 0) != 0 || buffer.value().item<double>() < 0,
                     "checkpoint {}: a calibrated version 1 checkpoint lacks the activation "
                     "ranges of version 2: calibrate its uncalibrated original again",
                     path.string());
    }
  } catch (const c10::Error& e) {
    throw Error(fmt::format("checkpoint {}: tensors do not fit model '{}': {}", path.string(),
                            info.model, e.what_without_backtrace()));
  }
  model->to(device);
  model->eval();
  if (info_out) *info_out = info;
  return model;
}

}  // namespace axnn::train
