"""Calibration, evaluation and power accounting of approximated models, as the CLI does them
(src/train/train.h), and axnn checkpoints read from Python.

    axnn.calibrate(model, loader, batches=4)
    top1 = axnn.evaluate(model, loader)
    axnn.relative_power(model)      # from the last forward
"""

import json
import os

import torch

from .approximate import ax_layers


def _images(batch):
    return batch[0] if isinstance(batch, (list, tuple)) else batch


def set_calibrating(model, on):
    for _, layer in ax_layers(model):
        layer.set_calibrating(on)


def calibrate(model, batches, max_batches=None):
    """Runs the batches (images, or (images, labels) pairs; at most max_batches of them) through
    the model in eval mode collecting activation statistics, then stores every approximate
    layer's amax and ranges. The model's train/eval mode is left as it was."""
    was_training = model.training
    model.eval()
    set_calibrating(model, True)
    try:
        with torch.no_grad():
            for i, batch in enumerate(batches):
                if max_batches is not None and i >= max_batches:
                    break
                model(_images(batch))
    finally:
        set_calibrating(model, False)
        model.train(was_training)


def evaluate(model, batches):
    """Top-1 accuracy in percent over (images, labels) batches, in eval mode."""
    was_training = model.training
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for images, labels in batches:
            correct += int((model(images).argmax(dim=1) == labels).sum())
            total += labels.numel()
    model.train(was_training)
    if total == 0:
        raise ValueError("axnn.evaluate: no batches")
    return 100.0 * correct / total


def relative_power(model):
    """sum MACs_l p_l / sum MACs_l over the approximate layers, from their last forward; None
    when a layer with MACs has no known relative power."""
    macs = weighted = 0.0
    for _, layer in ax_layers(model):
        if layer.macs_per_sample == 0:
            continue
        if layer.relative_power is None:
            return None
        macs += layer.macs_per_sample
        weighted += layer.macs_per_sample * layer.relative_power
    if macs == 0:
        raise RuntimeError("relative power: no approximate layer has run yet (run a forward first)")
    return weighted / macs


def load_checkpoint(path):
    """(state_dict, meta) of an axnn checkpoint (`axnn train`, `axnn import`, ...): its tensors
    by path name, and its metadata (model, input shape, dataset, "layers": configs)."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint {path}: not found")
    archive = torch.jit.load(path, map_location="cpu")
    if not hasattr(archive, "axnn_checkpoint"):
        raise ValueError(f"checkpoint {path}: not an axnn checkpoint (no axnn_checkpoint record)")
    return archive.state_dict(), json.loads(archive.axnn_checkpoint)
