#!/usr/bin/env bash
# The ISA-specific kernel objects must not carry AVX / AVX-512 code in weak (COMDAT) symbols: the
# linker keeps one copy of each weak symbol for the whole program, so such a copy could be run by
# baseline code on a CPU without those instructions.
# Usage: check_isa_objects.sh OBJECT...
set -euo pipefail
status=0
for object in "$@"; do
  weak=$(nm --defined-only "$object" | awk '$2 == "W" { print $3 }')
  offenders=$(objdump -d --no-show-raw-insn "$object" | awk -v weak="$weak" '
    BEGIN { n = split(weak, names, "\n"); for (i = 1; i <= n; ++i) is_weak[names[i]] = 1 }
    /^[0-9a-f]+ <.*>:$/ { symbol = substr($2, 2, length($2) - 3); next }
    is_weak[symbol] && /\tv[a-z0-9]+[ \t]/ { bad[symbol] = 1 }
    END { for (s in bad) print s }')
  if [ -n "$offenders" ]; then
    echo "$object: weak symbols with AVX/AVX-512 instructions:"; echo "$offenders" | head -5
    status=1
  else
    echo "$object: no weak symbol carries AVX/AVX-512 code"
  fi
done
exit $status
