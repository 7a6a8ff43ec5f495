"""The models table of docs/benchmarks.md from the JSON lines of benches/peers/models.sh:
the best figure of each engine per preset and metric, with iris's ratio to each peer
(above 1: iris is faster).

usage: models_table.py RESULTS.jsonl THREADS [DTYPE] [LAYERS]

Each (dtype, depth) has its own block in docs/benchmarks.md, replaced on every run.
"""

import datetime
import json
import platform
import re
import sys

rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
threads = sys.argv[2]
dtype = sys.argv[3] if len(sys.argv) > 3 else "f32"
layers = sys.argv[4] if len(sys.argv) > 4 and sys.argv[4] else None
peers = ["pytorch", "candle"]
metrics = [("encode_ms", True), ("prefill_tok_s", False), ("decode_tok_s", False), ("peak_mem_mb", True)]


def best(preset, engine, key):
    v = [r[key] for r in rows if r["preset"] == preset and r.get("peer", "iris") == engine and key in r]
    if not v:
        return None
    return min(v) if key in ("encode_ms", "peak_mem_mb") else max(v)


def fmt(v):
    return "–" if v is None else f"{v:.2f}"


cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
depth = f", {layers} decoder layers" if layers else ""
lines = [f"## Whole models on the CPU, {dtype}{depth}, {datetime.date.today()}", "",
         f"Machine: {cpu}; {threads} threads; {dtype}{depth}; random weights at real shapes; the CLIP preset is "
         "the whole 24-layer tower in every engine. Peak memory is each process's high-water mark above its "
         "resident set at the start. Ratios are iris's speed over the peer's (above 1: iris is faster); for "
         "peak memory, the peer's over iris's. Written by benches/peers/models.sh.", "",
         "| preset | metric | iris | PyTorch | candle | vs PyTorch | vs candle |", "|---|---|---:|---:|---:|---:|---:|"]
for preset in dict.fromkeys(r["preset"] for r in rows):
    for key, lower_is_better in metrics:
        ours = best(preset, "iris", key)
        if ours is None:
            continue
        theirs = [best(preset, p, key) for p in peers]
        ratios = ["–" if t is None else f"{(t / ours if lower_is_better else ours / t):.2f}×" for t in theirs]
        lines.append(f"| {preset} | {key} | {fmt(ours)} | {' | '.join(fmt(t) for t in theirs)} | {' | '.join(ratios)} |")
text = open("docs/benchmarks.md").read()
tag = "models" if dtype == "f32" and not layers else f"models-{dtype}" + (f"-l{layers}" if layers else "")
begin, end = f"<!-- {tag}:begin -->", f"<!-- {tag}:end -->"
block = begin + "\n" + "\n".join(lines) + "\n" + end
if begin in text:
    text = re.sub(re.escape(begin) + ".*" + re.escape(end), lambda _: block, text, flags=re.S)
else:
    text = text.rstrip() + "\n\n" + block + "\n"
open("docs/benchmarks.md", "w").write(text)
print("\n".join(lines))
