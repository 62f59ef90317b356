#include <fmt/format.h>

#include <oneapi/dnnl/dnnl.hpp>
#include <random>

#include "bench/baselines.h"

namespace axnn::bench {

struct OnednnInt8Gemm::State {
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{engine};
  dnnl::matmul::primitive_desc pd;
  dnnl::matmul prim;
  dnnl::memory src;
  dnnl::memory wei;
  dnnl::memory dst;
};

OnednnInt8Gemm::OnednnInt8Gemm(int64_t m, int64_t k, int64_t n, uint32_t seed)
    : state_(std::make_unique<State>()) {
  using dt = dnnl::memory::data_type;
  using tag = dnnl::memory::format_tag;
  State& s = *state_;
  const dnnl::memory::desc src_md({n, k}, dt::u8, tag::ab);
  const dnnl::memory::desc wei_plain_md({k, m}, dt::s8, tag::ab);
  const dnnl::memory::desc wei_any_md({k, m}, dt::s8, tag::any);
  const dnnl::memory::desc dst_md({n, m}, dt::s32, tag::ab);
  s.pd = dnnl::matmul::primitive_desc(dnnl::matmul::desc(src_md, wei_any_md, dst_md), s.engine);
  s.prim = dnnl::matmul(s.pd);
  s.src = dnnl::memory(src_md, s.engine);
  s.wei = dnnl::memory(s.pd.weights_desc(), s.engine);
  s.dst = dnnl::memory(dst_md, s.engine);
  dnnl::memory wei_plain(wei_plain_md, s.engine);

  std::mt19937 rng(seed);
  auto* src_data = static_cast<uint8_t*>(s.src.get_data_handle());
  for (int64_t i = 0; i < n * k; ++i) src_data[i] = static_cast<uint8_t>(rng());
  auto* wei_data = static_cast<int8_t*>(wei_plain.get_data_handle());
  for (int64_t i = 0; i < k * m; ++i) wei_data[i] = static_cast<int8_t>(rng());
  dnnl::reorder(wei_plain, s.wei).execute(s.stream, wei_plain, s.wei);
  s.stream.wait();
}

OnednnInt8Gemm::~OnednnInt8Gemm() = default;

void OnednnInt8Gemm::run() {
  State& s = *state_;
  s.prim.execute(s.stream,
                 {{DNNL_ARG_SRC, s.src}, {DNNL_ARG_WEIGHTS, s.wei}, {DNNL_ARG_DST, s.dst}});
  s.stream.wait();
}

std::string OnednnInt8Gemm::impl_info() const { return state_->pd.impl_info_str(); }

std::string onednn_version() {
  const dnnl_version_t* version = dnnl_version();
  return fmt::format("{}.{}.{}", version->major, version->minor, version->patch);
}

}  // namespace axnn::bench
