#!/usr/bin/env bash
# Whole models at real checkpoint shapes, iris beside PyTorch + transformers in the same run
# (alternating, two rounds, the better of each), written into docs/benchmarks.md.
#   benches/peers/models.sh [THREADS] [PRESET ...]     (default: 2 threads; clip-vit-l-336 llama-3.2-1b)
set -euo pipefail
cd "$(dirname "$0")/../.."
threads="${1:-2}"; shift || true
presets=("${@:-clip-vit-l-336}")
[ $# -gt 0 ] || presets=(clip-vit-l-336 llama-3.2-1b)
venv="${IRIS_FIXTURE_VENV:-$HOME/.cache/iris/fixtures-venv}"
[ -x "$venv/bin/python" ] || { python3 -m venv "$venv"; "$venv/bin/pip" install -q -r tools/fixtures/requirements.txt; }
cargo build --release -q -p iris-cli
out=$(mktemp)
for round in 1 2; do
    for p in "${presets[@]}"; do
        ./target/release/iris --threads "$threads" bench model --preset "$p" --json >> "$out"
        "$venv/bin/python" benches/peers/models.py "$p" --threads "$threads" 2>/dev/null | tail -1 >> "$out"
    done
done
python3 - "$out" "$threads" <<'PY'
import json, platform, re, subprocess, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
def best(preset, peer, key):
    v = [r[key] for r in rows if r["preset"] == preset and r.get("peer", "iris") == peer and key in r]
    if not v:
        return None
    return min(v) if key == "encode_ms" else max(v)
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
lines = [f"## Whole models on the CPU ({cpu}, {sys.argv[2]} threads, f32, random weights at real shapes)", "",
         "| preset | metric | iris | PyTorch | iris / PyTorch |", "|---|---|---|---|---|"]
for preset in dict.fromkeys(r["preset"] for r in rows):
    for key, better_low in [("encode_ms", True), ("prefill_tok_s", False), ("decode_tok_s", False)]:
        a, b = best(preset, "iris", key), best(preset, "pytorch", key)
        if a is None or b is None:
            continue
        ratio = b / a if better_low else a / b
        lines.append(f"| {preset} | {key} | {a:.2f} | {b:.2f} | {ratio:.2f}× |")
text = open("docs/benchmarks.md").read()
block = "<!-- models:begin -->\n" + "\n".join(lines) + "\n<!-- models:end -->"
if "<!-- models:begin -->" in text:
    text = re.sub(r"<!-- models:begin -->.*<!-- models:end -->", block, text, flags=re.S)
else:
    text = text.rstrip() + "\n\n" + block + "\n"
open("docs/benchmarks.md", "w").write(text)
print("\n".join(lines))
PY
