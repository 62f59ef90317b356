"""axnn.maddness and the torch.ops.axnn MADDness ops against plain torch references."""

import pytest
import torch

import axnn

axnn.load()


def clustered(n, c, seed):
    """Rows whose every group of 4 columns holds one of 16 corners of a large cube, with small
    noise: a depth-4 hash tree per group separates them exactly."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 16, (n, c), generator=generator)
    bits = torch.stack([(labels >> i) & 1 for i in range(4)], dim=2).float()  # [n, c, 4]
    noise = 0.01 * torch.randn(n, c, 4, generator=generator)
    return (10 * bits + noise).reshape(n, 4 * c), labels


def naive_decode(codes, lut):
    out = torch.zeros(codes.shape[0], lut.shape[2], dtype=lut.dtype if lut.is_floating_point()
                      else torch.int64)
    for c in range(lut.shape[0]):
        out += lut[c][codes[:, c].long()].to(out.dtype)
    return out


@pytest.mark.parametrize("encoder", ["maddness", "pq"])
def test_fit_recovers_separated_clusters(encoder):
    a, _ = clustered(4000, 4, seed=1)
    b = torch.randn(16, 5, generator=torch.Generator().manual_seed(2))
    amm = axnn.maddness.fit(a, b, c=4, encoder=encoder, lut="fp32")
    test, _ = clustered(500, 4, seed=3)
    exact = test @ b
    nmse = ((amm(test) - exact) ** 2).sum() / (exact ** 2).sum()
    assert nmse < 1e-4
    # Rows of the same cluster share their code.
    codes = amm.codes(test)
    assert codes.dtype == torch.uint8 and codes.shape == (500, 4)


def test_decode_matches_the_naive_sum_of_table_rows():
    generator = torch.Generator().manual_seed(4)
    codes = torch.randint(0, 16, (37, 9), generator=generator).to(torch.uint8)
    lut = torch.randn(9, 16, 13, generator=generator)
    assert torch.equal(torch.ops.axnn.maddness_decode(codes, lut, 0), naive_decode(codes, lut))
    table = torch.randint(-128, 128, (9, 16, 13), generator=generator).to(torch.int8)
    assert torch.equal(torch.ops.axnn.maddness_decode(codes, table, 0).long(),
                       naive_decode(codes, table))


def test_encode_walks_the_trees():
    generator = torch.Generator().manual_seed(5)
    x = torch.randn(50, 6, generator=generator)
    split_dims = torch.randint(0, 6, (3, 4), generator=generator).to(torch.int32)
    thresholds = torch.randn(3, 15, generator=generator)
    codes = torch.ops.axnn.maddness_encode(x, split_dims, thresholds)
    for r in range(50):
        for c in range(3):
            node = 0
            for level in range(4):
                t = thresholds[c, (1 << level) - 1 + node]
                node = 2 * node + int(x[r, split_dims[c, level]] > t)
            assert codes[r, c] == node


def test_int8_tables_stay_within_their_rounding():
    a = torch.randn(3000, 32, generator=torch.Generator().manual_seed(6))
    b = torch.randn(32, 8, generator=torch.Generator().manual_seed(7))
    amm_int8 = axnn.maddness.fit(a, b, c=8, lut="int8")
    amm_fp32 = axnn.maddness.fit(a, b, c=8, lut="fp32")
    bound = 8 / (2 * amm_int8.scale) + 1e-4
    assert ((amm_int8(a[:200]) - amm_fp32(a[:200])).abs() <= bound).all()


def test_bad_arguments_raise():
    a, b = torch.randn(100, 8), torch.randn(8, 3)
    with pytest.raises(ValueError, match="encoder"):
        axnn.maddness.fit(a, b, c=4, encoder="lsh")
    with pytest.raises(ValueError, match="disagree"):
        axnn.maddness.fit(a, torch.randn(7, 3), c=4)
    with pytest.raises(RuntimeError, match="c = 9"):
        axnn.maddness.fit(a, b, c=9)
