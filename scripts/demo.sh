#!/usr/bin/env bash
# A short tour: installs and builds axnn, then shows the multiplier library, the LUT-GEMM kernels and
# the model pipeline (train, calibrate, evaluate exact and approximate, retrain).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/build.sh release
axnn=build/release/tools/axnn/axnn
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

step() { printf '\n\033[1m$ axnn %s\033[0m\n' "$*"; "$axnn" "$@"; }

step mult list
step mult show exact8s
step mult show trunc8s_k4 --json
step mult generate drum --bits 8 --unsigned --k 4 -o "$work/drum8u_k4.axm"
step mult show "$work/drum8u_k4.axm"
step mult convert "$work/drum8u_k4.axm" -o "$work/drum8u_k4.bin"
step mult show "$work/drum8u_k4.bin" --unsigned
step bench lutgemm --problems bench/problems/smoke.txt --threads 1
step train --model lenet5 --epochs 2 -o "$work/lenet5.pt"
step calibrate "$work/lenet5.pt" --mult exact8s -o "$work/lenet5_cal.pt"
step eval "$work/lenet5_cal.pt"
step eval "$work/lenet5_cal.pt" --mult trunc8s_k8
step retrain "$work/lenet5_cal.pt" --mult trunc8s_k8 --epochs 1 -o "$work/lenet5_rt.pt"
step bench lutgemm --m 64 --k 576 --n 3136 --threads 1
step bench lutgemm --m 256 --k 2304 --n 196 --threads 1
