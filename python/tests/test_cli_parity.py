"""The Python path equals the CLI path bit for bit: a torch model approximated from Python, and the
same model exported to ONNX, imported (`axnn import`), calibrated and evaluated by the CLI, give
identical calibration buffers and identical logits on the test set."""

import os
import pathlib
import subprocess

import pytest
import torch

import axnn

pytest.importorskip("onnx")  # torch.onnx.export checks the model with it
ROOT = pathlib.Path(__file__).resolve().parents[2]
AXNN = os.environ.get("AXNN_BINARY") or str(ROOT / "build" / "release" / "tools" / "axnn" / "axnn")
if not os.path.isfile(AXNN):
    pytest.skip(f"the axnn command is not built ({AXNN})", allow_module_level=True)
if not os.path.isdir(axnn.data.FASHION_MNIST_DIR):
    pytest.skip("Debian's dataset-fashion-mnist is not installed", allow_module_level=True)


class SmallNet(torch.nn.Module):
    """Conv / BatchNorm / pooling / Linear and one self-attention over the 7x7 positions."""

    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 8, 3, padding=1)
        self.bn1 = torch.nn.BatchNorm2d(8)
        self.conv2 = torch.nn.Conv2d(8, 16, 3, stride=2, padding=1, bias=False)
        self.attn = torch.nn.MultiheadAttention(16, 2, batch_first=True)
        self.fc = torch.nn.Linear(16 * 7 * 7, 10)

    def forward(self, x):
        x = torch.nn.functional.max_pool2d(torch.relu(self.bn1(self.conv1(x))), 2)
        x = torch.relu(self.conv2(x))                      # [N, 16, 7, 7]
        tokens = x.flatten(2).transpose(1, 2)              # [N, 49, 16]
        tokens = tokens + self.attn(tokens, tokens, tokens, need_weights=False)[0]
        return self.fc(tokens.flatten(1))


def run(*args):
    done = subprocess.run([AXNN, *map(str, args)], capture_output=True, text=True)
    assert done.returncode == 0, f"axnn {' '.join(map(str, args))}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    """The model, its folder with a small dataset (the first 1024 training and 512 test images of
    Fashion-MNIST, `--data mnist:DIR`) and its imported checkpoint."""
    folder = tmp_path_factory.mktemp("parity")
    data = folder / "data"
    data.mkdir()
    for split, prefix, count in (("train", "train", 1024), ("test", "t10k", 512)):
        images, labels = axnn.data.fashion_mnist(split)
        axnn.data.write_idx(data / f"{prefix}-images-idx3-ubyte", images[:count])
        axnn.data.write_idx(data / f"{prefix}-labels-idx1-ubyte", labels[:count])
    torch.manual_seed(0)
    model = SmallNet()
    model.train()
    with torch.no_grad():  # non-trivial BatchNorm statistics
        for x, _ in batches(data, "train"):
            model(x)
    model.eval()
    onnx_file, checkpoint = folder / "small.onnx", folder / "small.pt"
    torch.onnx.export(model, torch.rand(1, 1, 28, 28), onnx_file, opset_version=17,
                      training=torch.onnx.TrainingMode.PRESERVE,  # BatchNorm kept, not folded
                      input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    run("import", onnx_file, "-o", checkpoint, "--data", f"mnist:{data}")
    return model, folder, checkpoint


def batches(data, split):
    return axnn.data.batches(*axnn.data.mnist_dir(data, split))


def python_logits(model, folder):
    with torch.no_grad():
        return torch.cat([model(x) for x, _ in batches(folder / "data", "test")])


@pytest.mark.parametrize("mult", ["exact8s", "trunc8s_k4", "exact8u"])
def test_python_and_cli_agree_bit_for_bit(imported, mult):
    model, folder, checkpoint = imported
    calibrated, logits_file = folder / f"{mult}.pt", folder / f"{mult}.logits.pt"
    run("calibrate", checkpoint, "--mult", mult, "--batches", 2, "-o", calibrated)
    run("eval", calibrated, "--logits", logits_file)

    ax = axnn.approximate(model, mult=mult)
    axnn.calibrate(ax, batches(folder / "data", "train"), max_batches=2)
    cli_state, meta = axnn.load_checkpoint(calibrated)
    names = [name for name, _ in axnn.ax_layers(ax)]
    assert sorted(meta["layers"]) == sorted(names)  # the same layers, by the same names
    state = ax.state_dict()
    for name in names:
        for buffer in ("amax", "min", "max"):
            for operand in ("x", "a", "b"):
                key = f"{name}.{buffer}_{operand}"
                if key in state:
                    assert torch.equal(state[key], cli_state[key]), key
    assert torch.equal(python_logits(ax, folder), torch.load(logits_file))


def test_fp32_outputs_agree(imported):
    model, folder, checkpoint = imported
    logits_file = folder / "fp32.logits.pt"
    run("eval", checkpoint, "--logits", logits_file)
    cli = torch.load(logits_file)
    python = python_logits(model, folder)
    assert float((cli - python).abs().max()) <= 1e-4 * float(python.abs().max())


def test_halut_products_learned_by_the_cli_compute_the_same_in_python(imported):
    model, folder, checkpoint = imported
    learned, logits_file = folder / "halut.pt", folder / "halut.logits.pt"
    run("halut", "learn", checkpoint, "--layers", "conv2,fc", "--c", 8, "--rows", 800,
        "--held-out", 200, "--images", 1024, "-o", learned)
    run("eval", learned, "--logits", logits_file)
    ax = axnn.approximate(model)
    axnn.restore(ax, learned)
    assert [m.config["mult"] for _, m in axnn.ax_layers(ax)].count("halut") == 2
    assert torch.equal(python_logits(ax, folder), torch.load(logits_file))
