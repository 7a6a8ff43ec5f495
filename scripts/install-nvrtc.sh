#!/usr/bin/env bash
# Installs NVRTC (the `nvidia-cuda-nvrtc` wheel, no GPU needed) under ~/.cache/iris/nvrtc
# and prints the folder holding libnvrtc.so, for `iris check --device cuda --compile-only`.
set -euo pipefail
dest="${IRIS_NVRTC_DIR:-$HOME/.cache/iris/nvrtc}"
version="13.0.88"
if ! ls "$dest"/nvidia/*/lib/libnvrtc.so* >/dev/null 2>&1; then
    python3 -m pip install -q --disable-pip-version-check --no-deps --target "$dest" "nvidia-cuda-nvrtc==$version" >&2
fi
dirname "$(ls "$dest"/nvidia/*/lib/libnvrtc.so* | head -1)"
