"""The multiplier library from Python: the same names, files, tables, metrics and costs as
`axnn mult` (they come from the C++ registry through the op library).

    import axnn
    axnn.mult.list()                      # curated built-ins, then the .axm files found
    m = axnn.mult.load("trunc8s_k4")      # or a file: .axm, .csv, ...
    m.table                               # int32 [256, 256], [activation code][weight code]
    m.metrics["mae_pct"], m.relative_power
    axnn.mult.import_circuit("mul8s_1L2H.v", output="mul8s_1L2H.axm")   # Verilog (yosys) or BLIF
"""

import builtins
import dataclasses
import json
import warnings

import torch

from . import ops

METRICS = ("mae_pct", "wce_pct", "ep_pct", "mre_pct", "wcre_pct", "mse", "bias", "nmed", "mred")


@dataclasses.dataclass(frozen=True)
class Multiplier:
    name: str
    bits: int
    signed: bool
    table: torch.Tensor  # int32 [2^bits, 2^bits]
    metrics: dict        # METRICS, as DESIGN.md section 2 defines them
    meta: dict           # relative_power, area_um2, delay_ns, power_mw (None when unknown),
                         # source, description

    @property
    def relative_power(self):
        return self.meta["relative_power"]


def _multiplier(table, info_json):
    info = json.loads(info_json)
    if "note" in info:
        warnings.warn(f"axnn.mult: {info['name']}: {info.pop('note')}")
    metrics = {key: info.pop(key) for key in METRICS}
    return Multiplier(info.pop("name"), info.pop("bits"), info.pop("signed"), table, metrics, info)


def list():  # noqa: A001  (axnn.mult.list, as `axnn mult list`)
    """Names: the curated built-ins (every width and parameter of the grammar works too), then the
    stems of the .axm files in $AXNN_MULT_PATH and the user folder."""
    return builtins.list(ops().mult_names())


def load(name):
    """A multiplier by registry name or file path; RuntimeError naming the closest known names."""
    return _multiplier(*ops().mult_load(str(name)))


def import_circuit(path, *, output=None, signed=None, name="", top="", cost=True):
    """A multiplier from a Verilog (through yosys) or BLIF circuit, its table by simulating every
    code pair; costed against the exact circuit by abc unless cost=False; written to `output`
    (.axm keeps the metadata) when given. Signedness from the module name unless given."""
    table, info = ops().mult_import(str(path), str(output or ""), signed, name, top, cost)
    return _multiplier(table, info)
