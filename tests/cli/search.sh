#!/usr/bin/env bash
# axnn search end to end, small: lenet5 trained for one epoch on 6000/1000 Fashion-MNIST images.
# Checks the output files, that best.yaml is a config `axnn eval` takes, that a killed run resumed
# from its log redoes only what was in flight and ends as an uninterrupted run does, that each
# method runs, and that two MPI ranks give the one-process result.
# Usage: search.sh AXNN
set -euo pipefail
axnn="$1"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "search.sh: $*" >&2; exit 1; }

source "$(dirname "$0")/small_lenet5.sh"
small_lenet5 "$axnn" "$work"

search() {  # output folder, then extra arguments
  local out=$1; shift
  "$axnn" search --model "$work/cal.pt" --mults exact8s,trunc8s_k6,trunc8s_k8,bam8s_h1_v6 \
    --max-drop 2 --subset 300 --confirm 3 --threads 1 -o "$out" "$@"
}
# The evaluations of a log, without their timings.
evaluations() { grep -v '"kind":"header"' "$1/evaluations.jsonl" | sed 's/,"seconds":[0-9.e-]*//'; }

search "$work/greedy" --method greedy --budget 10
for f in evaluations.jsonl front.csv best.yaml; do [ -s "$work/greedy/$f" ] || fail "no $f"; done
searched=$(grep -c '"kind":"search"' "$work/greedy/evaluations.jsonl")
[ "$searched" -ge 5 ] && [ "$searched" -le 10 ] || fail "$searched search evaluations, budget 10"
head -1 "$work/greedy/front.csv" | grep -q '^relative_power,power_saving_pct,top1_pct,drop_pts,conv1' ||
  fail "front.csv header: $(head -1 "$work/greedy/front.csv")"
"$axnn" eval "$work/cal.pt" --config "$work/greedy/best.yaml" --threads 1 --json > "$work/eval.json"
grep -q '"top1_pct"' "$work/eval.json" || fail "eval --config best.yaml: $(cat "$work/eval.json")"

if search "$work/greedy" --method greedy --budget 10 2> "$work/err"; then fail "overwrote a log"; fi
grep -q "pass --resume" "$work/err" || fail "error without --resume: $(cat "$work/err")"

# A run killed while writing its 6th evaluation: the log's first lines and a torn one. Resumed, it
# redoes only the torn evaluation and ends as the uninterrupted run did.
mkdir "$work/resumed"
{ head -7 "$work/greedy/evaluations.jsonl"; sed -n 8p "$work/greedy/evaluations.jsonl" | cut -c1-40
} > "$work/resumed/evaluations.jsonl"
search "$work/resumed" --method greedy --budget 10 --resume | tee "$work/resume.out"
grep -q "(5 from the log)" "$work/resume.out" || fail "resume output: $(cat "$work/resume.out")"
diff <(evaluations "$work/greedy" | sort) <(evaluations "$work/resumed" | sort) ||
  fail "the resumed search differs from the uninterrupted one"
cmp "$work/greedy/front.csv" "$work/resumed/front.csv" || fail "resumed front.csv differs"

for method in mcts nsga2; do
  search "$work/$method" --method $method --budget 8 --population 4 > /dev/null
  [ -s "$work/$method/front.csv" ] || fail "$method wrote no front"
done

if command -v mpirun > /dev/null && "$axnn" search --help | grep -q "over N ranks"; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
  # Open MPI's own plugins leak at MPI_Init (not axnn's memory): no leak check in a sanitizer build.
  export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
  mpirun -np 2 "$axnn" search --model "$work/cal.pt" --mults exact8s,trunc8s_k6,trunc8s_k8,bam8s_h1_v6 \
    --max-drop 2 --subset 300 --confirm 3 --threads 1 -o "$work/mpi" --method greedy --budget 10
  diff <(evaluations "$work/greedy") <(evaluations "$work/mpi") || fail "2 ranks differ from 1"
  echo "2 MPI ranks: the same evaluations"
fi
echo "search checks passed"
