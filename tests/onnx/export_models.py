"""Exports the ONNX models the axnn ONNX tests import, with torch's outputs for fixed inputs.

    python3 export_models.py OUT_DIR [--checkpoint ZOO_NAME=PATH ...]

writes into OUT_DIR, for each model NAME (torchvision resnet18, mobilenet_v2 and a small
VisionTransformer; the zoo twins lenet5, mlp, resnet20, vit-tiny of zoo_twins.py, random weights):
  NAME.onnx         opset 17 (vit_opset13: the ViT at opset 13); the torchvision models with a dynamic batch, the twins with batch 1
                    fixed (torch.onnx.export without dynamic_axes), so both kinds get imported;
                    all but resnet18 with their BatchNormalization nodes (TrainingMode.PRESERVE),
                    resnet18 with them folded into its convs (the exporter's default)
  NAME.out.bin      torch's fp32 outputs for input.bin, float32 little-endian [4, 10]
and input.bin, the fixed inputs: float32 [4, 1, 28, 28] in [0, 1]. With --checkpoint the twin
ZOO_NAME carries that axnn checkpoint's weights instead, written as ZOO_NAME.ckpt.onnx.
Exit status 77 when torch, torchvision or onnx cannot be imported (the tests skip then).
"""
import argparse
import os
import sys

try:
    import onnx  # noqa: F401  (torch.onnx.export needs it for opset checks)
    import torch
    import torchvision
except ImportError as e:
    print(f"export_models.py: {e}", file=sys.stderr)
    sys.exit(77)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import zoo_twins  # noqa: E402

BATCH, CHANNELS, SIZE, CLASSES = 4, 1, 28, 10


def torchvision_models():
    resnet = torchvision.models.resnet18(num_classes=CLASSES)
    resnet.conv1 = torch.nn.Conv2d(CHANNELS, 64, 7, 2, 3, bias=False)
    mobilenet = torchvision.models.mobilenet_v2(num_classes=CLASSES)
    mobilenet.features[0][0] = torch.nn.Conv2d(CHANNELS, 32, 3, 2, 1, bias=False)
    vit = torchvision.models.VisionTransformer(image_size=SIZE, patch_size=7, num_layers=2,
                                               num_heads=2, hidden_dim=32, mlp_dim=64,
                                               num_classes=CLASSES)
    vit.conv_proj = torch.nn.Conv2d(CHANNELS, 32, 7, 7)
    torch.nn.init.normal_(vit.heads.head.weight, std=0.1)  # torchvision starts it at zero
    # Random non-trivial batch-norm statistics, so the inference formula is exercised.
    for model in (resnet, mobilenet):
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.data.uniform_(0.5, 1.5)
                m.bias.data.uniform_(-0.2, 0.2)
    return {"resnet18": resnet, "mobilenet_v2": mobilenet, "vit": vit}


def export(model, path, x, dynamic_batch, keep_batch_norm, opset=17):
    model.eval()
    kwargs = {}
    if keep_batch_norm:  # else the exporter folds BatchNormalization into the convs
        kwargs["training"] = torch.onnx.TrainingMode.PRESERVE
    if dynamic_batch:
        kwargs["dynamic_axes"] = {"input": {0: "batch"}, "logits": {0: "batch"}}
    # With gradients on: under no_grad nn.MultiheadAttention takes its fused fast path, which
    # torch 1.13 cannot export.
    torch.onnx.export(model, x[:1], path, opset_version=opset, input_names=["input"],
                      output_names=["logits"], **kwargs)
    with torch.no_grad():
        return model(x)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--checkpoint", action="append", default=[],
                        help="ZOO_NAME=PATH: export that twin with the checkpoint's weights")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.manual_seed(0)
    x = torch.rand(BATCH, CHANNELS, SIZE, SIZE)
    x.numpy().astype("<f4").tofile(os.path.join(args.out, "input.bin"))

    def write(name, model, dynamic_batch, keep_batch_norm=True, opset=17):
        y = export(model, os.path.join(args.out, name + ".onnx"), x, dynamic_batch,
                   keep_batch_norm, opset)
        y.numpy().astype("<f4").tofile(os.path.join(args.out, name + ".out.bin"))

    if args.checkpoint:
        for spec in args.checkpoint:
            name, path = spec.split("=", 1)
            twin = zoo_twins.make_twin(name, CHANNELS, SIZE, CLASSES)
            twin.load_state_dict(zoo_twins.zoo_state_dict(torch.jit.load(path)))
            write(name + ".ckpt", twin, dynamic_batch=True)
        return
    for name, model in torchvision_models().items():
        write(name, model, dynamic_batch=True, keep_batch_norm=name != "resnet18")
        if name == "vit":  # opset 13: LayerNormalization decomposed (ReduceMean, Sub, Pow, ...)
            write("vit_opset13", model, dynamic_batch=True, opset=13)
    for name in zoo_twins.TWINS:
        write(name, zoo_twins.make_twin(name, CHANNELS, SIZE, CLASSES), dynamic_batch=False)


if __name__ == "__main__":
    main()
