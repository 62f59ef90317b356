#!/usr/bin/env bash
# The GPU checks of axnn in one prepared run, for a lent GPU machine (docs/cuda.md, "Device
# check"): build against that machine's PyTorch (LibTorch with CUDA) and the Debian packages
# carried from here, run the GPU tests, the benchmarks against the TransAxx-style kernel and
# cuDNN / cuBLAS, the cuda tuning target on the seeds' case5-7 and the energy probes (read-only:
# no power cap is ever set), and write a summary. Each stage has its own time limit, so the whole
# run stays under 8 minutes; a stage that fails or runs out of time is recorded and the next runs.
#
#   scripts/device-check.sh fetch            here: the .debs the GPU machine lacks, in .device/debs
#   scripts/device-check.sh run [--dry-run]  there: everything; the summary and logs go to $OUT
#                                            (default build/device-check). --dry-run runs the
#                                            same stages on this machine with its own packages and
#                                            LibTorch, to check the script without a GPU.
#
# With the device tool: command "scripts/device-check.sh run", carry [".device"].
set -uo pipefail
cd "$(dirname "$0")/.."

# What a machine with only PyTorch, CUDA, CMake and a compiler lacks of scripts/install-deps.sh,
# with the libraries those load; Fashion-MNIST for the CLI tests that train and evaluate. MPI
# (search over ranks) and ONNX import are optional and left out: the GPU checks do not need them.
debs=(libfmt-dev libfmt9 libspdlog-dev libspdlog1.10 nlohmann-json3-dev libyaml-cpp-dev
      libyaml-cpp0.7 libcli11-dev libgtest-dev libgmock-dev zlib1g-dev zlib1g libdnnl-dev libdnnl2
      ocl-icd-libopencl1 libxgboost-dev libxgboost0 libdmlc0 dataset-fashion-mnist)

# The test programs with GPU cases (the rest of the suite is CI's): the CUDA kernels against the
# CPU refs, the ops and layers on CUDA tensors against the CPU, checkpoints across devices, the
# cuda tuning target's build-and-check and its exported kernels built with nvcc.
gpu_tests=(test_lut_cuda_host test_lut_gemm_cuda test_lut_conv_cuda test_maddness_cuda
           test_ops_cuda test_device test_checkpoint_devices test_cuda_backend)

# The stages that are more than one command, run as `device-check.sh _NAME BUILD`.
gpu_tests_stage() {
  local build="$1" failed=0
  for t in "${gpu_tests[@]}"; do
    echo "-- $t"
    "$build/tests/$t" --gtest_brief=1 || failed=1
  done
  for script in device bench_cuda; do
    echo "-- tests/cli/$script.sh"
    "tests/cli/$script.sh" "$build/tools/axnn/axnn" || failed=1
  done
  return $failed
}

# LUT-GEMM / LUT-conv against the TransAxx-style kernel, at the seeds' ResNet and ViT shapes;
# whole models at batch 256 against LibTorch fp32 (cuDNN / cuBLAS).
bench_stage() {
  local axnn="$1/tools/axnn/axnn"
  for problems in resnet vit; do
    "$axnn" bench lutgemm --device cuda --problems "bench/problems/$problems.txt" || return
  done
  "$axnn" bench lutgemm --device cuda --conv-problems bench/problems/conv2d_resnet.txt || return
  for model in resnet20 vit-tiny; do
    "$axnn" bench model --device cuda --model "$model" --batch 256 --repeat 10 || return
  done
}

# The probes, then the selected kernels of the tuning stage at the current power cap.
energy_stage() {
  local axnn="$1/tools/axnn/axnn" dir="$1/device-check-tune"
  "$axnn" energy probe --target cuda &&
    "$axnn" tune select "$dir" &&
    "$axnn" energy measure "$dir" --target cuda --workload case5 --min-window 1 --repeats 1 \
      --warmup 0.5
}

case "${1:-}" in
  fetch)
    mkdir -p .device/debs
    (cd .device/debs && apt-get download "${debs[@]}") && du -sh .device/debs
    exit ;;
  _gpu-tests) gpu_tests_stage "$2"; exit ;;
  _bench) bench_stage "$2"; exit ;;
  _energy) energy_stage "$2"; exit ;;
  run) ;;
  *) echo "usage: $0 fetch | run [--dry-run]" >&2; exit 2 ;;
esac
dry_run=0
[ "${2:-}" = "--dry-run" ] && dry_run=1
out="${OUT:-build/device-check}"
mkdir -p "$out"
summary="$out/summary.md"
stages="$out/stages.md"
start=$(date +%s)
: > "$stages"

# stage NAME SECONDS LOG COMMAND...: runs COMMAND with a time limit, its output appended to
# $out/LOG, and records the outcome.
stage() {
  local name="$1" limit="$2" log="$3" t0 rc status
  shift 3
  t0=$(date +%s)
  echo "== $name: $*" >> "$out/$log"
  timeout --kill-after=10 "$limit" "$@" >> "$out/$log" 2>&1
  rc=$?
  status="ok"
  [ $rc -eq 0 ] || status="FAILED (exit $rc)"
  if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then status="TIMED OUT after $limit s"; fi
  echo "| $name | $status | $(($(date +%s) - t0)) s | $log |" >> "$stages"
}

if [ $dry_run -eq 1 ]; then
  build=build/release
  stage configure 120 build.log cmake --preset release
else
  deps=/tmp/axnn-deps
  mkdir -p "$deps"
  for f in .device/debs/*.deb; do dpkg -x "$f" "$deps"; done
  # Absolute links in the packages (libz.so -> /lib/...) must point into $deps, not at the system.
  find "$deps" -type l -lname '/*' | while read -r link; do
    ln -sfn "$deps$(readlink "$link")" "$link"
  done
  # The datasets' place is fixed (src/data/datasets.h); everything else stays under $deps.
  [ -d /usr/share/datasets/fashion-mnist ] ||
    { mkdir -p /usr/share/datasets && cp -r "$deps/usr/share/datasets/fashion-mnist" /usr/share/datasets/; }
  multiarch="$deps/usr/lib/x86_64-linux-gnu"
  export CPATH="$deps/usr/include${CPATH:+:$CPATH}"
  export LIBRARY_PATH="$multiarch${LIBRARY_PATH:+:$LIBRARY_PATH}"
  export LD_LIBRARY_PATH="$multiarch${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  build=build/gpu
  stage configure 120 build.log cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_CUDA_ARCHITECTURES=90 \
    "-DCMAKE_PREFIX_PATH=$deps/usr;$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')"
fi
stage build 300 build.log cmake --build "$build" -j "$(nproc)" --target axnn axnn_ops "${gpu_tests[@]}"
stage gpu-tests 150 tests.log "$0" _gpu-tests "$build"
stage benchmarks 150 bench.log "$0" _bench "$build"
# The cuda tuning target on the seeds' case5-7, 200 trials each, against cuDNN's fp32 convolution
# in the same run; its many files stay out of $OUT, which returns few.
stage tuning 150 tune.log "$build/tools/axnn/axnn" bench conv --target cuda \
  --problems bench/problems/conv2d_seed001.txt --workloads case5,case6,case7 --trials 200 \
  -o "$build/device-check-tune"
stage energy 60 energy.log "$0" _energy "$build"

{
  echo "# axnn device check, $(date -u +%FT%TZ)$([ $dry_run -eq 1 ] && echo ', dry run on this machine')"
  echo
  echo '```'
  git log -1 --format='commit %h %s' 2>/dev/null
  if command -v nvidia-smi > /dev/null; then
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,power.limit \
      --format=csv,noheader
  else
    echo "no nvidia-smi: no NVIDIA driver here"
  fi
  command -v nvcc > /dev/null && nvcc --version | tail -1
  grep -E "^-- axnn" "$out/build.log"
  echo '```'
  echo
  echo "| stage | result | time | log |"
  echo "| --- | --- | --- | --- |"
  cat "$stages"
  echo
  echo "total: $(($(date +%s) - start)) s"
  echo
  echo "## Tests"
  echo '```'
  grep -E "^-- |PASSED|FAILED|SKIPPED \]|checks passed|error" "$out/tests.log"
  echo '```'
  echo "## Figures"
  echo '```'
  cat "$out/bench.log"
  grep -E "^machine|^workload|^case[5-7] |^ratio|error" "$out/tune.log"
  tail -20 "$out/energy.log"
  echo '```'
} > "$summary"
rm "$stages"
cat "$summary"
