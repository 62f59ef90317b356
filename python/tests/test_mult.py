"""axnn.mult: the registry's names, tables, metrics and circuit import from Python."""

import shutil

import pytest
import torch

import axnn


def values(bits, signed):
    codes = torch.arange(1 << bits)
    return codes - (1 << bits) * (codes >= (1 << (bits - 1))) if signed else codes


def test_list_has_the_curated_builtins():
    names = axnn.mult.list()
    assert "exact8s" in names and "trunc8s_k4" in names and len(names) == len(set(names))


@pytest.mark.parametrize("name,bits,signed", [("exact8s", 8, True), ("exact4u", 4, False)])
def test_exact_tables_are_the_products(name, bits, signed):
    m = axnn.mult.load(name)
    v = values(bits, signed)
    assert (m.name, m.bits, m.signed) == (name, bits, signed)
    assert m.table.dtype == torch.int32 and torch.equal(m.table.long(), v[:, None] * v[None, :])
    assert all(value == 0 for value in m.metrics.values())


def test_metrics_follow_the_table():
    m = axnn.mult.load("trunc8s_k4")
    v = values(8, True)
    error = (m.table.long() - v[:, None] * v[None, :]).double()
    assert m.metrics["mae_pct"] == pytest.approx(float(error.abs().mean()) / 2 ** 16 * 100)
    assert m.metrics["ep_pct"] == pytest.approx(float((error != 0).double().mean()) * 100)
    assert m.metrics["bias"] == pytest.approx(float(error.mean()))
    assert 0 < m.relative_power < 1  # estimated from the circuit, as `axnn mult list` shows


def test_unknown_names_suggest_known_ones():
    with pytest.raises(RuntimeError, match="unknown multiplier 'exact8x'.*closest known names"):
        axnn.mult.load("exact8x")


# A 2-bit unsigned array multiplier: out = a * b.
BLIF = """.model mul2u_array
.inputs a[0] a[1] b[0] b[1]
.outputs o[0] o[1] o[2] o[3]
.names a[0] b[0] o[0]
11 1
.names a[1] b[0] p10
11 1
.names a[0] b[1] p01
11 1
.names a[1] b[1] p11
11 1
.names p10 p01 o[1]
10 1
01 1
.names p10 p01 c1
11 1
.names p11 c1 o[2]
10 1
01 1
.names p11 c1 o[3]
11 1
.end
"""


def test_import_circuit_simulates_every_code_pair(tmp_path):
    circuit = tmp_path / "mul2u_array.blif"
    circuit.write_text(BLIF)
    out = tmp_path / "mine.axm"
    m = axnn.mult.import_circuit(circuit, output=out, cost=False, name="mine")
    v = values(2, False)
    assert (m.name, m.bits, m.signed) == ("mine", 2, False)
    assert torch.equal(m.table.long(), v[:, None] * v[None, :])
    assert m.relative_power is None  # not costed
    again = axnn.mult.load(out)
    assert again.name == "mine" and torch.equal(again.table, m.table)
    with pytest.raises(RuntimeError, match="nosuch.blif"):
        axnn.mult.import_circuit(tmp_path / "nosuch.blif")


@pytest.mark.skipif(shutil.which("yosys") is None, reason="yosys (Debian package) not installed")
def test_import_verilog_through_yosys(tmp_path):
    circuit = tmp_path / "mul2s_exact.v"
    circuit.write_text("module mul2s_exact(input [1:0] A, input [1:0] B, output [3:0] O);\n"
                       "  assign O = $signed(A) * $signed(B);\nendmodule\n")
    m = axnn.mult.import_circuit(circuit, cost=False)
    v = values(2, True)
    assert m.signed and torch.equal(m.table.long(), v[:, None] * v[None, :])
