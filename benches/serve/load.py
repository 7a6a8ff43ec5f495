"""A load generator for `iris serve`, in the manner of `vllm bench serve`.

    python benches/serve/load.py [--base http://127.0.0.1:8080] [--levels 1,4,16]
        [--requests N] [--prompt-words 64] [--max-tokens 32] [--time-limit 600] [--json FILE]

At each level of concurrency, that many clients stream chat completions
back to back (N requests in all per level, default 2 per client and at
least 4), each generating --max-tokens (vLLM's `ignore_eos`); it reports
the output throughput (generated tokens per second of wall time, prefills
included), the batched decode rate (tokens per second of the server's steps
that held no prompt, from /metrics), time to first token and inter-token latency (p50, p99). Only a
loopback server is accepted, each level stops at the time limit, and it
needs nothing beyond Python's standard library. benches/serve/run.sh
starts `iris serve --preset llama-3.2-1b` and writes the table to
docs/benchmarks.md.
"""

import argparse
import asyncio
import ipaddress
import json
import socket
import sys
import time
import urllib.parse
import urllib.request


def percentile(xs, p):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    k = (len(xs) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


async def one_request(host, port, model, prompt, max_tokens):
    """One streamed completion: (ttft, [inter-token gaps], completion tokens)."""
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": prompt}], "max_tokens": max_tokens,
                       "temperature": 0, "ignore_eos": True, "stream": True, "stream_options": {"include_usage": True}}).encode()
    t0 = time.perf_counter()
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(b"POST /v1/chat/completions HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
                 b"Content-Length: %d\r\nConnection: close\r\n\r\n" % (host.encode(), len(body)) + body)
    await writer.drain()
    status = await reader.readline()
    if b" 200 " not in status:
        rest = await reader.read()
        raise RuntimeError(f"{status.decode().strip()}: {rest[-300:].decode(errors='replace')}")
    ttft, last, gaps, tokens = None, None, [], 0
    while True:
        line = await reader.readline()
        if not line:
            break
        # Chunked transfer: size lines and blanks are skipped; events are `data: ...` lines.
        line = line.strip()
        if not line.startswith(b"data: "):
            continue
        data = line[6:]
        if data == b"[DONE]":
            break
        ev = json.loads(data)
        if ev.get("usage"):
            tokens = ev["usage"]["completion_tokens"]
        if ev["choices"] and ev["choices"][0]["delta"].get("content"):
            now = time.perf_counter()
            if ttft is None:
                ttft = now - t0
            else:
                gaps.append(now - last)
            last = now
    writer.close()
    return ttft, gaps, tokens


def metrics(base):
    """The server's counters, by name."""
    out = {}
    for line in urllib.request.urlopen(base + "/metrics").read().decode().splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


async def level(host, port, model, clients, requests, prompt, max_tokens, time_limit):
    queue = list(range(requests))
    ttfts, gaps, tokens, done = [], [], 0, 0
    t0 = time.perf_counter()

    async def client():
        nonlocal tokens, done
        while queue and time.perf_counter() - t0 < time_limit:
            queue.pop()
            t, g, n = await one_request(host, port, model, prompt, max_tokens)
            ttfts.append(t)
            gaps.extend(g)
            tokens += n
            done += 1

    await asyncio.wait_for(asyncio.gather(*(client() for _ in range(clients))), time_limit + 120)
    wall = time.perf_counter() - t0
    return {"clients": clients, "requests": done, "wall_s": wall, "output_tok_s": tokens / wall,
            "ttft_p50_ms": 1e3 * percentile(ttfts, 50), "ttft_p99_ms": 1e3 * percentile(ttfts, 99),
            "itl_p50_ms": 1e3 * percentile(gaps, 50), "itl_p99_ms": 1e3 * percentile(gaps, 99)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--base", default="http://127.0.0.1:8080")
    ap.add_argument("--levels", default="1,4,16")
    ap.add_argument("--requests", type=int, default=0, help="per level (default: 2 per client, at least 4)")
    ap.add_argument("--prompt-words", type=int, default=64)
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--time-limit", type=float, default=600, help="seconds per level")
    ap.add_argument("--json", help="also write the rows here")
    a = ap.parse_args()
    u = urllib.parse.urlparse(a.base)
    host, port = u.hostname, u.port or 80
    if not ipaddress.ip_address(socket.gethostbyname(host)).is_loopback:
        sys.exit(f"load.py: {host} is not a loopback address: this generator only loads a local server")
    model = json.load(urllib.request.urlopen(a.base + "/v1/models"))["data"][0]["id"]
    # Stand-in tokenizer words: `t<id>` is token id (any word works; these vary the ids).
    prompt = " ".join(f"t{(i * 7919) % 30000 + 1000}" for i in range(a.prompt_words))
    rows = []
    print("| clients | requests | output tok/s | decode tok/s | TTFT p50 | TTFT p99 | ITL p50 | ITL p99 |")
    print("|---|---|---|---|---|---|---|---|")
    for c in [int(x) for x in a.levels.split(",")]:
        n = a.requests or max(4, 2 * c)
        before = metrics(a.base)
        r = asyncio.run(level(host, port, model, c, n, prompt, a.max_tokens, a.time_limit))
        after = metrics(a.base)
        # The batched decode rate: tokens per second of the server's steps that held no prompt.
        d = {k: after[k] - before.get(k, 0) for k in ("iris_decode_only_step_tokens_total",
                                                       "iris_decode_only_step_seconds_total")}
        r["decode_tok_s"] = d["iris_decode_only_step_tokens_total"] / max(d["iris_decode_only_step_seconds_total"], 1e-9)
        rows.append(r)
        print(f"| {c} | {r['requests']} | {r['output_tok_s']:.2f} | {r['decode_tok_s']:.2f} | {r['ttft_p50_ms']:.0f} ms | {r['ttft_p99_ms']:.0f} ms "
              f"| {r['itl_p50_ms']:.0f} ms | {r['itl_p99_ms']:.0f} ms |", flush=True)
    if len(rows) > 1:
        last, first = rows[-1], rows[0]
        print(f"\n{last['clients']} clients: {last['decode_tok_s'] / first['decode_tok_s']:.1f}× the decode rate and "
              f"{last['output_tok_s'] / first['output_tok_s']:.1f}× the output throughput of {first['clients']}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"model": model, "prompt_words": a.prompt_words, "max_tokens": a.max_tokens, "rows": rows}, f,
                      indent=1)


if __name__ == "__main__":
    main()
