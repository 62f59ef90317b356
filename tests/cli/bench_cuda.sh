#!/usr/bin/env bash
# axnn bench lutgemm --device cuda: without a usable CUDA device (or in a build without CUDA) one
# clear error saying so and why, nothing on stdout; with a device, the CUDA LUT-GEMM and LUT-conv
# rows, checked exact, each with the TransAxx-style baseline and the ratio.
# Usage: bench_cuda.sh AXNN
set -euo pipefail
axnn="$1"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "bench_cuda.sh: $*" >&2; exit 1; }
problems="$(dirname "$0")/../../bench/problems"

rc=0
"$axnn" bench lutgemm --device cuda --m 37 --k 29 --n 53 --repeat 1 --min-time 0 \
  > "$work/out.txt" 2> "$work/err.txt" || rc=$?
if [ "$rc" -ne 0 ]; then
  [ "$(wc -l < "$work/err.txt")" -eq 1 ] || fail "expected one error line: $(cat "$work/err.txt")"
  grep -Eq "error: --device cuda: no usable CUDA device: .+|--device cuda: axnn was built without CUDA" \
    "$work/err.txt" || fail "unclear error: $(cat "$work/err.txt")"
  [ ! -s "$work/out.txt" ] || fail "output before the error: $(cat "$work/out.txt")"
  # The default device is still the CPU.
  "$axnn" bench lutgemm --m 9 --k 9 --n 9 --repeat 1 --min-time 0 | grep -q " exact " ||
    fail "--device cpu (the default) broke"
  echo "bench cuda checks passed (no device: $(sed 's/.*error: //' "$work/err.txt"))"
  exit 0
fi

grep -q "^device: " "$work/out.txt" || fail "no device line: $(cat "$work/out.txt")"
grep -Eq "^- +37 +29 +53 +8 +offset16 exact" "$work/out.txt" || fail "row: $(cat "$work/out.txt")"
"$axnn" bench lutgemm --device cuda --problems "$problems/smoke.txt" --repeat 2 --min-time 0 \
  --bits 7 --table wide > "$work/smoke.txt"
[ "$(grep -c " shared32 exact " "$work/smoke.txt")" -eq 5 ] ||
  fail "smoke batch, 7-bit wide table: $(cat "$work/smoke.txt")"
"$axnn" bench lutgemm --device cuda --conv-problems "$problems/conv2d_small.txt" --repeat 2 \
  --min-time 0 --json > "$work/conv.json"
python3 - "$work/conv.json" <<'PY' || fail "conv json: $(cat "$work/conv.json")"
import json, sys
rows = json.load(open(sys.argv[1]))
assert rows and all(r["kind"] == "conv" and r["checked_outputs"] > 0 for r in rows), rows
assert all(r["ratio_transaxx_median"] > 0 and r["tlookups_median"] > 0 for r in rows), rows
PY
"$axnn" bench lutgemm --device cuda --m 64 --k 576 --n 3136 --bits 8 --table wide --repeat 2 \
  --min-time 0 --json | grep -q '"storage": "global32"' || fail "8-bit wide table: not global32"
echo "bench cuda checks passed ($(sed -n 1p "$work/out.txt"))"
