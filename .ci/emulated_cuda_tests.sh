#!/usr/bin/env bash
# The CUDA tests (pytest -m cuda) with their kernels run on the CPU by the host emulator
# (docs/architecture.md, "CUDA host emulator"): builds _C_cuda for the emulator in
# build/emu, then runs tests/cuda against it. Needs the ember package importable (installed,
# or PYTHONPATH=python with an in-place _C) and pybind11, cmake and ninja; no GPU.
# EMBER_EMU_ASAN=1 builds it with AddressSanitizer instead (build/emu-asan, a few times
# slower): a kernel or copy touching bytes past its tensor, or a freed one, stops the run
# with ASan's report. Extra arguments go to pytest (e.g. -k conv, or -x).
set -euo pipefail
cd "$(dirname "$0")/.."

build=build/emu
flags=()
if [[ "${EMBER_EMU_ASAN:-0}" == 1 ]]; then
  build=build/emu-asan
  flags=(-DCMAKE_CXX_FLAGS="-fsanitize=address -fno-omit-frame-pointer"
    -DCMAKE_SHARED_LINKER_FLAGS="-fsanitize=address")
  # Python is not built with ASan: its runtime (and the C++ runtime, whose exceptions it
  # intercepts) must be loaded first.
  export LD_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libstdc++.so)"
  # (allocator_may_return_null: the out-of-memory tests ask for more than ASan allows.)
  export ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1
fi
LD_PRELOAD= cmake -S . -B "$build" -G Ninja -DEMBER_CUDA=OFF -DEMBER_CUDA_EMULATOR=ON "${flags[@]}" \
  -Dpybind11_DIR="$(LD_PRELOAD= python -c 'import pybind11; print(pybind11.get_cmake_dir())')" \
  >/dev/null
LD_PRELOAD= cmake --build "$build" --target _C_cuda
module=$(ls "$build"/_C_cuda*.so)
EMBER_CUDA_EMULATOR="$PWD/$module" python -m pytest -m cuda tests/cuda "$@"
