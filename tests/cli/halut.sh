#!/usr/bin/env bash
# axnn halut end to end, small: lenet5 trained for one epoch on 6000/1000 Fashion-MNIST images;
# learning all but the first layer, resuming a learning run, eval's operation counts, retraining
# the tables, a learned encoder, a search with the Halut product as a candidate, and errors.
# Usage: halut.sh AXNN
set -euo pipefail
axnn="$1"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "halut.sh: $*" >&2; exit 1; }

source "$(dirname "$0")/small_lenet5.sh"
small_lenet5 "$axnn" "$work"
quick=(--c 8 --rows 3000 --held-out 500 --images 1000 --threads 1)

# One layer, then the rest: the first is kept as learned, the others learned after it.
"$axnn" halut learn "$work/cal.pt" --layers conv2 "${quick[@]}" -o "$work/h.pt" > "$work/one.out"
grep -q '^\[1/1\] conv2: .* rows x 150 columns -> 16 outputs, c = 8, held-out NMSE 0\.' "$work/one.out" ||
  fail "learn conv2: $(cat "$work/one.out")"
"$axnn" halut learn "$work/h.pt" --layers 'conv2,fc*' "${quick[@]}" -o "$work/h.pt" > "$work/all.out"
grep -q '^\[1/4\] conv2: already learned with these settings, kept' "$work/all.out" ||
  fail "resumed learn: $(cat "$work/all.out")"
grep -q '^\[4/4\] fc3: .* rows x 84 columns -> 10 outputs' "$work/all.out" ||
  fail "learn fc*: $(cat "$work/all.out")"

"$axnn" eval "$work/h.pt" --threads 1 > "$work/eval.out"
grep -q 'Halut layers replace 298920 of 416520 MACs per sample' "$work/eval.out" ||
  fail "eval: $(cat "$work/eval.out")"
grep -q 'fc1 .* halut c8 k16 maddness int8' "$work/eval.out" || fail "eval: $(cat "$work/eval.out")"
"$axnn" eval "$work/h.pt" --threads 1 --json > "$work/eval.json"
grep -q '"comparisons": ' "$work/eval.json" || fail "eval --json: $(cat "$work/eval.json")"
top1() { grep -o 'top-1 [0-9.]*' "$1" | head -1 | cut -d' ' -f2; }
awk -v t="$(top1 "$work/eval.out")" 'BEGIN { exit !(t > 40) }' ||
  fail "Halut lenet5 at $(top1 "$work/eval.out")% top-1"

# --group-width sizes each layer's codebooks: conv2 (150 columns) gets c = 50, fc3 (84) c = 28.
"$axnn" halut learn "$work/cal.pt" --layers conv2,fc3 --group-width 3 --rows 1000 --images 500 \
  --threads 1 -o "$work/w.pt" > "$work/w.out"
grep -q 'conv2: .* c = 50,' "$work/w.out" && grep -q 'fc3: .* c = 28,' "$work/w.out" ||
  fail "--group-width: $(cat "$work/w.out")"

# Retraining trains the tables: the checkpoint's tables change and it still evaluates.
"$axnn" retrain "$work/h.pt" --epochs 1 --threads 1 -o "$work/rt.pt" > "$work/rt.out"
grep -q 'before retraining' "$work/rt.out" || fail "retrain: $(cat "$work/rt.out")"
cmp -s "$work/h.pt" "$work/rt.pt" && fail "retraining left the checkpoint as it was"

# A learned encoder, fine-tuned after each layer as Halutmatmul does.
"$axnn" halut learn "$work/cal.pt" --layers fc2,fc3 --encoder learned --retrain-epochs 1 \
  --train-images 2000 "${quick[@]}" -o "$work/learned.pt" > "$work/learned.out"
[ "$(grep -c '^epoch 1:' "$work/learned.out")" -eq 2 ] || fail "$(cat "$work/learned.out")"
"$axnn" eval "$work/learned.pt" --threads 1 | grep -q 'fc3 .* halut c8 k16 learned int8' ||
  fail "learned encoder not in the checkpoint"

# A search may put each layer's learned Halut product or a multiplier on it.
"$axnn" halut learn "$work/h.pt" --layers conv1 "${quick[@]}" -o "$work/every.pt" > /dev/null
"$axnn" search --model "$work/every.pt" --mults halut,exact8s --method greedy --budget 4 \
  --max-drop 50 --subset 200 --threads 1 -o "$work/search" > "$work/search.out"
grep -q '"halut"' "$work/search/evaluations.jsonl" || fail "search: $(cat "$work/search.out")"

# Errors, before any long work.
expect_error() {  # message, then the command
  local message=$1; shift
  if "$@" 2> "$work/err"; then fail "accepted: $*"; fi
  grep -q "$message" "$work/err" || fail "unexpected error for $*: $(cat "$work/err")"
}
expect_error "no Linear or Conv2d layer matches --layers 'nothing'" \
  "$axnn" halut learn "$work/cal.pt" --layers nothing -o "$work/x.pt"
expect_error "halut c = 32 exceeds the 25 input columns" \
  "$axnn" halut learn "$work/cal.pt" --layers conv1 --c 32 -o "$work/x.pt"
expect_error "halut k = 12 is not 2, 4, 8 or 16" \
  "$axnn" halut learn "$work/cal.pt" --k 12 -o "$work/x.pt"
expect_error "layer 'conv1' is configured halut with the maddness encoder but has no learned hash trees" \
  "$axnn" eval "$work/h.pt" --mult halut --threads 1
expect_error "layer 'fc2' has a Halut product with the learned encoder" \
  "$axnn" search --model "$work/learned.pt" --mults halut,exact8s --budget 2 -o "$work/s2"
echo "halut checks passed"
