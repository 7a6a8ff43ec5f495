#!/usr/bin/env bash
# Whole models at real checkpoint shapes: iris beside PyTorch + transformers and candle
# (candle-transformers, benches/candle) in the same run, in turns, two rounds, the better
# figure of each; the table goes into docs/benchmarks.md.
#   benches/peers/models.sh [THREADS] [PRESET ...]     (default: 2 threads; clip-vit-l-336 llama-3.2-1b)
# IRIS_NO_CANDLE=1 leaves candle out (its first build takes a few minutes).
set -euo pipefail
cd "$(dirname "$0")/../.."
threads="${1:-2}"; shift || true
presets=("$@")
[ $# -gt 0 ] || presets=(clip-vit-l-336 llama-3.2-1b)
venv="${IRIS_FIXTURE_VENV:-$HOME/.cache/iris/fixtures-venv}"
[ -x "$venv/bin/python" ] || { python3 -m venv "$venv"; "$venv/bin/pip" install -q -r tools/fixtures/requirements.txt; }
cargo build --release -q -p iris-cli
candle=""
if [ -z "${IRIS_NO_CANDLE:-}" ]; then
    cargo build --release -q --manifest-path benches/candle/Cargo.toml
    candle=benches/candle/target/release/iris-candle-peer
fi
out=$(mktemp)
for round in 1 2; do
    for p in "${presets[@]}"; do
        ./target/release/iris --threads "$threads" bench model --preset "$p" --json >> "$out"
        "$venv/bin/python" benches/peers/models.py "$p" --threads "$threads" 2>/dev/null | tail -1 >> "$out"
        case "$p" in
        clip-vit-l-336 | llama-3.2-1b) [ -z "$candle" ] || "$candle" "$p" --threads "$threads" >> "$out" ;;
        esac
    done
done
python3 benches/peers/models_table.py "$out" "$threads"
