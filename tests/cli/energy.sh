#!/usr/bin/env bash
# `axnn energy` end to end without a GPU: the probes say what they cannot read; the NVML probe
# reads a fake NVML library (tests/energy/fake_nvml.c) and never sets a limit unless asked; a
# small tuning run's selected kernels are measured (time only with no probe, energy through a fake
# powercap tree) into the seeds' CSV layout.
# Usage: energy.sh AXNN
set -euo pipefail
axnn="$1"
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
export XDG_CACHE_HOME="$work/cache"  # built kernels stay in this run's folder
export AXNN_NVML_LIBRARY="$work/none/libnvidia-ml.so.1" AXNN_POWERCAP_ROOT="$work/none"

# Probes that cannot read anything say why.
"$axnn" energy probe > "$work/probe.txt"
grep -q "available: no: rapl: $work/none does not exist" "$work/probe.txt" || fail "rapl reason"
grep -q "available: no: nvml: cannot open the NVML library $work/none/libnvidia-ml.so.1" \
  "$work/probe.txt" || fail "nvml reason: $(cat "$work/probe.txt")"

# NVML through the fake library: readings in watts, and nothing set by reading.
cc -shared -fPIC -o "$work/libfake-nvml.so" "$here/../energy/fake_nvml.c"
export FAKE_NVML_LOG="$work/set.log"
AXNN_NVML_LIBRARY="$work/libfake-nvml.so" "$axnn" energy probe --target cuda > "$work/nvml.txt"
grep -q "device: Fake GPU 9000" "$work/nvml.txt" || fail "nvml device: $(cat "$work/nvml.txt")"
grep -q "power limit: 250 W (default 300 W, min 100 W, max 350 W)" "$work/nvml.txt" ||
  fail "nvml limits: $(cat "$work/nvml.txt")"

# A fake powercap tree with one package.
rapl="$work/powercap/intel-rapl:0"
mkdir -p "$rapl"
echo package-0 > "$rapl/name"
echo 5000000 > "$rapl/energy_uj"
echo 262143328850 > "$rapl/max_energy_range_uj"
echo 65000000 > "$rapl/constraint_0_power_limit_uw"
AXNN_POWERCAP_ROOT="$work/powercap" "$axnn" energy probe --target cpu > "$work/rapl.txt"
grep -q "device: package-0" "$work/rapl.txt" || fail "rapl device: $(cat "$work/rapl.txt")"
grep -q "energy counter: yes (5.000 J now)" "$work/rapl.txt" || fail "rapl counter"

# Tune a tiny convolution, select its two best kernels, measure them.
"$axnn" tune conv2d --shape 1,8,8,16,8,3,3,1,1 --target cpu --trials 8 -o "$work/t" > /dev/null
"$axnn" tune select "$work/t" --test > /dev/null
w=conv2d_N_1_H_8_W_8_CO_16_CI_8_KH_3_KW_3_strides_1_padding_1
[ -f "$work/t/selected/$w.jsonl" ] || fail "no selection for $w"
quick=(--min-window 0.2 --repeats 1 --warmup 0.05)
"$axnn" energy measure "$work/t" "${quick[@]}" > "$work/measure.txt"
grep -q "energy not available: rapl: $work/none does not exist" "$work/measure.txt" ||
  fail "measure without a probe: $(cat "$work/measure.txt")"
results="$work/t/energy/$w/current/results.csv"
header="id,perf(GFLOP/s),energy(mJ),EDP(ms*mJ),time(ms)"
[ "$(head -1 "$results" | cut -d, -f1-5)" = "$header" ] || fail "header: $(head -1 "$results")"
[ "$(wc -l < "$results")" -eq 3 ] || fail "two kernels expected: $(cat "$results")"
# Time measured, energy columns empty.
awk -F, 'NR > 1 && !($2 > 0 && $3 == "" && $4 == "" && $5 > 0) { exit 1 }' "$results" ||
  fail "time-only rows: $(cat "$results")"
[ "$(head -1 "$work/t/energy/$w/all.csv")" = \
  "id,perf(GFLOP/s)[current],energy(mJ)[current],EDP(ms*mJ)[current]" ] || fail "all.csv header"
[ "$(wc -l < "$work/t/energy/$w/all.csv")" -eq 3 ] || fail "all.csv rows"

# Through the fake RAPL counter (which stands still: 0 mJ), with the limit read recorded.
AXNN_POWERCAP_ROOT="$work/powercap" "$axnn" energy measure "$work/t" "${quick[@]}" > /dev/null
awk -F, 'NR > 1 && !($3 == "0" && $4 == "0" && $13 == "65" && $17 == "counter") { exit 1 }' \
  "$results" || fail "RAPL rows: $(cat "$results")"
grep -q '"power_limit_at_start_w": 65' "$work/t/energy/$w/current/info.json" || fail "info.json"

# Caps are refused clearly: without a probe, outside the device's limits; none was ever set.
if "$axnn" energy measure "$work/t" --set-power-caps 100 2> "$work/err"; then
  fail "a cap without a probe was accepted"
fi
grep -q "cannot set power caps: energy probe null not available" "$work/err" ||
  fail "error: $(cat "$work/err")"
if AXNN_NVML_LIBRARY="$work/libfake-nvml.so" "$axnn" energy measure "$work/t" --target cuda \
  --set-power-caps 200,400 2> "$work/err"; then
  fail "a cap beyond the maximum was accepted"
fi
grep -q "power cap 400 W is outside the limits of Fake GPU 9000: min 100 W, max 350 W" \
  "$work/err" || fail "error: $(cat "$work/err")"
[ ! -e "$work/set.log" ] || fail "a power limit was set: $(cat "$work/set.log")"
echo "energy checks passed"
