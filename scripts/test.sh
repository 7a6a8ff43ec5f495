#!/usr/bin/env bash
# The test command (README, .ci/run): formatting, lints, every test (the
# wgpu ones on Mesa's lavapipe, installed here when no Vulkan driver is
# present), every CUDA kernel compiled by NVRTC for sm_90 and sm_80 (no GPU
# needed; libnvrtc comes from the nvidia-cuda-nvrtc wheel, installed by our
# script), the CUDA kernels on the CPU emulator (tools/cuda-emu, needs g++),
# and the kernel parity tables of the CPU and wgpu devices.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-vulkan.sh   # lavapipe when no Vulkan driver is present: the wgpu tests run on it
cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace
nvrtc_dir="$(scripts/install-nvrtc.sh)"
LD_LIBRARY_PATH="$nvrtc_dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
    cargo run --quiet -p iris-cli -- check --device cuda --compile-only
# The CUDA kernels themselves, run on the CPU emulator (tools/cuda-emu) against references.
if command -v "${CXX:-g++}" >/dev/null; then
    scripts/cuda-emu.sh
else
    echo "no C++ compiler (\$CXX or g++): the CUDA emulator checks did not run" >&2
fi
cargo run --quiet -p iris-cli -- check --device cpu
cargo run --quiet -p iris-cli -- check --device wgpu
