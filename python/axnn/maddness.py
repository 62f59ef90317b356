"""MADDness / Halut approximate matrix products (Blalock & Guttag, ICML 2021) from Python, on the
axnn ops (docs/ops.md): learn from rows of A how to approximate A @ B for a fixed B, then compute
new products by hashing rows and summing table rows, without multiplications.

    import axnn, torch
    axnn.load()
    amm = axnn.maddness.fit(a_train, b, c=16)   # a_train float [N, D], b float [D, M]
    approx = amm(a_test)                         # about a_test @ b, float [N_test, M]
    codes = amm.codes(a_test)                    # uint8 [N_test, C]
"""

import torch

ENCODERS = ("maddness", "pq")
LUT_TYPES = ("int8", "fp32")


class Maddness:
    """A learned approximate product: encoder, prototypes [C, K, D] and tables [C, K, M]."""

    def __init__(self, encoder, split_dims, thresholds, prototypes, lut, lut_type, average):
        self.encoder = encoder
        self.split_dims = split_dims  # int32 [C, log2 K] (maddness)
        self.thresholds = thresholds  # float [C, K - 1] (maddness)
        self.prototypes = prototypes  # float [C, K, D]
        self.lut = lut                # float [C, K, M]
        self.lut_type = lut_type
        self.average = average
        self.table, self.scale, self.offset = torch.ops.axnn.maddness_quantize_lut(lut)

    @property
    def c(self):
        return self.prototypes.shape[0]

    @property
    def k(self):
        return self.prototypes.shape[1]

    def codes(self, a):
        """uint8 [..., C]: each row's prototype per codebook."""
        if self.encoder == "maddness":
            return torch.ops.axnn.maddness_encode(a, self.split_dims, self.thresholds)
        return torch.ops.axnn.maddness_encode_nearest(a, self.prototypes)

    def __call__(self, a):
        """The approximate a @ B for a float [..., D]: float [..., M]."""
        codes = self.codes(a)
        if self.lut_type == "fp32":
            return torch.ops.axnn.maddness_decode(codes, self.lut, 0)
        sums = torch.ops.axnn.maddness_decode(codes, self.table, self.average)
        return dequantize(sums, self.scale, self.offset, self.c, self.average)


def dequantize(sums, scale, offset, c, average):
    """The float product from the int8 decode's sums [..., M] (maddness_quantize_lut's scale and
    offset per column): (S - bias) / scale + offset, bias the averaging trick's mean excess over
    the exact sum (C * levels / 4); computed as the C++ Halut layers compute it."""
    inverse = 1 / scale
    return torch.addcmul(offset - 0.25 * c * average * inverse, sums.float(), inverse)


def fit(a, b, c=16, k=16, encoder="maddness", lut="int8", ridge_lambda=1.0, average=0, seed=1):
    """Learns to approximate a @ b from the rows of a (float [N, D]) for b (float [D, M]).

    encoder: "maddness" (hash trees, 4 comparisons per codebook at k = 16) or "pq" (k-means,
    nearest centroid). lut: "int8" (one scale and offset per output column) or "fp32". average:
    levels of MADDness's averaging trick for int8 tables (0 exact .. 4). ridge_lambda: the ridge
    refinement of the hash trees' prototypes (0 keeps the leaf means). Deterministic per seed.
    """
    if encoder not in ENCODERS:
        raise ValueError(f"encoder {encoder!r} is not one of {ENCODERS}")
    if lut not in LUT_TYPES:
        raise ValueError(f"lut {lut!r} is not one of {LUT_TYPES}")
    if b.dim() != 2 or a.dim() != 2 or a.shape[1] != b.shape[0]:
        raise ValueError(f"a [N, D] and b [D, M] disagree: a {list(a.shape)}, b {list(b.shape)}")
    split_dims, thresholds, prototypes = torch.ops.axnn.maddness_learn(
        a.float().contiguous(), c, k, encoder, ridge_lambda, seed)
    table = (prototypes.reshape(-1, prototypes.shape[2]) @ b.float()).reshape(c, k, b.shape[1])
    return Maddness(encoder, split_dims, thresholds, prototypes, table, lut, average)
