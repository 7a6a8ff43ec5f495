#!/usr/bin/env bash
# The test command (README, .ci/run): formatting, lints, every test, then
# every CUDA kernel compiled by NVRTC for sm_90 and sm_80 (no GPU needed;
# libnvrtc comes from the nvidia-cuda-nvrtc wheel, installed by our script).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace
nvrtc_dir="$(scripts/install-nvrtc.sh)"
LD_LIBRARY_PATH="$nvrtc_dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
    cargo run --quiet -p iris-cli -- check --device cuda --compile-only
cargo run --quiet -p iris-cli -- check --device cpu
