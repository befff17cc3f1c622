#!/usr/bin/env python3
"""Load benchmark of llama-diffusion-server: delivered tokens/s and per-request latency for 1, 2, 4,
8 concurrent streaming clients.

Starts the real server (a subprocess on a loopback port; the built-in demo model unless -m), then for
each concurrency c runs c client threads, each sending --requests-per-client completion requests
back to back (streamed, the official wire format read with httpx). Every request has its own prompt
and seed; the same set of requests is sent at every concurrency level, so the work is the same and
only the batching differs. Reported per level: wall time, delivered tokens (usage.completion_tokens)
per second of wall time, the server process's CPU time and tokens per CPU-second (robust to other
load on a shared machine), the request latency (submit to [DONE]) mean / p50 / p90, and the mean
batch size from the server's /metrics.

    PYTHONPATH=build/dev/pkg python bench/bench_server.py --clients 1 2 4 8 --decode batched
    PYTHONPATH=build/dev/pkg python bench/bench_server.py -m bench/models/dg-2L-Q4_K_M.gguf --max-tokens 256 \
        --extra '{"diffusion_eb_max_steps": 2}' --requests-per-client 1 --token-prompts

--decode loop runs one decoder pass per request (for comparison with the batched pass).
"""
import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import threading
import time

import httpx

PROMPTS = ["def fibonacci(n):", "import os\n", "class Stack:\n    def push(self, x):", "for i in range(10):",
           "def parse(line):\n", "# utilities\n", "with open(path) as f:\n", "try:\n    import json\n"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(args):
    port = free_port()
    cmd = [sys.executable, "-m", "llama_diffusion.server", "--port", str(port), "--max-batch", str(max(args.clients)),
           "--decode", args.decode, "--max-tokens-limit", str(max(4096, args.max_tokens))]
    if args.model:
        cmd += ["-m", args.model]
    if args.threads:
        cmd += ["-t", str(args.threads)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    for _ in range(600):
        if proc.poll() is not None:
            raise SystemExit("server exited: " + proc.stderr.read().decode(errors="replace"))
        try:
            if httpx.get(base + "/health", timeout=1).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("server did not start")


def one_request(base, prompt, seed, args):
    if args.token_prompts:  # models without a tokenizer: 64 token ids derived from the prompt text
        prompt = [5 + (ord(prompt[i % len(prompt)]) * 31 + i * 7 + seed) % 200 for i in range(64)]
    body = {"prompt": prompt, "max_tokens": args.max_tokens, "seed": seed, "stream": True,
            "stream_options": {"include_usage": True}}
    body.update(args.extra)
    t0 = time.perf_counter()
    usage = None
    with httpx.stream("POST", base + "/v1/completions", json=body, timeout=3600) as r:
        if r.status_code != 200:
            raise RuntimeError(f"HTTP {r.status_code}: {r.read()[:200]!r}")
        for line in r.iter_lines():
            if line.startswith("data: {"):
                d = json.loads(line[6:])
                if d.get("usage"):
                    usage = d["usage"]
    return time.perf_counter() - t0, usage["completion_tokens"]


def cpu_seconds(pid) -> float:
    """User + system CPU time of a process (Linux /proc), robust to other load on the machine."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def batch_stats(base):
    text = httpx.get(base + "/metrics").text
    s = float(re.search(r"^llama_diffusion_batch_size_sum (\S+)$", text, re.M).group(1))
    n = float(re.search(r"^llama_diffusion_batch_size_count (\S+)$", text, re.M).group(1))
    return s, n


def run_level(base, pid, c, args):
    n_req = c * args.requests_per_client
    reqs = [(PROMPTS[i % len(PROMPTS)], 100 + i) for i in range(max(n_req, args.min_requests))]
    lat, toks, errors = [], [], []
    lock = threading.Lock()
    it = iter(reqs)

    def worker():
        while True:
            with lock:
                r = next(it, None)
            if r is None:
                return
            try:
                dt, n = one_request(base, r[0], r[1], args)
                with lock:
                    lat.append(dt)
                    toks.append(n)
            except Exception as e:  # noqa: BLE001 - reported
                with lock:
                    errors.append(str(e))

    s0, n0 = batch_stats(base)
    cpu0 = cpu_seconds(pid)
    t0 = time.perf_counter()
    ths = [threading.Thread(target=worker) for _ in range(c)]
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    wall = time.perf_counter() - t0
    cpu = cpu_seconds(pid) - cpu0
    s1, n1 = batch_stats(base)
    if errors:
        raise SystemExit(f"{len(errors)} requests failed: {errors[0]}")
    lat.sort()
    return dict(clients=c, requests=len(lat), wall_s=wall, tokens=sum(toks), tok_per_s=sum(toks) / wall, cpu_s=cpu,
                tok_per_cpu_s=sum(toks) / max(cpu, 1e-9),
                lat_mean=statistics.mean(lat), lat_p50=lat[len(lat) // 2], lat_p90=lat[min(len(lat) - 1, int(0.9 * len(lat)))],
                mean_batch=(s1 - s0) / max(1.0, n1 - n0))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-m", "--model")
    ap.add_argument("--clients", type=int, nargs="+", default=[1, 2, 4, 8])
    ap.add_argument("--requests-per-client", type=int, default=4)
    ap.add_argument("--min-requests", type=int, default=8, help="at least this many requests per level")
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--decode", choices=["batched", "loop"], default="batched")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--extra", type=json.loads, default={}, help="extra request fields (JSON)")
    ap.add_argument("--token-prompts", action="store_true",
                    help="send 64 token ids instead of text (for files without a tokenizer, e.g. make_bench_gguf.py's)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    proc, base = start_server(args)
    try:
        one_request(base, PROMPTS[0], 1, args)  # warm-up
        rows = [run_level(base, proc.pid, c, args) for c in args.clients]
    finally:
        proc.terminate()
        proc.wait()
    if args.json:
        print(json.dumps(rows, indent=1))
        return
    print(f"model: {args.model or 'built-in demo'}, decode {args.decode}, max_tokens {args.max_tokens}, extra {args.extra}")
    print("| clients | requests | wall s | delivered tokens | tokens/s | server CPU s | tokens per CPU-s | "
          "latency mean s | p50 s | p90 s | mean batch |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['clients']} | {r['requests']} | {r['wall_s']:.2f} | {r['tokens']} | {r['tok_per_s']:.1f} | "
              f"{r['cpu_s']:.2f} | {r['tok_per_cpu_s']:.1f} | {r['lat_mean']:.3f} | {r['lat_p50']:.3f} | "
              f"{r['lat_p90']:.3f} | {r['mean_batch']:.2f} |")


if __name__ == "__main__":
    main()
