#!/usr/bin/env bash
# Circuits end to end through the command line: a generated truncated Dadda multiplier written as
# Verilog and BLIF, simulated, imported (through yosys) and costed (through berkeley-abc), must
# have the same error metrics as the functional built-in trunc8s_k6, and cost less than exact.
# Usage: netlist.sh AXNN
set -euo pipefail
axnn="$1"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
metrics() { grep -E '"(mae_pct|wce_pct|ep_pct|mre_pct|mse|bias)"'; }
fail() { echo "FAIL: $*"; exit 1; }

want=$("$axnn" mult show trunc8s_k6 --json | metrics)
"$axnn" netlist generate dadda8s_k6 -o "$work/d.blif" --table "$work/d.axm" --no-cost
[ "$("$axnn" mult show "$work/d.axm" --json | metrics)" = "$want" ] || fail "generated table"
[ "$("$axnn" netlist sim "$work/d.blif" --json | metrics)" = "$want" ] || fail "BLIF simulation"
"$axnn" netlist stats "$work/d.blif" | grep -q "16 inputs, 16 outputs" || fail "stats"

if command -v yosys >/dev/null; then
  "$axnn" netlist generate dadda8s_k6 -o "$work/d.v"
  "$axnn" mult import "$work/d.v" --name mine -o "$work/imported.axm" --no-cost
  [ "$("$axnn" mult show "$work/imported.axm" --json | metrics)" = "$want" ] || fail "import"
  echo "Verilog import: same metrics"
fi
if command -v berkeley-abc >/dev/null || command -v yosys-abc >/dev/null; then
  power=$("$axnn" netlist cost dadda8s_k6 --json | python3 -c \
    'import json,sys; print(json.load(sys.stdin)["relative"]["power"])')
  python3 -c "import sys; sys.exit(not 0.3 < $power < 0.95)" || fail "relative power $power"
  # Operands that are almost always 0 switch less than uniform ones.
  python3 -c 'import json; w=[1000]+[1]*255; print(json.dumps({"a": w, "b": w}))' > "$work/dist.json"
  quiet=$("$axnn" netlist cost dadda8s_k6 --dist "$work/dist.json" --json | python3 -c \
    'import json,sys; print(json.load(sys.stdin)["power"])')
  loud=$("$axnn" netlist cost dadda8s_k6 --json | python3 -c \
    'import json,sys; print(json.load(sys.stdin)["power"])')
  python3 -c "import sys; sys.exit(not $quiet < $loud)" || fail "power under --dist"
  echo "cost: relative power $power"
fi
if "$axnn" netlist sim "$work/none.blif" 2> "$work/err"; then fail "a missing file passed"; fi
grep -q "none.blif: cannot be opened" "$work/err" || fail "error message: $(cat "$work/err")"
echo "netlist checks passed"
