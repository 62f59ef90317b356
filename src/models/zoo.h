// The built-in models. Every Conv2d, Linear and attention MatMul is an approximate layer
// (nn/ax_layers.h) named by its path in the model, fp32 until configured (nn/configure.h):
//   lenet5    LeNet-5: two 5x5 convs with max pooling, three linears
//   mlp       three linears (256, 128, classes)
//   resnet20  CIFAR-style ResNet-20 (16/32/64 channels, 3 x 3 basic blocks, parameter-free
//             shortcuts), global average pooling, so any input size works
//   vit-tiny  a small Vision Transformer: 4x4 patches (a conv), 4 blocks of dim 96 with 3 heads
//             (qkv, Q K^T, A V, proj, MLP 2x), LayerNorm, class token and learned positions
#pragma once

#include <torch/nn/module.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace axnn::models {

struct InputSpec {
  int64_t channels = 1;
  int64_t image_size = 28;  // square images
  int64_t classes = 10;
};

class Model : public torch::nn::Module {
 public:
  // images [N, C, H, W] -> logits [N, classes]
  virtual at::Tensor forward(const at::Tensor& images) = 0;
  virtual std::string_view model_name() const = 0;
};

std::vector<std::string> model_names();
// Throws axnn::Error naming the known models for an unknown name, or a spec the model cannot take.
std::shared_ptr<Model> make_model(std::string_view name, const InputSpec& spec);

}  // namespace axnn::models
