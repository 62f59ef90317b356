#!/usr/bin/env bash
# End to end through the command line: generate a multiplier, convert it through every format and
# back, and check that each copy reports the same error metrics as the original.
# Usage: roundtrip.sh AXNN
set -euo pipefail
axnn="$1"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$axnn" mult generate drum --bits 8 --unsigned --k 4 -o "$work/m.axm"
want=$("$axnn" mult show "$work/m.axm" --json | grep -E '"(mae_pct|wce_pct|ep_pct|mse|bias)"')
for ext in h bin txt csv; do
  "$axnn" mult convert "$work/m.axm" -o "$work/m.$ext" --unsigned
  "$axnn" mult convert "$work/m.$ext" -o "$work/back_$ext.axm" --unsigned
  got=$("$axnn" mult show "$work/back_$ext.axm" --json | grep -E '"(mae_pct|wce_pct|ep_pct|mse|bias)"')
  if [ "$got" != "$want" ]; then
    echo "metrics differ after the round trip through .$ext:"; echo "$want"; echo "$got"; exit 1
  fi
  echo "round trip through .$ext: same metrics"
done
