#!/usr/bin/env bash
# Installs, builds and runs the whole test suite (what CI runs): first the optimised build, then
# the same tests built with AddressSanitizer and UBSan.
# Usage: scripts/test.sh [release|debug]   (one preset only)
set -euo pipefail
cd "$(dirname "$0")/.."

presets=("${1:-release}")
[ $# -gt 0 ] || presets=(release debug)
for preset in "${presets[@]}"; do
  echo "== $preset: build and test"
  scripts/build.sh "$preset"
  ctest --preset "$preset" -j "$(nproc)"
done
