#!/usr/bin/env bash
# The serving table: `iris serve --preset llama-3.2-1b` (seeded random weights, a stand-in tokenizer)
# on a free loopback port, benches/serve/load.py at 1, 4 and 16 concurrent streaming clients, and the
# table written to docs/benchmarks.md (between the serve markers).
#   benches/serve/run.sh [THREADS] [extra iris serve flags, e.g. --dtype bf16]
set -euo pipefail
cd "$(dirname "$0")/../.."
threads=${1:-2}
shift || true
iris="${IRIS_BIN:-target/release/iris}"
[ -n "${IRIS_BIN:-}" ] || cargo build --release -q -p iris-cli
log=$(mktemp)
out=$(mktemp)
"$iris" --threads "$threads" serve --preset llama-3.2-1b --port 0 "$@" 2> "$log" &
pid=$!
trap 'kill $pid 2>/dev/null; rm -f "$log" "$out" "$out.json"' EXIT
for _ in $(seq 600); do grep -q "serving on" "$log" && break; sleep 0.5; done
base=$(grep -o "http://[0-9.:]*" "$log" | head -1)
[ -n "$base" ] || { cat "$log"; exit 1; }
python3 benches/serve/load.py --base "$base" --levels 1,4,16 --json "$out.json" | tee "$out"
cpu=$(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
dtype=$(grep -o "(cpu, [a-z0-9]*)" "$log" | head -1 | tr -d '()' | cut -d' ' -f2)
python3 - "$out" "$cpu" "$threads" "$dtype" <<'PY'
import re, sys, datetime
table, cpu, threads, dtype = open(sys.argv[1]).read(), sys.argv[2], sys.argv[3], sys.argv[4]
day = datetime.date.today().isoformat()
begin, end = f"<!-- serve-{dtype}:begin -->", f"<!-- serve-{dtype}:end -->"
section = (f"## Serving on the CPU, {dtype}, {day}\n\nMachine: {cpu}; {threads} threads; `iris serve --preset llama-3.2-1b` "
           f"(16 layers, seeded random weights, stand-in tokenizer), continuous batching up to 16 sequences; "
           f"each client streams 64-word prompts for 32 tokens (`ignore_eos`) back to back. Written by benches/serve/run.sh.\n\n"
           f"{table.strip()}\n")
doc = "docs/benchmarks.md"
text = open(doc).read()
if begin in text:
    text = re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda m: f"{begin}\n{section}{end}", text, flags=re.S)
else:
    text = text.replace("<!-- train:begin -->", f"{begin}\n{section}{end}\n\n<!-- train:begin -->", 1)
open(doc, "w").write(text)
PY
