#!/usr/bin/env bash
# Prepares .gpu/ for scripts/gpu-check.sh on a GPU machine without Rust (the
# device tool's `carry: [".gpu"]`): the release `iris`, and every kernel
# compiled for sm_90 (+ sm_90a) under the kernel cache's names, so the GPU
# machine spends no time in NVRTC. .gpu is ignored through .git/info/exclude.
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >> .git/info/exclude
cargo build --release -p iris-cli
rm -rf .gpu && mkdir -p .gpu
# Without its debug info (the device tool carries 64 MiB in all).
strip -o .gpu/iris target/release/iris 2>/dev/null || cp target/release/iris .gpu/
# The model crate's stage tests (every stage of every fixture against transformers), run there on
# cuda through IRIS_TEST_DEVICE.
mkdir -p .gpu/tests
cargo test --release --no-run -p iris-model --test llava --test mllama --message-format=json 2>/dev/null |
    python3 -c 'import json, sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["kind"] == ["test"]:
        print(m["target"]["name"], m["executable"])' |
    while read -r name exe; do strip -o ".gpu/tests/$name" "$exe" 2>/dev/null || cp "$exe" ".gpu/tests/$name"; done
LD_LIBRARY_PATH="$(scripts/install-nvrtc.sh)" .gpu/iris check --device cuda --compile-only --arch 90 \
    --cubin-dir .gpu/cuda-cache > .gpu/compile.txt
du -sh .gpu
echo "then, on the GPU machine: scripts/gpu-check.sh \"\$OUT\"   (carry .gpu)"
