"""Loads the axnn op library into torch, so that torch.ops.axnn.* can be called from Python.

    import axnn
    axnn.load()                      # or axnn.load("/path/to/libaxnn_ops.so")
    c = torch.ops.axnn.lut_matmul(a, b, lut)

The library is looked for at the given path, then at $AXNN_OPS_LIBRARY, then in this checkout's
release build (build/release/src/ops/libaxnn_ops.so). docs/ops.md documents every op.
"""

import os
import pathlib

import torch

_BUILT = pathlib.Path(__file__).resolve().parents[2] / "build" / "release" / "src" / "ops"


def library_path(path=None):
    """The libaxnn_ops.so that load() would use: `path` if given, else the first of
    $AXNN_OPS_LIBRARY and the release build that exists; raises FileNotFoundError naming every
    place it looked."""
    if path:
        candidates = [path]
    else:
        candidates = [os.environ.get("AXNN_OPS_LIBRARY"), _BUILT / "libaxnn_ops.so"]
    tried = []
    for candidate in filter(None, candidates):
        candidate = pathlib.Path(candidate)
        if candidate.is_file():
            return candidate
        tried.append(str(candidate))
    raise FileNotFoundError(
        "libaxnn_ops.so not found (looked at: " + ", ".join(tried) + "); build it with "
        "scripts/build.sh or set AXNN_OPS_LIBRARY")


def load(path=None):
    """Loads libaxnn_ops.so into torch (once) and returns its path."""
    library = library_path(path)
    torch.ops.load_library(str(library))
    return library


from . import maddness  # noqa: E402  (after load(), which it needs at call time only)
