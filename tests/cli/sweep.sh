#!/usr/bin/env bash
# axnn sweep end to end, small: lenet5 trained for one epoch on a 6000/1000-image subset of
# Fashion-MNIST, swept over three multipliers with the worst retrained; checks the report files
# and that an unknown multiplier fails before any work.
# Usage: sweep.sh AXNN
set -euo pipefail
axnn="$1"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "sweep.sh: $*" >&2; exit 1; }

source "$(dirname "$0")/small_lenet5.sh"
small_lenet5 "$axnn" "$work"

if "$axnn" sweep "$work/cal.pt" --mults mitchell8s,trunk8s_k8 -o "$work/bad" 2> "$work/err"; then
  fail "an unknown multiplier was accepted"
fi
grep -q "unknown multiplier 'trunk8s_k8'" "$work/err" || fail "unexpected error: $(cat "$work/err")"
[ ! -e "$work/bad" ] || fail "the report folder was created before the multipliers were checked"

report="$work/report"
"$axnn" sweep "$work/cal.pt" --mults exact8s,trunc8s_k8,mitchell8s --retrain-worst 1 \
  --retrain-epochs 1 --threads 1 -o "$report"

csv="$report/report.csv"
[ "$(head -1 "$csv")" = \
  "mult,top1_pct,drop_pts,relative_power,power_saving_pct,retrained_top1_pct,recovered_pts" ] ||
  fail "report.csv header: $(head -1 "$csv")"
[ "$(tail -n +2 "$csv" | cut -d, -f1 | paste -sd' ')" = "exact exact8s trunc8s_k8 mitchell8s" ] ||
  fail "report.csv rows: $(cut -d, -f1 "$csv" | paste -sd' ')"
# drop = fp32 - top1 (two decimals each); exactly one row retrained, the one with the largest
# drop, and recovered = retrained - top1; exact8s costs relative power 1.
awk -F, 'NR == 2 { fp32 = $2 }
  NR > 1 {
    d = fp32 - $2 - $3
    if (d > 0.011 || d < -0.011) { print "drop of " $1 " is not fp32 - top1"; bad = 1 }
    if (NR > 2 && (worst == "" || $3 > max)) { max = $3; worst = $1 }
    if ($6 != "") { retrained = retrained $1; r = $6 - $2 - $7
      if (r > 0.011 || r < -0.011) { print "recovered of " $1 " is not retrained - top1"; bad = 1 } }
    if ($1 == "exact8s" && $4 != "1.0000") { print "exact8s relative power " $4; bad = 1 } }
  END { if (retrained != worst) { print "retrained [" retrained "], worst " worst; bad = 1 }
        exit bad }' "$csv" || fail "report.csv: $(cat "$csv")"

[ "$(wc -l < "$report/results.jsonl")" -eq 5 ] || fail "results.jsonl: $(cat "$report/results.jsonl")"
for key in '"model": "lenet5"' '"test_images": 1000' '"train_images": 6000' '"axnn_version"' \
           '"date"' '"fp32_top1_pct"' '"mult": "mitchell8s"'; do
  grep -q "$key" "$report/report.json" || fail "report.json lacks $key"
done
grep -q '^| multiplier | top-1 % |' "$report/README.md" || fail "README.md has no table"
grep -q '^Retraining trunc8s_k8 for 1 epoch recovered' "$report/README.md" ||
  fail "README.md: $(cat "$report/README.md")"
[ -f "$report/retrained_trunc8s_k8.pt" ] || fail "no retrained checkpoint"
echo "sweep report checks passed"
