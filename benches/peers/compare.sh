#!/usr/bin/env bash
# One command for the CPU side-by-side: builds iris (release), makes the
# peers' venv (numpy + torch, outside the repo), runs iris's suite and the
# peers in alternating passes on the same machine, and writes the table to
# docs/benchmarks.md (the CPU section, between its markers).
#   benches/peers/compare.sh [THREADS] [PASSES]
set -euo pipefail
cd "$(dirname "$0")/../.."
threads=${1:-2}
passes=${2:-2}
venv=${IRIS_PEERS_VENV:-$HOME/.cache/iris/peers-venv}
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import numpy, torch" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q numpy torch
fi
cargo build --release -p iris-cli
out=$(mktemp)
for _ in $(seq "$passes"); do
  ./target/release/iris --threads "$threads" bench --json >>"$out"
  OPENBLAS_NUM_THREADS=$threads OMP_NUM_THREADS=$threads IRIS_THREADS=$threads "$venv/bin/python" benches/peers/cpu.py >>"$out"
done
section=$(mktemp)
"$venv/bin/python" benches/peers/compare.py "$out" "$section" >/dev/null
python3 - "$section" <<'PY'
import sys, re
doc = "docs/benchmarks.md"
new = open(sys.argv[1]).read()
begin, end = "<!-- cpu-kernels:begin -->", "<!-- cpu-kernels:end -->"
text = open(doc).read()
text = re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda m: f"{begin}\n{new}{end}", text, flags=re.S)
open(doc, "w").write(text)
PY
cat "$section"
rm -f "$out" "$section"
