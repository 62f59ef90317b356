#!/usr/bin/env bash
# axnn tune import, select and perf end to end on the hand-made TVM logs of tests/tune/data:
# counts, the selection of 30 valid trials, the perf table, test mode, appending a second import,
# and the errors for perf before select, a stale selection and a name holding two shapes.
# Usage: tune_analysis.sh AXNN
set -euo pipefail
axnn="$1"
data="$(cd "$(dirname "$0")/../tune/data" && pwd)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "tune_analysis.sh: $*" >&2; exit 1; }
dir="$work/tuning"

# 33 lines: 30 valid trials, 2 failed ones (error_no 4 and 7, cost 1e10) and a dense task.
ansor="$data/auto_scheduler_conv2d.json"
"$axnn" tune import "$ansor" -o "$dir" --name case5 | tee "$work/import.out"
grep -q "33 lines, 32 records (2 failed trials), 1 skipped" "$work/import.out" ||
  fail "import counts: $(cat "$work/import.out")"
grep -q "skipped 1: auto-scheduler workload dense_layer" "$work/import.out" || fail "skip reason"
[ "$(wc -l < "$dir/records/case5.jsonl")" -eq 32 ] || fail "records/case5.jsonl is not 32 lines"

if "$axnn" tune perf "$dir" 2> "$work/err"; then fail "perf ran before select"; fi
grep -q 'no selected/\*.jsonl files; run `axnn tune select DIR` first' "$work/err" ||
  fail "perf before select: $(cat "$work/err")"

"$axnn" tune select "$dir" | tee "$work/select.out"
grep -q "case5: 32 trials, 30 valid, 20 selected" "$work/select.out" || fail "select counts"
[ "$(wc -l < "$dir/selected/case5.jsonl")" -eq 20 ] || fail "selected/case5.jsonl is not 20 lines"

"$axnn" tune perf "$dir" | tee "$work/perf.out"
csv="$dir/perf/case5.csv"
[ "$(head -1 "$csv")" = "id,group,rank,trial,median_ms,gflops" ] ||
  fail "perf header: $(head -1 "$csv")"
[ "$(wc -l < "$csv")" -eq 21 ] || fail "perf/case5.csv is not 21 lines"
# The fastest: log line 23, the 22nd conv2d record (trial 21), median 0.106278 ms.
[ "$(sed -n 2p "$csv")" = "1,top,0,21,0.106278,2175.53" ] || fail "fastest row: $(sed -n 2p "$csv")"
# 30 valid: ranks 0-4 top, 5 p10, 6-9 p25, 13-17 p50, 20-24 p75.
[ "$(cut -d, -f2,3 "$csv" | tail -n +2 | tr '\n' ' ')" = "top,0 top,1 top,2 top,3 top,4 p10,5 \
p25,6 p25,7 p25,8 p25,9 p50,13 p50,14 p50,15 p50,16 p50,17 p75,20 p75,21 p75,22 p75,23 p75,24 " ] ||
  fail "groups and ranks: $(cut -d, -f2,3 "$csv" | tr '\n' ' ')"
grep -q "2175.53" "$work/perf.out" || fail "perf printed no table"

"$axnn" tune select "$dir" --test --workload case5 | grep -q "30 valid, 2 selected" ||
  fail "select --test"
"$axnn" tune perf "$dir" > /dev/null
[ "$(wc -l < "$csv")" -eq 3 ] || fail "test-mode perf/case5.csv is not 3 lines"

# A second import appends, numbering the trials on; the old selection is then stale.
"$axnn" tune import "$ansor" -o "$dir" --name case5 > /dev/null
[ "$(wc -l < "$dir/records/case5.jsonl")" -eq 64 ] || fail "second import did not append"
tail -1 "$dir/records/case5.jsonl" | grep -q '"trial":63' || fail "appended trials not numbered on"
if "$axnn" tune perf "$dir" 2> "$work/err"; then fail "perf used a stale selection"; fi
grep -q "the selection does not match" "$work/err" || fail "stale selection: $(cat "$work/err")"

# AutoTVM: two shapes, named by the seeds' file naming; one --name cannot hold both.
"$axnn" tune import "$data/autotvm_conv2d.log" -o "$work/autotvm" | tee "$work/autotvm.out"
grep -q "10 lines, 9 records (2 failed trials), 1 skipped" "$work/autotvm.out" ||
  fail "AutoTVM import counts"
records="$work/autotvm/records"
[ "$(wc -l < "$records/conv2d_N_1_H_56_W_56_CO_64_CI_64_KH_3_KW_3_strides_1_padding_1.jsonl")" \
  -eq 8 ] || fail "AutoTVM cuda workload"
[ -s "$records/conv2d_N_1_H_56_W_56_CO_128_CI_64_KH_3_KW_3_strides_2_padding_1.jsonl" ] ||
  fail "AutoTVM cpu workload"
if "$axnn" tune import "$data/autotvm_conv2d.log" -o "$work/autotvm" --name both 2> "$work/err"
then
  fail "one name took two shapes"
fi
grep -q "autotvm_conv2d.log:9: conv2d 1,56,56,128,64,3,3,2,1 under the workload name 'both'" \
  "$work/err" || fail "two shapes under one name: $(cat "$work/err")"
sed -n 9p "$data/autotvm_conv2d.log" > "$work/cpu.log"
if "$axnn" tune import "$work/cpu.log" -o "$dir" --name case5 2> "$work/err"; then
  fail "a cpu conv2d of another shape joined case5"
fi
grep -q "holds cuda conv2d 1,56,56,64,64,3,3,1,1; the log's record is cpu conv2d" "$work/err" ||
  fail "shape mismatch: $(cat "$work/err")"

echo "tune analysis checks passed"
