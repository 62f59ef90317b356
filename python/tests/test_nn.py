"""axnn.nn layers against references written in plain torch: quantize, look the products up in
the multiplier's table, sum in int64, dequantize."""

import json

import pytest
import torch
import torch.nn.functional as F

import axnn


def signed_codes(x, amax, bits=8):
    qmax = (1 << (bits - 1)) - 1
    scale = torch.where(amax > 0, qmax / amax, torch.zeros_like(amax))
    return torch.clamp(torch.round(x * scale), -qmax, qmax).long(), scale


def table_lookup(lut, qx, qw, bits=8):
    """sum_k lut[qx[n, k]][qw[o, k]] for two's complement codes: [N, K] x [O, K] -> [N, O]."""
    mask = (1 << bits) - 1
    return lut.long()[(qx & mask).unsqueeze(1), (qw & mask).unsqueeze(0)].sum(-1)


def reference_linear(x, weight, bias, lut, x_amax, per_channel=True):
    w_amax = (weight.abs().amax(dim=1) if per_channel else weight.abs().max().expand(weight.shape[0]))
    qx, sx = signed_codes(x, torch.tensor(x_amax))
    qw, sw = signed_codes(weight, w_amax.unsqueeze(1))
    acc = table_lookup(lut, qx, qw).double()
    return acc / (sx.double() * sw.double().reshape(1, -1)) + bias.double()


def test_linear_matches_plain_table_arithmetic():
    torch.manual_seed(0)
    layer = axnn.nn.AxLinear(24, 7, name="fc", config={"mult": "trunc8s_k4", "calib": "max"})
    x = torch.randn(9, 24)
    axnn.calibrate(layer, [x])
    assert float(layer.amax_x) == float(x.abs().max())  # "max" calibration: exactly max |x|
    got = layer(x)
    m = axnn.mult.load("trunc8s_k4")
    want = reference_linear(x, layer.weight.detach(), layer.bias.detach(), m.table,
                            float(x.abs().max()))
    torch.testing.assert_close(got.double(), want, rtol=1e-5, atol=1e-5)
    assert layer.macs_per_sample == 24 * 7


@pytest.mark.parametrize("per_channel", [True, False])
@pytest.mark.parametrize("dynamic", [True, False])
def test_layers_call_the_ops_with_the_operands_amax(per_channel, dynamic):
    torch.manual_seed(1)
    config = {"mult": "exact8s", "per_channel": per_channel, "dynamic": dynamic, "calib": "max"}
    conv = axnn.nn.AxConv2d(3, 5, 3, stride=2, padding=1, name="conv", config=config)
    x = torch.randn(2, 3, 9, 9)
    calibration = x * 2  # so that calibrated and dynamic amax differ
    axnn.calibrate(conv, [calibration])
    x_amax = (x if dynamic else calibration).abs().max()
    w = conv.weight.detach()
    w_amax = w.abs().amax(dim=(1, 2, 3)) if per_channel else w.abs().max()
    want = torch.ops.axnn.ax_conv2d(x, w, conv.bias, axnn.mult.load("exact8s").table, x_amax,
                                    w_amax, [2, 2], [1, 1], [1, 1], 1, 8, True, "ste")
    assert torch.equal(conv(x), want)


def test_unsigned_multiplier_quantizes_asymmetrically():
    torch.manual_seed(2)
    layer = axnn.nn.AxLinear(16, 4, name="fc", config={"mult": "exact8u", "calib": "max"})
    x = torch.rand(5, 16) - 0.2
    axnn.calibrate(layer, [x])
    # The range: the observed extremes (never above 0 / below 0) clipped by amax.
    assert float(layer.min_x) == float(x.min()) and float(layer.max_x) == float(x.max())
    w = layer.weight.detach()
    want = torch.ops.axnn.ax_linear_asym(x, w, layer.bias, axnn.mult.load("exact8u").table,
                                         x.min(), x.max(), w.amin(dim=1), w.amax(dim=1), 8, "ste")
    assert torch.equal(layer(x), want)
    # exact8u is exact: only quantization error is left.
    torch.testing.assert_close(layer(x), F.linear(x, w, layer.bias), rtol=0, atol=0.05)


def test_matmul_quantizes_both_operands_per_tensor():
    torch.manual_seed(3)
    mm = axnn.nn.AxMatMul("qk", {"mult": "exact8s", "calib": "max"})
    a, b = torch.randn(2, 3, 5, 8), torch.randn(2, 3, 8, 6)
    mm.set_calibrating(True)
    mm(a, b)
    mm.set_calibrating(False)
    want = torch.ops.axnn.ax_matmul(a, b, axnn.mult.load("exact8s").table, a.abs().max(),
                                    b.abs().max(), 8, True, "ste")
    assert torch.equal(mm(a, b), want)
    assert mm.macs_per_sample == 3 * 5 * 8 * 6


def test_exact_config_is_fp32_and_uncalibrated_layers_say_so():
    torch.manual_seed(4)
    layer = axnn.nn.AxLinear(8, 3, name="head")
    x = torch.randn(4, 8)
    assert torch.equal(layer(x), F.linear(x, layer.weight, layer.bias))
    layer.set_config("exact8s")
    with pytest.raises(RuntimeError, match="layer 'head' \\(exact8s\\) has no calibration"):
        layer(x)


def test_ste_gradients_are_the_fp32_ones():
    torch.manual_seed(5)
    layer = axnn.nn.AxLinear(12, 6, name="fc", config={"mult": "trunc8s_k4", "dynamic": True})
    x = torch.randn(7, 12, requires_grad=True)
    layer(x).square().sum().backward()
    got = (x.grad.clone(), layer.weight.grad.clone(), layer.bias.grad.clone())
    for t in (x, layer.weight, layer.bias):
        t.grad = None
    # ste: the exact op's backward at the approximate output's upstream gradient.
    y = layer(x).detach()
    F.linear(x, layer.weight, layer.bias).backward(2 * y)
    for g, want in zip(got, (x.grad, layer.weight.grad, layer.bias.grad)):
        torch.testing.assert_close(g, want)


def test_bad_configs_get_one_clear_error():
    with pytest.raises(RuntimeError, match="layer 'fc'.*unknown multiplier 'nosuch8s'"):
        axnn.nn.AxLinear(4, 4, name="fc", config="nosuch8s")
    with pytest.raises(RuntimeError, match="unknown key 'mul'"):
        axnn.nn.AxLinear(4, 4, name="fc", config={"mul": "exact8s"})
    with pytest.raises(RuntimeError, match="grad_mode 'fast'"):
        axnn.nn.AxLinear(4, 4, name="fc", config={"mult": "exact8s", "grad_mode": "fast"})
    with pytest.raises(RuntimeError, match="halut k = 3 is not 2, 4, 8 or 16"):
        axnn.nn.AxLinear(4, 4, name="fc", config={"mult": "halut", "k": 3})
    with pytest.raises(RuntimeError, match="layer 'qk' \\(matmul\\): a Halut product needs a fixed"):
        axnn.nn.AxMatMul("qk", "halut")


def test_conversion_keeps_torch_semantics():
    torch.manual_seed(6)
    conv = torch.nn.Conv2d(4, 6, 3, padding="same", dilation=2, groups=2)
    layer = axnn.nn.AxConv2d.from_conv2d(conv, "c")
    x = torch.randn(2, 4, 7, 7)
    assert torch.equal(layer(x), conv(x))
    assert layer.weight is conv.weight  # shared, so an optimizer on either trains both
    with pytest.raises(RuntimeError, match="padding_mode 'reflect'"):
        axnn.nn.AxConv2d.from_conv2d(torch.nn.Conv2d(1, 1, 3, padding=1, padding_mode="reflect"),
                                     "c")


@pytest.mark.parametrize("batch_first", [True, False])
def test_multihead_attention_computes_what_torch_does(batch_first):
    torch.manual_seed(7)
    mha = torch.nn.MultiheadAttention(16, 4, batch_first=batch_first).eval()
    ax = axnn.nn.AxMultiheadAttention(mha, "attn").eval()
    x = torch.randn(3, 5, 16) if batch_first else torch.randn(5, 3, 16)  # 3 sequences of 5
    mask = torch.rand(5, 5) > 0.7
    mask.fill_diagonal_(False)
    for kwargs in ({}, {"attn_mask": mask}, {"key_padding_mask": torch.zeros(3, 5, dtype=bool)}):
        want, want_weights = mha(x, x, x, **kwargs)
        got, got_weights = ax(x, x, x, **kwargs)
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(got_weights, want_weights, rtol=1e-5, atol=1e-6)
    names = [name for name, _ in axnn.ax_layers(ax)]
    assert names == ["in_proj", "qk", "av", "out_proj"]
    assert [m.layer_name for _, m in axnn.ax_layers(ax)] == [
        "attn.in_proj", "attn.qk", "attn.av", "attn.out_proj"]


def test_calibration_uses_the_cli_calibrators():
    """Percentile calibration goes through the C++ calibrator: its amax from Python."""
    torch.manual_seed(8)
    x = torch.randn(4096)
    calibrator = torch.classes.axnn.Calibrator("percentile", 99.0, 8, True)
    calibrator.collect(x)
    layer = axnn.nn.AxLinear(4096, 1, name="fc", config={"mult": "exact8s", "percentile": 99.0})
    axnn.calibrate(layer, [x.unsqueeze(0)])
    assert float(layer.amax_x) == pytest.approx(calibrator.amax(), rel=0, abs=1e-7)
    # about the 99th percentile of |x|
    assert calibrator.amax() == pytest.approx(float(x.abs().quantile(0.99)), rel=0.02)


def test_rules_as_lists_files_and_yaml(tmp_path):
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.Flatten(),
                                torch.nn.Linear(2 * 4 * 4, 3))
    ax = axnn.approximate(model)
    rules = [{"match": "0", "mult": "exact"}, {"type": "linear", "mult": "trunc8s_k4",
                                               "per_channel": False}, {"mult": "exact8s"}]
    table = axnn.configure(ax, rules)
    assert [(t["name"], t["mult"]) for t in table] == [("0", "exact"), ("2", "trunc8s_k4")]
    assert ax[2].config["per_channel"] is False
    yaml_file = tmp_path / "rules.yaml"
    yaml_file.write_text('layers:\n  - {type: conv2d, mult: exact8s}\n  - {match: "*", mult: exact}\n')
    axnn.configure(ax, yaml_file)
    assert [t["mult"] for t in axnn.layers(ax)] == ["exact8s", "exact"]
    with pytest.raises(RuntimeError, match="layers\\[0\\]: type 'lin' is not linear"):
        axnn.configure(ax, [{"type": "lin", "mult": "exact8s"}])
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    with pytest.raises(RuntimeError, match="bad.json: not valid JSON"):
        axnn.configure(ax, bad)


def test_save_config_round_trips_through_the_cli_format(tmp_path):
    torch.manual_seed(9)
    model = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    ax = axnn.approximate(model, [{"match": "0", "mult": "trunc8s_k4", "grad_mode": "ste-clip"},
                                  {"mult": "exact8s", "calib": "mse"}])
    x = torch.randn(16, 8)
    axnn.calibrate(ax, [x])
    for name in ("config.json", "config.yaml"):
        axnn.save_config(ax, tmp_path / name)
        other = axnn.approximate(model)
        axnn.configure(other, tmp_path / name)
        other.load_state_dict(ax.state_dict())
        assert [m.config for _, m in axnn.ax_layers(other)] == [
            m.config for _, m in axnn.ax_layers(ax)]
        assert torch.equal(other(x), ax(x))
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["layers"][0]["match"] == "0" and saved["layers"][0]["grad_mode"] == "ste-clip"


def test_relative_power_weighs_layers_by_their_macs():
    model = torch.nn.Sequential(torch.nn.Linear(10, 20), torch.nn.Linear(20, 5))
    ax = axnn.approximate(model, [{"match": "0", "mult": "trunc8s_k4"}, {"mult": "exact8s"}])
    with pytest.raises(RuntimeError, match="no approximate layer has run"):
        axnn.relative_power(ax)
    axnn.calibrate(ax, [torch.randn(4, 10)])
    ax(torch.randn(4, 10))
    p = axnn.mult.load("trunc8s_k4").relative_power
    assert axnn.relative_power(ax) == pytest.approx((200 * p + 100 * 1.0) / 300)


def test_summary_is_the_cli_layer_table():
    model = torch.nn.Sequential(torch.nn.Linear(10, 20), torch.nn.Linear(20, 5))
    ax = axnn.approximate(model, [{"match": "0", "mult": "exact8u"}, {"mult": "exact8s"}])
    axnn.calibrate(ax, [torch.randn(4, 10)])
    lines = axnn.summary(ax).splitlines()
    assert lines[0].split() == ["layer", "type", "multiplier", "MACs/sample", "power"]
    assert lines[1].split() == ["0", "linear", "exact8u", "200", "1.000"]
    assert lines[2].split() == ["1", "linear", "exact8s", "100", "1.000"]
