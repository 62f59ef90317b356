"""The Halut (MADDness) product of an AxLinear or AxConv2d configured "mult": "halut", as the C++
layers compute it (src/nn/halut.h): the layer's rows x W^T becomes sum_c lut[c][code_c(row)][:],
encoded and decoded by the axnn ops without a multiplication.

The state lives on the layer under the C++ names, so a product learned by `axnn halut learn` (or
retrained by `axnn retrain`) loads with axnn.restore and computes the same outputs here:
    halut_split_dims  int32 [G, C, log2 K]   hash trees (encoder maddness)
    halut_thresholds  float [G, C, K - 1]
    halut_centroids   float [G, C, K, Dg]    a parameter, trained for the learned encoder
    halut_lut         float [G, C, K, Mg]    a parameter: retraining trains the tables
    halut_learned     int64 []               0 not learned, 1 trees, 2 centroids
    halut_temperature float []               the learned encoder's soft-assignment temperature
"""

import torch

from . import ops
from .maddness import dequantize

NOT_LEARNED, TREES, CENTROIDS = 0, 1, 2


def state_for(config):
    return TREES if config["encoder"] == "maddness" else CENTROIDS


def group_bounds(d, c):
    """C + 1 column offsets, codebook i encoding columns [bounds[i], bounds[i + 1])."""
    bounds = [0]
    for g in range(c):
        bounds.append(bounds[-1] + d // c + (1 if g < d % c else 0))
    return bounds


def _attach(layer, name, value, parameter):
    """Registers the state once; later configures of the same sizes keep what was learned."""
    if parameter:
        layer.register_parameter(name, torch.nn.Parameter(value))
    else:
        layer.register_buffer(name, value)


class HalutProduct:
    """What a layer's Halut product needs besides its state: the sizes and the config."""

    def __init__(self, layer, config, groups, d, m):
        c, k = config["c"], config["k"]
        if c > d:
            raise RuntimeError(f"layer '{layer.layer_name}': halut c = {c} exceeds the {d} input "
                               f"columns{' per group' if groups > 1 else ''} it encodes")
        lut = getattr(layer, "halut_lut", None)
        centroids = getattr(layer, "halut_centroids", None)
        if lut is None or tuple(lut.shape) != (groups, c, k, m) or tuple(
                centroids.shape) != (groups, c, k, d):
            depth = k.bit_length() - 1
            _attach(layer, "halut_split_dims", torch.zeros(groups, c, depth, dtype=torch.int32),
                    False)
            _attach(layer, "halut_thresholds", torch.zeros(groups, c, k - 1), False)
            _attach(layer, "halut_centroids", torch.zeros(groups, c, k, d), True)
            _attach(layer, "halut_lut", torch.zeros(groups, c, k, m), True)
            _attach(layer, "halut_learned", torch.zeros((), dtype=torch.long), False)
            _attach(layer, "halut_temperature", torch.ones(()), False)
        layer.halut_centroids.requires_grad_(config["encoder"] == "learned")
        self.layer, self.config, self.groups, self.d, self.m = layer, config, groups, d, m
        bounds = group_bounds(d, c)
        self.group_mask = torch.zeros(c, d)
        for i in range(c):
            self.group_mask[i, bounds[i]:bounds[i + 1]] = 1

    @property
    def relative_power(self):
        """0 for hash trees; a nearest-centroid encoder's K distances over d columns per row
        against the d m MACs it replaces: K / m."""
        return 0.0 if self.config["encoder"] == "maddness" else self.config["k"] / self.m

    def learned(self):
        return int(self.layer.halut_learned) == state_for(self.config)

    def forward(self, rows):
        """rows float [G, R, Dg] -> float [G, Mg, R]."""
        name = self.layer.layer_name
        if not self.learned():
            kind = "hash trees" if state_for(self.config) == TREES else "centroids"
            raise RuntimeError(f"layer '{name}' is configured halut with the "
                               f"{self.config['encoder']} encoder but has no learned {kind}: learn "
                               "it first (axnn.learn_halut, or axnn halut learn)")
        if rows.dim() != 3 or rows.shape[0] != self.groups or rows.shape[2] != self.d:
            raise RuntimeError(f"layer '{name}': halut rows must be [{self.groups}, R, {self.d}], "
                               f"got {list(rows.shape)}")
        product = self._differentiable if torch.is_grad_enabled() else self._inference
        outputs = [product(rows[g], g) for g in range(self.groups)]
        return torch.stack(outputs)

    def _codes(self, rows, g):
        if self.config["encoder"] == "maddness":
            return ops().maddness_encode(rows, self.layer.halut_split_dims[g],
                                         self.layer.halut_thresholds[g])
        return ops().maddness_encode_nearest(rows, self.layer.halut_centroids[g].detach())

    def _inference(self, rows, g):
        codes = self._codes(rows.contiguous(), g)
        lut = self.layer.halut_lut[g].detach()
        if self.config["lut"] == "fp32":
            return ops().maddness_decode(codes, lut, 0).t()
        table, scale, offset = ops().maddness_quantize_lut(lut)
        average = self.config["average"]
        sums = ops().maddness_decode(codes, table, average)
        return dequantize(sums, scale, offset, self.config["c"], average).t()

    def _differentiable(self, rows, g):
        c, k, r = self.config["c"], self.config["k"], rows.shape[0]
        lut = self.layer.halut_lut[g]
        if self.config["lut"] == "int8":
            # Each entry as the int8 decode sees it, straight through.
            table, scale, offset = ops().maddness_quantize_lut(lut.detach())
            decoded = table.float() / scale + offset / c
            lut = lut + (decoded - lut).detach()
        flat = lut.reshape(c * k, self.m)
        if self.config["encoder"] == "learned":
            return self._soft_codes(rows, g).reshape(r, c * k).matmul(flat).t()
        codes = self._codes(rows.detach().contiguous(), g).long()
        indices = (codes + torch.arange(c) * k).reshape(-1)
        return torch.nn.functional.embedding_bag(indices, flat, torch.arange(0, r * c, c),
                                                 mode="sum").t()

    def _soft_codes(self, x, g):
        """[R, C, K]: one-hot nearest centroids forward, softmax over -distance / temperature
        backward (LUT-NN)."""
        c, k, r = self.config["c"], self.config["k"], x.shape[0]
        mask = self.group_mask
        centroids = self.layer.halut_centroids[g] * mask.unsqueeze(1)
        distances = ((x * x).matmul(mask.t()).unsqueeze(2) -
                     2 * x.matmul(centroids.reshape(c * k, self.d).t()).reshape(r, c, k) +
                     (centroids * centroids).sum(2).unsqueeze(0))
        hard = torch.nn.functional.one_hot(distances.detach().argmin(2), k).float()
        scaled = distances / distances.detach().mean(2, keepdim=True).clamp_min(1e-12)
        soft = torch.softmax(-scaled / self.layer.halut_temperature, 2)
        return hard + soft - soft.detach()

    def learn(self, rows, weights, ridge_lambda=1.0, seed=1):
        """Learns the encoders from rows [G, R, Dg] and sets the tables for weights [G, Dg, Mg]."""
        layer, config = self.layer, self.config
        encoder = "maddness" if state_for(config) == TREES else "pq"
        with torch.no_grad():
            for g in range(self.groups):
                try:
                    split_dims, thresholds, prototypes = ops().maddness_learn(
                        rows[g].float().contiguous(), config["c"], config["k"], encoder,
                        ridge_lambda, seed)
                except RuntimeError as e:
                    raise RuntimeError(f"layer '{layer.layer_name}': {e}") from None
                if encoder == "maddness":
                    layer.halut_split_dims[g].copy_(split_dims)
                    layer.halut_thresholds[g].copy_(thresholds)
                else:
                    layer.halut_centroids[g].copy_(prototypes)
                c, k, d = prototypes.shape
                layer.halut_lut[g].copy_(
                    torch.matmul(prototypes.reshape(c * k, d), weights[g].float()).view(c, k, -1))
            layer.halut_learned.fill_(state_for(config))
            layer.halut_temperature.fill_(1.0)
