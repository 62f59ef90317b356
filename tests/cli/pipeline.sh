#!/usr/bin/env bash
# The model pipeline end to end on Fashion-MNIST, small: train an MLP for one epoch, calibrate it
# for an 8-bit multiplier, evaluate exact and approximate, retrain through the approximation.
# Usage: pipeline.sh AXNN
set -euo pipefail
axnn="$1"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$axnn" train --model mlp --epochs 1 -o "$work/mlp.pt"
"$axnn" calibrate "$work/mlp.pt" --mult exact8s --batches 4 -o "$work/cal.pt"
"$axnn" eval "$work/cal.pt" --json > "$work/exact.json"
grep -q '"mult": "exact8s"' "$work/exact.json"
top1=$(sed -n 's/.*"top1_pct": \([0-9.]*\).*/\1/p' "$work/exact.json")
awk -v t="$top1" 'BEGIN { exit !(t > 75) }' || { echo "exact int8 top-1 $top1 too low"; exit 1; }
"$axnn" eval "$work/cal.pt" --mult trunc8s_k6
"$axnn" retrain "$work/cal.pt" --mult trunc8s_k6 --epochs 1 -o "$work/rt.pt"
