"""Load on ``lgformer serve``: N concurrent clients for T seconds, on 127.0.0.1 only.

    python benchmarks/bench_serve.py --clients 8 64 --seconds 20 \\
        --server old=/work/baseline-123a273/src --server new=src \\
        --server "new-unbatched=src --batch-size 1"

Each ``--server NAME=SRC [ARGS]`` is ``python -m lgformer.cli serve --port 0 --quiet
ARGS`` run with ``PYTHONPATH=SRC`` (the bundled model, so any checkout works). For each
client count the servers take turns (started fresh, a few warm-up requests, then the
load), so they share the same minutes of a shared machine. Every client sends one
160 px synthetic scene and one sentence per request, on a new connection each time,
and waits for the answer (30 s timeout) before sending the next. Prints one line per
(clients, server): requests/s, errors (timeouts, resets, non-200 answers), p50/p95/max
latency of the answered requests, and the server's RSS before and after the load.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import io
import json
import os
import re
import shlex
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

MAX_CLIENTS = 256
MAX_SECONDS = 300
TIMEOUT_S = 30.0
HOST = "127.0.0.1"


class Load:
    """Latencies of answered requests and counts of failures by kind, thread-safe."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.errors: dict[str, int] = {}
        self.lock = threading.Lock()

    def record(self, latency: float | None, error: str | None) -> None:
        with self.lock:
            if error is None:
                self.latencies.append(latency)
            else:
                self.errors[error] = self.errors.get(error, 0) + 1


def request_bodies(count: int = 8) -> list[bytes]:
    """JSON bodies: synthetic scenes (seeds 0..count-1), each with its first sentence."""
    from PIL import Image

    from lgformer.data.synthetic import render_scene

    bodies = []
    for seed in range(count):
        rgb, _, expressions = render_scene(seed=seed)
        buffer = io.BytesIO()
        Image.fromarray(rgb).save(buffer, format="PNG")
        image = base64.b64encode(buffer.getvalue()).decode()
        bodies.append(json.dumps({"image": image, "sentences": [expressions[0][0]]}).encode())
    return bodies


def post(port: int, body: bytes) -> tuple[float | None, str | None]:
    """One request on a fresh connection -> (latency s, None) or (None, error kind)."""
    started = time.perf_counter()
    connection = http.client.HTTPConnection(HOST, port, timeout=TIMEOUT_S)
    try:
        connection.request(
            "POST", "/api/segment", body=body, headers={"Content-Type": "application/json"}
        )
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            return None, f"HTTP {response.status}"
        return time.perf_counter() - started, None
    except TimeoutError:
        return None, "timeout"
    except OSError as err:
        return None, type(err).__name__
    finally:
        connection.close()


def run_load(port: int, clients: int, seconds: float, bodies: list[bytes]) -> tuple[Load, float]:
    """``clients`` threads posting until ``seconds`` pass -> (load, wall seconds)."""
    load = Load()
    deadline = time.monotonic() + seconds
    start = threading.Barrier(clients + 1)

    def client(k: int) -> None:
        start.wait()
        i = k
        while time.monotonic() < deadline:
            load.record(*post(port, bodies[i % len(bodies)]))
            i += 1

    threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(clients)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.monotonic()
    for thread in threads:
        thread.join(seconds + TIMEOUT_S + 10)
    return load, time.monotonic() - began


def rss_mb(pid: int) -> float:
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", text).group(1)) / 1024


def start_server(src: str, args: list[str], threads: int) -> tuple[subprocess.Popen, int]:
    env = {**os.environ, "PYTHONPATH": str(Path(src).resolve()), "OMP_NUM_THREADS": str(threads)}
    command = [sys.executable, "-m", "lgformer.cli", "serve", "--host", HOST, "--port", "0"]
    proc = subprocess.Popen(
        [*command, "--quiet", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    line = proc.stdout.readline()
    match = re.search(r"open http://[^:]+:(\d+)/", line)
    if match is None:
        proc.kill()
        raise SystemExit(f"the server did not start: {line!r}")
    port = int(match.group(1))
    deadline = time.monotonic() + 120
    while True:  # the new server prints its URL before uvicorn accepts connections
        try:
            connection = http.client.HTTPConnection(HOST, port, timeout=5)
            connection.request("GET", "/api/health")
            if connection.getresponse().status == 200:
                break
        except OSError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            raise SystemExit("the server did not answer /api/health")
        time.sleep(0.2)
    return proc, port


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def parse_server(text: str) -> tuple[str, str, list[str]]:
    name, _, rest = text.partition("=")
    words = shlex.split(rest)
    if not name or not words:
        raise SystemExit(f"--server {text!r}: give NAME=SRC [ARGS]")
    return name, words[0], words[1:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[8, 64])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument(
        "--server", action="append", default=None, help="NAME=SRC [ARGS] (repeat; default new=src)"
    )
    parser.add_argument("--threads", type=int, default=1, help="OMP_NUM_THREADS of the servers")
    parser.add_argument("--warmup", type=int, default=4, help="requests before the load")
    parser.add_argument(
        "--rounds", type=int, default=1, help="repeat every (clients, server) run; medians last"
    )
    args = parser.parse_args()
    if not all(1 <= c <= MAX_CLIENTS for c in args.clients):
        raise SystemExit(f"--clients: 1 to {MAX_CLIENTS}")
    if not 0 < args.seconds <= MAX_SECONDS:
        raise SystemExit(f"--seconds: above 0, at most {MAX_SECONDS}")
    servers = [parse_server(s) for s in (args.server or ["new=src"])]
    bodies = request_bodies()
    print(
        f"{args.seconds:g} s per run, OMP_NUM_THREADS={args.threads}, {os.cpu_count()} CPUs; "
        "one 160 px scene + one sentence per request"
    )
    header = f"{'clients':>7} {'server':<16} {'req/s':>7} {'ok':>6} {'errors':>7} "
    header += f"{'p50 s':>7} {'p95 s':>7} {'max s':>7} {'RSS MB before->after':>21}  error kinds"
    print(header)
    runs: dict[tuple[int, str], list[tuple[float, float, int]]] = {}
    schedule = [(c, server) for c in args.clients for _ in range(args.rounds) for server in servers]
    for clients, (name, src, extra) in schedule:
        proc, port = start_server(src, extra, args.threads)
        try:
            for i in range(args.warmup):
                post(port, bodies[i % len(bodies)])
            before = rss_mb(proc.pid)
            load, wall = run_load(port, clients, args.seconds, bodies)
            after = rss_mb(proc.pid)
        finally:
            stop_server(proc)
        done, failed = len(load.latencies), sum(load.errors.values())
        lat = load.latencies
        print(
            f"{clients:>7} {name:<16} {done / wall:>7.2f} {done:>6} {failed:>7} "
            f"{percentile(lat, 0.5):>7.3f} {percentile(lat, 0.95):>7.3f} "
            f"{max(lat, default=float('nan')):>7.3f} {before:>10.0f} -> {after:<8.0f}  "
            f"{json.dumps(load.errors) if failed else '-'}",
            flush=True,
        )
        p95 = percentile(lat, 0.95)
        runs.setdefault((clients, name), []).append((done / wall, p95, failed))
    if args.rounds > 1:
        print(f"medians over {args.rounds} rounds (req/s, p95 s, errors):")
        for (clients, name), values in runs.items():
            rate, p95, failed = (statistics.median(v[i] for v in values) for i in range(3))
            print(f"{clients:>7} {name:<16} {rate:>7.2f} p95 {p95:.3f} errors {failed:g}")


if __name__ == "__main__":
    main()
