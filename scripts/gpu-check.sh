#!/usr/bin/env bash
# The H200 check, as one command on the GPU machine (no Rust there):
#   on the CPU machine:  scripts/gpu-prepare.sh   (the release iris and every kernel's cubin in .gpu/,
#                        ignored through .git/info/exclude; name .gpu in the device tool's `carry`)
#   on the GPU machine:  scripts/gpu-check.sh "$OUT"
# IRIS_CUDA_GEMM=mma in the environment keeps Hopper's GEMMs on mma.sync (to compare with wgmma).
# The model crate's stage tests run on cuda too (every fixture, f32 and bf16/f16, teacher-forced
# decode steps), from test binaries gpu-prepare.sh builds.
# It finds libnvrtc, compiles every kernel (ptxas report), runs every kernel against the CPU
# reference, both model families' fixtures end to end on cuda (greedy text and logits against
# transformers), and `iris bench --device cuda --json` beside PyTorch in the same run, and writes
# the logs, the JSON and a table with ratios into the folder given.
set -uo pipefail
out="${1:?usage: scripts/gpu-check.sh OUT_DIR [BIN_DIR]}"
bin="${2:-.gpu}"
# IRIS_CHECK_DEVICE=cpu dry-runs the script's plumbing on a machine without a GPU (benchmarks skipped).
device="${IRIS_CHECK_DEVICE:-cuda}"
mkdir -p "$out"
cd "$(dirname "$0")/.."
# Kernels compiled beforehand on the CPU machine, if any (see above), copied to a scratch cache.
IRIS_CUDA_CACHE="$(mktemp -d)"
export IRIS_CUDA_CACHE
[ -d "$bin/cuda-cache" ] && cp "$bin"/cuda-cache/*.cubin "$IRIS_CUDA_CACHE/" 2>/dev/null
for d in /usr/local/cuda/lib64 /usr/local/cuda-13*/lib64 /usr/local/cuda/targets/x86_64-linux/lib \
    $(python3 -c 'import nvidia, os; print(" ".join(os.path.join(p, x, "lib") for p in nvidia.__path__ for x in os.listdir(p)))' 2>/dev/null); do
    if ls "$d"/libnvrtc.so* >/dev/null 2>&1; then
        export LD_LIBRARY_PATH="$d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
        break
    fi
done
status=0
run() { echo "+ $*" | tee -a "$out/log.txt"; "$@" 2>&1 | tee -a "$out/log.txt"; local rc=${PIPESTATUS[0]}; [ "$rc" = 0 ] || status=1; return 0; }
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv | tee "$out/gpu.txt" || status=1
[ "$device" = cuda ] && run "$bin/iris" check --device cuda --compile-only
run "$bin/iris" check --device "$device"
# Every stage of every fixture against transformers, on the device (the model crate's tests).
for t in "$bin"/tests/*; do
    [ -x "$t" ] && run env IRIS_TEST_DEVICE="$device" IRIS_FIXTURES="$PWD/crates/model/tests/fixtures" "$t" --test-threads 1
done
for f in crates/model/tests/fixtures/*/; do
    name=$(basename "$f")
    [ -f "$f/meta.json" ] || continue
    # image.png, image2.png, ... in that order (as the tests read them; `sort` under a UTF-8 locale
    # puts image2.png first, which swapped the images of the two-image fixtures on the first H200 run).
    imgs=""
    for i in "" 2 3 4 5 6 7 8 9; do [ -f "$f/image$i.png" ] && imgs="$imgs --image $f/image$i.png"; done
    prompt=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['prompt'])" "$f/meta.json")
    n=8  # every fixture's reference generated 8 tokens
    # shellcheck disable=SC2086
    "$bin/iris" generate --model "$f" $imgs --prompt "$prompt" --device "$device" --max-new-tokens "$n" \
        --logits-out "$out/$name.safetensors" > "$out/$name.txt" 2>> "$out/log.txt" || status=1
    python3 - "$f" "$out/$name.txt" "$out/$name.safetensors" <<'PY' | tee -a "$out/log.txt" || status=1
import json, sys
from safetensors.torch import load_file
fix, text, logits = sys.argv[1:]
meta = json.load(open(fix + "/meta.json"))
ref, got = load_file(fix + "/reference.safetensors"), load_file(logits)
err = float((got["logits"] - ref["logits"]).norm() / ref["logits"].norm())
same = open(text, encoding="utf-8", errors="replace").read() == meta["greedy_text"]
print(f"{fix}: greedy text {'equal' if same else 'DIFFERS'}, logits relative error {err:.2e}")
sys.exit(0 if same and err <= 1e-3 else 1)
PY
done
if [ "$device" = cuda ]; then
    "$bin/iris" bench --device cuda --json > "$out/iris-bench.jsonl" 2>> "$out/log.txt" || status=1
    python3 benches/peers/gpu.py > "$out/torch-bench.jsonl" 2>> "$out/log.txt" || status=1
    # The alternatives to the defaults, on the cases they change: the variants table below
    # (IRIS_GPU_VARIANTS=0 skips them, for a rerun that only checks).
    [ "${IRIS_GPU_VARIANTS:-1}" = 0 ] || for v in IRIS_CUDA_GEMM=mma IRIS_CUDA_GEMM=n128 IRIS_CUDA_GEMM=n256; do
        for a in "gemm --m 4096 --n 4096 --k 4096 --transpose-b" "gemm --m 8192 --n 8192 --k 8192 --transpose-b"; do
            # shellcheck disable=SC2086
            env $v "$bin/iris" bench $a --dtype bf16 --device cuda --json 2>> "$out/log.txt" | sed "s/^{/{\"variant\":\"$v\",/" >> "$out/variants.jsonl" || status=1
        done
    done
    [ "${IRIS_GPU_VARIANTS:-1}" = 0 ] || for v in IRIS_CUDA_FLASH_WARPS=4 IRIS_CUDA_FLASH_WARPS=8; do
        for a in "attention --h 16 --tq 4096 --d 128 --causal" "attention --h 16 --tq 4096 --d 64 --causal" \
                 "cross-attention --h 32 --tq 2048 --tk 6404 --d 128"; do
            # shellcheck disable=SC2086
            env $v "$bin/iris" bench $a --dtype bf16 --device cuda --json 2>> "$out/log.txt" | sed "s/^{/{\"variant\":\"$v\",/" >> "$out/variants.jsonl" || status=1
        done
    done
    # Model scale on the GPU's real paths (wgmma, flash attention, the GEMV, 16-byte norms): CLIP
    # ViT-L/336 (24 layers) and two Llama-3.2-1B layers at real shapes on the same seeded weights, on
    # cuda in f32, bf16 and f16 against the CPU in f32. f32 on cuda must equal the CPU (1e-4); the
    # 16-bit runs are held to bounds a few times what bf16/f16 rounding gives on the CPU (docs).
    for m in "clip-vit-l-336" "llama-3.2-1b --layers 2"; do
        tag=${m%% *}
        for r in "cpu f32" "cuda f32" "cuda bf16" "cuda f16"; do
            # shellcheck disable=SC2086
            set -- $r
            # shellcheck disable=SC2086
            "$bin/iris" bench model --preset $m --device "$1" --dtype "$2" --json \
                --out "$out/$tag-$1-$2.safetensors" >> "$out/model-bench.jsonl" 2>> "$out/log.txt" || status=1
        done
        python3 - "$out" "$tag" <<'PY' 2>&1 | tee -a "$out/log.txt" || status=1
import sys
from safetensors.torch import load_file
out, tag = sys.argv[1:]
ref = load_file(f"{out}/{tag}-cpu-f32.safetensors")
ok = True
for dt, tol in [("f32", 1e-4), ("bf16", 5e-2), ("f16", 1e-2)]:
    try:
        got = load_file(f"{out}/{tag}-cuda-{dt}.safetensors")
    except Exception as e:
        print(f"{tag} cuda {dt}: no output ({e})"); ok = False; continue
    for k, r in ref.items():
        g = got[k].float()
        err = float((g - r).norm() / r.norm())
        big = float((g - r).abs().max() / r.abs().max())
        good = err <= tol and g.isfinite().all()
        ok &= bool(good)
        print(f"{tag} {k} cuda {dt} vs cpu f32: relative error {err:.2e}, max element {big:.2e} (tol {tol:.0e}) {'ok' if good else 'FAIL'}")
sys.exit(0 if ok else 1)
PY
    done
    # The same GPU through Vulkan (wgpu). The image has no Vulkan loader: carry the .debs in .gl
    # (see the device tool's README) and they are unpacked here.
    if [ -d .gl ]; then
        for f in .gl/*.deb; do dpkg -x "$f" /; done
        ldconfig
        export VK_DRIVER_FILES=${VK_DRIVER_FILES:-/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json}
    fi
    if ldconfig -p | grep -q libvulkan; then
        run "$bin/iris" check --device wgpu
        for a in "gemm --m 4096 --n 4096 --k 4096" "attention --tq 4096 --d 128 --causal" \
                 "cross-attention --h 32 --tq 2048 --tk 6404 --d 128"; do
            # shellcheck disable=SC2086
            "$bin/iris" bench $a --device wgpu --json >> "$out/wgpu-bench.jsonl" 2>> "$out/log.txt" || status=1
        done
    else
        echo "no Vulkan loader: wgpu not checked (carry .gl)" | tee -a "$out/log.txt"
        status=1
    fi
fi
python3 - "$out" <<'PY' | tee "$out/table.md"
import json, sys
out = sys.argv[1]
def load(p):
    try:
        return [json.loads(l) for l in open(p) if l.strip()]
    except OSError:
        return []
iris, torch = load(f"{out}/iris-bench.jsonl"), load(f"{out}/torch-bench.jsonl")
def key(r):
    s = r.get("shape", {})
    return r["op"], tuple(s.get(k) for k in ("m", "n", "k", "transpose_b", "tq", "tk", "d", "rows", "cols", "h"))
print("| op | shape | iris ms | peer | peer ms | iris / peer speed |")
print("|---|---|---|---|---|---|")
for r in iris:
    for p in [p for p in torch if key(p) == key(r)] or [None]:
        if p is None:
            print(f"| {r['op']} | {r['shape']} | {r['median_ms']:.3f} | | | |")
        else:
            print(f"| {r['op']} | {r['shape']} | {r['median_ms']:.3f} | {p['peer']} | {p['median_ms']:.3f} | {p['median_ms'] / r['median_ms']:.2f}× |")
for p in torch:
    if p["op"] == "copy":
        print(f"\ncopy bandwidth ceiling: {p['gbps']:.0f} GB/s")
variants = load(f"{out}/variants.jsonl")
if variants:
    print("\n| variant | op | shape | ms | TFLOP/s |")
    print("|---|---|---|---|---|")
    for r in variants:
        print(f"| {r['variant']} | {r['op']} | {r['shape']} | {r['median_ms']:.3f} | {r.get('tflops', 0):.1f} |")
PY
[ "${PIPESTATUS[0]}" = 0 ] || status=1
exit $status
