#!/usr/bin/env bash
# One training step beside PyTorch + transformers in the same run: `iris bench train` and
# benches/peers/train.py in turns, two rounds, the better step of each, stage 1 and stage 2; the
# table goes into docs/benchmarks.md (between the train markers).
#   benches/peers/train.sh [THREADS] [PRESET] [LAYERS] [SEQ] [BATCH]
#   (default: 2 threads, llama-3.2-1b, 2 layers, 256 tokens, batch 1)
set -euo pipefail
cd "$(dirname "$0")/../.."
threads="${1:-2}"; preset="${2:-llama-3.2-1b}"; layers="${3:-2}"; seq="${4:-256}"; batch="${5:-1}"
venv="${IRIS_FIXTURE_VENV:-$HOME/.cache/iris/fixtures-venv}"
[ -x "$venv/bin/python" ] || { python3 -m venv "$venv"; "$venv/bin/pip" install -q -r tools/fixtures/requirements.txt; }
cargo build --release -q -p iris-cli
out=$(mktemp)
for round in 1 2; do
    for stage in 1 2; do
        ./target/release/iris --threads "$threads" bench train --preset "$preset" --layers "$layers" --seq "$seq" \
            --batch "$batch" --stage "$stage" --json >> "$out"
        (cd benches/peers && "$venv/bin/python" train.py "$preset" --layers "$layers" --seq "$seq" --batch "$batch" \
            --stage "$stage" --threads "$threads" 2>/dev/null | tail -1) >> "$out"
    done
done
python3 - "$out" "$threads" "$preset" "$layers" "$seq" "$batch" <<'PY'
import datetime, json, re, subprocess, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
threads, preset, layers, seq, batch = sys.argv[2:]
cpu = next((l.split(":", 1)[1].strip() for l in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines() if l.startswith("Model name")), "?")
best = {}
for r in rows:
    k = (r.get("peer", "iris"), r["stage"])
    if k not in best or r["step_ms"] < best[k]["step_ms"]:
        best[k] = r
lines = [f"## Training step on the CPU, f32, {datetime.date.today()}", "",
         f"Machine: {cpu}; {threads} threads; `{preset}` with {layers} decoder layers, one image, {seq} tokens a sequence "
         f"(a quarter of them the answer), batch {batch}; AdamW with clipping; the better of two rounds. Written by "
         "benches/peers/train.sh.", "",
         "| stage | phase | iris ms | PyTorch ms | iris / PyTorch speed |", "|---|---|---:|---:|---:|"]
for stage in (1, 2):
    i, t = best.get(("iris", stage)), best.get(("pytorch", stage))
    if not i or not t:
        continue
    for ph in ("step_ms", "forward_ms", "backward_ms", "optimizer_ms"):
        fi = i[ph] + (i.get("encode_ms", 0) if ph == "forward_ms" else 0)
        lines.append(f"| {stage} | {ph[:-3]} | {fi:.1f} | {t[ph]:.1f} | {t[ph] / fi:.2f}× |")
    lines.append(f"| {stage} | peak memory MB | {i['peak_mem_mb']:.0f} | {t['peak_mem_mb']:.0f} | {t['peak_mem_mb'] / i['peak_mem_mb']:.2f}× less |")
section = "\n".join(lines) + "\n"
print(section)
doc = "docs/benchmarks.md"
text = open(doc).read()
b, e = "<!-- train:begin -->", "<!-- train:end -->"
if b not in text:
    text = text.replace("## GPUs (CUDA)", f"{b}\n{e}\n\n## GPUs (CUDA)", 1)
text = re.sub(re.escape(b) + ".*?" + re.escape(e), lambda m: f"{b}\n{section}{e}", text, flags=re.S)
open(doc, "w").write(text)
PY
rm -f "$out"
