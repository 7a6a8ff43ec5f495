#!/usr/bin/env bash
# OpenAI's official Python client against `iris serve`, unchanged (tools/serve/openai_client.py):
# makes its venv (~/.cache/iris/openai-venv, tools/serve/requirements.txt), serves the LLaVA and
# Mllama fixtures on free loopback ports, and checks a chat with an image, its stream (both equal to
# `iris generate --chat`) and bad requests. Usage: scripts/openai-client-test.sh [IRIS_BINARY]
set -euo pipefail
cd "$(dirname "$0")/.."
iris="${1:-target/debug/iris}"
[ -x "$iris" ] || cargo build -q -p iris-cli
venv="${IRIS_OPENAI_VENV:-$HOME/.cache/iris/openai-venv}"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import openai" 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check -r tools/serve/requirements.txt
fi
tmp=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
for name in llava-gqa mllama-4tile; do
    dir=crates/model/tests/fixtures/$name
    prompt="What is shown?"
    "$iris" generate --model "$dir" --image "$dir/image.png" --chat --prompt "$prompt" --max-new-tokens 12 \
        > "$tmp/want.txt" 2>/dev/null
    "$iris" --threads 1 serve --model "$dir" --port 0 2> "$tmp/serve.log" &
    pid=$!
    for _ in $(seq 100); do grep -q "serving on" "$tmp/serve.log" && break; sleep 0.1; done
    base=$(grep -o "http://[0-9.:]*" "$tmp/serve.log" | head -1)
    [ -n "$base" ] || { cat "$tmp/serve.log"; exit 1; }
    "$venv/bin/python" tools/serve/openai_client.py "$base" "$name" "$dir/image.png" "$prompt" "$tmp/want.txt"
    kill -TERM "$pid"
    wait "$pid"
    pid=
done
