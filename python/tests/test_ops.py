"""torch.ops.axnn.* from Python against references written with plain torch indexing."""

import pytest
import torch
import torch.nn.functional as F

import axnn

axnn.load()


def random_lut(bits, seed):
    generator = torch.Generator().manual_seed(seed)
    side = 1 << bits
    return torch.randint(-32768, 32768, (side, side), dtype=torch.int32, generator=generator)


def random_codes(shape, dtype, seed):
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, shape, dtype=torch.int32, generator=generator).to(torch.uint8).to(dtype)


def low_bits(codes, bits):
    return codes.to(torch.uint8).long() & ((1 << bits) - 1)


def wrap_int32(values):
    return ((values + 2**31) % 2**32 - 2**31).to(torch.int32)


def reference_matmul(a, b, lut, bits):
    ia, ib = low_bits(a, bits), low_bits(b, bits)
    products = lut.long()[ia.unsqueeze(-1), ib]  # [..., M, K, N]
    return wrap_int32(products.sum(-2))


@pytest.mark.parametrize("bits", [2, 5, 8])
@pytest.mark.parametrize("dtype", [torch.uint8, torch.int8])
@pytest.mark.parametrize("a_shape,n", [((1, 1), 1), ((33, 70), 9), ((2, 3, 17, 40), 11)])
def test_lut_matmul_matches_reference(bits, dtype, a_shape, n):
    lut = random_lut(bits, bits)
    a = random_codes(a_shape, dtype, 1)
    b = random_codes((a_shape[-1], n), dtype, 2)
    got = torch.ops.axnn.lut_matmul(a, b, lut)
    assert got.dtype == torch.int32
    assert got.shape == a_shape[:-1] + (n,)
    assert torch.equal(got, reference_matmul(a, b, lut, bits))


def reference_conv(x, w, lut, bits, stride, padding, dilation, groups, pad_code):
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    xp = F.pad(low_bits(x, bits).double(), (padding[1], padding[1], padding[0], padding[0]),
               value=pad_code)
    oh = (h + 2 * padding[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (wd + 2 * padding[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    cols = F.unfold(xp, (kh, kw), dilation=dilation, stride=stride).long()  # [N, C*KH*KW, L]
    wc = low_bits(w, bits).reshape(o, cg * kh * kw)
    og = o // groups
    out = []
    for g in range(groups):
        xg = cols[:, g * cg * kh * kw:(g + 1) * cg * kh * kw, :]  # [N, K, L]
        wg = wc[g * og:(g + 1) * og]  # [OG, K]
        products = lut.long()[xg.unsqueeze(1), wg[None, :, :, None]]  # [N, OG, K, L]
        out.append(products.sum(2))
    return wrap_int32(torch.cat(out, 1).reshape(n, o, oh, ow))


@pytest.mark.parametrize("bits", [3, 8])
@pytest.mark.parametrize(
    "x_shape,w_shape,stride,padding,dilation,groups,pad_code",
    [((2, 3, 9, 7), (5, 3, 3, 3), (1, 1), (1, 1), (1, 1), 1, 0),
     ((3, 4, 11, 10), (6, 2, 3, 2), (2, 1), (2, 0), (1, 2), 2, 5),
     ((2, 6, 8, 8), (6, 1, 3, 3), (1, 1), (1, 1), (1, 1), 6, 3)])
def test_lut_conv2d_matches_reference(bits, x_shape, w_shape, stride, padding, dilation, groups,
                                      pad_code):
    lut = random_lut(bits, 10 + bits)
    x = random_codes(x_shape, torch.int8, 3)
    w = random_codes(w_shape, torch.int8, 4)
    got = torch.ops.axnn.lut_conv2d(x, w, lut, stride, padding, dilation, groups, pad_code)
    want = reference_conv(x, w, lut, bits, stride, padding, dilation, groups, pad_code)
    assert torch.equal(got, want)


def test_bad_arguments_raise_with_the_reason():
    lut = random_lut(4, 0)
    a = random_codes((3, 5), torch.uint8, 0)
    with pytest.raises(RuntimeError, match="disagree on K"):
        torch.ops.axnn.lut_matmul(a, random_codes((4, 2), torch.uint8, 1), lut)
    with pytest.raises(RuntimeError, match="lut must be int32"):
        torch.ops.axnn.lut_matmul(a, random_codes((5, 2), torch.uint8, 1), lut.float())


def test_missing_library_names_where_it_looked(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing-here.so"):
        axnn.load(tmp_path / "nothing-here.so")


def exact_lut():
    values = torch.arange(256, dtype=torch.int32).to(torch.uint8).to(torch.int8).to(torch.int32)
    return values[:, None] * values[None, :]


@pytest.mark.parametrize("mode", ["ste", "ste-clip", "lut-grad"])
def test_ax_linear_trains_through_autograd(mode):
    torch.manual_seed(0)
    x = torch.randn(4, 10, requires_grad=True)
    w = torch.randn(3, 10, requires_grad=True)
    b = torch.randn(3, requires_grad=True)
    x_amax, w_amax = x.detach().abs().max(), w.detach().abs().amax(1)
    y = torch.ops.axnn.ax_linear(x, w, b, exact_lut(), x_amax, w_amax, 8, True, mode)
    assert torch.allclose(y, torch.nn.functional.linear(x, w, b), atol=0.1)
    y.square().sum().backward()
    for grad in (x.grad, w.grad, b.grad):
        assert grad is not None and torch.isfinite(grad).all()
    if mode == "ste":
        xr, wr, br = (t.detach().clone().requires_grad_() for t in (x, w, b))
        torch.nn.functional.linear(xr, wr, br).backward(2 * y.detach())
        assert torch.allclose(x.grad, xr.grad, atol=1e-5)
        assert torch.allclose(w.grad, wr.grad, atol=1e-5)


def test_ax_conv2d_and_matmul_run_from_python():
    torch.manual_seed(1)
    x = torch.randn(2, 3, 8, 8, requires_grad=True)
    w = torch.randn(4, 3, 3, 3)
    y = torch.ops.axnn.ax_conv2d(x, w, None, exact_lut(), x.detach().abs().max(),
                                 w.abs().amax((1, 2, 3)), [1, 1], [1, 1], [1, 1], 1, 8, True, "ste")
    assert y.shape == (2, 4, 8, 8)
    y.sum().backward()
    assert x.grad.shape == x.shape
    q, k = torch.randn(2, 5, 8), torch.randn(2, 8, 5)
    s = torch.ops.axnn.ax_matmul(q, k, exact_lut(), q.abs().max(), k.abs().max(), 8, True, "ste")
    assert torch.allclose(s, q @ k, atol=0.2)
