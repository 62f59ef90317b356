"""Halut layers from Python against references in plain torch: hash trees walked by hand, table
rows summed, the int8 tables dequantized as DESIGN's MADDness decode describes."""

import pytest
import torch

import axnn


def tree_codes(rows, split_dims, thresholds):
    """[R, C]: each codebook's leaf, walking its heap-ordered tree level by level."""
    r, c = rows.shape[0], split_dims.shape[0]
    depth = split_dims.shape[1]
    codes = torch.zeros(r, c, dtype=torch.long)
    for book in range(c):
        node = torch.zeros(r, dtype=torch.long)
        for level in range(depth):
            column = rows[:, split_dims[book, level].long()]
            threshold = thresholds[book][(1 << level) - 1 + node]
            node = 2 * node + (column > threshold).long()
        codes[:, book] = node
    return codes


def table_sum(lut, codes):
    """sum_c lut[c][codes[:, c]][:] in float64: [R, M]."""
    return sum(lut[c].double()[codes[:, c]] for c in range(lut.shape[0]))


def learned_linear(config, seed=0):
    torch.manual_seed(seed)
    layer = axnn.nn.AxLinear(32, 6, name="fc", config={"mult": "halut", "c": 8, **config})
    x = torch.randn(512, 32)
    axnn.learn_halut(layer, [x], rows=400)
    return layer, torch.randn(64, 32)


def test_fp32_tables_sum_the_rows_of_the_leaves():
    layer, x = learned_linear({"lut": "fp32"})
    codes = tree_codes(x, layer.halut_split_dims[0], layer.halut_thresholds[0])
    want = table_sum(layer.halut_lut[0].detach(), codes) + layer.bias.detach().double()
    with torch.no_grad():
        torch.testing.assert_close(layer(x).double(), want, rtol=1e-5, atol=1e-5)
    assert layer.relative_power == 0.0  # no multiplication
    # The root layer's path is empty, so the row starts with its type.
    assert axnn.summary(layer).splitlines()[1].split() == [
        "linear", "halut", "c8", "k16", "maddness", "fp32", "192", "0.000"]
    with torch.no_grad():
        before = layer(x)
        axnn.calibrate(layer, [x])  # a Halut layer calibrates (for a later multiplier) in fp32
        assert torch.equal(layer(x), before)


@pytest.mark.parametrize("average", [0, 2])
def test_int8_tables_decode_as_quantized(average):
    layer, x = learned_linear({"average": average})
    lut = layer.halut_lut[0].detach()
    table, scale, offset = torch.ops.axnn.maddness_quantize_lut(lut)
    codes = tree_codes(x, layer.halut_split_dims[0], layer.halut_thresholds[0])
    with torch.no_grad():
        got = layer(x) - layer.bias
    exact_sum = (table_sum(table, codes) / scale.double() + offset.double()).float()
    if average == 0:
        torch.testing.assert_close(got, exact_sum, rtol=1e-5, atol=1e-4)
    else:  # averaging rounds; the bias correction keeps it unbiased to within its steps
        assert float((got - exact_sum).mean().abs()) < float((1 / scale).max()) * 2
    # The learned product approximates the layer's own: a large error would mean a broken table.
    exact = x @ layer.weight.detach().t()
    assert float((got - exact).square().mean() / exact.square().mean()) < 0.5


def test_conv_products_are_those_of_the_im2col_patches():
    torch.manual_seed(1)
    conv = axnn.nn.AxConv2d(4, 6, 3, padding=1, groups=2, name="conv",
                            config={"mult": "halut", "c": 6, "k": 8, "lut": "fp32"})
    x = torch.randn(2, 4, 6, 6)
    axnn.learn_halut(conv, [x])
    with torch.no_grad():
        got = conv(x)
    patches = torch.nn.functional.unfold(x, 3, padding=1)  # [N, 4 * 9, 36], per group 2 * 9
    for g in range(2):
        rows = patches[:, g * 18:(g + 1) * 18].permute(0, 2, 1).reshape(-1, 18)
        codes = tree_codes(rows, conv.halut_split_dims[g], conv.halut_thresholds[g])
        want = table_sum(conv.halut_lut[g].detach(), codes).reshape(2, 36, 3).permute(0, 2, 1)
        want = want + conv.bias.detach()[g * 3:(g + 1) * 3].double().view(1, 3, 1)
        torch.testing.assert_close(got[:, g * 3:(g + 1) * 3].reshape(2, 3, 36).double(), want,
                                   rtol=1e-5, atol=1e-5)


def test_pq_encoder_uses_nearest_centroids_and_counts_their_multiplications():
    layer, x = learned_linear({"encoder": "pq", "lut": "fp32"})
    centroids = layer.halut_centroids[0].detach()  # [C, K, D], zero outside each group
    bounds = axnn.halut.group_bounds(32, 8)
    codes = torch.stack([
        torch.cdist(x[:, bounds[c]:bounds[c + 1]],
                    centroids[c][:, bounds[c]:bounds[c + 1]]).argmin(1) for c in range(8)], 1)
    with torch.no_grad():
        torch.testing.assert_close(layer(x).double(),
                                   table_sum(layer.halut_lut[0].detach(), codes) +
                                   layer.bias.detach().double(), rtol=1e-5, atol=1e-5)
    assert layer.relative_power == 16 / 6  # K distances over d columns against d m MACs


@pytest.mark.parametrize("config", [{}, {"lut": "fp32"}, {"encoder": "pq"},
                                    {"encoder": "learned"}])
def test_training_forward_computes_what_inference_does(config):
    layer, x = learned_linear(config)
    with torch.no_grad():
        inference = layer(x)
    torch.testing.assert_close(layer(x.requires_grad_(True)), inference, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("encoder", ["maddness", "learned"])
def test_retraining_trains_the_tables(encoder):
    layer, x = learned_linear({"encoder": encoder})
    x.requires_grad_(True)
    target = torch.randn(64, 6)
    optimizer = torch.optim.Adam(layer.parameters(), lr=0.01)
    losses = []
    for _ in range(20):
        optimizer.zero_grad()
        loss = (layer(x) - target).square().mean()
        loss.backward()
        optimizer.step()
        losses.append(float(loss))
    assert layer.halut_lut.grad is not None and x.grad is not None
    assert (layer.halut_centroids.grad is not None) == (encoder == "learned")
    assert losses[-1] < losses[0]


def test_unlearned_products_say_so():
    layer = axnn.nn.AxLinear(32, 2, name="fc", config="halut")
    with pytest.raises(RuntimeError, match="layer 'fc' is configured halut .* no learned hash"):
        with torch.no_grad():
            layer(torch.randn(3, 32))
    with pytest.raises(RuntimeError, match="halut c = 16 exceeds the 8 input columns"):
        axnn.nn.AxLinear(8, 2, name="fc", config="halut")
    with pytest.raises(ValueError, match="no layer is configured"):
        axnn.learn_halut(axnn.nn.AxLinear(8, 2, name="fc"), [torch.randn(2, 8)])
