#!/usr/bin/env bash
# The CUDA tests (pytest -m cuda) with their kernels run on the CPU by the host emulator
# (docs/architecture.md, "CUDA host emulator"): builds _C_cuda for the emulator in
# build/emu, then runs tests/cuda against it. Needs the ember package importable (installed,
# or PYTHONPATH=python with an in-place _C) and pybind11, cmake and ninja; no GPU.
# Extra arguments go to pytest (e.g. -k conv, or -x).
set -euo pipefail
cd "$(dirname "$0")/.."

cmake -S . -B build/emu -G Ninja -DEMBER_CUDA=OFF -DEMBER_CUDA_EMULATOR=ON \
  -Dpybind11_DIR="$(python -c 'import pybind11; print(pybind11.get_cmake_dir())')" >/dev/null
cmake --build build/emu --target _C_cuda
module=$(ls build/emu/_C_cuda*.so)
EMBER_CUDA_EMULATOR="$PWD/$module" python -m pytest -q -m cuda tests/cuda "$@"
