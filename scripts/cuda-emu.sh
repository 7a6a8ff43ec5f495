#!/usr/bin/env bash
# Runs the CUDA kernels on the CPU emulator (tools/cuda-emu: one fiber per
# CUDA thread, warp instructions computed from the PTX ISA's fragment tables)
# against double-precision references. Needs only a C++20 compiler; no GPU.
# Built with AddressSanitizer and UBSan (any report fails the run). Shared
# memory is NaN-poisoned per block, cp.async and wgmma results land only at
# their waits, and each check runs under each seed of EMU_SEEDS (default
# "1 2"): the seed orders the threads of a block anew after every barrier.
set -euo pipefail
cd "$(dirname "$0")/../tools/cuda-emu"
cxx="${CXX:-g++}"
out="${TMPDIR:-/tmp}/iris-cuda-emu"
mkdir -p "$out"
flags=(-std=c++20 -O2 -g -fno-strict-aliasing -Wall -Wno-psabi -Wno-unknown-pragmas
    -fsanitize=address,undefined -fno-sanitize-recover=all)
# Compiled side by side (one job per core), then run one after another.
ls ./*_check.cpp | xargs -P "$(nproc)" -I{} sh -c '"$0" "$@" -o "'"$out"'/$(basename {} .cpp)" {}' "$cxx" "${flags[@]}"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0:halt_on_error=1}"
status=0
for seed in ${EMU_SEEDS:-1 2}; do
    for src in *_check.cpp; do
        echo "== ${src%.cpp} (EMU_SEED=$seed)"
        EMU_SEED=$seed "$out/${src%.cpp}" || status=1
    done
done
exit $status
