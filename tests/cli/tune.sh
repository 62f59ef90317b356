#!/usr/bin/env bash
# axnn tune end to end on small shapes, cpu target: tune a batch in the seeds' test mode, resume,
# select, perf, export the selected kernels and build and run them with CMake, and the errors a
# user meets first.
# Usage: tune.sh AXNN
set -euo pipefail
axnn="$1"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "tune.sh: $*" >&2; exit 1; }
batch="$(dirname "$0")/../../bench/problems/conv2d_small.txt"
tune() { "$axnn" tune conv2d --batch "$batch" --test --round 3 --min-time 0.01 --threads 1 \
  -o "$work/t" "$@"; }

tune --trials 6 > "$work/out1.txt"
grep -q "small3x3 \[1,8,8,16,8,3,3,1,1\]: 6 trials (6 new, 0 failed), best" "$work/out1.txt" ||
  fail "first run: $(cat "$work/out1.txt")"
grep -q "pointwise \[1,6,6,8,4,1,1,1,0\]: 6 trials" "$work/out1.txt" ||
  fail "--test tunes the first and last workload: $(cat "$work/out1.txt")"
[ ! -e "$work/t/records/odd_strided.jsonl" ] || fail "--test tuned the middle workload"
[ "$(wc -l < "$work/t/records/small3x3.jsonl")" -eq 6 ] || fail "6 records expected"

tune --trials 9 > "$work/out2.txt"  # resumes: 3 more each
grep -q "small3x3 .*: 9 trials (3 new, 0 failed)" "$work/out2.txt" ||
  fail "resume: $(cat "$work/out2.txt")"

"$axnn" tune select "$work/t" --test > /dev/null
"$axnn" tune perf "$work/t" > "$work/perf.txt"
[ -s "$work/t/perf/small3x3.csv" ] || fail "no perf csv"
"$axnn" tune export "$work/t" -o "$work/k" > "$work/export.txt"
grep -q "exported 4 kernels" "$work/export.txt" || fail "export: $(cat "$work/export.txt")"
cmake -S "$work/k" -B "$work/k/build" -G Ninja -DCMAKE_BUILD_TYPE=Release > "$work/cmake.log" 2>&1 ||
  fail "cmake: $(tail -5 "$work/cmake.log")"
cmake --build "$work/k/build" > "$work/build.log" 2>&1 || fail "build: $(tail -20 "$work/build.log")"
"$work/k/build/small3x3_kernel1" 20 > "$work/run.txt"
grep -q "^GFLOP/s: [0-9.]*$" "$work/run.txt" && grep -q "^Mean time per iteration: [0-9.]* ms$" \
  "$work/run.txt" || fail "driver output: $(cat "$work/run.txt")"

# The LUT-conv kernel's blocking, with an approximate multiplier's table.
"$axnn" tune conv2d --shape 1,8,8,16,8,3,3,1,1 --name lut --kernel lut --mult trunc8s_k6 \
  --trials 4 --round 2 --min-time 0.01 -o "$work/l" > "$work/lut.txt"
grep -q "^lut \[1,8,8,16,8,3,3,1,1\]: 4 trials (4 new, 0 failed), best .*\"chunk_kib\"" \
  "$work/lut.txt" || fail "lut: $(cat "$work/lut.txt")"
grep '"dtype":"trunc8s_k6"' "$work/l/records/lut.jsonl" | grep -q '"op":"lut-conv2d"' ||
  fail "lut records: $(head -1 "$work/l/records/lut.jsonl")"

# Errors: one clear line each.
expect_error() {  # message, then the command
  local message=$1; shift
  if "$@" > "$work/err.txt" 2>&1; then fail "no error for: $*"; fi
  grep -qF -- "$message" "$work/err.txt" || fail "expected '$message', got: $(cat "$work/err.txt")"
}
expect_error "--shape: a Conv2D shape has 9 numbers" "$axnn" tune conv2d --shape 1,8,8 -o "$work/e"
expect_error "unknown target 'gpu' (known: cpu, cuda)" \
  "$axnn" tune conv2d --shape 1,8,8,16,8,3,3,1,1 --target gpu -o "$work/e"
if ! ldconfig -p | grep -q 'libcuda\.so\.1'; then  # no NVIDIA driver here
  expect_error "not available" "$axnn" tune conv2d --shape 1,8,8,16,8,3,3,1,1 --target cuda \
    -o "$work/e"
fi
expect_error "holds records of conv2d float32 1,8,8,16,8,3,3,1,1 for workload 'small3x3'" \
  "$axnn" tune conv2d --shape 1,8,8,16,4,3,3,1,1 --name small3x3 -o "$work/t"
expect_error "--kernel lut needs --mult NAME" \
  "$axnn" tune conv2d --shape 1,8,8,16,8,3,3,1,1 --kernel lut -o "$work/e"
echo "tune checks passed"
