"""axnn from Python: approximate layers for any torch model, on the axnn op library.

    import axnn, torchvision
    model = axnn.approximate(torchvision.models.resnet18(num_classes=10), mult="trunc8s_k4")
    axnn.calibrate(model, loader, max_batches=4)
    top1 = axnn.evaluate(model, loader)

The op library (libaxnn_ops.so) is loaded at first use: from the path given to axnn.load(), else
$AXNN_OPS_LIBRARY, else the release build of the checkout this package lies in
(build/release/src/ops/libaxnn_ops.so: PYTHONPATH=python, or pip install -e ./python), else the
installed one beside the axnn command (PREFIX/lib for PREFIX/bin/axnn, as `cmake --install` lays
them out). torch.ops.axnn.* (docs/ops.md) can be called directly once it is loaded.
"""

import os
import pathlib
import shutil

import torch

_BUILT = pathlib.Path(__file__).resolve().parents[2] / "build" / "release" / "src" / "ops"


def library_path(path=None):
    """The libaxnn_ops.so that load() would use: `path` if given, else the first of
    $AXNN_OPS_LIBRARY, the checkout's release build and the installed library that exists;
    raises FileNotFoundError naming every place it looked."""
    if path:
        candidates = [path]
    else:
        command = shutil.which("axnn")
        installed = (pathlib.Path(command).resolve().parents[1] / "lib" / "libaxnn_ops.so"
                     if command else None)
        candidates = [os.environ.get("AXNN_OPS_LIBRARY"), _BUILT / "libaxnn_ops.so", installed]
    tried = []
    for candidate in filter(None, candidates):
        candidate = pathlib.Path(candidate)
        if candidate.is_file():
            return candidate
        tried.append(str(candidate))
    raise FileNotFoundError(
        "libaxnn_ops.so not found (looked at: " + ", ".join(tried) + "); build it with "
        "scripts/build.sh, install it (cmake --install) or set AXNN_OPS_LIBRARY")


_loaded = None


def load(path=None):
    """Loads libaxnn_ops.so into torch (once) and returns its path; a path other than the one
    loaded is an error."""
    global _loaded
    if _loaded is not None and path is None:
        return _loaded
    library = library_path(path)
    if _loaded is None:
        torch.ops.load_library(str(library))
        _loaded = library
    elif library.resolve() != _loaded.resolve():
        raise RuntimeError(f"axnn.load: {_loaded} is loaded already; {library} cannot be too")
    return _loaded


def ops():
    """torch.ops.axnn, loading the library first if needed."""
    load()
    return torch.ops.axnn


# After ops(), which the modules need at call time only.
from . import data, maddness, mult, nn  # noqa: E402
from .approximate import (approximate, ax_layers, configure, layers, save_config,  # noqa: E402
                          summary)
from .pipeline import (calibrate, evaluate, learn_halut, load_checkpoint,  # noqa: E402
                       relative_power, restore, set_calibrating)
