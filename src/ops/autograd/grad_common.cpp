// Shared pieces of the autograd functions (ax_autograd.cpp, ax_autograd_asym.cpp).
#include "ops/autograd/grad_common.h"

#include <algorithm>
#include <string>
#include <vector>

namespace axnn::ops {

GradMode parse_grad_mode(c10::string_view name) {
  if (name == "ste") return GradMode::kSte;
  if (name == "ste-clip") return GradMode::kSteClip;
  if (name == "lut-grad") return GradMode::kLutGrad;
  TORCH_CHECK(false, "axnn: unknown grad_mode '", std::string(name),
              "' (expected ste, ste-clip or lut-grad)");
}

void check_lut(const at::Tensor& lut, int64_t bits) {
  TORCH_CHECK(bits >= 2 && bits <= 8, "axnn: bits = ", bits, " is outside 2..8");
  TORCH_CHECK(lut.dim() == 2 && lut.size(0) == (int64_t{1} << bits) && lut.size(1) == lut.size(0),
              "axnn: lut must be [2^bits, 2^bits] = [", int64_t{1} << bits, ", ",
              int64_t{1} << bits, "] for bits = ", bits, ", got ", lut.sizes());
}

void ConvArgs::save(torch::autograd::AutogradContext* ctx) const {
  ctx->saved_data["stride"] = stride;
  ctx->saved_data["padding"] = padding;
  ctx->saved_data["dilation"] = dilation;
  ctx->saved_data["groups"] = groups;
}

ConvArgs ConvArgs::load(torch::autograd::AutogradContext* ctx) {
  return {ctx->saved_data["stride"].toIntVector(), ctx->saved_data["padding"].toIntVector(),
          ctx->saved_data["dilation"].toIntVector(), ctx->saved_data["groups"].toInt()};
}

std::pair<at::Tensor, at::Tensor> exact_conv_grads(const at::Tensor& g, const at::Tensor& x,
                                                   const at::Tensor& weight, const ConvArgs& args) {
  auto [dx, dw, db] =
      at::convolution_backward(g, x, weight, c10::nullopt, args.stride, args.padding, args.dilation,
                               false, {0, 0}, args.groups, {true, true, false});
  return {dx, dw};
}

std::pair<at::Tensor, at::Tensor> exact_matmul_grads(const at::Tensor& g, const at::Tensor& a,
                                                     const at::Tensor& b) {
  const at::Tensor da = g.matmul(b.transpose(-1, -2));
  at::Tensor db = a.transpose(-1, -2).matmul(g);
  if (b.dim() == 2) db = db.reshape({-1, b.size(0), b.size(1)}).sum(0);
  return {da, db};
}

at::Tensor indices_of(const at::Tensor& codes, int64_t bits) {
  return codes.to(at::kLong).bitwise_and((int64_t{1} << bits) - 1);
}

at::Tensor lut_derivative(const at::Tensor& lut, int64_t bits, int64_t dim, bool is_signed) {
  const int64_t side = int64_t{1} << bits, lowest = is_signed ? -side / 2 : 0;
  std::vector<int64_t> next(side), prev(side);
  std::vector<float> span(side);
  for (int64_t code = 0; code < side; ++code) {
    const int64_t value = code - lowest >= side ? code - side : code;  // two's complement
    const int64_t up = std::min(value + 1, lowest + side - 1), down = std::max(value - 1, lowest);
    next[code] = up & (side - 1);
    prev[code] = down & (side - 1);
    span[code] = static_cast<float>(up - down);
  }
  const at::TensorOptions on = lut.options();
  const at::Tensor n = at::tensor(next, on.dtype(at::kLong)),
                   p = at::tensor(prev, on.dtype(at::kLong));
  const at::Tensor diff = (lut.index_select(dim, n) - lut.index_select(dim, p)).to(at::kFloat);
  const at::Tensor s = at::tensor(span, on.dtype(at::kFloat));
  return diff / (dim == 0 ? s.view({side, 1}) : s.view({1, side}));
}

std::pair<at::Tensor, at::Tensor> lut_grad_rows(const at::Tensor& qx, const at::Tensor& qw,
                                                const at::Tensor& g, const at::Tensor& dx_table,
                                                const at::Tensor& dw_table,
                                                const at::Tensor& w_factor,
                                                const at::Tensor& x_factor) {
  const int64_t rows = qx.size(0), k = qx.size(1), o = qw.size(0), side = dx_table.size(0);
  const at::Tensor dx_flat = dx_table.flatten(), dw_flat = dw_table.flatten();
  const at::Tensor w_idx = qw.t().unsqueeze(0);  // [1, K, O]
  at::Tensor dx = at::empty({rows, k}, g.options());
  at::Tensor dw = at::zeros({o, k}, g.options());
  const int64_t chunk = std::max<int64_t>(1, (int64_t{1} << 22) / std::max<int64_t>(1, k * o));
  for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
    const int64_t r1 = std::min(rows, r0 + chunk);
    const at::Tensor idx = qx.slice(0, r0, r1).unsqueeze(2) * side + w_idx;  // [rc, K, O]
    const at::Tensor gc = g.slice(0, r0, r1).unsqueeze(1);                   // [rc, 1, O]
    dx.slice(0, r0, r1).copy_((dx_flat.take(idx) * (gc * w_factor.view({1, 1, o}))).sum(2));
    dw += (dw_flat.take(idx) * gc).sum(0).t();
  }
  return {dx, dw * x_factor};
}

std::pair<at::Tensor, at::Tensor> conv_lut_grad(
    const at::Tensor& ix, const at::Tensor& iw, const at::Tensor& g, at::IntArrayRef kernel,
    at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation, int64_t groups,
    const at::Tensor& dx_table, const at::Tensor& dw_table, const at::Tensor& w_factor,
    const at::Tensor& x_factor, const GroupCorrection& correct) {
  const int64_t n = ix.size(0), o = iw.size(0), og = o / groups;
  const int64_t depth = iw.size(1) * kernel[0] * kernel[1];
  const at::Tensor cols = at::im2col(ix.to(at::kFloat), kernel, dilation, padding, stride)
                              .to(at::kLong);  // [N, C KH KW, L]
  const int64_t l = cols.size(2);
  const at::Tensor iw2 = iw.reshape({o, depth});
  const at::Tensor gl = g.reshape({n, o, l});
  at::Tensor dcols = at::empty({n, groups * depth, l}, g.options());
  at::Tensor dw = at::empty({o, depth}, g.options());
  for (int64_t gi = 0; gi < groups; ++gi) {
    const int64_t o0 = gi * og, o1 = o0 + og;
    const at::Tensor rows =
        cols.slice(1, gi * depth, (gi + 1) * depth).permute({0, 2, 1}).reshape({n * l, depth});
    const at::Tensor grows = gl.slice(1, o0, o1).permute({0, 2, 1}).reshape({n * l, og});
    auto [drows, dwg] = lut_grad_rows(rows, iw2.slice(0, o0, o1), grows, dx_table, dw_table,
                                      w_factor.slice(0, o0, o1), x_factor);
    if (correct) correct(drows, dwg, grows, o0, o1);
    dcols.slice(1, gi * depth, (gi + 1) * depth)
        .copy_(drows.reshape({n, l, depth}).permute({0, 2, 1}));
    dw.slice(0, o0, o1).copy_(dwg);
  }
  const at::Tensor dx =
      at::col2im(dcols, {ix.size(2), ix.size(3)}, kernel, dilation, padding, stride);
  return {dx, dw};
}

std::pair<at::Tensor, at::Tensor> matmul_lut_grad(const at::Tensor& ia, const at::Tensor& ib,
                                                  const at::Tensor& g, const at::Tensor& da_table,
                                                  const at::Tensor& db_table,
                                                  const at::Tensor& b_factor,
                                                  const at::Tensor& a_factor,
                                                  const GroupCorrection& correct) {
  const int64_t m = ia.size(-2), k = ia.size(-1), n = ib.size(-1);
  const at::Tensor ia3 = ia.reshape({-1, m, k}), ib3 = ib.reshape({-1, k, n});
  const at::Tensor g3 = g.reshape({-1, m, n});
  at::Tensor da = at::empty({ia3.size(0), m, k}, g.options());
  at::Tensor db = at::zeros({ib3.size(0), k, n}, g.options());
  for (int64_t i = 0; i < ia3.size(0); ++i) {
    const int64_t j = ib3.size(0) == 1 ? 0 : i;
    auto [dai, dbi] =
        lut_grad_rows(ia3[i], ib3[j].t(), g3[i], da_table, db_table, b_factor, a_factor);
    if (correct) correct(dai, dbi, g3[i], 0, n);
    da[i].copy_(dai);
    db[j] += dbi.t();
  }
  return {da.reshape(ia.sizes()), db.reshape(ib.sizes())};
}

at::Tensor reciprocal_or_zero(const at::Tensor& s) {
  return at::where(s > 0, 1 / s, at::zeros_like(s));
}

}  // namespace axnn::ops
