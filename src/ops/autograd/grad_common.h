// What the symmetric (ax_autograd.cpp) and asymmetric (ax_autograd_asym.cpp) autograd functions
// share: gradient modes, argument checks, and the table derivatives of lut-grad.
#pragma once

#include <ATen/ATen.h>
#include <torch/autograd.h>
#include <c10/util/string_view.h>

#include <cstdint>
#include <functional>
#include <utility>
#include <vector>

namespace axnn::ops {

enum class GradMode : int64_t { kSte, kSteClip, kLutGrad };

GradMode parse_grad_mode(c10::string_view name);

void check_lut(const at::Tensor& lut, int64_t bits);

// A conv's arguments, kept in the autograd context from forward to backward.
struct ConvArgs {
  std::vector<int64_t> stride, padding, dilation;
  int64_t groups;
  void save(torch::autograd::AutogradContext* ctx) const;
  static ConvArgs load(torch::autograd::AutogradContext* ctx);
};

// The exact fp32 ops' input gradients (ste; ste-clip masks them): (dx, dw) of a conv, (da, db)
// of a matmul whose b is [..., K, N] or [K, N].
std::pair<at::Tensor, at::Tensor> exact_conv_grads(const at::Tensor& g, const at::Tensor& x,
                                                   const at::Tensor& weight, const ConvArgs& args);
std::pair<at::Tensor, at::Tensor> exact_matmul_grads(const at::Tensor& g, const at::Tensor& a,
                                                     const at::Tensor& b);

// Codes as table indices 0..2^bits-1.
at::Tensor indices_of(const at::Tensor& codes, int64_t bits);

// The table's partial derivatives along the first (dim 0) or second (dim 1) operand's value
// (two's complement codes when is_signed, else the code itself): central differences between the
// codes of value - 1 and value + 1, one-sided at the range ends.
at::Tensor lut_derivative(const at::Tensor& lut, int64_t bits, int64_t dim, bool is_signed);

// lut-grad of rows: y[r][o] = sum_k T[x[r][k]][w[o][k]] scaled. Returns dx [R, K] =
// sum_o g[r][o] w_factor[o] Dx[x[r][k]][w[o][k]] and dw [O, K] = x_factor sum_r g[r][o]
// Dw[x[r][k]][w[o][k]], in row chunks so that the gathered [rows, K, O] block stays small.
std::pair<at::Tensor, at::Tensor> lut_grad_rows(const at::Tensor& qx, const at::Tensor& qw,
                                                const at::Tensor& g, const at::Tensor& dx_table,
                                                const at::Tensor& dw_table,
                                                const at::Tensor& w_factor,
                                                const at::Tensor& x_factor);

// One group's (or matmul slice's) lut-grad partials, adjusted in place: drows [rows, depth],
// dw [group outputs, depth], given its gradient rows [rows, group outputs] and output channels
// [o0, o1).
using GroupCorrection = std::function<void(at::Tensor& drows, at::Tensor& dw,
                                           const at::Tensor& grows, int64_t o0, int64_t o1)>;

// lut-grad of a conv as one linear per group on its im2col rows (lut_grad_rows), folded back:
// ix [N, C, H, W] and iw [O, C / groups, KH, KW] table indices (padded positions read index 0),
// g [N, O, OH, OW]. Returns dx [N, C, H, W] and dw [O, C / groups * KH * KW]. `correct` (may be
// empty) adjusts each group's partials.
std::pair<at::Tensor, at::Tensor> conv_lut_grad(
    const at::Tensor& ix, const at::Tensor& iw, const at::Tensor& g, at::IntArrayRef kernel,
    at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation, int64_t groups,
    const at::Tensor& dx_table, const at::Tensor& dw_table, const at::Tensor& w_factor,
    const at::Tensor& x_factor, const GroupCorrection& correct);

// lut-grad of a (batched) matmul as one linear per slice (lut_grad_rows): rows of a against the
// columns of b, whose transpose plays the weight. ia [..., M, K] and ib [..., K, N] (or [K, N])
// table indices, g [..., M, N]; b_factor [N] and a_factor scale like lut_grad_rows' w_factor and
// x_factor. Returns da and db shaped like ia and ib. `correct` (may be empty) adjusts each
// slice's partials (da [M, K], db^T [N, K], given the slice's g and the column range [0, N)).
std::pair<at::Tensor, at::Tensor> matmul_lut_grad(const at::Tensor& ia, const at::Tensor& ib,
                                                  const at::Tensor& g, const at::Tensor& da_table,
                                                  const at::Tensor& db_table,
                                                  const at::Tensor& b_factor,
                                                  const at::Tensor& a_factor,
                                                  const GroupCorrection& correct);

// 1 / s, 0 where s is 0: the factor a code derivative is scaled by.
at::Tensor reciprocal_or_zero(const at::Tensor& s);

}  // namespace axnn::ops
