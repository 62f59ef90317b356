"""axnn.approximate on torchvision models (random weights): every Conv2d, Linear and attention
product becomes an approximate layer, exact stays fp32, exact8s stays within quantization error."""

import pytest
import torch

import axnn

torchvision = pytest.importorskip("torchvision")


def one_channel_resnet18():
    model = torchvision.models.resnet18(num_classes=10)
    model.conv1 = torch.nn.Conv2d(1, 64, 7, 2, 3, bias=False)
    return model, torch.rand(4, 1, 28, 28)


def one_channel_mobilenet_v2():
    model = torchvision.models.mobilenet_v2(num_classes=10)
    model.features[0][0] = torch.nn.Conv2d(1, 32, 3, 2, 1, bias=False)
    return model, torch.rand(4, 1, 28, 28)


def vit_b_16():
    model = torchvision.models.vit_b_16(image_size=32, num_classes=10)
    torch.nn.init.normal_(model.heads.head.weight, std=0.02)  # torchvision zeroes the head
    return model, torch.rand(2, 3, 32, 32)


def count(model, kind):
    return sum(isinstance(m, kind) for m in model.modules())


def cosine(a, b):
    # In float64 without torch's eps: random-weight networks can have tiny outputs.
    a, b = a.double().flatten(), b.double().flatten()
    return float(a @ b / (a.norm() * b.norm()))


@pytest.mark.parametrize("make", [one_channel_resnet18, one_channel_mobilenet_v2, vit_b_16])
def test_torchvision_models_are_covered_and_exact8s_is_close(make):
    torch.manual_seed(0)
    model, x = make()
    model.eval()
    with torch.no_grad():
        reference = model(x)
    ax = axnn.approximate(model).eval()
    # Nothing approximable is left behind, and the original model is untouched.
    assert count(ax, torch.nn.Conv2d) == count(ax, torch.nn.Linear) == 0
    assert count(ax, torch.nn.MultiheadAttention) == 0
    assert count(ax, axnn.nn.AxConv2d) == count(model, torch.nn.Conv2d)
    attention = count(model, torch.nn.MultiheadAttention)
    # Every MultiheadAttention: in_proj, out_proj (itself a Linear) and the two products.
    assert count(ax, axnn.nn.AxLinear) == count(model, torch.nn.Linear) + attention
    assert count(ax, axnn.nn.AxMatMul) == 2 * attention
    assert count(model, axnn.nn.AxLayer) == 0
    with torch.no_grad():
        assert torch.equal(ax(x), reference)  # every layer "exact": fp32 as before
        table = axnn.configure(ax, mult="exact8s")
        axnn.calibrate(ax, [x])
        approx = ax(x)
    table = axnn.layers(ax)
    assert all(t["macs_per_sample"] > 0 and t["mult"] == "exact8s" for t in table)
    assert cosine(approx, reference) > 0.995  # a poor multiplier (trunc8s_k6): 0.36-0.5
    assert axnn.relative_power(ax) == 1.0


def test_vit_attention_layers_are_named_by_module_path():
    model, _ = vit_b_16()
    names = [t["name"] for t in axnn.layers(axnn.approximate(model))]
    block = "encoder.layers.encoder_layer_0"
    assert names[:7] == ["conv_proj", f"{block}.self_attention.in_proj",
                         f"{block}.self_attention.qk", f"{block}.self_attention.av",
                         f"{block}.self_attention.out_proj", f"{block}.mlp.0", f"{block}.mlp.3"]


def test_transformer_encoders_keep_off_torch_fast_paths():
    torch.manual_seed(3)
    layer = torch.nn.TransformerEncoderLayer(16, 2, 32, batch_first=True)
    encoder = torch.nn.TransformerEncoder(layer, 2).eval()
    x = torch.randn(3, 5, 16)
    ax = axnn.approximate(encoder).eval()
    with torch.no_grad():  # eval without gradients: where torch's fused path would run
        torch.testing.assert_close(ax(x), encoder(x), rtol=1e-5, atol=1e-5)
        axnn.configure(ax, mult="trunc8s_k6")
        axnn.calibrate(ax, [x])
        approx = ax(x)
    assert all(t["macs_per_sample"] > 0 for t in axnn.layers(ax))
    assert cosine(approx, encoder(x)) < 0.999  # the approximate layers computed


class Attention(torch.nn.Module):
    """Functional attention, as timm-style models write it."""

    def __init__(self):
        super().__init__()
        self.qkv = torch.nn.Linear(8, 24)
        self.mix = torch.nn.Parameter(torch.randn(8, 8))

    def forward(self, x):
        n, t, _ = x.shape
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        a = (q @ k.transpose(-2, -1) / 8 ** 0.5).softmax(-1)
        return torch.matmul(a, v) @ self.mix  # a product with a parameter is no activation product


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = torch.nn.Sequential(Attention(), Attention())
        self.head = torch.nn.Linear(8, 3)

    def forward(self, x):
        gram = torch.bmm(x, x.transpose(1, 2))  # one product at the top: "matmul"
        return self.head(self.blocks(x) + gram.mean(-1, keepdim=True))


def test_functional_products_are_routed_through_axmatmul():
    torch.manual_seed(1)
    net, x = Net(), torch.randn(2, 5, 8)
    ax = axnn.approximate(net)
    assert isinstance(ax, torch.fx.GraphModule)
    names = {t["name"]: t["type"] for t in axnn.layers(ax)}
    assert names == {"matmul": "matmul", "blocks.0.qkv": "linear", "blocks.0.qk": "matmul",
                     "blocks.0.av": "matmul", "blocks.1.qkv": "linear", "blocks.1.qk": "matmul",
                     "blocks.1.av": "matmul", "head": "linear"}
    assert torch.equal(ax(x), net(x))
    axnn.configure(ax, mult="exact8s")
    axnn.calibrate(ax, [x])
    assert cosine(ax(x), net(x)) > 0.99
    assert all(t["macs_per_sample"] > 0 for t in axnn.layers(ax))


def test_retraining_is_a_plain_torch_loop():
    torch.manual_seed(2)
    model, x = one_channel_resnet18()
    ax = axnn.approximate(model, mult="trunc8s_k4")
    axnn.calibrate(ax, [x])
    labels = torch.tensor([0, 1, 2, 3])
    optimizer = torch.optim.SGD(ax.parameters(), lr=0.01)
    ax.train()
    losses = []
    for _ in range(3):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(ax(x), labels)
        loss.backward()
        optimizer.step()
        losses.append(float(loss))
    assert all(p.grad is not None for p in ax.parameters())
    assert losses[-1] < losses[0]
