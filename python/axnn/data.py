"""The CLI's datasets from Python, read from the same files into the same tensors (images float
in [0, 1]), so that Python and the CLI calibrate and evaluate on identical batches.

    images, labels = axnn.data.fashion_mnist("test")
    for x, y in axnn.data.batches(images, labels, 256): ...
"""

import gzip
import os

import torch

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"  # Debian's dataset-fashion-mnist


def read_idx(path):
    """The tensor of an IDX file (gzip-compressed or not): uint8 images [N, H, W] or labels [N]."""
    path = os.fspath(path)
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 8:
        raise ValueError(f"{path}: not an IDX file of unsigned bytes")
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    body = data[4 + 4 * dims:]
    count = 1
    for s in shape:
        count *= s
    if len(body) != count:
        raise ValueError(f"{path}: {len(body)} bytes of data for shape {shape}")
    return torch.frombuffer(bytearray(body), dtype=torch.uint8).reshape(shape)


def write_idx(path, tensor):
    """Writes uint8 images [N, H, W] (or [N, 1, H, W]) or labels [N] as a raw IDX file: subsets
    for the CLI's `--data mnist:DIR`."""
    t = tensor.to(torch.uint8)
    if t.dim() == 4 and t.shape[1] == 1:
        t = t.squeeze(1)
    header = bytes([0, 0, 8, t.dim()]) + b"".join(s.to_bytes(4, "big") for s in t.shape)
    with open(path, "wb") as f:
        f.write(header + t.contiguous().numpy().tobytes())


def mnist_dir(directory, split):
    """(images uint8 [N, 1, 28, 28], labels int64 [N]) of a folder of MNIST-layout files
    ({train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]); split "train" or "test"."""
    if split not in ("train", "test"):
        raise ValueError(f"split '{split}' is not train or test")
    prefix = "train" if split == "train" else "t10k"
    found = []
    for kind in ("images-idx3", "labels-idx1"):
        base = os.path.join(directory, f"{prefix}-{kind}-ubyte")
        path = next((p for p in (base + ".gz", base) if os.path.isfile(p)), None)
        if path is None:
            raise FileNotFoundError(f"{base}[.gz]: not found")
        found.append(read_idx(path))
    images, labels = found
    return images.unsqueeze(1), labels.long()


def fashion_mnist(split):
    return mnist_dir(FASHION_MNIST_DIR, split)


def batches(images, labels, batch_size=256):
    """(float images [B, C, H, W] in [0, 1], labels) in order, as the CLI batches them."""
    for begin in range(0, labels.numel(), batch_size):
        yield images[begin:begin + batch_size].float() / 255, labels[begin:begin + batch_size]
