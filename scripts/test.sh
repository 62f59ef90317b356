#!/usr/bin/env bash
# Installs, builds and runs the whole test suite (what CI runs).
# Usage: scripts/test.sh [release|debug]   (debug = AddressSanitizer + UBSan build)
set -euo pipefail
cd "$(dirname "$0")/.."

preset="${1:-release}"
scripts/build.sh "$preset"
ctest --preset "$preset" -j "$(nproc)"
