"""A torchvision ResNet-18 on Fashion-MNIST, end to end from Python: train in fp32, export to ONNX
(for `axnn import`), then approximate, calibrate and evaluate with each multiplier.

    PYTHONPATH=python python3 python/examples/resnet18_fashion_mnist.py train --epochs 2 --out r18
    PYTHONPATH=python python3 python/examples/resnet18_fashion_mnist.py eval r18.state.pt \\
        --mults exact8s,mul8s_1L2H.axm,trunc8s_k4

`train` writes r18.state.pt (the state_dict) and r18.onnx; `eval` prints fp32 and per-multiplier
top-1 on the 10,000 test images, calibrating as `axnn calibrate` does by default (percentile
99.99 on the first 20 training batches of 256), so the CLI's figures on the imported ONNX model
can be compared line by line.
"""

import argparse
import time

import torch
import torchvision

import axnn


def resnet18():
    """torchvision's ResNet-18 for 1-channel 28x28 images and 10 classes."""
    model = torchvision.models.resnet18(num_classes=10)
    model.conv1 = torch.nn.Conv2d(1, 64, 7, 2, 3, bias=False)
    return model


def train(args):
    torch.manual_seed(args.seed)
    images, labels = axnn.data.fashion_mnist("train")
    model = resnet18()
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    for epoch in range(args.epochs):
        model.train()
        order = torch.randperm(labels.numel())
        start, total = time.time(), 0.0
        for x, y in axnn.data.batches(images[order], labels[order], args.batch_size):
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
            total += float(loss) * y.numel()
        print(f"epoch {epoch + 1}: loss {total / labels.numel():.4f} "
              f"({time.time() - start:.0f} s)", flush=True)
    torch.save(model.state_dict(), args.out + ".state.pt")
    export_onnx(model, args.out + ".onnx")
    print(f"wrote {args.out}.state.pt and {args.out}.onnx")


def export_onnx(model, path):
    """With a dynamic batch, and BatchNorm kept (not folded into the convolutions), so that the
    imported graph computes what the Python model computes."""
    model.eval()
    torch.onnx.export(model, torch.rand(1, 1, 28, 28), path, opset_version=17,
                      training=torch.onnx.TrainingMode.PRESERVE, input_names=["input"],
                      output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})


def evaluate(args):
    model = resnet18()
    model.load_state_dict(torch.load(args.state))
    model.eval()
    train_images, train_labels = axnn.data.fashion_mnist("train")
    test_images, test_labels = axnn.data.fashion_mnist("test")
    test = list(axnn.data.batches(test_images, test_labels))
    print(f"fp32: top-1 {axnn.evaluate(model, test):.2f}%", flush=True)
    for name in args.mults.split(","):
        ax = axnn.approximate(model, mult=name)
        axnn.calibrate(ax, axnn.data.batches(train_images, train_labels), max_batches=20)
        top1 = axnn.evaluate(ax, test)
        print(f"{name}: top-1 {top1:.2f}%, relative power {axnn.relative_power(ax):.3f}",
              flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train in fp32, write the state_dict and ONNX")
    t.add_argument("--epochs", type=int, default=2)
    t.add_argument("--batch-size", type=int, default=128)
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--seed", type=int, default=1)
    t.add_argument("--out", required=True, help="output path prefix")
    e = sub.add_parser("eval", help="fp32 and approximate top-1")
    e.add_argument("state", help="state_dict written by train")
    e.add_argument("--mults", default="exact8s,trunc8s_k4", help="comma-separated multipliers")
    args = parser.parse_args()
    train(args) if args.command == "train" else evaluate(args)


if __name__ == "__main__":
    main()
