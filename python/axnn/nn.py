"""Approximate layers as torch.nn modules, computing as the C++ layers do (src/nn/ax_layers.h):
AxLinear, AxConv2d, AxMatMul (a @ b of two activations) and AxMultiheadAttention (an
nn.MultiheadAttention whose projections are AxLinear and whose Q K^T and A V are AxMatMul).

Each layer has a config with the keys of the CLI's rules (docs/python.md): mult, per_channel,
narrow_range, grad_mode, calib, percentile, dynamic; validated by the C++ library. "exact"
computes in fp32. A signed multiplier quantizes symmetrically (amax), an unsigned one
asymmetrically (DESIGN.md section 2). "mult": "halut" (keys c, k, encoder, lut, average) makes an
AxLinear or AxConv2d a learned MADDness product instead (axnn/halut.py). Calibration
(set_calibrating) stores amax_* / min_* / max_* buffers named as in the C++ layers, so
state_dicts move between Python and axnn checkpoints.
"""

import json
import math

import torch
import torch.nn.functional as F

from . import mult as _mult
from . import ops
from .halut import HalutProduct


def layer_config(config=None, where="layer config", **keys):
    """A config dict with every key written out: `config` (a dict, or a multiplier name) updated
    by `keys`, validated as the CLI validates a rule (RuntimeError naming `where` and the key)."""
    merged = {"mult": config} if isinstance(config, str) else dict(config or {})
    merged.update(keys)
    rules = json.loads(ops().layer_rules(json.dumps({"layers": [merged]}), where))
    checked = rules["layers"][0]
    del checked["match"]
    return checked


def _samples(t):
    return t.shape[0] if t.dim() > 1 else 1


class AxLayer(torch.nn.Module):
    """What AxLinear, AxConv2d and AxMatMul share: the config, its multiplier, calibration."""

    layer_type = ""

    def __init__(self, operands, name):
        super().__init__()
        self.layer_name = name
        self._operands = ["x"] if operands == 1 else ["a", "b"]
        for o in self._operands:
            self.register_buffer("amax_" + o, torch.full((), -1.0))
            self.register_buffer("min_" + o, torch.zeros(()))
            self.register_buffer("max_" + o, torch.zeros(()))
        self.register_buffer("lut", None, persistent=False)
        self.calibrating = False
        self.macs_per_sample = 0  # multiplications per sample in the last forward
        self.halut = None  # the HalutProduct while configured "halut"
        self._row_sink = None

    def set_config(self, config=None, **keys):
        """Configures the layer (a config dict or a multiplier name, see layer_config)."""
        config = layer_config(config, f"layer '{self.layer_name}'", **keys)
        halut = (HalutProduct(self, config, *self.halut_shape()) if config["mult"] == "halut"
                 else None)
        self.config, self.halut, self._calibrators = config, halut, None
        if halut is not None:
            self.lut, self.bits, self.signed, self.relative_power = (None, 8, True,
                                                                     halut.relative_power)
            return
        if config["mult"] == "exact":
            self.lut, self.bits, self.signed, self.relative_power = None, 8, True, 1.0
            return
        try:
            m = _mult.load(config["mult"])
        except RuntimeError as e:
            raise RuntimeError(f"layer '{self.layer_name}': {e}") from None
        self.lut, self.bits, self.signed = m.table, m.bits, m.signed
        self.relative_power = m.relative_power  # None when the multiplier does not say

    def runs_fp32(self):
        return self.calibrating or self.config["mult"] == "exact"

    def halut_shape(self):
        """(groups, d, m): the problems a Halut product of the layer solves, rows of d columns
        times the weights [d, m] per group."""
        raise RuntimeError(f"layer '{self.layer_name}' ({self.layer_type}): a Halut product needs "
                           "a fixed weight operand; configure a multiplier")

    def learn_halut(self, rows, ridge_lambda=1.0, seed=1):
        """Learns the Halut product from rows [groups, R, d] of the layer's inputs."""
        if self.halut is None:
            raise RuntimeError(f"layer '{self.layer_name}' is not configured \"mult\": \"halut\"")
        self.halut.learn(rows, self.halut_weights(), ridge_lambda, seed)

    def _sink_rows(self, rows):
        """Hands the rows a Halut product would encode to the row sink, if one is set (the layer
        then computes in fp32): what axnn.learn_halut learns from."""
        if self._row_sink is None:
            return False
        self._row_sink(rows.detach())
        return True

    def _halut_input_gradient(self, exact, x):
        """What a Halut layer adds so that its input gets the exact product's gradient (straight
        through the fixed encoders); None when no gradient is wanted or the learned encoder
        passes one itself."""
        if not torch.is_grad_enabled() or not x.requires_grad or (
                self.config["encoder"] == "learned"):
            return None
        y = exact()
        return y - y.detach()

    def set_calibrating(self, on):
        """On: collect activation statistics (computing in fp32). Off: store their amax and
        ranges, as the C++ layers do."""
        if on and not self.calibrating:
            # As the C++ layers: a layer without a multiplier calibrates at the default width and
            # range; a Halut config has no calibration keys, so the defaults.
            c = {**layer_config(), **self.config}
            multiplier = c["mult"] not in ("exact", "halut")
            self._calibrators = [
                torch.classes.axnn.Calibrator(c["calib"], c["percentile"],
                                              self.bits if multiplier else 8,
                                              c["narrow_range"] if multiplier else True)
                for _ in self._operands]
            self._observed = [[0.0, 0.0] for _ in self._operands]
        if not on and self.calibrating:
            with torch.no_grad():
                for o, calibrator, (lo, hi) in zip(self._operands, self._calibrators,
                                                   self._observed):
                    if calibrator.batches() == 0:
                        continue
                    amax = calibrator.amax()
                    getattr(self, "amax_" + o).fill_(amax)
                    getattr(self, "min_" + o).fill_(max(lo, -amax))
                    getattr(self, "max_" + o).fill_(min(hi, amax))
            self._calibrators = None
        self.calibrating = on

    def _observe(self, i, x):
        if not self.calibrating:
            return
        x = x.detach()
        self._calibrators[i].collect(x)
        self._observed[i][0] = min(self._observed[i][0], float(x.min()))
        self._observed[i][1] = max(self._observed[i][1], float(x.max()))

    def _check_calibrated(self, i):
        if float(getattr(self, "amax_" + self._operands[i])) < 0:
            raise RuntimeError(
                f"layer '{self.layer_name}' ({self.config['mult']}) has no calibration: calibrate "
                "it first, or set \"dynamic\": true")

    def _activation_amax(self, i, x):
        if self.config["dynamic"]:
            return x.detach().abs().max().float()
        self._check_calibrated(i)
        return getattr(self, "amax_" + self._operands[i]).float()

    def _activation_range(self, i, x):
        if self.config["dynamic"]:
            x = x.detach()
            return x.min().float(), x.max().float()
        self._check_calibrated(i)
        o = self._operands[i]
        return getattr(self, "min_" + o).float(), getattr(self, "max_" + o).float()

    def _weight_amax(self, weight):
        w = weight.detach()
        if not self.config["per_channel"]:
            return w.abs().max()
        return w.abs().amax(dim=tuple(range(1, w.dim())), keepdim=True).reshape(-1)

    def _weight_range(self, weight):
        w = weight.detach()
        if not self.config["per_channel"]:
            return w.min().reshape(-1), w.max().reshape(-1)
        dims = tuple(range(1, w.dim()))
        return (w.amin(dim=dims, keepdim=True).reshape(-1),
                w.amax(dim=dims, keepdim=True).reshape(-1))

    def extra_repr(self):
        return f"name={self.layer_name!r}, mult={self.config['mult']!r}"


class AxLinear(AxLayer):
    layer_type = "linear"

    def __init__(self, in_features, out_features, bias=True, name="linear", config=None):
        super().__init__(1, name)
        self.in_features, self.out_features = in_features, out_features
        reference = torch.nn.Linear(in_features, out_features, bias)  # torch's initialization
        self.weight = reference.weight
        self.bias = reference.bias
        self.set_config(config)

    @classmethod
    def from_linear(cls, linear, name, config=None):
        """Shares the parameters of a torch.nn.Linear."""
        layer = cls(linear.in_features, linear.out_features, linear.bias is not None, name)
        layer.weight, layer.bias = linear.weight, linear.bias
        layer.set_config(config)
        return layer

    def halut_shape(self):
        return 1, self.in_features, self.out_features

    def halut_weights(self):
        return self.weight.detach().t().unsqueeze(0)

    def forward(self, x):
        self.macs_per_sample = x.numel() // _samples(x) * self.out_features
        self._observe(0, x)
        rows = x.reshape(1, -1, x.shape[-1])
        if self._sink_rows(rows) or self.runs_fp32():
            return F.linear(x, self.weight, self.bias)
        c = self.config
        if self.halut is not None:
            y = self.halut.forward(rows)[0].t().reshape(*x.shape[:-1], self.out_features)
            if self.bias is not None:
                y = y + self.bias
            through = self._halut_input_gradient(lambda: F.linear(x, self.weight.detach()), x)
            return y if through is None else y + through
        if not self.signed:
            x_min, x_max = self._activation_range(0, x)
            w_min, w_max = self._weight_range(self.weight)
            return ops().ax_linear_asym(x, self.weight, self.bias, self.lut, x_min, x_max, w_min,
                                        w_max, self.bits, c["grad_mode"])
        return ops().ax_linear(x, self.weight, self.bias, self.lut, self._activation_amax(0, x),
                               self._weight_amax(self.weight), self.bits, c["narrow_range"],
                               c["grad_mode"])


class AxConv2d(AxLayer):
    layer_type = "conv2d"

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, name="conv", config=None):
        super().__init__(1, name)
        pair = torch.nn.modules.utils._pair
        self.stride, self.padding, self.dilation = pair(stride), pair(padding), pair(dilation)
        self.groups = groups
        reference = torch.nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding,
                                    dilation, groups, bias)
        self.weight = reference.weight
        self.bias = reference.bias
        self.set_config(config)

    @classmethod
    def from_conv2d(cls, conv, name, config=None):
        """Shares the parameters of a torch.nn.Conv2d; zero padding only ('same' padding where
        it is symmetric)."""
        if conv.padding_mode != "zeros":
            raise RuntimeError(f"layer '{name}': padding_mode '{conv.padding_mode}' is not "
                               "supported (approximate convolutions pad with zeros)")
        padding = conv.padding
        if isinstance(padding, str):
            totals = [d * (k - 1) for d, k in zip(conv.dilation, conv.kernel_size)]
            if padding == "valid":
                padding = (0, 0)
            elif all(t % 2 == 0 for t in totals):
                padding = tuple(t // 2 for t in totals)
            else:
                raise RuntimeError(f"layer '{name}': padding 'same' is asymmetric for kernel "
                                   f"{conv.kernel_size}, dilation {conv.dilation}")
        layer = cls(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, padding,
                    conv.dilation, conv.groups, conv.bias is not None, name)
        layer.weight, layer.bias = conv.weight, conv.bias
        layer.set_config(config)
        return layer

    def halut_shape(self):
        o, cg, kh, kw = self.weight.shape
        return self.groups, cg * kh * kw, o // self.groups

    def halut_weights(self):
        groups, d, m = self.halut_shape()
        return self.weight.detach().reshape(groups, m, d).transpose(1, 2)

    def _halut_rows(self, x):
        """The im2col patches [groups, N OH OW, d], d ordered (c, kh, kw)."""
        groups, d, _ = self.halut_shape()
        columns = F.unfold(x, self.weight.shape[2:], self.dilation, self.padding, self.stride)
        n, positions = x.shape[0], columns.shape[2]
        return columns.view(n, groups, d, positions).permute(1, 0, 3, 2).reshape(
            groups, n * positions, d)

    def forward(self, x):
        self._observe(0, x)
        c = self.config
        halut = self.halut is not None and not self.calibrating
        if (self._row_sink is not None or halut) and x.dim() != 4:
            raise RuntimeError(f"layer '{self.layer_name}': input must be [N, C, H, W], got "
                               f"{list(x.shape)}")
        if (self._row_sink is not None and self._sink_rows(self._halut_rows(x))) or (
                self.runs_fp32()):
            y = F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation,
                         self.groups)
        elif halut:
            y = self._halut_forward(x)
        elif not self.signed:
            x_min, x_max = self._activation_range(0, x)
            w_min, w_max = self._weight_range(self.weight)
            y = ops().ax_conv2d_asym(x, self.weight, self.bias, self.lut, x_min, x_max, w_min,
                                     w_max, self.stride, self.padding, self.dilation, self.groups,
                                     self.bits, c["grad_mode"])
        else:
            y = ops().ax_conv2d(x, self.weight, self.bias, self.lut, self._activation_amax(0, x),
                                self._weight_amax(self.weight), self.stride, self.padding,
                                self.dilation, self.groups, self.bits, c["narrow_range"],
                                c["grad_mode"])
        w = self.weight
        self.macs_per_sample = y.numel() // _samples(y) * w.shape[1] * w.shape[2] * w.shape[3]
        return y

    def _halut_forward(self, x):
        groups, _, m = self.halut_shape()
        n = x.shape[0]
        rows = self._halut_rows(x)
        out = [(size + 2 * p - dl * (k - 1) - 1) // s + 1 for size, p, dl, k, s in zip(
            x.shape[2:], self.padding, self.dilation, self.weight.shape[2:], self.stride)]
        y = (self.halut.forward(rows).view(groups, m, n, out[0] * out[1]).permute(2, 0, 1, 3)
             .reshape(n, groups * m, out[0], out[1]))
        if self.bias is not None:
            y = y + self.bias.view(1, -1, 1, 1)
        through = self._halut_input_gradient(
            lambda: F.conv2d(x, self.weight.detach(), None, self.stride, self.padding,
                             self.dilation, self.groups), x)
        return y if through is None else y + through


class AxMatMul(AxLayer):
    """a @ b of two activations ([..., M, K] @ [..., K, N]), both quantized per tensor."""

    layer_type = "matmul"

    def __init__(self, name="matmul", config=None):
        super().__init__(2, name)
        self.set_config(config)

    def forward(self, a, b):
        self.macs_per_sample = a.numel() // _samples(a) * b.shape[-1]
        self._observe(0, a)
        self._observe(1, b)
        if self.runs_fp32():
            return torch.matmul(a, b)
        c = self.config
        if not self.signed:
            a_min, a_max = self._activation_range(0, a)
            b_min, b_max = self._activation_range(1, b)
            return ops().ax_matmul_asym(a, b, self.lut, a_min, a_max, b_min, b_max, self.bits,
                                        c["grad_mode"])
        return ops().ax_matmul(a, b, self.lut, self._activation_amax(0, a),
                               self._activation_amax(1, b), self.bits, c["narrow_range"],
                               c["grad_mode"])


class AxMultiheadAttention(torch.nn.Module):
    """torch.nn.MultiheadAttention (self-attention: query is key is value) with the packed input
    projection `in_proj` and `out_proj` as AxLinear and Q K^T, A V as AxMatMul `qk`, `av`; the
    float steps as in torch's multi_head_attention_forward, so with every layer "exact" it
    computes what the module it replaces computes."""

    def __init__(self, mha, name):
        super().__init__()
        if not mha._qkv_same_embed_dim or mha.bias_k is not None or mha.add_zero_attn:
            raise RuntimeError(f"'{name}': MultiheadAttention with kdim/vdim, add_bias_kv or "
                               "add_zero_attn is not supported")
        self.embed_dim, self.num_heads = mha.embed_dim, mha.num_heads
        self.head_dim, self.dropout, self.batch_first = mha.head_dim, mha.dropout, mha.batch_first
        # nn.TransformerEncoder(Layer) take a fused fast path, which would compute with the
        # weights and bypass the approximate layers, unless this is False.
        self._qkv_same_embed_dim = False
        prefix = name + "." if name else ""
        in_proj = torch.nn.Linear(mha.embed_dim, 3 * mha.embed_dim, mha.in_proj_bias is not None)
        in_proj.weight, in_proj.bias = mha.in_proj_weight, mha.in_proj_bias
        self.in_proj = AxLinear.from_linear(in_proj, prefix + "in_proj")
        self.qk = AxMatMul(prefix + "qk")
        self.av = AxMatMul(prefix + "av")
        self.out_proj = AxLinear.from_linear(mha.out_proj, prefix + "out_proj")

    def forward(self, query, key, value, key_padding_mask=None, need_weights=True,
                attn_mask=None, average_attn_weights=True):
        if not (query is key and key is value):
            raise RuntimeError("AxMultiheadAttention: only self-attention (query is key is value) "
                               "is supported")
        batched = query.dim() == 3
        x = query if batched else query.unsqueeze(1 - int(self.batch_first))
        if self.batch_first:
            x = x.transpose(0, 1)
        length, batch, embed = x.shape
        heads, head_dim = self.num_heads, self.head_dim
        proj = self.in_proj(x)
        proj = proj.unflatten(-1, (3, embed)).unsqueeze(0).transpose(0, -2).squeeze(-2)
        q, k, v = (t.contiguous().view(length, batch * heads, head_dim).transpose(0, 1)
                   for t in proj.contiguous())
        mask = self._mask(attn_mask, key_padding_mask, batch, length, q.dtype)
        scores = self.qk(q / math.sqrt(head_dim), k.transpose(-2, -1))
        if mask is not None:
            scores = scores + mask
        weights = F.softmax(scores, dim=-1)
        if self.training and self.dropout > 0:
            weights = F.dropout(weights, p=self.dropout)
        out = self.av(weights, v).transpose(0, 1).contiguous().view(length * batch, embed)
        out = self.out_proj(out).view(length, batch, embed)
        if self.batch_first:
            out = out.transpose(0, 1)
        if not batched:
            out = out.squeeze(1 - int(self.batch_first))
        if not need_weights:
            return out, None
        weights = weights.view(batch, heads, length, length)
        if average_attn_weights:
            weights = weights.sum(dim=1) / heads
        return out, weights if batched else weights.squeeze(0)

    def _mask(self, attn_mask, key_padding_mask, batch, length, dtype):
        """The additive float mask [batch * heads or 1, length, length], or None."""
        masks = []
        if attn_mask is not None:
            masks.append(attn_mask.reshape(-1, length, length))
        if key_padding_mask is not None:
            masks.append(key_padding_mask.view(batch, 1, 1, length)
                         .expand(-1, self.num_heads, -1, -1).reshape(-1, 1, length))
        if not masks:
            return None
        total = torch.zeros((), dtype=dtype)
        for m in masks:
            total = total + (torch.zeros_like(m, dtype=dtype).masked_fill(m, float("-inf"))
                             if m.dtype == torch.bool else m.to(dtype))
        return total
