#!/usr/bin/env bash
# The tour, in under 10 minutes on 2 cores once built: installs and builds axnn, shows the
# multiplier library, a generated multiplier circuit and its cost, and one LUT-GEMM benchmark,
# trains LeNet-5 on Fashion-MNIST (or reuses the checkpoint cached for this recipe), calibrates it,
# evaluates it under per-layer YAML rules, sweeps it over several approximate multipliers with
# `axnn sweep`, retraining the worst two, searches per-layer assignments with `axnn search` on a
# small budget, and prints the reports written to ./axnn-demo-report/.
# AXNN_DEMO_THREADS sets the threads (default: all cores; give fewer when other work holds some).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/build.sh release
axnn=build/release/tools/axnn/axnn
threads="${AXNN_DEMO_THREADS:-$(nproc)}"
report="$PWD/axnn-demo-report"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

step() { printf '\n\033[1m$ axnn %s\033[0m\n' "$*"; "$axnn" "$@"; }
say() { printf '\n\033[1m# %s\033[0m\n' "$*"; }

say "The multiplier library: built-in structures with exact error metrics, files in any format"
step mult list
step mult show trunc8s_k4 --json
step mult generate drum --bits 8 --unsigned --k 4 -o "$work/drum8u_k4.axm"
step mult convert "$work/drum8u_k4.axm" -o "$work/drum8u_k4.bin"

say "Circuits: a truncated Dadda multiplier as Verilog, read back through yosys, and its cost"
step netlist generate dadda8s_k6 -o "$work/dadda8s_k6.v"
step mult import "$work/dadda8s_k6.v" -o "$work/dadda8s_k6.axm"
step netlist cost dadda8s_k6

say "The LUT-GEMM kernel on a ResNet-sized conv layer, against oneDNN int8 and LibTorch fp32"
step bench lutgemm --m 64 --k 576 --n 3136 --threads 1

# A trained checkpoint is cached per recipe: changing the arguments (or the axnn version) retrains.
train_args=(--model lenet5 --epochs 15 --seed 1)
key=$( { "$axnn" --version; printf '%s\n' "${train_args[@]}"; } | sha256sum | cut -c1-12)
cache="${XDG_CACHE_HOME:-$HOME/.cache}/axnn/demo"
checkpoint="$cache/lenet5-$key.pt"
mkdir -p "$cache"
if [ -f "$checkpoint" ]; then
  say "LeNet-5 on Fashion-MNIST: reusing the checkpoint cached for this recipe, $checkpoint"
else
  say "LeNet-5 on Fashion-MNIST: training (${train_args[*]}); cached as $checkpoint"
  step train "${train_args[@]}" --threads "$threads" -o "$checkpoint"
fi

say "Calibration: each layer's activation range for 8-bit signed multipliers"
calibrated="$cache/lenet5-$key-calibrated.pt"  # beside the trained one: the report names it
step calibrate "$checkpoint" --mult exact8s --threads "$threads" -o "$calibrated"

say "Per-layer rules (YAML): the first conv exact, the rest on a truncated multiplier"
cat > "$work/rules.yaml" <<'EOF'
layers:
  - {match: conv1, mult: exact8s}
  - {match: "*", mult: trunc8s_k6}
EOF
cat "$work/rules.yaml"
step eval "$calibrated" --config "$work/rules.yaml" --threads "$threads"

say "The sweep: every layer on each multiplier, against fp32; the two worst retrained"
rm -rf "$report"
step sweep "$calibrated" \
  --mults exact8s,mitchell8s,drum8s_k4,drum8s_k3,bam8s_h1_v6,trunc8s_k6,trunc8s_k8 \
  --retrain-worst 2 --retrain-epochs 2 --threads "$threads" -o "$report"

say "The report, in $report (README.md, report.csv, report.json, results.jsonl)"
cat "$report/README.md"

say "The search: a multiplier per layer, least power within 1 point of fp32 (MCTS, 24 evaluations)"
step search --model "$calibrated" \
  --mults exact8s,trunc8s_k6,bam8s_h1_v6,cols8s_000010111111111,trunc8s_k8 \
  --method mcts --budget 24 --max-drop 1 --subset 1000 --threads "$threads" -o "$report/search"
cat "$report/search/front.csv"
if [ -f "$report/search/best.yaml" ]; then cat "$report/search/best.yaml"; fi
printf '\ndemo finished in %d s\n' "$SECONDS"
