#!/usr/bin/env bash
# The GPU checks of axnn in one prepared run, for a lent GPU machine (see docs/cuda.md): build
# against that machine's PyTorch (LibTorch with CUDA) and the Debian packages carried from here,
# run the GPU tests, the benchmarks against the TransAxx-style kernel and cuDNN / cuBLAS, the
# cuda tuning target on the seeds' case5-7 and the energy probes (read-only: no power cap is ever
# set), and write a summary. Every stage has its own time limit so the whole run stays under 8
# minutes; a stage that fails or runs out of time is recorded and the next one still runs.
#
#   scripts/device-check.sh fetch            here: the .deb files the GPU machine lacks, into .device/debs
#   scripts/device-check.sh run [--dry-run]  there: everything; the summary and logs go to $OUT
#                                            (default build/device-check). --dry-run runs the same
#                                            stages on this machine with its own packages and
#                                            LibTorch, to check the script without a GPU.
#
# On the device tool: run scripts/device-check.sh run with carry [".device"] (the .debs).
set -uo pipefail
cd "$(dirname "$0")/.."

# Build dependencies of axnn (scripts/install-deps.sh) that a machine with only PyTorch, CUDA,
# CMake and a compiler lacks, with the libraries they load. MPI (search over ranks) and ONNX import
# are optional and left out: the GPU checks do not need them.
debs=(libfmt-dev libfmt9 libspdlog-dev libspdlog1.10 nlohmann-json3-dev libyaml-cpp-dev
      libyaml-cpp0.7 libcli11-dev libgtest-dev libgmock-dev zlib1g-dev libdnnl-dev libdnnl2
      ocl-icd-libopencl1 libxgboost-dev libxgboost0 libdmlc0)

fetch() {
  mkdir -p .device/debs
  (cd .device/debs && apt-get download "${debs[@]}")
  du -sh .device/debs
}

mode="${1:-}"
case "$mode" in
  fetch) fetch; exit ;;
  run) shift ;;
  *) echo "usage: $0 fetch | run [--dry-run]" >&2; exit 2 ;;
esac
dry_run=0
[ "${1:-}" = "--dry-run" ] && dry_run=1
out="${OUT:-build/device-check}"
mkdir -p "$out"
summary="$out/summary.md"
start=$(date +%s)
jobs=$(nproc)

# stage NAME SECONDS LOG COMMAND...: runs COMMAND with a time limit, appending to $out/LOG, and
# records the outcome in the summary.
stage() {
  local name="$1" limit="$2" log="$out/$3"
  shift 3
  local t0 rc
  t0=$(date +%s)
  echo "== $name: $*" >> "$log"
  timeout --kill-after=10 "$limit" "$@" >> "$log" 2>&1
  rc=$?
  local took=$(($(date +%s) - t0)) status="ok"
  [ $rc -eq 0 ] || status="FAILED (exit $rc)"
  [ $rc -eq 124 ] || [ $rc -eq 137 ] && status="TIMED OUT after ${limit} s"
  echo "| $name | $status | ${took} s | $3 |" >> "$summary"
  return $rc
}

{
  echo "# axnn device check, $(date -u +%FT%TZ)"
  echo
  echo '```'
  git log -1 --format='commit %h %s' 2>/dev/null
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,power.limit \
    --format=csv,noheader 2>&1 || echo "nvidia-smi: no NVIDIA driver here"
  command -v nvcc > /dev/null && nvcc --version | tail -1
  echo '```'
  echo
  echo "| stage | result | time | log |"
  echo "| --- | --- | --- | --- |"
} > "$summary"

if [ $dry_run -eq 1 ]; then
  build=build/release
  stage configure 120 build.log cmake --preset release
else
  deps=/tmp/axnn-deps
  mkdir -p "$deps"
  for f in .device/debs/*.deb; do dpkg -x "$f" "$deps"; done
  multiarch="$deps/usr/lib/x86_64-linux-gnu"
  torch_prefix=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')
  export CPATH="$deps/usr/include${CPATH:+:$CPATH}"
  export LIBRARY_PATH="$multiarch${LIBRARY_PATH:+:$LIBRARY_PATH}"
  export LD_LIBRARY_PATH="$multiarch${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  build=build/gpu
  stage configure 120 build.log cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_CUDA_ARCHITECTURES=90 "-DCMAKE_PREFIX_PATH=$deps/usr;$torch_prefix"
fi
grep -E "^-- axnn" "$out/build.log" >> "$summary"

# What the GPU checks need: the command, the op library, the CUDA kernel tests and the tests that
# hold GPU cases (the rest of the suite is CI's).
gpu_tests=(test_lut_cuda test_ops_cuda test_cuda_backend test_energy)
stage build 300 build.log cmake --build "$build" -j "$jobs" --target axnn axnn_ops "${gpu_tests[@]}"
axnn="$build/tools/axnn/axnn"

stage gpu-tests 120 tests.log ctest --test-dir "$build" --output-on-failure -j 4 \
  -R 'cuda|Cuda|OnCuda|Nvml|cli\.device'
grep -E "tests passed|tests failed|Skipped|Failed|\*\*\*" "$out/tests.log" | tail -20 >> "$summary"

# Benchmarks: LUT-GEMM / LUT-conv against the TransAxx-style kernel and cuBLAS / cuDNN, and whole
# models at batch 256 against LibTorch fp32 (cuDNN).
bench() {
  for problems in bench/problems/resnet.txt bench/problems/vit.txt; do
    "$axnn" bench lutgemm --device cuda --problems "$problems" || return
  done
  for model in resnet20 vit-tiny; do
    "$axnn" bench model --device cuda --model "$model" --batch 256 --repeat 10 || return
  done
}
stage benchmarks 150 bench.log bench
grep -E "lookups/s|x the|approximate / fp32|batch 256" "$out/bench.log" >> "$summary"

# The cuda tuning target on the seeds' case5-7 within 200 trials each, against cuDNN's fp32
# convolution in the same run; then the energy probes and a measurement at the current power cap.
tune_dir="$build/device-check-tune"  # many files: kept out of $OUT, which returns few
stage tuning 150 tune.log "$axnn" bench conv --target cuda --problems \
  bench/problems/conv2d_seed001.txt --workloads case5,case6,case7 --trials 200 -o "$tune_dir"
grep -E "^case[5-7] |ratio" "$out/tune.log" >> "$summary"
stage energy 60 energy.log bash -c "'$axnn' energy probe --target cuda &&
  '$axnn' tune select '$tune_dir' && '$axnn' energy measure '$tune_dir' --target cuda \
    --workload case5 --min-window 1 --repeats 1 --warmup 0.5"

echo >> "$summary"
echo "total: $(($(date +%s) - start)) s$([ $dry_run -eq 1 ] && echo ' (dry run, this machine)')" >> "$summary"
cat "$summary"
