"""Side-by-side table of iris and its CPU peers from JSON lines measured in
the same run; writes the CPU section of docs/benchmarks.md.

usage: compare.py RESULTS.jsonl OUT.md   (lines with "peer" are peers', others iris's)"""

import datetime
import json
import platform
import subprocess
import sys


def key(r):
    return (r["op"], r.get("dtype", "f32"), json.dumps(r["shape"], sort_keys=True))


def speed(r):
    return r.get("gflops") or r.get("gbps")


def unit(r):
    return "GFLOP/s" if "gflops" in r else "GB/s"


def machine():
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        model = next((l.split(":", 1)[1].strip() for l in lscpu.splitlines() if l.startswith("Model name")), platform.processor())
    except OSError:
        model = platform.processor()
    flags = open("/proc/cpuinfo").read() if platform.system() == "Linux" else ""
    isa = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX"
    isa += " with AVX512-BF16" if "avx512_bf16" in flags else ""
    isa += " and AMX-BF16" if "amx_bf16" in flags else ""
    return f"{model}, {isa}"


def main(results, out):
    rows = [json.loads(l) for l in open(results) if l.strip().startswith("{")]
    # Several passes alternate iris and the peers: keep each one's best median.
    best = {}
    for r in rows:
        k = (r.get("peer", "iris"),) + key(r)
        if k not in best or r["median_ms"] < best[k]["median_ms"]:
            best[k] = r
    iris = [r for (p, *_), r in best.items() if p == "iris"]
    threads = iris[0]["threads"] if iris else "?"
    lines = [
        f"## CPU kernels, {datetime.date.today()}",
        "",
        f"Machine: {machine()}; {threads} threads everywhere; medians (best of the alternating passes).",
        "Ratios are iris's speed over the peer's (above 1: iris is faster).",
        "",
        "| op | dtype | shape | iris ms | iris speed | numpy ms | torch ms | vs numpy | vs torch |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in sorted(iris, key=key):
        shape = " ".join(f"{k}={v}" for k, v in r["shape"].items())
        peers = {p: best.get((p,) + key(r)) for p in ("numpy", "torch")}
        cells = [f"{peers[p]['median_ms']:.3f}" if peers[p] else "–" for p in ("numpy", "torch")]
        ratios = [f"{peers[p]['median_ms'] / r['median_ms']:.2f}×" if peers[p] else "–" for p in ("numpy", "torch")]
        lines.append(f"| {r['op']} | {r.get('dtype', 'f32')} | {shape} | {r['median_ms']:.3f} | {speed(r):.1f} {unit(r)} | {cells[0]} | {cells[1]} | {ratios[0]} | {ratios[1]} |")
    ref = [r for r in iris if "speedup_vs_reference" in r]
    for r in ref:
        lines.append("")
        lines.append(f"{r['op']} {r['shape']}: fast kernel {r['speedup_vs_reference']}× the reference kernel ({r['reference_ms']:.0f} ms → {r['median_ms']:.1f} ms).")
    table = "\n".join(lines) + "\n"
    print(table)
    with open(out, "w") as f:
        f.write(table)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
