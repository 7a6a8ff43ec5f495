#!/usr/bin/env bash
# The test command (README, .ci/run): formatting, lints, every test (the
# wgpu ones on Mesa's lavapipe, installed here when no Vulkan driver is
# present), every CUDA kernel compiled by NVRTC for sm_90 and sm_80 (no GPU
# needed; libnvrtc comes from the nvidia-cuda-nvrtc wheel, installed by our
# script), the CUDA kernels on the CPU emulator (tools/cuda-emu; g++ installed when missing),
# the kernel parity tables of the CPU and wgpu devices, and OpenAI's Python client against `iris serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-vulkan.sh   # lavapipe when no Vulkan driver is present: the wgpu tests run on it
scripts/install-cxx.sh      # g++ for the CUDA emulator when no C++ compiler is present
# Nothing may switch a check off: the wgpu tests have no skip, and an old habit is cleared here.
unset IRIS_SKIP_WGPU
cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace
# OpenAI's Python client against `iris serve` (its own venv, made by the script).
scripts/openai-client-test.sh target/debug/iris
nvrtc_dir="$(scripts/install-nvrtc.sh)"
LD_LIBRARY_PATH="$nvrtc_dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
    cargo run --quiet -p iris-cli -- check --device cuda --compile-only
# The CUDA kernels themselves, run on the CPU emulator (tools/cuda-emu) against references.
scripts/cuda-emu.sh
cargo run --quiet -p iris-cli -- check --device cpu
cargo run --quiet -p iris-cli -- check --device wgpu
