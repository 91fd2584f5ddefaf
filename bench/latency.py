"""Single-event latency of `engine serve`: p50/p99 of one `POST /v1/track` on keep-alive connections.

    .venv/bin/python bench/latency.py [--clients 16] [--requests 200] [--baseline DIR]

Starts `engine serve` (its own process) with a temporary engine.yaml: one source, UserMotion routed to the
sandbox, `durability: normal`, a fresh queue folder. `--clients` asyncio clients each hold one keep-alive
connection and send `--requests` track events one after another (each waits for its 200); the numbers are
per request, from writing it to reading the whole answer, and requests/s over the run. With `--baseline DIR`
the same run is made first with the `engine` of another checkout (e.g. `git archive` of main unpacked in
DIR) for before/after in one run. Timings only: nothing here is asserted by the tests.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KEY = "bench-write-key"


def _start(root: Path, folder: Path) -> tuple[subprocess.Popen[str], int]:
    config = folder / "engine.yaml"
    config.write_text(f"sources: [{{name: web, write_key: {KEY}}}]\n"
                      "destinations:\n  - {id: um, spec: usermotion, settings: {apiKey: bench-api-key-1}}\n"
                      "routes: {api.usermotion.com: sandbox}\n"
                      f"queue: {{path: {folder / 'queue'}, durability: normal}}\n")
    env = dict(os.environ, PYTHONPATH=str(root), PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "engine", "serve", "--config", str(config), "--port", "0",
                             "--quiet-sandbox"], cwd=root, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        match = re.search(r"listening on http://[^:]+:(\d+)", line)
        if match:
            return proc, int(match.group(1))
    proc.kill()
    raise SystemExit(f"engine serve from {root} did not start")


async def _client(port: int, count: int, times: list[float]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    auth = base64.b64encode(f"{KEY}:".encode())
    for i in range(count):
        body = b'{"userId": "u%d", "event": "Bench Latency"}' % i
        request = (b"POST /v1/track HTTP/1.1\r\nHost: bench\r\nAuthorization: Basic " + auth +
                   b"\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        start = time.perf_counter()
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
        await reader.readexactly(length)
        times.append(time.perf_counter() - start)
        assert head.startswith(b"HTTP/1.1 200"), head
    writer.close()


async def _load(port: int, clients: int, requests: int) -> tuple[list[float], float]:
    times: list[float] = []
    await asyncio.gather(*(_client(port, 5, []) for _ in range(clients)))  # warm-up
    start = time.perf_counter()
    await asyncio.gather(*(_client(port, requests, times) for _ in range(clients)))
    return times, time.perf_counter() - start


def run(root: Path, clients: int, requests: int) -> str:
    folder = Path(tempfile.mkdtemp(prefix="engine-latency-"))
    proc, port = _start(root, folder)
    try:
        times, elapsed = asyncio.run(_load(port, clients, requests))
    finally:
        proc.terminate()
        proc.wait(30)
        shutil.rmtree(folder, ignore_errors=True)
    ms = sorted(t * 1000 for t in times)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    return f"p50 {statistics.median(ms):7.2f} ms  p99 {p99:7.2f} ms  {len(ms) / elapsed:8,.0f} req/s"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--requests", type=int, default=200, help="requests per client (default 200)")
    ap.add_argument("--baseline", type=Path, metavar="DIR", help="another checkout to run first (before/after)")
    args = ap.parse_args()
    print(f"{args.clients} keep-alive clients x {args.requests} single-event POST /v1/track")
    if args.baseline is not None:
        print(f"  baseline ({args.baseline}): {run(args.baseline.resolve(), args.clients, args.requests)}")
    print(f"  this checkout:          {run(ROOT, args.clients, args.requests)}")


if __name__ == "__main__":
    main()
