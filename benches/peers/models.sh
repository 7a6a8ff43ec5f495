#!/usr/bin/env bash
# Whole models at real checkpoint shapes: iris beside PyTorch + transformers and candle
# (candle-transformers, benches/candle) in the same run, in turns, two rounds, the better
# figure of each; the table goes into docs/benchmarks.md (one block per dtype and depth).
#   benches/peers/models.sh [--dtype f32|bf16] [--layers K] [THREADS] [PRESET ...]
#   (default: f32, the presets' full depth, 2 threads; clip-vit-l-336 llama-3.2-1b)
# --layers K runs K decoder layers in iris and PyTorch (candle's presets have a fixed depth: it is
# left out then). IRIS_NO_CANDLE=1 leaves candle out (its first build takes a few minutes).
# Every engine runs the same work: the CLIP preset is the whole 24-layer tower in all three, and
# peak memory is each process's high-water mark above its resident set at the start.
set -euo pipefail
cd "$(dirname "$0")/../.."
dtype=f32
layers=""
while [ $# -gt 0 ]; do
    case "$1" in
    --dtype) dtype="$2"; shift 2 ;;
    --layers) layers="$2"; shift 2 ;;
    *) break ;;
    esac
done
threads="${1:-2}"; shift || true
presets=("$@")
[ $# -gt 0 ] || presets=(clip-vit-l-336 llama-3.2-1b)
depth=()
[ -z "$layers" ] || depth=(--layers "$layers")
venv="${IRIS_FIXTURE_VENV:-$HOME/.cache/iris/fixtures-venv}"
[ -x "$venv/bin/python" ] || { python3 -m venv "$venv"; "$venv/bin/pip" install -q -r tools/fixtures/requirements.txt; }
cargo build --release -q -p iris-cli
candle=""
if [ -z "${IRIS_NO_CANDLE:-}" ] && [ -z "$layers" ]; then
    cargo build --release -q --manifest-path benches/candle/Cargo.toml
    candle=benches/candle/target/release/iris-candle-peer
fi
out=$(mktemp)
for round in 1 2; do
    for p in "${presets[@]}"; do
        ./target/release/iris --threads "$threads" bench model --preset "$p" --dtype "$dtype" "${depth[@]}" --json >> "$out"
        "$venv/bin/python" benches/peers/models.py "$p" --threads "$threads" --dtype "$dtype" "${depth[@]}" 2>/dev/null |
            tail -1 >> "$out"
        case "$p" in
        clip-vit-l-336 | llama-3.2-1b) [ -z "$candle" ] || "$candle" "$p" --threads "$threads" --dtype "$dtype" >> "$out" ;;
        esac
    done
done
python3 benches/peers/models_table.py "$out" "$threads" "$dtype" "$layers"
