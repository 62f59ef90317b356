#include "onnx/graph_model.h"

#include <ATen/ATen.h>
#include <fmt/ranges.h>
#include <onnx/onnx_pb.h>
#include <torch/nn/modules/batchnorm.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <numeric>
#include <set>
#include <sstream>
#include <unordered_map>

#include "core/error.h"
#include "nn/ax_layers.h"

namespace axnn::onnx {

namespace pb = ::onnx;
using Tensors = std::vector<at::Tensor>;

struct GraphModel::Program {
  struct Step {
    std::string op, name;
    std::vector<int> inputs, outputs;  // value slots; -1: an omitted optional input
    std::function<Tensors(const Tensors&)> run;
  };
  Tensors constants;        // per slot: initializers (module tensors) and Constant values
  std::vector<bool> moved;  // per slot: a Constant value, moved to the input's device
  std::vector<Step> steps;
  std::vector<std::vector<int>> release;  // per step: the slots no later step reads
  int input = -1, output = -1;
  int64_t batch = 1;  // of the current forward
};

namespace {

constexpr int kMinOpset = 11, kMaxOpset = 18;

std::vector<int64_t> ints_of(const at::Tensor& t) {
  const at::Tensor c = t.to(at::kCPU, at::kLong).contiguous().reshape({-1});
  return {c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel()};
}

int64_t wrap_axis(int64_t axis, int64_t rank) { return axis < 0 ? axis + rank : axis; }

bool is_identifier_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

// "a.b.c" with every component non-empty and of identifier characters.
bool module_like(const std::string& name) {
  if (name.empty() || name.front() == '.' || name.back() == '.') return false;
  for (size_t i = 0; i < name.size(); ++i) {
    if (name[i] == '.') {
      if (name[i + 1] == '.') return false;
    } else if (!is_identifier_char(name[i])) {
      return false;
    }
  }
  return true;
}

// `layer1.0.conv1.weight` -> `layer1.0.conv1` (also `_weight`: MultiheadAttention's
// in_proj_weight -> in_proj); empty when the name is not a torch-like parameter name.
std::string path_of_tensor(const std::string& name, std::string_view what) {
  for (const std::string& suffix : {fmt::format(".{}", what), fmt::format("_{}", what)}) {
    if (name.size() > suffix.size() && name.ends_with(suffix)) {
      const std::string path = name.substr(0, name.size() - suffix.size());
      if (module_like(path)) return path;
    }
  }
  return "";
}

// torch 1.13's node names are scopes: `/features/features.1/conv/conv.0/Conv` is module
// features.1.conv.0 (a component repeats its parent's name as a prefix for container children).
std::string scope_of(const std::string& node_name) {
  if (node_name.empty() || node_name.front() != '/') return "";
  std::vector<std::string> parts;
  std::stringstream in(node_name.substr(1));
  for (std::string part; std::getline(in, part, '/');) parts.push_back(part);
  if (!parts.empty()) parts.pop_back();  // the op
  std::string path, last;
  for (std::string part : parts) {
    for (char& c : part)
      if (!is_identifier_char(c) && c != '.') c = '_';
    if (part.empty()) continue;
    if (!last.empty() && part.starts_with(last + "."))
      path += part.substr(last.size());
    else
      path = path.empty() ? part : path + "." + part;
    last = part;
  }
  return module_like(path) ? path : "";
}

std::string join_path(const std::string& scope, const std::string& leaf) {
  return scope.empty() ? leaf : scope + "." + leaf;
}

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> parts;
  std::stringstream in(path);
  for (std::string part; std::getline(in, part, '.');) parts.push_back(part);
  return parts;
}

// Broadcasts `shape` against the input's sizes as ONNX Expand does (numpy rules, both ways).
std::vector<int64_t> expand_shape(at::IntArrayRef in, const std::vector<int64_t>& shape) {
  const size_t rank = std::max(in.size(), shape.size());
  std::vector<int64_t> out(rank);
  for (size_t i = 0; i < rank; ++i) {
    const int64_t a = i < rank - in.size() ? 1 : in[i - (rank - in.size())];
    const int64_t b = i < rank - shape.size() ? 1 : shape[i - (rank - shape.size())];
    AXNN_CHECK(a == b || a == 1 || b == 1, "cannot expand [{}] to [{}]", fmt::join(in, ", "),
               fmt::join(shape, ", "));
    out[i] = a == 1 ? b : a;
  }
  return out;
}

class Builder {
 public:
  Builder(GraphModel& model, GraphModel::Program& program, pb::ModelProto& proto,
          const std::string& source, bool with_weights)
      : model_(model),
        program_(program),
        proto_(proto),
        source_(source),
        with_weights_(with_weights) {}

  models::InputSpec build();

 private:
  const pb::GraphProto& graph() const { return proto_.graph(); }

  Error node_error(const pb::NodeProto& node, const std::string& what) const {
    return Error(fmt::format("{}: node '{}' ({}): {}", source_, node.name(), node.op_type(), what));
  }

  // Attributes.
  const pb::AttributeProto* attr(const pb::NodeProto& node, std::string_view name) const {
    for (const auto& a : node.attribute())
      if (a.name() == name) return &a;
    return nullptr;
  }
  int64_t attr_int(const pb::NodeProto& node, std::string_view name, int64_t fallback) const {
    const auto* a = attr(node, name);
    return a ? a->i() : fallback;
  }
  float attr_float(const pb::NodeProto& node, std::string_view name, float fallback) const {
    const auto* a = attr(node, name);
    return a ? a->f() : fallback;
  }
  std::string attr_string(const pb::NodeProto& node, std::string_view name,
                          std::string fallback) const {
    const auto* a = attr(node, name);
    return a ? a->s() : fallback;
  }
  std::vector<int64_t> attr_ints(const pb::NodeProto& node, std::string_view name,
                                 std::vector<int64_t> fallback) const {
    const auto* a = attr(node, name);
    return a ? std::vector<int64_t>(a->ints().begin(), a->ints().end()) : fallback;
  }
  void expect_attrs(const pb::NodeProto& node, std::initializer_list<std::string_view> known) {
    for (const auto& a : node.attribute())
      if (std::find(known.begin(), known.end(), a.name()) == known.end())
        throw node_error(node, fmt::format("attribute '{}' is not supported", a.name()));
  }

  at::Tensor tensor_of(const pb::TensorProto& t, bool need_data) const;
  bool is_constant(const std::string& name) const {
    return initializers_.count(name) || constant_values_.count(name);
  }
  const pb::TensorProto* initializer(const std::string& name) const {
    const auto it = initializers_.find(name);
    return it == initializers_.end() ? nullptr : it->second;
  }
  // An initializer's tensor, for a module (copied data, or zeros of its shape without weights).
  at::Tensor initializer_tensor(const std::string& name) const {
    return tensor_of(*initializers_.at(name), with_weights_);
  }
  // The value slot of a name (-1 for the empty name of an omitted input).
  int slot(const std::string& name) {
    if (name.empty()) return -1;
    const auto [it, added] = slots_.emplace(name, static_cast<int>(slots_.size()));
    if (added) {
      program_.constants.emplace_back();
      program_.moved.push_back(false);
    }
    return it->second;
  }

  void collect_initializers();
  void check_io(models::InputSpec& spec);
  void name_layers();
  torch::nn::Module* container(const std::vector<std::string>& parts);
  void register_layer(const std::string& path, std::shared_ptr<torch::nn::Module> module);
  void register_tensors();
  void add_step(const pb::NodeProto& node, std::function<Tensors(const Tensors&)> run,
                int produced = 1, std::vector<int> inputs = {});
  void add_node(const pb::NodeProto& node);
  void add_conv(const pb::NodeProto& node);
  void add_linear(const pb::NodeProto& node);
  void add_matmul(const pb::NodeProto& node);
  void add_batch_norm(const pb::NodeProto& node);
  void add_pool(const pb::NodeProto& node);
  void fuse_gelu();
  bool constant_is(const std::string& name, double value) const {
    const auto it = constant_values_.find(name);
    return it != constant_values_.end() && it->second.numel() == 1 &&
           std::abs(it->second.item<double>() - value) < 1e-6;
  }

  GraphModel& model_;
  GraphModel::Program& program_;
  pb::ModelProto& proto_;
  const std::string& source_;
  bool with_weights_;
  int64_t opset_ = 0;
  bool batch_one_ = false;
  std::unordered_map<std::string, const pb::TensorProto*> initializers_;
  std::unordered_map<std::string, at::Tensor> constant_values_;
  std::unordered_map<std::string, int> slots_;
  std::unordered_map<std::string, int> uses_;     // value -> readers (graph output counts)
  std::unordered_map<std::string, int> ax_uses_;  // initializer -> reads as a layer's weight
  std::map<const pb::NodeProto*, std::string> layer_path_;           // Conv, Gemm, MatMul, BN
  std::map<const pb::NodeProto*, const pb::NodeProto*> folded_add_;  // MatMul -> its bias Add
  std::set<const pb::NodeProto*> skipped_;  // folded Adds, Identity of initializers, GELU parts
  std::map<const pb::NodeProto*, std::string> gelu_;  // the last Mul of a GELU -> its input
  std::set<torch::nn::Module*> containers_;
  std::set<std::string> taken_;  // module paths
};

at::Tensor Builder::tensor_of(const pb::TensorProto& t, bool need_data) const {
  const std::string what = fmt::format("{}: initializer '{}'", source_, t.name());
  AXNN_CHECK(t.data_location() != pb::TensorProto::EXTERNAL,
             "{}: its data is in an external file, which axnn does not read (save the model "
             "with its weights inside the .onnx file)",
             what);
  std::vector<int64_t> dims(t.dims().begin(), t.dims().end());
  for (int64_t d : dims) AXNN_CHECK(d >= 0, "{}: negative dimension {}", what, d);
  at::ScalarType type;
  switch (t.data_type()) {
    case pb::TensorProto::FLOAT:
      type = at::kFloat;
      break;
    case pb::TensorProto::DOUBLE:
      type = at::kDouble;
      break;
    case pb::TensorProto::INT64:
      type = at::kLong;
      break;
    case pb::TensorProto::INT32:
      type = at::kInt;
      break;
    case pb::TensorProto::INT8:
      type = at::kChar;
      break;
    case pb::TensorProto::UINT8:
      type = at::kByte;
      break;
    case pb::TensorProto::BOOL:
      type = at::kBool;
      break;
    default:
      throw Error(fmt::format("{}: data type {} is not supported", what, t.data_type()));
  }
  at::Tensor out = at::zeros(dims, at::TensorOptions().dtype(type));
  const int64_t n = out.numel();
  const auto fill = [&](const auto& field, auto tag) {
    using T = decltype(tag);
    AXNN_CHECK(static_cast<int64_t>(field.size()) == n, "{}: {} values for {} elements", what,
               field.size(), n);
    at::Tensor values = at::empty({n}, at::TensorOptions().dtype(c10::CppTypeToScalarType<T>()));
    std::copy(field.begin(), field.end(), values.data_ptr<T>());
    out.copy_(values.reshape(dims));
  };
  if (!t.raw_data().empty()) {
    const size_t bytes = static_cast<size_t>(n) * out.element_size();
    AXNN_CHECK(t.raw_data().size() == bytes, "{}: {} bytes of data for {} elements", what,
               t.raw_data().size(), n);
    std::memcpy(out.data_ptr(), t.raw_data().data(), bytes);
  } else if (t.float_data_size() > 0 && type == at::kFloat) {
    fill(t.float_data(), float{});
  } else if (t.double_data_size() > 0 && type == at::kDouble) {
    fill(t.double_data(), double{});
  } else if (t.int64_data_size() > 0 && type == at::kLong) {
    fill(t.int64_data(), int64_t{});
  } else if (t.int32_data_size() > 0) {  // also the field of int8, uint8 and bool
    at::Tensor values = at::empty({n}, at::kInt);
    AXNN_CHECK(t.int32_data_size() == n, "{}: {} values for {} elements", what, t.int32_data_size(),
               n);
    std::copy(t.int32_data().begin(), t.int32_data().end(), values.data_ptr<int32_t>());
    out.copy_(values.reshape(dims));
  } else {
    AXNN_CHECK(!need_data || n == 0, "{}: no data", what);
  }
  return out;
}

void Builder::collect_initializers() {
  AXNN_CHECK(graph().sparse_initializer_size() == 0, "{}: sparse initializers are not supported",
             source_);
  for (const auto& t : graph().initializer()) initializers_[t.name()] = &t;
  for (const auto& node : graph().node()) {
    for (const auto& in : node.input()) ++uses_[in];
    // An Identity of an initializer (torch names a deduplicated parameter so) is an initializer
    // of its own, so each named parameter stays one.
    if (node.op_type() == "Identity" && node.input_size() == 1 && initializer(node.input(0))) {
      initializers_[node.output(0)] = initializer(node.input(0));
      skipped_.insert(&node);
      --uses_[node.input(0)];
    }
    if (node.op_type() == "Constant") {
      expect_attrs(node, {"value", "value_float", "value_floats", "value_int", "value_ints"});
      if (node.attribute_size() != 1) throw node_error(node, "needs exactly one value attribute");
      const pb::AttributeProto& a = node.attribute(0);
      at::Tensor value;
      if (a.name() == "value") {
        value = tensor_of(a.t(), true);
      } else if (a.name() == "value_float") {
        value = at::scalar_tensor(a.f(), at::kFloat);
      } else if (a.name() == "value_int") {
        value = at::scalar_tensor(a.i(), at::kLong);
      } else if (a.name() == "value_floats") {
        value = at::tensor(std::vector<float>(a.floats().begin(), a.floats().end()));
      } else {
        value = at::tensor(std::vector<int64_t>(a.ints().begin(), a.ints().end()));
      }
      constant_values_[node.output(0)] = value;
      skipped_.insert(&node);
    }
  }
  for (const auto& out : graph().output()) ++uses_[out.name()];
}

void Builder::check_io(models::InputSpec& spec) {
  std::vector<const pb::ValueInfoProto*> inputs;
  for (const auto& in : graph().input())
    if (!initializers_.count(in.name())) inputs.push_back(&in);
  AXNN_CHECK(inputs.size() == 1, "{}: the graph has {} inputs; axnn takes one (the images)",
             source_, inputs.size());
  const pb::ValueInfoProto& in = *inputs[0];
  const auto& type = in.type().tensor_type();
  AXNN_CHECK(in.type().has_tensor_type() && type.elem_type() == pb::TensorProto::FLOAT,
             "{}: input '{}' is not a float tensor", source_, in.name());
  const auto& dims = type.shape().dim();
  AXNN_CHECK(type.has_shape() && dims.size() == 4,
             "{}: input '{}' has {} dimensions; axnn takes images [N, C, H, W]", source_, in.name(),
             dims.size());
  for (int i = 1; i < 4; ++i)
    AXNN_CHECK(dims[i].has_dim_value() && dims[i].dim_value() > 0,
               "{}: input '{}': dimension {} ({}) is dynamic; C, H and W must be fixed", source_,
               in.name(), i, "CHW"[i - 1]);
  AXNN_CHECK(dims[2].dim_value() == dims[3].dim_value(),
             "{}: input '{}' is {} x {} pixels; axnn takes square images", source_, in.name(),
             dims[2].dim_value(), dims[3].dim_value());
  batch_one_ = dims[0].has_dim_value() && dims[0].dim_value() == 1;
  AXNN_CHECK(!dims[0].has_dim_value() || dims[0].dim_value() == 1,
             "{}: input '{}' has a fixed batch of {}; export with batch 1 or a dynamic batch",
             source_, in.name(), dims[0].dim_value());
  spec.channels = dims[1].dim_value();
  spec.image_size = dims[2].dim_value();

  AXNN_CHECK(graph().output_size() == 1,
             "{}: the graph has {} outputs; axnn takes one (the logits)", source_,
             graph().output_size());
  const pb::ValueInfoProto& out = graph().output(0);
  const auto& out_dims = out.type().tensor_type().shape().dim();
  AXNN_CHECK(out_dims.size() == 2 && out_dims[1].has_dim_value(),
             "{}: output '{}' must be logits [N, classes] with a fixed number of classes", source_,
             out.name());
  spec.classes = out_dims[1].dim_value();
  program_.input = slot(in.name());
  program_.output = slot(out.name());
}

// The module paths of the layers (header comment), made unique, none a prefix of another.
void Builder::name_layers() {
  struct Named {
    const pb::NodeProto* node;
    std::string path, kind;
  };
  std::vector<Named> named;
  std::map<std::string, std::vector<size_t>> matmuls;  // scope -> activation MatMuls
  for (const auto& node : graph().node()) {
    const std::string& op = node.op_type();
    const std::string scope = scope_of(node.name());
    const bool weighted = (op == "Conv" || op == "Gemm" || op == "MatMul") &&
                          node.input_size() >= 2 && initializer(node.input(1)) &&
                          initializer(node.input(1))->dims_size() == (op == "Conv" ? 4 : 2);
    if (weighted) {
      std::string path = path_of_tensor(node.input(1), "weight");
      std::string bias = node.input_size() > 2 ? node.input(2) : "";
      if (op == "MatMul") {  // a following Add of a constant [N] is the bias
        const int64_t n = initializer(node.input(1))->dims(1);
        for (const auto& next : graph().node()) {
          if (next.op_type() != "Add" || uses_[node.output(0)] != 1) continue;
          for (int i = 0; i < 2; ++i) {
            const auto* b = next.input_size() == 2 && next.input(1 - i) == node.output(0)
                                ? initializer(next.input(i))
                                : nullptr;
            if (b && b->dims_size() == 1 && b->dims(0) == n &&
                b->data_type() == pb::TensorProto::FLOAT) {
              folded_add_[&node] = &next;
              skipped_.insert(&next);
              bias = next.input(i);
            }
          }
        }
      }
      if (path.empty() && !bias.empty()) path = path_of_tensor(bias, "bias");
      const std::string kind = op == "Conv" ? "conv" : "linear";
      named.push_back({&node, path.empty() ? (scope.empty() ? kind : scope) : path, kind});
    } else if (op == "MatMul" || op == "Gemm") {
      matmuls[scope].push_back(named.size());
      named.push_back({&node, scope, "matmul"});
    } else if (op == "BatchNormalization") {
      const std::string path = node.input_size() > 1 ? path_of_tensor(node.input(1), "weight") : "";
      named.push_back({&node, path.empty() ? (scope.empty() ? "bn" : scope) : path, "bn"});
    }
  }
  for (const auto& [scope, indices] : matmuls)
    for (size_t i = 0; i < indices.size(); ++i)
      named[indices[i]].path =
          join_path(scope, indices.size() == 2 ? (i == 0 ? "qk" : "av")
                                               : (i == 0 ? "matmul" : fmt::format("matmul_{}", i)));
  // A path another extends (a layer named by its scope, with layers inside it) gets its kind.
  for (auto& n : named) {
    const bool extended = std::any_of(named.begin(), named.end(), [&](const Named& other) {
      return other.path.starts_with(n.path + ".");
    });
    if (extended) n.path = join_path(n.path, n.kind);
  }
  for (auto& n : named) {
    std::string path = n.path;
    for (int i = 1; taken_.count(path); ++i) path = fmt::format("{}_{}", n.path, i);
    taken_.insert(path);
    layer_path_[n.node] = path;
  }
}

// The plain module at a path, made as needed; nullptr when a layer is on the way.
torch::nn::Module* Builder::container(const std::vector<std::string>& parts) {
  torch::nn::Module* at = &model_;
  for (const std::string& part : parts) {
    std::shared_ptr<torch::nn::Module> child;
    for (const auto& c : at->named_children())
      if (c.key() == part) child = c.value();
    if (!child) {
      if (at->named_parameters(false).contains(part) || at->named_buffers(false).contains(part))
        return nullptr;
      child = at->register_module(part, std::make_shared<torch::nn::Module>());
      containers_.insert(child.get());
    } else if (!containers_.count(child.get())) {
      return nullptr;
    }
    at = child.get();
  }
  return at;
}

void Builder::register_layer(const std::string& path, std::shared_ptr<torch::nn::Module> module) {
  std::vector<std::string> parts = split_path(path);
  const std::string leaf = parts.back();
  parts.pop_back();
  torch::nn::Module* owner = container(parts);
  // name_layers made the paths unique, none a prefix of another.
  AXNN_CHECK(owner, "{}: layer path '{}' clashes with another module", source_, path);
  owner->register_module(leaf, std::move(module));
}

// Every initializer not read only as a layer's weight: a parameter (float, torch-like name) or a
// buffer, at its module path when it has one, else in `onnx_constants`.
void Builder::register_tensors() {
  std::vector<std::string> names;
  for (const auto& [name, t] : initializers_)
    if (uses_[name] > ax_uses_[name]) names.push_back(name);
  std::sort(names.begin(), names.end());
  for (const std::string& name : names) {
    at::Tensor value = initializer_tensor(name);
    const bool parameter = value.is_floating_point() && module_like(name) &&
                           !name.ends_with("running_mean") && !name.ends_with("running_var");
    std::vector<std::string> parts = split_path(name);
    std::string leaf = parts.back();
    parts.pop_back();
    torch::nn::Module* owner = module_like(name) ? container(parts) : nullptr;
    if (owner) {
      bool clash = owner->named_parameters(false).contains(leaf) ||
                   owner->named_buffers(false).contains(leaf);
      for (const auto& c : owner->named_children()) clash = clash || c.key() == leaf;
      if (clash) owner = nullptr;
    }
    if (!owner) {
      owner = container({"onnx_constants"});
      AXNN_CHECK(owner, "{}: a module named onnx_constants clashes with axnn's", source_);
      leaf = name;
      for (char& c : leaf)
        if (!is_identifier_char(c)) c = '_';
      while (owner->named_parameters(false).contains(leaf) ||
             owner->named_buffers(false).contains(leaf))
        leaf += "_";
    }
    const at::Tensor registered =
        parameter ? owner->register_parameter(leaf, value) : owner->register_buffer(leaf, value);
    program_.constants[slot(name)] = registered;
  }
}

void Builder::add_step(const pb::NodeProto& node, std::function<Tensors(const Tensors&)> run,
                       int produced, std::vector<int> inputs) {
  GraphModel::Program::Step step{
      node.op_type(), node.name(), std::move(inputs), {}, std::move(run)};
  if (step.inputs.empty())
    for (const auto& in : node.input()) step.inputs.push_back(slot(in));
  for (int i = 0; i < node.output_size(); ++i) {
    if (i < produced) {
      step.outputs.push_back(slot(node.output(i)));
    } else {
      AXNN_CHECK(node.output(i).empty() || uses_[node.output(i)] == 0, "{}",
                 node_error(node, fmt::format("output {} is not supported", i)).what());
    }
  }
  program_.steps.push_back(std::move(step));
}

void Builder::add_conv(const pb::NodeProto& node) {
  expect_attrs(node, {"auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"});
  const at::Tensor w = initializer_tensor(node.input(1));
  const std::string auto_pad = attr_string(node, "auto_pad", "NOTSET");
  if (auto_pad != "NOTSET" && auto_pad != "VALID")
    throw node_error(node, fmt::format("auto_pad {} is not supported", auto_pad));
  std::vector<int64_t> pads = attr_ints(node, "pads", {0, 0, 0, 0});
  if (auto_pad == "VALID") pads = {0, 0, 0, 0};
  const auto strides = attr_ints(node, "strides", {1, 1});
  const auto dilations = attr_ints(node, "dilations", {1, 1});
  const auto kernel = attr_ints(node, "kernel_shape", {w.size(2), w.size(3)});
  if (pads.size() != 4 || strides.size() != 2 || dilations.size() != 2 ||
      kernel != std::vector<int64_t>{w.size(2), w.size(3)})
    throw node_error(node, "only 2-D convolutions are supported");
  const bool has_bias = node.input_size() > 2 && !node.input(2).empty();
  if (has_bias && !initializer(node.input(2)))
    throw node_error(node, "the bias must be an initializer");
  const int64_t groups = attr_int(node, "group", 1);
  nn::Conv2dShape shape{w.size(1) * groups, w.size(0), {w.size(2), w.size(3)}};
  shape.stride = {strides[0], strides[1]};
  shape.dilation = {dilations[0], dilations[1]};
  shape.groups = groups;
  shape.bias = has_bias;
  // Asymmetric padding: zeros first, as the hardware would stream them.
  const bool symmetric = pads[0] == pads[2] && pads[1] == pads[3];
  if (symmetric) shape.padding = {pads[0], pads[1]};
  const std::string& path = layer_path_.at(&node);
  nn::AxConv2d layer(shape, path);
  {
    torch::NoGradGuard no_grad;
    layer->weight.copy_(w);
    if (has_bias) layer->bias.copy_(initializer_tensor(node.input(2)));
  }
  ++ax_uses_[node.input(1)];
  if (has_bias) ++ax_uses_[node.input(2)];
  register_layer(path, layer.ptr());
  const std::vector<int64_t> pre_pad = {pads[1], pads[3], pads[0], pads[2]};
  add_step(node,
           [layer, symmetric, pre_pad](const Tensors& in) mutable -> Tensors {
             return {layer(symmetric ? in[0] : at::constant_pad_nd(in[0], pre_pad))};
           },
           1, {slot(node.input(0))});
}

// Gemm or MatMul with a constant 2-D B.
void Builder::add_linear(const pb::NodeProto& node) {
  const bool gemm = node.op_type() == "Gemm";
  if (gemm)
    expect_attrs(node, {"alpha", "beta", "transA", "transB"});
  else
    expect_attrs(node, {});
  const at::Tensor b = initializer_tensor(node.input(1));
  const bool trans_a = gemm && attr_int(node, "transA", 0) != 0;
  const bool trans_b = gemm && attr_int(node, "transB", 0) != 0;
  const float alpha = gemm ? attr_float(node, "alpha", 1) : 1;
  const float beta = gemm ? attr_float(node, "beta", 1) : 1;
  const at::Tensor weight = trans_b ? b : b.t();  // [N, K]
  const int64_t n = weight.size(0);
  // The bias: Gemm's C or the folded Add's constant, inside the layer when it is a plain [N].
  std::string c_name;
  if (gemm && node.input_size() > 2) c_name = node.input(2);
  const auto folded = folded_add_.find(&node);
  if (folded != folded_add_.end())
    for (const auto& in : folded->second->input())
      if (in != node.output(0)) c_name = in;
  const pb::TensorProto* c = c_name.empty() ? nullptr : initializer(c_name);
  const bool inner_bias = c && c->dims_size() == 1 && c->dims(0) == n && beta == 1 && alpha == 1;
  const std::string& path = layer_path_.at(&node);
  nn::AxLinear layer(weight.size(1), n, inner_bias, path);
  {
    torch::NoGradGuard no_grad;
    layer->weight.copy_(weight);
    if (inner_bias) layer->bias.copy_(initializer_tensor(c_name));
  }
  ++ax_uses_[node.input(1)];
  if (inner_bias) ++ax_uses_[c_name];
  register_layer(path, layer.ptr());
  std::vector<int> inputs = {slot(node.input(0))};
  if (!c_name.empty() && !inner_bias) inputs.push_back(slot(c_name));
  const pb::NodeProto& out_node = folded != folded_add_.end() ? *folded->second : node;
  add_step(
      out_node,
      [layer, trans_a, alpha, beta](const Tensors& in) mutable -> Tensors {
        at::Tensor y = layer(trans_a ? in[0].t() : in[0]);
        if (alpha != 1) y = y * alpha;
        if (in.size() > 1) y = y + (beta == 1 ? in[1] : in[1] * beta);
        return {y};
      },
      1, inputs);
  program_.steps.back().op = node.op_type();
  program_.steps.back().name = node.name();
}

// MatMul (or Gemm) of two activations.
void Builder::add_matmul(const pb::NodeProto& node) {
  const bool gemm = node.op_type() == "Gemm";
  if (gemm)
    expect_attrs(node, {"alpha", "beta", "transA", "transB"});
  else
    expect_attrs(node, {});
  const bool trans_a = gemm && attr_int(node, "transA", 0) != 0;
  const bool trans_b = gemm && attr_int(node, "transB", 0) != 0;
  const float alpha = gemm ? attr_float(node, "alpha", 1) : 1;
  const float beta = gemm ? attr_float(node, "beta", 1) : 1;
  const std::string& path = layer_path_.at(&node);
  nn::AxMatMul layer(path);
  register_layer(path, layer.ptr());
  add_step(node, [layer, trans_a, trans_b, alpha, beta](const Tensors& in) mutable -> Tensors {
    at::Tensor y = layer(trans_a ? in[0].t() : in[0], trans_b ? in[1].t() : in[1]);
    if (alpha != 1) y = y * alpha;
    if (in.size() > 2 && in[2].defined()) y = y + (beta == 1 ? in[2] : in[2] * beta);
    return {y};
  });
}

void Builder::add_batch_norm(const pb::NodeProto& node) {
  expect_attrs(node, {"epsilon", "momentum", "training_mode", "spatial"});
  if (node.input_size() != 5) throw node_error(node, "needs 5 inputs");
  for (int i = 1; i < 5; ++i)
    if (!initializer(node.input(i)))
      throw node_error(node,
                       fmt::format("input {} ('{}') must be an initializer", i, node.input(i)));
  const at::Tensor scale = initializer_tensor(node.input(1));
  // ONNX's momentum weighs the running statistic, torch's the batch's.
  auto options = torch::nn::BatchNorm2dOptions(scale.size(0))
                     .eps(attr_float(node, "epsilon", 1e-5f))
                     .momentum(1 - attr_float(node, "momentum", 0.9f));
  torch::nn::BatchNorm2d bn(options);
  {
    torch::NoGradGuard no_grad;
    bn->weight.copy_(scale);
    bn->bias.copy_(initializer_tensor(node.input(2)));
    bn->running_mean.copy_(initializer_tensor(node.input(3)));
    bn->running_var.copy_(initializer_tensor(node.input(4)));
  }
  for (int i = 1; i < 5; ++i) ++ax_uses_[node.input(i)];
  register_layer(layer_path_.at(&node), bn.ptr());
  // BatchNorm2d's own computation, for any rank >= 2.
  add_step(node,
           [bn](const Tensors& in) mutable -> Tensors {
             const bool training = bn->is_training();
             if (training) bn->num_batches_tracked += 1;
             return {at::batch_norm(in[0], bn->weight, bn->bias, bn->running_mean, bn->running_var,
                                    training, *bn->options.momentum(), bn->options.eps(),
                                    at::globalContext().userEnabledCuDNN())};
           },
           1, {slot(node.input(0))});
}

void Builder::add_pool(const pb::NodeProto& node) {
  const bool max = node.op_type() == "MaxPool";
  if (max)
    expect_attrs(node, {"auto_pad", "ceil_mode", "dilations", "kernel_shape", "pads",
                        "storage_order", "strides"});
  else
    expect_attrs(node,
                 {"auto_pad", "ceil_mode", "count_include_pad", "kernel_shape", "pads", "strides"});
  const std::string auto_pad = attr_string(node, "auto_pad", "NOTSET");
  if (auto_pad != "NOTSET" && auto_pad != "VALID")
    throw node_error(node, fmt::format("auto_pad {} is not supported", auto_pad));
  const auto kernel = attr_ints(node, "kernel_shape", {});
  std::vector<int64_t> pads = attr_ints(node, "pads", {0, 0, 0, 0});
  if (auto_pad == "VALID") pads = {0, 0, 0, 0};
  const auto strides = attr_ints(node, "strides", {1, 1});
  const auto dilations = attr_ints(node, "dilations", {1, 1});
  if (kernel.size() != 2 || pads.size() != 4 || strides.size() != 2 || dilations.size() != 2)
    throw node_error(node, "only 2-D pooling is supported");
  if (attr_int(node, "storage_order", 0) != 0)
    throw node_error(node, "storage_order 1 is not supported");
  const bool ceil = attr_int(node, "ceil_mode", 0) != 0;
  const bool symmetric = pads[0] == pads[2] && pads[1] == pads[3];
  if (!symmetric && !max) throw node_error(node, "asymmetric pads are not supported");
  const std::vector<int64_t> padding = {symmetric ? pads[0] : 0, symmetric ? pads[1] : 0};
  const std::vector<int64_t> pre_pad = {pads[1], pads[3], pads[0], pads[2]};
  if (max) {
    add_step(node, [=](const Tensors& in) -> Tensors {
      const at::Tensor x =
          symmetric ? in[0]
                    : at::constant_pad_nd(in[0], pre_pad, -std::numeric_limits<double>::infinity());
      return {at::max_pool2d(x, kernel, strides, padding, dilations, ceil)};
    });
  } else {
    const bool include_pad = attr_int(node, "count_include_pad", 0) != 0;
    add_step(node, [=](const Tensors& in) -> Tensors {
      return {at::avg_pool2d(in[0], kernel, strides, padding, ceil, include_pad)};
    });
  }
}

void Builder::add_node(const pb::NodeProto& node) {
  const std::string& op = node.op_type();
  if (!node.domain().empty() && node.domain() != "ai.onnx")
    throw node_error(node, fmt::format("operator domain '{}' is not supported", node.domain()));
  if (const auto fused = gelu_.find(&node); fused != gelu_.end()) {
    return add_step(node, [](const Tensors& in) -> Tensors { return {at::gelu(in[0])}; }, 1,
                    {slot(fused->second)});
  }
  if (op == "Conv") {
    if (!layer_path_.count(&node) || !initializer(node.input(1)))
      throw node_error(node, "the weight must be a 4-D initializer");
    return add_conv(node);
  }
  if (op == "Gemm" || op == "MatMul") {
    const auto* b = initializer(node.input(1));
    return b && b->dims_size() == 2 ? add_linear(node) : add_matmul(node);
  }
  if (op == "BatchNormalization") return add_batch_norm(node);
  if (op == "MaxPool" || op == "AveragePool") return add_pool(node);

  using Fn = std::function<at::Tensor(const at::Tensor&)>;
  static const std::map<std::string, Fn> unary = {
      {"Relu", [](const at::Tensor& x) { return at::relu(x); }},
      {"Sigmoid", [](const at::Tensor& x) { return at::sigmoid(x); }},
      {"Tanh", [](const at::Tensor& x) { return at::tanh(x); }},
      {"Sqrt", [](const at::Tensor& x) { return at::sqrt(x); }},
      {"Erf", [](const at::Tensor& x) { return at::erf(x); }},
      {"Exp", [](const at::Tensor& x) { return at::exp(x); }},
      {"Log", [](const at::Tensor& x) { return at::log(x); }},
      {"Neg", [](const at::Tensor& x) { return at::neg(x); }},
      {"Abs", [](const at::Tensor& x) { return at::abs(x); }},
      {"Reciprocal", [](const at::Tensor& x) { return at::reciprocal(x); }},
      {"Identity", [](const at::Tensor& x) { return x; }},
  };
  if (const auto it = unary.find(op); it != unary.end()) {
    expect_attrs(node, {});
    const Fn f = it->second;
    return add_step(node, [f](const Tensors& in) -> Tensors { return {f(in[0])}; });
  }
  using Fn2 = std::function<at::Tensor(const at::Tensor&, const at::Tensor&)>;
  static const std::map<std::string, Fn2> binary = {
      {"Add", [](const at::Tensor& a, const at::Tensor& b) { return a + b; }},
      {"Sub", [](const at::Tensor& a, const at::Tensor& b) { return a - b; }},
      {"Mul", [](const at::Tensor& a, const at::Tensor& b) { return a * b; }},
      {"Div",
       [](const at::Tensor& a, const at::Tensor& b) {
         // Integer division truncates in ONNX.
         return a.is_floating_point() || b.is_floating_point() ? a / b : at::div(a, b, "trunc");
       }},
      {"Pow", [](const at::Tensor& a, const at::Tensor& b) { return at::pow(a, b); }},
      {"Equal", [](const at::Tensor& a, const at::Tensor& b) { return at::eq(a, b); }},
      {"Less", [](const at::Tensor& a, const at::Tensor& b) { return at::lt(a, b); }},
      {"Greater", [](const at::Tensor& a, const at::Tensor& b) { return at::gt(a, b); }},
  };
  if (const auto it = binary.find(op); it != binary.end()) {
    expect_attrs(node, {});
    const Fn2 f = it->second;
    return add_step(node, [f](const Tensors& in) -> Tensors { return {f(in[0], in[1])}; });
  }
  if (op == "Where") {
    expect_attrs(node, {});
    return add_step(node,
                    [](const Tensors& in) -> Tensors { return {at::where(in[0], in[1], in[2])}; });
  }
  if (op == "Gelu") {
    expect_attrs(node, {"approximate"});
    const std::string approximate = attr_string(node, "approximate", "none");
    if (approximate != "none" && approximate != "tanh")
      throw node_error(node, fmt::format("approximate '{}' is not supported", approximate));
    return add_step(node, [approximate](const Tensors& in) -> Tensors {
      return {at::gelu(in[0], approximate)};
    });
  }
  if (op == "Clip") {
    expect_attrs(node, {});
    return add_step(node, [](const Tensors& in) -> Tensors {
      const auto bound = [&](size_t i) {
        return in.size() > i && in[i].defined() ? c10::optional<at::Tensor>(in[i]) : c10::nullopt;
      };
      return {at::clamp(in[0], bound(1), bound(2))};
    });
  }
  if (op == "Softmax") {
    expect_attrs(node, {"axis"});
    const int64_t axis = attr_int(node, "axis", opset_ >= 13 ? -1 : 1);
    const bool flatten = opset_ < 13;  // before 13: softmax of the input flattened at axis
    return add_step(node, [axis, flatten](const Tensors& in) -> Tensors {
      const at::Tensor& x = in[0];
      if (!flatten) return {at::softmax(x, axis)};
      const int64_t a = wrap_axis(axis, x.dim());
      const int64_t outer = std::accumulate(x.sizes().begin(), x.sizes().begin() + a, int64_t{1},
                                            std::multiplies<>());
      return {at::softmax(x.reshape({outer, -1}), 1).reshape(x.sizes())};
    });
  }
  if (op == "LayerNormalization") {
    expect_attrs(node, {"axis", "epsilon", "stash_type"});
    const int64_t axis = attr_int(node, "axis", -1);
    const double eps = attr_float(node, "epsilon", 1e-5f);
    return add_step(node, [axis, eps](const Tensors& in) -> Tensors {
      const at::Tensor& x = in[0];
      const auto shape = x.sizes().slice(wrap_axis(axis, x.dim()));
      const auto optional = [&](size_t i) {
        return in.size() > i && in[i].defined() ? c10::optional<at::Tensor>(in[i]) : c10::nullopt;
      };
      return {at::layer_norm(x, shape, optional(1), optional(2), eps)};
    });
  }
  if (op == "Dropout") {
    expect_attrs(node, {"seed"});
    // Inference: the identity; training: drops as torch would.
    GraphModel* model = &model_;
    return add_step(node, [model](const Tensors& in) -> Tensors {
      const double ratio = in.size() > 1 && in[1].defined() ? in[1].item<double>() : 0.5;
      return {model->is_training() ? at::dropout(in[0], ratio, true) : in[0]};
    });
  }
  if (op == "Cast") {
    expect_attrs(node, {"to", "saturate"});
    pb::TensorProto probe;
    probe.set_data_type(static_cast<int32_t>(attr_int(node, "to", 0)));
    at::ScalarType type;
    try {
      type = tensor_of(probe, false).scalar_type();
    } catch (const Error&) {
      throw node_error(node, fmt::format("cast to type {} is not supported", probe.data_type()));
    }
    return add_step(node, [type](const Tensors& in) -> Tensors { return {in[0].to(type)}; });
  }
  if (op == "Shape") {
    expect_attrs(node, {"start", "end"});
    const int64_t start = attr_int(node, "start", 0);
    const int64_t end = attr_int(node, "end", std::numeric_limits<int64_t>::max());
    return add_step(node, [start, end](const Tensors& in) -> Tensors {
      const int64_t r = in[0].dim();
      const int64_t s = std::clamp(wrap_axis(start, r), int64_t{0}, r);
      const int64_t e = std::clamp(end < 0 ? end + r : std::min(end, r), int64_t{0}, r);
      const auto sizes = in[0].sizes();
      return {at::tensor(std::vector<int64_t>(sizes.begin() + s, sizes.begin() + std::max(s, e)),
                         at::kLong)};
    });
  }
  if (op == "ConstantOfShape") {
    expect_attrs(node, {"value"});
    const auto* a = attr(node, "value");
    const at::Tensor value = a ? tensor_of(a->t(), true).reshape({}) : at::scalar_tensor(0.0f);
    return add_step(node, [value](const Tensors& in) -> Tensors {
      return {at::full(ints_of(in[0]), value.item(), value.options())};
    });
  }
  if (op == "Expand") {
    expect_attrs(node, {});
    // As for Reshape below: a constant target [1, ...] of a batch-1 trace (a class token
    // expanded to the batch) takes the batch.
    const bool rebatch = batch_one_ && is_constant(node.input(1));
    auto* program = &program_;
    return add_step(node, [rebatch, program](const Tensors& in) -> Tensors {
      std::vector<int64_t> shape = ints_of(in[1]);
      if (rebatch && shape.size() >= 2 && shape[0] == 1) shape[0] = program->batch;
      return {in[0].expand(expand_shape(in[0].sizes(), shape))};
    });
  }
  if (op == "Range") {
    expect_attrs(node, {});
    return add_step(node, [](const Tensors& in) -> Tensors {
      return {at::arange(in[0].item(), in[1].item(), in[2].item(), in[0].options())};
    });
  }
  if (op == "Reshape") {
    expect_attrs(node, {"allowzero"});
    const bool allow_zero = attr_int(node, "allowzero", 0) != 0;
    // A graph traced with batch 1 bakes that 1 into constant targets: for a batch of N, a
    // constant target [1, ...] of an activation becomes [N, ...] (Shape-computed targets follow
    // the batch by themselves).
    const bool rebatch = batch_one_ && is_constant(node.input(1)) && !is_constant(node.input(0));
    auto* program = &program_;
    return add_step(node, [allow_zero, rebatch, program](const Tensors& in) -> Tensors {
      std::vector<int64_t> shape = ints_of(in[1]);
      for (size_t i = 0; i < shape.size(); ++i)
        if (shape[i] == 0 && !allow_zero) shape[i] = in[0].size(static_cast<int64_t>(i));
      if (rebatch && !shape.empty() && shape[0] == 1) shape[0] = program->batch;
      return {in[0].reshape(shape)};
    });
  }
  if (op == "Flatten") {
    expect_attrs(node, {"axis"});
    const int64_t axis = attr_int(node, "axis", 1);
    return add_step(node, [axis](const Tensors& in) -> Tensors {
      const auto sizes = in[0].sizes();
      const int64_t a = wrap_axis(axis, in[0].dim());
      const int64_t outer =
          std::accumulate(sizes.begin(), sizes.begin() + a, int64_t{1}, std::multiplies<>());
      const int64_t inner =
          std::accumulate(sizes.begin() + a, sizes.end(), int64_t{1}, std::multiplies<>());
      return {in[0].reshape({outer, inner})};
    });
  }
  if (op == "Transpose") {
    expect_attrs(node, {"perm"});
    const auto perm = attr_ints(node, "perm", {});
    return add_step(node, [perm](const Tensors& in) -> Tensors {
      if (!perm.empty()) return {in[0].permute(perm)};
      std::vector<int64_t> reversed(in[0].dim());
      std::iota(reversed.rbegin(), reversed.rend(), 0);
      return {in[0].permute(reversed)};
    });
  }
  if (op == "Concat") {
    expect_attrs(node, {"axis"});
    const int64_t axis = attr_int(node, "axis", 0);
    return add_step(node, [axis](const Tensors& in) -> Tensors { return {at::cat(in, axis)}; });
  }
  if (op == "Split") {
    expect_attrs(node, {"axis", "split", "num_outputs"});
    const int64_t axis = attr_int(node, "axis", 0);
    const auto split = attr_ints(node, "split", {});
    const int64_t parts = node.output_size();
    return add_step(
        node,
        [axis, split, parts](const Tensors& in) -> Tensors {
          std::vector<int64_t> sizes = in.size() > 1 && in[1].defined() ? ints_of(in[1]) : split;
          if (sizes.empty()) {
            const int64_t total = in[0].size(axis), each = (total + parts - 1) / parts;
            for (int64_t i = 0; i < parts; ++i) sizes.push_back(std::min(each, total - i * each));
          }
          return at::split_with_sizes(in[0], sizes, axis);
        },
        static_cast<int>(parts));
  }
  if (op == "Slice") {
    expect_attrs(node, {});
    return add_step(node, [](const Tensors& in) -> Tensors {
      const auto starts = ints_of(in[1]), ends = ints_of(in[2]);
      std::vector<int64_t> axes(starts.size()), steps(starts.size(), 1);
      std::iota(axes.begin(), axes.end(), 0);
      if (in.size() > 3 && in[3].defined()) axes = ints_of(in[3]);
      if (in.size() > 4 && in[4].defined()) steps = ints_of(in[4]);
      at::Tensor x = in[0];
      for (size_t i = 0; i < starts.size(); ++i) {
        const int64_t axis = wrap_axis(axes[i], x.dim()), dim = x.size(axis);
        const int64_t step = steps[i];
        AXNN_CHECK(step != 0, "slice step 0");
        const auto clamp = [&](int64_t v, int64_t lo, int64_t hi) {
          return std::clamp(v < 0 ? v + dim : v, lo, hi);
        };
        if (step > 0) {
          x = x.slice(axis, clamp(starts[i], 0, dim), clamp(ends[i], 0, dim), step);
        } else {
          const int64_t s = clamp(starts[i], 0, dim - 1);
          // An end below -dim means "through index 0".
          const int64_t e = ends[i] < -dim ? -1 : clamp(ends[i], -1, dim - 1);
          x = x.index_select(axis, at::arange(s, e, step, at::kLong));
        }
      }
      return {x};
    });
  }
  if (op == "Squeeze" || op == "Unsqueeze") {
    expect_attrs(node, {"axes"});
    const auto attr_axes = attr_ints(node, "axes", {});
    const bool squeeze = op == "Squeeze";
    return add_step(node, [attr_axes, squeeze](const Tensors& in) -> Tensors {
      std::vector<int64_t> axes = in.size() > 1 && in[1].defined() ? ints_of(in[1]) : attr_axes;
      at::Tensor x = in[0];
      if (squeeze) {
        if (axes.empty()) return {x.squeeze()};
        for (int64_t& a : axes) a = wrap_axis(a, x.dim());
        std::sort(axes.rbegin(), axes.rend());
        for (int64_t a : axes) x = x.squeeze(a);
        return {x};
      }
      const int64_t rank = x.dim() + static_cast<int64_t>(axes.size());
      for (int64_t& a : axes) a = wrap_axis(a, rank);
      std::sort(axes.begin(), axes.end());
      for (int64_t a : axes) x = x.unsqueeze(a);
      return {x};
    });
  }
  if (op == "Gather") {
    expect_attrs(node, {"axis"});
    const int64_t axis_attr = attr_int(node, "axis", 0);
    return add_step(node, [axis_attr](const Tensors& in) -> Tensors {
      const at::Tensor& x = in[0];
      const int64_t axis = wrap_axis(axis_attr, x.dim());
      // A scalar index selects a view, as torch's x[i] does (matmuls then see the same strides).
      if (in[1].dim() == 0) return {x.select(axis, in[1].item<int64_t>())};
      at::Tensor index = in[1].to(at::kLong);
      index = at::where(index < 0, index + x.size(axis), index);
      std::vector<int64_t> sizes(x.sizes().begin(), x.sizes().begin() + axis);
      sizes.insert(sizes.end(), index.sizes().begin(), index.sizes().end());
      sizes.insert(sizes.end(), x.sizes().begin() + axis + 1, x.sizes().end());
      return {x.index_select(axis, index.reshape({-1}).to(x.device())).reshape(sizes)};
    });
  }
  if (op == "ReduceMean" || op == "ReduceSum" || op == "ReduceMax") {
    expect_attrs(node, {"axes", "keepdims", "noop_with_empty_axes"});
    const auto attr_axes = attr_ints(node, "axes", {});
    const bool keep = attr_int(node, "keepdims", 1) != 0;
    const bool noop = attr_int(node, "noop_with_empty_axes", 0) != 0;
    const int kind = op == "ReduceMean" ? 0 : op == "ReduceSum" ? 1 : 2;
    return add_step(node, [attr_axes, keep, noop, kind](const Tensors& in) -> Tensors {
      std::vector<int64_t> axes = in.size() > 1 && in[1].defined() ? ints_of(in[1]) : attr_axes;
      if (axes.empty()) {
        if (noop) return {in[0]};
        axes.resize(in[0].dim());
        std::iota(axes.begin(), axes.end(), 0);
      }
      if (kind == 0) return {at::mean(in[0], axes, keep)};
      if (kind == 1) return {at::sum(in[0], axes, keep)};
      return {at::amax(in[0], axes, keep)};
    });
  }
  if (op == "GlobalAveragePool" || op == "GlobalMaxPool") {
    expect_attrs(node, {});
    const bool average = op == "GlobalAveragePool";
    return add_step(node, [average](const Tensors& in) -> Tensors {
      std::vector<int64_t> axes(in[0].dim() - 2);
      std::iota(axes.begin(), axes.end(), 2);
      return {average ? at::mean(in[0], axes, true) : at::amax(in[0], axes, true)};
    });
  }
  if (op == "Pad") {
    expect_attrs(node, {"mode"});
    const std::string mode = attr_string(node, "mode", "constant");
    if (mode != "constant") throw node_error(node, fmt::format("mode {} is not supported", mode));
    if (node.input_size() > 3 && !node.input(3).empty())
      throw node_error(node, "the axes input is not supported");
    return add_step(node, [](const Tensors& in) -> Tensors {
      const auto pads = ints_of(in[1]);
      const int64_t rank = in[0].dim();
      AXNN_CHECK(static_cast<int64_t>(pads.size()) == 2 * rank, "{} pads for rank {}", pads.size(),
                 rank);
      std::vector<int64_t> torch_pads;  // last dimension first
      for (int64_t i = rank - 1; i >= 0; --i) {
        torch_pads.push_back(pads[i]);
        torch_pads.push_back(pads[i + rank]);
      }
      const double value = in.size() > 2 && in[2].defined() ? in[2].item<double>() : 0.0;
      return {at::constant_pad_nd(in[0], torch_pads, value)};
    });
  }
  throw node_error(node, fmt::format("operator {} is not supported (docs/onnx.md lists those "
                                     "axnn imports)",
                                     op));
}

// torch exports GELU as x * (1 + erf(x / sqrt 2)) * 0.5 (Div, Erf, Add, Mul, Mul): computed as
// at::gelu, so that imported zoo models compute what the zoo's do, bit for bit.
void Builder::fuse_gelu() {
  std::unordered_map<std::string, const pb::NodeProto*> producer;
  std::unordered_map<std::string, std::vector<const pb::NodeProto*>> readers;
  for (const auto& node : graph().node()) {
    for (const auto& out : node.output()) producer[out] = &node;
    for (const auto& in : node.input()) readers[in].push_back(&node);
  }
  // The single reader of `value` when it is `op`, else nullptr.
  const auto only_reader = [&](const std::string& value, std::string_view op) {
    const auto& r = readers[value];
    return r.size() == 1 && uses_[value] == 1 && r[0]->op_type() == op ? r[0] : nullptr;
  };
  // The input of a binary node that is not `name`, or empty.
  const auto other = [](const pb::NodeProto& n, const std::string& name) -> std::string {
    if (n.input_size() != 2) return "";
    return n.input(0) == name ? n.input(1) : n.input(1) == name ? n.input(0) : "";
  };
  for (const auto& div : graph().node()) {
    if (div.op_type() != "Div" || div.input_size() != 2 || !constant_is(div.input(1), M_SQRT2))
      continue;
    const std::string& x = div.input(0);
    const auto* erf = only_reader(div.output(0), "Erf");
    const auto* add = erf ? only_reader(erf->output(0), "Add") : nullptr;
    if (!add || !constant_is(other(*add, erf->output(0)), 1)) continue;
    const auto* mul = only_reader(add->output(0), "Mul");
    if (!mul || other(*mul, add->output(0)) != x) continue;
    const auto* half = only_reader(mul->output(0), "Mul");
    if (!half || !constant_is(other(*half, mul->output(0)), 0.5)) continue;
    for (const auto* n : {&div, erf, add, mul}) skipped_.insert(n);
    gelu_[half] = x;
  }
}

models::InputSpec Builder::build() {
  AXNN_CHECK(proto_.has_graph() && graph().node_size() > 0, "{}: not an ONNX model (no graph)",
             source_);
  for (const auto& o : proto_.opset_import())
    if (o.domain().empty() || o.domain() == "ai.onnx") opset_ = o.version();
  AXNN_CHECK(opset_ >= kMinOpset && opset_ <= kMaxOpset,
             "{}: opset {} (axnn imports opsets {} to {}; torch.onnx.export(..., "
             "opset_version=17))",
             source_, opset_, kMinOpset, kMaxOpset);
  collect_initializers();
  models::InputSpec spec;
  check_io(spec);
  name_layers();
  fuse_gelu();
  // Values are known when they are initializers, Constant outputs, the input, or produced before.
  std::set<std::string> known;
  for (const auto& [name, t] : initializers_) known.insert(name);
  for (const auto& [name, value] : constant_values_) {
    known.insert(name);
    program_.constants[slot(name)] = value;
    program_.moved[slot(name)] = true;
  }
  for (const auto& [name, s] : slots_)
    if (s == program_.input) known.insert(name);
  for (const auto& node : graph().node()) {
    if (skipped_.count(&node)) continue;
    const auto fused = gelu_.find(&node);
    const std::vector<std::string> inputs =
        fused != gelu_.end() ? std::vector<std::string>{fused->second}
                             : std::vector<std::string>(node.input().begin(), node.input().end());
    for (const auto& in : inputs)
      AXNN_CHECK(in.empty() || known.count(in), "{}",
                 node_error(node, fmt::format("input '{}' is neither an initializer nor the "
                                              "output of an earlier node",
                                              in))
                     .what());
    add_node(node);
    for (const auto& out : node.output()) known.insert(out);
    // A node of Constant values only (shape arithmetic) is computed once, here.
    const bool foldable =
        node.input_size() > 0 && node.op_type() != "Dropout" && !layer_path_.count(&node) &&
        std::all_of(node.input().begin(), node.input().end(), [&](const std::string& in) {
          return in.empty() || constant_values_.count(in);
        });
    if (foldable) {
      GraphModel::Program::Step step = std::move(program_.steps.back());
      program_.steps.pop_back();
      Tensors in;
      for (int s : step.inputs) in.push_back(s >= 0 ? program_.constants[s] : at::Tensor());
      Tensors out;
      try {
        out = step.run(in);
      } catch (const c10::Error& e) {
        throw node_error(node, e.what_without_backtrace());
      }
      for (size_t j = 0; j < step.outputs.size(); ++j) {
        program_.constants[step.outputs[j]] = out[j];
        program_.moved[step.outputs[j]] = true;
        constant_values_[node.output(static_cast<int>(j))] = out[j];
      }
    }
    const auto folded = folded_add_.find(&node);
    if (folded != folded_add_.end()) known.insert(folded->second->output(0));
  }
  AXNN_CHECK(known.count(graph().output(0).name()), "{}: output '{}' is not produced", source_,
             graph().output(0).name());
  register_tensors();
  // Each slot is released after the last step that reads it.
  std::vector<int> last(program_.constants.size(), -1);
  for (size_t i = 0; i < program_.steps.size(); ++i)
    for (int s : program_.steps[i].inputs)
      if (s >= 0) last[s] = static_cast<int>(i);
  program_.release.resize(program_.steps.size());
  for (size_t s = 0; s < last.size(); ++s)
    if (last[s] >= 0 && static_cast<int>(s) != program_.output)
      program_.release[last[s]].push_back(static_cast<int>(s));
  return spec;
}

}  // namespace

GraphModel::GraphModel(const std::string& model_bytes, std::string source,
                       Normalization normalization, bool with_weights)
    : source_(std::move(source)),
      normalization_(std::move(normalization)),
      program_(std::make_unique<Program>()) {
  pb::ModelProto proto;
  AXNN_CHECK(proto.ParseFromString(model_bytes), "{}: not an ONNX model (not a ModelProto)",
             source_);
  Builder builder(*this, *program_, proto, source_, with_weights);
  spec_ = builder.build();
  const auto check = [&](std::vector<double>& v, double fallback, std::string_view what) {
    if (v.empty()) v.assign(spec_.channels, fallback);
    AXNN_CHECK(static_cast<int64_t>(v.size()) == spec_.channels,
               "{}: {} values of the {} for {} input channels", source_, v.size(), what,
               spec_.channels);
  };
  check(normalization_.mean, 0, "mean");
  check(normalization_.std, 1, "std");
  for (double s : normalization_.std) AXNN_CHECK(s > 0, "{}: std {} is not positive", source_, s);
  const bool identity = std::all_of(normalization_.mean.begin(), normalization_.mean.end(),
                                    [](double m) { return m == 0; }) &&
                        std::all_of(normalization_.std.begin(), normalization_.std.end(),
                                    [](double s) { return s == 1; });
  if (!identity) {
    mean_ = at::tensor(normalization_.mean, at::kFloat).reshape({1, -1, 1, 1});
    std_ = at::tensor(normalization_.std, at::kFloat).reshape({1, -1, 1, 1});
  }
  for (auto& t : *proto.mutable_graph()->mutable_initializer()) {
    pb::TensorProto stripped;
    stripped.set_name(t.name());
    stripped.set_data_type(t.data_type());
    *stripped.mutable_dims() = t.dims();
    t = stripped;
  }
  graph_bytes_ = proto.SerializeAsString();
}

GraphModel::~GraphModel() = default;

at::Tensor GraphModel::forward(const at::Tensor& images) {
  AXNN_CHECK(images.dim() == 4 && images.size(1) == spec_.channels &&
                 images.size(2) == spec_.image_size && images.size(3) == spec_.image_size,
             "{}: images must be [N, {}, {}, {}], got [{}]", source_, spec_.channels,
             spec_.image_size, spec_.image_size, fmt::join(images.sizes(), ", "));
  Program& p = *program_;
  for (size_t s = 0; s < p.constants.size(); ++s)
    if (p.moved[s] && p.constants[s].device() != images.device() && p.constants[s].dim() > 0)
      p.constants[s] = p.constants[s].to(images.device());
  Tensors values = p.constants;
  values[p.input] =
      mean_.defined() ? (images - mean_.to(images.device())) / std_.to(images.device()) : images;
  p.batch = images.size(0);
  Tensors in;
  for (size_t i = 0; i < p.steps.size(); ++i) {
    const Program::Step& step = p.steps[i];
    in.clear();
    for (int s : step.inputs) in.push_back(s >= 0 ? values[s] : at::Tensor());
    Tensors out;
    try {
      out = step.run(in);
    } catch (const c10::Error& e) {
      throw Error(fmt::format("{}: node '{}' ({}): {}", source_, step.name, step.op,
                              e.what_without_backtrace()));
    } catch (const Error& e) {
      throw Error(fmt::format("{}: node '{}' ({}): {}", source_, step.name, step.op, e.what()));
    }
    AXNN_CHECK(out.size() >= step.outputs.size(), "{}: node '{}' ({}): {} outputs, expected {}",
               source_, step.name, step.op, out.size(), step.outputs.size());
    for (size_t j = 0; j < step.outputs.size(); ++j) values[step.outputs[j]] = out[j];
    for (int s : p.release[i]) values[s] = at::Tensor();
  }
  const at::Tensor& logits = values[p.output];
  AXNN_CHECK(logits.defined() && logits.dim() == 2 && logits.size(1) == spec_.classes,
             "{}: the output is [{}], not logits [N, {}]", source_,
             logits.defined() ? fmt::format("{}", fmt::join(logits.sizes(), ", ")) : "undefined",
             spec_.classes);
  return logits;
}

std::shared_ptr<GraphModel> import_file(const std::filesystem::path& path,
                                        Normalization normalization) {
  AXNN_CHECK(std::filesystem::is_regular_file(path), "{}: not found", path.string());
  std::ifstream in(path, std::ios::binary);
  AXNN_CHECK(in, "{}: cannot be read", path.string());
  std::stringstream bytes;
  bytes << in.rdbuf();
  return std::make_shared<GraphModel>(bytes.str(), path.string(), std::move(normalization));
}

}  // namespace axnn::onnx
