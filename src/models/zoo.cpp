#include "models/zoo.h"

#include <ATen/ATen.h>
#include <fmt/ranges.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/normalization.h>

#include <cmath>

#include "core/error.h"
#include "nn/ax_layers.h"

namespace axnn::models {
namespace {

using nn::AxConv2d;
using nn::AxLinear;
using nn::AxMatMul;
using nn::Conv2dShape;

Conv2dShape conv(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t padding,
                 bool bias) {
  Conv2dShape s{in, out, {kernel, kernel}};
  s.stride = {stride, stride};
  s.padding = {padding, padding};
  s.bias = bias;
  return s;
}

class LeNet5 : public Model {
 public:
  explicit LeNet5(const InputSpec& spec) {
    const int64_t after = (spec.image_size / 2 - 4) / 2;  // conv1 keeps the size (padding 2)
    AXNN_CHECK(after >= 1, "lenet5: images of {} pixels are too small (need 12 or more)",
               spec.image_size);
    conv1 = register_module("conv1", AxConv2d(conv(spec.channels, 6, 5, 1, 2, true), "conv1"));
    conv2 = register_module("conv2", AxConv2d(conv(6, 16, 5, 1, 0, true), "conv2"));
    fc1 = register_module("fc1", AxLinear(16 * after * after, 120, true, "fc1"));
    fc2 = register_module("fc2", AxLinear(120, 84, true, "fc2"));
    fc3 = register_module("fc3", AxLinear(84, spec.classes, true, "fc3"));
  }
  at::Tensor forward(const at::Tensor& x) override {
    at::Tensor h = at::max_pool2d(conv1(x).relu(), {2, 2});
    h = at::max_pool2d(conv2(h).relu(), {2, 2}).flatten(1);
    return fc3(fc2(fc1(h).relu()).relu());
  }
  std::string_view model_name() const override { return "lenet5"; }

 private:
  AxConv2d conv1{nullptr}, conv2{nullptr};
  AxLinear fc1{nullptr}, fc2{nullptr}, fc3{nullptr};
};

class Mlp : public Model {
 public:
  explicit Mlp(const InputSpec& spec) {
    const int64_t in = spec.channels * spec.image_size * spec.image_size;
    fc1 = register_module("fc1", AxLinear(in, 256, true, "fc1"));
    fc2 = register_module("fc2", AxLinear(256, 128, true, "fc2"));
    fc3 = register_module("fc3", AxLinear(128, spec.classes, true, "fc3"));
  }
  at::Tensor forward(const at::Tensor& x) override {
    return fc3(fc2(fc1(x.flatten(1)).relu()).relu());
  }
  std::string_view model_name() const override { return "mlp"; }

 private:
  AxLinear fc1{nullptr}, fc2{nullptr}, fc3{nullptr};
};

// Two 3x3 convs with batch norm; the shortcut subsamples and zero-pads channels (option A of He
// et al.), so it has no multiplier.
class BasicBlock : public torch::nn::Module {
 public:
  BasicBlock(const std::string& path, int64_t in, int64_t out, int64_t stride)
      : stride_(stride), pad_channels_(out - in) {
    conv1 = register_module("conv1", AxConv2d(conv(in, out, 3, stride, 1, false), path + ".conv1"));
    bn1 = register_module("bn1", torch::nn::BatchNorm2d(out));
    conv2 = register_module("conv2", AxConv2d(conv(out, out, 3, 1, 1, false), path + ".conv2"));
    bn2 = register_module("bn2", torch::nn::BatchNorm2d(out));
  }
  at::Tensor forward(const at::Tensor& x) {
    at::Tensor shortcut = x;
    if (stride_ != 1)
      shortcut = shortcut.slice(2, 0, c10::nullopt, stride_).slice(3, 0, c10::nullopt, stride_);
    if (pad_channels_ > 0)
      shortcut = at::constant_pad_nd(
          shortcut, {0, 0, 0, 0, pad_channels_ / 2, pad_channels_ - pad_channels_ / 2});
    const at::Tensor h = bn1(conv1(x)).relu();
    return (bn2(conv2(h)) + shortcut).relu();
  }

 private:
  int64_t stride_, pad_channels_;
  AxConv2d conv1{nullptr}, conv2{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr};
};

class ResNet20 : public Model {
 public:
  explicit ResNet20(const InputSpec& spec) {
    conv1 = register_module("conv1", AxConv2d(conv(spec.channels, 16, 3, 1, 1, false), "conv1"));
    bn1 = register_module("bn1", torch::nn::BatchNorm2d(16));
    int64_t in = 16;
    for (int stage = 0; stage < 3; ++stage) {
      const int64_t out = 16 << stage;
      const std::string stage_name = "layer" + std::to_string(stage + 1);
      auto list = register_module(stage_name, torch::nn::ModuleList());  // paths layer1.0, ...
      for (int b = 0; b < 3; ++b) {
        blocks.push_back(std::make_shared<BasicBlock>(stage_name + "." + std::to_string(b), in, out,
                                                      stage > 0 && b == 0 ? 2 : 1));
        list->push_back(blocks.back());
        in = out;
      }
    }
    fc = register_module("fc", AxLinear(64, spec.classes, true, "fc"));
  }
  at::Tensor forward(const at::Tensor& x) override {
    at::Tensor h = bn1(conv1(x)).relu();
    for (auto& block : blocks) h = block->forward(h);
    return fc(h.mean({2, 3}));
  }
  std::string_view model_name() const override { return "resnet20"; }

 private:
  AxConv2d conv1{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr};
  std::vector<std::shared_ptr<BasicBlock>> blocks;
  AxLinear fc{nullptr};
};

// Pre-norm transformer block: x + proj(attention(LN(x))), then x + MLP(LN(x)).
class ViTBlock : public torch::nn::Module {
 public:
  ViTBlock(const std::string& path, int64_t dim, int64_t heads) : heads_(heads) {
    norm1 = register_module("norm1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim})));
    qkv = register_module("qkv", AxLinear(dim, 3 * dim, true, path + ".qkv"));
    qk = register_module("qk", AxMatMul(path + ".qk"));
    av = register_module("av", AxMatMul(path + ".av"));
    proj = register_module("proj", AxLinear(dim, dim, true, path + ".proj"));
    norm2 = register_module("norm2", torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim})));
    fc1 = register_module("fc1", AxLinear(dim, 2 * dim, true, path + ".fc1"));
    fc2 = register_module("fc2", AxLinear(2 * dim, dim, true, path + ".fc2"));
  }
  at::Tensor forward(const at::Tensor& x) {
    const int64_t n = x.size(0), t = x.size(1), dim = x.size(2), hd = dim / heads_;
    const at::Tensor parts = qkv(norm1(x)).reshape({n, t, 3, heads_, hd}).permute({2, 0, 3, 1, 4});
    const at::Tensor q = parts[0] / std::sqrt(static_cast<double>(hd)), k = parts[1], v = parts[2];
    const at::Tensor attention = qk(q, k.transpose(-1, -2)).softmax(-1);
    const at::Tensor mixed = av(attention, v).permute({0, 2, 1, 3}).reshape({n, t, dim});
    const at::Tensor h = x + proj(mixed);
    return h + fc2(at::gelu(fc1(norm2(h))));
  }

 private:
  int64_t heads_;
  torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr};
  AxLinear qkv{nullptr}, proj{nullptr}, fc1{nullptr}, fc2{nullptr};
  AxMatMul qk{nullptr}, av{nullptr};
};

class ViTTiny : public Model {
 public:
  static constexpr int64_t kPatch = 4, kDim = 96, kDepth = 4, kHeads = 3;
  explicit ViTTiny(const InputSpec& spec) {
    AXNN_CHECK(spec.image_size % kPatch == 0, "vit-tiny: image size {} is not a multiple of {}",
               spec.image_size, kPatch);
    const int64_t tokens = (spec.image_size / kPatch) * (spec.image_size / kPatch) + 1;
    patch = register_module("patch",
                            AxConv2d(conv(spec.channels, kDim, kPatch, kPatch, 0, true), "patch"));
    cls = register_parameter("cls", torch::randn({1, 1, kDim}) * 0.02);
    pos = register_parameter("pos", torch::randn({1, tokens, kDim}) * 0.02);
    auto list = register_module("blocks", torch::nn::ModuleList());  // paths blocks.0, ...
    for (int64_t b = 0; b < kDepth; ++b) {
      blocks.push_back(std::make_shared<ViTBlock>("blocks." + std::to_string(b), kDim, kHeads));
      list->push_back(blocks.back());
    }
    norm = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({kDim})));
    head = register_module("head", AxLinear(kDim, spec.classes, true, "head"));
  }
  at::Tensor forward(const at::Tensor& x) override {
    const at::Tensor patches = patch(x).flatten(2).transpose(1, 2);  // [N, T - 1, dim]
    at::Tensor h = at::cat({cls.expand({x.size(0), 1, kDim}), patches}, 1) + pos;
    for (auto& block : blocks) h = block->forward(h);
    return head(norm(h).select(1, 0));
  }
  std::string_view model_name() const override { return "vit-tiny"; }

 private:
  AxConv2d patch{nullptr};
  at::Tensor cls, pos;
  std::vector<std::shared_ptr<ViTBlock>> blocks;
  torch::nn::LayerNorm norm{nullptr};
  AxLinear head{nullptr};
};

}  // namespace

std::vector<std::string> model_names() { return {"lenet5", "mlp", "resnet20", "vit-tiny"}; }

std::shared_ptr<Model> make_model(std::string_view name, const InputSpec& spec) {
  AXNN_CHECK(spec.channels >= 1 && spec.image_size >= 1 && spec.classes >= 2,
             "model '{}': bad input spec ({} channels, {} pixels, {} classes)", name, spec.channels,
             spec.image_size, spec.classes);
  if (name == "lenet5") return std::make_shared<LeNet5>(spec);
  if (name == "mlp") return std::make_shared<Mlp>(spec);
  if (name == "resnet20") return std::make_shared<ResNet20>(spec);
  if (name == "vit-tiny") return std::make_shared<ViTTiny>(spec);
  throw Error(fmt::format("unknown model '{}' (known: {})", name, fmt::join(model_names(), ", ")));
}

}  // namespace axnn::models
