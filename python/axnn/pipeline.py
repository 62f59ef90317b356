"""Calibration, Halut learning, evaluation and power accounting of approximated models, as the
CLI does them (src/train/train.h), and axnn checkpoints read from Python.

    axnn.calibrate(model, loader, max_batches=4)
    axnn.learn_halut(model, loader, max_batches=4)   # layers configured "mult": "halut"
    top1 = axnn.evaluate(model, loader)
    axnn.relative_power(model)      # from the last forward
    axnn.restore(model, "cal.pt")   # configs and tensors from a CLI checkpoint of the same model
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


def _run(model, batches, max_batches, before, after):
    """Runs the batches (images, or (images, labels) pairs; at most max_batches of them) through
    the model in eval mode without gradients, between before() and after(); leaves the model's
    train/eval mode as it was."""
    was_training = model.training
    model.eval()
    before()
    try:
        with torch.no_grad():
            for i, batch in enumerate(batches):
                if max_batches is not None and i >= max_batches:
                    break
                model(_images(batch))
    finally:
        after()
        model.train(was_training)


def calibrate(model, batches, max_batches=None):
    """Runs the batches through the model collecting activation statistics, then stores every
    approximate layer's amax and ranges."""
    _run(model, batches, max_batches, lambda: set_calibrating(model, True),
         lambda: set_calibrating(model, False))


def learn_halut(model, batches, max_batches=None, rows=50000, ridge_lambda=1.0, seed=1):
    """Learns the Halut product of every layer configured "mult": "halut" from the rows its
    inputs give over the batches (in fp32, all such layers at once; at most `rows` rows per
    layer, sampled uniformly with `seed`). `axnn halut learn` does more: layer by layer, each
    from the outputs of the ones learned before it, with held-out NMSE and resume."""
    layers = [(name, m) for name, m in ax_layers(model) if m.halut is not None]
    if not layers:
        raise ValueError("axnn.learn_halut: no layer is configured \"mult\": \"halut\"")
    collected = {name: [] for name, _ in layers}

    def set_sinks(on):
        for name, layer in layers:
            layer._row_sink = collected[name].append if on else None

    _run(model, batches, max_batches, lambda: set_sinks(True), lambda: set_sinks(False))
    generator = torch.Generator().manual_seed(seed)
    for name, layer in layers:
        if not collected[name]:
            raise ValueError("axnn.learn_halut: no batches")
        found = torch.cat(collected[name], dim=1)
        if found.shape[1] > rows:
            found = found[:, torch.randperm(found.shape[1], generator=generator)[:rows]]
        layer.learn_halut(found, ridge_lambda, seed)


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


def restore(model, path):
    """Gives an approximated model what a CLI checkpoint of the same model (`axnn import` of its
    ONNX export, then calibrate, retrain, halut learn, ...) holds: each approximate layer's
    config and tensors (weights, calibration, Halut state), and every other tensor whose name
    the checkpoint shares. A layer the checkpoint lacks is an error naming it."""
    state, meta = load_checkpoint(path)
    found = ax_layers(model)
    missing = [name for name, _ in found if name not in meta["layers"]]
    if missing:
        raise ValueError(f"checkpoint {os.fspath(path)}: no layer {', '.join(missing)} "
                         f"(it has {', '.join(sorted(meta['layers']))})")
    for name, layer in found:
        layer.set_config(meta["layers"][name])
    own = model.state_dict()
    for name, _ in found:
        for key in own:
            if key.startswith(name + ".") and key not in state:
                raise ValueError(f"checkpoint {os.fspath(path)}: layer '{name}' has no {key}")
    model.load_state_dict({k: v for k, v in state.items() if k in own}, strict=False)
