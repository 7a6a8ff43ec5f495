#!/usr/bin/env bash
# Runs the CUDA kernels on the CPU emulator (tools/cuda-emu: one fiber per
# CUDA thread, warp instructions computed from the PTX ISA's fragment tables)
# against double-precision references. Needs only a C++20 compiler; no GPU.
set -euo pipefail
cd "$(dirname "$0")/../tools/cuda-emu"
cxx="${CXX:-g++}"
out="${TMPDIR:-/tmp}/iris-cuda-emu"
mkdir -p "$out"
status=0
for src in *_check.cpp; do
    bin="$out/${src%.cpp}"
    "$cxx" -std=c++20 -O2 -fno-strict-aliasing -w -Wno-psabi -o "$bin" "$src"
    echo "== ${src%.cpp}"
    "$bin" || status=1
done
exit $status
