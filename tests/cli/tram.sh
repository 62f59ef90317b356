#!/usr/bin/env bash
# axnn tram end to end, small: lenet5 trained for one epoch on a 6000/1000-image subset of
# Fashion-MNIST; the phases one by one with a per-layer structure, then `tram run` over two
# lambdas with two library multipliers; its report files, resuming at the phase a run was in, a
# torn library log, and errors before any work.
# Usage: tram.sh AXNN
set -euo pipefail
axnn="$1"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "tram.sh: $*" >&2; exit 1; }

source "$(dirname "$0")/small_lenet5.sh"
small_lenet5 "$axnn" "$work"
quick=(--train-images 1500 --threads 1)

# The phases one by one, a structure per layer.
ex="$work/ex"
"$axnn" tram explore "$work/cal.pt" --lambda 1 --epochs 1 --per-layer "${quick[@]}" -o "$ex"
for f in structure.json explore.pt explore.json; do [ -f "$ex/$f" ] || fail "explore: no $f"; done
grep -q '"per_layer": true' "$ex/structure.json" || fail "structure.json: $(cat "$ex/structure.json")"
"$axnn" tram map "$ex/structure.json" -o "$ex"
[ -f "$ex/layers.yaml" ] || fail "map: no layers.yaml for a per-layer structure"
[ "$(grep -c 'match:' "$ex/layers.yaml")" -eq 5 ] || fail "layers.yaml: $(cat "$ex/layers.yaml")"
"$axnn" tram recover "$ex" --epochs 1 "${quick[@]}" > "$work/recover.out"
grep -q '"recovered_top1_pct"' "$ex/recover.json" || fail "recover.json: $(cat "$ex/recover.json")"
"$axnn" tram recover "$ex" "${quick[@]}" | grep -q "phase 3 is done" || fail "recover ran twice"
"$axnn" eval "$work/cal.pt" --config "$ex/layers.yaml" --threads 1 | grep -q "top-1" ||
  fail "eval --config layers.yaml failed"

# A structure by hand; a signed one where tying outputs to 1 pays.
"$axnn" tram map --gamma 1,1,1,0.7,0.3 --bits 4 --signed -o "$work/m" > "$work/map.out"
grep -q '"signed": true' "$work/m/mapping.json" || fail "map --gamma: $(cat "$work/m/mapping.json")"
grep -q "forcing to 1 as well lowers the target MSE" "$work/map.out" || fail "$(cat "$work/map.out")"
if "$axnn" tram map "$ex/structure.json" --gamma 1,0 -o "$work/m2" 2> "$work/err"; then
  fail "a structure file and --gamma together were accepted"; fi
grep -q "not both" "$work/err" || fail "unexpected error: $(cat "$work/err")"

# The whole run.
if "$axnn" tram run "$work/cal.pt" --lambdas 1 --library trunk8u_k4 -o "$work/bad" 2> "$work/err"
then fail "an unknown library multiplier was accepted"; fi
grep -q "unknown multiplier 'trunk8u_k4'" "$work/err" || fail "unexpected error: $(cat "$work/err")"
[ ! -e "$work/bad" ] || fail "the report folder was created before the library was checked"

run="$work/run"
args=("$work/cal.pt" --lambdas 0.3,3 --explore-epochs 1 --recover-epochs 1
      --library trunc8u_k4,trunc8u_k7 "${quick[@]}" -o "$run")
"$axnn" tram run "${args[@]}" > "$work/run.out"
for l in 0.3 3; do
  d="$run/lambda_$l"
  for f in structure.json explore.pt explore.json mapping.json recovered.pt recover.json; do
    [ -f "$d/$f" ] || fail "lambda $l: no $f"
  done
  axm=$(ls "$d"/*.axm)
  [ -f "${axm%.axm}.blif" ] && [ -f "${axm%.axm}.v" ] || fail "lambda $l: no BLIF or Verilog"
  # The mapped multiplier is an ordinary one.
  "$axnn" mult show "$axm" --json | grep -q '"relative_power": [0-9]' ||
    fail "mult show $axm: no relative power"
done
csv="$run/report.csv"
[ "$(head -1 "$csv")" = "kind,name,lambda,phase1_top1_pct,mapped_top1_pct,top1_pct,drop_pts,relative_power,relative_area,mae_pct" ] ||
  fail "report.csv header: $(head -1 "$csv")"
[ "$(cut -d, -f1,3 "$csv" | tail -n +2 | paste -sd' ')" = "tram,0.3 tram,3 library, library," ] ||
  fail "report.csv rows: $(cat "$csv")"
# A larger lambda never costs more power.
awk -F, '$1 == "tram" { p[$3] = $8 } END { exit !(p[3] <= p[0.3]) }' "$csv" ||
  fail "power does not fall with lambda: $(cat "$csv")"
grep -q '^| lambda | phase-1 top-1 % |' "$run/README.md" || fail "README.md: no table"
grep -q '^Within 0.5 points of fp32 after retraining' "$run/README.md" ||
  fail "README.md: no comparison: $(cat "$run/README.md")"
if command -v gnuplot > /dev/null; then [ -f "$run/front.svg" ] || fail "no front.svg"; fi
[ "$(wc -l < "$run/library.jsonl")" -eq 2 ] || fail "library.jsonl: $(cat "$run/library.jsonl")"

# Resume: a run killed in phase 3 of lambda 3, with a torn library log, redoes only those.
rm "$run/lambda_3/recover.json"
head -1 "$run/library.jsonl" > "$work/lib" && printf '{"mult": "trunc8u_k' >> "$work/lib"
mv "$work/lib" "$run/library.jsonl"
"$axnn" tram run "${args[@]}" > "$work/resume.out"
[ "$(grep -c 'phase 1, structure exploration' "$work/resume.out")" -eq 0 ] ||
  fail "phase 1 ran again: $(cat "$work/resume.out")"
[ "$(grep -c 'phase 3, accuracy recovery' "$work/resume.out")" -eq 1 ] ||
  fail "phase 3 did not run once: $(cat "$work/resume.out")"
grep -q '^library: trunc8u_k7 (' "$work/resume.out" || fail "the torn library entry was not redone"
! grep -q '^library: trunc8u_k4 (' "$work/resume.out" || fail "a finished library entry ran again"
[ "$(wc -l < "$run/library.jsonl")" -eq 2 ] || fail "library.jsonl after resume: $(cat "$run/library.jsonl")"

# A per-layer run without a library: its plot has the learned points alone.
"$axnn" tram run "$work/cal.pt" --lambdas 1 --per-layer --explore-epochs 1 "${quick[@]}" \
  -o "$work/pl" > "$work/pl.out"
grep -q '| per layer |' "$work/pl/README.md" || fail "per-layer README: $(cat "$work/pl/README.md")"
if command -v gnuplot > /dev/null; then
  [ -f "$work/pl/front.svg" ] || fail "no front.svg without a library: $(cat "$work/pl.out")"
fi

# Another problem in the same folder is refused.
if "$axnn" tram run "$work/cal.pt" --lambdas 0.3 --explore-epochs 2 "${quick[@]}" -o "$run" \
  2> "$work/err"; then fail "a different run was accepted into the folder"; fi
grep -q "holds another run" "$work/err" || fail "unexpected error: $(cat "$work/err")"
echo "tram checks passed"
