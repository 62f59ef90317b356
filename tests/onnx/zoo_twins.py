"""Python twins of the axnn model zoo (src/models/zoo.cpp): the same architectures and parameter
names, so that an axnn checkpoint's tensors load into them:

    twin = make_twin("lenet5", channels=1, image_size=28, classes=10)
    twin.load_state_dict(zoo_state_dict(torch.jit.load("lenet5.pt")))

zoo_state_dict keeps the checkpoint's parameters and the batch-norm statistics and drops the
approximate layers' calibration buffers (amax_*, min_*, max_*), which plain torch layers lack.
"""
import math

import torch
from torch import nn


class LeNet5(nn.Module):
    def __init__(self, channels, image_size, classes):
        super().__init__()
        after = (image_size // 2 - 4) // 2
        self.conv1 = nn.Conv2d(channels, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * after * after, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, classes)

    def forward(self, x):
        h = torch.max_pool2d(self.conv1(x).relu(), 2)
        h = torch.max_pool2d(self.conv2(h).relu(), 2).flatten(1)
        return self.fc3(self.fc2(self.fc1(h).relu()).relu())


class Mlp(nn.Module):
    def __init__(self, channels, image_size, classes):
        super().__init__()
        self.fc1 = nn.Linear(channels * image_size * image_size, 256)
        self.fc2 = nn.Linear(256, 128)
        self.fc3 = nn.Linear(128, classes)

    def forward(self, x):
        return self.fc3(self.fc2(self.fc1(x.flatten(1)).relu()).relu())


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.stride, self.pad = stride, cout - cin
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)

    def forward(self, x):
        shortcut = x
        if self.stride != 1:
            shortcut = shortcut[:, :, :: self.stride, :: self.stride]
        if self.pad > 0:
            shortcut = nn.functional.pad(
                shortcut, (0, 0, 0, 0, self.pad // 2, self.pad - self.pad // 2))
        h = self.bn1(self.conv1(x)).relu()
        return (self.bn2(self.conv2(h)) + shortcut).relu()


class ResNet20(nn.Module):
    def __init__(self, channels, image_size, classes):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        cin = 16
        for stage in range(3):
            cout = 16 << stage
            blocks = []
            for b in range(3):
                blocks.append(BasicBlock(cin, cout, 2 if stage > 0 and b == 0 else 1))
                cin = cout
            setattr(self, f"layer{stage + 1}", nn.ModuleList(blocks))
        self.fc = nn.Linear(64, classes)

    def forward(self, x):
        h = self.bn1(self.conv1(x)).relu()
        for stage in (self.layer1, self.layer2, self.layer3):
            for block in stage:
                h = block(h)
        return self.fc(h.mean((2, 3)))


class ViTBlock(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, 2 * dim)
        self.fc2 = nn.Linear(2 * dim, dim)

    def forward(self, x):
        n, t, dim = x.shape
        hd = dim // self.heads
        parts = self.qkv(self.norm1(x)).reshape(n, t, 3, self.heads, hd).permute(2, 0, 3, 1, 4)
        q, k, v = parts[0] / math.sqrt(hd), parts[1], parts[2]
        attention = (q @ k.transpose(-1, -2)).softmax(-1)
        mixed = (attention @ v).permute(0, 2, 1, 3).reshape(n, t, dim)
        h = x + self.proj(mixed)
        # tanh-free GELU, as LibTorch's at::gelu default
        return h + self.fc2(nn.functional.gelu(self.fc1(self.norm2(h))))


class ViTTiny(nn.Module):
    patch_size, dim, depth, heads = 4, 96, 4, 3

    def __init__(self, channels, image_size, classes):
        super().__init__()
        tokens = (image_size // self.patch_size) ** 2 + 1
        self.patch = nn.Conv2d(channels, self.dim, self.patch_size, self.patch_size)
        self.cls = nn.Parameter(torch.randn(1, 1, self.dim) * 0.02)
        self.pos = nn.Parameter(torch.randn(1, tokens, self.dim) * 0.02)
        self.blocks = nn.ModuleList(ViTBlock(self.dim, self.heads) for _ in range(self.depth))
        self.norm = nn.LayerNorm(self.dim)
        self.head = nn.Linear(self.dim, classes)

    def forward(self, x):
        patches = self.patch(x).flatten(2).transpose(1, 2)
        h = torch.cat([self.cls.expand(x.shape[0], 1, self.dim), patches], 1) + self.pos
        for block in self.blocks:
            h = block(h)
        return self.head(self.norm(h)[:, 0])


TWINS = {"lenet5": LeNet5, "mlp": Mlp, "resnet20": ResNet20, "vit-tiny": ViTTiny}


def make_twin(name, channels=1, image_size=28, classes=10):
    return TWINS[name](channels, image_size, classes)


def zoo_state_dict(checkpoint_module):
    """The tensors of a torch.jit.load-ed axnn checkpoint that a twin has."""
    calibration = ("amax_", "min_", "max_")
    return {k: v for k, v in checkpoint_module.state_dict().items()
            if not k.rsplit(".", 1)[-1].startswith(calibration)}
