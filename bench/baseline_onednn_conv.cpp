#include <oneapi/dnnl/dnnl.hpp>
#include <random>

#include "bench/baselines.h"
#include "core/error.h"

namespace axnn::bench {

namespace {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

// A copy of `mem` in the plain layout `plain` (nchw or oihw) of the same dims.
std::vector<float> to_plain(dnnl::memory mem, tag plain, dnnl::stream& stream) {
  const dnnl::memory::desc md = mem.get_desc();
  const dnnl::memory::desc plain_md(md.dims(), dt::f32, plain);
  dnnl::memory out(plain_md, mem.get_engine());
  dnnl::reorder(mem, out).execute(stream, mem, out);
  stream.wait();
  const auto* data = static_cast<const float*>(out.get_data_handle());
  return std::vector<float>(data, data + plain_md.get_size() / sizeof(float));
}

// A memory in layout `md` holding random integers in [-4, 4], written in plain layout `plain`.
dnnl::memory random_memory(const dnnl::memory::desc& md, tag plain, std::mt19937& rng,
                           const dnnl::engine& engine, dnnl::stream& stream) {
  dnnl::memory plain_mem({md.dims(), dt::f32, plain}, engine);
  std::uniform_int_distribution<int> value(-4, 4);
  auto* data = static_cast<float*>(plain_mem.get_data_handle());
  const size_t count = plain_mem.get_desc().get_size() / sizeof(float);
  for (size_t i = 0; i < count; ++i) data[i] = static_cast<float>(value(rng));
  dnnl::memory mem(md, engine);
  dnnl::reorder(plain_mem, mem).execute(stream, plain_mem, mem);
  stream.wait();
  return mem;
}

}  // namespace

struct OnednnConv2d::State {
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{engine};
  dnnl::convolution_forward::primitive_desc pd;
  dnnl::convolution_forward prim;
  dnnl::memory src;
  dnnl::memory wei;
  dnnl::memory dst;
};

OnednnConv2d::OnednnConv2d(int64_t n, int64_t h, int64_t w, int64_t co, int64_t ci, int64_t kh,
                           int64_t kw, int64_t stride, int64_t pad, uint32_t seed)
    : state_(std::make_unique<State>()) {
  AXNN_CHECK(n > 0 && h > 0 && w > 0 && co > 0 && ci > 0 && kh > 0 && kw > 0 && stride > 0 &&
                 pad >= 0 && h + 2 * pad >= kh && w + 2 * pad >= kw,
             "oneDNN conv2d: invalid shape N={} H={} W={} CO={} CI={} KH={} KW={} stride={} pad={}",
             n, h, w, co, ci, kh, kw, stride, pad);
  const int64_t oh = (h + 2 * pad - kh) / stride + 1;
  const int64_t ow = (w + 2 * pad - kw) / stride + 1;
  State& s = *state_;
  const dnnl::memory::desc src_any({n, ci, h, w}, dt::f32, tag::any);
  const dnnl::memory::desc wei_any({co, ci, kh, kw}, dt::f32, tag::any);
  const dnnl::memory::desc dst_any({n, co, oh, ow}, dt::f32, tag::any);
  const dnnl::convolution_forward::desc desc(dnnl::prop_kind::forward_inference,
                                             dnnl::algorithm::convolution_direct, src_any, wei_any,
                                             dst_any, {stride, stride}, {pad, pad}, {pad, pad});
  s.pd = dnnl::convolution_forward::primitive_desc(desc, s.engine);
  s.prim = dnnl::convolution_forward(s.pd);

  std::mt19937 rng(seed);
  s.src = random_memory(s.pd.src_desc(), tag::nchw, rng, s.engine, s.stream);
  s.wei = random_memory(s.pd.weights_desc(), tag::oihw, rng, s.engine, s.stream);
  s.dst = dnnl::memory(s.pd.dst_desc(), s.engine);
}

OnednnConv2d::~OnednnConv2d() = default;

void OnednnConv2d::run() {
  State& s = *state_;
  s.prim.execute(s.stream,
                 {{DNNL_ARG_SRC, s.src}, {DNNL_ARG_WEIGHTS, s.wei}, {DNNL_ARG_DST, s.dst}});
  s.stream.wait();
}

std::string OnednnConv2d::impl_info() const { return state_->pd.impl_info_str(); }

std::vector<float> OnednnConv2d::src_nchw() const {
  return to_plain(state_->src, tag::nchw, state_->stream);
}

std::vector<float> OnednnConv2d::weights_oihw() const {
  return to_plain(state_->wei, tag::oihw, state_->stream);
}

std::vector<float> OnednnConv2d::dst_nchw() const {
  return to_plain(state_->dst, tag::nchw, state_->stream);
}

}  // namespace axnn::bench
