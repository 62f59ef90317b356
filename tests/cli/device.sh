#!/usr/bin/env bash
# --device on the model commands, small: lenet5 trained for one epoch on 6000/1000 Fashion-MNIST
# images. `--device cpu` gives what no option gives, a bad value and an unusable GPU get one clear
# error from every command before any work. Where this axnn's LibTorch has CUDA and a GPU, the
# same checkpoints evaluate on cuda as on the cpu (the same logits, bit for bit, through
# approximate layers), and checkpoints move between the devices.
# Usage: device.sh AXNN
set -euo pipefail
axnn="$1"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "device.sh: $*" >&2; exit 1; }

source "$(dirname "$0")/small_lenet5.sh"
small_lenet5 "$axnn" "$work"
data=(--data "mnist:$work/data")

# --device cpu is the default: the same checkpoint bytes (under the same file name: an archive
# records it) and the same reports.
mkdir "$work/cpu"
"$axnn" train --model lenet5 --epochs 1 "${data[@]}" --threads 1 --device cpu \
  -o "$work/cpu/lenet5.pt"
cmp -s "$work/lenet5.pt" "$work/cpu/lenet5.pt" || fail "train --device cpu wrote another checkpoint"
"$axnn" calibrate "$work/lenet5.pt" --mult exact8s --batches 4 --threads 1 --device cpu \
  -o "$work/cpu/cal.pt"
cmp -s "$work/cal.pt" "$work/cpu/cal.pt" || fail "calibrate --device cpu wrote another checkpoint"
for mult in trunc8s_k6 drum8u_k4; do
  "$axnn" eval "$work/cal.pt" --mult "$mult" --threads 1 --json > "$work/default.json"
  "$axnn" eval "$work/cal.pt" --mult "$mult" --threads 1 --json --device cpu > "$work/cpu.json"
  cmp -s "$work/default.json" "$work/cpu.json" || fail "eval --mult $mult --device cpu differs"
done

# Every model command and its first long work, each with DEVICE appended.
commands=(
  "train --model lenet5 --epochs 1 ${data[*]} -o $work/x.pt"
  "calibrate $work/lenet5.pt --mult exact8s --batches 1 -o $work/x.pt"
  "eval $work/cal.pt --mult trunc8s_k6"
  "retrain $work/cal.pt --mult trunc8s_k6 --train-images 256 -o $work/x.pt"
  "sweep $work/cal.pt --mults trunc8s_k6 --retrain-worst 0 -o $work/sweep"
  "search --model $work/cal.pt --mults exact8s,trunc8s_k6 --budget 2 --subset 100 -o $work/search"
  "tram explore $work/cal.pt --epochs 1 --train-images 256 -o $work/tram"
  "halut learn $work/cal.pt --layers fc3 --rows 500 --held-out 100 --images 256 -o $work/x.pt"
)
# One line: the command's error for --device DEVICE, which must fail.
error_of() {
  local device=$1 command=$2 out
  # shellcheck disable=SC2086  # the command's words
  if out=$("$axnn" $command --threads 1 --device "$device" 2>&1); then
    fail "axnn $command --device $device succeeded"
  fi
  echo "$out" | tail -1
}

for command in "${commands[@]}"; do
  message=$(error_of tpu "$command")
  [ "$message" = "axnn: error: --device tpu: expected cpu, cuda or cuda:N" ] ||
    fail "axnn $command --device tpu: $message"
done

# Without CUDA or without a GPU, --device cuda fails the same way everywhere.
if ! "$axnn" eval "$work/cal.pt" --threads 1 --device cuda > "$work/cuda_probe.out" 2>&1; then
  cat "$work/cuda_probe.out"
  grep -Eq "^axnn: error: --device cuda: (this axnn's LibTorch .* has no CUDA \(build against a CUDA LibTorch|LibTorch .* has CUDA but finds no GPU here)" \
    "$work/cuda_probe.out" || fail "--device cuda: $(cat "$work/cuda_probe.out")"
  expected=$(tail -1 "$work/cuda_probe.out")
  for command in "${commands[@]}"; do
    message=$(error_of cuda "$command")
    [ "$message" = "$expected" ] || fail "axnn $command --device cuda: $message"
    message=$(error_of cuda:1 "$command")
    [ "$message" = "${expected/--device cuda:/--device cuda:1:}" ] ||
      fail "axnn $command --device cuda:1: $message"
  done
  [ ! -e "$work/x.pt" ] && [ ! -e "$work/sweep" ] && [ ! -e "$work/search" ] &&
    [ ! -e "$work/tram" ] || fail "a command failing on --device wrote its output"
  echo "device checks passed (no GPU here: $expected)"
  exit 0
fi

# A GPU: no GPU 99, then the same results on cuda as on the cpu.
message=$(error_of cuda:99 "eval $work/cal.pt")
echo "$message" | grep -q "^axnn: error: --device cuda:99: there is no GPU 99" || fail "cuda:99: $message"
for mult in trunc8s_k6 drum8u_k4 exact8s; do
  for device in cpu cuda; do
    "$axnn" eval "$work/cal.pt" --mult "$mult" --threads 1 --device "$device" --json \
      --logits "$work/$device.logits" > "$work/$device.json"
  done
  cmp -s "$work/cpu.json" "$work/cuda.json" || fail "eval --mult $mult: cuda $(cat "$work/cuda.json")"
  cmp -s "$work/cpu.logits" "$work/cuda.logits" || fail "eval --mult $mult: cuda logits differ"
done
# Trained, calibrated, retrained and learned on cuda: each checkpoint evaluates on the cpu.
"$axnn" train --model lenet5 --epochs 1 "${data[@]}" --device cuda -o "$work/gpu.pt"
"$axnn" calibrate "$work/gpu.pt" --mult exact8s --batches 4 --device cuda -o "$work/gpu_cal.pt"
"$axnn" retrain "$work/gpu_cal.pt" --mult trunc8s_k6 --train-images 2000 --device cuda \
  -o "$work/gpu_rt.pt"
"$axnn" halut learn "$work/gpu_cal.pt" --layers 'fc*' --rows 2000 --held-out 500 --images 1000 \
  --device cuda -o "$work/gpu_halut.pt"
for ckpt in gpu gpu_cal gpu_rt gpu_halut; do
  "$axnn" eval "$work/$ckpt.pt" --threads 1 --json > "$work/$ckpt.json"
  top1=$(sed -n 's/.*"top1_pct": \([0-9.]*\).*/\1/p' "$work/$ckpt.json" | head -1)
  awk -v t="$top1" 'BEGIN { exit !(t > 50) }' || fail "$ckpt.pt on the cpu: top-1 $top1"
done
# A retrained checkpoint evaluates alike on both devices.
"$axnn" eval "$work/gpu_rt.pt" --device cuda --json > "$work/gpu_rt_cuda.json"
cmp -s "$work/gpu_rt.json" "$work/gpu_rt_cuda.json" || fail "gpu_rt.pt: cuda and cpu differ"
"$axnn" sweep "$work/cal.pt" --mults trunc8s_k6,drum8u_k4 --retrain-worst 1 --device cuda \
  -o "$work/sweep_gpu"
"$axnn" search --model "$work/cal.pt" --mults exact8s,trunc8s_k6,trunc8s_k8 --budget 4 \
  --subset 300 --confirm 2 --device cuda -o "$work/search_gpu"
"$axnn" tram explore "$work/cal.pt" --epochs 1 --train-images 1000 --device cuda \
  -o "$work/tram_gpu"
echo "device checks passed (GPU)"
