#!/usr/bin/env bash
# Installs every Debian package axnn needs to build, test and benchmark. Nothing comes from elsewhere.
# A no-op (no apt-get update, no install) when all of them are already present.
set -euo pipefail

packages=(
  build-essential cmake ninja-build git
  libtorch-dev        # LibTorch 1.13 (CPU): the torch op library (src/ops), the fp32 baselines
  libopenblas0-openmp # optimised BLAS behind libblas.so.3 (else LibTorch runs on netlib reference BLAS)
  libdnnl-dev         # oneDNN: the exact int8 GEMM baseline of the benchmarks
  libxgboost-dev      # XGBoost C API: the cost model of the kernel autotuner (src/tune)
  libcli11-dev        # the axnn command line
  nlohmann-json3-dev  # .axm metadata, --json output
  libyaml-cpp-dev     # YAML layer rule files (--config rules.yaml)
  libfmt-dev libspdlog-dev
  zlib1g-dev            # gzip IDX dataset files
  dataset-fashion-mnist # the default dataset, read from /usr/share/datasets (never downloaded)
  yosys               # Verilog import (axnn mult import, axnn netlist)
  berkeley-abc        # technology mapping for circuit area, delay and power (axnn netlist cost)
  libopenmpi-dev openmpi-bin  # axnn search over several ranks (mpirun -np N axnn search ...)
  gnuplot-nox         # axnn search's front.svg
  libgtest-dev libgmock-dev
  python3-torch python3-pytest  # the Python front end (python/) and its tests
  python3-yaml python3-setuptools  # axnn.save_config to YAML; pip install ./python
  libonnx-dev         # ONNX import (src/onnx, axnn import): the ModelProto classes and protobuf
  python3-onnx python3-torchvision  # the ONNX tests export torch and torchvision models
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "install-deps: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
