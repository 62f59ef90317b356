#!/usr/bin/env bash
# Installs the Debian dependencies, then configures and builds axnn with a CMake preset.
# Usage: scripts/build.sh [release|debug]   (default release; the build lands in build/<preset>)
set -euo pipefail
cd "$(dirname "$0")/.."

preset="${1:-release}"
scripts/install-deps.sh
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset" -j "$(nproc)"
