#!/usr/bin/env bash
# axnn import end to end, small: the lenet5 twin (tests/onnx/zoo_twins.py) exported by Debian's
# torch, imported, then every command that takes a checkpoint on it (calibrate, eval, retrain,
# sweep, search, halut learn, bench model, tram explore); a zoo lenet5 and its imported twin evaluate alike on
# an approximate multiplier; errors name the file and node. Exits 77 (skipped) without python3
# torch, torchvision and onnx.
# Usage: onnx.sh AXNN
set -euo pipefail
axnn="$1"
here="$(cd "$(dirname "$0")" && pwd)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "onnx.sh: $*" >&2; exit 1; }
export PYTHONDONTWRITEBYTECODE=1

source "$here/small_lenet5.sh"
small_fmnist "$work/data" 512 64
data="mnist:$work/data"

# The zoo lenet5, one epoch on 512 images, and its twin carrying those weights.
"$axnn" train --model lenet5 --epochs 1 --data "$data" --threads 1 -o "$work/zoo.pt" > /dev/null
status=0
/usr/bin/python3 "$here/../onnx/export_models.py" "$work/onnx" --checkpoint "lenet5=$work/zoo.pt" \
  2> "$work/export.err" || status=$?
[ "$status" -eq 77 ] && { echo "onnx.sh: skipped: $(cat "$work/export.err")"; exit 77; }
[ "$status" -eq 0 ] || fail "export: $(tail -3 "$work/export.err")"
onnx="$work/onnx/lenet5.ckpt.onnx"

"$axnn" import "$onnx" -o "$work/m.pt" --data "$data" > "$work/import.out"
grep -q "5 approximate layers" "$work/import.out" || fail "import: $(cat "$work/import.out")"
grep -Eq '^  conv2 +conv2d +240000$' "$work/import.out" || fail "import table: $(cat "$work/import.out")"
grep -Eq '^  fc3 +linear +840$' "$work/import.out" || fail "import table: $(cat "$work/import.out")"

# Same weights, same calibration, same multiplier: the same accuracy as the zoo model.
for m in zoo m; do
  "$axnn" calibrate "$work/$m.pt" --mult trunc8s_k6 --batches 1 --threads 1 -o "$work/$m.cal.pt" \
    > /dev/null
  "$axnn" eval "$work/$m.cal.pt" --threads 1 --json > "$work/$m.eval.json"
done
top1() { grep -o '"top1_pct": [0-9.e+-]*' "$1"; }
[ "$(top1 "$work/zoo.eval.json")" = "$(top1 "$work/m.eval.json")" ] ||
  fail "zoo $(top1 "$work/zoo.eval.json"), imported $(top1 "$work/m.eval.json")"
grep -q '"model": "onnx"' "$work/m.eval.json" || fail "eval: $(head -5 "$work/m.eval.json")"

cal="$work/m.cal.pt"
"$axnn" retrain "$cal" --epochs 1 --train-images 256 --threads 1 -o "$work/re.pt" > "$work/re.out"
grep -q "before retraining" "$work/re.out" || fail "retrain: $(cat "$work/re.out")"
"$axnn" eval "$work/re.pt" --threads 1 > /dev/null
"$axnn" sweep "$cal" --mults exact8s,trunc8s_k8 --threads 1 -o "$work/sweep" > /dev/null
[ -s "$work/sweep/report.csv" ] || fail "sweep wrote no report.csv"
"$axnn" search --model "$cal" --mults exact8s,trunc8s_k8 --method greedy --budget 4 --subset 64 \
  --threads 1 -o "$work/search" > /dev/null
[ -s "$work/search/best.yaml" ] || fail "search wrote no best.yaml"
"$axnn" halut learn "$cal" --layers fc3 --c 8 --rows 500 --held-out 100 --images 256 --threads 1 \
  -o "$work/h.pt" > /dev/null
"$axnn" eval "$work/h.pt" --threads 1 | grep -q 'fc3 .* halut c8' || fail "halut layer not in eval"
"$axnn" bench model --checkpoint "$cal" --batch 8 --repeat 1 --json | grep -q '"slowdown"' ||
  fail "bench model"
"$axnn" calibrate "$work/m.pt" --mult exact8u --batches 1 --threads 1 -o "$work/cal8u.pt" > /dev/null
"$axnn" tram explore "$work/cal8u.pt" --epochs 1 --train-images 256 --threads 1 -o "$work/tram" \
  > /dev/null
[ -s "$work/tram/structure.json" ] || fail "tram explore wrote no structure.json"

# Errors: one line naming the file (and the node).
/usr/bin/python3 - "$onnx" "$work/bad.onnx" <<'EOF'
import sys, onnx
m = onnx.load(sys.argv[1])
m.graph.node[1].op_type = "Fancy"
onnx.save(m, sys.argv[2])
EOF
if "$axnn" import "$work/bad.onnx" -o "$work/bad.pt" 2> "$work/err"; then fail "imported Fancy"; fi
grep -q "bad.onnx: node '/Relu' (Fancy): operator Fancy is not supported" "$work/err" ||
  fail "unsupported op: $(cat "$work/err")"
echo "not a model" > "$work/garbage.onnx"
if "$axnn" import "$work/garbage.onnx" -o "$work/bad.pt" 2> "$work/err"; then fail "imported garbage"; fi
grep -q "garbage.onnx: not an ONNX model" "$work/err" || fail "garbage: $(cat "$work/err")"
echo "onnx checks passed"
